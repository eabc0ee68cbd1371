"""Retrieval ranks, Recall@K and ROC AUC for embedding evaluation, in bounded memory.

Ground truth is given by labels, which covers every case of the CLIP evaluation with one function:
a query's relevant gallery items are those whose label equals the query's label. Image -> caption
uses the image index as the query label and each caption's owning image index as gallery labels
(5 relevant captions per image); caption -> image is the reverse (1 relevant image per caption).

Rank of a query = 1 + the number of *non-relevant* gallery items whose score is >= the best
relevant score. A tie therefore counts against the model: a collapsed model whose embeddings are
all equal gets rank = number of non-relevant items + 1, not a lucky rank 1, and the result never
depends on the order of the gallery. Recall@K = share of queries with rank <= K, in percent.

Similarities are computed a block of queries at a time against the whole gallery, the block sized
so it holds at most `max_elements` scores: a 100k x 100k evaluation never holds the 40 GB matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_MAX_ELEMENTS",
    "mean_recall",
    "query_chunk_size",
    "recall_at_k",
    "retrieval_ranks",
    "retrieval_recall",
    "roc_auc",
    "topk_similarity",
]

DEFAULT_KS: tuple[int, ...] = (1, 5, 10)
# 2**25 float32 scores = 128 MB per block (+ a same-shaped bool mask): fits a laptop or a GPU beside the model.
DEFAULT_MAX_ELEMENTS = 2**25


def query_chunk_size(n_gallery: int, max_elements: int = DEFAULT_MAX_ELEMENTS) -> int:
    """How many queries fit in one block of at most `max_elements` scores (at least 1).

    Args:
        n_gallery: number of gallery items, i.e. scores per query.
        max_elements: most scores one block may hold; default 2**25.

    Returns:
        max(1, max_elements // n_gallery) (an empty gallery counts as 1 item).

    Raises:
        ValueError: max_elements < 1.
    """
    if max_elements < 1:
        raise ValueError(f"max_elements must be >= 1, got {max_elements}")
    return max(1, max_elements // max(1, n_gallery))


def _embeddings(x, name: str, device) -> "torch.Tensor":
    import torch

    t = torch.as_tensor(x)
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (items, dim) array, got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.float()
    # NaN scores compare False with everything and would silently rank as 1: refuse them.
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return t.to(device=device if device is not None else t.device, dtype=torch.float32)


def _labels(x, n: int, name: str, device) -> "torch.Tensor":
    import torch

    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim != 1 or len(t) != n:
        raise ValueError(f"{name} must be 1-D with {n} entries, got shape {tuple(t.shape)}")
    if torch.is_floating_point(t) or t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer labels, got {t.dtype}")
    return t.to(device=device, dtype=torch.int64)


def _relevant_pairs(ql: "torch.Tensor", gl: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """All (query, gallery) index pairs with equal labels, sorted by query: a sort-merge join, no Q x G mask."""
    import torch

    order = torch.argsort(gl, stable=True)
    sorted_gl = gl[order]
    lo = torch.searchsorted(sorted_gl, ql, right=False)
    hi = torch.searchsorted(sorted_gl, ql, right=True)
    counts = hi - lo
    pair_q = torch.repeat_interleave(torch.arange(len(ql), device=ql.device), counts)
    # Position of each pair inside its query's run: 0, 1, ... counts[q] - 1.
    run_start = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    offset = torch.arange(len(pair_q), device=ql.device) - run_start
    pair_g = order[torch.repeat_interleave(lo, counts) + offset]
    return pair_q, pair_g


def retrieval_ranks(queries, gallery, query_labels, gallery_labels, *, max_elements: int = DEFAULT_MAX_ELEMENTS,
                    chunk_size: int | None = None, device=None) -> "torch.Tensor":
    """1-based rank of the best relevant gallery item for every query (ties count against the model).

    Scores are dot products (cosine similarity for L2-normalised embeddings). `chunk_size` (queries
    per block) overrides the size derived from `max_elements`. Every query needs at least one
    relevant gallery item; otherwise the ground truth is broken and a ValueError says how many lack one.
    Returns an int64 CPU tensor of length len(queries).

    Per block the only dense work is the score matrix, one comparison and a count; relevant items
    (few per query) are handled as an index list whose scores are read from the same block, so
    they compare bit-for-bit with the rest.

    Args:
        queries: (Q, D) query embeddings (array or tensor; computed in float32).
        gallery: (G, D) gallery embeddings with the same D.
        query_labels: Q integer labels, one per query.
        gallery_labels: G integer labels; a gallery item is relevant to the queries with its label.
        max_elements: most scores held in one block of queries; default 2**25.
        chunk_size: queries per block, overriding the size derived from `max_elements`.
        device: torch device to compute on; default the device of `queries`.

    Returns:
        An int64 CPU tensor of length Q: the 1-based rank of each query's best relevant item.

    Raises:
        ValueError: the embeddings are not 2-D, hold NaN or inf, or differ in dimension; a label
            array is not 1-D integer with one entry per row; or some query has no relevant item.
    """
    import torch

    q = _embeddings(queries, "queries", device)
    g = _embeddings(gallery, "gallery", q.device)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"queries have dim {q.shape[1]} but gallery has dim {g.shape[1]}")
    ql = _labels(query_labels, len(q), "query_labels", q.device)
    gl = _labels(gallery_labels, len(g), "gallery_labels", q.device)
    pair_q, pair_g = _relevant_pairs(ql, gl)
    missing = len(q) - int(torch.unique_consecutive(pair_q).numel()) if len(pair_q) else len(q)
    if missing:
        raise ValueError(f"{missing} of {len(q)} queries have no relevant gallery item (check the labels)")
    if len(pair_q) > max(max_elements, 4 * len(q)):
        # Labels shared by huge sets (e.g. class-level retrieval at scale): a dense mask per block is smaller.
        return _ranks_dense(q, g, ql, gl, chunk_size or query_chunk_size(len(g), max_elements))
    step = chunk_size or query_chunk_size(len(g), max_elements)
    ranks = torch.empty(len(q), dtype=torch.int64)
    count_dtype = torch.float32 if len(g) < 2**24 else torch.float64
    bounds = torch.searchsorted(pair_q, torch.arange(0, len(q) + step, step, device=q.device).clamp(max=len(q)))
    for block, start in enumerate(range(0, len(q), step)):
        scores = q[start:start + step] @ g.T
        lo, hi = int(bounds[block]), int(bounds[block + 1])
        local_q, rel_g = pair_q[lo:hi] - start, pair_g[lo:hi]
        rel_scores = scores[local_q, rel_g]
        best = torch.full((len(scores),), float("-inf"), device=q.device).scatter_reduce(
            0, local_q, rel_scores, reduce="amax")
        # In place, then a float sum: ~10x faster than counting a new bool tensor, and no second block
        # in memory. Counts of 0/1 floats are exact below 2**24; larger galleries sum in float64.
        at_or_above = scores.ge_(best[:, None]).sum(dim=1, dtype=count_dtype).round().long()
        relevant_at_or_above = torch.zeros(len(scores), dtype=torch.int64, device=q.device).scatter_add(
            0, local_q, (rel_scores >= best[local_q]).long())
        ranks[start:start + step] = (at_or_above - relevant_at_or_above + 1).cpu()
        del scores  # free this block before the next one is allocated: peak memory is one block, not two
    return ranks


def _ranks_dense(q, g, ql, gl, step: int) -> "torch.Tensor":
    """Same ranks with a dense relevance mask per block (used when labels are shared by very many items)."""
    import torch

    ranks = torch.empty(len(q), dtype=torch.int64)
    neg_inf = torch.tensor(float("-inf"), device=q.device)
    for start in range(0, len(q), step):
        scores = q[start:start + step] @ g.T
        relevant = ql[start:start + step, None] == gl[None, :]
        best = torch.where(relevant, scores, neg_inf).amax(dim=1)
        beaten = (scores >= best[:, None]) & ~relevant
        ranks[start:start + step] = beaten.sum(dim=1).cpu() + 1
    return ranks


def recall_at_k(ranks, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """{"R@K": percent of queries whose rank is <= K} for every K.

    Args:
        ranks: 1-based ranks, one per query (array, list or CPU tensor).
        ks: the cut-offs K; default (1, 5, 10).

    Returns:
        {"R@K": percentage in [0, 100]} for each K in `ks`.

    Raises:
        ValueError: `ranks` is empty.
    """
    r = np.asarray(ranks)
    if r.size == 0:
        raise ValueError("no ranks: recall of an empty query set is undefined")
    return {f"R@{k}": float((r <= k).mean() * 100.0) for k in ks}


def retrieval_recall(queries, gallery, query_labels, gallery_labels, *, ks: Sequence[int] = DEFAULT_KS,
                     max_elements: int = DEFAULT_MAX_ELEMENTS, device=None) -> dict[str, float | int]:
    """Recall@K of one retrieval direction plus the sizes that make the numbers comparable.

    Args:
        queries: (Q, D) query embeddings.
        gallery: (G, D) gallery embeddings.
        query_labels: Q integer labels, one per query.
        gallery_labels: G integer labels; equal labels mark the relevant items.
        ks: the cut-offs K; default (1, 5, 10).
        max_elements: most scores held in one block of queries; default 2**25.
        device: torch device to compute on; default the device of `queries`.

    Returns:
        {"R@K": percent for each K, "n_queries": Q, "n_gallery": G}.

    Raises:
        ValueError: as `retrieval_ranks` (bad shapes or labels, NaN or inf, a query without a
            relevant item).
    """
    ranks = retrieval_ranks(queries, gallery, query_labels, gallery_labels, max_elements=max_elements, device=device)
    out: dict[str, float | int] = dict(recall_at_k(ranks, ks))
    out.update(n_queries=len(ranks), n_gallery=len(gallery))
    return out


def mean_recall(results: dict[str, dict[str, float]], directions: Sequence[str],
                ks: Sequence[int] = DEFAULT_KS) -> float:
    """Mean of R@K over the given directions and K (the paper's Mean Recall: 4 directions x 3 K = 12).

    Args:
        results: per direction name, a dict holding "R@K" entries (e.g. from `retrieval_recall`).
        directions: the keys of `results` to average over.
        ks: the K values to average over; default (1, 5, 10).

    Returns:
        The mean of the len(directions) x len(ks) selected values, in percent.

    Raises:
        KeyError: a direction or one of its "R@K" entries is missing from `results`.
    """
    values = [results[d][f"R@{k}"] for d in directions for k in ks]
    return float(np.mean(values))


def topk_similarity(queries, gallery, k: int, *, max_elements: int = DEFAULT_MAX_ELEMENTS,
                    device=None) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Top-k gallery scores and indices per query, best first, computed block by block.

    For showing results (search demos); metrics use `retrieval_ranks`, which defines ties. Here
    the order among exactly equal scores is whatever `torch.topk` returns.

    Args:
        queries: (Q, D) query embeddings.
        gallery: (G, D) gallery embeddings.
        k: results per query; capped at G.
        max_elements: most scores held in one block of queries; default 2**25.
        device: torch device to compute on; default the device of `queries`.

    Returns:
        (values, indices): a float32 and an int64 CPU tensor, both (Q, min(k, G)): the dot-product
        scores and their gallery indices, best first.

    Raises:
        ValueError: k < 1 or the gallery is empty, or the embeddings are not 2-D or hold NaN or inf.
    """
    import torch

    q = _embeddings(queries, "queries", device)
    g = _embeddings(gallery, "gallery", q.device)
    k = min(int(k), len(g))
    if k < 1:
        raise ValueError("k must be >= 1 and the gallery non-empty")
    step = query_chunk_size(len(g), max_elements)
    values = torch.empty(len(q), k, dtype=torch.float32)
    indices = torch.empty(len(q), k, dtype=torch.int64)
    for start in range(0, len(q), step):
        top = torch.topk(q[start:start + step] @ g.T, k, dim=1)
        values[start:start + step] = top.values.cpu()
        indices[start:start + step] = top.indices.cpu()
    return values, indices


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative),
    ties counted as 1/2 (Mann-Whitney U with average ranks). NaN when a class is absent.

    Args:
        scores: scores of any shape (flattened); higher means more likely positive.
        labels: ground truth with as many entries, truthy for positives.

    Returns:
        The AUC in [0, 1] as a float, or NaN when all labels belong to one class.

    Raises:
        ValueError: `scores` and `labels` differ in size, or `scores` holds NaN or inf.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).astype(bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.shape} vs {y.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Average 1-based rank of each distinct score value; tied items share it.
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    average_rank = upper - (counts - 1) / 2.0
    rank_sum = average_rank[inverse][y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
