"""`fusionrs eval translator`: PSNR / SSIM / MAE / edge correlation of a translator next to the baselines,
with paired bootstrap 95% CIs, a contact sheet and (with --kid) KID on aerial data."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import positive_int
from fusionrs.translate.eval_sets import eval_pairs as _eval_pairs  # noqa: F401  (moved to the library)
from fusionrs.translate.eval_sets import kid_block  # noqa: F401
from fusionrs.translate.eval_sets import linear_pairs as _linear_pairs  # noqa: F401


def add_parser(sub) -> None:
    p = sub.add_parser("translator", help="evaluate an RGB->IR translator (or a baseline) on pairs")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model",
                       help="translator folder, linear:FILE, or a baseline name (grayscale, inverted_grayscale, linear)")
    which.add_argument("--predictions", metavar="DIR",
                       help="score predictions made elsewhere instead of a model: DIR/NAME.png per pair, 8-bit grey, "
                            "the size of the pair (e.g. benchmarks/pix2pix.py predict)")
    p.add_argument("--pairs", required=True,
                   help="pair folder (rgb/ + ir/; a folder named roadscene is scored on its committed validation "
                        "names) or world:N (N held-out world scenes)")
    p.add_argument("--split", choices=("validation", "tune", "screening"), default="validation",
                   help="RoadScene names to score: the 40 committed validation names (default), the 11 tuning names "
                        "of a --tune 11 run, or those 11 + 20 held-out training names (screening runs train with "
                        "--tune 31); the linear baseline is fitted on the pairs outside the scored ones")
    p.add_argument("--json", required=True, metavar="OUT", help="results JSON (fusionrs.results format)")
    p.add_argument("--linear-from", metavar="SRC",
                   help="training pairs for the linear baseline: a RoadScene folder (its training names), world:N, "
                        "or linear:FILE; default: the training side of --pairs (RoadScene or world)")
    p.add_argument("--sheet", metavar="PNG", help="contact sheet RGB | target | prediction | error")
    p.add_argument("--world-seed", type=int, default=7, help="world seed of the evaluation scenes (default 7)")
    p.add_argument("--world-size", type=positive_int, default=256)
    p.add_argument("--kid", action="store_true",
                   help="also KID (DINOv2-S features, fusionrs.metrics.kid) of translated aerial RGB vs real aerial thermal")
    p.add_argument("--kid-rgb", metavar="DIR",
                   help="aerial RGB for --kid: a folder with dataset_rsicd.json and images/ (its val split is read)")
    p.add_argument("--kid-thermal", metavar="DIR",
                   help="real aerial thermal for --kid: a folder with val.jsonl (HIT-UAV, `file` per row)")
    p.add_argument("--kid-n", type=positive_int, default=200, help="images per side for KID")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import shlex
    import sys

    from fusionrs.errors import FusionRSError
    from fusionrs.results import write_results
    from fusionrs.translate.evaluate import BASELINES, baseline_predictors, contact_sheet, evaluate_pairs, model_predictor

    if args.predictions and args.kid:
        raise FusionRSError("--kid translates aerial RGB with the model: give --model, not --predictions")
    if args.kid and not (args.kid_rgb and args.kid_thermal):
        raise FusionRSError("--kid needs --kid-rgb DIR (aerial RGB with dataset_rsicd.json) and --kid-thermal DIR "
                            "(real thermal with val.jsonl)")
    pairs = _eval_pairs(args.pairs, args)
    if not pairs:
        raise FileNotFoundError(f"{args.pairs}: no pairs to evaluate")
    if args.linear_from and args.linear_from.startswith("linear:"):
        from fusionrs.translate.base import LinearTranslator

        baselines = baseline_predictors(LinearTranslator.load(args.linear_from.split(":", 1)[1]))
    else:
        baselines = baseline_predictors(_linear_pairs(args.linear_from, args.pairs, args))
    if args.predictions:
        from fusionrs.translate.evaluate import folder_predictor

        model, name = folder_predictor(args.predictions, [p.name for p in pairs]), "model"
    elif args.model in BASELINES:
        model, name = None, None  # a baseline alone: scored among the baselines, no CI against itself
    else:
        model, name = model_predictor(args.model), "model"
    results, predictions = evaluate_pairs(pairs, model, baselines, model_name=name or "model", seed=args.seed)
    results.update({"model": args.model or f"predictions:{args.predictions}", "pairs": args.pairs, "split": args.split,
                    "linear_from": args.linear_from or args.pairs})
    if args.sheet:
        shown = predictions["model"] if model is not None else predictions[args.model]
        results["contact_sheet"] = str(contact_sheet(pairs, shown, args.sheet))
    if args.kid:
        results["kid"] = kid_block(args, model, baselines)
    command = "fusionrs eval translator " + " ".join(shlex.quote(a) for a in sys.argv[3:]) if len(sys.argv) > 3 else "fusionrs eval translator"
    write_results(args.json, results, command=command, seed=args.seed)
    summary = {k: v["mean"] for k, v in results["systems"].items()}
    print(json.dumps(summary, indent=2))
    for base, cis in results.get("vs_baselines", {}).items():
        print(f"model - {base}: " + ", ".join(f"{m} {c['mean_diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"
                                               for m, c in cis.items()))
    print(f"results in {args.json}")
    return 0
