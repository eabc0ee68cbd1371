"""Convert open_clip ViT checkpoints (RemoteCLIP, GeoRSCLIP, ...) into plain transformers `CLIPModel` folders.

Remote-sensing CLIPs are published as open_clip state dicts (`torch.save(model.state_dict())`), which
transformers cannot load and which need open_clip + torchvision to run (DESIGN.md: neither is a
dependency). The layouts are the same network, so conversion is renaming, splitting open_clip's fused
`in_proj_weight` into q/k/v, and transposing the two output projections (open_clip multiplies
`x @ proj`; transformers stores `nn.Linear` weights). open_clip itself is never imported.

Architectures are data: `ARCHS` holds open_clip's own model-config dicts (`embed_dim`, `vision_cfg`,
`text_cfg`, `quick_gelu`), and `--arch` also accepts the path of such a JSON file, so any ViT size
with this layout converts. The activation is not stored in the weights; see `ARCH_NOTES` and
docs/convert_clip.md for why the presets default to QuickGELU except ViT-H-14.

Strict by design: a checkpoint key we do not map, a `CLIPModel` weight left unfilled, or a shape that
disagrees with the architecture stops the conversion with a message naming the keys. Checkpoints are
read with `torch.load(weights_only=True)` (or safetensors), never by unpickling arbitrary objects.
"""

from __future__ import annotations

import copy
import json
import math
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionrs.core.hashing import file_sha256
from fusionrs.errors import OpenClipConversionError  # noqa: F401  (defined in errors.py, re-exported here)

if TYPE_CHECKING:
    import torch
    from transformers import CLIPConfig

__all__ = [
    "ARCHS",
    "ARCH_NOTES",
    "OPENAI_MEAN",
    "OPENAI_STD",
    "NON_WEIGHT_KEYS",
    "OpenClipConversionError",
    "list_archs",
    "load_arch",
    "clip_config_from_arch",
    "infer_arch",
    "load_open_clip_state_dict",
    "convert_state_dict",
    "convert_open_clip_checkpoint",
]

# open_clip model configs (its src/open_clip/model_configs/*.json), plus the activation the published
# remote-sensing weights of that size were trained with. Unlisted fields take open_clip's defaults:
# head_width 64, mlp_ratio 4, context_length 77, vocab_size 49408.
ARCHS: dict[str, dict[str, Any]] = {
    "ViT-B-32": {
        "embed_dim": 512,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
    },
    "ViT-B-16": {
        "embed_dim": 512,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
    },
    "ViT-L-14": {
        "embed_dim": 768,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12},
    },
    "ViT-H-14": {
        "embed_dim": 1024,
        "quick_gelu": False,
        "vision_cfg": {"image_size": 224, "layers": 32, "width": 1280, "head_width": 80, "patch_size": 14},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1024, "heads": 16, "layers": 24},
    },
}

ARCH_NOTES: dict[str, str] = {
    "ViT-B-32": "QuickGELU: RemoteCLIP and GeoRSCLIP ViT-B/32 are fine-tuned from OpenAI CLIP, and their evaluation "
                "code builds the model with pretrained='openai', which in open_clip 2.x means QuickGELU",
    "ViT-B-16": "QuickGELU: assumes OpenAI-initialised weights; pass --gelu for LAION/DataComp-trained ones",
    "ViT-L-14": "QuickGELU: RemoteCLIP ViT-L/14 is fine-tuned from OpenAI CLIP (same reasoning as ViT-B-32)",
    "ViT-H-14": "GELU: GeoRSCLIP ViT-H/14 is fine-tuned from open_clip's laion2b_s32b_b79k, trained with nn.GELU",
}

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

#: Entries some checkpoints carry that are not weights: the text causal-mask buffer (persisted by old
#: open_clip versions) and the scalars OpenAI's original state dicts hold. Dropped, and listed in the provenance.
NON_WEIGHT_KEYS = ("attn_mask", "input_resolution", "context_length", "vocab_size")

