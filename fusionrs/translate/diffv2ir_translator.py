"""`diffv2ir:DIR`: the paper's RGB->IR translator (DiffV2IR) as a build-stage `Translator`.

DIR is a diffusers folder made by `fusionrs convert-diffv2ir` from the published checkpoint. Each
image gets its own seed (base seed + a hash of its pixels), so an image's IR never depends on the
other images of its batch, the batch size or the order of a build.

DiffV2IR is conditioned on a segmentation map (the paper renders SAM masks) and a prompt (the paper
uses a BLIP caption). Neither model ships offline, so by default every image gets a blank map and
the plain edit prompt; pass `segmenter=` / `captioner=` callables to supply them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = ["DiffV2IRTranslator", "image_seed", "working_size"]


def image_seed(image: Image.Image, base_seed: int = 0) -> int:
    """A 63-bit seed from the pixels (and size and mode) of `image`, shifted by `base_seed`.

    Args:
        image: the PIL image whose mode, size and raw pixel bytes are hashed (SHA-256).
        base_seed: added to the hash (default 0), so a build's `seed` option shifts every image's seed.

    Returns:
        An int in [0, 2**63): the first 8 digest bytes (big-endian) plus `base_seed`, modulo 2**63.
    """
    digest = hashlib.sha256(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode() + image.tobytes()).digest()
    return (int.from_bytes(digest[:8], "big") + base_seed) % (2**63)


def working_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """DiffV2IR's sampling size: the short side scaled to ~`resolution` * short/long, both sides multiples of 64.

    Args:
        width: the input width in pixels.
        height: the input height in pixels.
        resolution: the target size of the long side in pixels (e.g. 512).

    Returns:
        (width, height) to sample at: the short side is `resolution` * short/long rounded up to a
        multiple of 64, the long side keeps the aspect ratio rounded down to a multiple of 64, and
        neither is below 64.
    """
    factor = resolution / max(width, height)
    factor = math.ceil(min(width, height) * factor / 64) * 64 / min(width, height)
    return max(64, int((width * factor) // 64) * 64), max(64, int((height * factor) // 64) * 64)


class DiffV2IRTranslator:
    """RGB -> IR with a converted DiffV2IR checkpoint folder; returns `L` images of the input size."""

    name = "diffv2ir"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        steps: int = 20,
        resolution: int = 512,
        text_guidance_scale: float = 7.5,
        image_guidance_scale: float = 1.5,
        segmentation_guidance_scale: float = 1.5,
        prompt: str | None = None,
        seed: int = 0,
        batch_size: int = 1,
        segmenter: Callable[[Image.Image], Image.Image] | None = None,
        captioner: Callable[[Image.Image], str] | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ):
        from fusionrs.translate.pipeline_diffv2ir import DEFAULT_EDIT_PROMPT

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "model_index.json").is_file():
            raise FileNotFoundError(
                f"{self.model_dir} is not a DiffV2IR diffusers folder (no model_index.json); "
                f"make one with `fusionrs convert-diffv2ir CHECKPOINT --out DIR`"
            )
        self.steps, self.resolution, self.seed = int(steps), int(resolution), int(seed)
        self.scales = (float(text_guidance_scale), float(image_guidance_scale), float(segmentation_guidance_scale))
        self.prompt = prompt or DEFAULT_EDIT_PROMPT
        self.batch_size = int(batch_size)
        self.segmenter, self.captioner = segmenter, captioner
        self.device, self.dtype = device, dtype
        self._pipeline = None

    @classmethod
    def from_spec(cls, spec: str) -> "DiffV2IRTranslator":
        """`diffv2ir:DIR` or `diffv2ir:DIR;steps=20;resolution=256;seed=0` (the build's --translator value)."""
        if not spec.startswith("diffv2ir:"):
            raise ValueError(f"not a diffv2ir translator spec: {spec!r}")
        folder, *options = spec[len("diffv2ir:"):].split(";")
        types = {"steps": int, "resolution": int, "seed": int, "batch_size": int, "text_guidance_scale": float,
                 "image_guidance_scale": float, "segmentation_guidance_scale": float, "prompt": str,
                 "device": str, "dtype": str}
        kwargs: dict[str, Any] = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or key not in types:
                raise ValueError(f"bad option {option!r} in {spec!r}; known: {', '.join(types)}")
            kwargs[key] = types[key](value)
        return cls(folder, **kwargs)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "sampler": "k-diffusion Euler ancestral, CompVis sigmas",
            "steps": self.steps,
            "resolution": self.resolution,
            "guidance": {"text": self.scales[0], "image": self.scales[1], "segmentation": self.scales[2]},
            "prompt": "caption_prompt(captioner(image))" if self.captioner else self.prompt,
            "segmentation": getattr(self.segmenter, "__name__", type(self.segmenter).__name__) if self.segmenter else "blank",
            "seed": f"{self.seed} + sha256(pixels)",
        }

    def pipeline(self):
        """The loaded `DiffV2IRPipeline`, shared through the process-wide model cache."""
        if self._pipeline is None:
            from fusionrs.core.device import select_device, select_dtype
            from fusionrs.core.model_cache import cached_model
            from fusionrs.translate.pipeline_diffv2ir import DiffV2IRPipeline

            device = select_device(self.device)
            dtype = select_dtype(device, self.dtype)

            def load():
                pipe = DiffV2IRPipeline.from_pretrained(str(self.model_dir), dtype=dtype).to(device)
                pipe.set_progress_bar_config(disable=True)
                return pipe

            self._pipeline = cached_model("diffv2ir", self.model_dir, load, device, dtype)
        return self._pipeline

    def translate_one(self, image: Image.Image) -> Image.Image:
        import torch

        from fusionrs.translate.pipeline_diffv2ir import caption_prompt

        rgb = image.convert("RGB")
        width, height = working_size(*rgb.size, self.resolution)
        segmentation = self.segmenter(rgb) if self.segmenter else None
        prompt = caption_prompt(self.captioner(rgb)) if self.captioner else self.prompt
        # A CPU generator gives the same noise on every device.
        generator = torch.Generator().manual_seed(image_seed(rgb, self.seed))
        out = self.pipeline()(
            rgb,
            segmentation_map=segmentation,
            prompt=prompt,
            num_inference_steps=self.steps,
            text_guidance_scale=self.scales[0],
            image_guidance_scale=self.scales[1],
            segmentation_guidance_scale=self.scales[2],
            height=height,
            width=width,
            generator=generator,
        ).images[0]
        if out.size != rgb.size:
            out = out.resize(rgb.size, Image.Resampling.LANCZOS)
        return out.convert("L")

    def translate(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        # One pipeline call per image: batching would change float rounding with the batch's makeup.
        return [self.translate_one(image) for image in images]
