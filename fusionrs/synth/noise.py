"""Vectorised raster helpers shared by the renderers: value noise, blur and integer shifts.

Noise grids are sized by cell count, never by pixel count, so a scene consumes the same random
numbers at every output size and looks the same at 64 px and at 512 px.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["blur", "shift", "value_noise"]


def value_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 3, persistence: float = 0.5) -> np.ndarray:
    """Fractal value noise in about [-1, 1], shape (size, size), float32.

    Random grids of `cells * 2**k` cells are upsampled bicubically (in C, by PIL) and summed.

    Args:
        rng: generator for the random grids (consumed).
        size: side of the output in pixels.
        cells: grid cells per side in the first octave (at least 2 are used).
        octaves: number of octaves summed, each with twice the cells of the previous; default 3.
        persistence: amplitude factor from one octave to the next; default 0.5.

    Returns:
        A (size, size) float32 array, the sum divided by the total amplitude.
    """
    out = np.zeros((size, size), dtype=np.float32)
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        n = max(2, int(cells * 2**octave))
        grid = rng.random((n, n), dtype=np.float32) * 2.0 - 1.0
        up = Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)
        out += amplitude * np.asarray(up, dtype=np.float32)
        total += amplitude
        amplitude *= persistence
    out /= total
    return out


def blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Gaussian-like blur (sigma about 0.8 * radius) of a 2-D or 3-D float array, edges clamped.

    Repeated [1, 2, 1] / 4 passes per axis: a handful of slice additions, cheap at small radii.

    Args:
        image: an (H, W) or (H, W, C) array; rows and columns are blurred.
        radius: blur radius in pixels; 0 or less returns `image` unchanged.

    Returns:
        A blurred float32 copy of the same shape (or `image` itself when radius <= 0).
    """
    if radius <= 0:
        return image
    out = image.astype(np.float32, copy=True)
    passes = max(1, int(round(1.28 * radius * radius)))
    for _ in range(passes):
        p = np.concatenate([out[:1], out, out[-1:]], axis=0)
        out = (p[:-2] + p[2:]) * 0.25 + p[1:-1] * 0.5
        p = np.concatenate([out[:, :1], out, out[:, -1:]], axis=1)
        out = (p[:, :-2] + p[:, 2:]) * 0.25 + p[:, 1:-1] * 0.5
    return out


def shift(a: np.ndarray, dx: int, dy: int, fill: float = 0.0) -> np.ndarray:
    """`a` moved by (dx, dy) pixels (x right, y down); uncovered pixels get `fill`.

    Args:
        a: an array of shape (H, W, ...).
        dx: pixels to move right (negative: left).
        dy: pixels to move down (negative: up).
        fill: value of the uncovered pixels; default 0.

    Returns:
        A new array of the same shape and dtype (all `fill` when the shift is the full size or more).
    """
    out = np.full_like(a, fill)
    h, w = a.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = a[ys, xs]
    return out
