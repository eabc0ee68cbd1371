"""One-step translator: speed/size next to the pix2pix reference generator, and fidelity next to baselines.

    python benchmarks/translator.py --model runs/translator/base/final [--skip-speed] [--kid]

1. Speed: images/s at 256 px, batch 8, torch threads 2 (median of timed repeats after a warm-up), parameters
   and GFLOPs per image (torch.utils.flop_counter, 2 FLOPs per multiply-add) for every preset and for the
   pix2pix `unet_256` generator (ngf 64, BatchNorm, 8 down/8 up; 3 -> 1 channels; benchmarks/pix2pix.py), timed in the same process
   so that the comparison survives the load of a shared machine.
2. Fidelity (the same code as `fusionrs eval translator`): RoadScene validation (committed 40 names), the AOS
   aerial pairs that are not colour-mapped (linear baseline fitted on RoadScene training pairs), and
   held-out world scenes (linear fitted on training-seed world scenes), with paired bootstrap 95% CIs.
3. Optional KID (fusionrs.metrics.kid, DINOv2-S) of translated rsicd_aid val vs real hit_uav val.
Writes benchmarks/translator.json (fusionrs.results format) and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def pix2pix_unet_256(in_channels: int = 3, out_channels: int = 1, ngf: int = 64):
    """The pix2pix `unet_256` generator of benchmarks/pix2pix.py (the one trained there), 3 -> 1 channel."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pix2pix import pix2pix_unet_256 as build

    return build(in_channels, out_channels, ngf)


def _speed(fn, batch, repeats: int) -> dict[str, float]:
    import torch

    with torch.inference_mode():
        fn(batch)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(batch)
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"images_per_s": len(batch) / med, "best_images_per_s": len(batch) / min(times), "seconds_per_batch": med}


