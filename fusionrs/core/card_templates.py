"""The card templates (model_cards/<kind>.md) and the text every card shares.

The low-level half of card rendering, kept in core so every stage can write its own card: the dataset
folder writer (`data.card`), the translator trainer (`translate.card`) and the hub push
(`hub.push`) all render from here. Nothing in this module knows a stage's data layout.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Mapping
from typing import Any

from fusionrs.errors import CardValidationError

__all__ = ["CARD_KINDS", "CITATION", "LIMITATIONS", "SIZE_CATEGORIES", "flatten_config", "size_category", "template_text"]

CARD_KINDS = ("dataset", "translator", "clip", "vlm")

# Said on every model card: what the IR is and is not, and the misuse risk the hub's review asks about.
LIMITATIONS = (
    "The infrared images are **infrared-style**: translated from RGB (or rendered by the procedural world), "
    "not radiometric measurements. They carry no temperature, emissivity or radiance; do not read physical "
    "quantities from them, and do not use outputs as evidence of heat.",
    "IR-aware captions describe grayscale intensity patterns (bright/dark responses, contrast, outlines), "
    "never temperatures; captions claiming heat are a model error.",
    "Misuse risk: infrared-style imagery and captioning can support detecting or tracking people at night. "
    "Do not use this model for surveillance of individuals or to identify people.",
    "Remote-sensing domain only: trained and evaluated on nadir aerial/satellite scenes; performance on other "
    "viewpoints, sensors or real thermal cameras is not established.",
)

# The hub's `size_categories` buckets of a dataset card (datasets' utils/resources/size_categories.json), by
# upper bound of rows: n<1K, 1K<n<10K, ... ("unknown" is never what a written folder is).
SIZE_CATEGORIES = (
    (10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
)

CITATION = """@misc{fusionrs2026,
  title         = {A Large-Scale RGB-Infrared Remote Sensing Dataset for Dual-Modal Vision-Language Foundation Models},
  year          = {2026},
  eprint        = {2606.17020},
  archivePrefix = {arXiv},
  note          = {FusionRS}
}"""


def template_text(kind: str) -> str:
    """The Jinja template model_cards/<kind>.md (installed as package data of fusionrs.model_cards).

    Args:
        kind: one of `CARD_KINDS`.

    Returns:
        The template source.

    Raises:
        CardValidationError: `kind` is not a card kind (also a ValueError).
    """
    if kind not in CARD_KINDS:
        raise CardValidationError(f"unknown card kind {kind!r}; one of {', '.join(CARD_KINDS)}")
    return importlib.resources.files("fusionrs.model_cards").joinpath(f"{kind}.md").read_text()


def flatten_config(config: Mapping[str, Any], prefix: str = "", limit: int = 60) -> list[tuple[str, str]]:
    """A readable key/value table of a nested config (short values only: the JSON file has the rest).

    Args:
        config: a nested mapping (a trainer's notes).
        prefix: put before every key (nested keys get `parent.`).
        limit: at most this many rows.

    Returns:
        (dotted key, value text) rows; values over 120 characters are cut with "...".
    """
    rows: list[tuple[str, str]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += flatten_config(value, f"{name}.", limit)
        else:
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
            rows.append((name, text if len(text) <= 120 else text[:117] + "..."))
    return rows[:limit]


def size_category(rows: int) -> str:
    """The hub's `size_categories` bucket of a dataset with `rows` rows.

    Args:
        rows: the number of rows over all splits.

    Returns:
        "n<1K" below 1,000 rows, "1K<n<10K" from 1,000 up to 9,999, ... "n>1T" from 10**12.

    Raises:
        ValueError: `rows` is negative.
    """
    if rows < 0:
        raise ValueError(f"a dataset cannot have {rows} rows")
    return next((label for bound, label in SIZE_CATEGORIES if rows < bound), "n>1T")
