"""Retrieval ranks / Recall@K / ROC AUC: a hand-computed example with ties, and independent brute force."""

import numpy as np
import pytest
import torch

from fusionrs.metrics.retrieval import (
    mean_recall,
    query_chunk_size,
    recall_at_k,
    retrieval_ranks,
    retrieval_recall,
    roc_auc,
    topk_similarity,
)


def brute_force_ranks(q, g, ql, gl):
    """Independent reference: sort every query's gallery (argsort), ties put non-relevant items first."""
    scores = np.asarray(q, dtype=np.float64) @ np.asarray(g, dtype=np.float64).T
    ranks = []
    for i in range(len(q)):
        relevant = np.asarray(gl) == ql[i]
        # lexsort: the last key is primary (descending score); at equal score, non-relevant (False) first.
        order = np.lexsort((relevant, -scores[i]))
        ranks.append(int(np.flatnonzero(relevant[order])[0]) + 1)
    return np.array(ranks)


def test_hand_computed_3x3_with_a_tie():
    # Queries are the unit vectors, so scores[i, j] = gallery[j, i]: the gallery is the transposed score matrix.
    scores = np.array([
        [0.9, 0.1, 0.2],  # q0: its item g0 scores highest               -> rank 1
        [0.5, 0.5, 0.1],  # q1: g1 ties with the non-relevant g0 (0.5)    -> rank 2 (ties count against the model)
        [0.7, 0.8, 0.3],  # q2: g2 is below both others                   -> rank 3
    ])
    q, g = np.eye(3), scores.T.copy()
    ranks = retrieval_ranks(q, g, [0, 1, 2], [0, 1, 2])
    assert ranks.tolist() == [1, 2, 3]
    assert recall_at_k(ranks, (1, 2, 3)) == pytest.approx({"R@1": 100 / 3, "R@2": 200 / 3, "R@3": 100.0})
    # The tie rule does not depend on gallery order: moving g1 before g0 changes nothing.
    perm = [1, 0, 2]
    assert retrieval_ranks(q, g[perm], [0, 1, 2], [1, 0, 2]).tolist() == [1, 2, 3]


def test_hand_computed_one_to_many():
    # One image query, gallery of 4 captions: captions 1 and 3 belong to it. Scores 0.2, 0.6, 0.7, 0.4:
    # the best relevant caption (0.6) is beaten by one non-relevant caption (0.7) -> rank 2.
    q = np.array([[1.0, 0.0]])
    g = np.array([[0.2, 0], [0.6, 0], [0.7, 0], [0.4, 0]])
    assert retrieval_ranks(q, g, [7], [3, 7, 5, 7]).tolist() == [2]
    # Reverse direction, one relevant image each: caption 0 scores its image 0.9 vs 0.1 -> 1; caption 1
    # 0.3 vs 0.6 -> 2; caption 2 ties 0.5 vs 0.5 -> 2.
    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    captions = np.array([[0.9, 0.1], [0.3, 0.6], [0.5, 0.5]])
    assert retrieval_ranks(captions, images, [0, 0, 1], [0, 1]).tolist() == [1, 2, 2]


@pytest.mark.parametrize("chunk_size", [1, 3, 7, None])
def test_chunked_equals_brute_force_one_to_many(chunk_size):
    rng = np.random.default_rng(0)
    n_images, per_image, dim = 40, 5, 8
    images = rng.normal(size=(n_images, dim)).astype(np.float32)
    captions = rng.normal(size=(n_images * per_image, dim)).astype(np.float32)
    owners = np.repeat(np.arange(n_images), per_image)
    image_ids = np.arange(n_images)
    expected_i2t = brute_force_ranks(images, captions, image_ids, owners)
    expected_t2i = brute_force_ranks(captions, images, owners, image_ids)
    got_i2t = retrieval_ranks(images, captions, image_ids, owners, chunk_size=chunk_size)
    got_t2i = retrieval_ranks(captions, images, owners, image_ids, chunk_size=chunk_size)
    assert got_i2t.tolist() == expected_i2t.tolist()
    assert got_t2i.tolist() == expected_t2i.tolist()


