"""Sliding-window tiling with overlap for scenes too large to process in one pass.

Cut an image into overlapping tiles with `iter_tiles` (or just the boxes with `tile_boxes`), process
each tile, then put the results back with `blend_tiles`, which feathers the overlaps so no seams show.
Boxes are PIL-style ``(left, top, right, bottom)``, right/bottom exclusive; sizes are ``(width, height)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

__all__ = ["Box", "tile_boxes", "iter_tiles", "blend_tiles"]

Box = tuple[int, int, int, int]


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Window starts along one axis: every `stride`, plus one flush with the far edge."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def tile_boxes(width: int, height: int, tile: int, overlap: int) -> list[Box]:
    """Boxes of at most `tile` x `tile` pixels covering a `width` x `height` image, row by row.

    Neighbouring tiles share at least `overlap` pixels; the last row and column are shifted back to
    end exactly at the image edge (so their overlap can be larger). An image smaller than `tile`
    along an axis gets a single, shorter tile along that axis.

    Args:
        width: image width in pixels (> 0).
        height: image height in pixels (> 0).
        tile: tile side in pixels (> 0).
        overlap: minimum overlap between neighbouring tiles, in pixels, in [0, tile).

    Returns:
        A list of (left, top, right, bottom) boxes, right/bottom exclusive, ordered row by row
        (top to bottom, then left to right within a row).

    Raises:
        ValueError: when the image size or `tile` is not positive, or `overlap` is outside [0, tile).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap} with tile={tile}")
    stride = tile - overlap
    return [
        (left, top, min(left + tile, width), min(top + tile, height))
        for top in _starts(height, tile, stride)
        for left in _starts(width, tile, stride)
    ]


def iter_tiles(
    image: Image.Image | np.ndarray, tile: int = 512, overlap: int = 64
) -> Iterator[tuple[Box, np.ndarray]]:
    """Yield (box, pixels) for each tile of `image`; the pixels are numpy views, not copies.

    Args:
        image: a PIL image or an array of shape (height, width) or (height, width, channels).
        tile: tile side in pixels (default 512).
        overlap: minimum overlap between neighbouring tiles in pixels (default 64), in [0, tile).

    Returns:
        An iterator of (box, pixels) pairs, in `tile_boxes` order: box is (left, top, right, bottom)
        and pixels is the array slice `[top:bottom, left:right]`. Invalid sizes raise `ValueError`
        from `tile_boxes` on the first `next()`.
    """
    array = np.asarray(image)
    height, width = array.shape[:2]
    for box in tile_boxes(width, height, tile, overlap):
        left, top, right, bottom = box
        yield box, array[top:bottom, left:right]


def _ramp(start: int, stop: int, length: int) -> np.ndarray:
    """Weights along one axis of a tile: distance (in pixels, from 1) to the nearest tile edge that
    lies inside the image. Where two tiles overlap by o pixels their weights sum to about o + 1, so
    the normalised weight of each is a linear ramp across the overlap; edges on the image border
    do not count, so border pixels keep full weight."""
    size = stop - start
    index = np.arange(size, dtype=np.float64)
    from_start = index + 1 if start > 0 else np.full(size, np.inf)
    from_stop = size - index if stop < length else np.full(size, np.inf)
    weights = np.minimum(from_start, from_stop)
    return np.where(np.isinf(weights), float(size), weights)


def blend_tiles(tiles: Sequence[np.ndarray], boxes: Sequence[Box], size: tuple[int, int]) -> np.ndarray:
    """Reassemble processed tiles into one (height, width[, channels]) array.

    Each pixel is the weighted average of the tiles covering it, with weights that ramp linearly
    across every overlap (see `_ramp`), so seams between tiles fade out. When the tiles are
    unmodified crops of one image, the result is that image exactly. The result has the tiles'
    dtype (integer results are rounded); pixels no box covers are 0.

    Args:
        tiles: arrays of shape (box height, box width) or (box height, box width, channels).
        boxes: (left, top, right, bottom) of each tile, as from `tile_boxes`.
        size: (width, height) of the full image.

    Returns:
        An array of shape (height, width[, channels]) with the tiles' dtype.

    Raises:
        ValueError: when the numbers of tiles and boxes differ, when there are no tiles, or when a
            tile's shape does not match its box.
    """
    if len(tiles) != len(boxes):
        raise ValueError(f"got {len(tiles)} tiles for {len(boxes)} boxes")
    if not tiles:
        raise ValueError("no tiles to blend")
    width, height = size
    channel_shape = tiles[0].shape[2:]
    total = np.zeros((height, width, *channel_shape), dtype=np.float64)
    weight_sum = np.zeros((height, width), dtype=np.float64)

    for tile, (left, top, right, bottom) in zip(tiles, boxes):
        if tile.shape[:2] != (bottom - top, right - left):
            raise ValueError(
                f"tile of shape {tile.shape} does not match box {(left, top, right, bottom)} "
                f"({right - left}x{bottom - top})"
            )
        weights = np.outer(_ramp(top, bottom, height), _ramp(left, right, width))
        total[top:bottom, left:right] += tile * weights.reshape(weights.shape + (1,) * len(channel_shape))
        weight_sum[top:bottom, left:right] += weights

    # Every covered pixel has weight >= 1, so the floor of 1 only turns uncovered pixels into 0.
    weight_sum = np.maximum(weight_sum, 1.0).reshape(weight_sum.shape + (1,) * len(channel_shape))
    blended = total / weight_sum

    dtype = tiles[0].dtype
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(blended), info.min, info.max).astype(dtype)
    return blended.astype(dtype)
