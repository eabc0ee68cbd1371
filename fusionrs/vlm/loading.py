"""Load a captioner's processor, and a peft adapter folder onto its base (strictly: no missing or unexpected keys).

An adapter folder is what `peft` saves: `adapter_config.json` + `adapter_model.safetensors`, perhaps with
processor files and a card (the layout of the FusionRS authors' Qwen2.5-VL adapters, `models/vlm/*/` of
the stored repo frozy129/FusionRS, and of `fusionrs train vlm`'s `final/adapter`). Its base is, in order:
`base_model` when given, else `base_model_name_or_path` of adapter_config.json as a folder (absolute,
relative to the adapter folder, or relative to the working directory), else as a hub id resolved
offline-aware (`fusionrs.core.resolve.resolve_repo`). The processor comes from the adapter folder when it
holds a complete one (a tokenizer file and an image-processor config), else from the base.

Loading checks what `PeftModel.from_pretrained` only warns about: every adapter tensor the base's
target modules expect is in the file (missing keys) and every tensor of the file has a place (unexpected
keys); either is an `AdapterLoadError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fusionrs.errors import AdapterLoadError, HubOfflineError, HubRepoNotFoundError

__all__ = ["ADAPTER_CONFIG", "ADAPTER_WEIGHTS", "load_adapter_model", "load_processor", "read_adapter_config",
           "resolve_adapter_base"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")
_IMAGE_CONFIGS = ("preprocessor_config.json", "processor_config.json")


def read_adapter_config(folder: str | Path) -> dict[str, Any]:
    """The adapter_config.json of a peft adapter folder.

    Args:
        folder: the adapter folder.

    Returns:
        The parsed config.

    Raises:
        AdapterLoadError: when the file is missing, not JSON, not an object, or its `peft_type` is not LORA.
    """
    path = Path(folder) / ADAPTER_CONFIG
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise AdapterLoadError(f"{path}: no such file (not a peft adapter folder)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AdapterLoadError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(config, dict):
        raise AdapterLoadError(f"{path}: expected a JSON object, got {type(config).__name__}")
    if config.get("peft_type", "LORA") != "LORA":
        raise AdapterLoadError(f"{path}: field 'peft_type' is {config.get('peft_type')!r}; only LORA adapters "
                               "load here")
    return config


def resolve_adapter_base(folder: str | Path, base_model: str | Path | None = None) -> Path:
    """The local folder of an adapter's base model (see the module docstring for the order).

    Args:
        folder: the adapter folder.
        base_model: a base model folder or hub id that replaces `base_model_name_or_path`.

    Returns:
        The base model's folder (a hub snapshot for a hub id).

    Raises:
        AdapterLoadError: when no base is named, or the name is neither a folder nor a hub id.
        HubOfflineError: when the base is a hub id that is not cached while offline (or the hub is unreachable).
        HubRepoNotFoundError: online, when the hub has no such repo.
    """
    from fusionrs.core.repo_id import is_repo_id
    from fusionrs.core.resolve import resolve_repo

    folder = Path(folder)
    where = "base_model" if base_model is not None else f"{folder / ADAPTER_CONFIG}: field 'base_model_name_or_path'"
    name = str(base_model) if base_model is not None else read_adapter_config(folder).get("base_model_name_or_path")
    if not name:
        raise AdapterLoadError(f"{where} is empty: give the base model (base_model=DIR, or --base-model DIR)")
    candidates = [Path(name).expanduser()] if base_model is not None or Path(name).is_absolute() else \
        [folder / name, Path(name)]  # relative to the adapter first: artefacts refer to each other that way
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if not is_repo_id(name):
        raise AdapterLoadError(f"{where} {name!r}: no such folder, and not a hub id (org/name) either")
    try:
        return resolve_repo(name)
    except (HubOfflineError, HubRepoNotFoundError) as error:
        raise type(error)(f"{where} {name!r}: {error} With the base held locally, pass base_model=DIR "
                          "(--base-model DIR).") from error


def _folder_model_type(folder: Path) -> str | None:
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, json.JSONDecodeError):
        return None


def _has_processor(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _TOKENIZER_FILES) and \
        any((folder / name).is_file() for name in _IMAGE_CONFIGS)


def load_processor(folder: str | Path, *, model_type: str | None = None, base_model: str | Path | None = None):
    """The processor of a model folder or an adapter folder (see the module docstring for which).

    A Qwen2.5-VL processor loads as `ImagesOnlyQwen2_5_VLProcessor` where torchvision is missing
    (transformers cannot build its video part there; `fusionrs.vlm.qwen25vl`).

    Args:
        folder: a model folder, an adapter folder, or a hub id.
        model_type: the model's `model_type` when `folder` has no config.json of its own (an adapter);
            None reads it from the folder or, for an adapter, from its base.
        base_model: for an adapter folder: the base that replaces `base_model_name_or_path`.

    Returns:
        A transformers processor (`AutoProcessor`), or `ImagesOnlyQwen2_5_VLProcessor`.

    Raises:
        AdapterLoadError: an adapter folder without a processor whose base cannot be found.
        HubOfflineError: a hub id that is not cached while offline.
    """
    from transformers import AutoProcessor

    from fusionrs.core.resolve import resolve_repo
    from fusionrs.vlm.qwen25vl import ImagesOnlyQwen2_5_VLProcessor, needs_images_only_processor

    path = Path(folder) if Path(folder).is_dir() else resolve_repo(folder)
    if (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file():
        own = _has_processor(path)
        base = resolve_adapter_base(path, base_model) if model_type is None or not own else None
        model_type = model_type or _folder_model_type(base)
        path = path if own else base
    model_type = model_type or _folder_model_type(path)
    if needs_images_only_processor(model_type):
        return ImagesOnlyQwen2_5_VLProcessor.from_pretrained(str(path))
    return AutoProcessor.from_pretrained(str(path))


def _check_keys(result, weights: Path) -> None:
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        raise AdapterLoadError(
            f"{weights}: does not fit its base: {len(missing)} missing keys {missing[:3]}, {len(unexpected)} "
            f"unexpected keys {unexpected[:3]} (another base model, or an adapter for other target modules)")


def load_adapter_model(folder: str | Path, *, base_model: str | Path | None = None, dtype=None, merge: bool = True):
    """(model, processor): a peft LoRA adapter folder on its base, keys checked, LoRA merged by default.

    A Qwen2.5-VL base loads as `Qwen2_5_VLForConditionalGeneration` (the class
    `AutoModelForImageTextToText` picks for it); adapters with pre-4.52 key names are renamed on load.

    Args:
        folder: the adapter folder (`adapter_config.json` + `adapter_model.safetensors`).
        base_model: a base model folder or hub id that replaces `base_model_name_or_path`.
        dtype: the torch dtype (or its name) to load the base in; None: the base's default.
        merge: merge the LoRA into the base weights (plain-model inference speed) or keep the `PeftModel`.

    Returns:
        `(model, processor)`: the model in eval mode on the CPU, its `name_or_path` the adapter folder
        (so notes beside the adapter, e.g. fusionrs_vlm.json, are found), and `load_processor(folder)`.

    Raises:
        AdapterLoadError: a bad adapter_config.json, no adapter_model.safetensors, no findable base, or
            missing / unexpected adapter keys.
        HubOfflineError: the base is a hub id that is not cached while offline.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from fusionrs.vlm.qwen25vl import LEGACY_ADAPTER_KEY_MAPPING, MODEL_TYPE

    folder = Path(folder)
    read_adapter_config(folder)  # a bad file is one named error before anything loads
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise AdapterLoadError(f"{weights}: no such file (only safetensors adapters load; never pickles)")
    base_dir = resolve_adapter_base(folder, base_model)
    model_type = _folder_model_type(base_dir)
    if model_type is None:
        raise AdapterLoadError(f"{base_dir}: the adapter's base has no readable config.json")
    try:
        base = AutoModelForImageTextToText.from_pretrained(str(base_dir), dtype=dtype)
    except ValueError as error:  # a model type with no image-text-to-text class
        raise AdapterLoadError(f"{base_dir}: not an image-text-to-text model ({model_type}): {error}") from error
    lora = LoraConfig.from_pretrained(str(folder))
    lora.inference_mode = True
    lora.base_model_name_or_path = base.name_or_path  # the base actually used (peft warns about any other)
    peft_model = get_peft_model(base, lora)
    key_mapping = LEGACY_ADAPTER_KEY_MAPPING if model_type == MODEL_TYPE else None
    try:
        result = peft_model.load_adapter(str(folder), adapter_name="default", key_mapping=key_mapping)
    except RuntimeError as error:  # shape mismatches: the adapter was trained on another size of model
        raise AdapterLoadError(f"{weights}: does not fit the base {base_dir}: {str(error).splitlines()[0]}") from error
    _check_keys(result, weights)
    model = peft_model.merge_and_unload() if merge else peft_model
    model.name_or_path = str(folder)
    return model.eval(), load_processor(folder, model_type=model_type, base_model=base_model)
