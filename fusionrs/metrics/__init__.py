"""Retrieval recall, caption metrics, VQA scores, PSNR/SSIM.

Today: full-reference image quality for translated IR (`image_quality`) and paired bootstrap CIs.
"""

from fusionrs.metrics.bootstrap import paired_bootstrap_ci
from fusionrs.metrics.image_quality import edge_correlation, image_quality, mae, psnr, ssim

__all__ = ["edge_correlation", "image_quality", "mae", "paired_bootstrap_ci", "psnr", "ssim"]
