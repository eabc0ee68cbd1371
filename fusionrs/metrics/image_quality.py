"""Full-reference image quality for translated IR: PSNR, SSIM, MAE and edge correlation.

SSIM follows Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, statistics
over "valid" window positions only (no padding), mean of the SSIM map. Inputs are single-channel
images (PIL L or HxW arrays) on the 8-bit scale; `ssim_torch` is the differentiable batch version
used as a training loss (data range 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

__all__ = ["psnr", "ssim", "ssim_torch", "mae", "edge_correlation", "image_quality", "gaussian_window"]

K1, K2, WINDOW, SIGMA = 0.01, 0.03, 11, 1.5


def _array(image: Image.Image | np.ndarray) -> np.ndarray:
    a = np.asarray(image.convert("L") if isinstance(image, Image.Image) else image, dtype=np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"expected a single-channel image, got shape {a.shape}")
    return a


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    p, t = _array(pred), _array(target)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and target {t.shape} differ in size")
    return p, t


def psnr(pred, target, data_range: float = 255.0) -> float:
    """10 log10(range^2 / MSE); capped at 100 dB for identical images."""
    p, t = _pair(pred, target)
    mse = float(np.mean((p - t) ** 2))
    return 100.0 if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def mae(pred, target) -> float:
    """Mean absolute error in 8-bit levels."""
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def ssim_torch(x: "torch.Tensor", y: "torch.Tensor", data_range: float = 1.0) -> "torch.Tensor":
    """Per-image SSIM of B x 1 x H x W tensors (differentiable); returns a B tensor."""
    import torch
    import torch.nn.functional as F

    window = torch.as_tensor(gaussian_window(), dtype=x.dtype, device=x.device)[None, None]
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    sxx = F.conv2d(x * x, window) - mu_x**2
    syy = F.conv2d(y * y, window) - mu_y**2
    sxy = F.conv2d(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return ssim_map.flatten(1).mean(1)


def ssim(pred, target, data_range: float = 255.0) -> float:
    """Mean SSIM (Gaussian 11x11, sigma 1.5, K1 0.01, K2 0.03) of two single-channel images."""
    import torch

    p, t = _pair(pred, target)
    if min(p.shape) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}x{WINDOW}, got {p.shape}")
    to = lambda a: torch.from_numpy(a)[None, None]  # noqa: E731
    return float(ssim_torch(to(p), to(t), data_range=data_range)[0])


def _sobel_magnitude(a: np.ndarray) -> np.ndarray:
    p = np.pad(a, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return np.hypot(gx, gy)


def edge_correlation(pred, target) -> float:
    """Pearson correlation of the Sobel gradient magnitudes (do edges sit in the same places?)."""
    p, t = _pair(pred, target)
    gp, gt = _sobel_magnitude(p).ravel(), _sobel_magnitude(t).ravel()
    gp, gt = gp - gp.mean(), gt - gt.mean()
    denom = np.sqrt((gp**2).sum() * (gt**2).sum())
    return float((gp * gt).sum() / denom) if denom > 0 else 0.0


def image_quality(pred, target) -> dict[str, float]:
    """All four metrics of one prediction/target pair (8-bit scale)."""
    return {"psnr": psnr(pred, target), "ssim": ssim(pred, target), "mae": mae(pred, target),
            "edge_corr": edge_correlation(pred, target)}
