"""VQA scores: answer normalisation, exact match, token F1 and a per-question-type breakdown.

Normalisation (both sides): NFKC, lower case, punctuation to spaces (a decimal point between digits is
kept), the articles a/an/the dropped, number words up to twenty mapped to digits ("three" -> "3",
"more than ten" -> "more than 10"), whitespace collapsed. Exact match compares the normalised strings;
token F1 is the SQuAD bag-of-tokens F1 of the normalised strings. A gold answer may be one string or a
list of accepted strings (the best match counts).

A free-form model reply ("Yes, there is one person.") scores 0 exact match against "yes". For
zero-shot models, `extract_answer` (or `vqa_scores(..., extract=True)`) first reduces the reply to the
answer vocabulary of its question type (the first yes/no, number, category or day/night word); the
raw and extracted scores should both be reported.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusionrs.metrics.lexical import mean_ci

__all__ = [
    "NUMBER_WORDS",
    "exact_match",
    "extract_answer",
    "normalize_answer",
    "token_f1",
    "vqa_scores",
]

NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_ARTICLES = frozenset(["a", "an", "the"])
_PUNCT = re.compile(r"\.(?!\d)|(?<!\d)\.|[^\w\s.]|_")  # a decimal point between digits stays


def normalize_answer(text: str) -> str:
    """Lower-cased, punctuation-free, article-free answer with number words as digits.

    Args:
        text: an answer or a model reply (converted with `str`).

    Returns:
        The normalised words joined by single spaces (empty when nothing is left).
    """
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = _PUNCT.sub(" ", text)
    words = []
    for word in text.split():
        if word in _ARTICLES:
            continue
        words.append(NUMBER_WORDS.get(word, word))
    return " ".join(words)


def _golds(gold: str | Sequence[str]) -> list[str]:
    return [gold] if isinstance(gold, str) else list(gold)


def exact_match(prediction: str, gold: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer, else 0.0.

    Args:
        prediction: the predicted answer.
        gold: the gold answer, or a sequence of accepted answers (an empty one never matches).

    Returns:
        1.0 or 0.0.
    """
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in _golds(gold)))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, gold: str | Sequence[str]) -> float:
    """SQuAD-style token F1 of the normalised strings (max over gold answers).

    Args:
        prediction: the predicted answer.
        gold: the gold answer, or a non-empty sequence of accepted answers.

    Returns:
        The best F1 in [0, 1]; 1.0 when both normalised strings are empty.
    """
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(g).split()) for g in _golds(gold))


_YES_NO = {"yes": "yes", "yeah": "yes", "yep": "yes", "true": "yes", "no": "no", "not": "no", "nope": "no",
           "false": "no"}
_DAY_NIGHT = {"day": "day", "daytime": "day", "daylight": "day", "morning": "day", "afternoon": "day",
              "noon": "day", "night": "night", "nighttime": "night", "evening": "night", "dark": "night"}
_CATEGORY_WORDS = {"person": "person", "persons": "person", "people": "person", "pedestrian": "person",
                   "pedestrians": "person", "man": "person", "men": "person", "human": "person",
                   "humans": "person", "car": "car", "cars": "car", "bicycle": "bicycle", "bicycles": "bicycle",
                   "bike": "bicycle", "bikes": "bicycle", "cyclist": "bicycle", "cyclists": "bicycle"}


def extract_answer(text: str, question_type: str, *, count_cap: int | None = None) -> str:
    """Reduce a free-form reply to its question type's answer vocabulary (see module docstring).

    Types: presence (yes/no), counting (digits or "more than N"; with `count_cap`, counts above it
    become "more than {count_cap}", the HIT-UAV manifest's convention), category (person, car,
    bicycle, other vehicle), day_night (day/night); any other type returns the normalised text.

    Args:
        text: the model's free-form reply.
        question_type: "presence", "counting", "category", "day_night", or any other type.
        count_cap: for counting questions, the largest count kept as a number (larger ones become
            "more than {count_cap}"); None keeps every count.

    Returns:
        The extracted answer; the normalised text when no answer word is found.
    """
    norm = normalize_answer(text)
    words = norm.split()
    raw_words = unicodedata.normalize("NFKC", str(text)).lower().split()
    if question_type == "presence":
        for w in re.findall(r"[a-z]+", " ".join(raw_words)):
            if w in _YES_NO:
                return _YES_NO[w]
    elif question_type == "counting":
        match = re.search(r"\b(?:more than|over|above)\s+(\d+)", norm)
        if match:
            return f"more than {match.group(1)}"
        for w in words:
            if w.isdigit():
                count = int(w)
                return f"more than {count_cap}" if count_cap is not None and count > count_cap else str(count)
        if {"no", "none", "nobody", "nothing"} & set(words):
            return "0"
    elif question_type == "category":
        if re.search(r"\bother vehicles?\b", norm):
            return "other vehicle"
        for w in words:
            if w in _CATEGORY_WORDS:
                return _CATEGORY_WORDS[w]
        if re.search(r"\b(?:vehicles?|trucks?|bus|buses|vans?)\b", norm):
            return "other vehicle"
    elif question_type == "day_night":
        for w in re.findall(r"[a-z]+", norm):
            if w in _DAY_NIGHT:
                return _DAY_NIGHT[w]
    return norm


