"""IR-aware captions: prompt, backends (local transformers, OpenAI-compatible HTTP, grounded), strict filter.

    >>> from fusionrs.captions import get_captioner, check_caption
    >>> captioner = get_captioner("grounded")          # or "local:smollm2", "openai:URL:MODEL"
    >>> captioner.caption([ir_image], [["A river runs through a forest."]])
"""

from fusionrs.captions.base import CaptionResult, IRCaptioner, NoIRCaptions
from fusionrs.captions.factory import CAPTIONERS, get_captioner
from fusionrs.captions.filter import REASONS, CaptionFilter, FilterReport, check_caption, main_scene_noun, object_nouns
from fusionrs.captions.grounded import GroundedCaptioner
from fusionrs.captions.measure import IRMeasurement, measure_ir
from fusionrs.captions.prompt import PROMPT_VERSION, SYSTEM_PROMPT, build_messages, extract_caption

__all__ = [
    "CAPTIONERS",
    "CaptionFilter",
    "CaptionResult",
    "FilterReport",
    "GroundedCaptioner",
    "IRCaptioner",
    "IRMeasurement",
    "NoIRCaptions",
    "PROMPT_VERSION",
    "REASONS",
    "SYSTEM_PROMPT",
    "build_messages",
    "check_caption",
    "extract_caption",
    "get_captioner",
    "main_scene_noun",
    "measure_ir",
    "object_nouns",
]
