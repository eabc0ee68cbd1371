"""One-step translator: speed/size next to the pix2pix reference generator, and fidelity next to baselines.

    python benchmarks/translator.py --model runs/translator/base/final [--skip-speed] [--kid]

1. Speed: images/s at 256 px, batch 8, torch threads 2 (median of timed repeats after a warm-up), parameters
   and GFLOPs per image (torch.utils.flop_counter, 2 FLOPs per multiply-add) for every preset and for the
   pix2pix `unet_256` generator (ngf 64, BatchNorm, 8 down/8 up; 3 -> 1 channels; benchmarks/pix2pix.py), timed in the same process
   so that the comparison survives the load of a shared machine.
2. Fidelity (the same code as `fusionrs eval translator`): RoadScene validation (committed 40 names), the AOS
   aerial pairs that are not colour-mapped (linear baseline fitted on RoadScene training pairs), and
   held-out world scenes (linear fitted on training-seed world scenes), with paired bootstrap 95% CIs.
3. Optional KID (fusionrs.metrics.kid, DINOv2-S) of translated rsicd_aid val vs real hit_uav val.
4. `--include NAME=JSON` merges `fusionrs eval translator` results files; `--versus A:B` then gives the paired
   bootstrap 95% CI (10,000 resamples, seed 0) of A's model - B's model per metric over the images both
   scored (matched by name), e.g. ours - pix2pix from `fusionrs eval translator --model` and
   `--predictions` runs on the same pairs (no new scoring).
Writes benchmarks/translator.json (fusionrs.results format) and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def pix2pix_unet_256(in_channels: int = 3, out_channels: int = 1, ngf: int = 64):
    """The pix2pix `unet_256` generator of benchmarks/pix2pix.py (the one trained there), 3 -> 1 channel."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pix2pix import pix2pix_unet_256 as build

    return build(in_channels, out_channels, ngf)


def _speed(fn, batch, repeats: int) -> dict[str, float]:
    import torch

    with torch.inference_mode():
        fn(batch)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(batch)
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"images_per_s": len(batch) / med, "best_images_per_s": len(batch) / min(times), "seconds_per_batch": med}