def _ci(values: list[float], confidence: float, resamples: int, seed: int) -> dict[str, float]:
    ci = mean_ci(values, confidence=confidence, resamples=resamples, seed=seed)
    return {"low": ci["low"], "high": ci["high"]}


def vqa_scores(predictions: Sequence[str], answers: Sequence[str | Sequence[str]],
               types: Sequence[str] | None = None, *, extract: bool = False, count_cap: int | None = None,
               confidence: float = 0.95,
               resamples: int = 2000, seed: int = 0, per_item: bool = False) -> dict[str, Any]:
    """Exact match and token F1 (means, bootstrap CIs) overall and per question type.

    extract=True applies `extract_answer` (needs `types`; `count_cap` goes to it) to each prediction
    before scoring.
    Returns {"exact_match", "token_f1", "n", "exact_match_ci", "token_f1_ci", "per_type": {type:
    {"exact_match", "token_f1", "n"}}} (+ "per_item" lists when asked).

    Args:
        predictions: one predicted answer per question (a sequence, not one string).
        answers: per question, the gold answer or a list of accepted answers.
        types: per question, its type (e.g. "presence", "counting"); needed for "per_type" and extract.
        extract: reduce each prediction with `extract_answer` before scoring.
        count_cap: passed to `extract_answer` for counting questions.
        confidence: two-sided confidence level of the bootstrap CIs; default 0.95.
        resamples: bootstrap resamples per CI; default 2000.
        seed: seed of the bootstrap generator.
        per_item: also return the per-item scores and the (possibly extracted) predictions.

    Returns:
        A dict: "exact_match" and "token_f1" (means, 0-1), "n", "exact_match_ci" and
        "token_f1_ci" ({"low", "high"}), "confidence", "extracted"; "per_type" only when `types`
        is given; "per_item" {"exact_match", "token_f1", "predictions"} when asked.

    Raises:
        TypeError: `predictions` or `answers` is a single string.
        ValueError: the lengths of predictions, answers or types differ, extract=True without
            types, or there are no predictions.
    """
    if isinstance(predictions, str) or isinstance(answers, str):
        raise TypeError("predictions and answers must be sequences of strings, not one string")
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions but {len(answers)} answers")
    if types is not None and len(types) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions but {len(types)} question types")
    if extract and types is None:
        raise ValueError("extract=True needs the question types")
    if len(predictions) == 0:
        raise ValueError("no predictions to score")
    if extract:
        predictions = [extract_answer(p, t, count_cap=count_cap) for p, t in zip(predictions, types)]
    em = [exact_match(p, a) for p, a in zip(predictions, answers)]
    f1 = [token_f1(p, a) for p, a in zip(predictions, answers)]
    result: dict[str, Any] = {
        "exact_match": float(np.mean(em)), "token_f1": float(np.mean(f1)), "n": len(em),
        "exact_match_ci": _ci(em, confidence, resamples, seed),
        "token_f1_ci": _ci(f1, confidence, resamples, seed),
        "confidence": confidence, "extracted": extract,
    }
    if types is not None:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, t in enumerate(types):
            groups[t].append(i)
        result["per_type"] = {
            t: {"exact_match": float(np.mean([em[i] for i in idx])), "token_f1": float(np.mean([f1[i] for i in idx])),
                "n": len(idx)}
            for t, idx in sorted(groups.items())
        }
    if per_item:
        result["per_item"] = {"exact_match": em, "token_f1": f1, "predictions": list(predictions)}
    return result
