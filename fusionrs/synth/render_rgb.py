"""RGB rendering of a layout: material colours, tints, texture, sun shading, shadows, sensor grain."""

from __future__ import annotations

import numpy as np

from fusionrs.synth.canvas import Layout
from fusionrs.synth.materials import table_arrays, material_index
from fusionrs.synth.noise import blur, value_noise
from fusionrs.synth.sun import sun_vector

__all__ = ["render_rgb"]

_TABLE = table_arrays()
_WATER = material_index("water")
_SHADOW_TINT = np.array([0.42, 0.46, 0.56], dtype=np.float32)  # shade is lit by the blue sky


def render_rgb(layout: Layout, texture: np.ndarray, shadow: np.ndarray, hour: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 image.

    texture: shared low-frequency albedo field in [-1, 1] (also used by the thermal renderer, since
    darker, wetter ground is also cooler); shadow: blocked fraction of sunlight; hour: sun position.

    Args:
        layout: the scene layout (material, tint and height maps).
        texture: (H, W) shared albedo field in [-1, 1].
        shadow: (H, W) fraction of direct sunlight blocked, 0-1.
        hour: time of day in hours, which sets the sun direction for the shading.
        rng: generator for the fine texture and the sensor grain.

    Returns:
        The (H, W, 3) uint8 RGB image.
    """
    m = layout.materials
    size = layout.size
    colour = _TABLE["rgb"][m] * (layout.tint.astype(np.float32) / 128.0)
    fine = value_noise(rng, size, max(4, int(layout.extent_m / 3.0)), octaves=2)
    amp = _TABLE["rgb_texture"][m]
    colour *= (1.0 + amp * (0.6 * texture + 0.5 * fine))[..., None]
    colour *= _shading(layout, hour)[..., None]
    water = m == _WATER
    if water.any():  # small wave glints; water otherwise reads as one flat tone
        colour[water] *= 1.0 + 0.08 * fine[water, None]
    colour *= 1.0 - shadow[..., None] * (1.0 - _SHADOW_TINT)
    colour = colour * 0.9 + np.array([14.0, 16.0, 20.0], dtype=np.float32)  # atmospheric haze
    if size >= 128:  # optics: a slight softening, as in RSICD/AID imagery
        colour = 0.6 * colour + 0.4 * blur(colour, 1)
    colour += rng.standard_normal((size, size, 1), dtype=np.float32) * 2.0
    return np.clip(colour + 0.5, 0, 255).astype(np.uint8)


def _shading(layout: Layout, hour: float) -> np.ndarray:
    """Lambertian factor of the smoothed height map relative to flat ground (rounded crowns, lit walls)."""
    h = blur(layout.height, max(1, int(round(1.5 / layout.gsd_m))))
    gy, gx = np.gradient(h, layout.gsd_m)
    s = sun_vector(hour)
    lambert = (-gx * s[0] - gy * s[1] + s[2]) / np.sqrt(gx * gx + gy * gy + 1.0)
    return np.clip(lambert / s[2], 0.55, 1.45).astype(np.float32)
