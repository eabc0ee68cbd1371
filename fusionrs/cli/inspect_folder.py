"""`fusionrs inspect`: what is in a dataset folder, in numbers and as sample grids."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="counts per split/source/class, caption stats, RGB|IR|caption grids")
    p.add_argument("folder", help="a dataset folder")
    p.add_argument("--out", help="where to write summary.json and grid PNGs (default: FOLDER/inspect)")
    p.add_argument("--samples", type=positive_int, default=8, help="rows per grid (default 8)")
    p.add_argument("--seed", type=int, default=0, help="which rows are shown")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import datasets

    from fusionrs.data.summary import INSPECT_DIR, format_summary, summarize
    from fusionrs.data.loading import resolve_data_dir
    from fusionrs.data.plot import plot_samples

    folder = resolve_data_dir(args.folder)
    ds = datasets.load_dataset(str(folder))
    summary = summarize(ds)
    out = Path(args.out) if args.out else folder / INSPECT_DIR
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(format_summary(summary))
    for split, split_ds in ds.items():
        rows = split_ds.shuffle(seed=args.seed).select(range(min(args.samples, len(split_ds))))
        plot_samples(rows, max_rows=args.samples).save(out / f"samples_{split}.png")
    print(f"summary and sample grids in {out}")
    return 0
