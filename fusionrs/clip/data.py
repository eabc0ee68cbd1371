"""CLIP training data: one split read once, one decode per image, batches through a torch DataLoader.

Batches are a deterministic function of (seed, step): each epoch is a seeded permutation of the
training rows (`batch_rows`) and captions are drawn from a generator seeded by (seed, step). A step's
item (`StepBatches[step]`) is this process's micro-batches of that global batch, so the same step gives
the same tensors however it is reached: straight through, resumed, or in a DataLoader worker.

Decode once: the split is loaded with only the columns training reads (`load_rows`); a live step
selects its rows once, with only the image columns its views need, and builds RGB and every IR view
from that one decode (`LiveData`). With the feature cache (`CachedData`) a step decodes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CachedData",
    "LiveData",
    "StepBatches",
    "StepFeed",
    "batch_rows",
    "load_rows",
    "micro_batch",
]

# what a training step reads; the feature cache also keeps the row ids
TRAIN_COLUMNS = ("rgb", "ir", "captions", "ir_captions")


def load_rows(data: str | Path | None, split: str = "train", *, limit: int | None = None,
              columns: Sequence[str] = TRAIN_COLUMNS) -> Any:
    """One split of a FusionRS dataset folder with only `columns` (images decode on access).

    Args:
        data: dataset folder, or None for the embedded default.
        split: the split to read.
        limit: keep only the first N rows.
        columns: the columns to keep.

    Returns:
        A `datasets.Dataset`.

    Raises:
        FusionRSError: no such folder, split or column.
    """
    from fusionrs.clip.views import load_split

    return load_split(data, split, limit=limit).select_columns(list(columns))


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_rows(seed: int, step: int, batch_size: int, n: int) -> np.ndarray:
    """Rows of global batch `step`: positions step*B ... in a sequence of seeded epoch permutations.

    Args:
        seed: the run's seed.
        step: the global step.
        batch_size: the global batch size.
        n: the number of training rows.

    Returns:
        `batch_size` row indices.
    """
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    return np.array([_permutation(seed, int(p // n), n)[p % n] for p in positions])


class LiveData:
    """Images and captions read from the dataset each step (no cache).

    Each step decodes every image it needs exactly once: the row selection reads only the image
    columns the views need, and RGB and the IR view are both built from that one decode.
    """

    def __init__(self, rows, processor, max_text_tokens: int):
        self.processor, self.max_text_tokens = processor, max_text_tokens
        self.captions = list(rows["captions"])
        self.ir_captions = list(rows["ir_captions"])
        self._rgb_rows = rows.select_columns(["rgb"])
        self._pair_rows = rows.select_columns(["rgb", "ir"])

    def __len__(self) -> int:
        return len(self.captions)

    def image_views(self, index, views: Sequence[str | None]) -> dict[str | None, Any]:
        """Pixel batches for each view (None: RGB; else an IR view) of the rows `index`.

        Args:
            index: row indices.
            views: None for RGB, or IR view names (`fusionrs.clip.views.IR_VIEWS`).

        Returns:
            view -> (B, 3, H, W) float tensor.
        """
        from fusionrs.clip.views import ir_view_image

        needs_ir = "translated" in views
        chunk = (self._pair_rows if needs_ir else self._rgb_rows)[[int(i) for i in index]]
        rgb, ir = chunk["rgb"], chunk["ir"] if needs_ir else [None] * len(chunk["rgb"])
        out = {}
        for view in views:
            images = rgb if view is None else [ir_view_image(r, i, view) for r, i in zip(rgb, ir)]
            out[view] = self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        return out

    def texts(self, texts: list[str]):
        """Token ids and attention mask of `texts`, padded to the longest.

        Args:
            texts: captions.

        Returns:
            (input_ids, attention_mask), both (B, L).
        """
        enc = self.processor.tokenizer(texts, padding=True, truncation=True, max_length=self.max_text_tokens,
                                       return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]


class CachedData:
    """The same, from the feature cache (caption ids instead of texts); a step decodes no image."""

    def __init__(self, cache):
        self.cache = cache
        self.captions, self.ir_captions = cache.captions, cache.ir_captions

    def __len__(self) -> int:
        return len(self.cache)

    def image_views(self, index, views: Sequence[str | None]) -> dict[str | None, Any]:
        """Cached lower-block states for each view of the rows `index` (see `LiveData.image_views`)."""
        return {view: self.cache.image_batch("rgb" if view is None else view, index) for view in views}

    def texts(self, caption_ids: list[int]):
        """Cached token states and mask of these caption ids."""
        return self.cache.text_batch(caption_ids)


def micro_batch(data, rows: np.ndarray, captions: list[tuple[Any, Any]], needs_ir: bool, needs_ir_text: bool,
                ir_view: str) -> dict[str, Any]:
    """The encoder's inputs for `rows` with their (RGB-text, IR-text) captions.

    Args:
        data: a `LiveData` or `CachedData`.
        rows: row indices.
        captions: one (RGB caption, IR caption) pair per row (texts or cached caption ids).
        needs_ir: the loss reads IR embeddings.
        needs_ir_text: the loss reads IR-text embeddings.
        ir_view: the IR view (`fusionrs.clip.views.IR_VIEWS`).

    Returns:
        rgb, ir, text, text_mask, ir_text, ir_text_mask (None where the loss needs nothing).
    """
    rgb_caps = [c[0] for c in captions]
    ir_caps = [c[1] for c in captions]
    text, text_mask = data.texts(rgb_caps)
    # rgb_duplicate: the RGB image plays IR, so its embedding is the RGB one (same encoder, same input)
    views = [None, ir_view] if needs_ir and ir_view != "rgb_duplicate" else [None]
    pixels = data.image_views(rows, views)
    batch = {"rgb": pixels[None], "text": text, "text_mask": text_mask,
             "ir": None, "ir_text": None, "ir_text_mask": None}
    if needs_ir:
        batch["ir"] = pixels[None] if ir_view == "rgb_duplicate" else pixels[ir_view]
    if needs_ir_text and ir_caps != rgb_caps:
        batch["ir_text"], batch["ir_text_mask"] = data.texts(ir_caps)
    return batch


class StepBatches:
    """Map-style dataset of training steps: item `step` is this process's micro-batches of that step.

    Process `rank` of `world` takes rows rank, rank + world, ... of each micro-batch (the loss gathers
    the shards back into the whole micro-batch; see `fusionrs.clip.losses.gather_rows`).
    """

    def __init__(self, data, *, pairs: Sequence[str], ir_view: str, caption_policy: str, seed: int,
                 batch_size: int, grad_accum: int = 1, rank: int = 0, world: int = 1):
        from fusionrs.clip.losses import TriModalLoss

        loss = TriModalLoss(tuple(pairs))  # the one place that knows which embeddings a loss reads
        self.data, self.ir_view, self.caption_policy, self.seed = data, ir_view, caption_policy, seed
        self.needs_ir, self.needs_ir_text = loss.needs_ir, loss.needs_ir_text
        self.batch_size, self.grad_accum, self.rank, self.world = batch_size, grad_accum, rank, world
        self.micro = batch_size // grad_accum

    def __getitem__(self, step: int) -> list[dict[str, Any]]:
        from fusionrs.clip.views import pick_captions

        rows = batch_rows(self.seed, step, self.batch_size, len(self.data))
        rng = np.random.default_rng([self.seed, step, 1])
        pool = self.data.captions, self.data.ir_captions
        captions = [pick_captions(pool[0][r], pool[1][r], self.caption_policy, rng) for r in rows]
        out = []
        for k in range(self.grad_accum):
            part = slice(k * self.micro + self.rank, (k + 1) * self.micro, self.world)
            out.append(micro_batch(self.data, rows[part], captions[part], self.needs_ir, self.needs_ir_text,
                                   self.ir_view))
        return out


def _as_is(item):
    return item


class StepFeed:
    """Steps `start`..`stop - 1` of a `StepBatches` through a torch DataLoader, asked for step by step.

    `num_workers=0` (the default) builds each step in the training process, right when it is asked
    for; workers build the next steps while the model trains. The loader draws its seed from its own
    generator, never from torch's global RNG, so a run (and its resume) trains on the same random
    stream with or without the loader.
    """

    def __init__(self, steps: StepBatches, stop: int, *, num_workers: int = 0, prefetch_factor: int = 2):
        self.steps, self.stop, self.num_workers, self.prefetch_factor = steps, stop, num_workers, prefetch_factor
        self._iterator = None
        self._next = None

    def loader(self, start: int):
        """A DataLoader over steps `start`..`stop - 1` (one item: one step's micro-batches).

        Args:
            start: the first step.

        Returns:
            A `torch.utils.data.DataLoader`.
        """
        import torch
        from torch.utils.data import DataLoader

        extra = {"prefetch_factor": self.prefetch_factor, "persistent_workers": False} if self.num_workers else {}
        return DataLoader(self.steps, batch_size=None, sampler=range(start, self.stop), collate_fn=_as_is,
                          num_workers=self.num_workers, generator=torch.Generator().manual_seed(self.steps.seed),
                          **extra)

    def micro_batches(self, step: int) -> list[dict[str, Any]]:
        """This process's micro-batches of `step` (a new loader starts when steps are not consecutive).

        Args:
            step: the global step, below `stop`.

        Returns:
            `grad_accum` batches of encoder inputs.
        """
        if self._iterator is None or step != self._next:
            self._iterator = iter(self.loader(step))
        self._next = step + 1
        return next(self._iterator)
