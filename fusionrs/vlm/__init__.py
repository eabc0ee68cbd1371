"""Dual-modal captioning VLMs: build/load, chat formatting, LoRA training, generation.

Empty until its issue lands; listed so the layout of DESIGN.md is visible from day one."""
