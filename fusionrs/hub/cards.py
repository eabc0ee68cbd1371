"""Dataset and model cards: rendered from the Jinja templates in model_cards/, checked locally.

Why local checks: `RepoCard.validate()` posts the card to the public hub, which these machines
cannot reach (and tests must not need). `validate_card` applies the hub's metadata rules we rely on
(licence ids, pipeline tags, model-index shape, dataset `configs`, Space YAML) and also parses the
card with huggingface_hub's own `ModelCardData` / `DatasetCardData`, so a card that passes here is
one the hub and `load_dataset` accept.

Licences are inherited, not chosen: a model trained on data whose rights say non-commercial
(LLVIP) is non-commercial too (`licence_from_rights`).
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionrs.core.repo_id import is_repo_id, looks_like_repo_id
from fusionrs.errors import CardValidationError  # noqa: F401  (defined in errors.py, re-exported here)
from fusionrs.version import __version__

__all__ = [
    "CARD_KINDS",
    "CardValidationError",
    "LicenceInfo",
    "PIPELINE_TAGS",
    "LICENSE_IDS",
    "LIMITATIONS",
    "check_card",
    "dataset_rights",
    "filter_report_from_generation",
    "licence_from_rights",
    "model_index_from_eval",
    "read_model_meta",
    "render_dataset_card",
    "refresh_dataset_card",
    "render_model_card",
    "template_text",
    "validate_card",
]

CARD_KINDS = ("dataset", "translator", "clip", "vlm")
# fusionrs' notes beside each model kind (written by the trainers); the card's training table comes from them.
MODEL_META_FILES = {"translator": "translator_config.json", "clip": "fusionrs_clip.json", "vlm": "fusionrs_vlm.json"}

# Hub task ids (https://huggingface.co/tasks, hub-docs `pipelines.ts`): an unknown pipeline_tag is
# silently dropped by the hub, so the model would not show up under its task.
PIPELINE_TAGS = frozenset({
    "text-classification", "token-classification", "table-question-answering", "question-answering",
    "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation",
    "fill-mask", "sentence-similarity", "text-to-speech", "text-to-audio", "automatic-speech-recognition",
    "audio-to-audio", "audio-classification", "audio-text-to-text", "voice-activity-detection",
    "depth-estimation", "image-classification", "object-detection", "image-segmentation", "text-to-image",
    "image-to-text", "image-to-image", "image-to-video", "unconditional-image-generation", "video-classification",
    "reinforcement-learning", "robotics", "tabular-classification", "tabular-regression", "tabular-to-text",
    "table-to-text", "multiple-choice", "text-ranking", "text-retrieval", "time-series-forecasting",
    "text-to-video", "image-text-to-text", "image-text-to-image", "image-text-to-video", "visual-question-answering",
    "document-question-answering", "zero-shot-image-classification", "graph-ml", "mask-generation",
    "zero-shot-object-detection", "text-to-3d", "image-to-3d", "image-feature-extraction", "video-text-to-text",
    "keypoint-detection", "visual-document-retrieval", "any-to-any", "video-to-video", "other",
})
# Licence ids the hub recognises (hub-docs `repositories-licenses`); anything else must be `other` +
# `license_name` (+ `license_link`).
LICENSE_IDS = frozenset({
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1",
    "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research",
    "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0",
    "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license",
    "fair-noncommercial-research-license", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
    "unknown", "other",
})
_NON_COMMERCIAL_LICENSES = frozenset(i for i in LICENSE_IDS if "-nc" in i) | {"fair-noncommercial-research-license"}
SPACE_SDKS = ("gradio", "streamlit", "docker", "static")
SPACE_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
_LICENSE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")

# Said on every model card: what the IR is and is not, and the misuse risk the hub's review asks about.
LIMITATIONS = (
    "The infrared images are **infrared-style**: translated from RGB (or rendered by the procedural world), "
    "not radiometric measurements. They carry no temperature, emissivity or radiance; do not read physical "
    "quantities from them, and do not use outputs as evidence of heat.",
    "IR-aware captions describe grayscale intensity patterns (bright/dark responses, contrast, outlines), "
    "never temperatures; captions claiming heat are a model error.",
    "Misuse risk: infrared-style imagery and captioning can support detecting or tracking people at night. "
    "Do not use this model for surveillance of individuals or to identify people.",
    "Remote-sensing domain only: trained and evaluated on nadir aerial/satellite scenes; performance on other "
    "viewpoints, sensors or real thermal cameras is not established.",
)

CITATION = """@misc{fusionrs2026,
  title         = {A Large-Scale RGB-Infrared Remote Sensing Dataset for Dual-Modal Vision-Language Foundation Models},
  year          = {2026},
  eprint        = {2606.17020},
  archivePrefix = {arXiv},
  note          = {FusionRS}
}"""


@dataclass(frozen=True)
class LicenceInfo:
    """The licence a dataset or model inherits from its sources' rights."""

    license: str
    license_name: str | None = None
    commercial_use: bool = True
    reason: str = ""
    restricting_sources: tuple[str, ...] = field(default_factory=tuple)

    def card_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"license": self.license}
        if self.license_name:
            fields["license_name"] = self.license_name
        return fields


