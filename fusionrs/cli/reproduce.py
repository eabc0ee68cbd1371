"""`fusionrs reproduce`: the paper's experiments end to end at a preset scale (`make run` = mini)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from fusionrs.cli.util import positive_int
    from fusionrs.reproduce.runner import PRESETS

    p = sub.add_parser(
        "reproduce", help="run the end-to-end reproduction (world -> translator -> dataset -> CLIP -> captioner -> report)",
        description="Stages: world, translator, build, clip, vlm; then report.md + results.json in OUT. A rerun of the "
                    "same command resumes after the last finished stage. Presets: smoke (< 1 min), mini (about 7 min on "
                    "2 CPU cores; `make run`), paper (the paper's settings, for a GPU machine with hub access).",
    )
    p.add_argument("--preset", choices=PRESETS, default="mini")
    p.add_argument("--out", default=None, help="output folder (default runs/reproduce-PRESET)")
    p.add_argument("--stages", default=None, help="comma-separated subset of stages (default: all)")
    p.add_argument("--threads", type=positive_int, default=2,
                   help="torch threads (default 2; results.json is bit-identical across runs at the same count "
                        "on the same machine type)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fusionrs.reproduce import run_reproduction

    out = Path(args.out or f"runs/reproduce-{args.preset}")
    stages = [s.strip() for s in args.stages.split(",")] if args.stages else None
    from fusionrs.reproduce.report import summary_lines

    results = run_reproduction(args.preset, out, progress=not args.quiet, stages=stages, threads=args.threads)
    print(f"\nreproduction '{args.preset}' finished in {results['total_seconds']:.0f} s")
    for line in summary_lines(results):
        print(f"  {line}")
    print(f"  report   {(out / 'report.md').resolve()}")
    print(f"  results  {(out / 'results.json').resolve()}  (timings: timing.json)")
    return 0
