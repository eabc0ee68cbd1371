"""`fusionrs export translator`: a trained translator folder -> a release checkpoint (fp16 safetensors,
research-only card with the training command), e.g. the packaged default `fusionrs/weights/translator`."""

from __future__ import annotations

import argparse
from pathlib import Path

from fusionrs.cli.util import positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "translator", help="package a trained one-step translator (fp16, <= 10 MB) with its card",
        description="Copy RUN/final, store the UNet as fp16 safetensors (refused above --max-bytes) and write a "
                    "card with the training data, the research-only licence and the exact training command. "
                    "The package's default translator (`--translator builtin:default`) is made with "
                    "`fusionrs export translator --model RUN/final --out fusionrs/weights/translator --overwrite`.",
    )
    p.add_argument("--model", required=True, help="the trained translator folder (RUN/final)")
    p.add_argument("--out", required=True, help="the release folder to write")
    p.add_argument("--max-bytes", type=positive_int, default=None,
                   help="largest fp16 safetensors file accepted (default 10000000 = 10 MB)")
    p.add_argument("--command", dest="training_command", default=None,  # dest: `command` names the subcommand
                   help="the exact training command for the card (default: rebuilt from translator_config.json)")
    p.add_argument("--evaluation", metavar="FILE", default=None,
                   help="a Markdown file for the card's 'Evaluation and known limits' section")
    p.add_argument("--overwrite", action="store_true", help="replace an existing translator folder at --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.errors import FusionRSError
    from fusionrs.translate.package import MAX_RELEASE_BYTES, export_translator

    evaluation = None
    if args.evaluation:
        path = Path(args.evaluation)
        if not path.is_file():
            raise FusionRSError(f"--evaluation {path}: no such file")
        evaluation = path.read_text()
    out = export_translator(args.model, args.out, max_bytes=args.max_bytes or MAX_RELEASE_BYTES,
                            command=args.training_command, evaluation=evaluation, overwrite=args.overwrite)
    size = (out / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    from fusionrs.weights import DEFAULT_TRANSLATOR_SPEC

    packaged = out.resolve() == (Path(__file__).resolve().parents[1] / "weights" / "translator")
    spec = DEFAULT_TRANSLATOR_SPEC if packaged else f"fusionrs:{out}"
    print(f"wrote {out} ({size / 2**20:.1f} MiB fp16); use it with `fusionrs build ... --translator {spec}`")
    return 0
