"""`fusionrs eval clip`: retrieval (the paper's Mean Recall), zero-shot scenes, and optionally real RGB-T pairs
and real-thermal object presence, written as one results JSON and printed as a table."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("clip", help="evaluate a CLIP model: retrieval (Mean Recall), zero-shot, RGB-T pairs, HIT-UAV")
    p.add_argument("--model", required=True, metavar="M", help="CLIP model folder (CLIPModel or VisionTextDualEncoderModel)")
    p.add_argument("--data", metavar="DIR", help="FusionRS dataset folder (default: the embedded procedural world sample)")
    p.add_argument("--split", default="validation", metavar="S", help="split to evaluate (default: validation)")
    p.add_argument("--json", required=True, metavar="OUT", help="results JSON (fusionrs.results format)")
    p.add_argument("--rgbt", metavar="DIR", help="also RGB<->IR retrieval on real pairs: a folder with rgb/ + ir/, or a folder of such folders")
    p.add_argument("--hit-uav", metavar="DIR", help="also zero-shot object presence AUC on HIT-UAV: a folder with {split}.jsonl (file, objects)")
    p.add_argument("--hit-uav-split", default="val", metavar="S", help="HIT-UAV split (default: val)")
    p.add_argument("--max-items", type=positive_int, metavar="N", help="evaluate N rows, evenly spaced (quick checks)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: $FUSIONRS_DEVICE, else the best available)")
    p.add_argument("--dtype", help="float32, float16, bfloat16 (default: bf16/fp16 on GPU, fp32 on CPU)")
    p.add_argument("--no-zero-shot", action="store_true", help="skip zero-shot scene classification")
    p.set_defaults(run=run)


def _row(name: str, r: dict, ks) -> str:
    return f"{name:<22}" + "".join(f"{r[f'R@{k}']:>8.2f}" for k in ks) + f"{r['n_queries']:>9}{r['n_gallery']:>9}"


def format_table(results: dict) -> str:
    """The results as the plain-text table the command prints."""
    ks = results["ks"]
    lines = [f"{'direction':<22}" + "".join(f"{'R@' + str(k):>8}" for k in ks) + f"{'queries':>9}{'gallery':>9}"]
    lines += [_row(d, r, ks) for d, r in results["retrieval"].items()]
    ci = results.get("mean_recall_ci")
    ci_text = f" (95% CI {ci['low']:.2f}-{ci['high']:.2f})" if ci else ""
    lines.append(f"Mean Recall (paper: IR<->caption, RGB<->IR): {results['mean_recall']:.2f}{ci_text}")
    lines.append(f"Mean Recall incl. RGB<->caption: {results['mean_recall_all']:.2f}")
    if results.get("mean_recall_by_pair"):
        lines.append("  by pair: " + ", ".join(f"{name.replace('_', '<->')} {value:.2f}"
                                               for name, value in results["mean_recall_by_pair"].items()))
    thumb = (results.get("baselines") or {}).get("thumbnail_16px_gray")
    if thumb:
        lines.append(f"  no-learning baseline, 16 px grayscale thumbnails: RGB<->IR {thumb['mean_recall']:.2f} "
                     f"(RGB->IR R@1 {thumb['rgb->ir']['R@1']:.2f})")
    aware = results.get("ir_aware", {})
    if "retrieval" in aware:
        lines.append(f"IR-aware caption targets ({aware['rows']} rows):")
        lines += ["  " + _row(d, r, ks) for d, r in aware["retrieval"].items()]
        lines.append(f"  Mean Recall (IR-aware targets): {aware['mean_recall']:.2f}")
    zs = results.get("zero_shot", {})
    if "rgb" in zs:
        lines.append(f"Zero-shot scenes ({len(zs['classes'])} classes, {zs['n_images']} images, chance {zs['chance']:.1f}%): "
                     f"RGB {zs['rgb']['top1']:.2f}%  IR {zs['ir']['top1']:.2f}%  "
                     f"IR with RGB prompts {zs['ir_with_rgb_templates']['top1']:.2f}%")
    for name, s in results.get("rgbt_pairs", {}).get("sets", {}).items():
        r = s["retrieval"]
        lines.append(f"RGB-T {name} ({s['n_pairs']} pairs): RGB->IR R@1 {r['rgb->ir']['R@1']:.2f}  "
                     f"IR->RGB R@1 {r['ir->rgb']['R@1']:.2f}  Mean Recall {s['mean_recall']:.2f}")
    objects = results.get("object_presence")
    if objects:
        aucs = "  ".join(f"{c} {v['auc']:.3f}" if v["auc"] is not None else f"{c} n/a"
                         for c, v in objects["per_class"].items())
        mean = f"{objects['mean_auc']:.3f}" if objects["mean_auc"] is not None else "n/a"
        lines.append(f"HIT-UAV {objects['split']} object presence AUC ({objects['n_images']} images): {aucs}  mean {mean}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from fusionrs.clip.embed import ClipEmbedder
    from fusionrs.clip.evaluate import evaluate_clip, evaluate_object_presence, evaluate_rgbt_pairs
    from fusionrs.results import write_results

    embedder = ClipEmbedder.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    results = evaluate_clip(embedder, args.data, args.split, max_items=args.max_items, batch_size=args.batch_size,
                            zero_shot=not args.no_zero_shot, progress=sys.stderr.isatty())
    results["model"] = args.model
    if args.rgbt:
        results["rgbt_pairs"] = evaluate_rgbt_pairs(embedder, args.rgbt, batch_size=args.batch_size)
        results["rgbt_pairs"]["model"] = args.model
    if args.hit_uav:
        results["object_presence"] = evaluate_object_presence(embedder, args.hit_uav, args.hit_uav_split,
                                                              batch_size=args.batch_size)
        results["object_presence"]["model"] = args.model
    command = "fusionrs eval clip " + " ".join(shlex.quote(a) for a in sys.argv[3:])
    write_results(args.json, results, command=command.strip(), seed=0)  # the bootstrap CI seed
    print(format_table(results))
    print(f"results in {args.json}")
    return 0
