"""Convert DiffV2IR's original single-file checkpoint (CompVis/LDM layout) into a diffusers folder.

The published checkpoint is a PyTorch Lightning pickle whose `state_dict` holds
`model.diffusion_model.*` (the 12-channel UNet), `first_stage_model.*` (the SD VAE) and
`cond_stage_model.transformer.*` (CLIP ViT-L/14 text encoder). Weights are renamed with diffusers'
own single-file utilities; the folder loads with `DiffV2IRPipeline.from_pretrained(folder)`.

We never unpickle arbitrary objects: `.ckpt`/`.pt` files are read with `torch.load(weights_only=True)`
(tensors and plain containers only) and `.safetensors` files are read directly.
"""

from __future__ import annotations

import copy
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

from fusionrs.errors import CheckpointLoadError, CheckpointLayoutError  # noqa: F401  (defined in errors.py, re-exported here)

__all__ = [
    "CheckpointLoadError",
    "CheckpointLayoutError",
    "SD1_DIFFV2IR_CONFIG",
    "CLIP_VIT_L14_TEXT_CONFIG",
    "DEFAULT_TOKENIZER",
    "load_original_state_dict",
    "convert_diffv2ir_checkpoint",
]

#: The CompVis model config DiffV2IR inherits from InstructPix2Pix/SD-1.x (its configs/*.yaml), as data.
#: Only the fields diffusers' conversion helpers read are listed; `unet_config.in_channels` is
#: replaced by the checkpoint's own `conv_in` width.
SD1_DIFFV2IR_CONFIG: dict[str, Any] = {
    "model": {
        "params": {
            "linear_start": 0.00085,
            "linear_end": 0.012,
            "timesteps": 1000,
            "scale_factor": 0.18215,
            "unet_config": {
                "params": {
                    "image_size": 32,
                    "in_channels": 12,
                    "out_channels": 4,
                    "model_channels": 320,
                    "attention_resolutions": [4, 2, 1],
                    "num_res_blocks": 2,
                    "channel_mult": [1, 2, 4, 4],
                    "num_heads": 8,
                    "transformer_depth": 1,
                    "context_dim": 768,
                }
            },
            "first_stage_config": {
                "params": {
                    "embed_dim": 4,
                    "ddconfig": {
                        "double_z": True,
                        "z_channels": 4,
                        "resolution": 256,
                        "in_channels": 3,
                        "out_ch": 3,
                        "ch": 128,
                        "ch_mult": [1, 2, 4, 4],
                        "num_res_blocks": 2,
                        "attn_resolutions": [],
                    },
                }
            },
        }
    }
}

#: openai/clip-vit-large-patch14 text tower (FrozenCLIPEmbedder's default); sizes are re-read from the weights.
CLIP_VIT_L14_TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 1,
}

#: Where the CLIP ViT-L/14 tokenizer comes from by default (the checkpoint does not contain one).
DEFAULT_TOKENIZER = "openai/clip-vit-large-patch14"

_UNET_PREFIX = "model.diffusion_model."
_VAE_PREFIX = "first_stage_model."
_CLIP_PREFIX = "cond_stage_model.transformer."