def template_text(kind: str) -> str:
    """The Jinja template model_cards/<kind>.md (installed as package data of fusionrs.model_cards)."""
    if kind not in CARD_KINDS:
        raise ValueError(f"unknown card kind {kind!r}; one of {', '.join(CARD_KINDS)}")
    return importlib.resources.files("fusionrs.model_cards").joinpath(f"{kind}.md").read_text()


# --- licences --------------------------------------------------------------------------------------

_NC_PATTERNS = re.compile(r"non[-\s]?commercial|\bnc\b|cc-by-nc|llvip|academic (research )?(use )?only", re.I)
_PERMISSIVE = re.compile(r"^\s*(cc0|cc-by-4\.0|cc-by-sa|mit|apache|public domain|pddl|odc-by)", re.I)


def licence_from_rights(rights: Mapping[str, str] | Iterable[str], *, override: str | None = None) -> LicenceInfo:
    """The licence a dataset or model inherits from its sources' rights notes.

    `rights` maps source name -> rights text (or is a plain list of texts / source names). Any
    non-commercial source (LLVIP, CC-BY-NC, "non-commercial") makes the result non-commercial;
    sources with research-only or unstated rights give `other` / `research-data-terms`; only when every
    source is permissive (CC0, CC-BY, MIT, Apache) is the result Apache-2.0 (fusionrs' own licence).
    `override` (a hub licence id) wins, but never turns non-commercial data commercial.
    """
    items = dict(rights) if isinstance(rights, Mapping) else {str(r): str(r) for r in rights}
    restricting = tuple(sorted(name for name, text in items.items() if _NC_PATTERNS.search(f"{name} {text}")))
    if restricting:
        if override and override not in _NON_COMMERCIAL_LICENSES and override != "other":
            raise CardValidationError(
                f"licence {override!r} would allow commercial use, but {', '.join(restricting)} "
                "is non-commercial; use a -nc licence or 'other'")
        return LicenceInfo(override or "other", None if override and override != "other" else "non-commercial-research",
                           False, f"inherits non-commercial terms from {', '.join(restricting)}", restricting)
    if override:
        return LicenceInfo(override, "research-data-terms" if override == "other" else None,
                           override not in _NON_COMMERCIAL_LICENSES, "set explicitly")
    unclear = tuple(sorted(name for name, text in items.items() if not _PERMISSIVE.search(text)))
    if unclear or not items:
        return LicenceInfo("other", "research-data-terms", True,
                           "source terms are research-use or unstated: " + (", ".join(unclear) or "no sources listed"),
                           unclear)
    return LicenceInfo("apache-2.0", None, True, "every source is permissively licensed")


def dataset_rights(folder: str | Path) -> dict[str, str]:
    """source_dataset -> rights note of a dataset folder, read from the parquet `provenance` column only."""
    import pyarrow.parquet as pq

    rights: dict[str, str] = {}
    for shard in sorted(Path(folder).glob("data/*.parquet")):
        table = pq.read_table(shard, columns=["source_dataset", "provenance"])
        sources = table.column("source_dataset").to_pylist()
        provenance = table.column("provenance").combine_chunks().field("rights").to_pylist()
        for source, text in zip(sources, provenance):
            rights.setdefault(source, text or "not stated")
    return rights


# --- model-index -----------------------------------------------------------------------------------

