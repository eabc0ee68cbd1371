"""`RGBToIRPipeline`: one-step RGB -> infrared-style translation with a stock `UNet2DModel`.

    >>> from fusionrs.pipelines import RGBToIRPipeline
    >>> pipe = RGBToIRPipeline.from_pretrained("runs/translator/base/final")
    >>> ir = pipe(image).images[0]          # PIL "L", same size as `image`

Every translator folder carries a verbatim copy of this file as `pipeline.py` (`save_pipeline_code`, which
`save_pretrained` calls), so plain diffusers loads the folder without fusionrs installed:

    >>> from diffusers import DiffusionPipeline
    >>> pipe = DiffusionPipeline.from_pretrained(folder, custom_pipeline=folder, trust_remote_code=True)

The UNet alone loads with `UNet2DModel.from_pretrained(folder, subfolder="unet")`, without remote code.

This file therefore needs only torch, numpy, PIL and diffusers. Loaded as part of fusionrs it reads images
with `fusionrs.core.image_io.load_image` (16-bit and float inputs, every PIL mode) and blends tiles with
`fusionrs.core.tiling`; loaded as a folder's `pipeline.py` it uses the plain equivalents below, which give
the same pixels for 8-bit inputs and refuse the rest with one line. fusionrs modules are imported through
`importlib` only: before running a custom pipeline, diffusers imports every module that an `import` line
of the file names (even one inside a function), which would pull fusionrs into a process that has it
installed but never asked for it.
"""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, UNet2DModel
from diffusers.utils import BaseOutput
from PIL import Image, ImageOps

__all__ = ["PIPELINE_FILE", "RGBToIRPipeline", "RGBToIRPipelineOutput", "pad_multiple", "save_pipeline_code",
           "translate_tensor"]

# The file diffusers' `custom_pipeline=<folder>` loads from a folder.
PIPELINE_FILE = "pipeline.py"
# True when imported as fusionrs.translate.pipeline_rgb_to_ir; False as a folder's pipeline.py.
_IN_FUSIONRS = __name__.startswith("fusionrs.")


def pad_multiple(unet: UNet2DModel, pixel_shuffle: int) -> int:
    """What height and width must be multiples of: the fold factor times one 2x per downsampling.

    Args:
        unet: the translator's UNet.
        pixel_shuffle: the fold factor f.

    Returns:
        The multiple, in pixels.
    """
    return int(pixel_shuffle) * 2 ** (len(unet.config.block_out_channels) - 1)


def translate_tensor(unet: UNet2DModel, rgb: torch.Tensor, *, pixel_shuffle: int, timestep: int = 0) -> torch.Tensor:
    """Translate a batch of RGB tensors to IR with one UNet pass.

    Args:
        unet: the translator's UNet.
        rgb: B x 3 x H x W RGB in [-1, 1], H and W multiples of `pad_multiple`.
        pixel_shuffle: the fold factor f.
        timestep: the constant timestep the UNet runs at.

    Returns:
        B x 1 x H x W IR in [0, 1] (float32).
    """
    f = int(pixel_shuffle)
    x = F.pixel_unshuffle(rgb, f) if f > 1 else rgb
    t = torch.full((x.shape[0],), timestep, device=x.device, dtype=torch.long)
    y = unet(x, t).sample
    y = F.pixel_shuffle(y, f) if f > 1 else y
    return (torch.tanh(y.float()) + 1) / 2


