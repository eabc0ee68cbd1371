"""Embed images (RGB or IR) and texts with any CLIP folder: the one encoder evaluation and pipelines share.

A CLIP folder is a stock `CLIPModel` or `VisionTextDualEncoderModel` plus its processor. The image
tower is shared by RGB and IR (the paper's design): single-channel IR is replicated to 3 channels
before the processor sees it. Embeddings come back as L2-normalised float32 CPU tensors whatever the
compute device and dtype, so retrieval code never has to care where they were made.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from fusionrs.core.repo_id import looks_like_repo_id
from fusionrs.errors import ClipLoadError  # noqa: F401  (defined in errors.py, re-exported here)

if TYPE_CHECKING:
    import torch

__all__ = ["ClipEmbedder", "ClipLoadError", "to_model_image"]

MODALITIES = ("rgb", "ir")


def to_model_image(image: Any, modality: str | None = None) -> Image.Image:
    """Any image input -> the 3-channel RGB PIL image the shared image encoder sees.

    modality "ir": converted to one channel first, then replicated (so a 3-channel-stored thermal
    frame, e.g. LLVIP, is treated like any IR); "rgb" or None: RGB kept, L replicated.
    Paths, bytes and arrays go through `fusionrs.core.image_io.load_image` (named errors).

    Args:
        image: a PIL image, a file path, encoded bytes or a numpy array.
        modality: "ir", "rgb" or None (treated like "rgb").

    Returns:
        A 3-channel RGB PIL image (for "ir": one luma channel replicated three times).

    Raises:
        ValueError: when `modality` is not "rgb", "ir" or None.
        ImageReadError: when a non-PIL input (or a PIL image not in RGB/L mode) cannot be decoded
            by `load_image`.
    """
    if modality not in (None, *MODALITIES):
        raise ValueError(f"modality must be 'rgb', 'ir' or None, got {modality!r}")
    if not isinstance(image, Image.Image) or image.mode not in ("RGB", "L"):
        from fusionrs.core.image_io import load_image

        image = load_image(image, mode="L" if modality == "ir" else "RGB")
    if modality == "ir" and image.mode != "L":
        image = image.convert("L")
    return image if image.mode == "RGB" else image.convert("RGB")


def _load(source: str, device, dtype):
    """(model, processor) from a folder, or from the hub cache for a hub id (offline: cache only)."""
    from transformers import AutoModel, AutoProcessor, CLIPModel, VisionTextDualEncoderModel

    hub = looks_like_repo_id(source, require_namespace=False)
    if not hub:
        folder = Path(source)
        if not folder.is_dir():
            raise ClipLoadError(f"{folder}: CLIP model folder does not exist")
        if not (folder / "config.json").is_file():
            raise ClipLoadError(f"{folder}: not a model folder (no config.json)")
    try:
        model = AutoModel.from_pretrained(source, dtype=dtype)
        processor = AutoProcessor.from_pretrained(source)
    except (OSError, ValueError, KeyError) as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        hint = " (HF_HUB_OFFLINE is set: only models already in the hub cache load)" if hub and offline else ""
        raise ClipLoadError(f"{source}: cannot load a CLIP model{hint}: {str(error).splitlines()[0]}") from None
    if not isinstance(model, (CLIPModel, VisionTextDualEncoderModel)):
        raise ClipLoadError(f"{source}: {type(model).__name__} is not a CLIPModel or VisionTextDualEncoderModel")
    if not (hasattr(processor, "image_processor") and hasattr(processor, "tokenizer")):
        raise ClipLoadError(f"{source}: {type(processor).__name__} lacks an image processor or a tokenizer")
    return model.to(device).eval(), processor


class ClipEmbedder:
    """Projected, L2-normalised image and text embeddings of a CLIP model, batched, no autograd.

    The model is put in eval mode; without `device`/`dtype` it keeps its own (call `.train()` again
    when evaluating mid-training).
    """

    def __init__(self, model, processor, *, device: "str | torch.device | None" = None,
                 dtype: "str | torch.dtype | None" = None):
        from fusionrs.core.device import select_device, select_dtype

        # A model handed over in memory stays where it is unless asked otherwise (it may be mid-training);
        # `from_pretrained` passes the device/dtype policy's choice explicitly.
        self.device = select_device(device) if device is not None else model.device
        self.dtype = select_dtype(self.device, dtype) if dtype is not None else model.dtype
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.processor = processor
        params = inspect.signature(model.get_text_features).parameters
        self._text_keys = {"input_ids", "attention_mask"} | ({"token_type_ids"} & set(params))
        text_config = getattr(model.config, "text_config", None)
        # BERT-style tokenizers report a huge model_max_length; the position table is the real limit.
        limits = [v for v in (getattr(processor.tokenizer, "model_max_length", None),
                              getattr(text_config, "max_position_embeddings", None))
                  if isinstance(v, int) and 0 < v < 1_000_000]
        self.max_text_length = min(limits) if limits else 77

    @classmethod
    def from_pretrained(cls, model: "str | os.PathLike | ClipEmbedder | Any", *, processor=None,
                        device: "str | torch.device | None" = None, dtype: "str | torch.dtype | None" = None,
                        cache=None) -> "ClipEmbedder":
        """A folder path or hub id (loaded once per device/dtype through `default_cache`), an
        existing embedder (returned as is), or a loaded model with its `processor`.

        Args:
            model: a CLIP folder path or hub id, a `ClipEmbedder`, or a loaded `CLIPModel` /
                `VisionTextDualEncoderModel`.
            processor: the processor of a loaded model (required then; ignored otherwise).
            device: the compute device; None picks one for paths and hub ids (`select_device`)
                and keeps a loaded model's own device.
            dtype: the compute dtype; None picks one for the device for paths and hub ids and
                keeps a loaded model's own dtype.
            cache: the `ModelCache` for paths and hub ids (default: the process-wide cache).

        Returns:
            A `ClipEmbedder` (the same object when `model` already is one; a cached one for a
            path or hub id already loaded with the same device and dtype).

        Raises:
            ValueError: when a loaded model is given without its processor.
            ClipLoadError: when a folder does not exist or has no config.json, loading fails, the
                model is not a CLIPModel / VisionTextDualEncoderModel, or the processor lacks an
                image processor or a tokenizer.
        """
        if isinstance(model, ClipEmbedder):
            return model
        if not isinstance(model, (str, os.PathLike)):
            if processor is None:
                raise ValueError("a loaded model needs its processor: ClipEmbedder.from_pretrained(model, processor=...)")
            return cls(model, processor, device=device, dtype=dtype)
        from fusionrs.core.device import select_device, select_dtype
        from fusionrs.core.model_cache import cached_model

        text = str(model)
        source = text if looks_like_repo_id(text, require_namespace=False) else str(Path(text).expanduser().resolve())
        resolved_device = select_device(device)
        resolved_dtype = select_dtype(resolved_device, dtype)

        def load() -> ClipEmbedder:
            loaded, loaded_processor = _load(source, resolved_device, resolved_dtype)
            return cls(loaded, loaded_processor, device=resolved_device, dtype=resolved_dtype)

        return cached_model("clip-embedder", source, load, resolved_device, resolved_dtype, cache=cache)

    @property
    def projection_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def logit_scale(self) -> float:
        """exp(learned log-temperature), capped at CLIP's 100."""
        return float(min(self.model.logit_scale.detach().float().exp().item(), 100.0))

    def pixel_values(self, images: Sequence[Any], modality: str | None = None) -> "torch.Tensor":
        """Processor output for a batch, as the model's float tensor on CPU (moved to the device later)."""
        rgb = [to_model_image(im, modality) for im in images]
        return self.processor.image_processor(images=rgb, return_tensors="pt")["pixel_values"]

    def _project(self, output) -> "torch.Tensor":
        import torch

        # transformers >= 5 returns a ModelOutput whose pooler_output is projected; older ones a tensor.
        features = output if isinstance(output, torch.Tensor) else output.pooler_output
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu()

    def embed_pixels(self, pixel_values: "torch.Tensor") -> "torch.Tensor":
        import torch

        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=pixel_values.to(self.device, self.dtype))
        return self._project(out)

    def tokenize(self, texts: Sequence[str]) -> dict[str, "torch.Tensor"]:
        """Tokenizer output the text tower accepts, padded and truncated to the model's context."""
        tokens = self.processor.tokenizer(list(texts), padding=True, truncation=True,
                                          max_length=self.max_text_length, return_tensors="pt")
        return {k: v for k, v in tokens.items() if k in self._text_keys}

    def embed_tokens(self, tokens: dict[str, "torch.Tensor"]) -> "torch.Tensor":
        import torch

        with torch.inference_mode():
            out = self.model.get_text_features(**{k: v.to(self.device) for k, v in tokens.items()})
        return self._project(out)

    def embed_images(self, images: Sequence[Any], batch_size: int = 32, *, modality: str | None = None,
                     progress: bool = False) -> "torch.Tensor":
        """(N, D) embeddings of images (PIL, paths, bytes, arrays); IR (mode L) replicated to 3 channels.

        The next batch is preprocessed in a thread while the model runs on the current one: PIL
        resizing releases the GIL, and preprocessing is what limits GPU throughput.
        """
        import torch
        from tqdm.auto import tqdm

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        images = list(images)
        if not images:
            return torch.empty(0, self.projection_dim)
        starts = range(0, len(images), batch_size)
        out = []
        with ThreadPoolExecutor(max_workers=1) as pool, tqdm(total=len(images), disable=not progress,
                                                             desc="embedding images", unit="img") as bar:
            pending = pool.submit(self.pixel_values, images[0:batch_size], modality)
            for start in starts:
                pixels = pending.result()
                if start + batch_size < len(images):
                    pending = pool.submit(self.pixel_values, images[start + batch_size:start + 2 * batch_size], modality)
                out.append(self.embed_pixels(pixels))
                bar.update(len(pixels))
        return torch.cat(out)

    def embed_texts(self, texts: Sequence[str], batch_size: int = 256, *, progress: bool = False) -> "torch.Tensor":
        """(N, D) embeddings of texts, truncated to the model's context; batches of similar length."""
        import torch
        from tqdm.auto import tqdm

        if isinstance(texts, str):
            raise TypeError("embed_texts takes a list of strings; wrap a single text in a list")
        texts = list(texts)
        if not texts:
            return torch.empty(0, self.projection_dim)
        # Sorting by length keeps padding (wasted compute) small; results are put back in input order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.projection_dim)
        with tqdm(total=len(texts), disable=not progress, desc="embedding texts", unit="text") as bar:
            for start in range(0, len(texts), batch_size):
                idx = order[start:start + batch_size]
                out[torch.as_tensor(idx)] = self.embed_tokens(self.tokenize([texts[i] for i in idx]))
                bar.update(len(idx))
        return out
