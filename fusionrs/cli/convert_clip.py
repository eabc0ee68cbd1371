"""`fusionrs convert-clip`: an open_clip ViT checkpoint (RemoteCLIP, GeoRSCLIP, ...) -> a transformers CLIPModel folder."""

from __future__ import annotations

import argparse


# Spelled out rather than imported: importing fusionrs.clip here would run that package's __init__ on every
# `fusionrs --help`. tests/test_convert_open_clip.py checks this list equals convert_open_clip.list_archs().
ARCH_NAMES = ("ViT-B-16", "ViT-B-32", "ViT-H-14", "ViT-L-14")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert-clip", help="convert an open_clip ViT checkpoint (RemoteCLIP, GeoRSCLIP) to a transformers CLIPModel folder",
        description="Read an open_clip state dict safely (torch.load weights_only=True, or safetensors), map it onto "
                    "transformers' CLIPModel (fused qkv split, projections transposed) and write the model, a "
                    "CLIPProcessor (open_clip's eval preprocessing + CLIP BPE tokenizer) and conversion.json. "
                    "open_clip is not needed. Unknown keys or shape mismatches stop the conversion.",
        epilog="The activation is not stored in open_clip weights. Defaults: QuickGELU for ViT-B-32/B-16/L-14 "
               "(RemoteCLIP ViT-B/32 and ViT-L/14 and GeoRSCLIP ViT-B/32 are fine-tuned OpenAI CLIPs), GELU for ViT-H-14 "
               "(GeoRSCLIP ViT-H/14 starts from LAION weights). See docs/convert_clip.md.",
    )
    p.add_argument("--open-clip", dest="checkpoint", required=True, metavar="CKPT",
                   help="open_clip checkpoint: .pt/.pth/.bin state dict (also {'state_dict': ...} and 'module.' "
                        "prefixes) or .safetensors")
    p.add_argument("--arch", required=True,
                   help=f"architecture: {', '.join(ARCH_NAMES)}, or the path of an open_clip model-config JSON")
    p.add_argument("--out", required=True, help="output folder (AutoModel/AutoProcessor.from_pretrained read it)")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--quick-gelu", dest="quick_gelu", action="store_const", const=True, default=None,
                     help="QuickGELU activation (OpenAI-initialised weights; the default for ViT-B-32/B-16/L-14)")
    act.add_argument("--gelu", dest="quick_gelu", action="store_const", const=False,
                     help="exact GELU (LAION/DataComp-trained weights; the default for ViT-H-14)")
    p.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"], default="auto",
                   help="weight dtype to write (auto: the checkpoint's own)")
    p.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty output folder that fusionrs wrote")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.clip.convert_open_clip import convert_open_clip_checkpoint

    out = convert_open_clip_checkpoint(
        args.checkpoint, args.out, arch=args.arch, quick_gelu=args.quick_gelu, dtype=args.dtype, overwrite=args.overwrite,
    )
    import json

    meta = json.loads((out / "conversion.json").read_text())
    print(f"wrote {out} ({meta['num_weights']} tensors, {meta['dtype']}, activation {meta['hidden_act']}); "
          f"fine-tune it with `fusionrs train clip --init {out} ...`")
    return 0
