"""Sample grids (RGB | IR | captions) as PNG-ready PIL images: people would rather look than read."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["plot_samples"]

_BACKGROUND = (255, 255, 255)
_TEXT = (20, 20, 20)
_MISSING = (200, 200, 200)


def _as_rgb(image: Image.Image | None, tile: int) -> Image.Image:
    if image is None:
        blank = Image.new("RGB", (tile, tile), _MISSING)
        ImageDraw.Draw(blank).text((6, tile // 2 - 6), "missing", fill=_TEXT)
        return blank
    return image.convert("RGB").resize((tile, tile), Image.Resampling.BILINEAR)


def plot_samples(rows: Iterable[Mapping[str, Any]], *, tile: int = 160, text_width: int = 420,
                 max_rows: int = 8) -> Image.Image:
    """One line per sample: RGB tile, IR tile, then id/class, first caption and first IR caption.

    `rows` are decoded dataset rows (PIL images under "rgb" and "ir"), e.g. `ds.select(range(8))`.

    Args:
        rows: decoded dataset rows; keys used are "rgb", "ir" (PIL images, a grey "missing" tile
            when absent), "id", "split", "class_name", "captions" and "ir_captions".
        tile: the side of each square image tile, in pixels (default 160).
        text_width: the width of the text column, in pixels (default 420).
        max_rows: the most rows drawn; later rows are not read (default 8).

    Returns:
        An RGB PIL image of the grid, one line of `tile` px (plus padding) per sample.

    Raises:
        ValueError: `rows` is empty (or `max_rows` is 0 or less).
    """
    rows = [row for _, row in zip(range(max_rows), rows)]
    if not rows:
        raise ValueError("plot_samples needs at least one row")
    font = ImageFont.load_default()
    pad = 6
    height = len(rows) * (tile + pad) + pad
    sheet = Image.new("RGB", (2 * tile + text_width + 4 * pad, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    chars = max(20, text_width // 6)
    for i, row in enumerate(rows):
        top = pad + i * (tile + pad)
        sheet.paste(_as_rgb(row.get("rgb"), tile), (pad, top))
        sheet.paste(_as_rgb(row.get("ir"), tile), (2 * pad + tile, top))
        lines = [f"{row.get('id', '')}  [{row.get('split', '')}] {row.get('class_name', '')}"]
        captions = row.get("captions") or []
        ir_captions = row.get("ir_captions") or []
        if captions:
            lines += textwrap.wrap("caption: " + captions[0], chars)
        if ir_captions:
            lines += textwrap.wrap("IR-aware: " + ir_captions[0], chars)
        y = top + 2
        for line in lines[: tile // 12]:
            draw.text((3 * pad + 2 * tile, y), line, fill=_TEXT, font=font)
            y += 12
    return sheet
