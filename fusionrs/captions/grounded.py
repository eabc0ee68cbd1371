"""The grounded captioner: IR-aware captions with no model at all, stating only what it measured.

Sentence 1 keeps the original caption's scene semantics: the original (or the first of the record's
captions that keeps the same main scene noun) with RGB colour words removed, and any clause that
still breaks a wording rule dropped. Sentence 2 states measurements of the IR image
(`fusionrs.captions.measure`): where the brightest and darkest areas are, the contrast, how sharp
the structural outlines are, and where uniform low-texture areas lie. It never names an object the
original does not name, so its captions pass the strict filter by construction (and are still
checked by it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from fusionrs.captions.base import CaptionResult
from fusionrs.captions.filter import _REGEX, MAX_WORDS, REASONS, CaptionFilter, main_scene_noun, object_nouns, _scene_kept
from fusionrs.captions.measure import CELL_NAMES, IRMeasurement, measure_ir

__all__ = ["GROUNDED_VERSION", "GroundedCaptioner", "clean_original", "compose_caption"]

GROUNDED_VERSION = "grounded-v1"
_WORDING_RULES = REASONS[:7]  # word-level rules a copied original can break
_COLOUR = _REGEX["unsupported_rgb_color"]
_DIFFERENT_COLOURS = re.compile(r"\s*\b(?:of|in|with) (?:many |various |different |all )+colou?rs\b", re.I)


def _breaks_wording(text: str) -> bool:
    return any(_REGEX[r].search(text) for r in _WORDING_RULES)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" ,;:")
    text = re.sub(r"\b(a|an|the|and|with|of)\s+(?=(and|with|of|,|\.|$))", "", text, flags=re.I)
    text = re.sub(r"\s+([,.;])", r"\1", text)
    text = re.sub(r"\b(an?) ([a-z])", lambda m: ("an " if m.group(2) in "aeiou" else "a ") + m.group(2), text, flags=re.I)
    return re.sub(r"\s+", " ", text).strip(" ,;:.")


def clean_original(caption: str) -> str | None:
    """The caption with colour words removed, cut down to its first clause(s) that break no wording
    rule; None when nothing usable is left.

    Args:
        caption: an original (RGB) caption.

    Returns:
        The cleaned caption text (no trailing punctuation), or None when no clause of at least two
        words survives the wording rules.
    """
    text = _DIFFERENT_COLOURS.sub("", caption)
    text = _tidy(_COLOUR.sub("", text))
    if text and not _breaks_wording(text):
        return text
    # Drop trailing clauses until what is left passes ("... covered with soil" -> "...").
    parts = re.split(r"(,| with | and | covered | made of | on | in )", text)
    for end in range(len(parts) - 1, 0, -1):
        candidate = _tidy("".join(parts[:end]))
        if candidate and len(candidate.split()) >= 2 and not _breaks_wording(candidate):
            return candidate
    return None


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if text and not text[:2].isupper() else text


def _scene_sentence(captions: Sequence[str]) -> str:
    main = main_scene_noun(captions[0]) if captions else None
    for caption in captions:
        cleaned = clean_original(caption)
        if not cleaned:
            continue
        if main is None or main in object_nouns(cleaned) or _scene_kept(main, object_nouns(cleaned)):
            return f"In this infrared-style image, {_lower_first(cleaned)}"
    return "In this infrared-style image of the scene"


def compose_caption(captions: Sequence[str], m: IRMeasurement, *, max_words: int = MAX_WORDS) -> str:
    """Two sentences: the scene, then what was measured, shortened to fit `max_words`.

    Args:
        captions: the record's original captions; the first sets the main scene noun.
        m: the measurement of the record's IR image (`measure_ir`).
        max_words: the word limit of the caption (default `MAX_WORDS` of the filter, 60); optional
            clauses are dropped, then the scene sentence is truncated, to fit.

    Returns:
        The caption text, ending with a full stop.
    """
    scene = _scene_sentence(captions)
    if m.bright_cell is not None and m.dark_cell is not None:
        lead = (f"the brightest responses lie {CELL_NAMES[m.bright_cell]} and the darkest {CELL_NAMES[m.dark_cell]},"
                f" with {m.contrast} contrast")
    elif m.bright_cell is not None:
        lead = f"brighter responses stand out {CELL_NAMES[m.bright_cell]} against a {m.level} background, with {m.contrast} contrast"
    elif m.dark_cell is not None:
        lead = f"darker responses lie {CELL_NAMES[m.dark_cell]} within a {m.level} scene, with {m.contrast} contrast"
    else:
        lead = f"the grayscale intensity is {m.level} and even across the image, with {m.contrast} contrast"
    extras = [f"{m.outlines} structural outlines"]
    if m.low_texture_cell is not None:
        share = "a large" if m.low_texture_fraction > 0.4 else "a"
        extras.append(f"{share} uniform low-texture area {CELL_NAMES[m.low_texture_cell]}")
    while True:
        tail = lead + ("; " + " and ".join(extras) if extras else "")
        text = f"{scene}; {tail}." if len(scene.split()) < 14 else f"{scene}. {tail[0].upper() + tail[1:]}."
        if len(text.split()) <= max_words or not extras:
            break
        extras.pop()
    if len(text.split()) > max_words:  # a very long original: keep its first words
        words = scene.split()[: max(6, max_words - len(tail.split()) - 1)]
        text = f"{' '.join(words).rstrip(',;')}. {tail[0].upper() + tail[1:]}."
    return text


class GroundedCaptioner:
    """`grounded`: measure the IR image, compose a caption, check it with the strict filter."""

    name = "grounded"
    batch_size = 64

    def __init__(self, caption_filter: CaptionFilter | None = None):
        self.filter = caption_filter or CaptionFilter()
        self.params: dict[str, Any] = {"version": GROUNDED_VERSION, "measure_size": 96, "grid": "3x3"}

    def describe(self, ir_image: Image.Image, captions: Sequence[str]) -> tuple[str, IRMeasurement]:
        m = measure_ir(ir_image)
        return compose_caption(list(captions), m), m

    def caption(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[CaptionResult | None]:
        results: list[CaptionResult | None] = []
        for image, caps in zip(ir_images, captions):
            text, _ = self.describe(image, caps)
            results.append(self.filter.check_result(text, caps))
        return results
