"""A drawing surface in metres that rasterises a scene into its semantic layers.

Layouts place things in metres; the canvas turns them into pixels at any output size, writing the
material id, the height above ground (for shading and shadows) and a colour tint (for per-object
colours such as car paint) in one call, and records object boxes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from fusionrs.synth.materials import material_index

__all__ = ["Canvas", "Layout", "NEUTRAL_TINT"]

NEUTRAL_TINT = (128, 128, 128)  # tint/128 multiplies the material colour: 128 keeps it

Point = tuple[float, float]


@dataclass
class Layout:
    """The semantic scene: everything the renderers and the captioner read."""

    class_name: str
    materials: np.ndarray  # (H, W) uint8 index into MATERIALS
    height: np.ndarray  # (H, W) float32 metres above ground
    tint: np.ndarray  # (H, W, 3) uint8, 128 = the material's own colour
    objects: list[dict[str, Any]]
    facts: dict[str, Any]
    extent_m: float  # ground width of the square scene

    @property
    def size(self) -> int:
        return int(self.materials.shape[0])

    @property
    def gsd_m(self) -> float:
        """Ground sampling distance, metres per pixel."""
        return self.extent_m / self.size


@dataclass
class Canvas:
    size: int
    extent_m: float
    background: str
    objects: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scale = self.size / self.extent_m
        self._mat = Image.new("L", (self.size, self.size), material_index(self.background))
        self._height = Image.new("F", (self.size, self.size), 0.0)
        self._tint = Image.new("RGB", (self.size, self.size), NEUTRAL_TINT)
        self._draw = (ImageDraw.Draw(self._mat), ImageDraw.Draw(self._height), ImageDraw.Draw(self._tint))

    # -- drawing ---------------------------------------------------------------------------------
    def polygon(self, points_m: Sequence[Point], material: str, height: float = 0.0, tint=NEUTRAL_TINT) -> list[Point]:
        """Fill a polygon given in metres; returns its pixel vertices."""
        px = [(x * self.scale, y * self.scale) for x, y in points_m]
        dm, dh, dt = self._draw
        dm.polygon(px, fill=material_index(material))
        dh.polygon(px, fill=float(height))
        dt.polygon(px, fill=tuple(int(v) for v in tint))
        return px

    def rect(self, x0: float, y0: float, x1: float, y1: float, material: str, height: float = 0.0, tint=NEUTRAL_TINT) -> list[Point]:
        return self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], material, height, tint)

    def box(self, cx: float, cy: float, length: float, width: float, angle: float, material: str,
            height: float = 0.0, tint=NEUTRAL_TINT, u0: float = -0.5, u1: float = 0.5) -> list[Point]:
        """A rotated rectangle; `u0`/`u1` cut a slice along its length (fractions of `length`)."""
        pts = [(u0 * length, -width / 2), (u1 * length, -width / 2), (u1 * length, width / 2), (u0 * length, width / 2)]
        return self.polygon(rotate(pts, cx, cy, angle), material, height, tint)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, material: str, height: float = 0.0, tint=NEUTRAL_TINT) -> list[Point]:
        s = self.scale
        bbox = [(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s]
        dm, dh, dt = self._draw
        dm.ellipse(bbox, fill=material_index(material))
        dh.ellipse(bbox, fill=float(height))
        dt.ellipse(bbox, fill=tuple(int(v) for v in tint))
        return [(bbox[0], bbox[1]), (bbox[2], bbox[3])]

    def line(self, points_m: Sequence[Point], width_m: float, material: str, height: float = 0.0, tint=NEUTRAL_TINT) -> None:
        px = [(x * self.scale, y * self.scale) for x, y in points_m]
        w = max(1, int(round(width_m * self.scale)))
        dm, dh, dt = self._draw
        dm.line(px, fill=material_index(material), width=w, joint="curve")
        dh.line(px, fill=float(height), width=w, joint="curve")
        dt.line(px, fill=tuple(int(v) for v in tint), width=w, joint="curve")

    def fill_mask(self, mask: np.ndarray, material: str, height: float = 0.0) -> None:
        """Paint a boolean pixel mask (e.g. thresholded noise) with a material."""
        m = Image.fromarray(mask.astype(np.uint8) * 255)
        self._mat.paste(material_index(material), mask=m)
        self._height.paste(float(height), mask=m)
        self._tint.paste(NEUTRAL_TINT, mask=m)

    def material_at(self, x_m: float, y_m: float) -> int:
        x = min(self.size - 1, max(0, int(x_m * self.scale)))
        y = min(self.size - 1, max(0, int(y_m * self.scale)))
        return int(self._mat.getpixel((x, y)))

    # -- objects ---------------------------------------------------------------------------------
    def add_object(self, label: str, pixel_points: Sequence[Point], **extra: Any) -> dict[str, Any] | None:
        """Record an object by the pixel vertices of its parts; the box is clipped to the image.

        Objects less than a pixel wide after clipping are dropped (invisible at small sizes).
        """
        xs = [p[0] for p in pixel_points]
        ys = [p[1] for p in pixel_points]
        x0, y0 = max(0.0, min(xs)), max(0.0, min(ys))
        x1, y1 = min(float(self.size), max(xs)), min(float(self.size), max(ys))
        if x1 - x0 < 1.0 or y1 - y0 < 1.0:
            return None
        obj = {"label": label, "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)], **extra}
        self.objects.append(obj)
        return obj

    def finish(self, class_name: str, facts: dict[str, Any]) -> Layout:
        return Layout(
            class_name=class_name,
            materials=np.asarray(self._mat, dtype=np.uint8).copy(),
            height=np.asarray(self._height, dtype=np.float32).copy(),
            tint=np.asarray(self._tint, dtype=np.uint8).copy(),
            objects=self.objects,
            facts=facts,
            extent_m=self.extent_m,
        )


def rotate(points: Sequence[Point], cx: float, cy: float, angle: float) -> list[Point]:
    """Local (along, across) offsets -> world metres, rotated by `angle` radians about (cx, cy)."""
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + u * c - v * s, cy + u * s + v * c) for u, v in points]
