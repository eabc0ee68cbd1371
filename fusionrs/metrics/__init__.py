"""Metrics with one job each: image quality for translated IR (`image_quality`), retrieval recall
(`retrieval`), caption metrics equal to pycocoevalcap (`captioning`), the paper's lexical F1 / ROUGE-L
with CIs (`lexical`), VQA scores (`vqa`), KID (`kid`) and paired bootstrap CIs (`bootstrap`).

Only the light, torch-free names are imported here; import the submodules for the rest.
"""

from fusionrs.metrics.bootstrap import paired_bootstrap_ci
from fusionrs.metrics.image_quality import edge_correlation, image_quality, mae, psnr, ssim

__all__ = ["edge_correlation", "image_quality", "mae", "paired_bootstrap_ci", "psnr", "ssim"]
