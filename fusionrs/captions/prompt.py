"""The IR-aware caption prompt (a versioned template of the paper's rules) and robust JSON extraction.

Input: the IR image (VLMs) or a measured IR summary (text-only LLMs), plus the original caption(s).
Output contract: JSON `{"ir_aware_caption": "..."}` holding 1-2 sentences.

`PROMPT_VERSION` enters every cache key and the dataset provenance: change it whenever the wording
changes, so no cached reply of an older prompt is reused.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["PROMPT_VERSION", "RESPONSE_PREFIX", "SYSTEM_PROMPT", "build_messages", "build_user_prompt", "extract_caption"]

PROMPT_VERSION = "fusionrs-ir-caption-v1"

SYSTEM_PROMPT = """You write IR-aware captions for infrared-style remote sensing images.
Rules:
1. Keep the scene semantics of the original caption: the same scene and the same objects.
2. Describe only the infrared-style appearance: grayscale intensity, bright and dark responses and where they are, low-texture regions, structural outlines, contrast.
3. Never mention temperature, heat, warmth, cold, emission, emissivity, radiance, reflectivity or materials: the infrared image is generated, not measured.
4. Do not invent objects that are not in the original caption.
5. Do not use colour words such as red, green or blue.
6. No uncertainty: do not write "maybe", "possibly", "appears to be" or "it seems".
7. Do not describe the picture as an RGB image or a photograph.
Write 1 or 2 sentences. Answer with JSON only: {"ir_aware_caption": "..."}"""

# Format only: small models copy a concrete example verbatim (seen with SmolLM2-135M), inventing objects.
_FORMAT = '{"ir_aware_caption": "<one or two sentences about this image>"}'
# Local models get their answer started with this, so even small ones stay inside the JSON contract.
RESPONSE_PREFIX = '{"ir_aware_caption": "'


def build_user_prompt(captions: Sequence[str] | str, *, summary: str | None = None) -> str:
    """The user turn: the original caption and, for text-only models, what was measured in the IR image.

    Args:
        captions: the record's original caption(s); only the first is put in the prompt (an empty
            sequence gives an empty original caption).
        summary: the measured IR summary (`IRMeasurement.summary()`) for text-only models; when
            None or empty the prompt says the IR image is attached instead.

    Returns:
        The user prompt text, one line per item, ending with the answer format and "Your JSON answer:".
    """
    if isinstance(captions, str):
        captions = [captions]
    # Only the first caption: small models copy extra captions into their answer.
    lines = [f"Original caption: {captions[0] if captions else ''}"]
    if summary:
        lines.append(f"Measured infrared-style image: {summary}")
    else:
        lines.append("The infrared-style image is attached.")
    lines.append(f"Answer format: {_FORMAT}")
    lines.append("Your JSON answer:")
    return "\n".join(lines)


def build_messages(captions: Sequence[str] | str, *, summary: str | None = None, with_image: bool = False,
                   image_url: str | None = None) -> list[dict[str, Any]]:
    """Chat messages. `with_image` adds an image slot (transformers processors); `image_url` an
    OpenAI-style `image_url` part (a data URL).

    Args:
        captions: the record's original caption(s), passed to `build_user_prompt`.
        summary: the measured IR summary for text-only models, or None.
        with_image: add a bare `{"type": "image"}` content part before the text (transformers
            chat templates); ignored when `image_url` is given.
        image_url: an image URL (typically a PNG data URL) sent as an OpenAI `image_url` part.

    Returns:
        Two chat messages: `{"role": "system", "content": SYSTEM_PROMPT}` and the user message, whose
        content is the prompt string, or a list of content parts when an image is attached.
    """
    text = build_user_prompt(captions, summary=summary)
    if image_url is not None:
        user: Any = [{"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": text}]
    elif with_image:
        user = [{"type": "image"}, {"type": "text", "text": text}]
    else:
        user = text
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.S)
_KEY_VALUE = re.compile(r"""["']?ir_aware_caption["']?\s*:\s*(["'])(.*?)(?<!\\)\1\s*(?:[,}]|$)""", re.S)


def _objects(text: str):
    """Every balanced {...} substring, outermost first (strings respected)."""
    for start in [i for i, ch in enumerate(text) if ch == "{"]:
        depth, quote, escape = 0, None, False
        for end in range(start, len(text)):
            ch = text[end]
            if quote:
                if escape:
                    escape = False
                elif ch == "\\":
                    escape = True
                elif ch == quote:
                    quote = None
            elif ch in "\"'" and depth > 0 and (ch == '"' or not text[end - 1].isalpha()):
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : end + 1]
                    break


def _caption_of(value: Any) -> str | None:
    if isinstance(value, dict):
        caption = value.get("ir_aware_caption")
        if isinstance(caption, str) and caption.strip():
            return " ".join(caption.split())
    return None


def extract_caption(reply: str) -> str | None:
    """The `ir_aware_caption` of a model reply, or None when no such JSON field can be recovered.

    Tolerates code fences, text before/after the object, single-quoted (Python-style) dicts and a
    missing closing brace; a reply without the key is a parse failure (the caller may retry).

    Args:
        reply: the raw model reply text (a non-string gives None).

    Returns:
        The caption with whitespace collapsed to single spaces, or None when the reply holds no
        non-empty `ir_aware_caption` value.
    """
    if not isinstance(reply, str) or "ir_aware_caption" not in reply:
        return None
    candidates = [m.group(1) for m in _FENCE.finditer(reply)] + [reply]
    for text in candidates:
        for obj in _objects(text):
            for parse in (json.loads, ast.literal_eval):
                try:
                    caption = _caption_of(parse(obj))
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    continue
                if caption:
                    return caption
    match = _KEY_VALUE.search(reply)
    if match and match.group(2).strip():
        value = match.group(2)
        try:
            value = json.loads(f'"{value}"') if match.group(1) == '"' else value
        except ValueError:
            pass
        return " ".join(value.split())
    return None
