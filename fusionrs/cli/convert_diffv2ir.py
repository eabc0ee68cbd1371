"""`fusionrs convert-diffv2ir`: the published DiffV2IR checkpoint -> a diffusers folder for `--translator diffv2ir:DIR`."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert-diffv2ir", help="convert DiffV2IR's original checkpoint (.ckpt/.safetensors) to a diffusers folder",
        description="Read the checkpoint safely (torch.load weights_only=True, or safetensors), rename its weights "
                    "to diffusers' layout and write a DiffV2IRPipeline folder (safetensors).",
    )
    p.add_argument("checkpoint", help="the original checkpoint: Lightning .ckpt or a .safetensors state dict")
    p.add_argument("--out", required=True, help="output diffusers folder")
    p.add_argument("--tokenizer", default=None,
                   help="folder (or hub id) with the CLIP ViT-L/14 tokenizer (default: openai/clip-vit-large-patch14)")
    p.add_argument("--config", default=None, help="DiffV2IR's CompVis YAML config (default: the SD-1.x config it uses)")
    p.add_argument("--unet-weights", choices=["auto", "ema", "plain"], default="auto",
                   help="UNet weights to convert: auto = the model_ema.* copies when present (what DiffV2IR samples "
                        "with), else model.diffusion_model.*")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder that fusionrs wrote")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.translate.diffv2ir_convert import DEFAULT_TOKENIZER, convert_diffv2ir_checkpoint

    out = convert_diffv2ir_checkpoint(
        args.checkpoint, args.out, tokenizer=args.tokenizer or DEFAULT_TOKENIZER, original_config=args.config,
        extract_ema={"auto": None, "ema": True, "plain": False}[args.unet_weights], overwrite=args.overwrite,
    )
    print(f"wrote {out}; use it with `fusionrs build ... --translator diffv2ir:{out}`")
    return 0
