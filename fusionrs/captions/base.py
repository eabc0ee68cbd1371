"""The `IRCaptioner` stage interface: IR image + original captions -> IR-aware caption or a rejection.

The baseline `none` ("no IR-aware captions") is the paper's condition without them: records keep
an empty `ir_captions` list. Model-backed captioners are named by spec strings:

- `grounded`: measures the IR image and states only what it measured (no model);
- `local:PATH_OR_NAME`: a local transformers chat model (`local:smollm2` = the packaged SmolLM2-135M-Instruct);
- `openai:URL:MODEL`: an OpenAI-compatible server (vLLM, TGI, llama.cpp), e.g.
  `openai:http://127.0.0.1:8000/v1:Qwen/Qwen2.5-VL-7B-Instruct`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from PIL import Image

__all__ = ["CaptionResult", "IRCaptioner", "NoIRCaptions", "CAPTIONERS", "get_captioner"]


@dataclass(frozen=True)
class CaptionResult:
    """An accepted caption, or None with the filter reason that rejected it."""

    caption: str | None
    reason: str = ""


@runtime_checkable
class IRCaptioner(Protocol):
    name: str
    params: dict[str, Any]
    batch_size: int

    def caption(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[CaptionResult | None]:
        """One result per input; None means "this captioner writes no IR-aware caption"."""
        ...


class NoIRCaptions:
    name = "none"
    params: dict[str, Any] = {}
    batch_size = 64

    def caption(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[CaptionResult | None]:
        return [None] * len(ir_images)


# The spec -> captioner factory lives in `captions/factory.py` (it imports the backends, which import
# this module); these names stay importable from here.
_FACTORY_NAMES = ("CAPTIONERS", "SPEC_PREFIXES", "get_captioner")


def __getattr__(name: str):
    if name in _FACTORY_NAMES:
        from fusionrs.captions import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'fusionrs.captions.base' has no attribute {name!r}")
