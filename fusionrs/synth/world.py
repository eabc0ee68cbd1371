"""Scene generation: the world's public entry points (records: `fusionrs.data.world_records`).

Every scene is a pure function of (seed, index, size, class_name, time_of_day, WORLD_VERSION).
Independent random streams (layout, texture, RGB, IR, captions, time) keep one part's changes from
reshuffling the others, and never touch global random state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fusionrs.synth.canvas import Layout
from fusionrs.synth.captions import conventional_captions, ir_captions
from fusionrs.synth.layout import SCENE_CLASSES, make_layout
from fusionrs.synth.noise import value_noise
from fusionrs.synth.render_rgb import render_rgb
from fusionrs.synth.render_thermal import render_thermal
from fusionrs.synth.sun import shadow_mask, sun_position

__all__ = ["WORLD_VERSION", "Scene", "generate_scene", "render_layout"]

# Bump whenever any change alters generated pixels, captions or statistics.
WORLD_VERSION = "1"

MIN_SIZE, MAX_SIZE = 32, 1024
_STREAM_LAYOUT, _STREAM_TEXTURE, _STREAM_RGB, _STREAM_IR, _STREAM_CAPTIONS, _STREAM_TIME = range(6)
NOMINAL_RGB_HOUR = 10.5  # archive RGB is daytime imagery; night scenes pair it with a night LWIR view


@dataclass
class Scene:
    """One aligned RGB / LWIR scene with its ground truth."""

    rgb: np.ndarray  # (H, W, 3) uint8
    ir: np.ndarray  # (H, W) uint8
    materials: np.ndarray  # (H, W) uint8 index into MATERIALS
    class_name: str
    captions: list[str]  # exactly 5
    ir_captions: list[str]  # ground-truth IR-aware captions
    objects: list[dict[str, Any]]  # {"label", "bbox": [x, y, w, h], ...} in pixels
    time_of_day: float  # hours
    seed: int
    index: int = 0
    size: int = 0


def _stream(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, stream])


def _sample_hour(rng: np.random.Generator) -> float:
    """Three scenes in four by day (08-17 h), the rest at night (20-05 h)."""
    if rng.random() < 0.75:
        return round(float(rng.uniform(8.0, 17.0)), 2)
    return round(float(rng.uniform(20.0, 29.0)) % 24.0, 2)


def generate_scene(index: int, *, seed: int = 0, size: int = 256, class_name: str | None = None,
                   time_of_day: float | None = None) -> Scene:
    """Generate scene `index` of the world `seed`; the class defaults to `SCENE_CLASSES[index % n]`.

    Args:
        index: non-negative scene index within the world.
        seed: non-negative world seed.
        size: image side in pixels, 32-1024; default 256.
        class_name: one of `SCENE_CLASSES`; default (or empty) `SCENE_CLASSES[index % n]`.
        time_of_day: hour of the scene, taken modulo 24; default sampled per scene (three in four
            by day, 08-17 h, the rest at night, 20-05 h).

    Returns:
        The `Scene`: (H, W, 3) RGB and (H, W) IR uint8 images, material map, five captions, the
        IR-aware captions, object boxes in pixels, the hour, seed, index and size.

    Raises:
        ValueError: `index` or `seed` is not a non-negative integer, `size` is outside 32-1024, or
            `class_name` is not a known scene class.
    """
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index must be a non-negative integer, got {index!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be in [{MIN_SIZE}, {MAX_SIZE}] pixels, got {size}")
    class_name = class_name or SCENE_CLASSES[index % len(SCENE_CLASSES)]
    hour = _sample_hour(_stream(seed, index, _STREAM_TIME)) if time_of_day is None else float(time_of_day) % 24.0

    layout = make_layout(class_name, _stream(seed, index, _STREAM_LAYOUT), size)
    rgb, ir, ir_shadow = render_layout(layout, hour, seed=seed, index=index)
    caption_rng = _stream(seed, index, _STREAM_CAPTIONS)
    captions = conventional_captions(layout, caption_rng)
    ir_caps = ir_captions(layout, ir, ir_shadow, caption_rng)
    objects = [{"label": o["label"], "bbox": [float(v) for v in o["bbox"]]} for o in layout.objects]
    return Scene(rgb=rgb, ir=ir, materials=layout.materials, class_name=class_name, captions=captions, ir_captions=ir_caps,
                 objects=objects, time_of_day=hour, seed=int(seed), index=int(index), size=int(size))


def render_layout(layout: Layout, hour: float, *, seed: int = 0, index: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render any layout: (RGB uint8, IR uint8, the LWIR view's shadow mask).

    Args:
        layout: any `Layout` (from `make_layout`, or a hand-drawn `Canvas` finished into one).
        hour: time of day of the LWIR view, in hours; the RGB view uses it when the sun is at least
            15 degrees up, else 10.5 h.
        seed: world seed of the texture, RGB and IR random streams.
        index: scene index of those streams.

    Returns:
        (rgb, ir, ir_shadow): the (H, W, 3) uint8 RGB image, the (H, W) uint8 IR image and the
        (H, W) float32 shadow mask of the LWIR view.
    """
    size = layout.size
    texture = value_noise(_stream(seed, index, _STREAM_TEXTURE), size, max(3, int(layout.extent_m / 25.0)), octaves=3)
    # LWIR sees the real sun (none at night); RGB is always a daytime view.
    rgb_hour = hour if sun_position(hour)[0] >= 15.0 else NOMINAL_RGB_HOUR
    rgb_shadow = shadow_mask(layout.height, layout.gsd_m, rgb_hour)
    ir_shadow = rgb_shadow if rgb_hour == hour else shadow_mask(layout.height, layout.gsd_m, hour)
    rgb = render_rgb(layout, texture, rgb_shadow, rgb_hour, _stream(seed, index, _STREAM_RGB))
    ir, _ = render_thermal(layout, texture, ir_shadow, hour, _stream(seed, index, _STREAM_IR))
    return rgb, ir, ir_shadow
