"""The `Translator` stage interface (batch of RGB -> batch of single-channel IR) and the baselines.

Baselines are real paper conditions, not stubs: `grayscale` is the paper's grayscale-as-IR
ablation; `inverted_grayscale` is the other naive guess (bright vegetation and dark roads of
LWIR daytime scenes are closer to inverted luma than to luma); `linear` is the best per-pixel
affine map of colour, IR ~ a*R + b*G + c*B + d, least-squares fitted on training pairs.

Specs for `get_translator`: `grayscale`, `inverted_grayscale`, `linear:FILE.json` (a fitted linear
map), `fusionrs:DIR` (a trained one-step translator folder, see `fusionrs.translate.onestep`),
`diffv2ir:DIR` (a converted DiffV2IR checkpoint, see `fusionrs.translate.diffv2ir_translator`),
`builtin:default` (the one-step translator packaged in `fusionrs/weights/translator/`, research-only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image, ImageOps

from fusionrs.errors import UnknownSpecError

__all__ = [
    "Translator",
    "GrayscaleTranslator",
    "InvertedGrayscaleTranslator",
    "LinearTranslator",
    "TRANSLATORS",
    "get_translator",
]


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


class LinearTranslator:
    """Per-pixel affine map of colour: IR = a*R + b*G + c*B + d (clipped to 0..255)."""

    name = "linear"
    batch_size = 64

    def __init__(self, coef: Sequence[float]):
        if len(coef) != 4:
            raise ValueError(f"a linear translator needs 4 coefficients (R, G, B, 1), got {len(coef)}")
        self.coef = np.asarray(coef, dtype=np.float64)
        self.params: dict[str, Any] = {"rule": "IR = a*R + b*G + c*B + d", "coef": [round(float(c), 6) for c in self.coef]}

    @classmethod
    def fit(cls, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> "LinearTranslator":
        """Least squares over every pixel of (RGB HxWx3 uint8, IR HxW uint8) pairs."""
        xtx, xty, n = np.zeros((4, 4)), np.zeros(4), 0
        for rgb, ir in pairs:
            x = np.concatenate([np.asarray(rgb, np.float64).reshape(-1, 3), np.ones((ir.size, 1))], axis=1)
            xtx += x.T @ x
            xty += x.T @ np.asarray(ir, np.float64).reshape(-1)
            n += ir.size
        if n == 0:
            raise ValueError("LinearTranslator.fit needs at least one pair")
        return cls(np.linalg.lstsq(xtx, xty, rcond=None)[0])

    @classmethod
    def load(cls, path: str | Path) -> "LinearTranslator":
        return cls(json.loads(Path(path).read_text())["coef"])

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"kind": "linear", **self.params}, indent=2) + "\n")
        return path

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 -> HxW uint8."""
        y = np.asarray(rgb, np.float64) @ self.coef[:3] + self.coef[3]
        return np.clip(np.round(y), 0, 255).astype(np.uint8)

    def translate(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        return [Image.fromarray(self.predict(np.asarray(image.convert("RGB"))), mode="L") for image in images]


TRANSLATORS = {"grayscale": GrayscaleTranslator, "inverted_grayscale": InvertedGrayscaleTranslator}


def get_translator(spec: str) -> Translator:
    """A translator by spec: `grayscale`, `inverted_grayscale`, `linear:FILE.json`, `fusionrs:DIR`,
    `diffv2ir:DIR[;steps=20;resolution=512;seed=0]`, `builtin:default`.

    `builtin:default` is the one-step translator that ships inside the package
    (`fusionrs.weights.default_translator_dir()`, fp16 safetensors, loads offline); it is what
    `fusionrs build` uses without `--translator`. Its training data (RoadScene) states no licence, so
    it and anything it translates are for research only. The `builtin:` prefix keeps the spec from
    ever being read as a folder path.

    Args:
        spec: the translator spec: a baseline name from `TRANSLATORS`, or `linear:FILE.json`,
            `fusionrs:DIR`, `diffv2ir:DIR[;key=value...]` or `builtin:default`.

    Returns:
        A new `Translator` instance: a baseline, a `LinearTranslator` loaded from the JSON file, a
        `OneStepTranslator` over the folder (for `builtin:default`, the packaged folder, named
        `builtin:default`), or a `DiffV2IRTranslator` built from the spec.

    Raises:
        UnknownSpecError: when `spec` is none of the known forms (or a prefix has no argument, or
            `builtin:` names no packaged model).
        FusionRSError: for `builtin:default` when the installed package lacks the packaged folder.
        FileNotFoundError: for `fusionrs:DIR` or `diffv2ir:DIR` when DIR has no
            `model_index.json`, or for `linear:FILE` when the file does not exist.
        ValueError: for `diffv2ir:` specs with an unknown or malformed option.
    """
    if spec in TRANSLATORS:
        return TRANSLATORS[spec]()
    kind, _, arg = spec.partition(":")
    if kind == "linear" and arg:
        return LinearTranslator.load(arg)
    if kind == "fusionrs" and arg:
        from fusionrs.translate.onestep import OneStepTranslator

        return OneStepTranslator(arg)
    if kind == "diffv2ir" and arg:
        from fusionrs.translate.diffv2ir_translator import DiffV2IRTranslator

        return DiffV2IRTranslator.from_spec(spec)
    if kind == "builtin" and arg == "default":
        from fusionrs.translate.onestep import OneStepTranslator
        from fusionrs.weights import DEFAULT_TRANSLATOR_SPEC, default_translator_dir

        return OneStepTranslator(default_translator_dir(), name=DEFAULT_TRANSLATOR_SPEC)
    raise UnknownSpecError(
        f"unknown translator {spec!r}; available: {', '.join(TRANSLATORS)}, linear:FILE, fusionrs:DIR, diffv2ir:DIR, "
        "builtin:default"
    )
