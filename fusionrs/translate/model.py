"""The one-step RGB->IR generator: a stock diffusers `UNet2DModel` run once at a constant timestep.

The UNet sees the RGB image folded space-to-depth (`pixel_shuffle` f: 3*f*f channels at 1/f of the
resolution, which is what makes it cheap at full resolution) and its f*f output channels unfold back
into one IR channel, squashed to [0, 1] by `(tanh + 1) / 2`. Sizes are data in `presets.json`.
`pad_multiple` and `translate_tensor` live in `pipeline_rgb_to_ir` (a folder's self-contained
`pipeline.py` needs them) and are importable from here too, loaded on first use so this module stays
free of torch.

A trained translator is a folder::

    model_index.json          RGBToIRPipeline + its settings (pixel_shuffle, timestep)
    pipeline.py               pipeline_rgb_to_ir.py verbatim: plain diffusers loads the folder with it
    unet/                     stock UNet2DModel: config.json + diffusion_pytorch_model.safetensors
    translator_config.json    preset, training data sources, licence, input normalisation
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers import UNet2DModel

__all__ = [
    "TRANSLATOR_CONFIG_NAME",
    "list_presets",
    "load_preset",
    "build_unet",
    "read_translator_config",
    "licence_for_sources",
]

TRANSLATOR_CONFIG_NAME = "translator_config.json"
INPUT_NORMALISATION = "rgb / 127.5 - 1 (RGB, channels first)"
OUTPUT_RULE = "ir = (tanh(unet(rgb, timestep).sample) + 1) / 2, unfolded by pixel_shuffle"


@cache
def _presets() -> dict[str, dict[str, Any]]:
    raw = json.loads((Path(__file__).with_name("presets.json")).read_text())
    return {name: value for name, value in raw.items() if not name.startswith("_")}


def list_presets() -> list[str]:
    """Names of the generator size presets, smallest first (tiny for tests, small, base, large)."""
    return list(_presets())


def load_preset(name: str) -> dict[str, Any]:
    """A copy of a generator size preset.

    Args:
        name: one of `list_presets()`.

    Returns:
        {"pixel_shuffle": f, "unet": UNet2DModel kwargs}, safe to modify.

    Raises:
        ValueError: `name` is not a preset.
    """
    presets = _presets()
    if name not in presets:
        raise ValueError(f"unknown translator preset {name!r}; available: {', '.join(presets)}")
    return json.loads(json.dumps(presets[name]))


def build_unet(preset: str | dict[str, Any], *, seed: int = 0) -> "UNet2DModel":
    """A freshly initialised stock UNet2DModel for a preset, seeded.

    Args:
        preset: a preset name or a preset dict (as `load_preset` returns).
        seed: the initialisation seed (the global torch RNG is left as it was).

    Returns:
        The UNet (3*f*f input and f*f output channels for pixel_shuffle f).
    """
    import torch
    from diffusers import UNet2DModel

    spec = load_preset(preset) if isinstance(preset, str) else preset
    f = int(spec["pixel_shuffle"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet2DModel(in_channels=3 * f * f, out_channels=f * f, **spec["unet"])


def __getattr__(name: str) -> Any:
    # `from fusionrs.translate.model import translate_tensor` keeps working without importing torch here.
    if name in ("pad_multiple", "translate_tensor"):
        from fusionrs.translate import pipeline_rgb_to_ir

        return getattr(pipeline_rgb_to_ir, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def licence_for_sources(sources: list[str]) -> str:
    """The licence note a translator trained on `sources` records (`core.licences.training_licence`).

    Args:
        sources: the training data sources (names or rights notes, e.g. "llvip", "world").

    Returns:
        "non-commercial" when any source is non-commercial (LLVIP, CC-BY-NC, ...), "research" for
        research-use or unstated terms (RoadScene), else the permissive licence id ("apache-2.0" for
        the CC0 procedural world alone): the same rule the translator's card shows.
    """
    from fusionrs.core.licences import training_licence

    return training_licence(sources).note


def read_translator_config(folder: str | Path) -> dict[str, Any]:
    """The translator_config.json of a translator folder.

    Args:
        folder: the translator folder.

    Returns:
        The notes; {} when the folder has none.
    """
    path = Path(folder) / TRANSLATOR_CONFIG_NAME
    return json.loads(path.read_text()) if path.is_file() else {}
