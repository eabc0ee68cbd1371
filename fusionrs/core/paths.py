"""The one place that says where fusionrs caches things (generated data, converted models, replies).

A core leaf: every stage may ask for the cache path without importing `fusionrs.data`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """Where fusionrs caches generated data: `$FUSIONRS_CACHE`, else `$HF_HOME/fusionrs`, else
    `~/.cache/fusionrs`."""
    if os.environ.get("FUSIONRS_CACHE"):
        return Path(os.environ["FUSIONRS_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(hf_home).expanduser() / "fusionrs"
    return Path.home() / ".cache" / "fusionrs"
