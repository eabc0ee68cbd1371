"""Translator-independent duplicate keys and exact, sub-quadratic near-duplicate grouping.

The split keys of a record are computed from its *source* pixels and captions, never from
translator output, so every translator sees the same splits:

- `phash64`: a 64-bit DCT perceptual hash that survives re-encoding, resizing and slight crops;
- `pixel_hash`: SHA-256 of the decoded pixels (two files with different bytes but the same pixels
  are the same image; a JPEG re-save is not, which is what the pHash is for);
- `caption_key`: the normalised caption, or the normalised caption *set* for multi-caption sources.

`near_duplicate_components` groups up to millions of pHashes within a Hamming distance. It is
exact (the same components as comparing every pair) and sub-quadratic: multi-index hashing splits
the 64 bits into `m` chunks; by the pigeonhole principle two hashes within distance `d` agree on at
least one chunk up to `d // m` bits, so sorting by each (partly masked) chunk and comparing only
runs of equal keys finds every pair. See docs/splits.md.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import unicodedata
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

__all__ = [
    "CROP_FRACTION",
    "HASH_SIZE",
    "caption_key",
    "connected_components",
    "crop_phashes",
    "hamming_distance",
    "near_duplicate_components",
    "near_duplicate_pairs",
    "normalise_caption",
    "phash64",
    "phash64_batch",
    "pixel_hash",
]

HASH_SIZE = 8  # the pHash keeps the lowest HASH_SIZE x HASH_SIZE DCT frequencies -> 64 bits
CROP_FRACTION = 0.03  # crop_phashes: the crop a record's extra pHashes anticipate (per side length)
_DCT_INPUT = 32  # pixels per side before the DCT: 4x the kept frequencies, as in the usual pHash
# Candidate pairs are generated in blocks of about this many, so memory stays bounded (~100 MB)
# however dense a bucket is.
_BLOCK_PAIRS = 4_000_000


# --------------------------------------------------------------------------- perceptual hash


def _dct_matrix(size: int) -> np.ndarray:
    """Orthonormal DCT-II matrix, so that `D @ X @ D.T` is the 2-D DCT of X (no scipy needed)."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * math.sqrt(2.0 / size)
    matrix[0] /= math.sqrt(2.0)
    return matrix


_DCT = _dct_matrix(_DCT_INPUT)


def _luma_32(image: Image.Image) -> np.ndarray:
    """Grayscale 32x32 float array; the area filter averages away JPEG noise and resize aliasing."""
    gray = image if image.mode == "L" else image.convert("L")
    return np.asarray(gray.resize((_DCT_INPUT, _DCT_INPUT), Image.Resampling.LANCZOS), dtype=np.float64)


