"""Registered transformers/diffusers pipelines over the inference core.

Pipelines load lazily so `import fusionrs.pipelines` stays light: `RGBToIRPipeline` (the fast
one-step translator) and `DiffV2IRPipeline` (the paper's diffusion translator), which live with their
model family in `fusionrs.translate` and are re-exported here, and the transformers pipelines that
`import fusionrs` registers (`registry.py`): "rgb-ir-feature-extraction", "zero-shot-rgb-ir-classification",
"rgb-ir-captioning".
"""

from __future__ import annotations

import importlib

# name -> the module that defines it (the diffusers pipelines belong to the translator family)
_MODULES = {
    "RGBToIRPipeline": "fusionrs.translate.pipeline_rgb_to_ir",
    "RGBToIRPipelineOutput": "fusionrs.translate.pipeline_rgb_to_ir",
    "DiffV2IRPipeline": "fusionrs.translate.pipeline_diffv2ir",
    "DiffV2IRPipelineOutput": "fusionrs.translate.pipeline_diffv2ir",
    "RGBIRFeatureExtractionPipeline": "fusionrs.pipelines.clip_features",
    "ZeroShotRGBIRClassificationPipeline": "fusionrs.pipelines.zero_shot",
    "RGBIRCaptioningPipeline": "fusionrs.pipelines.captioning",
}
__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'fusionrs.pipelines' has no attribute {name!r}")
