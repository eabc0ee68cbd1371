"""Moved to `fusionrs.translate.pipeline_rgb_to_ir` (the translator family owns its diffusers pipeline).

This shim keeps `fusionrs.pipelines.rgb_to_ir` importable; the objects are the same.
"""

from fusionrs.translate.pipeline_rgb_to_ir import *  # noqa: F401,F403
from fusionrs.translate.pipeline_rgb_to_ir import RGBToIRPipeline, RGBToIRPipelineOutput, __all__  # noqa: F401
