"""`fusionrs ... space`: placeholder until its issue lands (replaced by the real module)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("space", help="launch the Gradio Space (not yet available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.errors import FusionRSError

    raise FusionRSError("'space' is not implemented yet")
