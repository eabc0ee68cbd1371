"""World-data fidelity of the one-step translator when the IR target is a daytime view.

The world's IR hour is random per scene and its RGB view carries little cue of it, so an RGB model
cannot guess the hour; the >= 6 dB world target is meaningful with a fixed hour.
Here training and evaluation scenes share `time_of_day=13.0`; the linear baseline is fitted on the
same training scenes. Evaluation scenes come from a world seed never used for training or choices.

    OMP_NUM_THREADS=2 python benchmarks/translator_world_daytime.py --steps 3000 --eval-seed 3000
    (add --model runs/translator/world_day_small_3000/final to re-score a trained model)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from fusionrs.results import write_results
from fusionrs.translate.data import world_pairs
from fusionrs.translate.evaluate import baseline_predictors, evaluate_pairs, model_predictor
from fusionrs.translate.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
HOUR, SIZE, N_TRAIN, N_EVAL = 13.0, 128, 96, 24


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--eval-seed", type=int, default=3000)
    parser.add_argument("--model", help="score this trained model instead of training one")
    args = parser.parse_args()
    torch.set_num_threads(2)
    budget = None
    model = args.model
    if model is None:
        cfg = TrainConfig(out=f"runs/translator/world_day_{args.preset}_{args.steps}", preset=args.preset, world=N_TRAIN,
                          world_size=SIZE, world_time_of_day=HOUR, steps=args.steps, batch_size=8, crop=96, lr=2e-3,
                          warmup=20, adv=0.0, seed=0, log_every=100, sample_every=0, checkpoint_every=args.steps,
                          progress=False)
        start = time.perf_counter()
        summary = train(cfg)
        budget = {"steps": args.steps, "batch": 8, "crop": 96, "wall_seconds": round(time.perf_counter() - start, 1)}
        model = summary["model"]
    held_out = world_pairs(range(N_EVAL), seed=args.eval_seed, size=SIZE, time_of_day=HOUR).pairs
    fit_on = world_pairs(range(N_TRAIN), seed=1000, size=SIZE, time_of_day=HOUR).pairs  # the training scenes
    results, _ = evaluate_pairs(held_out, model_predictor(model), baseline_predictors(fit_on), seed=0)
    model_row, linear_row = results["systems"]["model"], results["systems"]["linear"]
    summary_row = {
        "preset": args.preset, "hour": HOUR, "size": SIZE, "train_scenes": N_TRAIN, "eval_scenes": N_EVAL,
        "eval_seed": args.eval_seed, "training_budget": budget, "model": str(model),
        "model_mean": model_row["mean"], "linear_mean": linear_row["mean"],
        "psnr_gain_vs_linear": results["vs_baselines"]["linear"]["psnr"],
        "rmse_same_colour": {"model": model_row["pooled"].get("rmse_same_colour"),
                             "linear": linear_row["pooled"].get("rmse_same_colour")},
    }
    write_results(HERE / "translator_world_daytime.json", summary_row,
                  command="OMP_NUM_THREADS=2 python benchmarks/translator_world_daytime.py " + " ".join(sys.argv[1:]), seed=0)
    print(json.dumps(summary_row, indent=2))


if __name__ == "__main__":
    main()
