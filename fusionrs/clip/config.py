"""CLIP training settings: `ClipTrainConfig` and the named variants (torch-free, so `--help` stays light).

`fusionrs train clip` generates its flags from `ClipTrainConfig` (`fusionrs.core.cli_config`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fusionrs.core.training import BaseTrainConfig, config_field

__all__ = ["CAPTION_POLICIES", "ClipTrainConfig", "IR_VIEWS", "LOSS_VARIANTS", "VARIANTS"]

# loss variant -> the pairs whose symmetric InfoNCE is averaged
LOSS_VARIANTS: dict[str, tuple[str, ...]] = {
    "trimodal": ("rgb_text", "ir_text", "rgb_ir"),
    "dual_text": ("rgb_text", "ir_text"),
    "rgb_text": ("rgb_text",),
    "ir_text": ("ir_text",),
}
IR_VIEWS = ("translated", "grayscale", "rgb_duplicate")
CAPTION_POLICIES = ("original", "ir_aware", "mixed")
# named variant -> (loss variant, IR view); the paper's ablation names plus the loss names
VARIANTS: dict[str, tuple[str, str]] = {
    "trimodal": ("trimodal", "translated"),
    "dual_text": ("dual_text", "translated"),
    "rgb_text": ("rgb_text", "translated"),
    "ir_text": ("ir_text", "translated"),
    "grayscale": ("trimodal", "grayscale"),
    "rgb_duplicate": ("trimodal", "rgb_duplicate"),
    "rgb_only": ("rgb_text", "translated"),
}


@dataclass
class ClipTrainConfig(BaseTrainConfig):
    """Dual-modal CLIP training: data, init, variant, frozen blocks, and the shared budget fields.

    The schedule is `warmup_cosine` with warmup starting at 0 and no floor (as
    `transformers.get_cosine_schedule_with_warmup`); the paper fine-tunes at 5e-6.
    """

    data: str | None = config_field(None, "FusionRS dataset folder with a train split (default: the embedded sample)",
                                    metavar="DIR")
    init: str = config_field("offline-dinov2-minilm",
                             "offline-dinov2-minilm, tiny, a CLIP folder, or a hub id (needs the hub or its cache)")
    variant: str = config_field("trimodal", "loss / IR-view ablation (grayscale, rgb_duplicate: trimodal loss with "
                                "that image as IR)", choices=tuple(VARIANTS))
    ir_view: str | None = config_field(None, "override the variant's training IR view (evaluation always uses the "
                                       "dataset's IR)", choices=IR_VIEWS)
    caption_policy: str = config_field("ir_aware", "captions paired with IR in training (ir_aware: the IR-aware "
                                       "caption where present)", choices=CAPTION_POLICIES)
    out: str = config_field("runs/clip/trimodal", "output folder: checkpoints/, log.jsonl, loss_curve.png, final/")
    image_size: int | None = config_field(None, "processor image size (composed default 112)", kind="positive")
    projection_dim: int = config_field(256, "embedding size of the projections", kind="positive")
    limit: int | None = config_field(None, "use only the first N training rows (smoke runs)", kind="positive")
    train_top_vision: int | None = config_field(None, "train only the top N image blocks (+ norm, projections); "
                                                "default: full fine-tuning", kind="non_negative", metavar="N")
    train_top_text: int | None = config_field(None, "train only the top N text layers", kind="non_negative", metavar="N")
    cache_features: bool = config_field(False, "cache the frozen blocks' output once under --cache-root and train "
                                        "from it (needs both --train-top-*)")
    cache_root: str = config_field("runs/clip_cache", "feature cache folder")
    max_text_tokens: int = config_field(77, "captions are cut to this many tokens", kind="positive")
    num_workers: int = config_field(0, "DataLoader workers that build the next steps' batches while the model "
                                    "trains (0: in the training process; on CPU workers compete with torch's "
                                    "threads)", kind="non_negative", metavar="N")
    steps: int = config_field(1000, "optimizer steps (budget = steps x batch size)", kind="positive")
    batch_size: int = config_field(128, "global batch (all processes x accumulation)", kind="positive")
    grad_accum: int = config_field(1, "gradient accumulation steps per optimizer step", kind="positive")
    lr: float = config_field(5e-6, "pretrained weights (paper: 5e-6)")
    head_lr: float | None = config_field(None, "fresh projections + temperature (default: --lr)")
    weight_decay: float = config_field(0.1, "on matrices only (not norms, biases, temperature), as open_clip")
    warmup: int = config_field(100, "linear warmup steps", kind="non_negative")
    keep_checkpoints: int = config_field(2, "keep the newest N checkpoints (0: all)", kind="non_negative")
