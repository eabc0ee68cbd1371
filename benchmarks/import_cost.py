"""What a light command costs: wall time of `import fusionrs`, `fusionrs --help` and a bad argument.

    .venv/bin/python benchmarks/import_cost.py --tree before=/tmp/fusionrs_before --tree after=. \
        --repeats 15 --json benchmarks/import_cost.json

Each tree is a checkout of the repository; its package is put first on PYTHONPATH, so two commits are
timed with the same interpreter and libraries. Runs are interleaved (tree A, tree B, A, B, ...) so
machine load hits both alike; the median and the inter-quartile range are reported, together with
the heavy libraries (torch, transformers, datasets, diffusers, gradio) each probe left in sys.modules.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionrs.results import write_results  # noqa: E402

HEAVY = ("torch", "transformers", "datasets", "diffusers", "gradio")
PROBES = {
    "import fusionrs": "import fusionrs",
    "fusionrs --help": "from fusionrs.cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
    # before the error fix this path ended in a traceback: catch it, the time is what is measured
    "fusionrs build radar:/x": "from fusionrs.cli.main import main\ntry:\n    main(['build', 'radar:/x', '--out', 'o'])\n"
                               "except BaseException:\n    pass",
}


def run_probe(tree: Path, code: str) -> tuple[float, list[str]]:
    """Seconds for one fresh interpreter running `code` against `tree`, and the heavy modules it loaded."""
    probe = f"import sys\n{code}\nprint('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()), HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd="/tmp")
    seconds = time.perf_counter() - start
    line = [x for x in result.stdout.splitlines() if x.startswith("HEAVY=")]
    if not line:
        raise SystemExit(f"probe failed in {tree}: {result.stderr.strip()[-300:]}")
    return seconds, [m for m in line[-1][len("HEAVY="):].split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/import_cost.json"))
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    times: dict[str, dict[str, list[float]]] = {n: {p: [] for p in PROBES} for n in trees}
    heavy: dict[str, dict[str, list[str]]] = {n: {} for n in trees}
    for _ in range(args.repeats):
        for probe, code in PROBES.items():
            for name, tree in trees.items():
                seconds, loaded = run_probe(Path(tree), code)
                times[name][probe].append(seconds)
                heavy[name][probe] = loaded
    results = {}
    for name in trees:
        results[name] = {}
        for probe, values in times[name].items():
            q = statistics.quantiles(values, n=4)
            results[name][probe] = {"median_s": round(statistics.median(values), 3), "q1_s": round(q[0], 3),
                                    "q3_s": round(q[2], 3), "heavy_modules": heavy[name][probe]}
            print(f"{name:>8}  {probe:<26} median {results[name][probe]['median_s']:.3f} s  "
                  f"heavy: {', '.join(heavy[name][probe]) or '-'}")
    write_results(args.json, {"repeats": args.repeats, "trees": trees, "load_average": os.getloadavg(),
                              "probes": results},
                  command=" ".join([Path(sys.executable).name, *sys.argv]), seed=None)


if __name__ == "__main__":
    main()
