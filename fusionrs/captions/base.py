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


def _grounded(**kwargs: Any) -> IRCaptioner:
    from fusionrs.captions.grounded import GroundedCaptioner

    return GroundedCaptioner(**kwargs)


CAPTIONERS = {"none": NoIRCaptions, "grounded": _grounded}
SPEC_PREFIXES = ("local:", "openai:")


def get_captioner(spec: str, **kwargs: Any) -> IRCaptioner:
    """A captioner from its spec string (`none`, `grounded`, `local:MODEL`, `openai:URL:MODEL`);
    keyword arguments go to the backend (e.g. `cache_dir=`, `concurrency=` for openai)."""
    if spec in CAPTIONERS:
        return CAPTIONERS[spec](**kwargs)
    if spec.startswith("local:") and len(spec) > len("local:"):
        from fusionrs.captions.local import LocalCaptioner

        return LocalCaptioner(spec[len("local:"):], **kwargs)
    if spec.startswith("openai:"):
        from fusionrs.captions.openai_compat import OpenAICaptioner, parse_openai_spec

        url, model = parse_openai_spec(spec)
        return OpenAICaptioner(url, model, **kwargs)
    raise ValueError(f"unknown IR captioner {spec!r}; available: {', '.join(CAPTIONERS)}, local:MODEL, openai:URL:MODEL")
