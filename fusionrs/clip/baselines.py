"""No-learning baselines for CLIP retrieval: what a table must beat before a model means anything.

The IR of a FusionRS row is a function of its RGB (the translator's output), so RGB<->IR retrieval is
not trivial only for a model: matching tiny grayscale thumbnails already finds many pairs. Every CLIP
evaluation reports this baseline beside the model (`fusionrs.clip.evaluate.evaluate_clip`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

__all__ = ["THUMBNAIL_SIZE", "thumbnail", "thumbnail_retrieval"]

THUMBNAIL_SIZE = 16


def thumbnail(image: Image.Image, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A flat, zero-mean, unit-norm vector of the image's `size` x `size` grayscale thumbnail.

    Args:
        image: a PIL image of any mode (converted to "L", box-filtered to `size` x `size`).
        size: the thumbnail side in pixels.

    Returns:
        A float32 vector of `size * size` values; all zeros for a flat image.
    """
    small = image.convert("L").resize((size, size), Image.Resampling.BOX)
    v = np.asarray(small, dtype=np.float32).ravel()
    v = v - v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def thumbnail_retrieval(rgb: np.ndarray, ir: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict:
    """RGB->IR and IR->RGB Recall@K by cosine similarity of thumbnails (row i's RGB and IR are a pair).

    Args:
        rgb: (N, D) RGB thumbnails (`thumbnail`), one per row.
        ir: (N, D) IR thumbnails of the same rows, in the same order.
        ks: the cut-offs K.

    Returns:
        {"rgb->ir": {"R@K"...}, "ir->rgb": {...}, "mean_recall": mean over both directions and K,
        "size": the thumbnail side}.

    Raises:
        ValueError: when the two arrays differ in shape.
    """
    from fusionrs.metrics.retrieval import mean_recall, retrieval_recall

    rgb, ir = np.asarray(rgb, np.float32), np.asarray(ir, np.float32)
    if rgb.shape != ir.shape:
        raise ValueError(f"RGB and IR thumbnails differ in shape: {rgb.shape} vs {ir.shape}")
    labels = np.arange(len(rgb))
    out = {"rgb->ir": retrieval_recall(rgb, ir, labels, labels, ks=ks),
           "ir->rgb": retrieval_recall(ir, rgb, labels, labels, ks=ks)}
    side = int(round(np.sqrt(rgb.shape[1]))) if rgb.ndim == 2 and rgb.shape[1] else 0
    return {**out, "mean_recall": mean_recall(out, ("rgb->ir", "ir->rgb"), ks), "size": side}
