"""Paired bootstrap confidence intervals for the mean difference of two systems on the same items."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["paired_bootstrap_ci"]


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, resamples: int = 10_000,
                        seed: int = 0) -> dict[str, float]:
    """CI of mean(a - b) by resampling items with replacement (percentile method).

    Returns {"mean_diff", "low", "high", "p_not_better"}; `p_not_better` is the share of resamples
    whose mean difference is <= 0 (a one-sided bootstrap p-value for "a beats b").

    Args:
        a: per-item scores of system A (1-D, one value per item).
        b: per-item scores of system B on the same items, in the same order as `a`.
        confidence: two-sided confidence level of the interval, strictly between 0 and 1; default 0.95.
        resamples: number of bootstrap resamples of the items; default 10 000.
        seed: seed of the `numpy.random.default_rng` generator that draws the resamples.

    Returns:
        A dict with "mean_diff" (the observed mean of a - b), "low" and "high" (the percentile CI
        bounds), "p_not_better" (see above), and "n" (items), "confidence" and "resamples" echoed back.

    Raises:
        ValueError: `a` and `b` differ in shape, are not 1-D or are empty, or `confidence` is not
            strictly between 0 and 1.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two equal-length, non-empty score lists, got {a.shape} and {b.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    diff = a - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    return {"mean_diff": float(diff.mean()), "low": float(np.quantile(means, alpha)),
            "high": float(np.quantile(means, 1 - alpha)), "p_not_better": float((means <= 0).mean()),
            "n": int(len(diff)), "confidence": confidence, "resamples": resamples}