# open_clip config fields we understand, and the value(s) each must have for the layout to be the plain
# CLIP one we map (anything else changes the network: layer scale, attention pooling, custom blocks ...).
# *_IGNORED fields do not change the weights or the inference maths (dropout, tokenizer names, pooling
# order around a per-token LayerNorm).
_VISION_FIELDS = {"image_size", "layers", "width", "head_width", "mlp_ratio", "patch_size", "norm_kwargs"}
_VISION_FIXED = {
    "ls_init_value": None, "attentional_pool": False, "no_ln_pre": False, "pos_embed_type": "learnable",
    "pool_type": "tok", "act_kwargs": None, "block_type": (None, "default"), "qk_norm": False, "scaled_cosine_attn": False,
    "scale_heads": False, "scale_attn_inner": False, "scale_attn": False, "scale_fc": False, "timm_model_name": None,
}
_VISION_IGNORED = {"patch_dropout", "final_ln_after_pool", "output_tokens", "attn_pooler_queries", "attn_pooler_heads",
                   "timm_model_pretrained", "timm_pool", "timm_proj", "timm_proj_bias", "timm_drop", "timm_drop_path"}
_TEXT_FIELDS = {"context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio", "norm_kwargs"}
_TEXT_FIXED = {
    "ls_init_value": None, "embed_cls": False, "no_causal_mask": False, "pool_type": "argmax", "proj_bias": False,
    "proj_type": "linear", "act_kwargs": None, "block_type": (None, "default"), "qk_norm": False, "scaled_cosine_attn": False,
    "scale_heads": False, "scale_attn_inner": False, "scale_attn": False, "scale_fc": False, "hf_model_name": None,
}
_TEXT_IGNORED = {"hf_tokenizer_name", "tokenizer_mode", "tokenizer_kwargs", "pad_id", "eos_id", "final_ln_after_pool",
                 "output_tokens", "hf_model_pretrained", "hf_proj_type", "hf_pooler_type"}
_TOP_FIELDS = {"embed_dim", "quick_gelu", "vision_cfg", "text_cfg"}
_TOP_FIXED = {"custom_text": False, "init_logit_bias": None, "multimodal_cfg": None}
_TOP_IGNORED = {"init_logit_scale", "nonscalar_logit_scale", "cast_dtype", "output_dict"}

_BOS_ID, _EOS_ID = 49406, 49407

# Per-block renames (the fused in_proj_* pair is split separately).
_BLOCK_RENAMES = {
    "ln_1.weight": "layer_norm1.weight",
    "ln_1.bias": "layer_norm1.bias",
    "attn.out_proj.weight": "self_attn.out_proj.weight",
    "attn.out_proj.bias": "self_attn.out_proj.bias",
    "ln_2.weight": "layer_norm2.weight",
    "ln_2.bias": "layer_norm2.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight",
    "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight",
    "mlp.c_proj.bias": "mlp.fc2.bias",
}
_TOP_RENAMES = {
    "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
    "positional_embedding": "text_model.embeddings.position_embedding.weight",
    "ln_final.weight": "text_model.final_layer_norm.weight",
    "ln_final.bias": "text_model.final_layer_norm.bias",
    "logit_scale": "logit_scale",
    "visual.class_embedding": "vision_model.embeddings.class_embedding",
    "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "visual.ln_post.weight": "vision_model.post_layernorm.weight",
    "visual.ln_post.bias": "vision_model.post_layernorm.bias",
}
# open_clip computes `x @ proj` with proj (width, embed_dim); nn.Linear stores (embed_dim, width).
_TRANSPOSED = {"text_projection": "text_projection.weight", "visual.proj": "visual_projection.weight"}
_BLOCK_KEY = re.compile(r"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")


def list_archs() -> list[str]:
    """Names `--arch` accepts besides a path to an open_clip model-config JSON."""
    return sorted(ARCHS)


