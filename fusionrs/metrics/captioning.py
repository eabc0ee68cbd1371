"""COCO caption metrics: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D, equal to pycocoevalcap.

Why a re-implementation: pycocoevalcap needs Java for its tokeniser (Stanford PTBTokenizer 3.4.1)
and is a test-only dependency here. This module reproduces, in pure Python + numpy,

- the tokenisation `COCOEvalCap` applies before scoring: PTBTokenizer with `-preserveLines
  -lowerCase`, then the tokens in `PTB_PUNCTUATIONS` dropped (`ptb_tokenize`, see docs/metrics.md
  for the rules covered and the known differences);
- `Bleu(4)`: corpus BLEU with the "closest" reference length per sentence (ties -> the shorter
  reference), clipped n-gram counts and pycocoevalcap's 1e-9 / 1e-15 smoothing constants;
- `Rouge`: ROUGE-L with beta 1.2 from the max LCS precision and the max LCS recall over references;
- `Cider`: CIDEr-D (sigma 6 length penalty, clipped tf-idf, x10, the mean over 1..4-grams) with
  document frequencies from the references of the evaluated set itself;

with the same floating-point operations in the same order, so scores agree to the last bit.
METEOR cannot be re-implemented (WordNet synonyms, paraphrase tables): it calls pycocoevalcap's
bundled meteor-1.5.jar when Java and pycocoevalcap are available, and is None with a note otherwise.
"""

from __future__ import annotations

import atexit
import math
import shutil
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fusionrs.metrics.ptb_tokenizer import (  # re-exported: part of this module's API
    PTB_PUNCTUATIONS,
    _pycocoevalcap_dir,
    java_ptb_tokenize,
    ptb_tokenize,
    ptb_tokenize_batch,
)

__all__ = [
    "PTB_PUNCTUATIONS",
    "bleu",
    "caption_scores",
    "cider_d",
    "lcs_length",
    "java_ptb_tokenize",
    "meteor",
    "meteor_available",
    "ptb_tokenize",
    "ptb_tokenize_batch",
    "rouge_l",
]


# ---------------------------------------------------------------------------------------------------
# Scorers. Inputs are tokenised strings: one candidate per item, >= 1 references per item.
# ---------------------------------------------------------------------------------------------------