def load_original_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """The flat state dict of a `.ckpt`/`.pt`/`.pth` (Lightning pickle) or `.safetensors` file.

    Args:
        path: the checkpoint file. A `.safetensors` file is read with safetensors; anything else
            with `torch.load(weights_only=True)` on the CPU (never arbitrary unpickling).

    Returns:
        The flat dict of parameter name -> CPU tensor; a Lightning checkpoint's nested
        `state_dict` is unwrapped.

    Raises:
        FileNotFoundError: when `path` is not an existing file.
        CheckpointLoadError: when the file is not a readable safetensors file or PyTorch
            checkpoint, or its pickle holds objects that `weights_only=True` refuses.
        CheckpointLayoutError: when the loaded payload is not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError for corrupt headers
            raise CheckpointLoadError(f"{path}: not a readable safetensors file ({exc})") from exc

    import torch

    with path.open("rb") as handle:
        head = handle.read(4)
    if not zipfile.is_zipfile(path) and not head.startswith(b"\x80"):  # neither torch's zip format nor a pickle
        raise CheckpointLoadError(f"{path}: not a readable PyTorch checkpoint (neither a torch zip archive nor a pickle)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointLoadError(
            f"{path}: refused to load this pickle with torch.load(weights_only=True): it contains objects "
            f"other than tensors and plain containers, and fusionrs never unpickles arbitrary code. "
            f"If you trust the file, re-save only its weights in an isolated environment, e.g.\n"
            f"  python -c \"import torch, safetensors.torch as st; sd = torch.load('{path.name}', weights_only=False)"
            f"['state_dict']; st.save_file({{k: v.contiguous() for k, v in sd.items()}}, 'diffv2ir.safetensors')\"\n"
            f"and convert the .safetensors file instead. (torch said: {str(exc).splitlines()[0]})"
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointLoadError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict):
        raise CheckpointLayoutError(f"{path}: expected a state dict, found {type(payload).__name__}")
    return payload


def _load_config(original_config: str | os.PathLike | dict | None) -> dict[str, Any]:
    if original_config is None:
        return copy.deepcopy(SD1_DIFFV2IR_CONFIG)
    if isinstance(original_config, dict):
        return copy.deepcopy(original_config)
    import yaml

    return yaml.safe_load(Path(original_config).read_text())


def _check_layout(state_dict: dict[str, Any]) -> None:
    missing = [prefix for prefix in (_UNET_PREFIX, _VAE_PREFIX, _CLIP_PREFIX) if not any(k.startswith(prefix) for k in state_dict)]
    if missing:
        raise CheckpointLayoutError(
            f"not an original DiffV2IR/LDM checkpoint: no keys start with {', '.join(missing)} "
            f"(first keys: {', '.join(list(state_dict)[:5])})"
        )


def _load_strict(model, weights: dict[str, Any], what: str) -> None:
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise CheckpointLayoutError(
            f"{what} weights do not match the architecture of the config: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


def _convert_unet(state_dict, config, *, extract_ema: bool | None):
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, create_unet_diffusers_config_from_ldm

    unet_params = config["model"]["params"]["unet_config"]["params"]
    unet_params.setdefault("transformer_depth", 1)
    unet_params["in_channels"] = int(state_dict[_UNET_PREFIX + "input_blocks.0.0.weight"].shape[1])
    vae_ddconfig = config["model"]["params"]["first_stage_config"]["params"]["ddconfig"]
    image_size = unet_params["image_size"] * 2 ** (len(vae_ddconfig["ch_mult"]) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # passing image_size is "deprecated" but avoids model sniffing
        unet_config = create_unet_diffusers_config_from_ldm(config, state_dict, image_size=image_size)
    latent_channels = int(vae_ddconfig["z_channels"])
    if unet_config["in_channels"] != 3 * latent_channels:
        raise CheckpointLayoutError(
            f"the UNet takes {unet_config['in_channels']} input channels; DiffV2IR's takes {3 * latent_channels} "
            f"(noisy latent + RGB latent + segmentation latent). Is this a plain SD or InstructPix2Pix checkpoint?"
        )
    # diffusers' own threshold for "this checkpoint carries EMA copies" (LitEma's flattened names).
    has_ema = sum(key.startswith("model_ema.") for key in state_dict) > 100
    if extract_ema and not has_ema:
        raise CheckpointLayoutError("EMA weights were asked for but the checkpoint has no model_ema.* UNet weights")
    unet = UNet2DConditionModel(**unet_config)
    use_ema = has_ema if extract_ema is None else extract_ema
    _load_strict(unet, convert_ldm_unet_checkpoint(state_dict, unet_config, extract_ema=use_ema), "UNet")
    return unet


def _convert_vae(state_dict, config):
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint, create_vae_diffusers_config_from_ldm

    params = config["model"]["params"]
    ddconfig = params["first_stage_config"]["params"]["ddconfig"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        vae_config = create_vae_diffusers_config_from_ldm(
            config, state_dict, image_size=ddconfig.get("resolution", 256), scaling_factor=params.get("scale_factor", 0.18215)
        )
    vae = AutoencoderKL(**vae_config)
    _load_strict(vae, convert_ldm_vae_checkpoint(state_dict, vae_config), "VAE")
    return vae


def _convert_text_encoder(state_dict, text_config: dict[str, Any] | None):
    from transformers import CLIPTextConfig, CLIPTextModel

    weights = {}
    for key, value in state_dict.items():
        if key.startswith(_CLIP_PREFIX):
            name = key[len(_CLIP_PREFIX):]
            # Checkpoints saved with old transformers lack the `text_model.` level.
            weights[name if name.startswith("text_model.") else "text_model." + name] = value
    weights.pop("text_model.embeddings.position_ids", None)  # a buffer in old transformers, not a weight

    sizes = dict(CLIP_VIT_L14_TEXT_CONFIG)
    vocab_size, hidden_size = weights["text_model.embeddings.token_embedding.weight"].shape
    sizes.update(
        vocab_size=int(vocab_size),
        hidden_size=int(hidden_size),
        intermediate_size=int(weights["text_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
        num_hidden_layers=len({k.split(".")[3] for k in weights if k.startswith("text_model.encoder.layers.")}),
        max_position_embeddings=int(weights["text_model.embeddings.position_embedding.weight"].shape[0]),
        num_attention_heads=max(1, int(hidden_size) // 64),  # CLIP text towers use 64-wide heads
        projection_dim=int(hidden_size),
    )
    sizes.update(text_config or {})
    text_encoder = CLIPTextModel(CLIPTextConfig(**sizes))
    if not any(key.startswith("text_model.") for key in text_encoder.state_dict()):
        # transformers >= 5 dropped the `text_model.` level inside CLIPTextModel.
        weights = {key[len("text_model."):]: value for key, value in weights.items()}
    _load_strict(text_encoder, weights, "text encoder")
    return text_encoder


def _load_tokenizer(tokenizer):
    from transformers import CLIPTokenizer

    if isinstance(tokenizer, CLIPTokenizer):
        return tokenizer
    try:
        return CLIPTokenizer.from_pretrained(str(tokenizer))
    except (OSError, ValueError) as exc:
        raise CheckpointLoadError(
            f"could not load the CLIP tokenizer from {tokenizer!r} ({str(exc).splitlines()[0]}). The checkpoint has no "
            f"tokenizer: pass a folder holding the CLIP ViT-L/14 tokenizer (e.g. the tokenizer/ folder of any SD-1.x "
            f"diffusers model, or a download of {DEFAULT_TOKENIZER}), or run once with network access."
        ) from exc


def convert_diffv2ir_checkpoint(
    checkpoint: str | os.PathLike | dict[str, Any],
    out_dir: str | os.PathLike,
    *,
    tokenizer: Any = DEFAULT_TOKENIZER,
    original_config: str | os.PathLike | dict | None = None,
    text_config: dict[str, Any] | None = None,
    extract_ema: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a `DiffV2IRPipeline` folder (safetensors weights) converted from an original checkpoint.

    Args:
        checkpoint: the `.ckpt` / `.safetensors` path, or an already loaded flat state dict.
        out_dir: the diffusers folder to write.
        tokenizer: a `CLIPTokenizer`, or a folder / hub id holding the CLIP ViT-L/14 tokenizer.
        original_config: DiffV2IR's CompVis YAML (or the same as a dict); default `SD1_DIFFV2IR_CONFIG`.
        text_config: `CLIPTextConfig` overrides (sizes are otherwise read off the weights).
        extract_ema: which UNet weights: None (default) takes the `model_ema.*` copies when the
            checkpoint has them, as sampling does under InstructPix2Pix's `generate.yaml`
            (`use_ema: true`, `load_ema: true`), which DiffV2IR's `infer.py` loads; False takes
            `model.diffusion_model.*`; True requires the EMA copies.
        overwrite: replace an existing `out_dir` that fusionrs wrote (never a non-empty folder
            without the fusionrs marker, never the checkpoint's own folder).

    Returns:
        `out_dir` as a `Path`, now holding the saved `DiffV2IRPipeline` (unet, vae, text_encoder,
        tokenizer, scheduler; safetensors weights). A failed conversion leaves an existing
        `out_dir` untouched.

    Raises:
        FileExistsError: (`OutputFolderError`) when `out_dir` exists, is not empty, and `overwrite`
            is False, or may not be replaced at all (`fusionrs.core.output_folder.check_output_folder`).
        CheckpointLoadError: when the checkpoint file or the tokenizer cannot be loaded.
        CheckpointLayoutError: when the state dict is not an original DiffV2IR/LDM layout (UNet,
            VAE or CLIP keys missing), its weights do not fit the models, or `extract_ema=True`
            but it has no `model_ema.*` weights.
        FileNotFoundError: when a checkpoint path does not exist.
    """
    from fusionrs.translate.pipeline_diffv2ir import DiffV2IRPipeline, diffv2ir_scheduler

    from fusionrs.core.atomic import atomic_folder
    from fusionrs.core.output_folder import check_output_folder

    out_dir = Path(out_dir)
    inputs = [] if isinstance(checkpoint, dict) else [Path(checkpoint)]
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs, what="--out")

    state_dict = checkpoint if isinstance(checkpoint, dict) else load_original_state_dict(checkpoint)
    _check_layout(state_dict)
    config = _load_config(original_config)
    params = config["model"]["params"]

    unet = _convert_unet(state_dict, config, extract_ema=extract_ema)
    vae = _convert_vae(state_dict, config)
    text_encoder = _convert_text_encoder(state_dict, text_config)
    scheduler = diffv2ir_scheduler(
        beta_start=params.get("linear_start", 0.00085),
        beta_end=params.get("linear_end", 0.012),
        num_train_timesteps=params.get("timesteps", 1000),
    )
    pipeline = DiffV2IRPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=_load_tokenizer(tokenizer), unet=unet, scheduler=scheduler
    )
    with atomic_folder(out_dir, kind="model") as staging:  # a failed save leaves the old folder in place
        pipeline.save_pretrained(staging, safe_serialization=True)
    return out_dir
