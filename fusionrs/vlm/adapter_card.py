"""What a captioner's peft adapter (`OUT/final/adapter`) says about itself: its base, and a filled card.

peft records the base as the loaded model's `name_or_path`: empty for the composed bases (so `null` in
adapter_config.json), and for a folder base whatever path the run was given (working-directory relative or
absolute). `adapter_base_reference` gives what the adapter should record instead (a hub id, a path relative
to the adapter folder, or a stable name for a composed base), and `render_adapter_card` the README.md that
replaces peft's empty template: what it adapts, the LoRA settings, the training data and task, the command.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["COMPOSED_BASES", "adapter_base_reference", "render_adapter_card", "write_adapter_card"]

# Bases `fusionrs train vlm --base` composes instead of loading (`load_base`): the name the adapter records,
# and what it is. Neither is on the hub; loading such an adapter needs the composition saved as a folder.
COMPOSED_BASES = {
    "offline": ("fusionrs:offline-llava",
                "the offline LLaVA composed by `fusionrs.vlm.compose.compose_offline_llava`: DINOv2-S/14 (or the "
                "`--vision` tower) + a fresh MLP projector + SmolLM2-135M-Instruct"),
    "tiny": ("fusionrs:tiny-llava",
             "the seeded tiny LLaVA of `fusionrs.vlm.compose.compose_tiny_llava` (hidden size 32, for tests)"),
}
# A folder inside a hub cache: .../models--ORG--NAME/snapshots/REVISION
_HUB_SNAPSHOT = re.compile(r"models--([^/]+?)--([^/]+)/snapshots/[^/]+/?$")


def adapter_base_reference(base: str | None, adapter_dir: str | Path) -> str:
    """What an adapter's `base_model_name_or_path` should say for the base it was trained on.

    Args:
        base: the run's `--base`: a model folder, a hub id, "offline" (also None or ""), or "tiny".
        adapter_dir: the adapter folder's final location (it need not exist yet).

    Returns:
        A composed base's stable name (`COMPOSED_BASES`); the hub id of a folder inside a hub cache
        (`models--ORG--NAME/snapshots/...`); a path relative to `adapter_dir` for another local folder
        (`fusionrs.core.references.reference_for`); anything else (a hub id) unchanged. Never an
        absolute path or one relative to the working directory.
    """
    from fusionrs.core.references import reference_for

    key = base or "offline"
    if key in COMPOSED_BASES:
        return COMPOSED_BASES[key][0]
    path = Path(key).expanduser()
    if path.is_dir():
        snapshot = _HUB_SNAPSHOT.search(path.resolve().as_posix())
        if snapshot:
            return f"{snapshot.group(1)}/{snapshot.group(2)}"
    return reference_for(key, adapter_dir)


def _base_description(base: str | None, config: Mapping[str, Any]) -> str:
    key = base or "offline"
    if key == "offline":
        return COMPOSED_BASES["offline"][1] + f", on {config.get('image_size')} px images"
    if key in COMPOSED_BASES:
        return COMPOSED_BASES[key][1]
    return "the image-text-to-text model the run loaded with `--base`"


def _hub_id(reference: str) -> str | None:
    from fusionrs.core.repo_id import looks_like_repo_id

    return reference if looks_like_repo_id(reference) and not reference.startswith(".") else None


def render_adapter_card(adapter_dir: str | Path, *, base_reference: str, config: Mapping[str, Any],
                        lora: Mapping[str, Any], command: str, trainable_parameters: int | None = None) -> str:
    """README.md of a captioner's LoRA adapter folder.

    Args:
        adapter_dir: the adapter folder's final location (paths in the card are relative to it).
        base_reference: what adapter_config.json records as the base (`adapter_base_reference`).
        config: the run's `VLMTrainConfig` fields (`dataclasses.asdict`).
        lora: the adapter's peft settings: `r`, `lora_alpha`, `lora_dropout`, `target_modules`,
            `modules_to_save` (as in adapter_config.json).
        command: the `fusionrs train vlm` command line that reproduces the run.
        trainable_parameters: how many parameters training updated (LoRA + projector).

    Returns:
        The card: YAML metadata (`library_name: peft`, the base when it is a hub id, tags, licence of a
        local dataset's sources) and the sections what it adapts / training / use.
    """
    from huggingface_hub import ModelCardData

    from fusionrs.core.licences import dataset_rights, licence_statement, training_licence
    from fusionrs.core.references import reference_for, resolve_reference

    data = config.get("data")
    folder = resolve_reference(str(data), adapter_dir) if data else None  # relative to the adapter, else cwd
    rights = dataset_rights(folder) if folder and Path(folder).is_dir() else {}
    licence = training_licence(rights=rights) if rights else None  # the rule every card uses
    hub_base = _hub_id(base_reference)
    metadata = ModelCardData(
        library_name="peft", pipeline_tag="image-text-to-text", base_model=hub_base,
        tags=["fusionrs", "lora", "peft", "remote-sensing", "infrared", "captioning"],
        **(licence.card_fields() if licence else {}),
    ).to_yaml()

    targets = lora.get("target_modules")
    targets = targets if isinstance(targets, str) else ", ".join(sorted(targets or []))
    saved = ", ".join(lora.get("modules_to_save") or []) or "none"
    if config.get("task") == "vqa":
        data_line = (f"HIT-UAV VQA questions (`{reference_for(config['hit_uav'], adapter_dir)}`, train split)"
                     if config.get("hit_uav") else "HIT-UAV VQA questions (folder not recorded)")
    elif data:
        data_line = f"the FusionRS dataset folder `{reference_for(data, adapter_dir)}` (train split)"
    else:
        data_line = "dataset rows handed to `train_vlm` directly (no folder recorded)"
    if licence is not None:
        licence_line = "- " + licence_statement(licence).replace("\n", " ") + "\n"
    else:
        licence_line = "- Licence: the terms of the training data and of the base apply; none were recorded here.\n"
    steps, batch = config.get("steps"), config.get("batch_size")
    base_note = "" if hub_base else (
        " It is not a hub id: a path is relative to this folder; a `fusionrs:` name means the base was composed, "
        "so load the adapter onto a saved copy of that composition (`base_model=DIR`).")
    load_base = f'"{hub_base}"' if hub_base else '"BASE_DIR"'
    load_note = "" if hub_base else "# BASE_DIR: the base model's folder (see \"Base\" above)\n"
    return f"""---
{metadata}
---

# fusionrs captioner LoRA adapter ({config.get("mode")}, {config.get("task")})

A peft LoRA adapter trained by `fusionrs train vlm` for dual-modal (RGB + infrared-style) remote-sensing
captioning. The folder above it (`..`) is the same model with the adapter merged in, loadable with plain
transformers.

## What it adapts

- **Base:** `{base_reference}`: {_base_description(config.get("base"), config)}.{base_note}
- **LoRA:** r = {lora.get("r")}, alpha = {lora.get("lora_alpha")}, dropout = {lora.get("lora_dropout")}, bias none.
- **Target modules:** `{targets}` (the language model's attention and MLP projections, never the vision tower).
- **Trained fully and saved with the adapter:** {saved}.
- **Trainable parameters:** {trainable_parameters if trainable_parameters is not None else "not recorded"}.

## Training

- **Data:** {data_line}.
- **Input mode:** `{config.get("mode")}`; **task:** `{config.get("task")}`
  (original = the source captions, ir_aware = the IR-aware captions, mixed = both, task-conditioned, vqa = HIT-UAV).
- **Budget:** {steps} steps x {batch} examples = {steps * batch if steps and batch else "?"} examples; lr {config.get("lr")},
  projector lr {config.get("projector_lr")}, warmup {config.get("warmup")}, seed {config.get("seed")}.
{licence_line}- **Command:**

  ```bash
  {command}
  ```

## Use

```python
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

{load_note}base = AutoModelForImageTextToText.from_pretrained({load_base})
model = PeftModel.from_pretrained(base, "path/to/this/adapter")
processor = AutoProcessor.from_pretrained("path/to/this/adapter")
```

With fusionrs: `fusionrs.vlm.generate.load_vlm("path/to/this/adapter", base_model=...)` loads it strictly
(every adapter tensor checked). The infrared-style inputs are translated from RGB, not measured: captions
describe intensity patterns, never temperatures.
"""


def write_adapter_card(folder: str | Path, final_dir: str | Path, **kwargs: Any) -> Path:
    """Write `folder/README.md` (`render_adapter_card`), replacing peft's empty template.

    Args:
        folder: where the adapter is being written (a staging folder is fine).
        final_dir: the adapter folder's final location (paths in the card are relative to it).
        **kwargs: `render_adapter_card` keyword arguments.

    Returns:
        The README.md path.
    """
    path = Path(folder) / "README.md"
    path.write_text(render_adapter_card(final_dir, **kwargs))
    return path