def _bits_to_uint64(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans -> (n,) uint64, the first bit being the most significant."""
    packed = np.packbits(bits.astype(np.uint8), axis=1)
    return packed.view(">u8").ravel().astype(np.uint64)


def phash64_batch(images: Iterable[Image.Image]) -> np.ndarray:
    """64-bit DCT pHashes of many images as a uint64 array (the DCT runs as one batched matmul).

    Each image is made grayscale and resized to 32x32; the 8x8 lowest frequencies of its 2-D DCT-II
    (DC included) are thresholded at their median. Low frequencies describe the layout of the
    scene, which re-encoding, resizing and a crop of a few percent barely change.

    Args:
        images: PIL images of any mode and size (converted to `L`); consumed once.

    Returns:
        A `(n,)` uint64 array, one pHash per image in input order (empty for no images); the
        first DCT coefficient is the most significant bit.
    """
    arrays = [_luma_32(image) for image in images]
    if not arrays:
        return np.zeros(0, dtype=np.uint64)
    pixels = np.stack(arrays)
    coefficients = _DCT @ pixels @ _DCT.T
    low = coefficients[:, :HASH_SIZE, :HASH_SIZE].reshape(len(arrays), -1)
    bits = low > np.median(low, axis=1, keepdims=True)
    return _bits_to_uint64(bits)


def phash64(image: Image.Image) -> int:
    """64-bit DCT perceptual hash of one image, as a Python int (see `phash64_batch`).

    Args:
        image: a PIL image of any mode and size.

    Returns:
        The pHash as a non-negative int below 2**64.
    """
    return int(phash64_batch([image])[0])


def _crops(image: Image.Image, fraction: float) -> Iterator[Image.Image]:
    """The image cut by `fraction` of its width and height: centred and toward each corner.

    Made lazily from one grayscale copy (what the pHash reads anyway; converting is per pixel, so
    the crops of the grayscale copy are the grayscale of the crops): a large image costs one byte
    per pixel here, not five RGB crops at once.
    """
    width, height = image.size
    dx, dy = round(width * fraction), round(height * fraction)
    boxes = [
        (dx // 2, dy // 2, width - (dx - dx // 2), height - (dy - dy // 2)),  # centre
        (dx, dy, width, height),  # keeps the bottom-right corner
        (0, 0, width - dx, height - dy),  # keeps the top-left corner
        (0, dy, width - dx, height),
        (dx, 0, width, height - dy),
    ]
    gray = image if image.mode == "L" else image.convert("L")
    return (gray.crop(box) for box in boxes)


def crop_phashes(image: Image.Image, fraction: float = CROP_FRACTION) -> tuple[int, ...]:
    """pHashes of five crops of `image` (centre and four corners, `fraction` of each side cut).

    A plain pHash is robust to re-encoding and resizing but not to crops: on RSICD/AID scenes a
    3% crop moves 28% (centred) to 70% (one corner) of copies beyond Hamming 4. Giving every
    record these extra hashes, and linking two records when *any* of their hashes are within the
    distance, catches those copies (0-1% missed) at no measured cost in false links (see
    benchmarks/grouping.md).

    Args:
        image: a PIL image of any mode and size.
        fraction: the share of the width and of the height cut away by each crop (default
            `CROP_FRACTION`, 0.03).

    Returns:
        Five pHashes as ints: the centred crop, then the crops keeping the bottom-right, top-left,
        bottom-left and top-right corners.
    """
    return tuple(int(h) for h in phash64_batch(_crops(image, fraction)))


def pixel_hash(image: Image.Image) -> str:
    """SHA-256 (hex) of the decoded pixels, with mode and size so that reshaped buffers differ.

    File bytes are not hashed on purpose: the same pixels saved by two encoders are one image.

    Args:
        image: a decoded PIL image.

    Returns:
        The 64-character hex SHA-256 of "MODE:WxH:" followed by the raw pixel bytes.
    """
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- caption keys


def normalise_caption(text: str) -> str:
    """NFKC, casefold, punctuation (Unicode category P*) -> space, whitespace collapsed.

    Punctuation becomes a space rather than vanishing so that "well-kept" and "well kept" agree
    and "airport ." equals "airport.".

    Args:
        text: a caption.

    Returns:
        The normalised caption ("" when only punctuation and whitespace were there).
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(char).startswith("P") else char for char in text)
    return " ".join(text.split())


def caption_key(captions: Sequence[str]) -> str:
    """The caption part of a split key: "" (no link) for no captions.

    One caption: its normalised form. Several: the sorted, de-duplicated set of normalised
    captions joined by newlines. Linking on *any* shared caption would be wrong for RSICD, which
    repeats generic captions ("many green trees form a piece of forest") across unrelated images
    and chains them into large groups (188 images on RSICD/AID, against 63 for the set key, see
    benchmarks/grouping.md); an identical caption *set* is a copied annotation.

    Args:
        captions: the record's captions; ones empty after normalisation are ignored.

    Returns:
        The sorted, de-duplicated normalised captions joined by newlines; "" when none is left.
    """
    # For one caption the "set" is that caption, so one expression serves both cases.
    return "\n".join(sorted({key for key in (normalise_caption(c) for c in captions) if key}))


# --------------------------------------------------------------------------- near-duplicate search


