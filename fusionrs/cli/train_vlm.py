"""`fusionrs train vlm`: LoRA fine-tuning of a dual-modal captioning VLM (see fusionrs.vlm.train)."""

from __future__ import annotations

import argparse

from fusionrs.cli.util import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser("vlm", help="fine-tune a captioning VLM with LoRA (rgb+ir / rgb / ir; caption tasks or VQA)")
    p.add_argument("--data", help="FusionRS dataset folder (caption tasks)")
    p.add_argument("--hit-uav", metavar="DIR", help="HIT-UAV folder (train.jsonl + images/) for --task vqa")
    p.add_argument("--base", default="offline",
                   help="image-text-to-text model folder, or 'offline' (compose DINOv2-S + projector + SmolLM2-135M), or 'tiny' (seeded tiny LLaVA for smoke runs)")
    p.add_argument("--vision", metavar="DIR", help="with --base offline: a CLIP (or other ViT) folder as vision tower")
    p.add_argument("--image-size", type=positive_int, default=112, help="with --base offline: image side in pixels")
    p.add_argument("--mode", choices=("rgb+ir", "rgb", "ir"), default="rgb+ir")
    p.add_argument("--task", choices=("original", "ir_aware", "mixed", "vqa"), default="mixed",
                   help="original_only / ir_aware_only / task-conditioned mixed adapter, or HIT-UAV VQA")
    p.add_argument("--out", required=True, help="output folder: adapter/, model/ (merged), log.jsonl, checkpoints")
    p.add_argument("--steps", type=positive_int, default=64, help="optimizer steps (budget = steps x batch size)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--lr", type=float, default=2e-4, help="LoRA learning rate")
    p.add_argument("--projector-lr", type=float, default=1e-3)
    p.add_argument("--max-answer-tokens", type=positive_int, default=48, help="answers are cut to this many tokens")
    p.add_argument("--lora-r", type=positive_int, default=16)
    p.add_argument("--save-every", type=positive_int, default=16, help="checkpoint every N steps (for --resume)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--qlora", action="store_true", help="4-bit base (needs CUDA + bitsandbytes)")
    p.add_argument("--feature-cache", metavar="FILE", help="safetensors file of cached vision features (LLaVA bases)")
    p.add_argument("--no-feature-cache", action="store_true", help="run the vision tower on every step")
    p.add_argument("--translator", help="translator spec recorded for RGB-only inference (default: the dataset's)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    p.set_defaults(run=run)


def _translator_for(data_dir: str | None) -> str | None:
    """The dataset's own translator spec (generation.json), with a relative folder made absolute."""
    import json
    from pathlib import Path

    if not data_dir or not (Path(data_dir) / "generation.json").is_file():
        return None
    spec = json.loads((Path(data_dir) / "generation.json").read_text()).get("generation", {}).get("translator")
    if not spec:
        return None
    kind, _, arg = spec.partition(":")
    if arg and Path(arg).exists():
        return f"{kind}:{Path(arg).resolve()}"
    return spec


def _notes(args: argparse.Namespace, translator: str | None) -> dict:
    """What goes into fusionrs_vlm.json beside the merged model (hub cards read base/data/lora_r)."""
    from pathlib import Path

    notes = {"base": args.base, "lora_r": args.lora_r, "steps": args.steps, "batch_size": args.batch_size,
             "seed": args.seed}
    if translator:
        notes["translator"] = translator
    if args.data:
        notes["data"] = str(Path(args.data).resolve())
    if args.hit_uav:
        notes["hit_uav"] = str(Path(args.hit_uav).resolve())
    return notes


def run(args: argparse.Namespace) -> int:
    import json

    from fusionrs.vlm.train import FeatureCache, VLMTrainConfig, load_base, train_vlm

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    new_stream = _stream_factory(args)
    translator = args.translator or _translator_for(args.data)
    config = VLMTrainConfig(
        mode=args.mode, task=args.task, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        projector_lr=args.projector_lr, lora_r=args.lora_r, lora_alpha=2 * args.lora_r, max_answer_tokens=args.max_answer_tokens, save_every=args.save_every,
        seed=args.seed, qlora=args.qlora, cache_features=not args.no_feature_cache,
        notes=_notes(args, translator),
    )
    model, processor = load_base(args.base, qlora=args.qlora, image_size=args.image_size, vision=args.vision)
    cache = None
    if config.cache_features:
        cache = FeatureCache(args.feature_cache)
        # Features for exactly the examples the budget will draw (the stream is deterministic).
        planned = new_stream()
        from fusionrs.vlm.train import _is_llava

        if _is_llava(model):
            cache.ensure(model, processor, [next(planned) for _ in range(config.steps * config.batch_size)])
        else:
            cache = None
    summary = train_vlm(model, processor, new_stream(), args.out, config, feature_cache=cache, resume=args.resume,
                        extra_config={"base": args.base, "data": args.data, "hit_uav": args.hit_uav})
    print(json.dumps({k: summary[k] for k in ("steps", "examples", "train_tokens", "train_time_s",
                                               "train_tokens_per_s", "final_loss")}, indent=2))
    return 0


def _stream_factory(args: argparse.Namespace):
    """A function returning a fresh, identical example stream (one to plan the feature cache, one to
    train); the manifest or dataset is read once."""
    from fusionrs.errors import FusionRSError

    if args.task == "vqa":
        if not args.hit_uav:
            raise FusionRSError("--task vqa needs --hit-uav DIR")
        if args.mode != "ir":
            raise FusionRSError("--task vqa trains on real thermal images only: use --mode ir")
        from fusionrs.vlm.data import vqa_examples
        from fusionrs.vlm.vqa_data import build_vqa_manifest

        examples = vqa_examples(build_vqa_manifest(args.hit_uav, "train"), args.hit_uav)
        return lambda: _cycle(examples, args.seed)
    if not args.data:
        raise FusionRSError(f"--task {args.task} needs --data DIR (a FusionRS dataset folder)")
    from fusionrs.data.loading import load_dataset
    from fusionrs.vlm.data import caption_stream

    rows = load_dataset(args.data, split="train")
    return lambda: caption_stream(rows, args.task, args.mode, seed=args.seed)


def _cycle(examples: list, seed: int):
    """Endless seeded reshuffles of a finite example list (deterministic for --resume)."""
    import random

    rng = random.Random(seed)
    order = list(range(len(examples)))
    if not order:
        from fusionrs.errors import FusionRSError

        raise FusionRSError("no training examples")
    while True:
        rng.shuffle(order)
        for index in order:
            yield examples[index]
