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
    """Yield lists of `batch_size` items (the last may be shorter); works on any iterable."""
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
