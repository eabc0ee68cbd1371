"""`fusionrs synth`: write a procedural-world dataset folder."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import int_in_range, positive_int, split_sizes


def add_parser(sub) -> None:
    p = sub.add_parser("synth", help="generate a procedural aerial RGB/IR/caption dataset folder",
                       description="Generate N world scenes (RGB, ground-truth thermal IR, captions) as a dataset folder.")
    p.add_argument("--n", type=positive_int, default=100, help="number of scenes (default 100)")
    p.add_argument("--size", type=int_in_range(64, 512), default=256, help="image side in pixels, 64-512 (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--splits", type=split_sizes, default={"train": 0.8, "validation": 0.1, "test": 0.1},
                   help="split fractions, e.g. train=0.8,validation=0.1,test=0.1 (default)")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing folder that fusionrs wrote")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.data.loading import write_world_folder

    sizes = allocate(args.n, args.splits)
    report = write_world_folder(args.out, sizes=sizes, image_size=args.size, seed=args.seed, overwrite=args.overwrite)
    print(f"wrote {report.num_rows} scenes to {report.out_dir} ({', '.join(f'{k}: {v}' for k, v in report.split_counts.items())})")
    return 0


def allocate(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Whole rows per split summing to n; rounding leftovers go to the first split."""
    total = sum(fractions.values())
    sizes = {name: int(n * f / total) for name, f in fractions.items()}
    first = next(iter(sizes))
    sizes[first] += n - sum(sizes.values())
    return {name: count for name, count in sizes.items() if count > 0}