def test_chunked_equals_brute_force_with_many_exact_ties():
    # Small integer vectors: dot products are exact integers, so ties are everywhere.
    rng = np.random.default_rng(1)
    q = rng.integers(-1, 2, size=(60, 3)).astype(np.float32)
    g = rng.integers(-1, 2, size=(90, 3)).astype(np.float32)
    ql, gl = rng.integers(0, 30, size=60), np.arange(90) % 30
    expected = brute_force_ranks(q, g, ql, gl)
    for max_elements in (1, 90, 500, 10**6):
        assert retrieval_ranks(q, g, ql, gl, max_elements=max_elements).tolist() == expected.tolist()


def test_block_size_is_bounded_by_max_elements():
    assert query_chunk_size(100_000, 2**25) == 335  # 335 x 100k scores = 134 MB of float32, not 40 GB
    assert query_chunk_size(10, 100) == 10
    assert query_chunk_size(10**9, 100) == 1  # never zero
    with pytest.raises(ValueError):
        query_chunk_size(10, 0)


def test_collapsed_embeddings_get_the_worst_rank_not_the_best():
    q, g = np.ones((5, 4)), np.ones((5, 4))
    ranks = retrieval_ranks(q, g, np.arange(5), np.arange(5))
    assert ranks.tolist() == [5] * 5
    assert recall_at_k(ranks, (1,)) == {"R@1": 0.0}


def test_retrieval_recall_and_mean_recall():
    x = torch.nn.functional.normalize(torch.randn(20, 6, generator=torch.Generator().manual_seed(0)), dim=1)
    r = retrieval_recall(x, x, np.arange(20), np.arange(20))
    assert r == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "n_queries": 20, "n_gallery": 20}
    table = {"a": {"R@1": 10.0, "R@5": 20.0, "R@10": 30.0}, "b": {"R@1": 40.0, "R@5": 50.0, "R@10": 60.0}}
    assert mean_recall(table, ["a", "b"]) == pytest.approx(35.0)


def test_topk_similarity_equals_brute_force():
    rng = np.random.default_rng(2)
    q, g = rng.normal(size=(17, 5)), rng.normal(size=(50, 5))
    values, indices = topk_similarity(q, g, 4, max_elements=100)  # 2 queries per block
    expected = np.argsort(-(q @ g.T), axis=1)[:, :4]
    assert indices.tolist() == expected.tolist()
    assert np.allclose(values.numpy(), np.take_along_axis(q @ g.T, expected, 1), atol=1e-5)
    assert topk_similarity(q, g[:3], 10)[1].shape == (17, 3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: retrieval_ranks(np.full((2, 3), np.nan), np.ones((2, 3)), [0, 1], [0, 1]), "NaN"),
        (lambda: retrieval_ranks(np.ones((2, 3)), np.ones((2, 4)), [0, 1], [0, 1]), "dim"),
        (lambda: retrieval_ranks(np.ones((2, 3)), np.ones((2, 3)), [0, 5], [0, 1]), "no relevant"),
        (lambda: retrieval_ranks(np.ones((2, 3)), np.ones((2, 3)), [0], [0, 1]), "query_labels"),
        (lambda: retrieval_ranks(np.ones(3), np.ones((2, 3)), [0], [0, 1]), "2-D"),
        (lambda: recall_at_k([]), "empty"),
    ],
)
def test_bad_inputs_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------------------------------------------ ROC AUC

def brute_force_auc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_hand_computed():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 -> 1/2) (0.4>0.1) -> 3.5 / 4
    assert roc_auc([0.8, 0.4, 0.4, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)
    assert roc_auc([1, 2, 3], [0, 0, 1]) == 1.0
    assert roc_auc([1, 2, 3], [1, 0, 0]) == 0.0
    assert roc_auc([5, 5, 5, 5], [1, 0, 1, 0]) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_brute_force_pair_count(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    scores = rng.integers(0, 6, size=n).astype(float)  # few distinct values: many ties
    labels = rng.random(n) < 0.4
    labels[0], labels[1] = True, False
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)


def test_auc_undefined_without_both_classes():
    assert np.isnan(roc_auc([0.1, 0.2], [1, 1]))
    assert np.isnan(roc_auc([0.1, 0.2], [0, 0]))
    with pytest.raises(ValueError, match="differ in length"):
        roc_auc([0.1, 0.2], [1])
