"""Summaries of a dataset folder: counts per split / source / class and caption statistics."""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["INSPECT_DIR", "summarize", "format_summary"]

# Where `fusionrs inspect FOLDER` writes summary.json and sample grids by default (FOLDER/inspect): a local
# look at the folder, never part of the dataset (`fusionrs push` leaves it out).
INSPECT_DIR = "inspect"


def summarize(dataset_dict) -> dict[str, Any]:
    """Counts and caption statistics of a `DatasetDict`; reads only text columns (no image decoding).

    Args:
        dataset_dict: a FusionRS `DatasetDict` (or any mapping split -> `Dataset`) with the
            source_dataset, class_name, captions, ir_captions and is_eval_representative columns.

    Returns:
        `{"splits": {split: stats}}`, stats holding rows, eval_representatives, sources and classes
        (name -> rows, most common first; an empty class is "(none)"), captions_per_row,
        caption_words_mean, rows_with_ir_captions and ir_caption_words_mean.
    """
    summary: dict[str, Any] = {"splits": {}}
    for split, ds in dataset_dict.items():
        columns = ds.select_columns(["source_dataset", "class_name", "captions", "ir_captions", "is_eval_representative"])
        sources, classes = Counter(), Counter()
        n_captions, n_ir, words, ir_words, eval_reps = [], 0, [], [], 0
        for row in columns:
            sources[row["source_dataset"]] += 1
            classes[row["class_name"] or "(none)"] += 1
            n_captions.append(len(row["captions"]))
            words += [len(c.split()) for c in row["captions"]]
            if row["ir_captions"]:
                n_ir += 1
                ir_words += [len(c.split()) for c in row["ir_captions"]]
            eval_reps += bool(row["is_eval_representative"])
        summary["splits"][split] = {
            "rows": len(ds),
            "eval_representatives": eval_reps,
            "sources": dict(sources.most_common()),
            "classes": dict(classes.most_common()),
            "captions_per_row": sum(n_captions) / max(1, len(n_captions)),
            "caption_words_mean": sum(words) / max(1, len(words)),
            "rows_with_ir_captions": n_ir,
            "ir_caption_words_mean": sum(ir_words) / max(1, len(ir_words)),
        }
    return summary


def format_summary(summary: dict[str, Any], *, max_classes: int = 12) -> str:
    """A `summarize` result as human-readable text, four lines per split.

    Args:
        summary: the dict returned by `summarize`.
        max_classes: the most classes listed per split; the rest are counted as "... N more"
            (default 12).

    Returns:
        The text, lines joined by newlines (no trailing newline).
    """
    lines = []
    for split, s in summary["splits"].items():
        lines.append(f"{split}: {s['rows']} rows ({s['eval_representatives']} evaluation representatives)")
        lines.append("  sources: " + ", ".join(f"{k} {v}" for k, v in s["sources"].items()))
        classes = list(s["classes"].items())
        more = f", ... {len(classes) - max_classes} more" if len(classes) > max_classes else ""
        lines.append("  classes: " + ", ".join(f"{k} {v}" for k, v in classes[:max_classes]) + more)
        lines.append(f"  captions/row {s['captions_per_row']:.2f}, words/caption {s['caption_words_mean']:.1f}, "
                     f"rows with IR-aware captions {s['rows_with_ir_captions']}")
    return "\n".join(lines)
