"""`fusionrs train MODEL ...`: one module per model kind, `fusionrs.cli.train_<kind>`, each with
`add_parser(sub)` (registering its own name, e.g. "translator") and `run(args)`."""

from __future__ import annotations

import importlib

# Add one line per model kind (its module name under fusionrs.cli).
TARGETS: tuple[str, ...] = (
)


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model: " + (", ".join(t.removeprefix("train_") for t in TARGETS) or "none yet"))
    targets = p.add_subparsers(dest="target", metavar="MODEL", parser_class=type(p), required=True)
    for name in TARGETS:
        importlib.import_module(f"fusionrs.cli.{name}").add_parser(targets)
