"""Near-duplicate grouping at FusionRS scale, and split keys on real RSICD.

    OMP_NUM_THREADS=1 python benchmarks/grouping.py

1. 600k 64-bit hashes with planted clusters (20k clusters of 2-10 members within Hamming 4 of
   a centre that is itself a member, plus 3,000 identical hashes): time of
   `near_duplicate_components` on one core, and the same for 3.6M hashes (600k records with their
   five crop hashes each, what `split_key` produces by default).
2. Exactness against brute force (every pair compared, in blocks) on a 20k subset made of whole
   planted clusters, identical hashes and random hashes.
3. RSICD on AID (when ../shared/data/rsicd_aid exists): time to compute the 6,024 split keys,
   then groups under several keys side by side -- caption *set* key vs "any shared caption".
Writes benchmarks/grouping.json (with command, seed, versions, machine) and benchmarks/grouping.md.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fusionrs.data import dedup
from fusionrs.data.dedup import connected_components, near_duplicate_components, near_duplicate_pairs, normalise_caption
from fusionrs.data.splits import SplitKey, group_records, make_splits, split_key
from fusionrs.results import write_results

SEED = 0
N_HASHES = 600_000
N_CLUSTERS = 20_000
N_IDENTICAL = 3_000
MAX_DISTANCE = 4
SUBSET = 20_000
HERE = Path(__file__).resolve().parent
RSICD = HERE.parent.parent / "shared" / "data" / "rsicd_aid"
COMMAND = "OMP_NUM_THREADS=1 python benchmarks/grouping.py"


# --------------------------------------------------------------------------- synthetic hashes


def planted_hashes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hashes and their planted cluster id (-1: random, -2: the identical block)."""
    sizes = rng.integers(2, 11, N_CLUSTERS)
    centres = rng.integers(0, 2**64 - 1, N_CLUSTERS, dtype=np.uint64, endpoint=True)
    members = np.repeat(centres, sizes)
    cluster = np.repeat(np.arange(N_CLUSTERS), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flips = rng.integers(0, MAX_DISTANCE + 1, members.size)
    flips[first] = 0  # the centre is a member, so every member is linked to it
    for k in range(MAX_DISTANCE):
        # Up to 4 random bits per member (a repeated bit cancels, so distance is <= 4, not == 4).
        bit = rng.integers(0, 64, members.size).astype(np.uint64)
        members ^= np.where(k < flips, np.uint64(1) << bit, np.uint64(0))
    n_random = N_HASHES - members.size - N_IDENTICAL
    hashes = np.concatenate([
        members,
        rng.integers(0, 2**64 - 1, n_random, dtype=np.uint64, endpoint=True),
        np.full(N_IDENTICAL, rng.integers(0, 2**63), dtype=np.uint64),
    ])
    labels = np.concatenate([cluster, np.full(n_random, -1), np.full(N_IDENTICAL, -2)])
    order = rng.permutation(hashes.size)
    return hashes[order], labels[order]


def brute_force_pairs(hashes: np.ndarray, max_distance: int, block: int = 1024) -> np.ndarray:
    """All pairs within `max_distance`, comparing every pair (blocks of rows keep memory small)."""
    found = []
    for start in range(0, hashes.size, block):
        rows = hashes[start:start + block]
        distance = dedup.hamming_distance(rows[:, None], hashes[None, :])
        left, right = np.nonzero(distance <= max_distance)
        left = left + start
        keep = left < right
        found.append(np.stack([left[keep], right[keep]], axis=1))
    pairs = np.concatenate(found).astype(np.int64)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def timed(function, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def synthetic_benchmark(rng: np.random.Generator) -> dict[str, Any]:
    hashes, planted = planted_hashes(rng)
    labels, seconds = timed(near_duplicate_components, hashes, MAX_DISTANCE)
    intact = sum(1 for c in np.unique(planted[planted >= 0]) if np.unique(labels[planted == c]).size == 1)
    print(f"600k hashes: {seconds:.1f} s, {labels.max() + 1} components, planted clusters intact {intact}/{N_CLUSTERS}")

    # 600k records x (1 + 5 crop hashes). Real crop hashes differ from the record's own by 0-12
    # bits (mostly 2-8 on RSICD), so each is the record's hash with 2-10 random bits flipped.
    crop_hashes = []
    for _ in range(5):
        crop = hashes.copy()
        for _ in range(int(rng.integers(2, 11))):
            crop ^= np.uint64(1) << rng.integers(0, 64, hashes.size).astype(np.uint64)
        crop_hashes.append(crop)
    crops = np.concatenate([hashes] + crop_hashes)
    owners = np.tile(np.arange(hashes.size), 6)
    crop_labels, crop_seconds = timed(near_duplicate_components, crops, MAX_DISTANCE, linked=owners)
    print(f"3.6M hashes (600k records with crop hashes): {crop_seconds:.1f} s")

    # Exactness on whole clusters + identical block + random fill.
    in_clusters = np.flatnonzero((planted >= 0) & (planted < 1_500))
    identical = np.flatnonzero(planted == -2)[:300]
    random_fill = rng.choice(np.flatnonzero(planted == -1), SUBSET - in_clusters.size - identical.size, replace=False)
    subset = hashes[np.concatenate([in_clusters, identical, random_fill])]
    fast_pairs, fast_seconds = timed(near_duplicate_pairs, subset, MAX_DISTANCE)
    brute_pairs, brute_seconds = timed(brute_force_pairs, subset, MAX_DISTANCE)
    same_pairs = np.array_equal(fast_pairs, brute_pairs)
    same_components = np.array_equal(
        dedup._number_by_first_index(near_duplicate_components(subset, MAX_DISTANCE)),
        connected_components(subset.size, brute_pairs),
    )
    print(f"20k subset: {len(fast_pairs)} pairs, exact {same_pairs}, components exact {same_components}")
    return {
        "n_hashes": int(hashes.size),
        "planted_clusters": N_CLUSTERS,
        "planted_cluster_members": int((planted >= 0).sum()),
        "identical_hashes": N_IDENTICAL,
        "max_distance": MAX_DISTANCE,
        "plan_chunks_radius": list(dedup._plan(np.unique(hashes).size, MAX_DISTANCE)),
        "components_seconds": round(seconds, 2),
        "n_components": int(labels.max() + 1),
        "planted_clusters_intact": intact,
        "with_crop_hashes": {
            "n_hashes": int(crops.size),
            "plan_chunks_radius": list(dedup._plan(np.unique(crops).size, MAX_DISTANCE)),
            "components_seconds": round(crop_seconds, 2),
            "n_components": int(crop_labels.max() + 1),
        },
        "exactness_subset": {
            "n_hashes": int(subset.size),
            "pairs": int(len(fast_pairs)),
            "pairs_equal_brute_force": bool(same_pairs),
            "components_equal_brute_force": bool(same_components),
            "fast_seconds": round(fast_seconds, 3),
            "brute_force_seconds": round(brute_seconds, 2),
        },
    }


# --------------------------------------------------------------------------- RSICD


def _group_summary(labels: np.ndarray, names: list[str], classes: list[str]) -> dict[str, Any]:
    sizes = np.bincount(labels)
    largest = int(np.argmax(sizes))
    members = [i for i in np.flatnonzero(labels == largest)]
    histogram = Counter(sizes.tolist())
    return {
        "n_groups": int(sizes.size),
        "singletons": int(histogram.get(1, 0)),
        "largest_group_size": int(sizes[largest]),
        "largest_group_classes": dict(Counter(classes[i] for i in members).most_common(5)),
        "largest_group_examples": [names[i] for i in members[:5]],
        "group_size_histogram": {str(size): count for size, count in sorted(histogram.items())},
    }


def _any_shared_caption_pairs(caption_lists: list[list[str]]) -> np.ndarray:
    """The naive key: link records sharing any one normalised caption (star per caption)."""
    first: dict[str, int] = {}
    pairs = [(first.setdefault(c, i), i) for i, captions in enumerate(caption_lists) for c in captions if c]
    return np.array([p for p in pairs if p[0] != p[1]], dtype=np.int64).reshape(-1, 2)


def _label_pairs(labels: np.ndarray) -> np.ndarray:
    first: dict[int, int] = {}
    pairs = [(first.setdefault(label, i), i) for i, label in enumerate(labels.tolist())]
    return np.array([p for p in pairs if p[0] != p[1]], dtype=np.int64).reshape(-1, 2)


def rsicd_benchmark() -> dict[str, Any] | None:
    if not (RSICD / "dataset_rsicd.json").is_file():
        print(f"{RSICD} absent: skipping the RSICD part")
        return None
    from PIL import Image

    images = json.loads((RSICD / "dataset_rsicd.json").read_text())["images"]
    start = time.perf_counter()
    decoded = [Image.open(RSICD / "images" / im["filename"]).convert("RGB") for im in images]
    decode_seconds = time.perf_counter() - start
    captions = [[s["raw"] for s in im["sentences"]] for im in images]

    def keys_for(with_crops: bool) -> list[SplitKey]:
        return [split_key(im["filename"], image, caps, source_dataset="rsicd_aid", source_id=im["filename"],
                          source_split=im["split"], with_crops=with_crops)
                for im, image, caps in zip(images, decoded, captions)]

    plain_keys, plain_seconds = timed(keys_for, False)
    keys, crop_seconds = timed(keys_for, True)
    print(f"RSICD: decode {decode_seconds:.1f} s, keys {plain_seconds:.1f} s, with crop hashes {crop_seconds:.1f} s")

    names = [im["filename"] for im in images]
    classes = [im["class"] for im in images]
    no_captions = [SplitKey(k.id, k.source_dataset, k.source_id, k.phash, k.pixel_hash, "", k.source_split,
                            k.crop_phashes) for k in keys]
    image_labels, group_seconds = timed(group_records, no_captions)
    naive_pairs = np.concatenate([
        _label_pairs(image_labels),
        _any_shared_caption_pairs([[normalise_caption(c) for c in caps] for caps in captions]),
    ])
    variants = {
        "images + caption set key (default)": group_records(keys),
        "images + any shared caption (naive)": connected_components(len(keys), naive_pairs),
        "images only (pHash + crop hashes, pixels, source id)": image_labels,
        "images only, plain pHash (no crop hashes)": group_records(
            [SplitKey(k.id, k.source_dataset, k.source_id, k.phash, k.pixel_hash, "", k.source_split) for k in keys]),
    }
    groups = {name: _group_summary(labels, names, classes) for name, labels in variants.items()}
    for name, summary in groups.items():
        print(f"  {name}: {summary['n_groups']} groups, largest {summary['largest_group_size']}")
    manifest, split_seconds = timed(make_splits, keys, policy="source")
    return {
        "n_images": len(images),
        "decode_seconds": round(decode_seconds, 2),
        "keys_seconds_plain": round(plain_seconds, 2),
        "keys_seconds_with_crop_hashes": round(crop_seconds, 2),
        "grouping_seconds": round(group_seconds, 3),
        "make_splits_seconds": round(split_seconds, 3),
        "groups": groups,
        "manifest_stats_source_policy": {k: manifest.stats[k] for k in
                                         ("n_groups", "largest_group", "linked_records", "splits", "conflicts")},
    }


# --------------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    syn = results["synthetic"]
    exact = syn["exactness_subset"]
    lines = [
        "# Near-duplicate grouping benchmark",
        "",
        f"Command: `{COMMAND}` (seed {SEED}); full numbers and environment in `grouping.json`.",
        "",
        "## Exact near-duplicate components (Hamming <= 4), one core",
        "",
        "| hashes | what | plan (chunks, radius) | seconds | components |",
        "|---|---|---|---|---|",
        f"| {syn['n_hashes']:,} | 20k planted clusters (2-10) + 3,000 identical + random | "
        f"{tuple(syn['plan_chunks_radius'])} | {syn['components_seconds']} | {syn['n_components']:,} |",
        f"| {syn['with_crop_hashes']['n_hashes']:,} | the same 600k records with 5 crop hashes each | "
        f"{tuple(syn['with_crop_hashes']['plan_chunks_radius'])} | {syn['with_crop_hashes']['components_seconds']} | "
        f"{syn['with_crop_hashes']['n_components']:,} |",
        "",
        f"Planted clusters intact: {syn['planted_clusters_intact']:,} / {syn['planted_clusters']:,}. "
        f"Exactness on a {exact['n_hashes']:,}-hash subset (1,500 whole clusters, 300 identical, random fill): "
        f"{exact['pairs']:,} pairs, pairs equal brute force: **{exact['pairs_equal_brute_force']}**, "
        f"components equal: **{exact['components_equal_brute_force']}** "
        f"({exact['fast_seconds']} s vs {exact['brute_force_seconds']} s brute force).",
    ]
    rsicd = results.get("rsicd")
    if rsicd:
        lines += [
            "",
            f"## RSICD on AID: {rsicd['n_images']:,} real images, 5 captions each",
            "",
            f"Decode {rsicd['decode_seconds']} s; split keys {rsicd['keys_seconds_plain']} s "
            f"(pHash + pixel hash + caption key), {rsicd['keys_seconds_with_crop_hashes']} s with the 5 crop hashes; "
            f"grouping {rsicd['grouping_seconds']} s; `make_splits` {rsicd['make_splits_seconds']} s.",
            "",
            "| key | groups | singletons | largest group | largest group's classes | sizes (size: count) |",
            "|---|---|---|---|---|---|",
        ]
        for name, g in rsicd["groups"].items():
            classes = ", ".join(f"{c} {n}" for c, n in g["largest_group_classes"].items())
            histogram = ", ".join(f"{s}: {c}" for s, c in g["group_size_histogram"].items())
            lines.append(f"| {name} | {g['n_groups']:,} | {g['singletons']:,} | {g['largest_group_size']} | "
                         f"{classes} | {histogram} |")
        stats = rsicd["manifest_stats_source_policy"]
        lines += [
            "",
            f"Records sharing each key with another record: {stats['linked_records']}. "
            f"Source-split policy: {stats['splits']}; groups whose members had different source splits: "
            f"{stats['conflicts']['groups']} ({stats['conflicts']['records']} records), resolved "
            f"{stats['conflicts']['resolved']}.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    rng = np.random.default_rng(SEED)
    results = {"synthetic": synthetic_benchmark(rng)}
    rsicd = rsicd_benchmark()
    if rsicd:
        results["rsicd"] = rsicd
    write_results(HERE / "grouping.json", results, command=COMMAND, seed=SEED)
    (HERE / "grouping.md").write_text(markdown(results))
    print(f"wrote {HERE / 'grouping.json'} and {HERE / 'grouping.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
