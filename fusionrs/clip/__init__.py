"""Dual-modal CLIP: composition, tri-modal losses, training, retrieval and zero-shot evaluation.

Empty until its issue lands; listed so the layout of DESIGN.md is visible from day one."""
