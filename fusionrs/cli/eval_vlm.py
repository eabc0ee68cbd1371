"""`fusionrs ... vlm`: placeholder until its issue lands (replaced by the real module)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("vlm", help="evaluate a captioning VLM (not yet available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.errors import FusionRSError

    raise FusionRSError("'vlm' is not implemented yet")
