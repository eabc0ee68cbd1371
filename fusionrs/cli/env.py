"""`fusionrs env`: versions and machine facts to paste into a bug report."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("env", help="print library versions and machine facts as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from fusionrs.results import environment_info, package_conflicts

    info = {**environment_info(), "conflicts": package_conflicts()}
    print(json.dumps(info, indent=2))
    for conflict in info["conflicts"]:
        print(f"warning: {conflict}", file=sys.stderr)
    return 0
