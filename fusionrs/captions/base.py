"""The `IRCaptioner` stage interface: IR image + original captions -> IR-aware caption or a rejection.

The baseline `none` ("no IR-aware captions") is the paper's condition without them: records keep
an empty `ir_captions` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from PIL import Image

__all__ = ["CaptionResult", "IRCaptioner", "NoIRCaptions", "CAPTIONERS", "get_captioner"]


@dataclass(frozen=True)
class CaptionResult:
    """An accepted caption, or None with the filter reason that rejected it."""

    caption: str | None
    reason: str = ""


@runtime_checkable
class IRCaptioner(Protocol):
    name: str
    params: dict[str, Any]
    batch_size: int

    def caption(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[CaptionResult | None]:
        """One result per input; None means "this captioner writes no IR-aware caption"."""
        ...


class NoIRCaptions:
    name = "none"
    params: dict[str, Any] = {}
    batch_size = 64

    def caption(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[CaptionResult | None]:
        return [None] * len(ir_images)


CAPTIONERS = {"none": NoIRCaptions}


def get_captioner(spec: str) -> IRCaptioner:
    if spec in CAPTIONERS:
        return CAPTIONERS[spec]()
    raise ValueError(f"unknown IR captioner {spec!r}; available: {', '.join(CAPTIONERS)}")