def speed_table(repeats: int, presets: list[str]) -> dict[str, Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fusionrs.translate.model import build_unet, load_preset, translate_tensor

    torch.set_num_threads(2)
    x = torch.rand(8, 3, 256, 256) * 2 - 1
    rows: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for name in presets:
        unet = build_unet(name).eval()
        f = load_preset(name)["pixel_shuffle"]
        models[name] = (unet, lambda b, u=unet, f=f: translate_tensor(u, b, pixel_shuffle=f))
    ref = pix2pix_unet_256().eval()
    models["pix2pix_unet_256"] = (ref, ref)
    for name, (module, fn) in models.items():
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            fn(x[:1])
        rows[name] = {"params_millions": sum(p.numel() for p in module.parameters()) / 1e6,
                      "gflops_per_image": counter.get_total_flops() / 1e9}
    # interleave the timings (model, model, ..., repeat) so that load changes hit every model alike
    samples: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _, fn in models.values():
            fn(x)
        for _ in range(repeats):
            for name, (_, fn) in models.items():
                t = time.perf_counter()
                fn(x)
                samples[name].append(time.perf_counter() - t)
    for name, times in samples.items():
        rows[name].update(images_per_s=8 / statistics.median(times), best_images_per_s=8 / min(times), repeats=repeats)
    for name in presets:
        rows[name]["speedup_vs_pix2pix"] = rows[name]["images_per_s"] / rows["pix2pix_unet_256"]["images_per_s"]
    return {"setting": "256x256, batch 8, torch.set_num_threads(2), fp32, inference_mode; median of interleaved repeats",
            "models": rows}


def fidelity(model: str, world_n: int, seed: int) -> dict[str, Any]:
    from types import SimpleNamespace

    from fusionrs.translate.eval_sets import eval_pairs, linear_pairs
    from fusionrs.translate.evaluate import baseline_predictors, contact_sheet, evaluate_pairs, model_predictor

    args = SimpleNamespace(world_seed=7, world_size=256, seed=seed)
    predict = model_predictor(model)
    roadscene = str(DATA / "rgbt_pairs" / "roadscene")
    out: dict[str, Any] = {}
    sets = {
        "roadscene_validation": (roadscene, roadscene),
        "aos_aerial": (str(DATA / "aerial_pairs" / "aos_rgb_thermal"), roadscene),
        "world": (f"world:{world_n}", f"world:{world_n}"),
    }
    for key, (pairs_spec, linear_spec) in sets.items():
        pairs = eval_pairs(pairs_spec, args)
        res, preds = evaluate_pairs(pairs, predict, baseline_predictors(linear_pairs(linear_spec, pairs_spec, args)), seed=seed)
        res["pairs"], res["linear_from"] = pairs_spec, linear_spec
        sheet = REPO / "docs" / "images" / f"translator_{key}.png"
        res["contact_sheet"] = str(contact_sheet(pairs, preds["model"], sheet, height=128, max_rows=5).relative_to(REPO))
        out[key] = res
    return out


def kid(model: str, n: int, seed: int) -> dict[str, Any]:
    from types import SimpleNamespace

    from fusionrs.translate.eval_sets import kid_block
    from fusionrs.translate.data import load_pairs, split_roadscene
    from fusionrs.translate.evaluate import baseline_predictors, model_predictor

    roadscene = DATA / "rgbt_pairs" / "roadscene"
    baselines = baseline_predictors(load_pairs(roadscene, names=set(split_roadscene(roadscene)["train"])).pairs)
    args = SimpleNamespace(kid_rgb=str(DATA / "rsicd_aid"), kid_thermal=str(DATA / "hit_uav"), kid_n=n, seed=seed)
    return kid_block(args, model_predictor(model), baselines)


def main() -> int:
    from fusionrs.results import write_results

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="trained translator folder (fidelity needs it)")
    p.add_argument("--training", help="JSON file describing the model's training run (budget), merged in")
    p.add_argument("--presets", default="tiny,small,base,large")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--world", type=int, default=24, help="held-out world scenes")
    p.add_argument("--kid", action="store_true")
    p.add_argument("--kid-n", type=int, default=150)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--include", action="append", default=[], metavar="NAME=JSON",
                   help="merge a `fusionrs eval translator` results file under results.extra_evals.NAME")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "translator.json"))
    args = p.parse_args()

    previous = json.loads(Path(args.out).read_text())["results"] if Path(args.out).is_file() else {}
    results: dict[str, Any] = dict(previous)
    if not args.skip_speed:
        results["speed"] = speed_table(args.repeats, args.presets.split(","))
        print(json.dumps(results["speed"], indent=2))
    if args.model:
        from fusionrs.translate.model import read_translator_config

        results["model"] = {"folder": args.model, "translator_config": read_translator_config(args.model)}
        if args.training:
            results["model"]["training"] = json.loads(Path(args.training).read_text())
        results["fidelity"] = fidelity(args.model, args.world, args.seed)
        for key, res in results["fidelity"].items():
            print(key, json.dumps({k: v["mean"] for k, v in res["systems"].items()}))
            for base, cis in res["vs_baselines"].items():
                print(f"  model - {base}: psnr {cis['psnr']['mean_diff']:+.2f} [{cis['psnr']['low']:+.2f}, {cis['psnr']['high']:+.2f}]"
                      f"  ssim {cis['ssim']['mean_diff']:+.3f} [{cis['ssim']['low']:+.3f}, {cis['ssim']['high']:+.3f}]")
        if args.kid:
            results["kid"] = kid(args.model, args.kid_n, args.seed)
            print(json.dumps(results["kid"], indent=2))
    for item in args.include:
        name, _, path = item.partition("=")
        payload = json.loads(Path(path).read_text())
        results.setdefault("extra_evals", {})[name] = {"command": payload["command"], **payload["results"]}
    # sections kept from earlier invocations stay; the command of each is in results.commands
    results.setdefault("commands", {})
    results["commands"]["+".join(k for k in ("speed", "fidelity", "extra_evals") if k in results and
                                 (k != "speed" or not args.skip_speed) and (k != "fidelity" or args.model)
                                 and (k != "extra_evals" or args.include))] = "python benchmarks/translator.py " + " ".join(sys.argv[1:])
    write_results(args.out, results, command="python benchmarks/translator.py " + " ".join(sys.argv[1:]), seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
