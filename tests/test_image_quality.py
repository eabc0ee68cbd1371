"""PSNR / SSIM / MAE / edge correlation against hand-computed cases, and the paired bootstrap."""

import numpy as np
import pytest

from fusionrs.metrics import edge_correlation, mae, paired_bootstrap_ci, psnr, ssim
from fusionrs.metrics.image_quality import image_quality


def _reference_ssim(a: np.ndarray, b: np.ndarray, L: float = 255.0) -> float:
    """Wang et al. (2004) written out window by window: Gaussian 11x11, sigma 1.5, valid positions."""
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    a, b = a.astype(np.float64), b.astype(np.float64)
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_psnr_and_mae_by_hand():
    a = np.zeros((4, 4), np.uint8)
    b = np.full((4, 4), 10, np.uint8)
    assert mae(a, b) == 10
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(a, a) == 100.0


def test_ssim_identical_is_one_and_matches_reference():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (24, 30)).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(_reference_ssim(a, b), abs=1e-9)
    assert ssim(a, b) < 0.99
    with pytest.raises(ValueError):
        ssim(a[:5], b[:5])


def test_edge_correlation_and_bundle():
    a = np.zeros((32, 32), np.uint8)
    a[:, 16:] = 200
    assert edge_correlation(a, a) == pytest.approx(1.0)
    assert edge_correlation(a, a.T) < 0.5
    assert set(image_quality(a, a)) == {"psnr", "ssim", "mae", "edge_corr"}


def test_paired_bootstrap_ci():
    ci = paired_bootstrap_ci([3.0] * 10, [1.0] * 10)
    assert ci["mean_diff"] == ci["low"] == ci["high"] == pytest.approx(2.0)
    assert ci["p_not_better"] == 0.0
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 1.0, 200)
    ci = paired_bootstrap_ci(a, np.zeros(200))
    assert ci["low"] < ci["mean_diff"] < ci["high"]
    assert ci["low"] > 0.6 and ci["high"] < 1.4
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0], [1.0, 2.0])
