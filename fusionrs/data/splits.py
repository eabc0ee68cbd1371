"""Group-aware train/validation/test splits whose keys never depend on the translator.

Every record gets a `SplitKey` at staging time, from its RGB pixels (IR for IR-only records) and
its source captions. Records are linked when they are near-duplicate images (pHash within
`max_distance` bits, any of the crop hashes included), have identical decoded pixels, are the
same source item, or carry the same caption key; each connected component goes whole into one
split, so no near-duplicate of a test image is trained on. Because translated IR and generated
captions are not inputs, every translator sees the same splits.

The result is a `SplitManifest` (saved as JSON) mapping record id to split, group id and
evaluation-representative flag. See docs/splits.md for the policies and the numbers on RSICD.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from fusionrs.data.dedup import (
    CROP_FRACTION,
    caption_key,
    connected_components,
    crop_phashes,
    near_duplicate_components,
    phash64,
    pixel_hash,
)
from fusionrs.data.schema import FusionRecord, ImageLike
from fusionrs.data.sources.base import SPLIT_ALIASES

__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLIT_ALIASES",
    "SplitKey",
    "SplitManifest",
    "describe_split_policy",
    "group_records",
    "make_splits",
    "split_key",
    "split_key_for_record",
]

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}

# When a group's members come from different source splits, the whole group goes to the most
# held-out one: training on a near-duplicate of a test image is the leak we exist to prevent.
_HELDOUT_RANK = {"train": 0, "validation": 1, "test": 2}
_MANIFEST_FORMAT = "fusionrs-split-manifest"
_MANIFEST_VERSION = 1
_KEY_KINDS = ("phash", "pixel_hash", "source_id", "caption_key")
# What each kind of link is, in the words of the dataset card (`describe_split_policy`): keep them true to
# `split_key` and `_key_links` below.
_KEY_WORDING = {
    "phash": "64-bit DCT pHashes of the source image (RGB; IR only for IR-only records) within Hamming distance "
             "{max_distance}{crops}",
    "pixel_hash": "the same SHA-256 of the decoded source pixels",
    "source_id": "the same source item",
    "caption_key": "the same set of normalised source captions (NFKC, casefold, punctuation stripped)",
}


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class SplitKey:
    """What a record is grouped by: computed from source pixels and captions, never translator output.

    `crop_phashes` (optional) are pHashes of slightly cropped versions of the same image; a plain
    pHash misses many 3% crops (see `fusionrs.data.dedup.crop_phashes`).
    """

    id: str
    source_dataset: str
    source_id: str
    phash: int
    pixel_hash: str
    caption_key: str
    source_split: str | None = None
    crop_phashes: tuple[int, ...] = ()


def split_key(
    record_id: str,
    image: ImageLike,
    captions: Sequence[str],
    *,
    source_dataset: str,
    source_id: str,
    source_split: str | None = None,
    with_crops: bool = True,
) -> SplitKey:
    """Compute a record's `SplitKey` from its source image (PIL or encoded bytes) and captions.

    Args:
        record_id: the record's id.
        image: the source image: a PIL image, or encoded bytes (decoded; modes other than RGB and
            L converted to RGB).
        captions: the record's source captions (for the caption key).
        source_dataset: the name of the record's source.
        source_id: the record's id within its source ("" links nothing).
        source_split: the source's own split name for the record, or None.
        with_crops: also compute the five crop pHashes (`crop_phashes`); default True.

    Returns:
        The record's `SplitKey`.
    """
    if isinstance(image, bytes):
        with Image.open(io.BytesIO(image)) as opened:
            image = opened.convert("RGB") if opened.mode not in ("RGB", "L") else opened.copy()
    return SplitKey(
        id=record_id,
        source_dataset=source_dataset,
        source_id=source_id,
        phash=phash64(image),
        pixel_hash=pixel_hash(image),
        caption_key=caption_key(captions),
        source_split=source_split,
        crop_phashes=crop_phashes(image) if with_crops else (),
    )


def split_key_for_record(record: FusionRecord, *, source_split: str | None = None, with_crops: bool = True) -> SplitKey:
    """`split_key` of a staged record: its RGB image, or its IR image when it has no RGB.

    Call this before translation: the IR of an RGB record is translator output and is ignored.

    Args:
        record: a staged `FusionRecord`.
        source_split: the source's own split name for the record, or None.
        with_crops: also compute the crop pHashes; default True.

    Returns:
        The record's `SplitKey`, keyed by `record.id`, `record.source_dataset` and
        `record.source_id`.

    Raises:
        ValueError: the record has neither an RGB nor an IR image.
    """
    image = record.rgb if record.rgb is not None else record.ir
    if image is None:
        raise ValueError(f"record {record.id!r} has neither an RGB nor an IR image")
    return split_key(
        record.id,
        image,
        record.captions,
        source_dataset=record.source_dataset,
        source_id=record.source_id,
        source_split=source_split,
        with_crops=with_crops,
    )


# --------------------------------------------------------------------------- grouping


def _equal_value_pairs(values: Sequence[Any], keep: Sequence[bool] | None = None) -> np.ndarray:
    """Pairs (first record with a value, other record with it): links records sharing a value.

    A star per value instead of all pairs keeps the edge count linear however common a value is;
    a dict keeps long caption keys exact without building a wide string array.
    """
    first: dict[Any, int] = {}
    pairs = [
        (first.setdefault(value, index), index)
        for index, value in enumerate(values)
        if keep is None or keep[index]
    ]
    return np.array([p for p in pairs if p[0] != p[1]], dtype=np.int64).reshape(-1, 2)


def _phash_pairs(keys: Sequence[SplitKey], max_distance: int) -> np.ndarray:
    """Links between records whose pHashes (main or crop) are within `max_distance` bits."""
    hashes = [key.phash for key in keys]
    owners = list(range(len(keys)))
    for record, key in enumerate(keys):
        hashes.extend(key.crop_phashes)
        owners.extend([record] * len(key.crop_phashes))
    # A record's own hashes start joined; the first len(keys) labels are the records' main hashes.
    labels = near_duplicate_components(np.array(hashes, dtype=np.uint64), max_distance, linked=np.array(owners))
    return _equal_value_pairs(labels[: len(keys)].tolist())


def _key_links(keys: Sequence[SplitKey], max_distance: int) -> dict[str, np.ndarray]:
    """Record pairs linked by each kind of key (empty pixel hash, source id or caption key: no link)."""
    source_ids = [f"{k.source_dataset}\x00{k.source_id}" for k in keys]
    return {
        "phash": _phash_pairs(keys, max_distance),
        "pixel_hash": _equal_value_pairs([k.pixel_hash for k in keys], [bool(k.pixel_hash) for k in keys]),
        "source_id": _equal_value_pairs(source_ids, [bool(k.source_id) for k in keys]),
        "caption_key": _equal_value_pairs([k.caption_key for k in keys], [bool(k.caption_key) for k in keys]),
    }


def _components(n_records: int, links: dict[str, np.ndarray]) -> np.ndarray:
    pairs = [p for p in links.values() if p.size]
    return connected_components(n_records, np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64))


def group_records(keys: Sequence[SplitKey], *, max_distance: int = 4) -> np.ndarray:
    """Component label per record (in `keys` order): union-find over all four kinds of link.

    Args:
        keys: one `SplitKey` per record.
        max_distance: the largest pHash Hamming distance (bits) that links two records; default 4.

    Returns:
        An `(len(keys),)` int64 array of group labels 0..K-1, numbered by each group's first record.
    """
    return _components(len(keys), _key_links(keys, max_distance))


# --------------------------------------------------------------------------- split assignment


@dataclass
class _Group:
    group_id: str
    members: list[str]  # sorted ids
    sources: Counter  # source_dataset -> member count
    source_splits: set[str]  # canonical names present among members

    @property
    def size(self) -> int:
        return len(self.members)


def _group_id(member_ids: Sequence[str]) -> str:
    """Stable name from the sorted member ids only: same members, same id, for any translator."""
    return "g" + hashlib.sha256("\n".join(sorted(member_ids)).encode()).hexdigest()[:12]


def _canonical_split(name: str | None, record_id: str) -> str | None:
    if name is None or name == "":
        return None
    try:
        return SPLIT_ALIASES[name.lower()]
    except KeyError:
        raise ValueError(
            f"record {record_id!r}: source split {name!r} is not one of {sorted(SPLIT_ALIASES)}"
        ) from None


def _build_groups(keys: Sequence[SplitKey], labels: np.ndarray) -> list[_Group]:
    members: dict[int, list[SplitKey]] = {}
    for key, label in zip(keys, labels.tolist()):
        members.setdefault(label, []).append(key)
    groups = []
    for group_keys in members.values():
        ids = sorted(k.id for k in group_keys)
        splits = {_canonical_split(k.source_split, k.id) for k in group_keys} - {None}
        groups.append(_Group(_group_id(ids), ids, Counter(k.source_dataset for k in group_keys), splits))
    return sorted(groups, key=lambda g: g.group_id)


def _seeded_rank(group: _Group, seed: int) -> str:
    """A per-group pseudo-random sort key that depends on the seed and the members only."""
    return hashlib.sha256(f"{seed}:{group.group_id}".encode()).hexdigest()


def _resplit(
    groups: list[_Group],
    fractions: dict[str, float],
    min_heldout_per_source: int,
    seed: int,
    counts: dict[str, Counter],
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Assign whole groups to splits by `fractions`, minimum held-out records per source first.

    1. For each held-out split and source still short of `min_heldout_per_source`, take that
       source's smallest groups (seeded order) -- but always leave one of its groups for train.
    2. The rest, in seeded order (groups over 1% of the records first, so they land where there
       is room, normally train), go to the split furthest below its target, targets being fractions of *each source's*
       records (stratified by source; a multi-source group weighs each source by its members).
    `counts` (split -> source -> records) already holds records placed elsewhere and is updated.
    Returns group_id -> split, and the minimums that could not be met.
    """
    assignment: dict[str, str] = {}
    heldout = sorted((s for s, f in fractions.items() if s != "train" and f > 0), key=lambda s: -_HELDOUT_RANK[s])
    by_size = sorted(groups, key=lambda g: (g.size, _seeded_rank(g, seed)))
    unmet: dict[str, dict[str, int]] = {}

    def place(group: _Group, split: str) -> None:
        assignment[group.group_id] = split
        counts.setdefault(split, Counter()).update(group.sources)

    sources = sorted({s for g in groups for s in g.sources})
    for split in heldout if min_heldout_per_source > 0 else []:
        for source in sources:
            open_groups = [g for g in by_size if g.group_id not in assignment and source in g.sources]
            taken = 0
            while counts.get(split, Counter())[source] < min_heldout_per_source and taken < len(open_groups) - 1:
                place(open_groups[taken], split)
                taken += 1
            if counts.get(split, Counter())[source] < min_heldout_per_source:
                unmet.setdefault(source, {})[split] = counts.get(split, Counter())[source]

    # Targets per source (stratified): every source gets its fractions, not just the total.
    totals: Counter = Counter()
    for group in groups:
        totals.update(group.sources)
    placed = {split: Counter() for split in fractions}
    for group in groups:
        if group.group_id in assignment:
            placed[assignment[group.group_id]].update(group.sources)
    order = list(fractions)

    def deficit(group: _Group, split: str) -> float:
        return sum(n * (fractions[split] * totals[src] - placed[split][src]) for src, n in group.sources.items())

    # Seeded order, so group sizes are spread evenly over splits (largest-first would send every
    # duplicate group to train); only groups over 1% of the records go first, where they fit.
    large = 0.01 * sum(totals.values())
    for group in sorted(groups, key=lambda g: (-g.size if g.size > large else 0, _seeded_rank(g, seed))):
        if group.group_id in assignment:
            continue
        split = max(order, key=lambda s: (deficit(group, s), -order.index(s)))
        place(group, split)
        placed[split].update(group.sources)
    return assignment, unmet


