"""Batched iteration for inference: fixed-size batches, one progress bar, no autograd."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from tqdm.auto import tqdm

__all__ = ["batched", "map_batches"]

T = TypeVar("T")
R = TypeVar("R")


def batched(items: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    """Yield lists of `batch_size` items (the last may be shorter); works on any iterable.

    Args:
        items: any iterable; it is consumed lazily, one batch at a time.
        batch_size: the number of items per batch (>= 1).

    Returns:
        An iterator of lists of at most `batch_size` items, in input order; only the last list may
        be shorter, and an empty `items` yields nothing.

    Raises:
        ValueError: when `batch_size` is below 1 (raised on the first `next()`, as this is a generator).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, batch_size)):
        yield batch


def map_batches(
    fn: Callable[[list[T]], Sequence[R]],
    items: Iterable[T],
    *,
    batch_size: int = 8,
    total: int | None = None,
    desc: str | None = None,
    progress: bool = True,
) -> Iterator[R]:
    """Apply `fn` to batches of `items` under `torch.inference_mode` and yield results one by one.

    `fn` must return one result per input; a mismatch raises, because a silently shorter output
    would shift every later result onto the wrong record.

    Args:
        fn: called with each batch (a list of items); must return one result per item, in order.
        items: the inputs; any iterable.
        batch_size: the number of items passed to `fn` per call (default 8).
        total: the item count for the progress bar; None takes `len(items)` when it has one.
        desc: the progress-bar label.
        progress: show the tqdm progress bar (True) or not.

    Returns:
        An iterator over the results of `fn`, one per input item, in input order.

    Raises:
        RuntimeError: when `fn` returns a different number of results than the batch had items.
        ValueError: when `batch_size` is below 1.
    """
    import torch

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with tqdm(total=total, desc=desc, disable=not progress, unit="item") as bar:
        for batch in batched(items, batch_size):
            with torch.inference_mode():
                results = fn(batch)
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} inputs")
            bar.update(len(batch))
            yield from results
