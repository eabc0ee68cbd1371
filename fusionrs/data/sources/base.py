"""What every source adapter yields: a `SourceItem` per image, before any pixel is read."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from fusionrs.errors import SkippedEntryError, SourceSpecError  # noqa: F401  (re-exported here)

__all__ = [
    "SPLIT_ALIASES", "SkippedEntryError", "SourceItem", "SourceSpecError", "class_from_filename", "normalise_class",
    "normalise_split", "skipped_item", "split_from_name",
]

# Source datasets name their splits in many ways (Karpathy "val"/"restval", ...); records use the
# Hugging Face names. The one table: the split stage (`fusionrs.data.splits`) reads it too.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train", "restval": "train",
    "validation": "validation", "val": "validation", "valid": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}


@dataclass
class SourceItem:
    """One image of a source with its annotations. Pixels are read later, at staging.

    `locator` is relative to `root` (it becomes the record's provenance locator, so it must never be
    absolute nor contain '..'; the builder checks). `image` holds pixels for sources that have no
    files (procedural world, datasets folders).

    A source entry that cannot become a record (malformed, outside the source root, a special file,
    text that is not UTF-8) is still yielded, as a *skipped item* (`skipped_item`): `skip_reason` says
    why, `root` is None, `locator` is "", and `loaded()` raises `SkippedEntryError(skip_reason)`, so a
    builder that stages it records the reason as a left-out record and goes on.
    """

    source_dataset: str
    source_id: str
    root: Path | None
    locator: str
    captions: list[str]
    modality: Literal["rgb", "ir"] = "rgb"
    class_name: str = ""
    source_split: str | None = None
    objects: list[dict[str, Any]] = field(default_factory=list)
    rights: str = ""
    image: Image.Image | bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # For generated sources: returns the fields above that are costly to make (image, captions, ...),
    # called at staging so that planning a build of many scenes stays cheap.
    load: Callable[[], dict[str, Any]] | None = None
    # Non-empty: this entry of the source is left out, for this reason (see `skipped_item`).
    skip_reason: str = ""

    def loaded(self) -> "SourceItem":
        return dataclasses.replace(self, **self.load(), load=None) if self.load else self


def _refuse(reason: str) -> dict[str, Any]:
    raise SkippedEntryError(reason)


def _printable(text: str) -> str:
    """`text` as valid UTF-8: lone surrogates (undecodable bytes) written as `\\udcXX` escapes."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def skipped_item(source_dataset: str, source_id: str, reason: str, *, rights: str = "",
                 modality: Literal["rgb", "ir"] = "rgb") -> SourceItem:
    """A placeholder for a source entry that cannot become a record, carrying why.

    Args:
        source_dataset: the source name.
        source_id: the entry's id (its file name stem when usable, else its place in the annotation
            file, e.g. `dataset_x.json#images[3]`).
        reason: why it is left out; names the annotation file and entry, never an absolute path.
        rights: the source's rights note.
        modality: the source's modality.

    Returns:
        A `SourceItem` with `skip_reason=reason`, no root, an empty locator, no captions, and a `load`
        that raises `SkippedEntryError(reason)` (so staging it records the reason).
    """
    source_id, reason = _printable(source_id), _printable(reason) or "left out"
    return SourceItem(source_dataset=source_dataset, source_id=source_id, root=None, locator="", captions=[],
                      modality=modality, rights=rights, skip_reason=reason,
                      load=functools.partial(_refuse, reason))


def normalise_split(name: str | None) -> str | None:
    """Map a source's split names onto train / validation / test (unknown names pass through).

    Args:
        name: the source's split name (e.g. "val", "restval", "Testing"), or None.

    Returns:
        "train", "validation" or "test" for a name in `SPLIT_ALIASES` (case-insensitive); any other
        name lower-cased with non-word characters replaced by '_'; None for None or a blank name.
    """
    if name is None or str(name).strip() == "":
        return None
    key = str(name).strip().lower()
    return SPLIT_ALIASES.get(key, re.sub(r"\W", "_", key))


def class_from_filename(filename: str) -> str:
    """RSICD / AID / RSITMD names images `class_123.ext`; other sources get ''.

    Args:
        filename: an image file name or path (only the stem is used).

    Returns:
        The lower-cased class prefix before the trailing digits (e.g. "airport" for
        "airport_12.jpg"), or "" when the stem is not letters followed by digits.
    """
    stem = Path(filename).stem
    match = re.fullmatch(r"([A-Za-z][A-Za-z_]*?)_?\d+", stem)
    return match.group(1).lower() if match else ""


def split_from_name(name: str) -> str | None:
    """`ucm_test_coco_format` -> 'test': annotation files often carry their split in the name.

    Args:
        name: a file name or stem; split on non-letters into tokens.

    Returns:
        The normalised split of the first token found in `SPLIT_ALIASES`, or None when none is.
    """
    for token in re.split(r"[^A-Za-z]+", name.lower()):
        if token in SPLIT_ALIASES:
            return SPLIT_ALIASES[token]
    return None


def normalise_class(name: object) -> str:
    """'Bare Land' / 'bareland' style names -> 'bare land' lower case with single spaces -> snake_case.

    Args:
        name: a class name of any type (converted with `str`; None and "" give "").

    Returns:
        The name stripped and lower-cased, each run of whitespace or hyphens replaced by '_'
        (e.g. "Bare Land" -> "bare_land"); no separator is inserted into "bareland".
    """
    return re.sub(r"[\s\-]+", "_", str(name or "").strip().lower())