def _check_fractions(fractions: dict[str, float]) -> None:
    if not fractions or any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    unknown = set(fractions) - set(_HELDOUT_RANK)
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}; use {sorted(_HELDOUT_RANK)}")


def describe_split_policy(
    policy: str = "source",
    *,
    fractions: dict[str, float] | None = None,
    min_heldout_per_source: int = 0,
    seed: int = 0,
    max_distance: int = 4,
    keys: Sequence[str] = _KEY_KINDS,
    crop_phashes: bool = True,
) -> str:
    """How `make_splits` grouped and assigned records, in words: what a dataset card says about its splits.

    Takes the fields of `SplitManifest.config` (`describe_split_policy(**manifest.config)`), which
    a build also records in generation.json.

    Args:
        policy: "source" or "resplit", as given to `make_splits`.
        fractions: the split fractions (None: `DEFAULT_FRACTIONS`).
        min_heldout_per_source: the minimum held-out records per source (0: none).
        seed: the seed of the group order.
        max_distance: the pHash Hamming distance that links two records.
        keys: the kinds of link used (`_KEY_KINDS`).
        crop_phashes: whether records also carried crop pHashes.

    Returns:
        A Markdown paragraph (several sentences).

    Raises:
        ValueError: `policy` or a kind in `keys` is unknown.
    """
    if policy not in ("source", "resplit"):
        raise ValueError(f"policy must be 'source' or 'resplit', got {policy!r}")
    unknown = [k for k in keys if k not in _KEY_WORDING]
    if unknown:
        raise ValueError(f"unknown split key kinds {unknown}; known: {', '.join(_KEY_KINDS)}")
    crops = f", including pHashes of 5 crops cutting {CROP_FRACTION:.0%} of each side" if crop_phashes else ""
    links = "; ".join(_KEY_WORDING[k].format(max_distance=max_distance, crops=crops) for k in keys)
    shares = " / ".join(f"{name} {share:g}" for name, share in (fractions or DEFAULT_FRACTIONS).items())
    seeded = f"placed whole in seeded order (seed {seed}) by record fractions {shares}, stratified by source"
    if min_heldout_per_source:
        seeded += (f", at least {min_heldout_per_source} records of every source in each held-out split where "
                   "the source has enough groups")
    placement = (
        "Each source's own split is kept; a group whose members disagree goes to its most held-out split "
        f"(test > validation > train); groups without a source split are {seeded}."
        if policy == "source" else f"Source splits are ignored: groups are {seeded}.")
    return ("Records are linked by any of these keys, computed from source pixels and source captions only "
            f"(never from translated IR or generated captions): {links}. Linked records form "
            "groups (connected components), and every group goes whole into one split. " + placement
            + " `is_eval_representative` marks one record per group (its smallest id) for evaluation.")


