"""`RGBToIRPipeline`: one-step RGB -> infrared-style translation with a stock `UNet2DModel`.

    >>> import fusionrs
    >>> from fusionrs.translate.pipeline_rgb_to_ir import RGBToIRPipeline  # also fusionrs.pipelines.RGBToIRPipeline
    >>> pipe = RGBToIRPipeline.from_pretrained("runs/translator/base")
    >>> ir = pipe(image).images[0]          # PIL "L", same size as `image`

The UNet alone loads with plain diffusers: `UNet2DModel.from_pretrained(folder, subfolder="unet")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, UNet2DModel
from diffusers.utils import BaseOutput
from PIL import Image

from fusionrs.translate.model import pad_multiple, translate_tensor

__all__ = ["RGBToIRPipeline", "RGBToIRPipelineOutput"]


@dataclass
class RGBToIRPipelineOutput(BaseOutput):
    """images: one single-channel ("L") PIL image per input, each the size of its input."""

    images: list[Image.Image]


class RGBToIRPipeline(DiffusionPipeline):
    """RGB -> IR in one UNet pass at a constant timestep (no noise, no scheduler).

    Args:
        unet: a `UNet2DModel` with `in_channels = 3 * pixel_shuffle**2`, `out_channels = pixel_shuffle**2`.
        pixel_shuffle: the space-to-depth fold factor the UNet was trained with.
        timestep: the constant timestep fed to the UNet.
    """

    model_cpu_offload_seq = "unet"

    def __init__(self, unet: UNet2DModel, pixel_shuffle: int = 1, timestep: int = 0):
        super().__init__()
        self.register_modules(unet=unet)
        self.register_to_config(pixel_shuffle=int(pixel_shuffle), timestep=int(timestep))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a translator folder (or hub repo); `"builtin:default"` loads the packaged default translator.

        Args:
            pretrained_model_name_or_path: a folder, a hub repo id, or `"builtin:default"`
                (`fusionrs.weights.default_translator_dir()`).
            **kwargs: passed to `DiffusionPipeline.from_pretrained` (e.g. `dtype`). Without a dtype,
                fp16-stored weights load as float32.

        Returns:
            The `RGBToIRPipeline`.

        Raises:
            FusionRSError: `"builtin:default"` while the installed package lacks the packaged folder.
        """
        from fusionrs.weights import DEFAULT_TRANSLATOR_SPEC, default_translator_dir

        if str(pretrained_model_name_or_path) == DEFAULT_TRANSLATOR_SPEC:
            pretrained_model_name_or_path = str(default_translator_dir())
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @property
    def pad_multiple(self) -> int:
        return pad_multiple(self.unet, self.config.pixel_shuffle)

    def check_inputs(self, images: list[Any], tile_size: int | None, tile_overlap: int) -> None:
        if not images:
            raise ValueError("RGBToIRPipeline needs at least one image")
        for i, image in enumerate(images):
            if not isinstance(image, (Image.Image, np.ndarray)):
                raise TypeError(f"image {i} is a {type(image).__name__}; pass PIL images or HxW(xC) uint8 arrays")
        expected = 3 * self.config.pixel_shuffle**2
        if self.unet.config.in_channels != expected:
            raise ValueError(f"unet has {self.unet.config.in_channels} input channels; pixel_shuffle "
                             f"{self.config.pixel_shuffle} needs {expected}")
        if tile_size is not None and (tile_size < self.pad_multiple or not 0 <= tile_overlap < tile_size):
            raise ValueError(f"tile_size must be >= {self.pad_multiple} and 0 <= tile_overlap < tile_size")

    @torch.inference_mode()
    def __call__(
        self,
        image: Image.Image | np.ndarray | list[Image.Image | np.ndarray],
        *,
        tile_size: int | None = 1024,
        tile_overlap: int = 64,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> RGBToIRPipelineOutput | tuple:
        """Translate one image or a list. Same-size images share one UNet batch; images larger than
        `tile_size` on a side run tile by tile and are feathered back together (None: never tile).

        Args:
            image: a PIL image (any mode) or HxW(xC) uint8 array, or a list of them; each is
                converted to RGB first.
            tile_size: the tile side in pixels (default 1024); images with a side above it run
                tile by tile. None never tiles.
            tile_overlap: the overlap between neighbouring tiles in pixels (default 64), in [0, tile_size).
            output_type: "pil" (L images) or "np" (float32 HxW arrays in [0, 1]).
            return_dict: return an `RGBToIRPipelineOutput` (True) or a plain tuple.

        Returns:
            `RGBToIRPipelineOutput(images=...)`, or `(images,)` when `return_dict` is False: one IR
            image per input, in input order and of the input's size.

        Raises:
            ValueError: when no image is given, the UNet's input channels do not match
                `pixel_shuffle`, `tile_size` is below the pad multiple or `tile_overlap` is outside
                [0, tile_size), or `output_type` is neither "pil" nor "np".
            TypeError: when an image is neither a PIL image nor a numpy array.
        """
        images = image if isinstance(image, list) else [image]
        # 1. Check inputs
        self.check_inputs(images, tile_size, tile_overlap)
        # 2. Preprocess: any mode -> RGB arrays
        arrays = [_to_rgb_array(im) for im in images]
        results: list[np.ndarray | None] = [None] * len(arrays)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, a in enumerate(arrays):
            groups.setdefault(a.shape[:2], []).append(i)
        for (height, width), indices in groups.items():
            if tile_size is not None and max(height, width) > tile_size:
                for i in indices:
                    results[i] = self._translate_tiled(arrays[i], tile_size, tile_overlap)
            else:
                # 3-6. pad, UNet, crop (one batch per size)
                batch = self._translate_batch(np.stack([arrays[i] for i in indices]))
                for i, ir in zip(indices, batch):
                    results[i] = ir
        # 7. Postprocess
        if output_type == "np":
            out: list[Any] = results
        elif output_type == "pil":
            out = [Image.fromarray(np.round(r * 255).astype(np.uint8), mode="L") for r in results]
        else:
            raise ValueError(f"output_type must be 'pil' or 'np', got {output_type!r}")
        if not return_dict:
            return (out,)
        return RGBToIRPipelineOutput(images=out)

    def _translate_batch(self, rgb: np.ndarray) -> list[np.ndarray]:
        """B x H x W x 3 uint8 -> list of H x W float32 IR in [0, 1]."""
        height, width = rgb.shape[1:3]
        x = torch.from_numpy(np.array(rgb)).to(self.device).permute(0, 3, 1, 2).float() / 127.5 - 1
        # 3. Pad to a multiple of the UNet's stride (reflect: no dark frame for the model to react to)
        m = self.pad_multiple
        pad_h, pad_w = -height % m, -width % m
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        # 4. UNet at the constant timestep
        ir = translate_tensor(self.unet, x.to(self.unet.dtype), pixel_shuffle=self.config.pixel_shuffle,
                              timestep=self.config.timestep)
        # 5. Crop back to the input size
        ir = ir[:, 0, :height, :width].float().cpu().numpy()
        return list(ir)

    def _translate_tiled(self, rgb: np.ndarray, tile_size: int, overlap: int) -> np.ndarray:
        from fusionrs.core.tiling import blend_tiles, tile_boxes

        height, width = rgb.shape[:2]
        boxes = tile_boxes(width, height, tile_size, overlap)
        tiles = [self._translate_batch(rgb[None, top:bottom, left:right])[0] for left, top, right, bottom in boxes]
        return blend_tiles(tiles, boxes, (width, height)).astype(np.float32)


def _to_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    from fusionrs.core.image_io import load_image

    return np.asarray(load_image(image, mode="RGB", max_pixels=None))
