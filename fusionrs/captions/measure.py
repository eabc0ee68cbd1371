"""Measure an IR image: what a caption may state about it, and nothing else.

Everything is computed from the 8-bit pixels (resampled to at most `MEASURE_SIZE` px, which keeps it
fast and size-independent): the intensity histogram, the brightest and darkest cells of a 3x3 grid
and how far they stand out, global contrast, edge density and outline sharpness, and low-texture
(uniform) areas with their location. The grounded captioner turns this into words; text-only LLMs
get `IRMeasurement.summary()` in their prompt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["CELL_NAMES", "IRMeasurement", "MEASURE_SIZE", "cell_box", "measure_ir"]

MEASURE_SIZE = 96
# Grid cells, row-major; phrases chosen so that each names one cell unambiguously.
CELL_NAMES = (
    "in the upper left", "at the top", "in the upper right",
    "on the left", "in the centre", "on the right",
    "in the lower left", "at the bottom", "in the lower right",
)
# A cell is called bright/dark only when its mean differs from the image mean by this many levels
# and by half the spread of cell means: smaller differences are not visible statements.
MIN_CELL_DEVIATION = 12.0
LOW_TEXTURE_STD = 4.0  # local std (8-bit levels) under which an 8x8 block counts as uniform
EDGE_THRESHOLD = 40.0  # Sobel magnitude (levels per pixel, /4-normalised) counted as an edge


def cell_box(cell: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of grid cell `cell` (0-8, row-major) in a `width` x `height` image.

    Args:
        cell: the cell index of the 3x3 grid, 0-8, row-major (0 upper left, 8 lower right).
        width: the image width in pixels.
        height: the image height in pixels.

    Returns:
        The cell's `(x0, y0, x1, y1)` pixel box; x1 and y1 are exclusive.
    """
    row, col = divmod(cell, 3)
    return (col * width // 3, row * height // 3, (col + 1) * width // 3, (row + 1) * height // 3)


@dataclass
class IRMeasurement:
    mean: float
    std: float
    p5: float
    p50: float
    p95: float
    cell_means: list[float]
    bright_cell: int | None  # index into CELL_NAMES, None when no cell stands out
    dark_cell: int | None
    bright_delta: float = 0.0  # cell mean - image mean
    dark_delta: float = 0.0
    edge_density: float = 0.0  # fraction of edge pixels
    sharpness: float = 0.0  # mean of the strongest 5% gradient magnitudes
    low_texture_fraction: float = 0.0
    low_texture_cell: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------- words
    @property
    def level(self) -> str:
        return _level(self.p50)

    @property
    def contrast(self) -> str:
        return "low" if self.std < 20 else "moderate" if self.std < 45 else "high"

    @property
    def outlines(self) -> str:
        return "sharp" if self.sharpness > 90 else "clear" if self.sharpness > 45 else "soft"

    @property
    def edges(self) -> str:
        return "dense" if self.edge_density > 0.18 else "moderate" if self.edge_density > 0.06 else "sparse"

    def summary(self) -> str:
        """A compact, factual description for a text-only LLM prompt."""
        parts = [f"overall {self.level} intensity (median {self.p50:.0f}/255)",
                 f"{self.contrast} contrast (std {self.std:.0f})"]
        if self.bright_cell is not None:
            parts.append(f"brightest area {CELL_NAMES[self.bright_cell]} (mean {self.cell_means[self.bright_cell]:.0f})")
        if self.dark_cell is not None:
            parts.append(f"darkest area {CELL_NAMES[self.dark_cell]} (mean {self.cell_means[self.dark_cell]:.0f})")
        parts.append(f"{self.edges} edges with {self.outlines} structural outlines")
        if self.low_texture_cell is not None:
            parts.append(f"uniform low-texture area covering {self.low_texture_fraction:.0%} of the image, mostly "
                         f"{CELL_NAMES[self.low_texture_cell]}")
        return "; ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _level(v: float) -> str:
    if v > 200:
        return "very bright"
    if v > 150:
        return "bright"
    if v > 105:
        return "medium"
    if v > 55:
        return "dark"
    return "very dark"


def _as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image if image.ndim == 2 else image[..., 0])
    image = image.convert("L")
    scale = MEASURE_SIZE / max(image.size)
    if scale < 1:
        image = image.resize((max(3, round(image.width * scale)), max(3, round(image.height * scale))), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32)


def measure_ir(image: Image.Image | np.ndarray) -> IRMeasurement:
    """Measure an 8-bit IR image (PIL `L`/any mode, or an HxW array).

    Args:
        image: the IR image: a PIL image of any mode (converted to `L`) or a uint8 array, HxW or
            HxWxC (only the first channel is used). It is downscaled to at most `MEASURE_SIZE` px on
            its longer side before measuring.

    Returns:
        An `IRMeasurement` with intensity statistics (8-bit levels), the 3x3 cell means, the
        bright/dark cells, edge density, sharpness and the low-texture fraction and cell.
    """
    a = _as_array(image)
    h, w = a.shape
    mean, std = float(a.mean()), float(a.std())
    p5, p50, p95 = (float(v) for v in np.percentile(a, [5, 50, 95]))
    cells = [float(a[y0:y1, x0:x1].mean()) for x0, y0, x1, y1 in (cell_box(c, w, h) for c in range(9))]
    spread = float(np.std(cells))
    need = max(MIN_CELL_DEVIATION, 0.5 * spread)
    hi, lo = int(np.argmax(cells)), int(np.argmin(cells))
    bright = hi if cells[hi] - mean >= need else None
    dark = lo if mean - cells[lo] >= need else None

    # Sobel gradients (normalised by 4 so a step of k levels gives magnitude ~k).
    p = np.pad(a, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:] - p[:-2, :-2] - 2 * p[1:-1, :-2] - p[2:, :-2]) / 4.0
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:] - p[:-2, :-2] - 2 * p[:-2, 1:-1] - p[:-2, 2:]) / 4.0
    mag = np.hypot(gx, gy)
    edge_density = float((mag > EDGE_THRESHOLD).mean())
    top = np.sort(mag.ravel())[int(0.95 * mag.size):]
    sharpness = float(top.mean()) if top.size else 0.0

    # Low texture: 8x8 blocks (at measure size) with small local spread.
    bs = 8
    hb, wb = h // bs, w // bs
    low_fraction, low_cell = 0.0, None
    if hb and wb:
        blocks = a[: hb * bs, : wb * bs].reshape(hb, bs, wb, bs).swapaxes(1, 2)
        low = blocks.std(axis=(2, 3)) < LOW_TEXTURE_STD
        low_fraction = float(low.mean())
        if low_fraction >= 0.1:
            ys, xs = np.nonzero(low)
            counts = np.zeros(9)
            for y, x in zip(ys, xs):
                counts[min(2, 3 * y // hb) * 3 + min(2, 3 * x // wb)] += 1
            low_cell = int(np.argmax(counts))
    return IRMeasurement(mean=mean, std=std, p5=p5, p50=p50, p95=p95, cell_means=cells, bright_cell=bright,
                         dark_cell=dark, bright_delta=cells[hi] - mean, dark_delta=mean - cells[lo],
                         edge_density=edge_density, sharpness=sharpness, low_texture_fraction=low_fraction,
                         low_texture_cell=low_cell)