# --------------------------------------------------------------------------- manifest


@dataclass
class SplitManifest:
    """Which split each record belongs to, with its group and evaluation-representative flag.

    `assignments`: id -> {"split", "group_id", "is_eval_representative"}. Every group has exactly
    one representative (its smallest id), in train as well as in held-out splits, so evaluation
    reads one row per group and training may use the flag for de-duplicated sampling.
    """

    assignments: dict[str, dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        payload = {
            "format": _MANIFEST_FORMAT,
            "version": _MANIFEST_VERSION,
            "config": self.config,
            "stats": self.stats,
            "assignments": {k: self.assignments[k] for k in sorted(self.assignments)},
        }
        Path(path).write_text(json.dumps(payload, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SplitManifest":
        payload = json.loads(Path(path).read_text())
        if payload.get("format") != _MANIFEST_FORMAT:
            raise ValueError(f"{path}: not a fusionrs split manifest (format={payload.get('format')!r})")
        return cls(assignments=payload["assignments"], config=payload["config"], stats=payload["stats"])

    def ids(self, split: str) -> list[str]:
        """Sorted ids of the records in `split`."""
        return sorted(i for i, a in self.assignments.items() if a["split"] == split)


def make_splits(
    keys: Sequence[SplitKey],
    *,
    policy: Literal["source", "resplit"] = "source",
    fractions: dict[str, float] | None = None,
    min_heldout_per_source: int = 0,
    seed: int = 0,
    max_distance: int = 4,
) -> SplitManifest:
    """Group records and assign every group whole to one split.

    policy="source" keeps each source's own split; a group whose members disagree goes to its
    most held-out split (test > validation > train); groups with no source split are placed as
    by "resplit". policy="resplit" ignores source splits: seeded assignment of whole groups by
    `fractions` (of records), with at least `min_heldout_per_source` records of every source in
    each held-out split where the source has enough groups. Only the ids and keys matter, not
    their order: shuffled keys give the same manifest.

    Args:
        keys: one `SplitKey` per record; ids must be unique.
        policy: "source" (keep source splits) or "resplit" (assign by `fractions`); default "source".
        fractions: share of records per split name (train, validation, test), summing to 1;
            None uses `DEFAULT_FRACTIONS` (0.8 / 0.1 / 0.1).
        min_heldout_per_source: records of every source each held-out split should get at least
            (resplit and unsplit groups only; 0 disables); shortfalls go to stats["min_heldout_unmet"].
        seed: seed of the group order in resplit assignment.
        max_distance: the largest pHash Hamming distance (bits) that links two records; default 4.

    Returns:
        A `SplitManifest` with per-record assignments, the config used and the grouping stats.

    Raises:
        ValueError: `fractions` are negative, do not sum to 1 or name an unknown split; `policy` is
            unknown; record ids repeat; or a key's source split is not in `SPLIT_ALIASES`.
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    _check_fractions(fractions)
    if policy not in ("source", "resplit"):
        raise ValueError(f"policy must be 'source' or 'resplit', got {policy!r}")
    keys = sorted(keys, key=lambda k: k.id)
    duplicated = [a.id for a, b in zip(keys, keys[1:]) if a.id == b.id]
    if duplicated:
        raise ValueError(f"record ids must be unique; repeated: {duplicated[:5]}")

    links = _key_links(keys, max_distance)
    groups = _build_groups(keys, _components(len(keys), links))
    counts: dict[str, Counter] = {}
    assignment: dict[str, str] = {}
    conflicts: Counter = Counter()
    if policy == "source":
        for group in groups:
            if group.source_splits:
                split = max(group.source_splits, key=_HELDOUT_RANK.__getitem__)
                assignment[group.group_id] = split
                counts.setdefault(split, Counter()).update(group.sources)
                if len(group.source_splits) > 1:
                    present = "+".join(sorted(group.source_splits, key=_HELDOUT_RANK.__getitem__))
                    conflicts[f"{present} -> {split}"] += 1
        unsplit = [g for g in groups if g.group_id not in assignment]
    else:
        unsplit = groups
    placed, unmet = _resplit(unsplit, fractions, min_heldout_per_source, seed, counts)
    assignment.update(placed)

    assignments = {
        member: {
            "split": assignment[g.group_id],
            "group_id": g.group_id,
            "is_eval_representative": member == g.members[0],  # smallest id of the group
        }
        for g in groups
        for member in g.members
    }
    config = {
        "policy": policy,
        "fractions": fractions,
        "min_heldout_per_source": min_heldout_per_source,
        "seed": seed,
        "max_distance": max_distance,
        "keys": list(_KEY_KINDS),
        "crop_phashes": any(k.crop_phashes for k in keys),
    }
    stats = _stats(keys, groups, assignment, links, conflicts, unmet)
    return SplitManifest(assignments=assignments, config=config, stats=stats)


def _stats(
    keys: Sequence[SplitKey],
    groups: list[_Group],
    assignment: dict[str, str],
    links: dict[str, np.ndarray],
    conflicts: Counter,
    unmet: dict[str, dict[str, int]],
) -> dict[str, Any]:
    """Numbers a reader needs to trust the split: group sizes, link kinds, per-split/source counts."""
    largest = max(groups, key=lambda g: (g.size, g.group_id), default=None)
    sizes = Counter(g.size for g in groups)
    per_split: dict[str, dict[str, int]] = {}
    for group in groups:
        entry = per_split.setdefault(assignment[group.group_id], {"records": 0, "groups": 0})
        entry["records"] += group.size
        entry["groups"] += 1  # = evaluation representatives in that split
    per_source: dict[str, Counter] = {}
    for group in groups:
        for source, n in group.sources.items():
            per_source.setdefault(source, Counter())[assignment[group.group_id]] += n
    conflicted = [g for g in groups if len(g.source_splits) > 1]
    return {
        "n_records": len(keys),
        "n_groups": len(groups),
        "largest_group": None if largest is None else {
            "group_id": largest.group_id,
            "size": largest.size,
            "sources": dict(sorted(largest.sources.items())),
            "example_ids": largest.members[:5],
        },
        "group_size_histogram": {str(size): sizes[size] for size in sorted(sizes)},
        # Records sharing each kind of key with at least one other record: why groups formed.
        "linked_records": {kind: int(np.unique(pairs).size) for kind, pairs in links.items()},
        "splits": {s: per_split[s] for s in sorted(per_split, key=lambda s: _HELDOUT_RANK.get(s, 9))},
        "sources": {source: dict(sorted(c.items())) for source, c in sorted(per_source.items())},
        "conflicts": {
            "groups": len(conflicted),
            "records": sum(g.size for g in conflicted),
            "resolved": dict(sorted(conflicts.items())),
            "example_group_ids": [g.group_id for g in conflicted[:10]],
        },
        "min_heldout_unmet": unmet,
    }
