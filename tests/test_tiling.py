"""fusionrs.core.tiling: boxes cover the scene, stay inside it, and blending undoes the cut."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fusionrs.core.tiling import blend_tiles, iter_tiles, tile_boxes

SIZES = [(1, 1), (7, 5), (64, 64), (65, 64), (130, 97), (513, 257), (300, 1000)]


def _coverage(boxes, width, height) -> np.ndarray:
    count = np.zeros((height, width), dtype=int)
    for left, top, right, bottom in boxes:
        count[top:bottom, left:right] += 1
    return count


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize(("tile", "overlap"), [(64, 16), (64, 0), (100, 90), (32, 8)])
def test_boxes_cover_every_pixel_inside_bounds(width, height, tile, overlap):
    boxes = tile_boxes(width, height, tile, overlap)
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
        assert right - left == min(tile, width) and bottom - top == min(tile, height)
    assert (_coverage(boxes, width, height) >= 1).all()
    assert len(set(boxes)) == len(boxes)
    assert max(box[2] for box in boxes) == width and max(box[3] for box in boxes) == height


def test_neighbours_share_at_least_the_overlap():
    boxes = tile_boxes(300, 200, 64, 16)
    lefts = sorted({box[0] for box in boxes})
    rights = sorted({box[2] for box in boxes})
    assert all(rights[i] - lefts[i + 1] >= 16 for i in range(len(lefts) - 1))
    assert lefts[:3] == [0, 48, 96] and rights[-1] == 300  # stride 48, last tile flush


def test_tile_larger_than_image_is_one_box():
    assert tile_boxes(100, 40, 512, 64) == [(0, 0, 100, 40)]


@pytest.mark.parametrize(("tile", "overlap"), [(0, 0), (64, 64), (64, -1)])
def test_invalid_tiling_arguments(tile, overlap):
    with pytest.raises(ValueError):
        tile_boxes(100, 100, tile, overlap)


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_blend_reconstructs_crops_exactly(width, height, dtype):
    rng = np.random.default_rng(width * 1000 + height)
    if np.issubdtype(dtype, np.integer):
        image = rng.integers(0, np.iinfo(dtype).max, size=(height, width, 3), dtype=dtype)
    else:
        image = rng.random((height, width, 3), dtype=dtype)
    boxes, tiles = zip(*iter_tiles(image, tile=48, overlap=12))
    blended = blend_tiles(tiles, boxes, (width, height))
    assert blended.dtype == image.dtype and blended.shape == image.shape
    if np.issubdtype(dtype, np.integer):
        np.testing.assert_array_equal(blended, image)
    else:
        np.testing.assert_allclose(blended, image, atol=1e-6)


def test_blend_single_channel_and_pil_input():
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, size=(90, 70), dtype=np.uint8))
    boxes, tiles = zip(*iter_tiles(image, tile=32, overlap=8))
    assert len(boxes) == len(tile_boxes(70, 90, 32, 8))
    np.testing.assert_array_equal(blend_tiles(tiles, boxes, image.size), np.asarray(image))


def test_blend_feathers_seams():
    # Two processed tiles that disagree by 100: the overlap must ramp linearly, without a jump.
    boxes = tile_boxes(112, 16, 64, 16)
    assert boxes == [(0, 0, 64, 16), (48, 0, 112, 16)]
    tiles = [np.zeros((16, 64), np.float32), np.full((16, 64), 100, np.float32)]
    row = blend_tiles(tiles, boxes, (112, 16))[0]
    assert (row[:48] == 0).all() and (row[64:] == 100).all()
    steps = np.diff(row[47:65])
    assert (steps > 0).all() and np.abs(steps - 100 / 17).max() < 1e-4  # equal steps: a linear ramp


def test_blend_rejects_mismatched_tiles():
    with pytest.raises(ValueError, match="does not match box"):
        blend_tiles([np.zeros((5, 5))], [(0, 0, 4, 4)], (4, 4))
    with pytest.raises(ValueError, match="tiles for"):
        blend_tiles([np.zeros((4, 4))], [], (4, 4))


def test_iter_tiles_yields_views():
    image = np.zeros((40, 40), dtype=np.uint8)
    for (left, top, right, bottom), tile in iter_tiles(image, tile=16, overlap=4):
        assert tile.shape == (bottom - top, right - left)
        assert np.shares_memory(tile, image)
