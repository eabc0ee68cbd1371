"""Retrieval recall, caption metrics, VQA scores, PSNR/SSIM.

Empty until its issue lands; listed so the layout of DESIGN.md is visible from day one."""
