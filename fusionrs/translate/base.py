"""The `Translator` stage interface (batch of RGB -> batch of single-channel IR) and the baselines.

Baselines are real paper conditions, not stubs: `grayscale` is the paper's grayscale-as-IR
ablation; `inverted_grayscale` is the other naive guess (bright vegetation and dark roads of
LWIR daytime scenes are closer to inverted luma than to luma).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from PIL import Image, ImageOps

__all__ = ["Translator", "GrayscaleTranslator", "InvertedGrayscaleTranslator", "TRANSLATORS", "get_translator"]


@runtime_checkable
class Translator(Protocol):
    """Turns RGB images into IR-style `L` images of the same size.

    Implementations must be per-image deterministic (the result of an image never depends on the
    other images of its batch), so batch sizes and resumed builds cannot change a dataset.
    """

    name: str
    params: dict[str, Any]
    batch_size: int

    def translate(self, images: Sequence[Image.Image]) -> list[Image.Image]: ...


class GrayscaleTranslator:
    """ITU-R 601-2 luma: the paper's grayscale-as-IR ablation."""

    name = "grayscale"
    params: dict[str, Any] = {"rule": "ITU-R 601-2 luma (PIL convert('L'))"}
    batch_size = 64

    def translate(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        return [image.convert("L") for image in images]


class InvertedGrayscaleTranslator:
    """255 - luma."""

    name = "inverted_grayscale"
    params: dict[str, Any] = {"rule": "255 - ITU-R 601-2 luma"}
    batch_size = 64

    def translate(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        return [ImageOps.invert(image.convert("L")) for image in images]


TRANSLATORS = {"grayscale": GrayscaleTranslator, "inverted_grayscale": InvertedGrayscaleTranslator}


def get_translator(spec: str) -> Translator:
    """A translator by name (`grayscale`, `inverted_grayscale`); model-backed kinds plug in here."""
    if spec in TRANSLATORS:
        return TRANSLATORS[spec]()
    raise ValueError(f"unknown translator {spec!r}; available: {', '.join(TRANSLATORS)}")
