"""The reproduction's stages, in data-flow order. Each takes the Context and returns a JSON-able dict
(what the report shows); files go under `ctx.stage_dir(name)`."""

from __future__ import annotations

import json
from typing import Any

from fusionrs.reproduce.runner import Context

__all__ = ["STAGES"]


def world(ctx: Context) -> dict[str, Any]:
    """How much of the world's IR a linear RGB fit misses: the gap a learned translator must close."""
    from fusionrs.synth import generate_scene, linear_fit_report

    cfg = ctx.preset["world"]
    scenes = [generate_scene(i, seed=ctx.seed, size=cfg["size"], time_of_day=cfg["time_of_day"])
              for i in range(min(cfg["scenes"], 64))]
    fit = linear_fit_report(scenes)
    keep = {k: v for k, v in fit.items() if not isinstance(v, (dict, list))}
    (ctx.stage_dir("world") / "linear_fit.json").write_text(json.dumps(fit, indent=2) + "\n")
    return {"scenes_fitted": len(scenes), "size": cfg["size"], "time_of_day": cfg["time_of_day"], "linear_fit": keep}


def translator(ctx: Context) -> dict[str, Any]:
    """Train the one-step translator on world pairs; score it and the baselines on held-out scenes."""
    from fusionrs.translate.data import world_pairs
    from fusionrs.translate.evaluate import baseline_predictors, evaluate_pairs, model_predictor
    from fusionrs.translate.train import TrainConfig, train

    world_cfg, cfg = ctx.preset["world"], ctx.preset["translator"]
    out = ctx.stage_dir("translator")
    train_cfg = TrainConfig(
        out=str(out / "run"), preset=cfg["preset"], world=world_cfg["scenes"], world_size=world_cfg["size"],
        world_time_of_day=world_cfg["time_of_day"], steps=cfg["steps"], batch_size=cfg["batch_size"],
        crop=cfg["crop"], lr=cfg["lr"], warmup=max(1, cfg["steps"] // 40), adv=0.0, seed=ctx.seed,
        log_every=max(1, cfg["steps"] // 40), sample_every=0, checkpoint_every=cfg["steps"], resume=True,
        progress=ctx.progress,
    )
    summary = train(train_cfg)
    # held out: another world seed than training's (TrainConfig draws world scenes from seed + 1000)
    held_out = world_pairs(range(cfg["eval_scenes"]), seed=ctx.seed + 2000, size=world_cfg["size"],
                           time_of_day=world_cfg["time_of_day"]).pairs
    fit_on = world_pairs(range(min(world_cfg["scenes"], 64)), seed=ctx.seed + 1000, size=world_cfg["size"],
                         time_of_day=world_cfg["time_of_day"]).pairs
    results, _ = evaluate_pairs(held_out, model_predictor(summary["model"]), baseline_predictors(fit_on), seed=ctx.seed)
    systems = {name: system["mean"] for name, system in results["systems"].items()}
    vs = {name: {metric: {k: v for k, v in d.items() if k in ("mean_diff", "low", "high")} for metric, d in m.items()}
          for name, m in results.get("vs_baselines", {}).items()}
    return {"model_dir": str(summary["model"]), "steps": summary["steps"], "train_seconds": summary["seconds"],
            "held_out_scenes": len(held_out), "systems": systems, "model_vs_baselines": vs,
            "log": str(out / "run" / "log.jsonl")}


def build(ctx: Context) -> dict[str, Any]:
    """World RGB -> translated IR + IR-aware captions -> grouped splits -> a dataset folder."""
    import datasets

    from fusionrs.data.build import BuildConfig, build_dataset
    from fusionrs.data.plot import plot_samples
    from fusionrs.data.sources import parse_source

    cfg = ctx.preset["build"]
    out = ctx.stage_dir("build")
    config = BuildConfig(
        sources=[parse_source(f"synth:{cfg['scenes']}")],
        translator=f"fusionrs:{ctx.results['translator']['model_dir']}",
        captioner=cfg["captioner"], split_policy="resplit", fractions=cfg["fractions"], seed=ctx.seed,
        synth_size=cfg["size"],
    )
    report = build_dataset(config, out / "dataset", overwrite=True, progress=ctx.progress)
    ds = datasets.load_dataset(str(out / "dataset"))
    split = "validation" if "validation" in ds else next(iter(ds))
    plot_samples(ds[split].select(range(min(6, ds[split].num_rows)))).save(out / "samples.png")
    return {"dataset_dir": str(out / "dataset"), "splits": dict(report.split_counts), "failures": len(report.failures),
            "translator": config.translator, "captioner": config.captioner, "samples_png": str(out / "samples.png")}


STAGES = [
    ("world", world),
    ("translator", translator),
    ("build", build),
]
