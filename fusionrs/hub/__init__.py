"""Cards from model_cards/, push/pull and offline-aware resolution.

Empty until its issue lands; listed so the layout of DESIGN.md is visible from day one."""
