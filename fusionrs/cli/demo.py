"""`fusionrs demo`: the main job of `make run` on the embedded default data (the procedural world).

It grows with the project; today: build a world dataset folder, load it back with plain
`datasets`, draw a sample grid and measure how much of the IR a linear RGB fit misses.
"""

from __future__ import annotations

import argparse

from fusionrs.cli.util import int_in_range, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded default data (used by `make run`)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--n", type=positive_int, default=240, help="world scenes to generate (default 240)")
    p.add_argument("--size", type=int_in_range(64, 512), default=256, help="image side in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import datasets

    from fusionrs.cli.synth import allocate
    from fusionrs.data.loading import write_world_folder
    from fusionrs.data.plot import plot_samples
    from fusionrs.synth import generate_scene, linear_fit_report

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"[1/3] generating {args.n} world scenes at {args.size} px (seed {args.seed})")
    sizes = allocate(args.n, {"train": 0.8, "validation": 0.1, "test": 0.1})
    report = write_world_folder(out / "dataset", sizes=sizes, image_size=args.size, seed=args.seed, overwrite=True)

    print("[2/3] loading it back with plain datasets.load_dataset")
    ds = datasets.load_dataset(str(out / "dataset"))
    print(ds)
    plot_samples(ds["train"].select(range(min(8, len(ds["train"]))))).save(out / "samples.png")

    print("[3/3] how much of the IR does a linear RGB fit explain?")
    scenes = [generate_scene(i, seed=args.seed, size=args.size) for i in range(min(args.n, 48))]
    fit = linear_fit_report(scenes)
    (out / "linear_fit.json").write_text(json.dumps(fit, indent=2) + "\n")
    print(json.dumps({k: v for k, v in fit.items() if not isinstance(v, (dict, list))}, indent=2))

    print(f"\noutput in {out.resolve()}:")
    print(f"  dataset folder  {report.out_dir.resolve()}  ({report.num_rows} rows; load with datasets.load_dataset)")
    print(f"  sample grid     {(out / 'samples.png').resolve()}")
    print(f"  linear fit      {(out / 'linear_fit.json').resolve()}")
    return 0
