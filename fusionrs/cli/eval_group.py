"""`fusionrs eval MODEL ...`: one module per model kind, `fusionrs.cli.eval_<kind>`, each with
`add_parser(sub)` (registering its own name, e.g. "translator") and `run(args)`."""

from __future__ import annotations

from fusionrs.cli.util import add_group_parser

# Add one line per model kind (its module name under fusionrs.cli).
TARGETS: tuple[str, ...] = (
    "eval_translator",
    "eval_clip",
    "eval_vlm",
)


def add_parser(sub) -> None:
    add_group_parser(sub, "eval", "evaluate a model", TARGETS)