def _popcount64(values: np.ndarray) -> np.ndarray:
    """Bits set per uint64 (numpy >= 2 has a ufunc; older numpy uses a byte lookup table)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[values.view(np.uint8).reshape(-1, 8)].sum(axis=1, dtype=np.uint8)


def hamming_distance(a: int | np.ndarray, b: int | np.ndarray) -> np.ndarray | int:
    """Hamming distance between 64-bit hashes (ints or uint64 arrays, broadcast).

    Args:
        a: a hash (int below 2**64) or an array of hashes.
        b: a hash or an array of hashes, broadcast against `a`.

    Returns:
        An int (0-64) when both inputs are scalars, else an array of per-element bit counts with
        the broadcast shape.
    """
    distance = _popcount64(np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)))
    return int(distance) if np.ndim(distance) == 0 else distance


def _chunks(n_chunks: int) -> list[tuple[int, int]]:
    """(shift, width) of `n_chunks` bit fields covering 64 bits, widths as equal as possible."""
    base, extra = divmod(64, n_chunks)
    widths = [base + 1] * extra + [base] * (n_chunks - extra)
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return list(zip(shifts, widths))


def _plan(n_hashes: int, max_distance: int) -> tuple[int, int]:
    """Choose (chunks m, radius r = d // m) minimising sorts + expected candidate pairs.

    Few wide chunks mean few accidental collisions but many masked variants (C(width, r) sorts
    per chunk); many narrow chunks mean one sort each but crowded buckets. For d = 4 and 600k
    hashes the estimate picks m = 5, r = 0 (5 sorts, ~110M candidates, 3 s) over m = 3, r = 1
    (66 sorts, ~10M candidates, 4 s); from a few million hashes on, m = 3 wins.
    The constants are relative costs measured on one core (one sort per element ~ 5 pairs; a
    sort's fixed Python/numpy overhead ~ 20k pairs), so tiny inputs do not try C(64, 4) masks.
    """
    best: tuple[float, int, int] | None = None
    for n_chunks in range(1, max_distance + 2):
        radius = max_distance // n_chunks
        cost = 0.0
        for _, width in _chunks(n_chunks):
            variants = math.comb(width, radius)
            expected_pairs = n_hashes * (n_hashes - 1) / 2 / 2.0 ** (width - radius)
            cost += variants * (20_000.0 + 5.0 * n_hashes + expected_pairs)
        if best is None or cost < best[0]:
            best = (cost, n_chunks, radius)
    assert best is not None
    return best[1], best[2]


def _masked_chunk_keys(hashes: np.ndarray, max_distance: int) -> Iterator[np.ndarray]:
    """Every (chunk, masked-bits) key array that must be searched for exact runs of equal keys."""
    n_chunks, radius = _plan(len(hashes), max_distance)
    for shift, width in _chunks(n_chunks):
        chunk = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        for masked_bits in itertools.combinations(range(width), radius):
            keep = (1 << width) - 1 - sum(1 << bit for bit in masked_bits)
            yield chunk & np.uint64(keep)


def _stable_argsort(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of uint64 keys; below 2**32, two 16-bit radix passes (about 2x faster)."""
    if keys.size == 0 or int(keys.max()) >= 2**32:
        return np.argsort(keys, kind="stable")
    low_first = np.argsort((keys & np.uint64(0xFFFF)).astype(np.uint16), kind="stable")
    high = (keys[low_first] >> np.uint64(16)).astype(np.uint16)
    return low_first[np.argsort(high, kind="stable")]


def _equal_key_pairs(keys: np.ndarray, block_pairs: int = _BLOCK_PAIRS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All index pairs (i, j), i != j, with keys[i] == keys[j], yielded in bounded blocks."""
    n = len(keys)
    order = _stable_argsort(keys)
    sorted_keys = keys[order]
    starts_run = np.empty(n, dtype=bool)
    starts_run[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts_run[1:])
    run_ends = np.append(np.flatnonzero(starts_run[1:]) + 1, n)
    position = np.arange(n)
    partners = run_ends[np.cumsum(starts_run) - 1] - position - 1
    has_partner = np.flatnonzero(partners)  # most hashes are alone in their bucket
    if has_partner.size == 0:
        return
    counts = partners[has_partner]
    cumulative = np.cumsum(counts)
    cuts = np.searchsorted(cumulative, np.arange(block_pairs, cumulative[-1], block_pairs), side="left") + 1
    for block in np.split(np.arange(has_partner.size), np.unique(cuts)):
        if block.size == 0:
            continue
        left_positions = has_partner[block]
        block_counts = counts[block]
        left = np.repeat(left_positions, block_counts)
        first_of_each = np.repeat(np.cumsum(block_counts) - block_counts, block_counts)
        right = left + 1 + (np.arange(left.size) - first_of_each)
        yield order[left], order[right]


def near_duplicate_pairs(hashes: np.ndarray, max_distance: int = 4) -> np.ndarray:
    """Every pair (i, j), i < j, with Hamming(hashes[i], hashes[j]) <= max_distance, sorted.

    Exact: the same set as comparing all pairs. The output itself is quadratic for k identical
    hashes (k(k-1)/2 pairs), so for grouping use `near_duplicate_components`, which searches
    distinct hashes only.

    Args:
        hashes: a 1-D array of 64-bit hashes (converted to uint64).
        max_distance: the largest Hamming distance that counts as a near duplicate, 0-64
            (default 4).

    Returns:
        An `(n_pairs, 2)` int64 array of index pairs `(i, j)` with `i < j`, sorted by `i` then `j`;
        `(0, 2)` when there is none.

    Raises:
        ValueError: `max_distance` is outside 0..64.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    if max_distance < 0 or max_distance > 64:
        raise ValueError(f"max_distance must be in 0..64, got {max_distance}")
    n = len(hashes)
    found: list[np.ndarray] = []
    for keys in _masked_chunk_keys(hashes, max_distance):
        for left, right in _equal_key_pairs(keys):
            close = _popcount64(hashes[left] ^ hashes[right]) <= max_distance
            low, high = np.minimum(left[close], right[close]), np.maximum(left[close], right[close])
            # Pairs found through several chunks are de-duplicated via one int64 code per pair.
            found.append(np.unique(low.astype(np.int64) * n + high))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1)


def _find(parent: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Roots of `nodes` in a union-find forest (vectorised pointer chasing; trees stay shallow)."""
    roots = parent[nodes]
    while True:
        up = parent[roots]
        if np.array_equal(up, roots):
            return roots
        roots = up


def _union(parent: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    """Join the components of every (left[k], right[k]) in `parent`, in place.

    Each round hooks the larger root of every still-separate pair under the smaller one (so a
    parent id is never above its child's and the loop ends) and points the endpoints straight at
    their roots (path compression, keeping later finds short). Only the edges are touched, not
    all nodes, so many small unions stay cheap.
    """
    while left.size:
        root_left, root_right = _find(parent, left), _find(parent, right)
        parent[left], parent[right] = root_left, root_right
        crossing = root_left != root_right
        np.minimum.at(parent, np.maximum(root_left, root_right)[crossing], np.minimum(root_left, root_right)[crossing])
        left, right = left[crossing], right[crossing]


def connected_components(n_nodes: int, pairs: np.ndarray) -> np.ndarray:
    """Component label per node (0..K-1, numbered by each component's smallest node).

    Vectorised union-find (`_union`); input order does not matter.

    Args:
        n_nodes: the number of nodes, labelled 0..n_nodes-1.
        pairs: edges as an `(n_edges, 2)` array (or anything reshaping to it) of node indices.

    Returns:
        An `(n_nodes,)` int64 array of component labels 0..K-1; a node without edges is its own
        component.
    """
    parent = np.arange(n_nodes, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    _union(parent, pairs[:, 0], pairs[:, 1])
    # Roots are each component's smallest node, so ranking them numbers components in node order.
    _, labels = np.unique(_find(parent, np.arange(n_nodes)), return_inverse=True)
    return labels.ravel().astype(np.int64)


def near_duplicate_components(
    hashes: np.ndarray, max_distance: int = 4, *, linked: np.ndarray | None = None
) -> np.ndarray:
    """Component label per hash: the connected components of the graph "Hamming <= max_distance".

    `linked` (optional, one label per hash) says which hashes are already known to belong
    together, e.g. a record's main and crop pHashes; they start in one component.
    Identical hashes (thousands of blank tiles are common) are collapsed first, so a degenerate
    bucket costs nothing. Pairs are joined as they are found and candidates already in one
    component are skipped before verification, so the true near-duplicate pairs, re-found by many
    chunks, are never all stored. Labels are 0..K-1 numbered by each component's first index: the
    same components as a brute-force search, for any input order.

    Args:
        hashes: a 1-D array of 64-bit hashes (converted to uint64).
        max_distance: the largest Hamming distance that links two hashes, 0-64 (default 4).
        linked: optional group labels, one per hash (any comparable values); hashes sharing a
            label start in one component.

    Returns:
        An `(n,)` int64 array of component labels 0..K-1, numbered by each component's first index.

    Raises:
        ValueError: `max_distance` is outside 0..64, or `linked` does not hold one label per hash.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    if max_distance < 0 or max_distance > 64:
        raise ValueError(f"max_distance must be in 0..64, got {max_distance}")
    distinct, inverse = np.unique(hashes, return_inverse=True)
    inverse = inverse.ravel()
    parent = np.arange(len(distinct), dtype=np.int64)
    if linked is not None:
        linked = np.asarray(linked).ravel()
        if linked.shape != hashes.shape:
            raise ValueError(f"linked has {linked.size} labels for {hashes.size} hashes")
        _, first, owner = np.unique(linked, return_index=True, return_inverse=True)
        _union(parent, inverse, inverse[first[owner.ravel()]])
    every = np.arange(len(distinct))
    for keys in _masked_chunk_keys(distinct, max_distance):
        parent = _find(parent, every)  # flatten, so one lookup below usually yields the root
        for left, right in _equal_key_pairs(keys):
            # Equal parents are surely joined; a stale parent only costs a redundant check.
            separate = parent[left] != parent[right]
            left, right = left[separate], right[separate]
            close = _popcount64(distinct[left] ^ distinct[right]) <= max_distance
            _union(parent, left[close], right[close])
    return _number_by_first_index(_find(parent, inverse))


def _number_by_first_index(labels: np.ndarray) -> np.ndarray:
    """Relabel components 0..K-1 in order of their first member, so labels do not depend on hashes."""
    _, first_index, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first_index), dtype=np.int64)
    rank[np.argsort(first_index, kind="stable")] = np.arange(len(first_index))
    return rank[inverse.ravel()]