def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metric_id(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower().replace("@", "_at_")).strip("_")


def _eval_metrics(results: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(result label, {metric_name: value}) blocks found in one eval JSON, by shape:

    - CLIP (`fusionrs eval clip`): `retrieval[direction]["R@k"]` + `mean_recall`;
    - translator (`fusionrs eval translator`): `systems["model"]["mean"]` (PSNR/SSIM/MAE/edge_corr),
      also nested one level (benchmark files keep several evaluations side by side);
    - anything else (VLM BLEU/ROUGE-L/CIDEr, ...): the numeric top-level entries, or those of a
      `metrics` / `scores` mapping.
    """
    if "retrieval" in results or "mean_recall" in results:
        metrics: dict[str, Any] = {}
        for key in ("mean_recall", "mean_recall_all"):
            if _number(results.get(key)):
                metrics[key] = results[key]
        for direction, scores in (results.get("retrieval") or {}).items():
            for name, value in (scores or {}).items():
                if name.startswith("R@") and _number(value):  # not n_queries / n_gallery
                    metrics[f"{direction} {name}"] = value
        aware = results.get("ir_aware") or {}
        if _number(aware.get("mean_recall")):
            metrics["ir_aware mean_recall"] = aware["mean_recall"]
        for view, scores in (results.get("zero_shot") or {}).items():
            if isinstance(scores, Mapping):
                metrics.update({f"zero-shot {view} {k}": v for k, v in scores.items() if k.startswith("top") and _number(v)})
        return [("", metrics)]
    if isinstance(results.get("systems"), Mapping):
        system = results["systems"].get("model") or next(iter(results["systems"].values()), {})
        means = system.get("mean", system)
        return [("", {k: v for k, v in means.items() if _number(v)})]
    nested = [(k, v) for k, v in results.items() if isinstance(v, Mapping) and isinstance(v.get("systems"), Mapping)]
    if nested:
        return [(label, _eval_metrics(block)[0][1]) for label, block in nested]
    for key in ("metrics", "scores"):
        if isinstance(results.get(key), Mapping):
            return [("", {k: v for k, v in results[key].items() if _number(v)})]
    return [("", {k: v for k, v in results.items() if _number(v)})]


def model_index_from_eval(
    eval_json: str | Path | Mapping[str, Any],
    *,
    model_name: str,
    task_type: str,
    task_name: str | None = None,
    dataset_type: str = "fusionrs",
    dataset_name: str | None = None,
    dataset_split: str | None = "auto",
    metrics: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """An eval JSON (path or dict; a `fusionrs.results` file is unwrapped) -> hub `model-index` entries.

    `metrics` ({name: value}) replaces the automatic extraction when given. Values are copied as
    they are (no rescaling), rounded to 4 decimals; one result per evaluation block found. By default
    the dataset name says what was evaluated (the JSON's `data` / `pairs`) and the split is the JSON's
    `split` (none when it has none); pass `dataset_name` / `dataset_split` to set them.
    """
    data = json.loads(Path(eval_json).read_text()) if isinstance(eval_json, (str, Path)) else dict(eval_json)
    results = data.get("results", data) if isinstance(data.get("results"), Mapping) else data
    if dataset_split == "auto":
        dataset_split = results.get("split") if isinstance(results.get("split"), str) else None
    if dataset_name is None:
        evaluated = results.get("data") or results.get("pairs")
        # a local path names nothing on the hub: keep its last part only ("world:24", "fusionrs-world")
        label = Path(str(evaluated)).name if isinstance(evaluated, str) and evaluated else ""
        dataset_name = f"FusionRS ({label})" if label else "FusionRS"
    blocks = [("", dict(metrics))] if metrics is not None else _eval_metrics(results)
    entries = []
    for label, values in blocks:
        if not values:
            continue
        entries.append({
            "task": {"type": task_type, **({"name": task_name} if task_name else {})},
            "dataset": {"type": dataset_type, "name": f"{dataset_name} ({label})" if label else dataset_name,
                        **({"split": dataset_split} if dataset_split else {})},
            "metrics": [{"type": _metric_id(name), "name": name, "value": round(float(value), 4)}
                        for name, value in values.items()],
        })
    if not entries:
        raise CardValidationError("no numeric metrics found in the eval JSON "
                                  f"(keys: {', '.join(list(results)[:12])}); pass metrics={{name: value}}")
    return [{"name": model_name, "results": entries}]


# --- rendering -------------------------------------------------------------------------------------

def _flatten(config: Mapping[str, Any], prefix: str = "", limit: int = 60) -> list[tuple[str, str]]:
    """A readable key/value table of a nested config (short values only: the JSON file has the rest)."""
    rows: list[tuple[str, str]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{name}.", limit)
        else:
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
            rows.append((name, text if len(text) <= 120 else text[:117] + "..."))
    return rows[:limit]


def filter_report_from_generation(generation: Mapping[str, Any]) -> dict[str, Any] | None:
    """The IR-caption strict-filter outcome recorded by `fusionrs build` / `fusionrs captions`."""
    counts = generation.get("ir_caption_filter_counts")
    report = generation.get("ir_caption_report") or {}
    if not counts and not report:
        return None
    return {"counts": dict(sorted((counts or {}).items(), key=lambda kv: -kv[1])),
            "accepted": report.get("accepted"), "rejected": report.get("rejected"),
            "captioner": report.get("captioner") or generation.get("captioner")}


def render_dataset_card(
    card_data,
    *,
    pretty_name: str,
    description: str,
    repo_hint: str,
    split_counts: Mapping[str, int],
    sources: list[dict[str, Any]],
    generation: Mapping[str, Any],
    skipped: list[dict[str, str]],
    citation: str | None = CITATION,
    schema_version: int | None = None,
) -> str:
    """README.md of a dataset folder from model_cards/dataset.md (`card_data`: a DatasetCardData that
    already holds `configs` + `dataset_info`). Used by the folder writer and by `push` to refresh.

    `schema_version`: the dataset schema the folder was written with; the folder writer passes it,
    None reads the current `fusionrs.data.schema.SCHEMA_VERSION`."""
    from huggingface_hub import DatasetCard

    if schema_version is None:
        from fusionrs.data.schema import SCHEMA_VERSION as schema_version

    inherited = licence_from_rights({s["name"]: s.get("rights") or "" for s in sources})
    declared = card_data.get("license") or inherited.license
    if not inherited.commercial_use and declared not in _NON_COMMERCIAL_LICENSES | {"other"}:
        raise CardValidationError(
            f"dataset licence {declared!r} allows commercial use, but {', '.join(inherited.restricting_sources)} "
            "is non-commercial; use a -nc licence or 'other'")
    # The card states the declared licence; the sources' rights decide whether commercial use is possible.
    licence = LicenceInfo(declared, card_data.get("license_name"), inherited.commercial_use,
                          inherited.reason, inherited.restricting_sources)
    card = DatasetCard.from_template(
        card_data,
        template_str=template_text("dataset"),
        pretty_name=pretty_name,
        description=description or "An RGB / infrared-style / caption dataset built with fusionrs.",
        repo_hint=repo_hint,
        first_split=sorted(split_counts)[0],
        split_counts=dict(sorted(split_counts.items())),
        sources=sources,
        licence=licence,
        generation_json=json.dumps(dict(generation), indent=2, sort_keys=True),
        filter_report=filter_report_from_generation(generation),
        skipped=skipped,
        citation=citation,
        limitations=LIMITATIONS[:2],
        fusionrs_version=__version__,
        schema_version=schema_version,
    )
    return str(card)


def refresh_dataset_card(folder: str | Path, *, repo_id: str | None = None) -> str:
    """Re-render a dataset folder's README.md from its generation.json, keeping its YAML `configs` and
    `dataset_info` (what `load_dataset` reads). A folder without generation.json keeps its README."""
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    readme = folder / "README.md"
    if not (folder / "generation.json").is_file():
        return readme.read_text()
    card = DatasetCard.load(readme)
    written = json.loads((folder / "generation.json").read_text())
    rights = dataset_rights(folder)
    counts = written.get("source_counts") or {}
    sources = [{"name": n, "rows": counts.get(n, "?"), "rights": rights.get(n) or "not stated"}
               for n in sorted(set(counts) | set(rights))]
    licence = licence_from_rights({s["name"]: s["rights"] for s in sources})
    if card.data.get("license") in (None, "other") and licence.license_name and not card.data.get("license_name"):
        card.data.license_name = licence.license_name
    if card.data.get("license") is None:
        card.data.license = licence.license
    text = render_dataset_card(
        card.data,
        pretty_name=card.data.get("pretty_name") or "FusionRS dataset",
        description=_first_paragraph(card.text),
        repo_hint=repo_id or folder.name,
        split_counts=written.get("split_counts") or {},
        sources=sources,
        generation=written.get("generation") or {},
        skipped=written.get("skipped") or [],
    )
    return text


def _first_paragraph(body: str) -> str:
    """The description paragraph under the card's title (what the writer was given)."""
    lines = body.strip().splitlines()
    paragraph: list[str] = []
    for line in lines[1:] if lines and lines[0].startswith("#") else lines:
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line)
    return "\n".join(paragraph)


def read_model_meta(folder: str | Path, kind: str) -> dict[str, Any]:
    """fusionrs' notes beside a model folder ({} when absent: plain transformers folders still get a card)."""
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


_MODEL_CARD_DEFAULTS = {
    "translator": {"library_name": "diffusers", "pipeline_tag": "image-to-image", "task_name": "RGB to infrared-style translation",
                   "tags": ["rgb-to-infrared"]},
    "clip": {"library_name": "transformers", "pipeline_tag": "zero-shot-image-classification",
             "task_name": "RGB / IR / text retrieval", "tags": ["clip", "rgb-infrared"]},
    "vlm": {"library_name": "transformers", "pipeline_tag": "image-text-to-text", "task_name": "IR-aware captioning",
            "tags": ["captioning", "rgb-infrared"]},
}


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
    `fusionrs_vlm.json`) unless given: `base_model` and `datasets` (hub ids only; local dataset folders
    count for the licence), `eval_json` files -> `model-index`, `training_data` (source names, e.g.
    "llvip"), `license` (a hub id; never relaxes non-commercial data).
    """
    from huggingface_hub import ModelCard, ModelCardData

    if kind not in _MODEL_CARD_DEFAULTS:
        raise ValueError(f"unknown model card kind {kind!r}; one of {', '.join(_MODEL_CARD_DEFAULTS)}")
    folder = Path(folder)
    defaults = _MODEL_CARD_DEFAULTS[kind]
    meta = read_model_meta(folder, kind)
    model_name = repo_id.split("/")[-1] if repo_id else folder.name

    # licence: training sources named in the notes + rights of local dataset folders
    data_refs = list(datasets or []) + _meta_list(meta, "datasets", "dataset", "data", "data_dir", "train_data")
    sources = {s: s for s in (training_data or []) + _meta_list(meta, "training_data", "sources")}
    for ref in data_refs:
        if Path(ref).is_dir() and any(Path(ref).glob("data/*.parquet")):
            sources.update(dataset_rights(ref))
    if meta.get("licence") == "non-commercial" and licence_from_rights(sources).commercial_use:
        # the trainer recorded non-commercial data we cannot name: keep the restriction anyway
        sources["training data (as recorded in the model notes)"] = "non-commercial"
    licence = licence_from_rights(sources, override=license)

    base = [base_model] if isinstance(base_model, str) else list(base_model or [])
    base = _hub_ids(base or _meta_list(meta, "base_model", "init", "base", "language_model", "vision_model"))
    dataset_ids = _hub_ids(data_refs)

    model_index = []
    for item in eval_json or []:
        model_index += model_index_from_eval(
            item, model_name=model_name, task_type=defaults["pipeline_tag"], task_name=defaults["task_name"],
            dataset_type=eval_dataset or (dataset_ids[0] if dataset_ids else "fusionrs"),
            dataset_name=eval_dataset)[0]["results"]
    card_data = ModelCardData(
        library_name=defaults["library_name"],
        pipeline_tag=defaults["pipeline_tag"],
        base_model=(base[0] if len(base) == 1 else base) or None,
        datasets=dataset_ids or None,
        tags=["fusionrs", "remote-sensing", "infrared", "thermal", *defaults["tags"]],
        **licence.card_fields(),
        **({"model-index": [{"name": model_name, "results": model_index}]} if model_index else {}),
    )
    card = ModelCard.from_template(
        card_data,
        template_str=template_text(kind),
        config=meta,
        repo_id=repo_id or str(folder),
        model_name=model_name,
        training_rows=_flatten(meta),
        results=[(r["dataset"]["name"], m.get("name") or m["type"], m["value"])
                 for r in model_index for m in r["metrics"]],
        licence=licence,
        base_models=base,
        dataset_ids=dataset_ids,
        data_refs=[str(r) for r in data_refs],
        limitations=LIMITATIONS,
        citation=CITATION,
        fusionrs_version=__version__,
    )
    return str(card)


# --- validation ------------------------------------------------------------------------------------

def _split_front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    import yaml

    match = re.match(r"^\s*---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not match:
        return None, text
    data = yaml.safe_load(match.group(1)) or {}
    return (data if isinstance(data, dict) else {"__not_a_mapping__": data}), text[match.end():]


def _check_str_list(meta: Mapping[str, Any], key: str, problems: list[str], *, ids: bool = False) -> None:
    value = meta.get(key)
    if value is None:
        return
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        problems.append(f"{key}: expected a string or a list of strings, got {value!r}")
    elif ids:
        bad = [v for v in values if not is_repo_id(v, require_namespace=False)]
        if bad:
            problems.append(f"{key}: not hub repo ids: {', '.join(bad)}")


def _check_license(meta: Mapping[str, Any], problems: list[str]) -> None:
    license_id = meta.get("license")
    if license_id is None:
        problems.append("license: missing (use a hub licence id, or 'other' with license_name)")
        return
    ids = [license_id] if isinstance(license_id, str) else license_id
    for value in ids if isinstance(ids, list) else [ids]:
        if value not in LICENSE_IDS:
            problems.append(f"license: {value!r} is not a hub licence id (use 'other' with license_name)")
    if "other" in ids and not meta.get("license_name"):
        problems.append("license_name: required when license is 'other'")
    name = meta.get("license_name")
    if name is not None and (not isinstance(name, str) or not _LICENSE_NAME.match(name)):
        problems.append(f"license_name: {name!r} must be lower-case letters, digits, '-' or '.'")


def _check_model_index(model_index: Any, problems: list[str]) -> None:
    if not isinstance(model_index, list) or not model_index:
        problems.append("model-index: expected a non-empty list")
        return
    for i, entry in enumerate(model_index):
        where = f"model-index[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            problems.append(f"{where}.name: missing")
            continue
        results = entry.get("results")
        if not isinstance(results, list) or not results:
            problems.append(f"{where}.results: expected a non-empty list")
            continue
        for j, result in enumerate(results):
            at = f"{where}.results[{j}]"
            if not isinstance(result, Mapping):
                problems.append(f"{at}: expected a mapping")
                continue
            task = result.get("task")
            if not isinstance(task, Mapping) or not isinstance(task.get("type"), str) or not task["type"]:
                problems.append(f"{at}.task.type: missing")
            elif task["type"] not in PIPELINE_TAGS:
                problems.append(f"{at}.task.type: {task['type']!r} is not a hub task id")
            dataset = result.get("dataset")
            for key in ("type", "name"):
                if not isinstance(dataset, Mapping) or not isinstance(dataset.get(key), str) or not dataset[key]:
                    problems.append(f"{at}.dataset.{key}: missing")
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                problems.append(f"{at}.metrics: expected a non-empty list")
                continue
            for k, metric in enumerate(metrics):
                if not isinstance(metric, Mapping) or not isinstance(metric.get("type"), str) or not metric["type"]:
                    problems.append(f"{at}.metrics[{k}].type: missing")
                elif "value" not in metric or not (_number(metric["value"]) or isinstance(metric["value"], str)):
                    problems.append(f"{at}.metrics[{k}].value: expected a number or a string")


def _check_configs(configs: Any, problems: list[str]) -> None:
    if not isinstance(configs, list) or not configs:
        problems.append("configs: expected a non-empty list")
        return
    for i, config in enumerate(configs):
        if not isinstance(config, Mapping) or not isinstance(config.get("config_name"), str):
            problems.append(f"configs[{i}].config_name: missing")
            continue
        files = config.get("data_files")
        if isinstance(files, str):
            continue
        if not isinstance(files, list) or not files:
            problems.append(f"configs[{i}].data_files: expected a path, a list of paths or of {{split, path}}")
            continue
        for item in files:
            if isinstance(item, Mapping) and not (isinstance(item.get("split"), str) and item.get("path")):
                problems.append(f"configs[{i}].data_files: entry {item!r} needs split and path")


def validate_card(text: str, repo_type: str = "model") -> list[str]:
    """Every hub metadata problem of a card (README.md text); [] when it is fine. Offline."""
    problems: list[str] = []
    try:
        meta, _ = _split_front_matter(text)
    except Exception as error:  # yaml.YAMLError and friends: the hub rejects the whole card
        return [f"YAML front matter does not parse: {error}"]
    if meta is None:
        return ["no YAML front matter (--- ... ---) at the top of the card"]
    if "__not_a_mapping__" in meta:
        return ["YAML front matter is not a mapping"]
    if repo_type in ("model", "dataset"):
        _check_license(meta, problems)
    elif "license" in meta:
        _check_license(meta, problems)
    _check_str_list(meta, "tags", problems)
    if repo_type == "model":
        tag = meta.get("pipeline_tag")
        if tag is not None and tag not in PIPELINE_TAGS:
            problems.append(f"pipeline_tag: {tag!r} is not a hub task id")
        if meta.get("library_name") is not None and not isinstance(meta["library_name"], str):
            problems.append("library_name: expected a string")
        _check_str_list(meta, "base_model", problems, ids=True)
        _check_str_list(meta, "datasets", problems, ids=True)
        if "model-index" in meta:
            _check_model_index(meta["model-index"], problems)
    elif repo_type == "dataset":
        for key in ("task_categories",):
            values = meta.get(key) or []
            bad = [v for v in values if v not in PIPELINE_TAGS]
            if bad:
                problems.append(f"{key}: not hub task ids: {', '.join(map(str, bad))}")
        if "configs" in meta:
            _check_configs(meta["configs"], problems)
        if meta.get("dataset_info") is not None and not isinstance(meta["dataset_info"], (Mapping, list)):
            problems.append("dataset_info: expected a mapping (or a list of them)")
    elif repo_type == "space":
        if meta.get("sdk") not in SPACE_SDKS:
            problems.append(f"sdk: {meta.get('sdk')!r} is not one of {', '.join(SPACE_SDKS)}")
        if not isinstance(meta.get("title"), str) or not meta["title"]:
            problems.append("title: missing")
        for key in ("colorFrom", "colorTo"):
            if key in meta and meta[key] not in SPACE_COLORS:
                problems.append(f"{key}: {meta[key]!r} is not one of {', '.join(SPACE_COLORS)}")
        if "app_file" in meta and not isinstance(meta["app_file"], str):
            problems.append("app_file: expected a path string")
        if "sdk_version" in meta and not isinstance(meta["sdk_version"], str):
            problems.append("sdk_version: expected a string (quote it: \"6.31.0\")")
        if len(str(meta.get("short_description") or "")) > 60:
            problems.append("short_description: longer than 60 characters")
        _check_str_list(meta, "models", problems, ids=True)
        _check_str_list(meta, "datasets", problems, ids=True)
    else:
        raise ValueError(f"unknown repo_type {repo_type!r}")
    if not problems:
        problems += _parse_with_huggingface_hub(text, repo_type)
    return problems


def _parse_with_huggingface_hub(text: str, repo_type: str) -> list[str]:
    """huggingface_hub's own parse (what `push_to_hub` and the hub build on): catches what we do not model."""
    from huggingface_hub import DatasetCard, ModelCard, SpaceCard

    card_class = {"model": ModelCard, "dataset": DatasetCard, "space": SpaceCard}[repo_type]
    try:
        card = card_class(text, ignore_metadata_errors=False)
        card.data.to_dict()
    except Exception as error:  # ValueError for a bad model-index, TypeError for wrong shapes
        return [f"huggingface_hub cannot parse the card metadata: {error}"]
    return []


def check_card(text: str, repo_type: str = "model", *, where: str = "README.md") -> None:
    """Raise `CardValidationError` listing every problem `validate_card` finds."""
    problems = validate_card(text, repo_type)
    if problems:
        raise CardValidationError(f"{where}: card metadata is not valid for the hub:\n  - " + "\n  - ".join(problems))
