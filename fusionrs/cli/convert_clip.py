"""`fusionrs ... convert-clip`: placeholder until its issue lands (replaced by the real module)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("convert-clip", help="convert an open_clip ViT checkpoint to a transformers CLIPModel folder (not yet available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.errors import FusionRSError

    raise FusionRSError("'convert-clip' is not implemented yet")