def load_arch(arch: str | os.PathLike | dict[str, Any]) -> dict[str, Any]:
    """An open_clip model-config dict from a preset name, a JSON file path, or a dict (validated, copied).

    Args:
        arch: a name in `ARCHS`, the path of an open_clip model-config JSON (a hub-style
            `open_clip_config.json` with `model_cfg` works too), or such a config dict.

    Returns:
        A deep copy of the config ({"embed_dim", "vision_cfg", "text_cfg", ...}), checked to
        describe a plain CLIP ViT.

    Raises:
        FileNotFoundError: when `arch` is a `.json` path that does not exist.
        OpenClipConversionError: when the name is unknown, the file is not valid JSON, a field is
            unknown or changes the network away from the plain CLIP ViT layout, `vision_cfg` /
            `text_cfg` is missing, the vision tower is a ResNet, or `embed_dim` is missing.
    """
    if isinstance(arch, dict):
        cfg, where = copy.deepcopy(arch), "the architecture dict"
    elif str(arch) in ARCHS:
        cfg, where = copy.deepcopy(ARCHS[str(arch)]), f"preset {arch}"
    elif Path(arch).suffix == ".json" or Path(arch).is_file():
        path = Path(arch)
        if not path.is_file():
            raise FileNotFoundError(f"architecture file {path} does not exist")
        try:
            cfg = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise OpenClipConversionError(f"{path}: not valid JSON ({exc})") from exc
        cfg = cfg.get("model_cfg", cfg)  # hub-style open_clip_config.json nests the model config
        where = str(path)
    else:
        raise OpenClipConversionError(
            f"unknown architecture {str(arch)!r}: use one of {', '.join(list_archs())} or the path of an open_clip "
            f"model-config JSON file"
        )
    _check_fields(cfg, _TOP_FIELDS, _TOP_FIXED, _TOP_IGNORED, where)
    for section, fields, fixed, ignored in (
        ("vision_cfg", _VISION_FIELDS, _VISION_FIXED, _VISION_IGNORED),
        ("text_cfg", _TEXT_FIELDS, _TEXT_FIXED, _TEXT_IGNORED),
    ):
        if not isinstance(cfg.get(section), dict):
            raise OpenClipConversionError(f"{where}: field {section!r} is missing or not an object")
        _check_fields(cfg[section], fields, fixed, ignored, f"{where}, {section}")
    if isinstance(cfg["vision_cfg"].get("layers"), (list, tuple)):
        raise OpenClipConversionError(f"{where}: vision_cfg.layers is a list, i.e. a ResNet tower; only ViTs convert")
    if "embed_dim" not in cfg:
        raise OpenClipConversionError(f"{where}: field 'embed_dim' is missing")
    return cfg


def _check_fields(section: dict, fields: set, fixed: dict, ignored: set, where: str) -> None:
    for key, value in section.items():
        if key in fields or key in ignored:
            continue
        if key in fixed:
            allowed = fixed[key] if isinstance(fixed[key], tuple) else (fixed[key],)
            if value not in allowed:
                raise OpenClipConversionError(
                    f"{where}: {key}={value!r} changes the network away from the plain CLIP ViT layout "
                    f"(supported: {' or '.join(map(repr, allowed))}); such models do not convert to CLIPModel"
                )
            continue
        raise OpenClipConversionError(f"{where}: unknown field {key!r}")


def _layer_norm_eps(section: dict) -> float:
    return float((section.get("norm_kwargs") or {}).get("eps", 1e-5))  # nn.LayerNorm's default, as open_clip uses


