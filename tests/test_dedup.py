"""Perceptual/pixel hashes, caption keys and exact near-duplicate grouping (fusionrs.data.dedup)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusionrs.data import dedup
from fusionrs.data.dedup import (
    caption_key,
    connected_components,
    crop_phashes,
    hamming_distance,
    near_duplicate_components,
    near_duplicate_pairs,
    normalise_caption,
    phash64,
    phash64_batch,
    pixel_hash,
)

RSICD = Path(__file__).resolve().parents[2] / "shared" / "data" / "rsicd_aid"


# --------------------------------------------------------------------------- helpers shared with test_splits


def texture(seed: int, size: int = 160) -> Image.Image:
    """A procedural aerial-like RGB texture: random colour noise summed over several scales."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((size, size, 3))
    for cells in (3, 6, 12, 24, 48):
        grid = Image.fromarray((rng.random((cells, cells, 3)) * 255).astype(np.uint8))
        pixels += np.asarray(grid.resize((size, size), Image.Resampling.BICUBIC), dtype=float) / cells**0.5
    pixels = 255 * (pixels - pixels.min()) / (pixels.max() - pixels.min())
    return Image.fromarray(pixels.astype(np.uint8))


def reencode(image: Image.Image, quality: int = 75) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def resize(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BICUBIC)


