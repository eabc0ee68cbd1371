"""Kernel Inception Distance (KID) on DINOv2-S features: how far translated IR is from real IR.

KID (Binkowski et al., ICLR 2018) is the squared maximum mean discrepancy (MMD^2) between two sets of
image features under the cubic polynomial kernel k(x, y) = (x . y / d + 1)^3. Unlike FID it has an
unbiased estimator, so it is meaningful for the few hundred images a real-thermal reference set
offers, and it is ~0 (it can be slightly negative) when both sets come from one distribution.

The estimate is averaged over random subsets (the usual 100 subsets of 100 images), and the spread
over subsets is reported as `kid_std`. Values are raw MMD^2; papers often print KID x 1000 (or x 100),
so multiply before comparing with a table. See docs/kid.md for why DINOv2-S replaces Inception here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["kid_from_features", "kid_score", "polynomial_kernel", "unbiased_mmd2"]

_FEATURE_KWARGS = ("batch_size", "image_size", "progress", "device")


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The KID kernel (x . y / d + 1)^3; dividing by d keeps it scale-free across feature sizes.

    Args:
        x: (n, d) feature matrix, one row per image.
        y: (m, d) feature matrix of the same width d.

    Returns:
        The (n, m) kernel matrix.
    """
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples (diagonals of the within-set kernels left out).

    Args:
        x: (m, d) features of the first sample, m >= 2.
        y: (m, d) features of the second sample (the same number of rows and width).

    Returns:
        The unbiased MMD^2 estimate as a float (it can be slightly negative).
    """
    m = x.shape[0]
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def _check_features(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be 2-D with the same width, got shapes {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("features contain NaN or inf")
    return a, b


def _canonical_order(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order the two sets by content so that kid(a, b) == kid(b, a) exactly: the estimator is
    symmetric, but the random subsets would otherwise depend on which set came first."""
    key_a = (len(a), hashlib.sha256(a.tobytes()).digest())
    key_b = (len(b), hashlib.sha256(b.tobytes()).digest())
    return (a, b) if key_a <= key_b else (b, a)


def kid_from_features(
    a: np.ndarray,
    b: np.ndarray,
    *,
    subset_size: int = 100,
    n_subsets: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """KID between two feature sets (rows are images): mean and std of unbiased MMD^2 over subsets.

    Each subset draws min(subset_size, len(a), len(b)) rows from each set without replacement.
    When both sets have that many rows, every subset holds all of them and the result is the exact
    full-sample unbiased MMD^2 (std ~0).

    Args:
        a: (n_a, d) features of the first image set, one row per image.
        b: (n_b, d) features of the second image set, the same width d.
        subset_size: rows drawn from each set per subset (capped at the smaller set); >= 2, default 100.
        n_subsets: number of random subsets averaged; >= 1, default 100.
        seed: seed of the generator that draws the subsets.

    Returns:
        A dict: "kid_mean" and "kid_std" (raw MMD^2 over the subsets), "subset_size" (the size
        actually used), "n_subsets", "seed", "n_a", "n_b" and "feature_dim".

    Raises:
        ValueError: subset_size < 2 or n_subsets < 1; the features are not 2-D with the same width,
            a set has fewer than 2 rows, or they contain NaN or inf.
    """
    if subset_size < 2 or n_subsets < 1:
        raise ValueError(f"need subset_size >= 2 and n_subsets >= 1, got {subset_size} and {n_subsets}")
    a, b = _check_features(a, b)
    n_a, n_b = len(a), len(b)
    a, b = _canonical_order(a, b)
    m = min(subset_size, n_a, n_b)
    rng = np.random.default_rng(seed)
    estimates = np.empty(n_subsets)
    for i in range(n_subsets):
        rows_a = rng.choice(len(a), m, replace=False)
        rows_b = rng.choice(len(b), m, replace=False)
        estimates[i] = unbiased_mmd2(a[rows_a], b[rows_b])
    return {
        "kid_mean": float(estimates.mean()),
        "kid_std": float(estimates.std()),
        "subset_size": m,
        "n_subsets": n_subsets,
        "seed": seed,
        "n_a": n_a,
        "n_b": n_b,
        "feature_dim": int(a.shape[1]),
    }


def kid_score(images_a: Sequence[Image.Image], images_b: Sequence[Image.Image], **kw: Any) -> dict[str, Any]:
    """KID between two image sets on DINOv2-S CLS features (224 px, see `fusionrs.core.dinov2`).

    Keyword arguments go to `dinov2_features` (batch_size, image_size, progress, device) or to
    `kid_from_features` (subset_size, n_subsets, seed).

    Args:
        images_a: first image set (PIL images).
        images_b: second image set (PIL images).
        **kw: batch_size, image_size (default 224), progress and device for the feature
            extraction; subset_size, n_subsets and seed for `kid_from_features`.

    Returns:
        The `kid_from_features` dict plus "features" ("dinov2-small CLS") and "image_size".

    Raises:
        ValueError: as `kid_from_features`, e.g. a set with fewer than 2 images.
        TypeError: an unknown keyword argument.
    """
    from fusionrs.core.dinov2 import dinov2_features

    feature_kw = {key: kw.pop(key) for key in _FEATURE_KWARGS if key in kw}
    features_a = dinov2_features(images_a, **feature_kw)
    features_b = dinov2_features(images_b, **feature_kw)
    result = kid_from_features(features_a, features_b, **kw)
    result.update(features="dinov2-small CLS", image_size=feature_kw.get("image_size", 224))
    return result
