"""Package a trained one-step translator as a release checkpoint (`fusionrs export translator`).

A release checkpoint is the trained folder with its UNet stored as fp16 safetensors (at most 10 MB),
a `translator_config.json` that states its research-only licence and the exact training command, and
a card that says the same. The package's default translator (`fusionrs/weights/translator/`, spec
`builtin:default`) is made this way. Loading casts the fp16 weights back to the policy dtype
(float32 on CPU).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fusionrs.core.hashing import file_sha256
from fusionrs.errors import CheckpointLayoutError, FusionRSError

__all__ = ["MAX_RELEASE_BYTES", "RESEARCH_ONLY_RIGHTS", "export_translator", "training_command"]

# The design's budget for a checkpoint inside the package: fp16 safetensors of at most 10 MB.
MAX_RELEASE_BYTES = 10_000_000  # 10 MB (decimal): within either reading of "10 MB"
WEIGHTS = "unet/diffusion_pytorch_model.safetensors"
# A rights note the licence rule (`core.licences`) reads as non-commercial: RoadScene states no
# licence, so the weights and what they translate are for research only.
RESEARCH_ONLY_RIGHTS = ("research use only, non-commercial: trained on RoadScene, which states no licence, "
                        "and procedural world scenes")


def training_command(training: Mapping[str, Any]) -> str:
    """The `fusionrs train translator` command line that reproduces a `training` block.

    Args:
        training: the `training` block of translator_config.json (the `TrainConfig` fields of the run).

    Returns:
        The command, with a flag for every field that differs from the `TrainConfig` default
        (repeatable flags once per value), quoted for a POSIX shell.
    """
    from fusionrs.core.cli_config import config_command
    from fusionrs.translate.config import TrainConfig

    return config_command(TrainConfig, training, ("fusionrs", "train", "translator"))


def export_translator(model: str | Path, out: str | Path, *, max_bytes: int = MAX_RELEASE_BYTES,
                      command: str | None = None, evaluation: str | None = None, overwrite: bool = False) -> Path:
    """Copy a trained translator folder as a release checkpoint: fp16 UNet weights, research-only card,
    and `pipeline.py` (`save_pipeline_code`) for plain diffusers.

    Args:
        model: the trained folder (`RUN/final`: model_index.json, translator_config.json, unet/).
        out: the release folder to write (e.g. `fusionrs/weights/translator`).
        max_bytes: refuse weights whose fp16 safetensors exceed this many bytes (default 10 MB).
        command: the exact training command for the card (default: rebuilt from the folder's
            translator_config.json `training` block, `training_command`).
        evaluation: Markdown for the card's "Evaluation and known limits" section (scores, where
            the model is weak); None leaves the section out.
        overwrite: replace an existing `out` folder that holds a translator (model_index.json).

    Returns:
        The written folder.

    Raises:
        CheckpointLayoutError: `model` lacks model_index.json, translator_config.json or the UNet
            safetensors, or its translator_config.json is not a JSON object.
        FusionRSError: the fp16 weights exceed `max_bytes`, no training command is known, or `out`
            exists and `overwrite` is False (or it is not a translator folder).
    """
    import torch
    from safetensors.torch import load_file, save_file

    from fusionrs.translate.pipeline_rgb_to_ir import save_pipeline_code

    model, out = Path(model), Path(out)
    for name in ("model_index.json", "translator_config.json", "unet/config.json", WEIGHTS):
        if not (model / name).is_file():
            raise CheckpointLayoutError(f"{model / name}: missing; {model} is not a trained translator folder")
    try:
        config = json.loads((model / "translator_config.json").read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointLayoutError(f"{model / 'translator_config.json'}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointLayoutError(f"{model / 'translator_config.json'}: not a JSON object")
    command = command or (training_command(config["training"]) if isinstance(config.get("training"), dict) else None)
    if not command:
        raise FusionRSError(f"{model / 'translator_config.json'}: no `training` block; pass the training command")
    if out.exists() and not (overwrite and (out / "model_index.json").is_file()):
        raise FusionRSError(f"{out}: exists" + (" and is not a translator folder" if overwrite else "; pass --overwrite"))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        (tmp / "unet").mkdir()
        state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in load_file(model / WEIGHTS).items()}
        save_file(state, tmp / WEIGHTS, metadata={"format": "pt"})
        size = (tmp / WEIGHTS).stat().st_size
        if size > max_bytes:
            raise FusionRSError(f"{model / WEIGHTS}: fp16 weights are {size / 2**20:.1f} MiB, over the "
                                f"{max_bytes:,}-byte limit of a release checkpoint")
        shutil.copy(model / "model_index.json", tmp / "model_index.json")
        save_pipeline_code(tmp)  # from this package's source, not the trained folder's copy (older runs lack one)
        shutil.copy(model / "unet/config.json", tmp / "unet/config.json")
        training_data = list(config.get("training_data") or [])
        from fusionrs.core.licences import training_licence

        config.update({
            # the release's research-only terms over its training data, by the rule every card uses
            **training_licence(training_data, notes={"rights": RESEARCH_ONLY_RIGHTS}).notes_fields(),
            "rights": RESEARCH_ONLY_RIGHTS,
            "training_command": command,
            "evaluation": evaluation,
            "release": {"weights_dtype": "float16", "weights_bytes": size, "exported_from": model.name,
                        "weights_sha256": file_sha256(tmp / WEIGHTS)},
        })
        (tmp / "translator_config.json").write_text(json.dumps(config, indent=2) + "\n")
        pairs = (config.get("training") or {}).get("pairs") or []
        (tmp / "README.md").write_text(_card(tmp, training_data, pairs, command, torch.float16, evaluation))
        # mkdtemp makes the folder 0700 and safetensors writes 0600: package data must be world-readable
        tmp.chmod(0o755)
        (tmp / "unet").chmod(0o755)
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(0o644)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _card(folder: Path, training_data: list[str], pairs: list[str], command: str, dtype,
          evaluation: str | None = None) -> str:
    """The trainer's card (`render_translator_card`) with a release section under its title."""
    from fusionrs.translate.card import render_translator_card

    card = render_translator_card(folder, repo_id="fusionrs-default-translator")
    data = ", ".join(training_data) or "not recorded"
    section = (
        "## Release checkpoint: the fusionrs default translator\n\n"
        "Spec `builtin:default` (`fusionrs build` uses it when no `--translator` is given). "
        f"UNet weights stored as {str(dtype).replace('torch.', '')} safetensors, cast to float32 on CPU at load.\n\n"
        f"- **Data:** {data}" + (f" (paired RGB-T folders: {', '.join(f'`{p}`' for p in pairs)})" if pairs else "")
        + ("; world = fusionrs' procedural aerial scenes" if "world" in training_data else "") + ".\n"
        "- **Licence: research-only.** RoadScene states no licence, so these weights and every image they "
        "translate are for research use only. **Commercial use: no.**\n"
        f"- **Training command (exact):**\n\n  ```bash\n  {command}\n  ```\n\n"
        "```python\nimport fusionrs\nfrom fusionrs.pipelines import RGBToIRPipeline\n"
        "from fusionrs.weights import default_translator_dir\n\n"
        "pipe = RGBToIRPipeline.from_pretrained(default_translator_dir())   # or \"builtin:default\"\n```\n\n"
        "Without fusionrs, plain diffusers runs the folder's `pipeline.py` (the pipeline's own source):\n\n"
        "```python\nfrom diffusers import DiffusionPipeline\n\n"
        "pipe = DiffusionPipeline.from_pretrained(folder, custom_pipeline=folder, trust_remote_code=True)\n```\n\n"
    )
    if evaluation:
        section += "### Evaluation and known limits\n\n" + evaluation.strip() + "\n\n"
    head, sep, rest = card.partition("\n## ")
    return head + "\n" + section + sep.lstrip("\n") + rest if sep else card + "\n" + section
