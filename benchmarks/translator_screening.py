"""Issue 16 screening table: each candidate vs the reference S1 on the 31 screening pairs, paired CIs.

    python benchmarks/translator_screening.py --runs runs/screen --reference S1 \
        --json benchmarks/translator_screening.json --md benchmarks/translator_screening.md

Reads `RUN/eval_screening.json` (from `fusionrs eval translator --split screening`) and
`RUN/final/` training metadata of every candidate folder under `--runs`; writes the mean PSNR / SSIM /
MAE / edge correlation of each, the linear baseline of the same evaluation, and the paired bootstrap
95 % CI of candidate - reference per metric (`fusionrs.metrics.bootstrap.paired_bootstrap_ci`). The
keep rule and budgets are the ones written before the runs in `benchmarks/translator_plan.md`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionrs.metrics.bootstrap import paired_bootstrap_ci  # noqa: E402
from fusionrs.results import write_results  # noqa: E402

METRICS = ("psnr", "ssim", "mae", "edge_corr")


def _per_image(evaluation: dict, system: str = "model") -> dict[str, dict[str, float]]:
    return {row["name"]: row for row in evaluation["systems"][system]["per_image"]}


def _training(run: Path) -> dict:
    for name in ("translator_config.json",):
        path = run / "final" / name
        if path.is_file():
            meta = json.loads(path.read_text())
            log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
            return {"steps_planned": meta.get("training", {}).get("steps"),
                    "steps": log[-1]["step"] if log else None,  # done: a run stopped by its 10 minutes does fewer
                    "train_seconds": meta.get("train_seconds_this_run"),
                    "data_counts": meta.get("data_counts")}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="folder of candidate runs (S0, S1, ...)")
    parser.add_argument("--reference", default="S1")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--md", type=Path, required=True)
    args = parser.parse_args()
    evaluations = {run.name: json.loads((run / "eval_screening.json").read_text())["results"]
                   for run in sorted(args.runs.iterdir()) if (run / "eval_screening.json").is_file()}
    if args.reference not in evaluations:
        raise SystemExit(f"no {args.reference}/eval_screening.json under {args.runs}")
    reference = _per_image(evaluations[args.reference])
    rows = {}
    for name, evaluation in evaluations.items():
        images = _per_image(evaluation)
        shared = sorted(set(images) & set(reference))
        row = {"n": len(images), "mean": evaluation["systems"]["model"]["mean"],
               "linear": evaluation["systems"]["linear"]["mean"], "training": _training(args.runs / name)}
        if name != args.reference:
            row["minus_reference"] = {m: paired_bootstrap_ci([images[k][m] for k in shared],
                                                             [reference[k][m] for k in shared]) for m in METRICS}
        rows[name] = row
    write_results(args.json, {"reference": args.reference, "split": "screening (11 tune + 20 held out)",
                              "candidates": rows},
                  command="python benchmarks/translator_screening.py " + " ".join(sys.argv[1:]), seed=0)
    lines = ["| run | steps done / planned | train s | PSNR | SSIM | MAE | edge corr | PSNR - ref [95% CI] | SSIM - ref [95% CI] |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        mean, diff = row["mean"], row.get("minus_reference")
        ci = (lambda m: f"{diff[m]['mean_diff']:+.3f} [{diff[m]['low']:+.3f}, {diff[m]['high']:+.3f}]") if diff else (lambda m: "reference")
        training = row["training"]
        lines.append(f"| {name} | {training.get('steps')} / {training.get('steps_planned')} | {training.get('train_seconds')} | "
                     f"{mean['psnr']:.2f} | {mean['ssim']:.3f} | {mean['mae']:.1f} | {mean['edge_corr']:.3f} | "
                     f"{ci('psnr')} | {ci('ssim')} |")
    linear = next(iter(rows.values()))["linear"]
    lines.append(f"| linear fit (same evaluation) | | | {linear['psnr']:.2f} | {linear['ssim']:.3f} | "
                 f"{linear['mae']:.1f} | {linear['edge_corr']:.3f} | | |")
    args.md.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
