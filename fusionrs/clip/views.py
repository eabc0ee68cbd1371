"""Training variants: which losses, which image plays "IR" in training, which caption pairs with IR.

The paper's ablation changes training only; evaluation always uses the dataset's own IR:
- loss variants: `trimodal` (mean of RGB-text, IR-text, RGB-IR InfoNCE), `dual_text` (RGB-text +
  IR-text), `rgb_text`, `ir_text`;
- IR views: `translated` (the dataset's `ir`), `grayscale` (luma of the RGB), `rgb_duplicate`
  (the RGB image itself fed as IR);
- named ablation variants (`VARIANTS`) combine the two, e.g. `grayscale` = trimodal loss on
  grayscale(RGB) as IR, `rgb_only` = RGB-text loss only.

Caption policy for the IR-text pairs: `original` (the RGB captions), `ir_aware` (the IR-aware
caption where the record has one, else an original one), `mixed` (either, with equal chance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fusionrs.clip.config import CAPTION_POLICIES, IR_VIEWS, LOSS_VARIANTS, VARIANTS
from fusionrs.errors import FusionRSError

__all__ = [
    "CAPTION_POLICIES",
    "IR_VIEWS",
    "LOSS_VARIANTS",
    "VARIANTS",
    "ir_view_image",
    "load_split",
    "pick_captions",
    "resolve_variant",
]


def resolve_variant(variant: str, ir_view: str | None = None) -> tuple[tuple[str, ...], str]:
    """A named variant (optionally with its IR view overridden) -> (loss pairs, IR view).

    Args:
        variant: a name in `VARIANTS`.
        ir_view: an IR view in `IR_VIEWS` that replaces the variant's own; None keeps it.

    Returns:
        `(pairs, view)`: the loss variant's modality pairs (from `LOSS_VARIANTS`) and the IR view name.

    Raises:
        FusionRSError: when `variant` or `ir_view` is unknown.
    """
    if variant not in VARIANTS:
        raise FusionRSError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    loss, view = VARIANTS[variant]
    if ir_view is not None:
        if ir_view not in IR_VIEWS:
            raise FusionRSError(f"unknown IR view {ir_view!r}; choose one of {', '.join(IR_VIEWS)}")
        view = ir_view
    return LOSS_VARIANTS[loss], view


def ir_view_image(rgb: Image.Image, ir: Image.Image, view: str) -> Image.Image:
    """The image that plays IR in training. Single-channel views stay `L` (the processor replicates).

    Args:
        rgb: the record's RGB image.
        ir: the record's (translated) IR image.
        view: "translated", "grayscale" or "rgb_duplicate".

    Returns:
        `ir` unchanged for "translated", the luma of `rgb` (mode L) for "grayscale", or `rgb` in
        RGB mode for "rgb_duplicate".

    Raises:
        FusionRSError: when `view` is unknown.
    """
    if view == "translated":
        return ir
    if view == "grayscale":
        return rgb.convert("RGB").convert("L")  # ITU-R 601 luma, what "grayscale RGB" means in the paper
    if view == "rgb_duplicate":
        return rgb.convert("RGB")
    raise FusionRSError(f"unknown IR view {view!r}; choose one of {', '.join(IR_VIEWS)}")


def pick_captions(captions: list[int], ir_captions: list[int], policy: str,
                  rng: np.random.Generator) -> tuple[int, int]:
    """One caption for the RGB-text pair and one for the IR-text pair (ids or texts alike).

    The RGB side always draws from the original captions. With `original` the IR side uses the same
    draw, so both pairs share one text (and one text forward).

    Args:
        captions: the record's original captions (ids or texts).
        ir_captions: its IR-aware captions (may be empty).
        policy: "original", "ir_aware" or "mixed" (see the module docstring).
        rng: the numpy generator the draws come from.

    Returns:
        `(rgb_caption, ir_caption)`; both are the same original caption for "original", when
        `ir_captions` is empty, and for half the "mixed" draws.

    Raises:
        FusionRSError: when `captions` is empty, or `policy` is unknown (noticed only when
            `ir_captions` is non-empty).
    """
    if not captions:
        raise FusionRSError("a training record has no captions")
    rgb = captions[int(rng.integers(len(captions)))]
    if policy == "original" or not ir_captions:
        return rgb, rgb
    if policy == "ir_aware":
        return rgb, ir_captions[int(rng.integers(len(ir_captions)))]
    if policy == "mixed":
        return (rgb, ir_captions[int(rng.integers(len(ir_captions)))]) if rng.random() < 0.5 else (rgb, rgb)
    raise FusionRSError(f"unknown caption policy {policy!r}; choose one of {', '.join(CAPTION_POLICIES)}")


def load_split(data: str | Path | None, split: str, *, limit: int | None = None) -> Any:
    """A split of a FusionRS dataset folder (None: the embedded default) as a `datasets.Dataset`.

    Images decode on access, so a 5,000-row split costs no memory until it is read.

    Args:
        data: a built dataset folder, or None for the embedded default dataset.
        split: the split name, e.g. "train" or "validation".
        limit: keep only the first `limit` rows; None keeps all.

    Returns:
        The split as a `datasets.Dataset` with at least the rgb, ir, captions and ir_captions columns.

    Raises:
        FusionRSError: when the folder cannot be resolved, has no such split, or the split lacks
            one of those columns.
    """
    from fusionrs.data.loading import load_dataset, resolve_data_dir

    try:
        folder = resolve_data_dir(data)
    except FileNotFoundError as error:
        raise FusionRSError(str(error)) from None
    dataset = load_dataset(folder)
    if split not in dataset:
        raise FusionRSError(f"{folder}: no {split!r} split (has {', '.join(dataset)})")
    rows = dataset[split]
    for column in ("rgb", "ir", "captions", "ir_captions"):
        if column not in rows.column_names:
            raise FusionRSError(f"{folder}: split {split!r} has no {column!r} column")
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    return rows
