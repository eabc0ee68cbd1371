"""`--limit-per-source N`: a seeded sample of N items of a source, stratified by class.

Scene-classification and caption archives are usually listed class by class, so the first N items
of a source are N images of its first class. Instead, each class gets its share of N:

1. **Allocation** (`allocate_per_class`): largest remainder over the class sizes, computed in
   integers (no floating point, so every machine allocates the same), at least one item per class
   while N >= the number of classes. Ties go to the larger class, then to a seeded order of names.
2. **Choice** (`seeded_rank`): within a class, the items with the smallest SHA-256 of
   `"{seed}:{record id}"`. The rank depends on the seed and the id only, never on the listing
   order, so the same N and seed pick the same records everywhere.
3. **Order**: the chosen items keep the source's own order (`sample_per_class`).

Items without a class (`class_name == ""`) form one stratum of their own, so a source without
class labels (procedural world, captions without classes) gets a seeded sample of N, not its first N.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

__all__ = ["LIMIT_RULE", "allocate_per_class", "sample_per_class", "seeded_rank"]

# Named in generation.json and in the stage fingerprint: staged chunks of another rule are never reused.
LIMIT_RULE = "stratified-by-class/largest-remainder/sha256-of-seed-and-id/v1"

T = TypeVar("T")


def seeded_rank(seed: int, key: str) -> str:
    """A pseudo-random, machine-independent sort key of one item for one seed.

    Args:
        seed: the build's seed.
        key: the item's stable identity (its record id).

    Returns:
        The hex SHA-256 of `"{seed}:{key}"`; sorting by it orders items independently of how they
        were listed.
    """
    return hashlib.sha256(f"{seed}:{key}".encode("utf-8", "backslashreplace")).hexdigest()


def allocate_per_class(sizes: Mapping[str, int], n: int, seed: int = 0) -> dict[str, int]:
    """How many of `n` items each class gets: largest remainder, at least one per class when n allows.

    Args:
        sizes: class -> number of items of that class (classes with no items are left out).
        n: the number of items wanted in all.
        seed: breaks ties between classes of equal remainder and size (seeded order of names).

    Returns:
        class -> count, each count at most the class size, summing to `min(n, total)`. With
        n >= total every class is taken whole; with n >= the number of classes every class gets
        at least one (taken from the classes most over their exact share).

    Raises:
        ValueError: `n` is negative.
    """
    if n < 0:
        raise ValueError(f"the per-source limit must be >= 0, got {n}")
    sizes = {c: s for c, s in sizes.items() if s > 0}
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    # exact share of class c: n * size / total; compared as integers over the common denominator `total`
    counts = {c: n * s // total for c, s in sizes.items()}
    by_remainder = sorted(sizes, key=lambda c: (-(n * sizes[c] % total), -sizes[c], seeded_rank(seed, c)))
    for c in by_remainder[: n - sum(counts.values())]:
        counts[c] += 1
    if n >= len(sizes):
        for c in sorted((c for c in sizes if counts[c] == 0), key=lambda c: (-sizes[c], seeded_rank(seed, c))):
            # the donor is the class whose count is furthest above its exact share
            donor = max((d for d in sizes if counts[d] > 1),
                        key=lambda d: (counts[d] * total - n * sizes[d], sizes[d], seeded_rank(seed, d)))
            counts[donor] -= 1
            counts[c] = 1
    return counts


def sample_per_class(items: Sequence[T], n: int, seed: int, *, key: Callable[[T], str],
                     class_of: Callable[[T], str]) -> list[T]:
    """A seeded sample of `n` of `items`, stratified by class, in the items' own order.

    Args:
        items: the candidates, in the source's order.
        n: how many to keep.
        seed: the build's seed.
        key: an item's stable identity (its record id): the rank hashes it with the seed.
        class_of: an item's class ("" for an unlabelled item: one stratum of its own).

    Returns:
        The chosen items (all of them when `n >= len(items)`), in their order in `items`; which
        items are chosen does not depend on that order (ties between equal keys excepted).
    """
    if n >= len(items):
        return list(items)
    classes = [class_of(item) for item in items]
    counts = allocate_per_class(Counter(classes), n, seed)
    members: dict[str, list[int]] = {}
    for position, cls in enumerate(classes):
        members.setdefault(cls, []).append(position)
    chosen: set[int] = set()
    for cls, positions in members.items():
        ranked = sorted(positions, key=lambda p: (seeded_rank(seed, key(items[p])), p))
        chosen.update(ranked[: counts.get(cls, 0)])
    return [item for position, item in enumerate(items) if position in chosen]
