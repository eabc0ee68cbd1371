"""Dual-modal captioning VLMs: compose the offline LLaVA, chat formatting, LoRA training, generation.

Light on import (no torch/transformers until a name is used):
- `compose_offline_llava` / `compose_llava` (fusionrs.vlm.compose): a standard LLaVA from parts that ship offline;
- `build_messages` (fusionrs.vlm.chat): rgb+ir / rgb / ir inputs, caption / ir_aware_caption / vqa tasks;
- `caption_stream`, `vqa_examples`, `encode_example` (fusionrs.vlm.data): examples with answer-only labels;
- `VLMTrainConfig`, `train_vlm` (fusionrs.vlm.train): peft LoRA (+ QLoRA on CUDA), checkpoints, resume;
- `load_vlm`, `generate_texts` (fusionrs.vlm.generate); `evaluate_captions`, `evaluate_vqa` (fusionrs.vlm.evaluate).
"""

from __future__ import annotations

import importlib

_MODULES = {
    "compose_llava": "compose", "compose_offline_llava": "compose", "read_vlm_config": "compose",
    "write_vlm_config": "compose",
    "build_messages": "chat", "MODES": "chat", "TASKS": "chat",
    "caption_stream": "data", "vqa_examples": "data", "encode_example": "data",
    "VLMTrainConfig": "train", "train_vlm": "train",
    "load_vlm": "generate", "generate_texts": "generate",
    "evaluate_captions": "evaluate", "evaluate_vqa": "evaluate",
}
__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"fusionrs.vlm.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'fusionrs.vlm' has no attribute {name!r}")
