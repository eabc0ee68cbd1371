"""Records, dataset folders and loading.

The names below load on first use, so importing a light submodule (e.g. `fusionrs.data.sources`
to parse a source spec) does not import `datasets`.
"""

from __future__ import annotations

import importlib

__all__ = ["FEATURES", "FusionRecord", "Provenance", "default_dataset_dir", "load_dataset"]

_HOMES = {
    "FEATURES": "fusionrs.data.schema",
    "FusionRecord": "fusionrs.data.schema",
    "Provenance": "fusionrs.data.schema",
    "default_dataset_dir": "fusionrs.data.loading",
    "load_dataset": "fusionrs.data.loading",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'fusionrs.data' has no attribute {name!r}")
