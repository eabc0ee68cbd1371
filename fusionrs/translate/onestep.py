"""`fusionrs:DIR` in the dataset builder: a trained one-step translator behind the `Translator` protocol.

Runs on the shared core: device/dtype from `select_device`/`select_dtype`, the loaded pipeline kept in
`cached_model` (keyed on the folder and its weight mtimes), same-size images batched, any input mode/size (padded to the UNet stride and
cropped back; images above `tile_size` tiled and feathered). Output is the size of the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = ["OneStepTranslator", "load_pipeline"]


def load_pipeline(folder: str | Path, device: str | None = None, dtype: str | None = None):
    """The RGBToIRPipeline of `folder` on the policy device/dtype, cached across calls.

    Args:
        folder: a trained translator folder (diffusers layout with `model_index.json`).
        device: the device name; None lets `select_device` choose (`$FUSIONRS_DEVICE`, else cuda > mps > cpu).
        dtype: the dtype name (e.g. "fp16"); None lets `select_dtype` choose for the device.

    Returns:
        The `RGBToIRPipeline` on that device and dtype, with its UNet in eval mode; the same object
        is returned while the folder's weights are unchanged (shared `cached_model`).
    """
    from fusionrs.core import select_device, select_dtype
    from fusionrs.core.model_cache import cached_model

    dev = select_device(device)
    dt = select_dtype(dev, dtype)

    def _load():
        from fusionrs.translate.pipeline_rgb_to_ir import RGBToIRPipeline

        pipe = RGBToIRPipeline.from_pretrained(str(folder), dtype=dt)
        pipe.unet.eval()
        return pipe.to(dev)

    return cached_model("rgb-to-ir", folder, _load, dev, dt)


class OneStepTranslator:
    """A trained `fusionrs` translator folder as a builder `Translator` (per-image deterministic)."""

    name = "fusionrs"

    def __init__(self, folder: str | Path, *, batch_size: int = 8, tile_size: int = 1024, device: str | None = None,
                 dtype: str | None = None, name: str = "fusionrs"):
        from fusionrs.translate.model import read_translator_config

        self.name = name  # rows record it as provenance.translator (`builtin:default` for the packaged one)
        self.folder = Path(folder)
        if not (self.folder / "model_index.json").is_file():
            raise FileNotFoundError(f"{self.folder}: not a translator folder (no model_index.json)")
        self.batch_size = batch_size
        self.tile_size = tile_size
        self._device, self._dtype = device, dtype
        config = read_translator_config(self.folder)
        self.params: dict[str, Any] = {
            "model": self.folder.name,
            "preset": config.get("preset"),
            "licence": config.get("licence"),
            "training_data": config.get("training_data"),
            "tile_size": tile_size,
            # which weights translated a row, whatever the folder is called
            "weights_sha256": _weights_sha256(self.folder),
        }
        if config.get("rights"):
            self.params["rights"] = config["rights"]
        else:
            from fusionrs.core.licences import training_licence

            licence = training_licence(config.get("training_data") or [], notes=config)
            if not licence.commercial_use:
                # a trained translator's terms travel with what it translates (the dataset card's licence rule
                # reads them as `translator_rights`), as the packaged translator's recorded rights do
                self.params["rights"] = f"{licence.note}: {licence.reason}"

    @property
    def pipeline(self):
        return load_pipeline(self.folder, self._device, self._dtype)

    def translate(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        if not images:
            return []
        return self.pipeline(list(images), tile_size=self.tile_size).images


def _weights_sha256(folder: Path) -> str | None:
    """The first 16 hex digits of the SHA-256 of the UNet safetensors (None when there is none)."""
    from fusionrs.core.hashing import file_sha256

    path = folder / "unet" / "diffusion_pytorch_model.safetensors"
    return file_sha256(path)[:16] if path.is_file() else None
