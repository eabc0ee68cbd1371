"""Ground-truth LWIR rendering: apparent temperature from the material table, then an 8-bit sensor.

Model (per material, per time of day):
  surface temperature T obeys dT/dt = (T_eq(t) - T) / tau, a first-order thermal-inertia response to
  T_eq(t) = T_air(t) + K_SUN * absorptance * (1 - evaporation) * sun(t) * illumination
            - K_SKY * emissivity + self_heating;
  being linear, T splits into a solar part (scaled per pixel by shadow) and the rest, each solved once
  per time of day over three spun-up days. The camera sees the apparent temperature
  T_app = (emissivity * T^4 + (1 - emissivity) * T_sky^4)^(1/4), so low-emissivity metal mirrors
  the cold sky. Sensor: optical blur, temporal and column noise, percentile gain to 8 bits.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from fusionrs.synth.canvas import Layout
from fusionrs.synth.materials import table_arrays
from fusionrs.synth.noise import blur, value_noise

__all__ = ["air_temperature", "material_temperatures", "render_thermal", "to_8bit"]

_TABLE = table_arrays()
T_MEAN_K, T_SWING_K = 293.0, 6.0  # daily mean air temperature and half its daily range
K_SUN = 34.0  # kelvin of excess for a fully absorbing, dry, low-inertia surface in full sun
K_SKY = 5.0  # kelvin lost to the clear night sky by a black surface
SKY_DEPRESSION_K = 24.0  # clear-sky brightness temperature below air temperature
NETD_K = 0.08  # sensor noise-equivalent temperature difference
MIN_SPAN_K = 14.0  # the gain never stretches less than this over 0..255 (no amplified noise)


def air_temperature(hour: float) -> float:
    """Air temperature of the daily cycle: 293 K mean, 6 K half-range, warmest at 15 h.

    Args:
        hour: time of day in hours (periodic with 24 h).

    Returns:
        The air temperature in kelvin.
    """
    return T_MEAN_K + T_SWING_K * math.cos(2 * math.pi * (hour - 15.0) / 24.0)


def _sun(hour: np.ndarray) -> np.ndarray:
    day = (np.mod(hour, 24.0) - 6.0) / 12.0
    return np.where((day > 0) & (day < 1), np.sin(np.pi * np.clip(day, 0, 1)), 0.0)


@lru_cache(maxsize=512)
def material_temperatures(hour: float) -> tuple[np.ndarray, np.ndarray]:
    """(solar, rest) kelvin per material at `hour`: T = rest + solar * illumination.

    Args:
        hour: time of day in hours on the third simulated day, 0-24 (results are cached per value).

    Returns:
        (solar, rest): two float32 arrays with one value per material (`MATERIALS` order), in kelvin.
    """
    tau = _TABLE["tau_h"]
    solar_gain = K_SUN * _TABLE["absorptance"] * (1.0 - _TABLE["evaporation"])
    rest_offset = -K_SKY * _TABLE["emissivity"] + _TABLE["self_heating_k"]
    dt = 0.05
    steps = int(round((48.0 + hour) / dt))  # two spin-up days, then up to `hour` of day three
    t = np.arange(steps + 1) * dt
    sun = _sun(t)
    air = T_MEAN_K + T_SWING_K * np.cos(2 * np.pi * (t - 15.0) / 24.0)
    decay = np.exp(-dt / tau)
    # Exact solution of the linear recurrence T_i = F_i + (T_{i-1} - F_i) * decay as one weighted sum.
    weights = (1.0 - decay)[:, None] * decay[:, None] ** np.arange(steps - 1, -1, -1)[None, :]
    # Start from the daily-mean equilibrium so even 60 h water is periodic after two days.
    start = decay**steps
    solar0 = solar_gain * float(_sun(np.arange(0, 24, dt)).mean())
    solar = solar_gain * (weights @ sun[1:]) + solar0 * start
    rest = weights @ air[1:] + rest_offset * weights.sum(axis=1) + (T_MEAN_K + rest_offset) * start
    return solar.astype(np.float32), rest.astype(np.float32)


def render_thermal(layout: Layout, texture: np.ndarray, shadow: np.ndarray, hour: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Returns (8-bit LWIR image, apparent temperature in kelvin before the sensor).

    Args:
        layout: the scene layout (its material map is read).
        texture: (H, W) shared albedo field in [-1, 1] (the one given to the RGB renderer).
        shadow: (H, W) fraction of direct sunlight blocked, 0-1.
        hour: time of day in hours.
        rng: generator for the thermal texture and the sensor noise.

    Returns:
        (ir, apparent): the (H, W) uint8 image after blur, noise and gain, and the (H, W) float32
        apparent temperature in kelvin before the sensor.
    """
    m = layout.materials
    size = layout.size
    solar, rest = material_temperatures(round(float(hour) % 24.0, 2))
    illumination = 1.0 - 0.85 * shadow  # diffuse skylight still reaches shade
    temp = rest[m] + solar[m] * illumination
    own = value_noise(rng, size, max(4, int(layout.extent_m / 6.0)), octaves=3)
    temp += _TABLE["texture_k"][m] * (0.8 * texture + 1.2 * own)
    eps = _TABLE["emissivity"].astype(np.float32)[m]
    sky = air_temperature(hour) - SKY_DEPRESSION_K
    apparent = (eps * temp**4 + (1.0 - eps) * np.float32(sky) ** 4) ** 0.25
    # Sensor: LWIR optics blur more than visible ones (longer wavelength, smaller aperture per pixel).
    sensed = blur(apparent, max(1, size // 192))
    sensed = sensed + rng.standard_normal((size, size), dtype=np.float32) * NETD_K
    sensed = sensed + rng.standard_normal((1, size), dtype=np.float32) * (NETD_K * 0.6)  # column pattern
    return to_8bit(sensed), apparent.astype(np.float32)


def to_8bit(kelvin: np.ndarray) -> np.ndarray:
    """Percentile automatic gain control, as thermal cameras ship it, with a minimum span.

    Args:
        kelvin: temperatures of any shape, in kelvin.

    Returns:
        A uint8 array of the same shape: the 0.5th..99.7th percentile span (widened to at least
        14 K about its middle) mapped to 0..255, clipped.
    """
    lo, hi = np.percentile(kelvin, [0.5, 99.7])
    if hi - lo < MIN_SPAN_K:
        mid = 0.5 * (hi + lo)
        lo, hi = mid - MIN_SPAN_K / 2, mid + MIN_SPAN_K / 2
    out = (kelvin - lo) * (255.0 / (hi - lo))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
