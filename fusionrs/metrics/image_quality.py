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
    """10 log10(range^2 / MSE); capped at 100 dB for identical images.

    Args:
        pred: predicted image, a PIL image (converted to L) or an H x W (or H x W x 1) array.
        target: reference image of the same size and kind.
        data_range: peak signal value; default 255 for 8-bit images.

    Returns:
        PSNR in dB as a float (100.0 when the images are identical).

    Raises:
        ValueError: an input is not single-channel, or the two images differ in size.
    """
    p, t = _pair(pred, target)
    mse = float(np.mean((p - t) ** 2))
    return 100.0 if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def mae(pred, target) -> float:
    """Mean absolute error in 8-bit levels.

    Args:
        pred: predicted image, a PIL image (converted to L) or an H x W (or H x W x 1) array.
        target: reference image of the same size and kind.

    Returns:
        The mean of |pred - target| as a float, in the inputs' units (8-bit levels for 8-bit images).

    Raises:
        ValueError: an input is not single-channel, or the two images differ in size.
    """
    p, t = _pair(pred, target)
    return float(np.mean(np.abs(p - t)))


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> np.ndarray:
    """Normalised 2-D Gaussian window (outer product of a sampled 1-D Gaussian), SSIM's weights.

    Args:
        size: window side in pixels; default 11.
        sigma: standard deviation in pixels; default 1.5.

    Returns:
        A (size, size) float64 array whose entries sum to 1.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def ssim_torch(x: "torch.Tensor", y: "torch.Tensor", data_range: float = 1.0) -> "torch.Tensor":
    """Per-image SSIM of B x 1 x H x W tensors (differentiable); returns a B tensor.

    Args:
        x: predicted images, a floating-point B x 1 x H x W tensor with H, W >= 11.
        y: target images, same shape, dtype and device as `x`.
        data_range: value range of the inputs (1.0 for images in [0, 1]); sets the constants C1, C2.

    Returns:
        A length-B tensor of mean SSIM (over valid window positions) per image, differentiable
        with respect to `x` and `y`.
    """
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
    """Mean SSIM (Gaussian 11x11, sigma 1.5, K1 0.01, K2 0.03) of two single-channel images.

    Args:
        pred: predicted image, a PIL image (converted to L) or an H x W (or H x W x 1) array.
        target: reference image of the same size and kind.
        data_range: value range of the inputs; default 255 for 8-bit images.

    Returns:
        Mean SSIM as a float (1.0 for identical images, at most 1).

    Raises:
        ValueError: an input is not single-channel, the two images differ in size, or they are
            smaller than 11 pixels on a side.
    """
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
    """Pearson correlation of the Sobel gradient magnitudes (do edges sit in the same places?).

    Args:
        pred: predicted image, a PIL image (converted to L) or an H x W (or H x W x 1) array.
        target: reference image of the same size and kind.

    Returns:
        The correlation in [-1, 1] as a float; 0.0 when either gradient map is constant.

    Raises:
        ValueError: an input is not single-channel, or the two images differ in size.
    """
    p, t = _pair(pred, target)
    gp, gt = _sobel_magnitude(p).ravel(), _sobel_magnitude(t).ravel()
    gp, gt = gp - gp.mean(), gt - gt.mean()
    denom = np.sqrt((gp**2).sum() * (gt**2).sum())
    return float((gp * gt).sum() / denom) if denom > 0 else 0.0


def image_quality(pred, target) -> dict[str, float]:
    """All four metrics of one prediction/target pair (8-bit scale).

    Args:
        pred: predicted image, a PIL image (converted to L) or an H x W (or H x W x 1) array.
        target: reference image of the same size and kind.

    Returns:
        {"psnr": dB, "ssim": mean SSIM, "mae": 8-bit levels, "edge_corr": Pearson r}, all floats.

    Raises:
        ValueError: an input is not single-channel, the two images differ in size, or they are
            smaller than 11 x 11 pixels (SSIM's window).
    """
    return {"psnr": psnr(pred, target), "ssim": ssim(pred, target), "mae": mae(pred, target),
            "edge_corr": edge_correlation(pred, target)}