def save_pipeline_code(folder: str | Path) -> Path:
    """Write this file, byte for byte, as `folder/pipeline.py`: what plain diffusers loads the folder with.

    Args:
        folder: a translator folder (created when missing).

    Returns:
        The written file.
    """
    target = Path(folder) / PIPELINE_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, target)
    return target


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
            pretrained_model_name_or_path: a folder, a hub repo id, or (with fusionrs) `"builtin:default"`
                (`fusionrs.weights.default_translator_dir()`).
            **kwargs: passed to `DiffusionPipeline.from_pretrained` (e.g. `dtype`). Without a dtype,
                fp16-stored weights load as float32.

        Returns:
            The `RGBToIRPipeline`.

        Raises:
            FusionRSError: `"builtin:default"` while the installed package lacks the packaged folder.
        """
        if _IN_FUSIONRS:
            weights = importlib.import_module("fusionrs.weights")
            if str(pretrained_model_name_or_path) == weights.DEFAULT_TRANSLATOR_SPEC:
                pretrained_model_name_or_path = str(weights.default_translator_dir())
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    def save_pretrained(self, save_directory: str | Path, *args: Any, **kwargs: Any) -> None:
        """`DiffusionPipeline.save_pretrained`, plus `pipeline.py` (`save_pipeline_code`) for plain diffusers.

        Args:
            save_directory: the folder to write.
            *args: passed to `DiffusionPipeline.save_pretrained`.
            **kwargs: passed to `DiffusionPipeline.save_pretrained` (e.g. `safe_serialization`).
        """
        save_pipeline_code(save_directory)  # first, so a `push_to_hub=True` upload includes it
        super().save_pretrained(save_directory, *args, **kwargs)

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
                [0, tile_size), or `output_type` is neither "pil" nor "np"; without fusionrs, also
                for 16-bit or float images.
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
        height, width = rgb.shape[:2]
        if _IN_FUSIONRS:
            tiling = importlib.import_module("fusionrs.core.tiling")
            tile_boxes, blend_tiles = tiling.tile_boxes, tiling.blend_tiles
        else:
            tile_boxes, blend_tiles = _plain_tile_boxes, _plain_blend_tiles
        boxes = tile_boxes(width, height, tile_size, overlap)
        tiles = [self._translate_batch(rgb[None, top:bottom, left:right])[0] for left, top, right, bottom in boxes]
        return blend_tiles(tiles, boxes, (width, height)).astype(np.float32)


def _to_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if _IN_FUSIONRS:
        load_image = importlib.import_module("fusionrs.core.image_io").load_image
        return np.asarray(load_image(image, mode="RGB", max_pixels=None))
    return _plain_rgb_array(image)


# -------------------------------------------------------------------------------------------------
# Without fusionrs: the same conversion (8-bit inputs) and tiling as fusionrs.core.image_io / .tiling


def _plain_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An 8-bit image as an H x W x 3 uint8 array, converted as `fusionrs.core.image_io.load_image` does:
    EXIF orientation applied, palettes expanded, transparent pixels black, grey replicated."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValueError(f"a {image.dtype} array of shape {image.shape}: without fusionrs, pass HxW, HxWx1, "
                             "HxWx3 or HxWx4 uint8 arrays (fusionrs reads 16-bit and float images)")
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    if image.getexif().get(0x0112, 1) in (2, 3, 4, 5, 6, 7, 8):  # 0x0112: EXIF Orientation
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in ("P", "PA"):
        image = image.convert("RGBA" if mode == "PA" or "transparency" in image.info else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode in ("CMYK", "YCbCr"):
        image = image.convert("RGB")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise ValueError(f"PIL mode {mode!r}: without fusionrs, pass 8-bit images (fusionrs reads 16-bit and float ones)")
    if image.mode in ("RGBA", "LA"):  # transparent pixels are no-data: premultiplied, they become black
        array = np.asarray(image).astype(np.uint16)
        colour = ((array[..., :-1] * array[..., -1:] + 127) // 255).astype(np.uint8)
        image = Image.fromarray(colour[..., 0] if image.mode == "LA" else colour)
    return np.asarray(image.convert("RGB"))


def _plain_starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    return starts if starts[-1] == length - tile else [*starts, length - tile]


def _plain_tile_boxes(width: int, height: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) boxes of at most tile x tile, row by row, the last ones flush with the edge."""
    return [(left, top, min(left + tile, width), min(top + tile, height))
            for top in _plain_starts(height, tile, tile - overlap) for left in _plain_starts(width, tile, tile - overlap)]


def _plain_ramp(start: int, stop: int, length: int) -> np.ndarray:
    """Per-pixel weight along one axis: distance to the nearest tile edge inside the image (border edges don't count)."""
    size = stop - start
    index = np.arange(size, dtype=np.float64)
    from_start = index + 1 if start > 0 else np.full(size, np.inf)
    from_stop = size - index if stop < length else np.full(size, np.inf)
    weights = np.minimum(from_start, from_stop)
    return np.where(np.isinf(weights), float(size), weights)


def _plain_blend_tiles(tiles: list[np.ndarray], boxes: list[tuple[int, int, int, int]],
                       size: tuple[int, int]) -> np.ndarray:
    """H x W float tiles feathered back into one (width, height) image with linear ramps over the overlaps."""
    width, height = size
    total = np.zeros((height, width), dtype=np.float64)
    weight_sum = np.zeros((height, width), dtype=np.float64)
    for tile, (left, top, right, bottom) in zip(tiles, boxes):
        weights = np.outer(_plain_ramp(top, bottom, height), _plain_ramp(left, right, width))
        total[top:bottom, left:right] += tile * weights
        weight_sum[top:bottom, left:right] += weights
    return (total / np.maximum(weight_sum, 1.0)).astype(tiles[0].dtype)