def speed_table(repeats: int, presets: list[str]) -> dict[str, Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fusionrs.translate.model import build_unet, load_preset, translate_tensor

    torch.set_num_threads(2)
    x = torch.rand(8, 3, 256, 256) * 2 - 1
    rows: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for name in presets:
        unet = build_unet(name).eval()
        f = load_preset(name)["pixel_shuffle"]
        models[name] = (unet, lambda b, u=unet, f=f: translate_tensor(u, b, pixel_shuffle=f))
    ref = pix2pix_unet_256().eval()
    models["pix2pix_unet_256"] = (ref, ref)
    for name, (module, fn) in models.items():
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            fn(x[:1])
        rows[name] = {"params_millions": sum(p.numel() for p in module.parameters()) / 1e6,
                      "gflops_per_image": counter.get_total_flops() / 1e9}
    # interleave the timings (model, model, ..., repeat) so that load changes hit every model alike
    samples: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _, fn in models.values():
            fn(x)
        for _ in range(repeats):
            for name, (_, fn) in models.items():
                t = time.perf_counter()
                fn(x)
                samples[name].append(time.perf_counter() - t)
    for name, times in samples.items():
        rows[name].update(images_per_s=8 / statistics.median(times), best_images_per_s=8 / min(times), repeats=repeats)
    for name in presets:
        rows[name]["speedup_vs_pix2pix"] = rows[name]["images_per_s"] / rows["pix2pix_unet_256"]["images_per_s"]
    return {"setting": "256x256, batch 8, torch.set_num_threads(2), fp32, inference_mode; median of interleaved repeats",
            "models": rows}


def fidelity(model: str, world_n: int, seed: int) -> dict[str, Any]:
    from types import SimpleNamespace

    from fusionrs.translate.eval_sets import eval_pairs, linear_pairs
    from fusionrs.translate.evaluate import baseline_predictors, contact_sheet, evaluate_pairs, model_predictor

    args = SimpleNamespace(world_seed=7, world_size=256, seed=seed)
    predict = model_predictor(model)
    roadscene = str(DATA / "rgbt_pairs" / "roadscene")
    out: dict[str, Any] = {}
    sets = {
        "roadscene_validation": (roadscene, roadscene),
        "aos_aerial": (str(DATA / "aerial_pairs" / "aos_rgb_thermal"), roadscene),
        "world": (f"world:{world_n}", f"world:{world_n}"),
    }
    for key, (pairs_spec, linear_spec) in sets.items():
        pairs = eval_pairs(pairs_spec, args)
        res, preds = evaluate_pairs(pairs, predict, baseline_predictors(linear_pairs(linear_spec, pairs_spec, args)), seed=seed)
        res["pairs"], res["linear_from"] = pairs_spec, linear_spec
        sheet = REPO / "docs" / "images" / f"translator_{key}.png"
        res["contact_sheet"] = str(contact_sheet(pairs, preds["model"], sheet, height=128, max_rows=5).relative_to(REPO))
        out[key] = res
    return out


def kid(model: str, n: int, seed: int) -> dict[str, Any]:
    from types import SimpleNamespace

    from fusionrs.translate.eval_sets import kid_block
    from fusionrs.translate.data import load_pairs, split_roadscene
    from fusionrs.translate.evaluate import baseline_predictors, model_predictor

    roadscene = DATA / "rgbt_pairs" / "roadscene"
    baselines = baseline_predictors(load_pairs(roadscene, names=set(split_roadscene(roadscene)["train"])).pairs)
    args = SimpleNamespace(kid_rgb=str(DATA / "rsicd_aid"), kid_thermal=str(DATA / "hit_uav"), kid_n=n, seed=seed)
    return kid_block(args, model_predictor(model), baselines)


METRICS = ("psnr", "ssim", "mae", "edge_corr")


def versus(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Paired CIs of a's model - b's model per metric, over the images both evaluations scored.

    Args:
        a: the `results` block of one `fusionrs eval translator` JSON (systems.model.per_image rows).
        b: the same for the other system, on the same pairs.

    Returns:
        {"n", "a_mean", "b_mean", "a_minus_b": {metric: paired_bootstrap_ci dict}}.

    Raises:
        SystemExit: the two evaluations share no image name.
    """
    from fusionrs.metrics.bootstrap import paired_bootstrap_ci

    rows_a = {row["name"]: row for row in a["systems"]["model"]["per_image"]}
    rows_b = {row["name"]: row for row in b["systems"]["model"]["per_image"]}
    shared = sorted(set(rows_a) & set(rows_b))
    if not shared:
        raise SystemExit("--versus: the two evaluations share no image name")
    return {"n": len(shared),
            "a_mean": {m: sum(rows_a[k][m] for k in shared) / len(shared) for m in METRICS},
            "b_mean": {m: sum(rows_b[k][m] for k in shared) / len(shared) for m in METRICS},
            "a_minus_b": {m: paired_bootstrap_ci([rows_a[k][m] for k in shared], [rows_b[k][m] for k in shared],
                                                 resamples=10_000, seed=0) for m in METRICS}}


def budget(run: str) -> dict[str, Any]:
    """The training budget of a finished run folder (ours: `fusionrs train translator`; pix2pix: benchmarks/pix2pix.py).

    Args:
        run: the run folder (`OUT` of either trainer).

    Returns:
        steps done and planned, training seconds, threads, load averages seen and the trainer's command block.

    Raises:
        SystemExit: the folder holds neither trainer's summary.
    """
    folder = Path(run)
    summary = folder / "train_summary.json"
    if summary.is_file():  # pix2pix
        s = json.loads(summary.read_text())
        loads = [row["load1"] for row in map(json.loads, (folder / "log.jsonl").read_text().splitlines()) if "load1" in row]
        return {"trainer": "benchmarks/pix2pix.py", "steps": s["steps"], "planned_steps": s["planned_steps"],
                "epochs_done": s["epochs_done"], "train_seconds": s["train_seconds_total"], "threads": s["threads"],
                "load1_min_max": [min(loads), max(loads)] if loads else None, "stopped": s.get("stopped"),
                "batch_size": 1, "resolution": "286 resize, 256 crop"}
    config = folder / "final" / "translator_config.json"
    if config.is_file():  # ours
        c = json.loads(config.read_text())
        log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines() if line.strip()]
        return {"trainer": "fusionrs train translator", "steps": log[-1]["step"], "planned_steps": c["training"]["steps"],
                "train_seconds": c.get("train_seconds_this_run"), "threads": c["training"]["threads"],
                "batch_size": c["training"]["batch_size"], "resolution": f"{c['training'].get('crop')} px crops",
                "data_counts": c.get("data_counts")}
    raise SystemExit(f"--budget {run}: no train_summary.json (pix2pix) or final/translator_config.json (ours)")


def provenance(model: str | None, runs: list[str]) -> dict[str, Any]:
    """What the numbers were made from: the data folders' fingerprints and the models' weight hashes.

    Args:
        model: our translator folder (or None).
        runs: the run folders given to --budget (their `final/` weights are hashed).

    Returns:
        {"data": name -> `folder_fingerprint`, "translators": folder -> sha256 of every weights file in it}.
    """
    from fusionrs.core.hashing import file_sha256, folder_fingerprint

    folders = {"roadscene": DATA / "rgbt_pairs" / "roadscene", "aos_rgb_thermal": DATA / "aerial_pairs" / "aos_rgb_thermal"}
    models = ([model] if model else []) + [str(Path(run) / "final") for run in runs]
    translators = {}
    for folder in dict.fromkeys(models):
        weights = sorted(p for p in Path(folder).rglob("*") if p.suffix in (".safetensors", ".pt", ".pth", ".bin"))
        translators[folder] = {p.relative_to(folder).as_posix(): file_sha256(p) for p in weights}
    return {"data": {name: folder_fingerprint(path) for name, path in folders.items()}, "translators": translators}


def _ci(ci: dict[str, float], digits: int) -> str:
    return f"{ci['mean_diff']:+.{digits}f} [{ci['low']:+.{digits}f}, {ci['high']:+.{digits}f}]"


def render_tables(results: dict[str, Any]) -> str:
    """Markdown tables of a translator.json `results` block: budgets, fidelity per set, head-to-head CIs, speed.

    pix2pix rows come from `--include pix2pix_KEY=JSON` and its CIs from `--versus ours_KEY:pix2pix_KEY`, where
    KEY is a fidelity set (roadscene_validation, aos_aerial, world).

    Args:
        results: the `results` dict written by this script.

    Returns:
        The Markdown text (no trailing summary; the hand-written summary sits above the marker in translator.md).
    """
    digits = {"psnr": 2, "ssim": 3, "mae": 1, "edge_corr": 3}
    out: list[str] = []
    if results.get("budgets"):
        out += ["## Training budgets", "", "| model | trainer | steps done / planned | train s | threads | batch | input | note |",
                "|---|---|---|---|---|---|---|---|"]
        for name, b in results["budgets"].items():
            note = f"load1 {b['load1_min_max'][0]:.2f}-{b['load1_min_max'][1]:.2f}" if b.get("load1_min_max") else ""
            out.append(f"| {name} | {b['trainer']} | {b['steps']} / {b['planned_steps']} | {b['train_seconds']} | "
                       f"{b['threads']} | {b['batch_size']} | {b['resolution']} | {note} |")
        out.append("")
    for key, res in results.get("fidelity", {}).items():
        out += [f"## {key}: n = {res['n']}", "", "| system | PSNR | SSIM | MAE | edge corr |", "|---|---|---|---|---|"]
        systems = {"ours": res["systems"]["model"]}
        pix2pix = results.get("extra_evals", {}).get(f"pix2pix_{key}")
        if pix2pix:
            systems["pix2pix"] = pix2pix["systems"]["model"]
        systems.update({k: v for k, v in res["systems"].items() if k != "model"})
        for name, sysres in systems.items():
            m = sysres["mean"]
            out.append(f"| {name} | {m['psnr']:.2f} | {m['ssim']:.3f} | {m['mae']:.1f} | {m['edge_corr']:.3f} |")
        out += ["", "ours - other, mean difference [paired bootstrap 95% CI]:", "",
                "| other | PSNR | SSIM | MAE | edge corr |", "|---|---|---|---|---|"]
        head_to_head = results.get("versus", {}).get(f"ours_{key}-pix2pix_{key}")
        if head_to_head:
            out.append("| pix2pix | " + " | ".join(_ci(head_to_head["a_minus_b"][m], digits[m]) for m in METRICS) + " |")
        for base, cis in res["vs_baselines"].items():
            out.append(f"| {base} | " + " | ".join(_ci(cis[m], digits[m]) for m in METRICS) + " |")
        if res.get("contact_sheet"):
            out += ["", f"Contact sheet: `{res['contact_sheet']}` (RGB | target | prediction | |error| x2)."]
        out.append("")
    if results.get("speed"):
        out += ["## Speed (256 px, batch 8, 2 threads, one process)", "",
                "| model | parameters (M) | GFLOPs / image | images/s | vs pix2pix |", "|---|---|---|---|---|"]
        for name, row in results["speed"]["models"].items():
            ratio = f"{row['speedup_vs_pix2pix']:.2f}x" if "speedup_vs_pix2pix" in row else "1x"
            out.append(f"| {name} | {row['params_millions']:.2f} | {row['gflops_per_image']:.2f} | "
                       f"{row['images_per_s']:.1f} | {ratio} |")
        out.append("")
    return "\n".join(out)


MARKER = "<!-- tables below are generated by `python benchmarks/translator.py ... --md benchmarks/translator.md` -->"


def write_markdown(path: str, results: dict[str, Any]) -> None:
    """Replace everything after MARKER in `path` (kept above: the hand-written summary) with `render_tables`.

    Args:
        path: the Markdown file; created with only the marker and tables when absent.
        results: the `results` dict written by this script.
    """
    file = Path(path)
    head = file.read_text().split(MARKER)[0].rstrip() + "\n\n" if file.is_file() else ""
    file.write_text(head + MARKER + "\n\n" + render_tables(results))


def main() -> int:
    from fusionrs.results import write_results

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="trained translator folder (fidelity needs it)")
    p.add_argument("--training", help="JSON file describing the model's training run (budget), merged in")
    p.add_argument("--presets", default="tiny,small,base,large")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--world", type=int, default=24, help="held-out world scenes")
    p.add_argument("--kid", action="store_true")
    p.add_argument("--kid-n", type=int, default=150)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--include", action="append", default=[], metavar="NAME=JSON",
                   help="merge a `fusionrs eval translator` results file under results.extra_evals.NAME")
    p.add_argument("--versus", action="append", default=[], metavar="A:B",
                   help="paired CIs of included evaluation A's model - B's model (names given to --include)")
    p.add_argument("--budget", action="append", default=[], metavar="NAME=RUN",
                   help="record a finished run's training budget (ours or pix2pix run folder)")
    p.add_argument("--md", help="rewrite the generated tables of this Markdown file (below its marker)")
    p.add_argument("--fresh", action="store_true", help="start from an empty results block instead of --out's")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "translator.json"))
    args = p.parse_args()

    previous = json.loads(Path(args.out).read_text())["results"] if Path(args.out).is_file() and not args.fresh else {}
    results: dict[str, Any] = dict(previous)
    if not args.skip_speed:
        results["speed"] = speed_table(args.repeats, args.presets.split(","))
        print(json.dumps(results["speed"], indent=2))
    if args.model:
        from fusionrs.translate.model import read_translator_config

        results["model"] = {"folder": args.model, "translator_config": read_translator_config(args.model)}
        if args.training:
            results["model"]["training"] = json.loads(Path(args.training).read_text())
        results["fidelity"] = fidelity(args.model, args.world, args.seed)
        for key, res in results["fidelity"].items():
            print(key, json.dumps({k: v["mean"] for k, v in res["systems"].items()}))
            for base, cis in res["vs_baselines"].items():
                print(f"  model - {base}: psnr {cis['psnr']['mean_diff']:+.2f} [{cis['psnr']['low']:+.2f}, {cis['psnr']['high']:+.2f}]"
                      f"  ssim {cis['ssim']['mean_diff']:+.3f} [{cis['ssim']['low']:+.3f}, {cis['ssim']['high']:+.3f}]")
        if args.kid:
            results["kid"] = kid(args.model, args.kid_n, args.seed)
            print(json.dumps(results["kid"], indent=2))
    for item in args.include:
        name, _, path = item.partition("=")
        payload = json.loads(Path(path).read_text())
        results.setdefault("extra_evals", {})[name] = {"command": payload["command"], **payload["results"]}
    for item in args.budget:
        name, _, run = item.partition("=")
        results.setdefault("budgets", {})[name] = budget(run)
    for item in args.versus:
        name_a, _, name_b = item.partition(":")
        evals = results.get("extra_evals", {})
        if name_a not in evals or name_b not in evals:
            raise SystemExit(f"--versus {item}: include both with --include NAME=JSON first")
        results.setdefault("versus", {})[f"{name_a}-{name_b}"] = res = versus(evals[name_a], evals[name_b])
        for m, ci in res["a_minus_b"].items():
            print(f"{name_a} - {name_b} {m}: {ci['mean_diff']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]")
    results["provenance"] = provenance(args.model, [item.partition("=")[2] for item in args.budget])
    # sections kept from earlier invocations stay; the command of each is in results.commands
    results.setdefault("commands", {})
    results["commands"]["+".join(k for k in ("speed", "fidelity", "extra_evals", "versus") if k in results and
                                 (k != "speed" or not args.skip_speed) and (k != "fidelity" or args.model)
                                 and (k != "extra_evals" or args.include) and (k != "versus" or args.versus))] = "python benchmarks/translator.py " + " ".join(sys.argv[1:])
    if args.md:
        write_markdown(args.md, results)
    write_results(args.out, results, command="python benchmarks/translator.py " + " ".join(sys.argv[1:]), seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
