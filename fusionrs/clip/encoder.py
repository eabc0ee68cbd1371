"""`FusionRSEncoder`: the encoder calls of the authors' `fusionrs-clip` wheel, on fusionrs' one CLIP core.

The FusionRS authors ship their CLIP (a stock `CLIPModel` folder) with a small package whose import
name is also `fusionrs` (`from fusionrs import FusionRSEncoder`). The same calls work here, with the
same names, arguments and return types, so their users' scripts run unchanged on this package (and on
any fusionrs CLIP folder); the embeddings come from `fusionrs.clip.embed.ClipEmbedder`, the encoder
evaluation, pipelines and the Space share. One difference, on purpose: `encode_ir` reads an image as
infrared (one luma channel, replicated to three), where theirs converts it to RGB as is; the two agree
on single-channel IR and differ only on colour-mapped thermal frames. Only one of the two packages can
be installed in an environment (`fusionrs env` warns when their wheel is there too).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from fusionrs.clip.embed import ClipEmbedder

__all__ = ["FusionRSEncoder"]


class FusionRSEncoder:
    """L2-normalised float32 CPU embeddings of RGB images, IR images and texts with one CLIP model."""

    def __init__(self, embedder: "ClipEmbedder"):
        self.embedder = embedder
        self.model, self.processor, self.device = embedder.model, embedder.processor, embedder.device

    @classmethod
    def from_pretrained(cls, model_dir: str | os.PathLike, device: "str | torch.device | None" = None,
                        local_files_only: bool = True) -> "FusionRSEncoder":
        """Load a CLIP folder (the authors' `model/`, or any fusionrs CLIP folder).

        Args:
            model_dir: the folder (`config.json`, `model.safetensors`, tokenizer and processor files);
                with `local_files_only=False` a hub id is accepted too.
            device: "cuda", "cpu", ... (None: CUDA when available, as theirs).
            local_files_only: only a local folder (the authors' default).

        Returns:
            The encoder (float32 on the device).

        Raises:
            FileNotFoundError: `local_files_only` and `model_dir` is not a folder.
            ClipLoadError: the folder is not a loadable CLIP model with its processor.
        """
        from fusionrs.clip.embed import ClipEmbedder

        path = Path(model_dir).expanduser()
        if local_files_only and not path.is_dir():
            raise FileNotFoundError(f"Model directory does not exist: {path.resolve()}")
        source = str(path.resolve()) if path.is_dir() else str(model_dir)
        return cls(ClipEmbedder.from_pretrained(source, device=device, dtype="float32"))

    def _encode(self, images: Sequence[Any], modality: str) -> "torch.Tensor":
        images = list(images)
        if not images:
            raise ValueError("At least one image is required")
        return self.embedder.embed_images(images, modality=modality)

    def encode_images(self, images: Sequence[Any]) -> "torch.Tensor":
        """(N, D) embeddings of images (paths, PIL images, bytes, arrays) read as RGB.

        Raises:
            ValueError: no image.
            ImageReadError: an image cannot be read (named).
        """
        return self._encode(images, "rgb")

    def encode_rgb(self, images: Sequence[Any]) -> "torch.Tensor":
        """(N, D) embeddings of RGB images (as `encode_images`)."""
        return self._encode(images, "rgb")

    def encode_ir(self, images: Sequence[Any]) -> "torch.Tensor":
        """(N, D) embeddings of IR images: one luma channel replicated to three for the shared tower (as
        `encode_images` otherwise)."""
        return self._encode(images, "ir")

    def encode_text(self, texts: Sequence[str]) -> "torch.Tensor":
        """(N, D) embeddings of texts, truncated to the model's context.

        Raises:
            ValueError: no text.
        """
        texts = list(texts)
        if not texts:
            raise ValueError("At least one text string is required")
        return self.embedder.embed_texts(texts)

    def score_pairs(self, rgb_images: Sequence[Any], ir_images: Sequence[Any],
                    texts: Sequence[str]) -> dict[str, list[float]]:
        """Cosine similarity of each aligned (RGB, IR, text) triple, per modality pair.

        Args:
            rgb_images: N RGB images.
            ir_images: the N IR images of the same scenes.
            texts: N captions.

        Returns:
            {"rgb_text": [...], "ir_text": [...], "rgb_ir": [...]}, N floats each.

        Raises:
            ValueError: the three lists differ in length (or are empty).
        """
        if not (len(rgb_images) == len(ir_images) == len(texts)):
            raise ValueError("RGB images, IR images, and texts must have equal lengths")
        rgb, ir, text = self.encode_rgb(rgb_images), self.encode_ir(ir_images), self.encode_text(texts)
        return {"rgb_text": (rgb * text).sum(-1).tolist(), "ir_text": (ir * text).sum(-1).tolist(),
                "rgb_ir": (rgb * ir).sum(-1).tolist()}
