"""Local checks of card metadata against the hub's rules (model, dataset and Space cards).

Why local checks: `RepoCard.validate()` posts the card to the public hub, which these machines
cannot reach (and tests must not need). `validate_card` applies the hub's metadata rules we rely on
(licence ids, `license_name` + `license_link` for `other`, pipeline tags, model-index shape, dataset
`configs` and `size_categories`, Space YAML) and also parses the card with huggingface_hub's own
`ModelCardData` / `DatasetCardData`, so a card that passes here is one the hub and `load_dataset`
accept. Model and dataset cards must also carry no absolute local path (DESIGN: artefacts travel).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fusionrs.core.card_templates import SIZE_CATEGORIES, size_category
from fusionrs.core.licences import LICENSE_IDS
from fusionrs.core.model_index import is_number
from fusionrs.core.references import LOCAL_PATH
from fusionrs.core.repo_id import is_repo_id
from fusionrs.errors import CardValidationError

__all__ = ["PIPELINE_TAGS", "SPACE_COLORS", "SPACE_SDKS", "check_card", "split_front_matter", "validate_card"]

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
SPACE_SDKS = ("gradio", "streamlit", "docker", "static")
SPACE_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
_LICENSE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_SIZE_LABELS = frozenset(label for _, label in SIZE_CATEGORIES) | {"n>1T", "unknown"}


def split_front_matter(text: str) -> tuple[dict[str, Any] | None, str]:
    """A card's YAML front matter and the text after it.

    Args:
        text: the card (README.md text).

    Returns:
        (metadata, body): metadata is None when the card has no `--- ... ---` block at the top, and
        `{"__not_a_mapping__": value}` when the block is not a mapping.

    Raises:
        yaml.YAMLError: the front matter does not parse (raised by `yaml.safe_load`).
    """
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
    if "other" in ids and not meta.get("license_link"):
        problems.append("license_link: required when license is 'other' (a URL or a file in the repo)")
    link = meta.get("license_link")
    if link is not None and (not isinstance(link, str) or not link.strip()):
        problems.append(f"license_link: {link!r} must be a URL or a path in the repo")
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
                elif "value" not in metric or not (is_number(metric["value"]) or isinstance(metric["value"], str)):
                    problems.append(f"{at}.metrics[{k}].value: expected a number or a string")


def _dataset_rows(info: Any) -> int | None:
    """Rows over all splits and configs of a card's `dataset_info` (None when it records no split sizes)."""
    infos = info if isinstance(info, list) else [info]
    counts = [split.get("num_examples") for entry in infos if isinstance(entry, Mapping)
              for split in entry.get("splits") or [] if isinstance(split, Mapping)]
    return sum(counts) if counts and all(isinstance(n, int) for n in counts) else None


def _check_size_categories(meta: Mapping[str, Any], problems: list[str]) -> None:
    value = meta.get("size_categories")
    labels = [value] if isinstance(value, str) else value
    if value is not None and (not isinstance(labels, list) or not all(label in _SIZE_LABELS for label in labels)):
        problems.append(f"size_categories: {value!r} is not one of the hub's buckets (n<1K, 1K<n<10K, ...)")
        return
    rows = _dataset_rows(meta.get("dataset_info"))
    if rows is None:
        return
    expected = size_category(rows)
    if value is None:
        problems.append(f"size_categories: missing (dataset_info counts {rows} rows: {expected!r})")
    elif expected not in labels:
        problems.append(f"size_categories: {value!r} does not match the {rows} rows of dataset_info ({expected!r})")


def _check_local_paths(text: str, problems: list[str]) -> None:
    found = sorted({match.group(0) for match in LOCAL_PATH.finditer(text)})
    if found:
        problems.append(f"absolute local paths in the card (publish relative ones): {', '.join(found[:5])}")


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
    """Every hub metadata problem of a card (README.md text). Offline.

    Args:
        text: the card.
        repo_type: "model", "dataset" or "space" (which rules apply).

    Returns:
        One message per problem; [] when the card is fine.

    Raises:
        ValueError: `repo_type` is not one of the three.
    """
    problems: list[str] = []
    try:
        meta, _ = split_front_matter(text)
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
        _check_size_categories(meta, problems)
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
    if repo_type in ("model", "dataset"):
        _check_local_paths(text, problems)
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
    """Raise `CardValidationError` listing every problem `validate_card` finds.

    Args:
        text: the card.
        repo_type: "model", "dataset" or "space".
        where: how the message names the card (a path).

    Raises:
        CardValidationError: the card has at least one problem.
    """
    problems = validate_card(text, repo_type)
    if problems:
        raise CardValidationError(f"{where}: card metadata is not valid for the hub:\n  - " + "\n  - ".join(problems))
