"""Memory and time of streaming the official FusionRS index through `fusionrs.data.official.read_index`.

The authors' public index has 600,000 rows. This writes seeded rows of the public schema
(`fusionrs.data.official.examples`) as `.jsonl.gz` for each `--rows` count, then reads each file in a
child process, validating every row, and reports wall and CPU time, rows/s, the child's peak RSS (VmHWM)
and its RSS at every 10 % of the rows: a reader that holds rows would grow with the count.

Run: .venv/bin/python benchmarks/official_index_memory.py [--rows 60000 600000]
Writes benchmarks/official_index_memory.json and benchmarks/official_index_memory.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fusionrs.data.official.examples import write_example_index
from fusionrs.results import write_results

HERE = Path(__file__).resolve().parent

# The child: its own RSS after imports, at every 10 % of the rows and its peak (VmHWM, not ru_maxrss, which
# Linux carries over from the parent across fork + exec).
CHILD = r"""
import json, re, sys, time
def status(key):
    with open("/proc/self/status") as f:
        return int(re.search(key + r":\s+(\d+) kB", f.read()).group(1)) / 1024
from fusionrs.data.official import IndexSummary, read_index
path, total = sys.argv[1], int(sys.argv[2])
after_imports = status("VmRSS")
summary, samples, n = IndexSummary(), [], 0
wall, cpu = time.perf_counter(), time.process_time()
for row in read_index(path, summary=summary):
    n += 1
    if n % max(1, total // 10) == 0:
        samples.append([n, round(status("VmRSS"), 1)])
print(json.dumps({"rows": n, "valid": summary.valid, "bad_rows": summary.bad_rows,
                  "wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
                  "rss_after_imports_mb": round(after_imports, 1), "rss_samples_mb": samples,
                  "peak_rss_mb": round(status("VmHWM"), 1)}))
"""


def measure(rows: int, folder: Path) -> dict:
    """Write `rows` example rows and stream them in a child process.

    Args:
        rows: how many rows.
        folder: where the index file goes (deleted by the caller).

    Returns:
        The child's figures plus the file's size and the time it took to write.
    """
    path = folder / f"index_{rows}.jsonl.gz"
    start = time.perf_counter()
    write_example_index(path, "public", rows, seed=0)
    written = time.perf_counter() - start
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(rows)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    result |= {"file_mb": round(path.stat().st_size / 2**20, 1), "write_s": round(written, 1),
               "rows_per_s": round(result["rows"] / result["wall_s"])}
    path.unlink()
    return result


def render(runs: list[dict]) -> str:
    """The Markdown table of the runs."""
    out = ["# Streaming the official index: memory and time", "",
           "Seeded rows of `fusionrs-public-index-v1` (`fusionrs.data.official.examples`), gzip, read by",
           "`read_index` in a child process with every row validated (schema + the verifier's rules).", "",
           "| rows | file (MB) | wall s | CPU s | rows/s | RSS after imports (MB) | RSS at 10 % / 50 % / 100 % (MB) | peak RSS (MB) |",
           "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = {pct: mb for pct, (_, mb) in zip(range(10, 101, 10), r["rss_samples_mb"])}
        out.append(f"| {r['rows']:,} | {r['file_mb']} | {r['wall_s']} | {r['cpu_s']} | {r['rows_per_s']:,} | "
                   f"{r['rss_after_imports_mb']} | {s.get(10)} / {s.get(50)} / {s.get(100)} | {r['peak_rss_mb']} |")
    return "\n".join(out) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[60_000, 600_000])
    p.add_argument("--json", default=str(HERE / "official_index_memory.json"))
    p.add_argument("--md", default=str(HERE / "official_index_memory.md"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for rows in args.rows:
            runs.append(measure(rows, Path(tmp)))
            print(json.dumps(runs[-1]), flush=True)
    write_results(args.json, {"runs": runs}, command=" ".join(["python"] + sys.argv), seed=0)
    Path(args.md).write_text(render(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
