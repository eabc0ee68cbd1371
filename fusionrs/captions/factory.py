"""The captioner factory: a spec string (`none`, `grounded`, `local:MODEL`, `openai:URL:MODEL`) -> backend.

Kept apart from `base.py` so the backends can import `base` without a cycle; each backend is imported
only when its spec is asked for.
"""

from __future__ import annotations

from typing import Any

from fusionrs.captions.base import IRCaptioner, NoIRCaptions
from fusionrs.errors import UnknownSpecError

__all__ = ["CAPTIONERS", "SPEC_PREFIXES", "get_captioner"]


def _grounded(**kwargs: Any) -> IRCaptioner:
    from fusionrs.captions.grounded import GroundedCaptioner

    return GroundedCaptioner(**kwargs)


CAPTIONERS = {"none": NoIRCaptions, "grounded": _grounded}
SPEC_PREFIXES = ("local:", "openai:")


def get_captioner(spec: str, **kwargs: Any) -> IRCaptioner:
    """A captioner from its spec string (`none`, `grounded`, `local:MODEL`, `openai:URL:MODEL`);
    keyword arguments go to the backend (e.g. `cache_dir=`, `concurrency=` for openai).

    Args:
        spec: the captioner spec: a key of `CAPTIONERS` (`none`, `grounded`), `local:MODEL` (a
            transformers model name or alias) or `openai:URL:MODEL` (an OpenAI-compatible server).
        **kwargs: keyword arguments passed unchanged to the backend's constructor.

    Returns:
        The captioner instance (`NoIRCaptions`, `GroundedCaptioner`, `LocalCaptioner` or
        `OpenAICaptioner`).

    Raises:
        UnknownSpecError: `spec` is none of the known forms (also for a bare `local:` with no model).
        ValueError: an `openai:` spec has no http(s) URL or no model (from `parse_openai_spec`).
    """
    if spec in CAPTIONERS:
        return CAPTIONERS[spec](**kwargs)
    if spec.startswith("local:") and len(spec) > len("local:"):
        from fusionrs.captions.local import LocalCaptioner

        return LocalCaptioner(spec[len("local:"):], **kwargs)
    if spec.startswith("openai:"):
        from fusionrs.captions.openai_compat import OpenAICaptioner, parse_openai_spec

        url, model = parse_openai_spec(spec)
        return OpenAICaptioner(url, model, **kwargs)
    raise UnknownSpecError(f"unknown IR captioner {spec!r}; available: {', '.join(CAPTIONERS)}, local:MODEL, openai:URL:MODEL")
