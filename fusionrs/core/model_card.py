"""Model cards (README.md) for translator / CLIP / VLM folders, from model_cards/<kind>.md.

In core so that each stage can write the card of what it trains (`translate.card` for the translator)
and the hub push can (re)write any of them. The metadata comes from the folder's fusionrs notes
(written by the trainers), the licence from `core.licences.training_licence` (YAML, text and the notes'
licence rows: one `LicenceInfo`), the `model-index` from `core.model_index`. A card shows no absolute
local path: data references are shown as `display_reference` does, the notes through `scrub_published`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fusionrs.core.card_templates import CITATION, LIMITATIONS, flatten_config, template_text
from fusionrs.core.licences import LicenceInfo, dataset_rights, licence_statement, training_licence
from fusionrs.core.model_index import eval_results_from_eval
from fusionrs.core.references import display_reference, resolve_reference, scrub_published
from fusionrs.core.repo_id import looks_like_repo_id
from fusionrs.errors import CardValidationError
from fusionrs.version import __version__

__all__ = ["MODEL_CARD_KINDS", "MODEL_META_FILES", "PLACEHOLDER_REPO", "model_licence", "read_model_meta",
           "render_model_card"]

# What a card's usage snippet loads when it is rendered for a local folder (no repo id): never the folder's path.
PLACEHOLDER_REPO = "path/to/this/folder"

# fusionrs' notes beside each model kind (written by the trainers); the card's training table comes from them.
MODEL_META_FILES = {"translator": "translator_config.json", "clip": "fusionrs_clip.json", "vlm": "fusionrs_vlm.json"}

# What each kind declares on the hub.
MODEL_CARD_KINDS: dict[str, dict[str, Any]] = {
    "translator": {"library_name": "diffusers", "pipeline_tag": "image-to-image", "task_name": "RGB to infrared-style translation",
                   "tags": ["rgb-to-infrared"]},
    "clip": {"library_name": "transformers", "pipeline_tag": "zero-shot-image-classification",
             "task_name": "RGB / IR / text retrieval", "tags": ["clip", "rgb-infrared"]},
    "vlm": {"library_name": "transformers", "pipeline_tag": "image-text-to-text", "task_name": "IR-aware captioning",
            "tags": ["captioning", "rgb-infrared"]},
}


def read_model_meta(folder: str | Path, kind: str) -> dict[str, Any]:
    """fusionrs' notes beside a model folder (plain transformers folders still get a card).

    Args:
        folder: the model folder.
        kind: "translator", "clip" or "vlm" (for a VLM, OUT/train_summary.json beside OUT/model counts too).

    Returns:
        The notes, {} when there are none.

    Raises:
        CardValidationError: a notes file is not valid JSON, or `kind` is not a model kind.
    """
    if kind not in MODEL_META_FILES:
        raise CardValidationError(f"unknown model card kind {kind!r}; one of {', '.join(MODEL_META_FILES)}")
    path = Path(folder) / MODEL_META_FILES[kind]
    meta: dict[str, Any] = {}
    for file in (path, Path(folder).parent / "train_summary.json" if kind == "vlm" else None):
        if file is None or not file.is_file():
            continue
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError as error:
            raise CardValidationError(f"{file}: not valid JSON ({error})") from error
        # `fusionrs train vlm` keeps the recipe beside the merged model folder (OUT/model + OUT/train_summary.json)
        meta.update(data if file == path else {"training": data.get("config", data)})
    return meta


def _hub_ids(values: Iterable[Any]) -> list[str]:
    """Values that look like hub repo ids (`org/name`) and are not local paths."""
    out = []
    for value in values:
        text = str(value)
        if looks_like_repo_id(text) and not text.startswith("runs/"):
            out.append(text)
    return list(dict.fromkeys(out))


def _meta_list(meta: Mapping[str, Any], *keys: str) -> list[str]:
    values: list[str] = []
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, (list, tuple)):
            values += [str(v) for v in value if isinstance(v, (str, Path))]
    return values


def model_licence(
    folder: str | Path,
    meta: Mapping[str, Any],
    *,
    data_refs: Iterable[Any] = (),
    training_data: Iterable[str] | None = None,
    license: str | None = None,
) -> LicenceInfo:
    """The licence of a model folder from everything it records about its training data.

    Args:
        folder: the model folder (data references in its notes are relative to it).
        meta: its fusionrs notes (`read_model_meta`): `training_data` / `sources` names, a `rights`
            text, a recorded `licence`.
        data_refs: dataset folders (or hub ids) it was trained on; local folders with parquet shards
            give their sources' rights (`dataset_rights`).
        training_data: more source names (e.g. "llvip").
        license: a declared hub licence id; never relaxes non-commercial data.

    Returns:
        The `LicenceInfo` (`core.licences.training_licence`).

    Raises:
        CardValidationError: `license` would allow commercial use of non-commercial data.
    """
    names = list(training_data or []) + _meta_list(meta, "training_data", "sources")
    rights: dict[str, str] = {}
    for ref in data_refs:
        # notes record data relative to the model folder (`core.references`); older ones relative to the cwd
        for candidate in (Path(resolve_reference(str(ref), folder)), Path(str(ref))):
            if candidate.is_dir() and any(candidate.glob("data/*.parquet")):
                rights.update(dataset_rights(candidate))
                break
    return training_licence(names, rights=rights, notes=meta, override=license)


def render_model_card(
    kind: str,
    folder: str | Path,
    *,
    repo_id: str | None = None,
    base_model: str | list[str] | None = None,
    datasets: list[str] | None = None,
    eval_json: list[str | Path | Mapping[str, Any]] | None = None,
    license: str | None = None,
    training_data: list[str] | None = None,
    eval_dataset: str | None = None,
) -> str:
    """README.md for a translator / CLIP / VLM folder from model_cards/<kind>.md.

    Metadata comes from the folder's fusionrs notes (`translator_config.json`, `fusionrs_clip.json`,
    `fusionrs_vlm.json`) unless given.

    Args:
        kind: "translator", "clip" or "vlm".
        folder: the model folder.
        repo_id: the hub repo the card is for (names the model; default: the folder's name).
        base_model: hub ids of the base model(s).
        datasets: training data: hub ids go into the metadata; local dataset folders count for the licence.
        eval_json: eval JSON files / dicts -> `model-index`.
        license: a hub licence id; never relaxes non-commercial data.
        training_data: source names (e.g. "llvip") that count for the licence.
        eval_dataset: the hub id (and display name) of the evaluated dataset.

    Returns:
        The card text (YAML front matter + body).

    Raises:
        CardValidationError: unknown `kind`, unreadable notes, an eval JSON without metrics, or a
            `license` that would allow commercial use of non-commercial data.
    """
    from huggingface_hub import ModelCard, ModelCardData

    if kind not in MODEL_CARD_KINDS:
        raise CardValidationError(f"unknown model card kind {kind!r}; one of {', '.join(MODEL_CARD_KINDS)}")
    folder = Path(folder)
    defaults = MODEL_CARD_KINDS[kind]
    meta = read_model_meta(folder, kind)
    model_name = repo_id.split("/")[-1] if repo_id else folder.name

    data_refs = list(datasets or []) + _meta_list(meta, "datasets", "dataset", "data", "data_dir", "train_data")
    licence = model_licence(folder, meta, data_refs=data_refs, training_data=training_data, license=license)

    base = [base_model] if isinstance(base_model, str) else list(base_model or [])
    base = _hub_ids(base or _meta_list(meta, "base_model", "init", "base", "language_model", "vision_model"))
    dataset_ids = _hub_ids(data_refs)

    eval_results = []
    for item in eval_json or []:
        eval_results += eval_results_from_eval(
            item, task_type=defaults["pipeline_tag"], task_name=defaults["task_name"],
            dataset_type=eval_dataset or (dataset_ids[0] if dataset_ids else "fusionrs"), dataset_name=eval_dataset)
    card_data = ModelCardData(
        library_name=defaults["library_name"],
        pipeline_tag=defaults["pipeline_tag"],
        base_model=(base[0] if len(base) == 1 else base) or None,
        datasets=dataset_ids or None,
        tags=["fusionrs", "remote-sensing", "infrared", "thermal", *defaults["tags"]],
        **licence.card_fields(),
        **({"eval_results": eval_results, "model_name": model_name} if eval_results else {}),
    )
    # What the card shows of the notes: no local path, and the licence rows as the rule gives them (a
    # trainer's own note may be older than the rule).
    shown = scrub_published(meta)
    shown.update({k: v for k, v in licence.notes_fields().items() if k in shown or kind == "translator"})
    card = ModelCard.from_template(
        card_data,
        template_str=template_text(kind),
        config=shown,
        repo_id=repo_id or PLACEHOLDER_REPO,
        model_name=model_name,
        training_rows=flatten_config(shown),
        results=[(r.dataset_name, r.metric_name or r.metric_type, r.metric_value) for r in eval_results],
        licence=licence,
        licence_statement=licence_statement(licence, subject="model"),
        base_models=base,
        dataset_ids=dataset_ids,
        data_refs=[display_reference(r) for r in data_refs],
        limitations=LIMITATIONS,
        citation=CITATION,
        fusionrs_version=__version__,
    )
    return str(card)
