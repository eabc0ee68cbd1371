"""Registered transformers/diffusers pipelines over the inference core.

Empty until its issue lands; listed so the layout of DESIGN.md is visible from day one."""
