"""`fusionrs train clip`: train a dual-modal CLIP variant (see fusionrs.clip.train)."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import non_negative_int, positive_int

VARIANT_NAMES = ("trimodal", "dual_text", "rgb_text", "ir_text", "grayscale", "rgb_duplicate", "rgb_only")


def add_parser(sub) -> None:
    p = sub.add_parser("clip", help="train a dual-modal CLIP model (shared RGB/IR image encoder, tri-modal InfoNCE)")
    p.add_argument("--data", metavar="DIR", help="FusionRS dataset folder with a train split (default: the embedded sample)")
    p.add_argument("--init", default="offline-dinov2-minilm",
                   help="offline-dinov2-minilm (default), tiny, a CLIP folder, or a hub id (needs the hub or its cache)")
    p.add_argument("--variant", default="trimodal", choices=VARIANT_NAMES,
                   help="loss / IR-view ablation (grayscale, rgb_duplicate: trimodal loss with that image as IR)")
    p.add_argument("--ir-view", choices=("translated", "grayscale", "rgb_duplicate"),
                   help="override the variant's training IR view (evaluation always uses the dataset's IR)")
    p.add_argument("--caption-policy", default="ir_aware", choices=("original", "ir_aware", "mixed"),
                   help="captions paired with IR in training (default ir_aware: the IR-aware caption where present)")
    p.add_argument("--out", default="runs/clip/trimodal", help="output folder: checkpoints/, log.jsonl, loss_curve.png, final/")
    p.add_argument("--image-size", type=positive_int, help="processor image size (composed default 112)")
    p.add_argument("--projection-dim", type=positive_int, default=256)
    p.add_argument("--limit", type=positive_int, help="use only the first N training rows")
    p.add_argument("--train-top-vision", type=non_negative_int, metavar="N",
                   help="train only the top N image blocks (+ norm, projections); default: full fine-tuning")
    p.add_argument("--train-top-text", type=non_negative_int, metavar="N", help="train only the top N text layers")
    p.add_argument("--cache-features", action="store_true",
                   help="cache the frozen blocks' output once under --cache-root and train from it")
    p.add_argument("--cache-root", default="runs/clip_cache")
    p.add_argument("--steps", type=positive_int, default=1000)
    p.add_argument("--batch-size", type=positive_int, default=128, help="global batch (all processes x accumulation)")
    p.add_argument("--grad-accum", type=positive_int, default=1)
    p.add_argument("--lr", type=float, default=5e-6, help="pretrained weights (paper: 5e-6)")
    p.add_argument("--head-lr", type=float, help="fresh projections + temperature (default: --lr)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=non_negative_int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=positive_int, default=10)
    p.add_argument("--checkpoint-every", type=non_negative_int, default=200)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, help="stop (and checkpoint) after this much wall time")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json

    from fusionrs.clip.train import ClipTrainConfig, train_clip

    cfg = ClipTrainConfig(
        data=args.data, init=args.init, variant=args.variant, ir_view=args.ir_view, caption_policy=args.caption_policy,
        out=args.out, image_size=args.image_size, projection_dim=args.projection_dim, limit=args.limit,
        train_top_vision=args.train_top_vision, train_top_text=args.train_top_text, cache_features=args.cache_features,
        cache_root=args.cache_root, steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        head_lr=args.head_lr, weight_decay=args.weight_decay, warmup=args.warmup, seed=args.seed,
        log_every=args.log_every, checkpoint_every=args.checkpoint_every, resume=args.resume,
        mixed_precision=args.mixed_precision, threads=args.threads, max_minutes=args.max_minutes,
        progress=not args.no_progress)
    summary = train_clip(cfg)
    print(json.dumps({k: summary.get(k) for k in ("model", "variant", "ir_view", "caption_policy", "steps", "seconds",
                                                   "samples_per_second", "final_loss", "budget")}, indent=2))
    return 0
