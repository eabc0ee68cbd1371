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
    """Indices of up to `n` evaluation representatives, a seeded sample in dataset order.

    Args:
        dataset: a `datasets.Dataset` split; its `is_eval_representative` column picks the
            candidates (every row when the column is absent).
        n: how many indices at most; None keeps every representative.
        seed: seed of the `random.Random` sample taken when there are more than `n` candidates.

    Returns:
        Sorted row indices of the chosen representatives.
    """
    flags = dataset["is_eval_representative"] if "is_eval_representative" in dataset.column_names else [True] * len(dataset)
    indices = [i for i, flag in enumerate(flags) if flag]
    if n is not None and n < len(indices):
        indices = sorted(random.Random(seed).sample(indices, n))
    return indices


def lexical_summary(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The paper's lexical F1 and ROUGE-L with 95% CIs (fusionrs.metrics.lexical).

    Args:
        predictions: one generated caption per item.
        references: the reference captions of each item (one sequence of strings per prediction).

    Returns:
        `fusionrs.metrics.lexical.lexical_scores` without its "per_item" lists ({"lexical_f1",
        "rouge_l" as {"mean", "low", "high"}, "n", "confidence", "resamples", "seed"}), or
        `{"note": ...}` when that module cannot be imported.
    """
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
    """Generate for `rows` with `mode`/`task` and score against the task's references.

    Args:
        model: the captioner (e.g. from `load_vlm`).
        processor: its processor (chat template, tokenizer, image processor).
        rows: dataset rows with "id", the images `mode` needs ("rgb", "ir") and the reference
            field of `task` ("captions" or "ir_captions").
        mode: "rgb+ir", "rgb", "ir" or "ir-official" (the authors' IR-only prompts; `fusionrs.vlm.chat`).
        task: "caption" (scored against `captions`) or "ir_aware_caption" (against `ir_captions`).
        max_new_tokens: the generation length limit per caption.
        batch_size: examples per `generate` call.
        keep_predictions: how many (id, prediction, first reference) examples to include.

    Returns:
        A dict with "mode", "task", "n", "coco" (caption_scores without METEOR and notes),
        "lexical" (`lexical_summary`), "generation" (timing from `generate_texts`), "mean_words",
        "examples" (the first `keep_predictions`) and "predictions" (every generated caption).

    Raises:
        FusionRSError: when `task` has no caption references, when a row has no non-empty
            reference, or when `mode` is unknown.
    """
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
    """Answer the manifest's questions from the IR image alone; EM / token F1 overall and per type.

    Args:
        model: the VLM (e.g. from `load_vlm`).
        processor: its processor.
        manifest: VQA manifest rows ({id, file, question, answer, type}, as from `read_vqa_manifest`).
        image_root: the folder the rows' `file` paths are relative to (the HIT-UAV folder).
        max_new_tokens: the generation length limit per answer.
        batch_size: questions per `generate` call.

    Returns:
        A dict with "n", "scores" (`fusionrs.metrics.vqa.vqa_scores` on the raw replies),
        "scores_extracted" (the same after reducing each reply to its question type's
        vocabulary), "generation" (timing), "examples" (the first 8 question/answer/prediction
        triples) and "predictions".
    """
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


def evaluate_official_vqa(
    model,
    processor,
    manifest: Sequence[dict[str, Any]],
    image_root: str | Path,
    *,
    batch_size: int = 16,
    seed: int = 42,
    bootstrap: int = 1000,
) -> dict[str, Any]:
    """Answer a HIT-UAV VQA manifest in the authors' format and score it by their protocol.

    Each row's thermal image and its `prompt` make the turn (`official_vqa_messages`); generation is
    greedy with the row's `max_new_tokens` (the largest of the batch; 12 in the release).

    Args:
        model: the VLM (e.g. from `load_vlm`).
        processor: its processor.
        manifest: rows of `fusionrs.vlm.official_vqa.read_official_manifest` (ours or the release's).
        image_root: the HIT-UAV folder (`fusionrs.vlm.official_vqa.resolve_image` finds each image).
        batch_size: questions per `generate` call.
        seed: the bootstrap seed (the release's: 42).
        bootstrap: bootstrap draws (the release's: 1,000).

    Returns:
        {"n", "official" and "strict" (overall / per type, `score_official_vqa`), "generation"
        (timing), "predictions" ({question_id: reply})}.

    Raises:
        HitUavError: a row's image is not found under `image_root`.
    """
    from fusionrs.metrics.official_vqa import score_official_vqa
    from fusionrs.vlm.chat import official_vqa_messages
    from fusionrs.vlm.official_vqa import resolve_image

    examples = [{"id": row["question_id"], "task": "vqa", "messages": official_vqa_messages(row["prompt"]),
                 "image_files": [resolve_image(image_root, row)],
                 "image_keys": [f"hit_uav/{row['ir_image']}/ir"]} for row in manifest]
    max_new_tokens = max(int(row.get("max_new_tokens") or 12) for row in manifest)
    replies, timing = generate_texts(model, processor, examples, max_new_tokens=max_new_tokens,
                                     batch_size=batch_size)
    predictions = {row["question_id"]: reply for row, reply in zip(manifest, replies)}
    report = score_official_vqa(manifest, predictions, seed=seed, bootstrap=bootstrap)
    return {"n": len(manifest), "official": report["official"], "strict": report["strict"],
            "generation": timing, "predictions": predictions}
