"""Contact sheets of the world for the docs: RGB | IR per class, and the same-colour material pairs.

    python -m fusionrs.synth.contact_sheet docs/images
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fusionrs.synth.canvas import Canvas, Layout
from fusionrs.synth.layout import SCENE_CLASSES
from fusionrs.synth.materials import same_colour_pairs
from fusionrs.synth.world import WORLD_VERSION, generate_scene, render_layout

__all__ = ["class_sheet", "pair_layout", "pairs_sheet"]

_LABEL_H = 14


def class_sheet(*, seed: int = 0, tile: int = 136, columns: int = 3, hour: float | None = 13.0, night_hour: float = 23.0) -> Image.Image:
    """One cell per class: RGB | IR by day | IR at night, labelled with class name and hours.

    Args:
        seed: world seed of the scenes (scene i is `generate_scene(i, seed=seed)` of class i).
        tile: side of each scene image in pixels, 32-1024; default 136.
        columns: cells per row of the grid; default 3.
        hour: time of day of the RGB and day IR view, in hours; None uses each scene's sampled hour.
        night_hour: time of day of the night IR view, in hours; default 23.

    Returns:
        The contact sheet as an RGB PIL image.

    Raises:
        ValueError: `tile` is outside 32-1024 pixels.
    """
    cells = []
    for i, name in enumerate(SCENE_CLASSES):
        day = generate_scene(i, seed=seed, size=tile, class_name=name, time_of_day=hour)
        night = generate_scene(i, seed=seed, size=tile, class_name=name, time_of_day=night_hour)
        row = np.concatenate([day.rgb, _grey(day.ir), _grey(night.ir)], axis=1)
        cells.append(_label(Image.fromarray(row), f"{name}   RGB | IR {day.time_of_day:g} h | IR {night.time_of_day:g} h"))
    return _grid(cells, columns, title=f"fusionrs world v{WORLD_VERSION}, seed {seed}: RGB | LWIR day | LWIR night")


def pair_layout(a: str, b: str, size: int = 96) -> Layout:
    """A flat test plot: material `a` all round, a square of `b` in the middle (no heights, no shadows).

    Args:
        a: material name of the surroundings (one of `MATERIALS`).
        b: material name of the central square.
        size: side of the layout in pixels; default 96.

    Returns:
        A "meadow" `Layout` 40 m across with `b` covering 10-30 m on both axes, no objects or facts.

    Raises:
        ValueError: `a` or `b` is not a material name.
    """
    c = Canvas(size, 40.0, a)
    c.rect(10, 10, 30, 30, b)
    return c.finish("meadow", {})


def pairs_sheet(*, size: int = 112, hours: tuple[float, ...] = (10.0, 14.0, 22.0)) -> Image.Image:
    """Each same-colour pair: RGB, then IR at several hours; outer = first material, square = second.

    Args:
        size: side of each pair's images in pixels; default 112.
        hours: times of day of the IR views, in hours (the RGB view is rendered at 12 h).

    Returns:
        A one-column RGB PIL image with one labelled row per same-colour pair.
    """
    cells = []
    for a, b in same_colour_pairs():
        layout = pair_layout(a, b, size)
        rgb, _, _ = render_layout(layout, 12.0)
        irs = [render_layout(layout, h)[1] for h in hours]
        row = np.concatenate([rgb] + [_grey(ir) for ir in irs], axis=1)
        hours_txt = " | ".join(f"IR {h:g} h" for h in hours)
        cells.append(_label(Image.fromarray(row), f"outside {a}, square {b}:   RGB | {hours_txt}"))
    return _grid(cells, 1, title="Same colour in RGB, different in LWIR")


def _grey(ir: np.ndarray) -> np.ndarray:
    return np.repeat(ir[..., None], 3, axis=2)


def _label(image: Image.Image, text: str) -> Image.Image:
    out = Image.new("RGB", (image.width, image.height + _LABEL_H), (255, 255, 255))
    out.paste(image, (0, _LABEL_H))
    ImageDraw.Draw(out).text((3, 1), text, fill=(0, 0, 0))
    return out


def _grid(cells: list[Image.Image], columns: int, title: str) -> Image.Image:
    w, h = cells[0].size
    rows = -(-len(cells) // columns)
    pad = 6
    sheet = Image.new("RGB", (columns * (w + pad) + pad, rows * (h + pad) + pad + 18), (255, 255, 255))
    ImageDraw.Draw(sheet).text((pad, 4), title, fill=(0, 0, 0))
    for i, cell in enumerate(cells):
        sheet.paste(cell, (pad + (i % columns) * (w + pad), 18 + pad + (i // columns) * (h + pad)))
    return sheet


def main(argv: list[str] | None = None) -> None:
    out = Path((argv or sys.argv[1:] or ["docs/images"])[0])
    out.mkdir(parents=True, exist_ok=True)
    class_sheet().save(out / "world_contact_sheet.png", optimize=True)
    pairs_sheet().save(out / "world_same_colour_pairs.png", optimize=True)
    print(f"wrote {out / 'world_contact_sheet.png'} and {out / 'world_same_colour_pairs.png'}")


if __name__ == "__main__":
    main()
