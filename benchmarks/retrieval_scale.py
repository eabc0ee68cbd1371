"""Chunked retrieval at paper scale: ranks of N queries against an N-item gallery without the N x N matrix.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/retrieval_scale.py --n 100000 --dim 256 \
        --json benchmarks/retrieval_scale.json

Measures wall time and peak resident memory of `fusionrs.metrics.retrieval.retrieval_ranks`
(one-to-one labels, L2-normalised random embeddings, seeded) and checks `--check` random queries
against an independent brute-force ranking (float64 full sort of their score rows; near-ties within
`--tol` may order differently in float32, so the rank must lie within the bounds they allow). The full float32 score
matrix would take N * N * 4 bytes (40 GB at N = 100k).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionrs.metrics.retrieval import DEFAULT_MAX_ELEMENTS, query_chunk_size, recall_at_k, retrieval_ranks  # noqa: E402
from fusionrs.results import write_results  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def brute_force_rank_bounds(q: np.ndarray, g: np.ndarray, label: int, tol: float) -> tuple[int, int, int]:
    """Independent float64 ranking of one query by a full sort: (exact rank, lowest, highest rank).

    The float32 block product and this float64 one differ in the last bits, so gallery items within
    `tol` of the relevant score may legitimately order either way: the bounds allow exactly that.
    """
    scores = g @ q
    relevant = np.arange(len(g)) == label
    order = np.lexsort((relevant, -scores))  # ties: non-relevant first, as retrieval_ranks counts them
    exact = int(np.flatnonzero(relevant[order])[0]) + 1
    best, others = scores[label], scores[~relevant]
    return exact, 1 + int((others > best + tol).sum()), 1 + int((others >= best - tol).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--max-elements", type=int, default=DEFAULT_MAX_ELEMENTS)
    parser.add_argument("--check", type=int, default=100, help="queries re-ranked by brute force")
    parser.add_argument("--tol", type=float, default=1e-5, help="score tolerance of the float64 re-ranking")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(args.seed)
    # Correlated pairs (gallery = query + noise) so ranks spread over the whole range, like a weak model.
    queries = torch.nn.functional.normalize(torch.randn(args.n, args.dim, generator=generator), dim=1)
    gallery = torch.nn.functional.normalize(queries + 1.5 * torch.randn(args.n, args.dim, generator=generator), dim=1)
    labels = np.arange(args.n)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    ranks = retrieval_ranks(queries, gallery, labels, labels, max_elements=args.max_elements)
    seconds = time.perf_counter() - start
    rss_after = peak_rss_mb()

    rng = np.random.default_rng(args.seed)
    picked = rng.choice(args.n, size=min(args.check, args.n), replace=False)
    q, g = queries.numpy().astype(np.float64), gallery.numpy().astype(np.float64)
    exact = within = 0
    for i in picked:
        reference, low, high = brute_force_rank_bounds(q[i], g, int(i), args.tol)
        exact += reference == int(ranks[i])
        within += low <= int(ranks[i]) <= high

    results = {
        "n_queries": args.n, "n_gallery": args.n, "dim": args.dim, "max_elements": args.max_elements,
        "queries_per_block": query_chunk_size(args.n, args.max_elements),
        "seconds": round(seconds, 2), "scores_per_second": args.n * args.n / seconds,
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb_before": round(rss_before, 1), "peak_rss_mb_after": round(rss_after, 1),
        "full_matrix_would_need_mb": round(args.n * args.n * 4 / 2**20, 1),
        "recall": recall_at_k(ranks.numpy()),
        "brute_force_checked_queries": len(picked), "brute_force_exact_matches": exact,
        "brute_force_within_float32_tolerance": within, "tolerance": args.tol,
    }
    command = "OMP_NUM_THREADS=%s python benchmarks/retrieval_scale.py %s" % (
        results["torch_threads"], " ".join(sys.argv[1:]))
    write_results(args.json, results, command=command, seed=args.seed)
    for key, value in results.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
