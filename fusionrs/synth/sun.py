"""Sun position for a time of day and the cast-shadow mask of a height map.

Both renderers use the same shadow mask so RGB shadows and LWIR shadow imprints line up. The world
is a north-up mid-latitude northern site at the equinox: sunrise 6 h, noon elevation 55 degrees.
"""

from __future__ import annotations

import math

import numpy as np

from fusionrs.synth.noise import blur, shift

__all__ = ["shadow_mask", "sun_position", "sun_vector"]

NOON_ELEVATION_DEG = 55.0


def sun_position(hour: float) -> tuple[float, float]:
    """(elevation, azimuth) in degrees; azimuth clockwise from north; elevation <= 0 at night.

    Args:
        hour: time of day in hours, 0-24 (not wrapped: only 6 < hour < 18 is day).

    Returns:
        (elevation, azimuth) in degrees; the elevation is -10 at night.
    """
    day = (hour - 6.0) / 12.0
    elevation = NOON_ELEVATION_DEG * math.sin(math.pi * day) if 0.0 < day < 1.0 else -10.0
    azimuth = 90.0 + 180.0 * min(max(day, 0.0), 1.0)  # east at sunrise, south at noon, west at sunset
    return elevation, azimuth


def sun_vector(hour: float) -> np.ndarray:
    """Unit vector towards the sun in image axes (x east/right, y south/down, z up).

    Args:
        hour: time of day in hours.

    Returns:
        A float32 array (x, y, z); the elevation is clamped to at least 5 degrees, so z > 0.
    """
    el, az = (math.radians(v) for v in sun_position(hour))
    el = max(el, math.radians(5.0))
    return np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)], dtype=np.float32)


def shadow_mask(height: np.ndarray, gsd_m: float, hour: float, max_steps: int = 28) -> np.ndarray:
    """Fraction of direct sunlight blocked per pixel (0 = sunlit, 1 = full shadow), float32.

    A pixel is shaded when some pixel towards the sun rises above the sun ray through it. We march
    along that direction with geometrically growing steps (a few dozen array shifts, no per-pixel loop).

    Args:
        height: (H, W) height map in metres above ground.
        gsd_m: ground sampling distance, metres per pixel.
        hour: time of day in hours.
        max_steps: most marching steps (array shifts); default 28.

    Returns:
        An (H, W) float32 mask in [0, 1]; all zeros when the sun is down.
    """
    el, _ = sun_position(hour)
    if el <= 0.0:
        return np.zeros_like(height, dtype=np.float32)
    el = max(el, 12.0)
    s = sun_vector(hour)
    horiz = math.hypot(float(s[0]), float(s[1]))
    ux, uy = float(s[0]) / horiz, float(s[1]) / horiz
    drop_per_px = gsd_m * math.tan(math.radians(el))
    reach = min(float(height.max()) / drop_per_px, height.shape[0] / 3.0)
    out = np.zeros(height.shape, dtype=bool)
    steps = sorted({max(1, int(round(1.12**i))) for i in range(64) if 1.12**i <= reach + 1})[:max_steps]
    for d in steps:
        towards_sun = shift(height, -int(round(d * ux)), -int(round(d * uy)))
        out |= towards_sun > height + d * drop_per_px + 0.3
    return np.clip(blur(out.astype(np.float32), 1) * 1.3, 0.0, 1.0)
