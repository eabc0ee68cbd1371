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
