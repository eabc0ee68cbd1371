"""The reproduction's stages, in data-flow order. Each takes the Context and returns a JSON-able dict
(what the report shows); files go under `ctx.stage_dir(name)`."""

from __future__ import annotations

import json
from typing import Any

from fusionrs.reproduce.context import Context

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


def clip(ctx: Context) -> dict[str, Any]:
    """Train the CLIP ablation variants under one budget and evaluate each (and the untrained start)."""
    from fusionrs.clip.compose import build_clip, save_clip
    from fusionrs.clip.evaluate import PAPER_DIRECTIONS, evaluate_clip
    from fusionrs.clip.train import ClipTrainConfig, train_clip

    cfg = ctx.preset["clip"]
    out = ctx.stage_dir("clip")
    data = ctx.results["build"]["dataset_dir"]
    composed = cfg["init"] in ("tiny", "offline-dinov2-minilm")
    untrained = out / "untrained"
    if not (untrained / "config.json").exists():
        model, processor = build_clip(cfg["init"], seed=ctx.seed)
        save_clip(untrained, model, processor, {"variant": "untrained", "init": cfg["init"], "seed": ctx.seed})
    models = {"untrained": untrained}
    train_info: dict[str, Any] = {}
    for variant in cfg["variants"]:
        train_cfg = ClipTrainConfig(
            data=data, init=cfg["init"], variant=variant, out=str(out / variant), steps=cfg["steps"],
            batch_size=cfg["batch_size"], warmup=max(1, cfg["steps"] // 10), lr=cfg.get("lr", 1e-4),
            head_lr=cfg.get("head_lr", 1e-3), weight_decay=cfg.get("weight_decay", 0.1), seed=ctx.seed,
            # CPU recipe: frozen lower blocks computed once and cached, top block + projections trained
            train_top_vision=1 if composed else None, train_top_text=1 if composed else None,
            cache_features=composed, cache_root=str(out / "feature_cache"), checkpoint_every=0,
            resume=True, progress=ctx.progress,
        )
        summary = train_clip(train_cfg)
        models[variant] = out / variant / "final"
        train_info[variant] = {k: summary.get(k) for k in ("steps", "seconds", "samples_per_second", "final_loss")}
    evaluations = {}
    for name, folder in models.items():
        result = evaluate_clip(str(folder), data, "validation", progress=False, ci_resamples=200)
        (out / f"eval_{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        evaluations[name] = {"mean_recall": result["mean_recall"],
                             "retrieval": {d: result["retrieval"][d] for d in PAPER_DIRECTIONS},
                             "gallery_sizes": result.get("gallery_sizes")}
    lines = ["## Dual-modal CLIP ablation (validation split)", "",
             f"Init `{cfg['init']}`; every variant {cfg['steps']} steps x batch {cfg['batch_size']} (seed {ctx.seed}); "
             "evaluation always on the dataset's translated IR. Mean Recall = mean of R@1/5/10 over the four "
             "directions (the paper's). Galleries: "
             + ", ".join(f"{k} {v}" for k, v in (next(iter(evaluations.values()))["gallery_sizes"] or {}).items())
             + ".", "",
             "| model | IR->cap R@1/5/10 | cap->IR R@1/5/10 | RGB->IR R@1/5/10 | IR->RGB R@1/5/10 | Mean Recall |",
             "|---|---|---|---|---|---|"]
    for name, ev in evaluations.items():
        cells = [" / ".join(f"{ev['retrieval'][d][k]:.1f}" for k in ("R@1", "R@5", "R@10")) for d in PAPER_DIRECTIONS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | **{ev['mean_recall']:.2f}** |")
    lines += ["", "Loss curves: " + ", ".join(f"[{v}](clip/{v}/loss_curve.png)" for v in cfg["variants"]), "",
              f"![trimodal loss](clip/{cfg['variants'][0]}/loss_curve.png)"]
    return {"init": cfg["init"], "budget": {"steps": cfg["steps"], "batch_size": cfg["batch_size"]},
            "train": train_info, "evaluations": evaluations,
            "models": {k: str(v) for k, v in models.items()}, "report_lines": lines}


def vlm(ctx: Context) -> dict[str, Any]:
    """LoRA-train the captioner on RGB+IR (task-conditioned mixed), then score it and its untrained floor."""
    from fusionrs.core.training import plot_loss_curve
    from fusionrs.data.loading import load_dataset
    from fusionrs.vlm.config import VLMTrainConfig
    from fusionrs.vlm.evaluate import evaluate_captions, representative_subset
    from fusionrs.vlm.generate import load_vlm
    from fusionrs.vlm.train import load_base, train_vlm

    cfg = ctx.preset["vlm"]
    out = ctx.stage_dir("vlm")
    data = ctx.results["build"]["dataset_dir"]
    train_rows = load_dataset(data, split="train")
    config = VLMTrainConfig(out=str(out / "trained"), data=data, base=cfg["base"], mode=cfg["mode"], task=cfg["task"],
                            steps=cfg["steps"], batch_size=cfg["batch_size"], checkpoint_every=0, seed=ctx.seed,
                            resume=True, feature_cache=str(out / "features.safetensors"),
                            translator=ctx.results["build"]["translator"])
    model, processor = load_base(cfg["base"], image_size=cfg.get("image_size"))
    floor = out / "untrained"
    if not (floor / "config.json").exists():
        model.save_pretrained(floor)
        processor.save_pretrained(floor)
    summary = train_vlm(config, rows=train_rows, model=model, processor=processor)
    plot_loss_curve(out / "trained" / "log.jsonl", out / "loss_curve.png", title="captioner LoRA training",
                    ylabel="cross-entropy (answer tokens)")

    val = load_dataset(data, split="validation")
    rows = [val[i] for i in representative_subset(val, cfg["eval_items"], seed=ctx.seed)]
    metrics, lexical = {}, {}
    for name, folder in (("untrained", floor), ("trained", out / "trained" / "final")):
        eval_model, eval_processor = load_vlm(folder)
        for task in ("caption", "ir_aware_caption"):
            result = evaluate_captions(eval_model, eval_processor, rows, mode=cfg["mode"], task=task,
                                       max_new_tokens=cfg.get("max_new_tokens", 32))
            (out / f"eval_{name}_{task}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
            metrics[f"{name}/{task}"] = {k: v for k, v in result["coco"].items() if isinstance(v, (int, float))}
            lexical[f"{name}/{task}"] = result["lexical"]
    names = ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D")
    lines = ["## Captioning (validation representatives)", "",
             f"Base `{cfg['base']}`, input `{cfg['mode']}`, task `{cfg['task']}`; LoRA r{config.lora_r} + projector, "
             f"{cfg['steps']} steps x batch {cfg['batch_size']} (time and tokens/s: timing.json); greedy decoding on "
             f"{len(rows)} rows. "
             "IR-aware references are long (1-2 sentences), so short greedy outputs score low on them.", "",
             "| model / task | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, values in metrics.items():
        lines.append(f"| {key} | " + " | ".join(f"{values.get(n, float('nan')):.3f}" for n in names) + " |")
    lines += ["", "![captioner loss](vlm/loss_curve.png)"]
    trained = metrics["trained/caption"]
    return {"base": cfg["base"], "mode": cfg["mode"], "task": cfg["task"], "eval_rows": len(rows),
            "train": {k: summary[k] for k in ("steps", "examples", "train_time_s", "train_tokens_per_s", "final_loss")},
            "metrics": trained, "all_metrics": metrics, "lexical": lexical, "model_dir": str(out / "trained" / "final"),
            "report_lines": lines}


STAGES = [
    ("world", world),
    ("translator", translator),
    ("build", build),
    ("clip", clip),
    ("vlm", vlm),
]
