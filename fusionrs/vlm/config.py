"""Captioner (VLM) training settings (torch-free, so `fusionrs train vlm --help` stays light).

`fusionrs train vlm` generates its flags from `VLMTrainConfig` (`fusionrs.core.cli_config`);
`fusionrs.vlm.train.train_vlm(cfg)` runs the whole job from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fusionrs.core.training import BaseTrainConfig, config_field

__all__ = ["MODES", "TASKS", "VLMTrainConfig"]

MODES = ("rgb+ir", "rgb", "ir")
TASKS = ("original", "ir_aware", "mixed", "vqa")


@dataclass
class VLMTrainConfig(BaseTrainConfig):
    """LoRA fine-tuning of a captioning VLM: one fixed budget of `steps x batch_size` examples.

    The schedule is `warmup_cosine` with warmup from `1 / warmup` and a floor of 0.1.
    """

    data: str | None = config_field(None, "FusionRS dataset folder (caption tasks)", metavar="DIR")
    hit_uav: str | None = config_field(None, "HIT-UAV folder (train.jsonl + images/) for --task vqa", metavar="DIR")
    base: str = config_field("offline", "image-text-to-text model folder, or 'offline' (compose DINOv2-S + projector "
                             "+ SmolLM2-135M), or 'tiny' (seeded tiny LLaVA for smoke runs)")
    vision: str | None = config_field(None, "with --base offline: a CLIP (or other ViT) folder as vision tower",
                                      metavar="DIR")
    image_size: int = config_field(112, "with --base offline: image side in pixels", kind="positive")
    mode: str = config_field("rgb+ir", "input images", choices=MODES)
    task: str = config_field("mixed", "original_only / ir_aware_only / task-conditioned mixed adapter, or HIT-UAV VQA",
                             choices=TASKS)
    out: str = config_field("runs/vlm", "output folder: final/ (merged model, final/adapter), log.jsonl, checkpoints/",
                            required=True)
    projector_lr: float = config_field(1e-3, "projector learning rate (it starts random in the offline LLaVA)")
    lora_r: int = config_field(16, "LoRA rank", kind="positive")
    lora_alpha: int | None = config_field(None, "LoRA alpha (default: 2 x rank)", kind="positive")
    lora_dropout: float = config_field(0.05, "LoRA dropout")
    max_answer_tokens: int = config_field(48, "answers are cut to this many tokens", kind="positive")
    qlora: bool = config_field(False, "4-bit base (needs CUDA + bitsandbytes)")
    cache_features: bool = config_field(True, "run the vision tower on every step instead of caching its features",
                                        flag="--no-feature-cache", negate=True)
    feature_cache: str | None = config_field(None, "safetensors file of cached vision features (LLaVA bases)",
                                             metavar="FILE")
    translator: str | None = config_field(None, "translator spec recorded for RGB-only inference (default: the dataset's)")
    notes: dict[str, Any] = config_field(factory=dict, cli=False)
    # shared fields whose defaults differ
    steps: int = config_field(64, "optimizer steps (budget = steps x batch size)", kind="positive")
    batch_size: int = config_field(8, "examples per step", kind="positive")
    lr: float = config_field(2e-4, "LoRA learning rate")
    warmup: int = config_field(4, "linear warmup steps", kind="non_negative")
    log_every: int = config_field(1, "write a log.jsonl record every N steps", kind="positive")
    checkpoint_every: int = config_field(16, "checkpoint every N steps for --resume (0: never)", kind="non_negative",
                                         aliases=("--save-every",))
    keep_checkpoints: int = config_field(1, "keep the newest N checkpoints (0: all)", kind="non_negative")

    @property
    def alpha(self) -> int:
        """The LoRA alpha in use: `lora_alpha`, or twice the rank."""
        return self.lora_alpha or 2 * self.lora_r
