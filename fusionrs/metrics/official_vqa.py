"""Scoring of HIT-UAV real-thermal VQA by the FusionRS authors' protocol, quirks included.

Two readings of every reply, both reported:

- **official** (the release's `score_hit_uav_real_vqa.py` rules): the reply is normalised to lower-case
  alphanumeric words, reduced to one answer by a task-aware parser, and compared with
  `canonical_answer`;
- **strict**: the normalised reply must equal one of the row's normalised `accepted_answers` (the
  release's PROTOCOL.md wording: "normalized exact match against accepted_answers").

Parser rules and their quirks (tested in tests/test_official_vqa.py):

- presence: the first word that is "yes" or "no", anywhere ("I see no car, yes" -> "no"); "yeah",
  "nope", "true" are unparsed;
- count: the first number written in digits anywhere ("2 cars and 3 people" -> "2"), else the first
  number word *in the order zero, one, ... twenty*, not in reading order ("two or one" -> "1"); "no",
  "none", "a couple" and words above twenty are unparsed;
- location: "top" -> "upper", "bottom" -> "lower", "centre" -> "center" are replaced *inside words*
  too ("stop" becomes "supper"), then the first region found as a substring in the fixed order
  upper-left, upper-right, lower-left, lower-right, center, upper, lower, left, right wins, so "left
  of center" -> "center" and "upper middle" -> "upper"; "middle" alone is unparsed although the
  manifest lists it among the accepted answers of "center";
- dominant class: the first class found as a substring in the order other vehicle, bicycle, person,
  car, none, so "cars" and "scar" -> car, "persons" -> person, "bicycle and car" -> bicycle, while
  "people", "pedestrians", "truck" and "vehicle" alone are unparsed.

Missing predictions stay in the denominator (unparsed, wrong). Confidence intervals: an image-level
bootstrap (the images of the scored rows, sorted by `benchmark_id`, drawn with replacement by Python's
`random.Random(seed).choice`, 1,000 draws, seed 42; each draw's accuracy pools the drawn images'
questions, so images with more questions weigh more), percentile bounds with linear interpolation.
The same seed and rows give the release's intervals exactly.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CLASS_ORDER",
    "REGION_ORDER",
    "normalize",
    "parse_prediction",
    "prior_predictions",
    "score_official_vqa",
    "strict_match",
]

REGION_ORDER = ("upper-left", "upper-right", "lower-left", "lower-right", "center", "upper", "lower", "left", "right")
CLASS_ORDER = ("other vehicle", "bicycle", "person", "car", "none")
_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty").split()


def normalize(text: Any) -> str:
    """Lower-case alphanumeric words of `text` joined by single spaces (hyphens and punctuation dropped).

    Args:
        text: a reply or an answer (converted with `str`; None gives "").

    Returns:
        The normalised string.
    """
    return " ".join(re.findall(r"[a-z0-9]+", "" if text is None else str(text).lower()))


def parse_prediction(prediction: Any, question_type: str) -> str | None:
    """The answer the release's parser reads from a reply (see the module docstring for the rules).

    Args:
        prediction: the model's reply.
        question_type: object_presence, object_count, group_location or dominant_object_class.

    Returns:
        The parsed answer in the manifest's vocabulary, or None when nothing parses.

    Raises:
        ValueError: for an unknown question type.
    """
    text = normalize(prediction)
    if question_type == "object_presence":
        return next((word for word in text.split() if word in ("yes", "no")), None)
    if question_type == "object_count":
        match = re.search(r"\b\d+\b", text)
        if match:
            return str(int(match.group()))
        return next((str(value) for value, word in enumerate(_NUMBER_WORDS) if re.search(rf"\b{word}\b", text)),
                    None)
    if question_type == "group_location":
        text = text.replace("top", "upper").replace("bottom", "lower").replace("centre", "center")
        return next((region for region in REGION_ORDER if region.replace("-", " ") in text), None)
    if question_type == "dominant_object_class":
        return next((name for name in CLASS_ORDER if name in text), None)
    raise ValueError(f"unknown question type {question_type!r}")


def strict_match(prediction: Any, accepted_answers: Sequence[str]) -> bool:
    """Whether the normalised reply equals one of the normalised accepted answers.

    Args:
        prediction: the model's reply.
        accepted_answers: the row's `accepted_answers`.

    Returns:
        True on an exact match after `normalize` on both sides.
    """
    reply = normalize(prediction)
    return any(reply == normalize(answer) for answer in accepted_answers)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    index = (len(sorted_values) - 1) * q
    low = int(index)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] * (1 - (index - low)) + sorted_values[high] * (index - low)


def _summary(rows: Sequence[dict[str, Any]], key: str, seed: int, iterations: int) -> dict[str, Any]:
    """Accuracy (percent) of `rows[i][key]` with its image-level bootstrap CI and parse failures."""
    if not rows:
        return {"rows": 0, "images": 0, "accuracy": None}
    by_image: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        by_image[row["benchmark_id"]].append(row[key])
    images = sorted(by_image)
    rng = random.Random(seed)
    draws = []
    for _ in range(iterations):
        values = [v for image in (rng.choice(images) for _ in images) for v in by_image[image]]
        draws.append(sum(values) / len(values))
    draws.sort()
    return {
        "rows": len(rows),
        "images": len(images),
        "accuracy": round(100 * sum(row[key] for row in rows) / len(rows), 4),
        "accuracy_ci95": [round(100 * _percentile(draws, 0.025), 4), round(100 * _percentile(draws, 0.975), 4)],
        "parse_failure_rate": round(100 * sum(row["parsed_answer"] is None for row in rows) / len(rows), 4),
    }


def score_official_vqa(manifest: Sequence[dict[str, Any]], predictions: dict[str, str], *, seed: int = 42,
                       bootstrap: int = 1000) -> dict[str, Any]:
    """Score replies on a manifest: official and strict readings, per type, presence by answer and class.

    Args:
        manifest: manifest rows (`fusionrs.vlm.official_vqa.read_official_manifest`).
        predictions: {question_id: reply}; a question without a reply counts as unparsed and wrong.
        seed: the bootstrap seed (the release's: 42).
        bootstrap: number of bootstrap draws (the release's: 1,000).

    Returns:
        {"questions", "missing_predictions", "official": {"overall", "by_type", "presence_by_answer",
        "presence_by_class", "confusion"}, "strict": {"overall", "by_type"}, "rows": per-question
        [question_id, parsed answer, official correct, strict correct]}.

    Raises:
        ValueError: `predictions` names question ids the manifest does not have, or the manifest is empty.
    """
    if not manifest:
        raise ValueError("the manifest has no rows")
    known = {row["question_id"] for row in manifest}
    unknown = sorted(set(predictions) - known)
    if unknown:
        raise ValueError(f"{len(unknown)} prediction(s) name question ids not in the manifest, e.g. {unknown[0]!r}")
    scored = []
    for row in manifest:
        reply = predictions.get(row["question_id"], "")
        parsed = parse_prediction(reply, row["question_type"])
        scored.append({**row, "parsed_answer": parsed,
                       "official": float(parsed == str(row["canonical_answer"]).lower()),
                       "strict": float(strict_match(reply, row.get("accepted_answers") or [row["canonical_answer"]]))})

    def breakdown(key: str) -> dict[str, Any]:
        types = sorted({row["question_type"] for row in scored})
        return {"overall": _summary(scored, key, seed, bootstrap),
                "by_type": {t: _summary([r for r in scored if r["question_type"] == t], key, seed, bootstrap)
                            for t in types}}

    presence = [row for row in scored if row["question_type"] == "object_presence"]
    official = breakdown("official")
    official["presence_by_answer"] = {a: _summary([r for r in presence if r["canonical_answer"] == a], "official",
                                                  seed, bootstrap) for a in ("yes", "no")}
    official["presence_by_class"] = {c: _summary([r for r in presence if r.get("object_class") == c], "official",
                                                 seed, bootstrap)
                                     for c in sorted({r.get("object_class") for r in presence})}
    official["confusion"] = dict(Counter(f"{r['canonical_answer']}->{r['parsed_answer'] or 'unparsed'}"
                                         for r in presence))
    return {"questions": len(scored), "missing_predictions": len(known - set(predictions)),
            "official": official, "strict": breakdown("strict"),
            "rows": [[r["question_id"], r["parsed_answer"], r["official"], r["strict"]] for r in scored]}


def prior_predictions(train_manifest: Sequence[dict[str, Any]], manifest: Sequence[dict[str, Any]], *,
                      by: str = "type_class") -> dict[str, str]:
    """Answer every question with the most frequent train answer of its question type (and class).

    by="type_class": per (question type, object class), falling back to the type's answer for a class
    unseen in train; by="type": per question type only. Ties go to the alphabetically first answer.

    Args:
        train_manifest: rows the answers are counted on (the train split's manifest).
        manifest: rows to answer.
        by: "type_class" or "type".

    Returns:
        {question_id: answer}, ready for `score_official_vqa`.

    Raises:
        ValueError: `by` is neither, or the train manifest is empty.
    """
    if by not in ("type_class", "type"):
        raise ValueError(f"by must be 'type_class' or 'type', got {by!r}")
    if not train_manifest:
        raise ValueError("the train manifest has no rows")
    per_key: dict[tuple[str, Any], Counter] = defaultdict(Counter)
    per_type: dict[str, Counter] = defaultdict(Counter)
    for row in train_manifest:
        per_key[(row["question_type"], row.get("object_class"))][row["canonical_answer"]] += 1
        per_type[row["question_type"]][row["canonical_answer"]] += 1

    def majority(counter: Counter) -> str:
        return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    answers = {}
    for row in manifest:
        counter = per_key.get((row["question_type"], row.get("object_class"))) if by == "type_class" else None
        counter = counter or per_type.get(row["question_type"])
        answers[row["question_id"]] = majority(counter) if counter else ""
    return answers
