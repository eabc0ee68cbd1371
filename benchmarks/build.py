"""Build throughput: records/s for 2,000 rsicd_aid images with the grayscale translator.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/build.py [--n 2000]
Writes benchmarks/build.json and benchmarks/build.md (with the near-duplicate grouping numbers of
benchmarks/grouping.json next to them, when present).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from fusionrs.data.build import BuildConfig, build_dataset
from fusionrs.data.sources import parse_source
from fusionrs.results import write_results

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "rsicd_aid"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=64)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark needs the project's real data")
    work = Path(tempfile.mkdtemp(prefix="fusionrs-build-bench-"))
    try:
        config = BuildConfig(sources=[parse_source(f"rsicd:{DATA}")], limit_per_source=args.n,
                             chunk_size=args.chunk_size, translator="grayscale")
        start = time.perf_counter()
        report = build_dataset(config, work / "out", progress=False)
        total = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (work / "out" / "data").iterdir())
        resume_start = time.perf_counter()
        build_dataset(config, work / "out2", work_dir=work / "out.work", progress=False)
        resumed = time.perf_counter() - resume_start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        "records": report.num_rows,
        "seconds_total": round(total, 2),
        "records_per_s": round(report.num_rows / total, 1),
        "seconds_rerun_with_all_chunks_staged": round(resumed, 2),
        "dataset_mb": round(size / 1e6, 1),
        "groups": report.split_stats.get("n_groups"),
        "largest_group": report.split_stats.get("largest_group"),
        "split_counts": report.split_counts,
    }
    grouping = HERE / "grouping.json"
    if grouping.is_file():
        results["near_duplicate_grouping"] = json.loads(grouping.read_text())["results"]
    command = "OMP_NUM_THREADS=1 python benchmarks/build.py " + " ".join(sys.argv[1:])
    write_results(HERE / "build.json", results, command=command.strip(), seed=0)
    largest = results["largest_group"] or {}
    lines = [
        "# Build throughput",
        "",
        f"`{command.strip()}` (seed 0; versions and machine in build.json)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| records (rsicd_aid, grayscale translator, no IR captions) | {results['records']} |",
        f"| end-to-end build, one process | {results['seconds_total']} s |",
        f"| records/s | {results['records_per_s']} |",
        f"| rerun with every chunk already staged (group + split + reshard only) | {results['seconds_rerun_with_all_chunks_staged']} s |",
        f"| dataset size | {results['dataset_mb']} MB |",
        f"| groups / largest group | {results['groups']} / {largest.get('size')} records ({', '.join(largest.get('example_ids', [])[:3])}, ...) |",
    ]
    grouping = results.get("near_duplicate_grouping")
    if grouping:
        lines += ["", "Near-duplicate grouping (from benchmarks/grouping.json, see grouping.md):", "", "```json",
                  json.dumps(grouping, indent=2)[:3000], "```"]
    (HERE / "build.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
