"""Hub `model-index` metadata from fusionrs eval JSON files, built with huggingface_hub's `EvalResult`.

The metrics are found by the shape of the JSON (`fusionrs eval clip`, `fusionrs eval translator`,
benchmark files, plain {metric: value} mappings); huggingface_hub's `eval_results_to_model_index`
lays them out, so the result is what `ModelCardData(eval_results=...)` writes and the hub reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionrs.errors import CardValidationError

if TYPE_CHECKING:
    from huggingface_hub import EvalResult

__all__ = ["eval_results_from_eval", "is_number", "metric_id", "model_index_from_eval"]


def is_number(value: Any) -> bool:
    """Whether `value` is an int or float (not a bool).

    Args:
        value: anything read from JSON / YAML.

    Returns:
        True for real numbers only.
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def metric_id(name: str) -> str:
    """A metric's `type` id from its display name ("ir->caption R@1" -> "ir_caption_r_at_1").

    Args:
        name: the display name.

    Returns:
        Lower-case letters, digits and underscores.
    """
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
            if is_number(results.get(key)):
                metrics[key] = results[key]
        for direction, scores in (results.get("retrieval") or {}).items():
            for name, value in (scores or {}).items():
                if name.startswith("R@") and is_number(value):  # not n_queries / n_gallery
                    metrics[f"{direction} {name}"] = value
        aware = results.get("ir_aware") or {}
        if is_number(aware.get("mean_recall")):
            metrics["ir_aware mean_recall"] = aware["mean_recall"]
        for view, scores in (results.get("zero_shot") or {}).items():
            if isinstance(scores, Mapping):
                metrics.update({f"zero-shot {view} {k}": v for k, v in scores.items() if k.startswith("top") and is_number(v)})
        return [("", metrics)]
    if isinstance(results.get("systems"), Mapping):
        system = results["systems"].get("model") or next(iter(results["systems"].values()), {})
        means = system.get("mean", system)
        return [("", {k: v for k, v in means.items() if is_number(v)})]
    nested = [(k, v) for k, v in results.items() if isinstance(v, Mapping) and isinstance(v.get("systems"), Mapping)]
    if nested:
        return [(label, _eval_metrics(block)[0][1]) for label, block in nested]
    for key in ("metrics", "scores"):
        if isinstance(results.get(key), Mapping):
            return [("", {k: v for k, v in results[key].items() if is_number(v)})]
    return [("", {k: v for k, v in results.items() if is_number(v)})]


def eval_results_from_eval(
    eval_json: str | Path | Mapping[str, Any],
    *,
    task_type: str,
    task_name: str | None = None,
    dataset_type: str = "fusionrs",
    dataset_name: str | None = None,
    dataset_split: str | None = "auto",
    metrics: Mapping[str, float] | None = None,
) -> list[EvalResult]:
    """An eval JSON -> one huggingface_hub `EvalResult` per metric.

    Values are copied as they are (no rescaling), rounded to 4 decimals. Each evaluation block of a
    benchmark file ("roadscene", "world") becomes its own dataset config, so the hub keeps the blocks
    apart (`EvalResult`s with the same task, dataset type, config and split share one result).

    Args:
        eval_json: a path or a dict; a `fusionrs.results` file (`{"results": {...}}`) is unwrapped.
        task_type: the hub task id (a pipeline tag).
        task_name: the task's display name.
        dataset_type: the evaluated dataset's hub id ("fusionrs" when it has none).
        dataset_name: the display name; by default says what was evaluated (the JSON's `data` / `pairs`).
        dataset_split: the split; "auto" reads the JSON's `split` (none when it has none).
        metrics: {name: value} that replaces the automatic extraction.

    Returns:
        The `EvalResult`s, in the order the metrics were found.

    Raises:
        CardValidationError: the JSON holds no numeric metric.
    """
    from huggingface_hub import EvalResult

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
    found = [
        EvalResult(task_type=task_type, task_name=task_name, dataset_type=dataset_type,
                   dataset_name=f"{dataset_name} ({label})" if label else dataset_name,
                   dataset_config=label or None, dataset_split=dataset_split,
                   metric_type=metric_id(name), metric_name=name, metric_value=round(float(value), 4))
        for label, values in blocks for name, value in values.items()
    ]
    if not found:
        raise CardValidationError("no numeric metrics found in the eval JSON "
                                  f"(keys: {', '.join(list(results)[:12])}); pass metrics={{name: value}}")
    return found


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
    """An eval JSON -> the hub `model-index` (huggingface_hub's layout of `eval_results_from_eval`).

    Args:
        eval_json: a path or a dict; a `fusionrs.results` file is unwrapped.
        model_name: the model-index entry's name.
        task_type: the hub task id (a pipeline tag).
        task_name: the task's display name.
        dataset_type: the evaluated dataset's hub id ("fusionrs" when it has none).
        dataset_name: the display name (default: from the JSON's `data` / `pairs`).
        dataset_split: the split; "auto" reads the JSON's `split`.
        metrics: {name: value} that replaces the automatic extraction.

    Returns:
        `[{"name": model_name, "results": [{"task", "dataset", "metrics"}, ...]}]`, one result per
        evaluation block.

    Raises:
        CardValidationError: the JSON holds no numeric metric.
    """
    from huggingface_hub.repocard_data import eval_results_to_model_index

    found = eval_results_from_eval(eval_json, task_type=task_type, task_name=task_name, dataset_type=dataset_type,
                                   dataset_name=dataset_name, dataset_split=dataset_split, metrics=metrics)
    return eval_results_to_model_index(model_name, found)
