"""`fusionrs export MODEL ...`: package a trained model as a release checkpoint; one module per model
kind, `fusionrs.cli.export_<kind>`, each with `add_parser(sub)` and `run(args)`."""

from __future__ import annotations

from fusionrs.cli.util import add_group_parser

# Add one line per model kind (its module name under fusionrs.cli).
TARGETS: tuple[str, ...] = (
    "export_translator",
)


def add_parser(sub) -> None:
    add_group_parser(sub, "export", "package a trained model as a release checkpoint (fp16, <= 10 MB)", TARGETS)
