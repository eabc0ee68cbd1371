"""Moved to `fusionrs.translate.pipeline_diffv2ir` (the translator family owns its diffusers pipeline).

This shim keeps `fusionrs.pipelines.diffv2ir` importable; the objects are the same.
"""

from fusionrs.translate.pipeline_diffv2ir import *  # noqa: F401,F403
from fusionrs.translate.pipeline_diffv2ir import (  # noqa: F401
    DEFAULT_EDIT_PROMPT,
    DiffV2IRPipeline,
    DiffV2IRPipelineOutput,
    __all__,
    caption_prompt,
    compvis_sigmas,
    diffv2ir_scheduler,
)
