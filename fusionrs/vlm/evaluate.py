"""Score a captioner on a dataset split (all caption metrics) and on a VQA manifest (EM / token F1).

Captions: COCO metrics from `fusionrs.metrics.captioning.caption_scores` plus the paper's lexical
F1 and ROUGE-L with 95% bootstrap CIs (`fusionrs.metrics.lexical`). References are the row's
`captions` for the `caption` task and its `ir_captions` for `ir_aware_caption`.
The evaluation subset is a seeded sample of the split's evaluation representatives (one per
near-duplicate group), fixed before any model is scored.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fusionrs.errors import FusionRSError
from fusionrs.vlm.data import caption_example, vqa_examples
from fusionrs.vlm.generate import generate_texts

__all__ = ["evaluate_captions", "evaluate_vqa", "lexical_summary", "representative_subset"]

REFERENCE_FIELD = {"caption": "captions", "ir_aware_caption": "ir_captions"}


def representative_subset(dataset, n: int | None, seed: int = 0) -> list[int]:
    """Indices of up to `n` evaluation representatives, a seeded sample in dataset order."""
    flags = dataset["is_eval_representative"] if "is_eval_representative" in dataset.column_names else [True] * len(dataset)
    indices = [i for i, flag in enumerate(flags) if flag]
    if n is not None and n < len(indices):
        indices = sorted(random.Random(seed).sample(indices, n))
    return indices


def lexical_summary(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The paper's lexical F1 and ROUGE-L with 95% CIs (fusionrs.metrics.lexical)."""
    try:
        from fusionrs.metrics import lexical
    except ImportError:
        return {"note": "fusionrs.metrics.lexical not available"}
    scores = lexical.lexical_scores(list(predictions), [list(r) for r in references])
    scores.pop("per_item", None)
    return scores


def evaluate_captions(
    model,
    processor,
    rows: Sequence[dict[str, Any]],
    *,
    mode: str,
    task: str,
    max_new_tokens: int = 40,
    batch_size: int = 16,
    keep_predictions: int = 8,
) -> dict[str, Any]:
    """Generate for `rows` with `mode`/`task` and score against the task's references."""
    from fusionrs.metrics.captioning import caption_scores

    if task not in REFERENCE_FIELD:
        raise FusionRSError(f"task {task!r} has no caption references (use caption or ir_aware_caption)")
    field = REFERENCE_FIELD[task]
    examples = [caption_example(row, mode, task) for row in rows]
    references = [[text for text in row[field] if text] for row in rows]
    empty = [row["id"] for row, refs in zip(rows, references) if not refs]
    if empty:
        raise FusionRSError(f"rows {empty[:3]} have no {field!r} to score against")
    predictions, timing = generate_texts(model, processor, examples, max_new_tokens=max_new_tokens,
                                         batch_size=batch_size)
    coco = caption_scores(predictions, references, with_meteor=False)
    coco.pop("notes", None)
    return {
        "mode": mode, "task": task, "n": len(rows),
        "coco": coco,
        "lexical": lexical_summary(predictions, references),
        "generation": timing,
        "mean_words": round(sum(len(p.split()) for p in predictions) / max(1, len(predictions)), 2),
        "examples": [{"id": row["id"], "prediction": p, "reference": refs[0]}
                     for row, p, refs in list(zip(rows, predictions, references))[:keep_predictions]],
        "predictions": predictions,
    }


def evaluate_vqa(
    model,
    processor,
    manifest: Sequence[dict[str, Any]],
    image_root: str | Path,
    *,
    max_new_tokens: int = 8,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Answer the manifest's questions from the IR image alone; EM / token F1 overall and per type."""
    from fusionrs.metrics import vqa as vqa_metrics

    examples = vqa_examples(manifest, image_root)
    predictions, timing = generate_texts(model, processor, examples, max_new_tokens=max_new_tokens,
                                         batch_size=batch_size)
    answers = [str(item["answer"]) for item in manifest]
    types = [item.get("type", "all") for item in manifest]
    # Raw replies scored as they are, and reduced to the question type's vocabulary first
    # ("Yes, there is." -> "yes"), so a chatty model is not scored as wrong for its phrasing alone.
    return {"n": len(manifest), "scores": vqa_metrics.vqa_scores(predictions, answers, types),
            "scores_extracted": vqa_metrics.vqa_scores(predictions, answers, types, extract=True),
            "generation": timing,
            "examples": [{"question": m["question"], "answer": a, "prediction": p}
                         for m, a, p in list(zip(manifest, answers, predictions))[:8]],
            "predictions": predictions}
