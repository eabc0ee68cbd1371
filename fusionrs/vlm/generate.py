"""Batched greedy generation for chat examples, and loading a captioner (merged folder or adapter).

Greedy decoding so benchmark captions are reproducible; left padding so a batch of prompts of
different lengths continues from its last real token.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fusionrs.errors import FusionRSError

__all__ = ["generate_texts", "load_vlm"]


def load_vlm(path: str | Path, device=None, dtype=None, *, base_model: str | Path | None = None):
    """(model, processor) from a merged model folder or a peft adapter folder, through the model cache.

    An adapter folder (e.g. one of the FusionRS authors' Qwen2.5-VL adapters) is loaded onto its base
    by `fusionrs.vlm.loading.load_adapter_model`: keys checked, LoRA merged, so inference runs at the
    speed of a plain model. A `fusionrs train vlm` run folder loads its `final/` (or an older run's `model/`).

    Args:
        path: a merged model folder, a peft adapter folder, or a `fusionrs train vlm` run folder.
        device: the torch device or its name; None picks one (`fusionrs.core.device.select_device`).
        dtype: the torch dtype or its name; None picks one for the device (`select_dtype`).
        base_model: for an adapter folder: the base model (folder or hub id) to load it onto instead
            of its `base_model_name_or_path`.

    Returns:
        `(model, processor)`: an `AutoModelForImageTextToText` model on `device` in eval mode, and its
        processor (`fusionrs.vlm.loading.load_processor`); cached per folder, base, device and dtype.

    Raises:
        FusionRSError: when the folder holds neither config.json nor adapter_config.json.
        AdapterLoadError: when an adapter's base cannot be found or its weights do not fit the base.
        HubOfflineError: when an adapter's base is a hub id that is not cached while offline.
    """
    from fusionrs.core.device import select_device, select_dtype
    from fusionrs.core.model_cache import cached_model
    from fusionrs.core.training import final_dir

    folder = final_dir(path)
    if not folder.is_dir() or not ((folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()):
        raise FusionRSError(f"{folder}: not a model folder (no config.json or adapter_config.json)")
    resolved_device = select_device(device)
    resolved_dtype = select_dtype(resolved_device, dtype)

    def load():
        from transformers import AutoModelForImageTextToText

        from fusionrs.vlm.loading import load_adapter_model, load_processor

        if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
            model, processor = load_adapter_model(folder, base_model=base_model, dtype=resolved_dtype)
        else:
            model = AutoModelForImageTextToText.from_pretrained(folder, dtype=resolved_dtype)
            processor = load_processor(folder)
        return model.to(resolved_device).eval(), processor

    return cached_model("vlm", folder, load, resolved_device, resolved_dtype, base_model)


def generate_texts(
    model,
    processor,
    examples: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int = 40,
    batch_size: int = 16,
    progress: bool = True,
) -> tuple[list[str], dict[str, Any]]:
    """Greedy answers for chat examples (see fusionrs.vlm.data); returns (texts, timing stats).

    Args:
        model: the VLM; inputs go to the device of its parameters and pixel values to its dtype.
        processor: its processor; its tokenizer is set to left padding.
        examples: chat examples with "messages" and images ("images" or "image_files").
        max_new_tokens: the generation length limit per example.
        batch_size: examples per `generate` call.
        progress: print "generated i/n" to stderr after each batch.

    Returns:
        `(texts, timing)`: the stripped decoded replies in example order, and {"items",
        "new_tokens" (generated tokens up to and including the stop token), "seconds",
        "tokens_per_s"}.
    """
    import torch

    from fusionrs.vlm.data import prompt_inputs

    texts: list[str] = []
    new_tokens, started = 0, time.perf_counter()
    device = next(model.parameters()).device
    eos = model.generation_config.eos_token_id
    pad = processor.tokenizer.pad_token_id
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        inputs = prompt_inputs(processor, chunk).to(device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    num_beams=1, pad_token_id=pad, eos_token_id=eos)
        generated = output[:, inputs["input_ids"].shape[1]:]
        for row in generated:
            ends = (row == pad).nonzero() if pad is not None else []
            length = int(ends[0]) + 1 if len(ends) else len(row)  # count the stop token, not the padding after it
            new_tokens += min(length, len(row))
        texts += [text.strip() for text in processor.batch_decode(generated, skip_special_tokens=True)]
        if progress:
            print(f"generated {len(texts)}/{len(examples)}", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    return texts, {"items": len(texts), "new_tokens": new_tokens, "seconds": round(seconds, 2),
                   "tokens_per_s": round(new_tokens / max(seconds, 1e-9), 2)}
