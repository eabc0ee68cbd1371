"""Argument types shared by subcommands: they raise argparse errors, i.e. one line and exit 2."""

from __future__ import annotations

import argparse
import re

from fusionrs.core.cli_config import non_negative_int, positive_int

__all__ = ["add_group_parser", "int_in_range", "non_negative_int", "positive_int", "split_sizes"]


def split_sizes(text: str) -> dict[str, float]:
    """Parse `train=0.8,validation=0.1,test=0.1` (fractions or counts; only the ratios matter)."""
    sizes: dict[str, float] = {}
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\w+)\s*=\s*([0-9.]+)\s*", part)
        if not match:
            raise argparse.ArgumentTypeError(f"expected NAME=NUMBER[,NAME=NUMBER...], got {text!r}")
        sizes[match.group(1)] = float(match.group(2))
    if sum(sizes.values()) <= 0:
        raise argparse.ArgumentTypeError(f"split sizes must add up to more than 0, got {text!r}")
    return sizes


def int_in_range(low: int, high: int):
    """An argparse type accepting integers in [low, high]."""

    def parse(text: str) -> int:
        value = positive_int(text) if low >= 1 else int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer within {low}-{high}, got {value}")
        return value

    parse.__name__ = f"int in {low}-{high}"
    return parse


def add_group_parser(sub, name: str, help_text: str, targets: tuple[str, ...]) -> None:
    """A command group (`fusionrs train MODEL`): each target module registers its own sub-command."""
    import importlib

    kinds = ", ".join(t.split("_", 1)[1] for t in targets) or "none yet"
    parser = sub.add_parser(name, help=f"{help_text}: {kinds}")
    models = parser.add_subparsers(dest="target", metavar="MODEL", parser_class=type(parser), required=True)
    for target in targets:
        importlib.import_module(f"fusionrs.cli.{target}").add_parser(models)