def _ngram_counts(words: list[str], n: int) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def bleu(candidates: Sequence[str], references: Sequence[Sequence[str]],
         n: int = 4) -> tuple[list[float], list[list[float]]]:
    """pycocoevalcap `Bleu(n)`: ([BLEU-1..n] corpus scores, per-item scores per order).

    Args:
        candidates: one tokenised candidate caption per item (tokens separated by whitespace).
        references: per item, one or more tokenised reference captions.
        n: highest n-gram order; default 4.

    Returns:
        (corpus, per_item): `corpus` is [BLEU-1, ..., BLEU-n] over the whole set (with the corpus
        brevity penalty); `per_item[k]` lists every item's BLEU-(k + 1) score, in item order.
    """
    small, tiny = 1e-9, 1e-15
    total_guess, total_correct = [0] * n, [0] * n
    total_test, total_ref = 0, 0
    per_item: list[list[float]] = [[] for _ in range(n)]
    for cand, refs in zip(candidates, references):
        ref_lens, max_counts = [], {}
        for ref in refs:
            words = ref.split()
            ref_lens.append(len(words))
            for ngram, count in _ngram_counts(words, n).items():
                max_counts[ngram] = max(max_counts.get(ngram, 0), count)
        words = cand.split()
        test_len = len(words)
        guess = [max(0, test_len - k + 1) for k in range(1, n + 1)]
        correct = [0] * n
        for ngram, count in _ngram_counts(words, n).items():
            correct[len(ngram) - 1] += min(max_counts.get(ngram, 0), count)
        ref_len = min((abs(length - test_len), length) for length in ref_lens)[1]  # "closest"
        total_test += test_len
        total_ref += ref_len
        for k in range(n):
            total_guess[k] += guess[k]
            total_correct[k] += correct[k]
        score = 1.0
        for k in range(n):
            score *= (float(correct[k]) + tiny) / (float(guess[k]) + small)
            per_item[k].append(score ** (1.0 / (k + 1)))
        ratio = (test_len + tiny) / (ref_len + small)
        if ratio < 1:
            for k in range(n):
                per_item[k][-1] *= math.exp(1 - 1 / ratio)
    corpus, score = [], 1.0
    for k in range(n):
        score *= float(total_correct[k] + tiny) / (total_guess[k] + small)
        corpus.append(score ** (1.0 / (k + 1)))
    ratio = (total_test + tiny) / (total_ref + small)
    if ratio < 1:
        for k in range(n):
            corpus[k] *= math.exp(1 - 1 / ratio)
    return corpus, per_item


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common token subsequence (ROUGE-L's core), O(len(a) * len(b)).

    Args:
        a: first token list.
        b: second token list.

    Returns:
        The number of tokens in a longest common subsequence of `a` and `b` (0 if either is empty).
    """
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidates: Sequence[str], references: Sequence[Sequence[str]],
            beta: float = 1.2) -> tuple[float, list[float]]:
    """pycocoevalcap `Rouge`: F_beta of the max LCS precision and max LCS recall over references.

    Tokens come from `str.split(" ")` as in pycocoevalcap (an empty caption is one empty token).

    Args:
        candidates: one tokenised candidate caption per item.
        references: per item, one or more tokenised reference captions.
        beta: weight of recall relative to precision in the F-measure; default 1.2 (pycocoevalcap's).

    Returns:
        (mean, per_item): the mean ROUGE-L over items and the list of per-item scores (0-1).
    """
    scores = []
    for cand, refs in zip(candidates, references):
        tok_c = cand.split(" ")
        prec, rec = [], []
        for ref in refs:
            tok_r = ref.split(" ")
            lcs = lcs_length(tok_r, tok_c)
            prec.append(lcs / float(len(tok_c)))
            rec.append(lcs / float(len(tok_r)))
        p, r = max(prec), max(rec)
        scores.append(((1 + beta**2) * p * r) / float(r + beta**2 * p) if p != 0 and r != 0 else 0.0)
    return float(np.mean(np.array(scores))), scores


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], n: int = 4,
            sigma: float = 6.0) -> tuple[float, list[float]]:
    """pycocoevalcap `Cider` (which is CIDEr-D): mean over items of 10 x the mean over 1..n-grams of
    the clipped, length-penalised tf-idf cosine, averaged over the item's references.

    Args:
        candidates: one tokenised candidate caption per item.
        references: per item, one or more tokenised reference captions; their document
            frequencies over this set give the idf weights.
        n: highest n-gram order; default 4.
        sigma: width of the Gaussian length penalty exp(-delta^2 / (2 sigma^2)), delta being the
            candidate/reference length difference (pycocoevalcap counts bigrams); default 6.0.

    Returns:
        (mean, per_item): the corpus CIDEr-D (mean over items, 0-10 scale) and the per-item scores.
    """
    crefs = [[_ngram_counts(ref.split(), n) for ref in refs] for refs in references]
    ctest = [_ngram_counts(c.split(), n) for c in candidates]
    doc_freq: dict[tuple[str, ...], float] = defaultdict(float)
    for refs in crefs:
        for ngram in {ngram for ref in refs for ngram in ref}:
            doc_freq[ngram] += 1
    ref_len = np.log(float(len(crefs)))

    def vectorise(counts):
        vec = [defaultdict(float) for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for ngram, tf in counts.items():
            df = np.log(max(1.0, doc_freq.get(ngram, 0.0)))
            k = len(ngram) - 1
            vec[k][ngram] = float(tf) * (ref_len - df)
            norm[k] += pow(vec[k][ngram], 2)
            if k == 1:  # pycocoevalcap's "length" counts bigrams; kept for equality
                length += tf
        return vec, [np.sqrt(x) for x in norm], length

    def similarity(vec_h, vec_r, norm_h, norm_r, len_h, len_r):
        delta = float(len_h - len_r)
        val = np.array([0.0] * n)
        for k in range(n):
            for ngram in vec_h[k]:
                val[k] += min(vec_h[k][ngram], vec_r[k][ngram]) * vec_r[k][ngram]
            if norm_h[k] != 0 and norm_r[k] != 0:
                val[k] /= norm_h[k] * norm_r[k]
            val[k] *= np.e ** (-(delta**2) / (2 * sigma**2))
        return val

    scores = []
    for test, refs in zip(ctest, crefs):
        vec, norm, length = vectorise(test)
        score = np.array([0.0] * n)
        for ref in refs:
            vec_r, norm_r, len_r = vectorise(ref)
            score += similarity(vec, vec_r, norm, norm_r, length, len_r)
        score_avg = np.mean(score)
        score_avg /= len(refs)
        score_avg *= 10.0
        scores.append(score_avg)
    return float(np.mean(np.array(scores))), [float(s) for s in scores]


def meteor_available() -> tuple[bool, str]:
    """(available, why not): METEOR needs `java` and pycocoevalcap's meteor-1.5.jar."""
    if shutil.which("java") is None:
        return False, "METEOR skipped: no `java` on PATH (it runs pycocoevalcap's meteor-1.5.jar)"
    root = _pycocoevalcap_dir()
    if root is None:
        return False, "METEOR skipped: pycocoevalcap is not installed (pip install pycocoevalcap)"
    if not (root / "meteor" / "meteor-1.5.jar").is_file():
        return False, f"METEOR skipped: {root / 'meteor' / 'meteor-1.5.jar'} is missing"
    return True, ""


_METEOR_LOCK = threading.Lock()
_METEOR_SCORER: Any = None


def _meteor_scorer() -> Any:
    """One pycocoevalcap Meteor (a Java process) per Python process: its start-up, loading the
    paraphrase table, takes 5-30 s, so evaluation loops must not pay it on every call."""
    global _METEOR_SCORER
    with _METEOR_LOCK:
        if _METEOR_SCORER is None or _METEOR_SCORER.meteor_p.poll() is not None:
            from pycocoevalcap.meteor.meteor import Meteor

            _METEOR_SCORER = Meteor()
            atexit.register(_close_meteor)
        return _METEOR_SCORER


def _close_meteor() -> None:
    global _METEOR_SCORER
    with _METEOR_LOCK:
        scorer, _METEOR_SCORER = _METEOR_SCORER, None
    if scorer is not None and scorer.meteor_p.poll() is None:
        scorer.meteor_p.stdin.close()
        scorer.meteor_p.kill()
        scorer.meteor_p.wait()


def meteor(candidates: Sequence[str],
           references: Sequence[Sequence[str]]) -> tuple[float | None, list[float] | None, str]:
    """pycocoevalcap `Meteor` on tokenised text: (corpus score, per-item scores, note).

    (None, None, note) when Java or pycocoevalcap is missing. The corpus score is METEOR's own
    aggregate over all items (from summed statistics), not the mean of the per-item scores.

    Args:
        candidates: one tokenised candidate caption per item.
        references: per item, one or more tokenised reference captions.

    Returns:
        (score, per_item, note): METEOR's corpus score, the list of per-item scores and an empty
        note; (None, None, reason) when `meteor_available()` says METEOR cannot run.
    """
    ok, note = meteor_available()
    if not ok:
        return None, None, note
    gts = {i: list(refs) for i, refs in enumerate(references)}
    res = {i: [cand] for i, cand in enumerate(candidates)}
    score, scores = _meteor_scorer().compute_score(gts, res)
    return float(score), [float(s) for s in scores], ""


# ---------------------------------------------------------------------------------------------------
# The entry point.
# ---------------------------------------------------------------------------------------------------

_TOKENIZERS: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "ptb": ptb_tokenize_batch,
    "java": java_ptb_tokenize,
    "none": lambda texts: [str(t) for t in texts],
}


def _check_inputs(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    if isinstance(predictions, str) or isinstance(references, str):
        raise TypeError("predictions must be a sequence of captions and references a sequence of caption lists")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} reference lists")
    if len(predictions) == 0:
        raise ValueError("no predictions to score")
    for i, refs in enumerate(references):
        if isinstance(refs, str):
            raise TypeError(f"references[{i}] is a string; give a list of reference captions")
        if len(refs) == 0:
            raise ValueError(f"references[{i}] is empty: every item needs at least one reference")


def caption_scores(predictions: Sequence[str], references: Sequence[Sequence[str]], *, tokenizer: str = "ptb",
                   with_meteor: bool = True, per_item: bool = False) -> dict[str, Any]:
    """All COCO caption metrics of `predictions[i]` against `references[i]` (one list per item).

    tokenizer: "ptb" (this module's Python port of COCO's PTB tokenisation, the default), "java"
    (pycocoevalcap's own Stanford jar; needs Java) or "none" (inputs already tokenised).
    Returns {"BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "n", "tokenizer", "notes"} on
    pycocoevalcap's scale (0-1; CIDEr-D 0-10, papers usually print x100); METEOR is None with a
    note when Java is missing. per_item=True adds {"per_item": {metric: [score per item]}}.

    Args:
        predictions: one candidate caption per item (raw text, or pre-tokenised with tokenizer="none").
        references: per item, a non-empty list of reference captions (a list, not one string).
        tokenizer: "ptb", "java" or "none" (see above); default "ptb".
        with_meteor: compute METEOR (needs Java and pycocoevalcap); False skips it with a note.
        per_item: also return every metric's per-item scores under "per_item".

    Returns:
        A dict: "BLEU-1".."BLEU-4", "ROUGE-L" and "CIDEr-D" floats, "METEOR" (float or None), "n"
        (number of items), "tokenizer" and "notes" (list of strings), plus "per_item" when asked.

    Raises:
        TypeError: `predictions` or `references` is a single string, or some `references[i]` is a string.
        ValueError: the two lengths differ, there are no predictions, an item has no reference, or
            `tokenizer` is not one of "ptb", "java", "none".
        RuntimeError: tokenizer="java" without `java` on PATH or pycocoevalcap's tokenizer jar.
    """
    _check_inputs(predictions, references)
    if tokenizer not in _TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {sorted(_TOKENIZERS)}, got {tokenizer!r}")
    tokenize = _TOKENIZERS[tokenizer]
    # Two tokeniser calls, references first, exactly as COCOEvalCap.evaluate makes them.
    sizes = [len(refs) for refs in references]
    flat = tokenize([r for refs in references for r in refs])
    refs_tok, start = [], 0
    for size in sizes:
        refs_tok.append(flat[start:start + size])
        start += size
    cands_tok = tokenize(list(predictions))

    notes: list[str] = []
    bleu_corpus, bleu_items = bleu(cands_tok, refs_tok)
    rouge, rouge_items = rouge_l(cands_tok, refs_tok)
    cider, cider_items = cider_d(cands_tok, refs_tok)
    meteor_score, meteor_items = None, None
    if with_meteor:
        meteor_score, meteor_items, note = meteor(cands_tok, refs_tok)
        if note:
            notes.append(note)
    else:
        notes.append("METEOR not computed (with_meteor=False)")
    if len(predictions) < 2:
        notes.append("CIDEr-D on a single item is 0 by construction: its idf comes from the evaluated set")
    result: dict[str, Any] = {f"BLEU-{k + 1}": float(bleu_corpus[k]) for k in range(4)}
    result.update({"METEOR": meteor_score, "ROUGE-L": rouge, "CIDEr-D": cider, "n": len(predictions),
                   "tokenizer": tokenizer, "notes": notes})
    if per_item:
        items = {f"BLEU-{k + 1}": [float(x) for x in bleu_items[k]] for k in range(4)}
        items.update({"METEOR": meteor_items, "ROUGE-L": [float(x) for x in rouge_items], "CIDEr-D": cider_items})
        result["per_item"] = items
    return result
