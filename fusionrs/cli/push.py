"""`fusionrs ... push`: placeholder until its issue lands (replaced by the real module)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("push", help="upload a dataset, model or Space folder to the hub (not yet available)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fusionrs.errors import FusionRSError

    raise FusionRSError("'push' is not implemented yet")
