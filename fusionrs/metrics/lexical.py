"""The paper's caption protocol: lexical F1 and ROUGE-L per item, means with bootstrap 95% CIs.

These are not the COCO metrics of `fusionrs.metrics.captioning` (which follow pycocoevalcap); they
are the simple per-item scores the FusionRS paper reports for its VLM adapters, kept separate so a
number is never mistaken for the other kind:

- tokens: NFKC, case-folded, runs of letters/digits (punctuation and spacing ignored);
- lexical F1: bag-of-tokens F1 between the prediction and a reference (SQuAD style: clipped
  token overlap, harmonic mean of precision and recall);
- ROUGE-L: LCS-based F1 with beta = 1 (precision and recall of the longest common subsequence of
  tokens): the definition of `rouge-score`'s rougeL F-measure without stemming (whose tokeniser
  agrees with ours on ASCII text but drops non-ASCII letters; not cross-checked here, rouge-score is
  not installed);
- with several references an item scores its best reference (max), per metric;
- the corpus value is the mean over items; the 95% CI is the percentile bootstrap over items
  (`fusionrs.metrics.bootstrap`), so a small evaluation set shows its uncertainty.

Compare two systems on the same items with `fusionrs.metrics.bootstrap.paired_bootstrap_ci` on the
`per_item` lists returned by `lexical_scores`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from fusionrs.metrics.bootstrap import paired_bootstrap_ci
from fusionrs.metrics.captioning import lcs_length

__all__ = ["lexical_f1", "lexical_scores", "lexical_tokens", "mean_ci", "rouge_l_f1"]

_TOKEN = re.compile(r"[^\W_]+")


def lexical_tokens(text: str) -> list[str]:
    """Case-folded letter/digit runs of the NFKC text: "Bright, low-texture roofs." -> bright low texture roofs.

    Args:
        text: any text (converted with `str`).

    Returns:
        The list of tokens, in order of appearance.
    """
    return _TOKEN.findall(unicodedata.normalize("NFKC", str(text)).casefold())


def _refs(references: str | Sequence[str]) -> list[str]:
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ValueError("every item needs at least one reference")
    return refs


def _token_f1(pred: list[str], ref: list[str]) -> float:
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(ref)
    return 2 * p * r / (p + r)


def _rouge_l(pred: list[str], ref: list[str]) -> float:
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(pred), lcs / len(ref)
    return 2 * p * r / (p + r)


def lexical_f1(prediction: str, references: str | Sequence[str]) -> float:
    """Best bag-of-tokens F1 of `prediction` against its reference(s); two empty texts score 1.

    Args:
        prediction: the predicted text.
        references: one reference string, or a non-empty sequence of reference strings.

    Returns:
        The highest F1 over the references, in [0, 1].

    Raises:
        ValueError: `references` is an empty sequence.
    """
    pred = lexical_tokens(prediction)
    return max(_token_f1(pred, lexical_tokens(r)) for r in _refs(references))


def rouge_l_f1(prediction: str, references: str | Sequence[str]) -> float:
    """Best ROUGE-L F1 (beta 1) of `prediction` against its reference(s).

    Args:
        prediction: the predicted text.
        references: one reference string, or a non-empty sequence of reference strings.

    Returns:
        The highest ROUGE-L F1 over the references, in [0, 1] (two empty texts score 1).

    Raises:
        ValueError: `references` is an empty sequence.
    """
    pred = lexical_tokens(prediction)
    return max(_rouge_l(pred, lexical_tokens(r)) for r in _refs(references))


def mean_ci(values: Sequence[float], *, confidence: float = 0.95, resamples: int = 10_000,
            seed: int = 0) -> dict[str, float]:
    """Mean and percentile-bootstrap CI of per-item scores: {"mean", "low", "high"}.

    The CI of a mean is the paired bootstrap CI of the values against zeros, so it shares the
    resampling code (and seed behaviour) with system comparisons.

    Args:
        values: per-item scores (1-D, non-empty).
        confidence: two-sided confidence level, strictly between 0 and 1; default 0.95.
        resamples: number of bootstrap resamples; default 10 000.
        seed: seed of the resampling generator.

    Returns:
        {"mean", "low", "high"} as floats.

    Raises:
        ValueError: `values` is empty or not 1-D, or `confidence` is not strictly between 0 and 1.
    """
    values = np.asarray(values, dtype=np.float64)
    ci = paired_bootstrap_ci(values, np.zeros_like(values), confidence=confidence, resamples=resamples, seed=seed)
    return {"mean": ci["mean_diff"], "low": ci["low"], "high": ci["high"]}


def lexical_scores(predictions: Sequence[str], references: Sequence[str | Sequence[str]], *,
                   confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Lexical F1 and ROUGE-L of each prediction against its reference(s), with bootstrap CIs.

    Returns {"lexical_f1": {"mean", "low", "high"}, "rouge_l": {...}, "n", "confidence",
    "resamples", "seed", "per_item": {"lexical_f1": [...], "rouge_l": [...]}} (scores in 0-1).

    Args:
        predictions: one predicted text per item (a sequence, not one string).
        references: per item, one reference string or a non-empty sequence of them.
        confidence: two-sided confidence level of both CIs; default 0.95.
        resamples: bootstrap resamples per CI; default 10 000.
        seed: seed of the bootstrap generator (the same for both metrics).

    Returns:
        The dict described above: the mean and CI of each metric, the settings, and the per-item
        scores in item order.

    Raises:
        TypeError: `predictions` is a single string.
        ValueError: `predictions` and `references` differ in length, there are no predictions, an
            item has an empty reference list, or `confidence` is not strictly between 0 and 1.
    """
    if isinstance(predictions, str):
        raise TypeError("predictions must be a sequence of strings, not one string")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if len(predictions) == 0:
        raise ValueError("no predictions to score")
    f1 = [lexical_f1(p, r) for p, r in zip(predictions, references)]
    rouge = [rouge_l_f1(p, r) for p, r in zip(predictions, references)]
    kw = {"confidence": confidence, "resamples": resamples, "seed": seed}
    return {"lexical_f1": mean_ci(f1, **kw), "rouge_l": mean_ci(rouge, **kw), "n": len(f1),
            "confidence": confidence, "resamples": resamples, "seed": seed,
            "per_item": {"lexical_f1": f1, "rouge_l": rouge}}
