"""`fusionrs train translator`: train the one-step RGB->IR generator (see fusionrs.translate.train)."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("translator", help="train the one-step RGB->IR translator (UNet2DModel + PatchGAN)")
    p.add_argument("--out", default="runs/translator", help="output folder: checkpoints/, samples/, final/ (default runs/translator)")
    p.add_argument("--preset", default="base", help="size preset: tiny, small, base, large (fusionrs/translate/presets.json)")
    p.add_argument("--pairs", action="append", default=[], metavar="DIR",
                   help="pair folder with rgb/ + ir/ (repeatable); a folder named roadscene drops its validation names")
    p.add_argument("--world", type=int, default=0, metavar="N", help="add N procedural world pairs")
    p.add_argument("--world-weight", type=float, default=0.25, help="share of each batch from world pairs when mixed")
    p.add_argument("--world-size", type=positive_int, default=256)
    p.add_argument("--tune", type=int, default=0, help="RoadScene training pairs held back as a tuning slice")
    p.add_argument("--domain-thermal", metavar="DIR", help="unpaired real aerial thermal (e.g. ../shared/data/hit_uav)")
    p.add_argument("--domain-rgb", metavar="DIR", help="unpaired aerial RGB of the target domain (e.g. ../shared/data/rsicd_aid)")
    p.add_argument("--domain-weight", type=float, default=0.01)
    p.add_argument("--steps", type=positive_int, default=1000)
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--crop", type=positive_int, default=160, help="random crop side (multiple of the preset stride)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--adv-weight", type=float, default=0.01, help="PatchGAN weight (0: no adversarial term)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=positive_int, default=200)
    p.add_argument("--sample-every", type=positive_int, default=200)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, help="stop (and save) after this much wall time")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from fusionrs.translate.train import TrainConfig, train

    cfg = TrainConfig(out=args.out, preset=args.preset, pairs=args.pairs, world=args.world, world_weight=args.world_weight,
                      world_size=args.world_size, tune=args.tune, domain_thermal=args.domain_thermal,
                      domain_rgb=args.domain_rgb, domain=args.domain_weight, steps=args.steps, batch_size=args.batch_size,
                      crop=args.crop, lr=args.lr, adv=args.adv_weight, seed=args.seed,
                      checkpoint_every=args.checkpoint_every, sample_every=args.sample_every, resume=args.resume,
                      mixed_precision=args.mixed_precision, threads=args.threads, max_minutes=args.max_minutes)
    summary = train(cfg)
    last = summary["history"][-1] if summary["history"] else {}
    print(json.dumps({"model": summary.get("model"), "steps": summary["steps"], "seconds": summary["seconds"],
                      "data": summary["data_counts"], "final_l1": last.get("l1"), "final_ssim": last.get("ssim")}, indent=2))
    return 0