def crop(image: Image.Image, fraction: float, centred: bool = True) -> Image.Image:
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    if centred:
        return image.crop((dx // 2, dy // 2, image.width - (dx - dx // 2), image.height - (dy - dy // 2)))
    return image.crop((dx, dy, image.width, image.height))


def real_or_procedural_images(count: int) -> list[Image.Image]:
    """RSICD/AID scenes when the shared data is here (real textures), procedural ones otherwise."""
    files = sorted((RSICD / "images").glob("*.jpg"))
    if files:
        step = max(1, len(files) // count)
        return [Image.open(f).convert("RGB") for f in files[::step][:count]]
    return [texture(seed) for seed in range(count)]


def brute_force_pairs(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    distance = hamming_distance(hashes[:, None], hashes[None, :])
    left, right = np.nonzero(np.triu(distance <= max_distance, 1))
    return np.stack([left, right], axis=1).astype(np.int64)


def planted_hashes(n_random: int, n_clusters: int, max_flip: int, n_identical: int, seed: int) -> np.ndarray:
    """Random hashes, clusters of 2-10 members within `max_flip` bits of a centre, identical hashes."""
    rng = np.random.default_rng(seed)
    parts = [rng.integers(0, 2**64 - 1, n_random, dtype=np.uint64, endpoint=True)]
    centres = rng.integers(0, 2**64 - 1, n_clusters, dtype=np.uint64, endpoint=True)
    for centre in centres:
        for _ in range(rng.integers(2, 11)):
            member = int(centre)
            for bit in rng.choice(64, rng.integers(0, max_flip + 1), replace=False):
                member ^= 1 << int(bit)
            parts.append(np.array([member], dtype=np.uint64))
    parts.append(np.full(n_identical, centres[0], dtype=np.uint64))
    hashes = np.concatenate(parts)
    return hashes[rng.permutation(len(hashes))]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(dedup._number_by_first_index(a), dedup._number_by_first_index(b))


# --------------------------------------------------------------------------- pHash


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    return real_or_procedural_images(24)


@pytest.mark.parametrize(
    "transform",
    [lambda im: reencode(im, 75), lambda im: resize(im, 0.5), lambda im: resize(im, 1.5)],
    ids=["jpeg75", "resize0.5", "resize1.5"],
)
def test_phash_survives_reencoding_and_resizing(images, transform):
    original = phash64_batch(images)
    copies = phash64_batch([transform(im) for im in images])
    assert int(hamming_distance(original, copies).max()) <= 4


@pytest.mark.parametrize("centred", [True, False], ids=["centre", "corner"])
def test_crop_hashes_catch_three_percent_crops(images, centred):
    """A plain pHash misses many 3% crops; the record's crop hashes bring each copy within 4 bits."""
    for image in images:
        copy_hash = phash64(crop(image, 0.03, centred))
        record_hashes = np.array((phash64(image),) + crop_phashes(image), dtype=np.uint64)
        assert int(hamming_distance(record_hashes, copy_hash).min()) <= 4


def test_phash_separates_unrelated_images(images):
    hashes = phash64_batch(images)
    distance = hamming_distance(hashes[:, None], hashes[None, :])
    assert distance[np.triu_indices(len(hashes), 1)].min() > 8


def test_phash_single_matches_batch_and_accepts_gray(images):
    assert phash64(images[0]) == int(phash64_batch(images[:2])[0])
    assert isinstance(phash64(images[0].convert("L")), int)
    assert phash64_batch([]).shape == (0,)


def test_pixel_hash_is_about_decoded_pixels():
    image = texture(0)
    png = io.BytesIO()
    image.save(png, format="PNG", compress_level=9)
    reloaded = Image.open(io.BytesIO(png.getvalue())).convert("RGB")
    assert pixel_hash(reloaded) == pixel_hash(image)  # different file bytes, same pixels
    assert pixel_hash(reencode(image)) != pixel_hash(image)  # lossy: the pHash catches these
    assert pixel_hash(image.convert("L")) != pixel_hash(image)


# --------------------------------------------------------------------------- caption keys


def test_normalise_caption():
    assert normalise_caption("  Many  planes,\tare parked ; at an AIRPORT . ") == "many planes are parked at an airport"
    assert normalise_caption("ＲＥＤ　roofs") == "red roofs"  # NFKC folds full-width letters and spaces
    assert normalise_caption("Straße") == normalise_caption("STRASSE")  # casefold, not lower
    assert normalise_caption("well-kept «lawn»") == "well kept lawn"


def test_caption_key_single_and_empty():
    assert caption_key([]) == ""
    assert caption_key(["..."]) == ""
    assert caption_key(["A Farmland."]) == caption_key(["a farmland"]) == "a farmland"


def test_caption_set_key_avoids_the_rsicd_trap():
    """Two unrelated images share one generic caption among five: not linked; a copied set is."""
    generic = "many green trees form a piece of forest"
    forest = [generic, "a dense forest", "dark green trees", "trees cover the area", "a forest"]
    harbour = [generic, "boats in a harbour", "a pier", "ships are moored", "water and boats"]
    assert caption_key(forest) != caption_key(harbour)
    shuffled_copy = [c.upper() + " ." for c in reversed(forest)] + [forest[0]]
    assert caption_key(shuffled_copy) == caption_key(forest)


@pytest.mark.skipif(not (RSICD / "dataset_rsicd.json").is_file(), reason="shared rsicd_aid data absent")
def test_caption_set_key_on_rsicd_keeps_groups_small():
    images = json.loads((RSICD / "dataset_rsicd.json").read_text())["images"]
    keys = [caption_key([s["raw"] for s in im["sentences"]]) for im in images]
    set_groups = connected_components(len(keys), _equal_pairs(keys))
    caption_lists = [[normalise_caption(s["raw"]) for s in im["sentences"]] for im in images]
    naive = connected_components(len(keys), _any_shared_pairs(caption_lists))
    # A few generic caption sets repeat (63 "dense residential area" images share one set), but
    # linking on any shared caption chains far more unrelated images together (188 here).
    assert np.bincount(set_groups).max() < 100
    assert np.bincount(naive).max() > 2 * np.bincount(set_groups).max()
    assert naive.max() + 1 < set_groups.max() + 1 - 1000  # and leaves far fewer groups


def _equal_pairs(values: list[str]) -> np.ndarray:
    first: dict[str, int] = {}
    pairs = [(first.setdefault(v, i), i) for i, v in enumerate(values)]
    return np.array([p for p in pairs if p[0] != p[1]]).reshape(-1, 2)


def _any_shared_pairs(caption_lists: list[list[str]]) -> np.ndarray:
    first: dict[str, int] = {}
    pairs = [(first.setdefault(c, i), i) for i, captions in enumerate(caption_lists) for c in captions]
    return np.array([p for p in pairs if p[0] != p[1]]).reshape(-1, 2)


# --------------------------------------------------------------------------- exact near-duplicate search


@pytest.mark.parametrize("max_distance", [0, 1, 2, 4, 6, 8])
def test_near_duplicate_pairs_equal_brute_force(max_distance):
    hashes = planted_hashes(1500, 150, max_distance + 1, n_identical=60, seed=max_distance)
    assert np.array_equal(near_duplicate_pairs(hashes, max_distance), brute_force_pairs(hashes, max_distance))


@pytest.mark.parametrize("max_distance", [0, 3, 4, 5])
def test_near_duplicate_components_equal_brute_force_and_ignore_order(max_distance):
    hashes = planted_hashes(3000, 400, 6, n_identical=500, seed=10 + max_distance)
    expected = connected_components(len(hashes), brute_force_pairs(hashes, max_distance))
    labels = near_duplicate_components(hashes, max_distance)
    assert same_partition(labels, expected)
    permutation = np.random.default_rng(0).permutation(len(hashes))
    shuffled = near_duplicate_components(hashes[permutation], max_distance)
    restored = np.empty_like(shuffled)
    restored[permutation] = shuffled
    assert same_partition(restored, labels)


def test_plan_is_exact_for_every_chunking():
    """Every (chunks, radius) the planner may pick must still find all pairs (pigeonhole)."""
    hashes = planted_hashes(400, 60, 5, n_identical=10, seed=3)
    expected = brute_force_pairs(hashes, 4)
    original = dedup._plan
    try:
        for plan in [(2, 2), (3, 1), (4, 1), (5, 0)]:  # (1, 4) is exact too, but C(64, 4) sorts
            dedup._plan = lambda n, d, plan=plan: plan
            assert np.array_equal(near_duplicate_pairs(hashes, 4), expected), plan
    finally:
        dedup._plan = original


def test_equal_key_pairs_in_small_blocks():
    keys = np.random.default_rng(1).integers(0, 30, 500).astype(np.uint64)
    blocks = list(dedup._equal_key_pairs(keys, block_pairs=37))
    assert len(blocks) > 10
    pairs = {tuple(sorted(p)) for left, right in blocks for p in zip(left.tolist(), right.tolist())}
    expected = {(i, j) for i in range(500) for j in range(i + 1, 500) if keys[i] == keys[j]}
    assert pairs == expected


def test_connected_components_chain_and_isolated_nodes():
    chain = np.array([[i, i + 1] for i in range(50)][::-1])
    labels = connected_components(60, chain)
    assert labels[:51].tolist() == [0] * 51
    assert labels[51:].tolist() == list(range(1, 10))
    assert connected_components(3, np.zeros((0, 2))).tolist() == [0, 1, 2]


def test_near_duplicate_inputs():
    assert near_duplicate_pairs(np.zeros(0, dtype=np.uint64)).shape == (0, 2)
    assert near_duplicate_components(np.array([5, 5, 7], dtype=np.uint64), 0).tolist() == [0, 0, 1]
    with pytest.raises(ValueError):
        near_duplicate_pairs(np.zeros(3, dtype=np.uint64), -1)


def test_linked_hashes_start_joined():
    """`linked` joins a record's own hashes (main + crops) before the search: same as extra edges."""
    hashes = planted_hashes(800, 80, 6, n_identical=20, seed=5)
    owners = np.arange(hashes.size) // 3  # every three consecutive hashes belong to one record
    own_edges = np.stack([np.arange(hashes.size), owners * 3], axis=1)
    expected = connected_components(hashes.size, np.concatenate([brute_force_pairs(hashes, 4), own_edges]))
    assert same_partition(near_duplicate_components(hashes, 4, linked=owners), expected)
    with pytest.raises(ValueError, match="linked"):
        near_duplicate_components(hashes, 4, linked=owners[:-1])