def clip_config_from_arch(arch_cfg: dict[str, Any], *, quick_gelu: bool | None = None) -> CLIPConfig:
    """The transformers `CLIPConfig` of an open_clip model config; `quick_gelu` overrides the config's own flag.

    Args:
        arch_cfg: an open_clip model config (as from `load_arch`).
        quick_gelu: True for QuickGELU, False for GELU in both towers; None takes the config's
            `quick_gelu` flag (False when absent).

    Returns:
        A `CLIPConfig` with open_clip's defaults for unlisted fields, BOS/EOS ids 49406/49407 (pad =
        EOS) and the initial logit scale log(1 / 0.07).

    Raises:
        OpenClipConversionError: when a tower's width is not a multiple of its head width / head
            count, or the image size is not square.
    """
    from transformers import CLIPConfig

    vision, text = arch_cfg["vision_cfg"], arch_cfg["text_cfg"]
    act = "quick_gelu" if (arch_cfg.get("quick_gelu", False) if quick_gelu is None else quick_gelu) else "gelu"
    embed_dim = int(arch_cfg["embed_dim"])
    vision_width, head_width = int(vision["width"]), int(vision.get("head_width", 64))
    if vision_width % head_width:
        raise OpenClipConversionError(f"vision width {vision_width} is not a multiple of head_width {head_width}")
    text_width, text_heads = int(text.get("width", 512)), int(text.get("heads", 8))
    if text_width % text_heads:
        raise OpenClipConversionError(f"text width {text_width} is not a multiple of heads {text_heads}")
    image_size = vision.get("image_size", 224)
    if isinstance(image_size, (list, tuple)):
        if len(set(image_size)) != 1:
            raise OpenClipConversionError(f"non-square image_size {image_size} is not supported by CLIPVisionConfig")
        image_size = image_size[0]
    text_config = {
        "vocab_size": int(text.get("vocab_size", 49408)),
        "hidden_size": text_width,
        "intermediate_size": int(text_width * float(text.get("mlp_ratio", 4.0))),
        "num_hidden_layers": int(text.get("layers", 12)),
        "num_attention_heads": text_heads,
        "max_position_embeddings": int(text.get("context_length", 77)),
        "hidden_act": act,
        "layer_norm_eps": _layer_norm_eps(text),
        "projection_dim": embed_dim,
        # open_clip pools at argmax(ids) = the first <|endoftext|> (the highest id); transformers pools at the
        # first eos_token_id unless that is the legacy value 2. pad = eos like OpenAI's hub tokenizers.
        "bos_token_id": _BOS_ID,
        "eos_token_id": _EOS_ID,
        "pad_token_id": _EOS_ID,
    }
    vision_config = {
        "hidden_size": vision_width,
        "intermediate_size": int(vision_width * float(vision.get("mlp_ratio", 4.0))),
        "num_hidden_layers": int(vision["layers"]),
        "num_attention_heads": vision_width // head_width,
        "image_size": int(image_size),
        "patch_size": int(vision["patch_size"]),
        "hidden_act": act,
        "layer_norm_eps": _layer_norm_eps(vision),
        "projection_dim": embed_dim,
    }
    return CLIPConfig(
        text_config=text_config, vision_config=vision_config, projection_dim=embed_dim,
        logit_scale_init_value=math.log(1 / 0.07),
    )


