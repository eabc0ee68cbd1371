"""`fusionrs demo`: the quick world demo on the embedded default data (the procedural world).
(`make run` is `fusionrs reproduce --preset mini`, not this.)

It grows with the project; today: build a world dataset folder, load it back with plain
`datasets`, draw a sample grid, measure how much of the IR a linear RGB fit misses, and train a
small one-step RGB->IR translator on world pairs (fixed steps, a few minutes on a CPU) that is
scored against the linear fit on held-out world scenes.
"""

from __future__ import annotations

import argparse

from fusionrs.cli.util import int_in_range, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="a quick demo on the procedural world: dataset folder, linear fit, a small "
                                          "translator (not the reproduction: see reproduce)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--n", type=positive_int, default=240, help="world scenes to generate (default 240)")
    p.add_argument("--size", type=int_in_range(64, 512), default=256, help="image side in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--translator-steps", type=int, default=1200,
                   help="training steps of the demo translator (default 1200, ~1.5 min on 2 free cores; 0 skips the step)")
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
    print(f"[1/4] generating {args.n} world scenes at {args.size} px (seed {args.seed})")
    sizes = allocate(args.n, {"train": 0.8, "validation": 0.1, "test": 0.1})
    report = write_world_folder(out / "dataset", sizes=sizes, image_size=args.size, seed=args.seed, overwrite=True)

    print("[2/4] loading it back with plain datasets.load_dataset")
    ds = datasets.load_dataset(str(out / "dataset"))
    print(ds)
    plot_samples(ds["train"].select(range(min(8, len(ds["train"]))))).save(out / "samples.png")

    print("[3/4] how much of the IR does a linear RGB fit explain?")
    scenes = [generate_scene(i, seed=args.seed, size=args.size) for i in range(min(args.n, 48))]
    fit = linear_fit_report(scenes)
    (out / "linear_fit.json").write_text(json.dumps(fit, indent=2) + "\n")
    print(json.dumps({k: v for k, v in fit.items() if not isinstance(v, (dict, list))}, indent=2))

    translator = _train_demo_translator(out, args) if args.translator_steps > 0 else None

    print(f"\noutput in {out.resolve()}:")
    print(f"  dataset folder  {report.out_dir.resolve()}  ({report.num_rows} rows; load with datasets.load_dataset)")
    print(f"  sample grid     {(out / 'samples.png').resolve()}")
    print(f"  linear fit      {(out / 'linear_fit.json').resolve()}")
    if translator is not None:
        print(f"  translator      {translator.resolve()}  (RGBToIRPipeline.from_pretrained; see translator_eval.json)")
    return 0


def _train_demo_translator(out, args):
    """Train the tiny one-step translator on world pairs and score it against the linear fit."""
    import json

    from fusionrs.translate.data import world_pairs
    from fusionrs.translate.evaluate import baseline_predictors, evaluate_pairs, model_predictor
    from fusionrs.translate.train import TrainConfig, train

    print(f"[4/4] training a tiny RGB->IR translator on world pairs ({args.translator_steps} steps)")
    cfg = TrainConfig(out=str(out / "translator"), preset="tiny", world=64, world_size=128, steps=args.translator_steps,
                      batch_size=8, crop=64, lr=3e-3, warmup=20, adv=0.0, seed=args.seed, log_every=25,
                      sample_every=0, checkpoint_every=args.translator_steps, progress=True)
    summary = train(cfg)
    # held-out scenes: a different world seed than training (TrainConfig uses seed + 1000)
    held_out = world_pairs(range(16), seed=args.seed + 2000, size=128).pairs
    fit_on = world_pairs(range(64), seed=args.seed + 1000, size=128).pairs
    results, _ = evaluate_pairs(held_out, model_predictor(summary["model"]), baseline_predictors(fit_on), seed=args.seed)
    ci = results["vs_baselines"]["linear"]["psnr"]
    model, linear = results["systems"]["model"], results["systems"]["linear"]
    report = {"train_seconds": summary["seconds"], "steps": summary["steps"],
              "psnr_model": model["mean"]["psnr"], "psnr_linear": linear["mean"]["psnr"],
              "psnr_gain": ci["mean_diff"], "psnr_gain_ci95": [ci["low"], ci["high"]],
              "rmse_same_colour_model": model["pooled"]["rmse_same_colour"],
              "rmse_same_colour_linear": linear["pooled"]["rmse_same_colour"]}
    (out / "translator_eval.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"  translator PSNR {report['psnr_model']:.2f} dB vs linear fit {report['psnr_linear']:.2f} dB on 16 held-out "
          f"world scenes: {ci['mean_diff']:+.2f} dB [95% CI {ci['low']:+.2f}, {ci['high']:+.2f}] "
          f"after {report['steps']} steps / {report['train_seconds']:.0f} s")
    return out / "translator" / "final"
