"""The caption stage of a chunk of rows: IR image + original captions -> IR-aware captions, filtered.

Shared by `fusionrs build` (`data.build`, per staged chunk) and `fusionrs captions` (`data.recaption`,
per batch of a built folder), so both batch the captioner, check its answers and apply the strict
filter's verdict the same way: an accepted caption becomes the row's only IR-aware caption; a rejected
one leaves the row without one (or, with `keep_existing`, with the captions it had); None ("this
captioner writes no IR-aware caption") leaves the row as it was. The row itself is always kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fusionrs.errors import FusionRSError

if TYPE_CHECKING:
    from PIL import Image

    from fusionrs.captions.base import CaptionResult, IRCaptioner

__all__ = ["CaptionTally", "apply_caption", "caption_chunk"]


@dataclass
class CaptionTally:
    """How the rows of a caption stage fared: accepted, rejected (per filter reason) and unchanged."""

    accepted: int = 0
    rejected: int = 0
    unchanged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def filter_counts(self) -> dict[str, int]:
        """Rejections per filter reason, sorted by reason.

        Returns:
            reason -> rows.
        """
        return dict(sorted(self.reasons.items()))


def caption_chunk(captioner: IRCaptioner, ir_images: Sequence[Image.Image],
                  references: Sequence[list[str]]) -> list[CaptionResult | None]:
    """Caption a chunk of rows in batches of `captioner.batch_size`.

    Args:
        captioner: the IR captioner.
        ir_images: one IR image per row (translated, or the source's real thermal image).
        references: the row's original captions, one list per row.

    Returns:
        One result per row, in order: a `CaptionResult` (accepted caption, or None + the filter
        reason) or None when the captioner writes no IR-aware caption.

    Raises:
        FusionRSError: the captioner returned a different number of results than it was given rows.
    """
    results: list[CaptionResult | None] = []
    for start in range(0, len(ir_images), captioner.batch_size):
        images = list(ir_images[start : start + captioner.batch_size])
        batch = captioner.caption(images, [list(r) for r in references[start : start + captioner.batch_size]])
        if len(batch) != len(images):
            raise FusionRSError(f"captioner {captioner.name} returned {len(batch)} results for {len(images)} rows")
        results += batch
    return results


def apply_caption(result: CaptionResult | None, ir_captions: Any, *, keep_existing: bool = True,
                  tally: CaptionTally | None = None) -> Any:
    """A row's IR-aware captions after the caption stage.

    Args:
        result: the row's result from `caption_chunk`.
        ir_captions: the row's IR-aware captions before the stage.
        keep_existing: on a rejection, keep `ir_captions` (True) or leave the row with none (False).
        tally: counts the outcome when given.

    Returns:
        `[caption]` when accepted; `ir_captions` when `result` is None, or rejected with
        `keep_existing`; [] when rejected otherwise.
    """
    if result is None:
        if tally is not None:
            tally.unchanged += 1
        return ir_captions
    if result.caption is not None:
        if tally is not None:
            tally.accepted += 1
        return [result.caption]
    if tally is not None:
        tally.rejected += 1
        tally.reasons[result.reason] = tally.reasons.get(result.reason, 0) + 1
    return ir_captions if keep_existing else []