def infer_arch(state_dict: dict[str, Any]) -> dict[str, Any] | None:
    """Best-effort open_clip config read off the weight shapes (heads cannot be read; 64-wide assumed), or None.

    Args:
        state_dict: an open_clip ViT state dict (name -> tensor).

    Returns:
        {"embed_dim", "vision_cfg": {image_size, layers, width, patch_size}, "text_cfg":
        {context_length, vocab_size, width, heads, layers}}, or None when the ViT keys it reads
        (visual.conv1, visual.proj, positional embeddings, token embedding) are missing or odd.
    """
    try:
        width, _, patch, _ = state_dict["visual.conv1.weight"].shape
        positions = state_dict["visual.positional_embedding"].shape[0]
        text_positions, text_width = state_dict["positional_embedding"].shape
        cfg = {
            "embed_dim": int(state_dict["visual.proj"].shape[1]),
            "vision_cfg": {
                "image_size": int(round(math.sqrt(positions - 1))) * int(patch),
                "layers": _count_blocks(state_dict, "visual.transformer.resblocks."),
                "width": int(width),
                "patch_size": int(patch),
            },
            "text_cfg": {
                "context_length": int(text_positions),
                "vocab_size": int(state_dict["token_embedding.weight"].shape[0]),
                "width": int(text_width),
                "heads": max(1, int(text_width) // 64),
                "layers": _count_blocks(state_dict, "transformer.resblocks."),
            },
        }
    except (KeyError, AttributeError, ValueError, IndexError):
        return None
    return cfg


def _count_blocks(state_dict: dict[str, Any], prefix: str) -> int:
    return len({key[len(prefix):].split(".", 1)[0] for key in state_dict if key.startswith(prefix)})


def _matching_preset(cfg: dict[str, Any] | None) -> str | None:
    if cfg is None:
        return None
    for name, preset in ARCHS.items():
        vision, text = preset["vision_cfg"], preset["text_cfg"]
        if (cfg["embed_dim"], cfg["vision_cfg"]["width"], cfg["vision_cfg"]["layers"], cfg["vision_cfg"]["patch_size"],
                cfg["text_cfg"]["width"], cfg["text_cfg"]["layers"]) == (
                preset["embed_dim"], vision["width"], vision["layers"], vision["patch_size"], text["width"], text["layers"]):
            return name
    return None


def _describe(cfg: dict[str, Any] | None) -> str:
    if cfg is None:
        return "the checkpoint is not a recognisable open_clip ViT CLIP (no visual.conv1 / visual.proj / positional_embedding)"
    preset = _matching_preset(cfg)
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    shape = (f"vision width {v['width']} x {v['layers']} layers, patch {v['patch_size']}, image {v['image_size']}; "
             f"text width {t['width']} x {t['layers']} layers; embed_dim {cfg['embed_dim']}")
    return f"the checkpoint looks like {preset} ({shape})" if preset else f"the checkpoint has {shape}"


# ---------------------------------------------------------------------------------------------- loading


def load_open_clip_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The flat open_clip state dict of a `.pt`/`.pth`/`.bin` file or a `.safetensors` file.

    Accepts a plain state dict (what RemoteCLIP and GeoRSCLIP publish), an open_clip training checkpoint
    (`{"epoch", "state_dict", "optimizer", ...}`) and DDP's `module.` prefixes.

    Args:
        path: the checkpoint file; `.safetensors` is read with safetensors, anything else with
            `torch.load(weights_only=True)` (memory-mapped for the zip format).

    Returns:
        The flat state dict on the CPU (name -> tensor, plus any `NON_WEIGHT_KEYS` entries), with
        `state_dict` / `model` wrappers and `module.` / `_orig_mod.` prefixes removed.

    Raises:
        FileNotFoundError: when `path` does not exist.
        OpenClipConversionError: when the file is not a readable safetensors or PyTorch checkpoint,
            holds objects `weights_only` refuses, is not a non-empty state dict, or has entries
            that are not tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            payload: Any = load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own SafetensorError on corrupt headers
            raise OpenClipConversionError(f"{path}: not a readable safetensors file ({exc})") from exc
    else:
        with path.open("rb") as handle:
            head = handle.read(2)
        is_zip = zipfile.is_zipfile(path)
        if not is_zip and not head.startswith(b"\x80"):
            raise OpenClipConversionError(f"{path}: not a PyTorch checkpoint (neither a torch zip archive nor a pickle)")
        try:
            # mmap (zip format only): a 4 GB ViT-H file is paged in as tensors are converted, not read up front.
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
        except pickle.UnpicklingError as exc:
            raise OpenClipConversionError(
                f"{path}: refused: torch.load(weights_only=True) found objects other than tensors and plain "
                f"containers, and fusionrs never unpickles arbitrary code. If you trust the file, re-save its "
                f"weights in an isolated environment, e.g. `python -c \"import torch, safetensors.torch as st; "
                f"sd = torch.load('{path.name}', weights_only=False); sd = sd.get('state_dict', sd); "
                f"st.save_file({{k: v.contiguous() for k, v in sd.items()}}, 'weights.safetensors')\"` and convert "
                f"that file. (torch said: {str(exc).splitlines()[0]})"
            ) from exc
        except (RuntimeError, EOFError, OSError) as exc:
            raise OpenClipConversionError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    return _unwrap(payload, path)


def _unwrap(payload: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    for wrapper in ("state_dict", "model"):
        if isinstance(payload, dict) and isinstance(payload.get(wrapper), dict) and "visual.conv1.weight" not in payload:
            payload = payload[wrapper]
    if not isinstance(payload, dict) or not payload:
        raise OpenClipConversionError(f"{path}: expected a state dict (name -> tensor), found {type(payload).__name__}")
    for prefix in ("module.", "_orig_mod."):  # DDP wrappers, torch.compile
        if all(str(key).startswith(prefix) for key in payload):
            payload = {key[len(prefix):]: value for key, value in payload.items()}
    odd = [key for key, value in payload.items() if not isinstance(value, torch.Tensor) and key not in NON_WEIGHT_KEYS]
    if odd:
        raise OpenClipConversionError(f"{path}: entries that are not tensors: {', '.join(map(str, odd[:10]))}")
    return payload


# ---------------------------------------------------------------------------------------------- mapping


def _expected_shapes(config: CLIPConfig) -> dict[str, tuple[int, ...]]:
    """CLIPModel's weight shapes for `config`, built on the meta device (no memory, no init time)."""
    import torch
    from transformers import CLIPModel

    with torch.device("meta"):
        model = CLIPModel(config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _rename(key: str) -> list[tuple[str, Any]] | None:
    """transformers name(s) for one open_clip key, with how to slice/transposes it; None when unmapped."""
    if key in _TOP_RENAMES:
        return [(_TOP_RENAMES[key], None)]
    if key in _TRANSPOSED:
        return [(_TRANSPOSED[key], "t")]
    match = _BLOCK_KEY.match(key)
    if not match:
        return None
    tower = "vision_model" if match.group(1) else "text_model"
    prefix = f"{tower}.encoder.layers.{match.group(2)}."
    rest = match.group(3)
    if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
        kind = rest.rsplit("_", 1)[1]  # weight / bias
        return [(f"{prefix}self_attn.{name}_proj.{kind}", ("chunk", index)) for index, name in enumerate("qkv")]
    if rest in _BLOCK_RENAMES:
        return [(prefix + _BLOCK_RENAMES[rest], None)]
    return None


def _list(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def convert_state_dict(
    state_dict: dict[str, torch.Tensor], config: CLIPConfig, *, dtype: torch.dtype | None = None,
    consume: bool = False,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """open_clip weights -> `CLIPModel` weights for `config`, plus the non-weight keys that were dropped.

    Raises `OpenClipConversionError` naming every unknown key, every `CLIPModel` weight left unfilled and
    every shape mismatch. `consume=True` empties `state_dict` as it goes (halves peak memory for ViT-H).

    Args:
        state_dict: the open_clip state dict (as from `load_open_clip_state_dict`).
        config: the `CLIPConfig` the weights must fit (as from `clip_config_from_arch`).
        dtype: cast floating-point weights to this dtype; None keeps each tensor's dtype.
        consume: remove entries from `state_dict` while converting.

    Returns:
        `(weights, dropped)`: `CLIPModel` weight name -> tensor (fused q/k/v split, output
        projections transposed, each tensor with its own storage), and the sorted
        `NON_WEIGHT_KEYS` found in the checkpoint.

    Raises:
        OpenClipConversionError: when a checkpoint key has no `CLIPModel` counterpart, a shape
            disagrees with `config`, or a `CLIPModel` weight is not in the checkpoint.
    """
    expected = _expected_shapes(config)
    described = _describe(infer_arch(state_dict))  # read before `consume` empties the dict
    unknown = [key for key in state_dict if key not in NON_WEIGHT_KEYS and _rename(key) is None]
    if unknown:
        raise OpenClipConversionError(
            f"{len(unknown)} checkpoint key(s) have no place in a CLIP ViT: {_list(unknown)}. "
            f"{described[0].upper() + described[1:]}. Layer-scale (ls_1/ls_2), attention-pooling, ResNet and "
            f"custom-text open_clip models do not convert to CLIPModel."
        )
    dropped = sorted(key for key in state_dict if key in NON_WEIGHT_KEYS)
    converted: dict[str, Any] = {}
    mismatched: list[str] = []
    mismatched_names: set[str] = set()
    for key in list(state_dict):
        if key in NON_WEIGHT_KEYS:
            if consume:
                del state_dict[key]
            continue
        tensor = state_dict.pop(key) if consume else state_dict[key]
        for name, how in _rename(key):  # type: ignore[union-attr]
            if how == "t":
                value = tensor.t() if tensor.ndim == 2 else tensor
            elif how is not None:
                if tensor.shape[0] % 3:
                    mismatched.append(f"{key} {tuple(tensor.shape)} (first dim not divisible by 3 for q/k/v)")
                    mismatched_names.update(name for name, _ in _rename(key))  # type: ignore[union-attr]
                    break
                value = tensor.chunk(3, dim=0)[how[1]]
            else:
                value = tensor
            if name == "logit_scale" and tuple(value.shape) == (1,):
                value = value.reshape(())  # open_clip's nonscalar_logit_scale
            want = expected.get(name)
            if want is not None and tuple(value.shape) != want:
                mismatched.append(f"{key} -> {name}: checkpoint {tuple(value.shape)} vs architecture {want}")
                mismatched_names.add(name)
                continue
            value = value.to(dtype) if dtype is not None and value.is_floating_point() else value
            # q/k/v are views of one fused tensor: give each its own storage (safetensors refuses shared ones).
            converted[name] = value.clone() if how not in (None, "t") else value.contiguous()
    missing = [name for name in expected if name not in converted and name not in mismatched_names]
    if mismatched or missing:
        problems = []
        if mismatched:
            problems.append(f"{len(mismatched)} shape mismatch(es): {'; '.join(mismatched[:6])}"
                            + (f" (+{len(mismatched) - 6} more)" if len(mismatched) > 6 else ""))
        if missing:
            problems.append(f"{len(missing)} CLIPModel weight(s) not in the checkpoint: {_list(missing)}")
        raise OpenClipConversionError(
            f"the checkpoint does not fit the architecture: {'. '.join(problems)}. {described[0].upper() + described[1:]}; "
            f"is --arch right?"
        )
    return converted, dropped


# ---------------------------------------------------------------------------------------------- writing


def _resolve_dtype(name: str, state_dict: dict[str, Any]):
    import torch

    if name == "auto":
        dtypes = {value.dtype for key, value in state_dict.items()
                  if key not in NON_WEIGHT_KEYS and isinstance(value, torch.Tensor) and value.is_floating_point()}
        return dtypes.pop() if len(dtypes) == 1 else torch.float32
    choices = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in choices:
        raise OpenClipConversionError(f"unknown dtype {name!r}: use auto, {', '.join(choices)}")
    return choices[name]


def _processor(image_size: int, out_dir: Path):
    import transformers
    from transformers import CLIPProcessor

    from fusionrs.clip.clip_tokenizer import build_clip_tokenizer, write_vocab_files

    # open_clip's eval transform: Resize(shortest edge, bicubic) -> CenterCrop -> RGB -> [0,1] -> OpenAI mean/std.
    # The PIL backend needs no torchvision (transformers >= 5 otherwise warns and falls back to it anyway).
    processor_class = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    image_processor = processor_class(
        do_resize=True, size={"shortest_edge": image_size}, resample=3,  # PIL.Image.BICUBIC
        do_center_crop=True, crop_size={"height": image_size, "width": image_size},
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=list(OPENAI_MEAN), image_std=list(OPENAI_STD), do_convert_rgb=True,
    )
    tokenizer = build_clip_tokenizer()
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    processor.save_pretrained(str(out_dir))
    write_vocab_files(out_dir)  # slow-format vocab.json/merges.txt next to tokenizer.json
    return processor


def _readme(meta: dict[str, Any]) -> str:
    return (
        f"# {meta['source_name']} as a transformers CLIPModel\n\n"
        f"Converted from the open_clip checkpoint `{meta['source_name']}` (sha256 `{meta['source_sha256']}`) by "
        f"`fusionrs convert-clip` (fusionrs {meta['fusionrs_version']}), architecture `{meta['arch']}`, "
        f"activation `{meta['hidden_act']}`, weights in {meta['dtype']}.\n\n"
        "```python\nfrom transformers import AutoModel, AutoProcessor\n\n"
        "model = AutoModel.from_pretrained(FOLDER)\nprocessor = AutoProcessor.from_pretrained(FOLDER)\n"
        "inputs = processor(text=[\"an airport\"], images=image, return_tensors=\"pt\", padding=\"max_length\", "
        "truncation=True)\n"
        "outputs = model(**inputs)\n```\n\n"
        "The weights are the original authors'; their license and citation apply. The image processor reproduces\n"
        "open_clip's eval transform (bicubic shortest-edge resize, centre crop, OpenAI mean/std); the tokenizer\n"
        "gives open_clip's ids up to `<|endoftext|>` and pads with `<|endoftext|>` (open_clip pads with 0; the\n"
        "causal text tower never reads the padding). See `conversion.json` for every detail of the conversion.\n"
    )


def convert_open_clip_checkpoint(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    arch: str | os.PathLike | dict[str, Any],
    quick_gelu: bool | None = None,
    dtype: str = "auto",
    overwrite: bool = False,
    hash_source: bool = True,
) -> Path:
    """Write `out_dir` = CLIPModel safetensors + config + CLIPProcessor + README + `conversion.json`.

    `quick_gelu=None` takes the architecture's default (`ARCHS`, `ARCH_NOTES`); `dtype="auto"` keeps
    the checkpoint's float dtype. The folder loads with `AutoModel`/`AutoProcessor.from_pretrained`.

    Args:
        checkpoint: the open_clip checkpoint file (`.pt`/`.pth`/`.bin` or `.safetensors`).
        out_dir: the output folder; created when missing.
        arch: the architecture, as `load_arch` accepts (preset name, JSON path or dict).
        quick_gelu: force QuickGELU (True) or GELU (False); None takes the architecture's flag.
        dtype: "auto" (the checkpoint's single float dtype, else float32), "float32", "float16"
            or "bfloat16".
        overwrite: allow writing into a non-empty `out_dir` that fusionrs wrote (never into a
            non-empty folder without the fusionrs marker, nor the checkpoint's own folder).
        hash_source: record the checkpoint's SHA-256 in `conversion.json` (reads the whole file).

    Returns:
        `out_dir` as a `Path`, holding model.safetensors, config.json, the CLIPProcessor files,
        README.md and conversion.json.

    Raises:
        FileExistsError: (`OutputFolderError`) when `out_dir` is not empty and `overwrite` is False,
            or may not be written at all (`fusionrs.core.output_folder.check_output_folder`).
        FileNotFoundError: when the checkpoint or an architecture JSON file does not exist.
        OpenClipConversionError: when the architecture is invalid, the checkpoint cannot be read,
            its weights do not fit the architecture, or `dtype` is unknown.
    """
    import torch
    import transformers
    from safetensors.torch import save_file

    from fusionrs.version import __version__

    from fusionrs.core.output_folder import check_output_folder, write_marker

    checkpoint, out = Path(checkpoint), Path(out_dir)
    check_output_folder(out, overwrite=overwrite, inputs=[checkpoint], what="output folder")
    arch_cfg = load_arch(arch)
    config = clip_config_from_arch(arch_cfg, quick_gelu=quick_gelu)
    state_dict = load_open_clip_state_dict(checkpoint)
    torch_dtype = _resolve_dtype(dtype, state_dict)
    weights, dropped = convert_state_dict(state_dict, config, dtype=torch_dtype, consume=True)
    config.dtype = torch_dtype  # recorded in config.json so from_pretrained(dtype="auto") keeps it

    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, "model")
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(str(out))
    _processor(config.vision_config.image_size, out)
    meta = {
        "source": str(checkpoint),
        "source_name": checkpoint.name,
        "source_sha256": file_sha256(checkpoint) if hash_source else None,
        "arch": str(arch) if not isinstance(arch, dict) else "custom",
        "open_clip_config": arch_cfg,
        "hidden_act": config.text_config.hidden_act,
        "dtype": str(torch_dtype).replace("torch.", ""),
        "num_weights": len(weights),
        "dropped_non_weight_keys": dropped,
        "text_pooling": "first <|endoftext|> (id 49407) = open_clip's argmax pooling",
        "image_processor": "bicubic shortest-edge resize, centre crop, OpenAI mean/std (open_clip's eval transform)",
        "fusionrs_version": __version__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    (out / "conversion.json").write_text(json.dumps(meta, indent=2) + "\n")
    (out / "README.md").write_text(_readme(meta))
    return out
