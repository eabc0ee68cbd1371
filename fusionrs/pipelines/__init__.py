"""Registered transformers/diffusers pipelines over the inference core.

Pipelines load lazily so `import fusionrs.pipelines` stays light: `RGBToIRPipeline` (the fast
one-step translator) and `DiffV2IRPipeline` (the paper's diffusion translator), and the transformers pipelines that
`import fusionrs` registers (`registry.py`): "rgb-ir-feature-extraction", "zero-shot-rgb-ir-classification",
"rgb-ir-captioning".
"""

from __future__ import annotations

import importlib

_MODULES = {
    "RGBToIRPipeline": "rgb_to_ir",
    "RGBToIRPipelineOutput": "rgb_to_ir",
    "DiffV2IRPipeline": "diffv2ir",
    "DiffV2IRPipelineOutput": "diffv2ir",
    "RGBIRFeatureExtractionPipeline": "clip_features",
    "ZeroShotRGBIRClassificationPipeline": "zero_shot",
}
__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"fusionrs.pipelines.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'fusionrs.pipelines' has no attribute {name!r}")
