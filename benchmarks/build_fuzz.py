"""One build over a folder of mutated images: it must finish, keep every decodable image, skip the rest.

    .venv/bin/python benchmarks/build_fuzz.py --count 600 --json benchmarks/build_fuzz.json

`--count` mutated files of `tests/hostile.py` (PNG, JPEG, GIF, BMP, WebP, TIFF; seed 0) go into the
class folders of a `folder:` source, with the hostile tree of `make_escape_tree` next to them (a FIFO,
a /dev/zero link, links out of the root, a symlink loop). `fusionrs build` runs on it in a child
process with a time limit. Recorded: whether it finished, rows kept, records left out by stage and
error class, wall time and the child's peak RSS; and whether any byte of the outside files appears in
the dataset folder.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionrs.results import write_results  # noqa: E402
from tests.hostile import hostile_images, make_escape_tree  # noqa: E402

CHILD = r"""
import json, re, sys
from fusionrs.data.build import BuildConfig, build_dataset
from fusionrs.data.sources import parse_source
report = build_dataset(BuildConfig(sources=[parse_source("folder:" + sys.argv[1])], chunk_size=64), sys.argv[2],
                       progress=False)
print(json.dumps({"rows": report.num_rows, "items": report.num_items, "failures": report.failures,
                  # the child's own high-water mark (ru_maxrss can carry the parent's across fork + exec)
                  "peak_rss_mib": int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600, help="mutated files (split evenly over 6 formats)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=900, help="seconds before the build counts as hung")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/build_fuzz.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fusionrs-build-fuzz-") as tmp:
        root, outside, out = Path(tmp) / "src", Path(tmp) / "outside", Path(tmp) / "out"
        for k, sample in enumerate(hostile_images(args.count, args.seed)):
            folder = root / f"class_{k % 4}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / sample.name).write_bytes(sample.data)
        outside.mkdir()
        secret = b"FUSIONRS-OUTSIDE-SECRET-0123456789"
        (outside / "private.png").write_bytes(secret)
        make_escape_tree(root / "class_0", outside)
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        start = time.perf_counter()
        try:
            child = subprocess.run([sys.executable, "-c", CHILD, str(root), str(out)], capture_output=True, text=True,
                                   timeout=args.timeout, env=env)
            finished, code = child.returncode == 0, child.returncode
        except subprocess.TimeoutExpired:
            child, finished, code = None, False, "timeout"
        seconds = time.perf_counter() - start
        result: dict = {"files": args.count, "finished": finished, "exit": code, "seconds": round(seconds, 1)}
        if finished:
            report = json.loads(child.stdout.strip().splitlines()[-1])
            by_stage = collections.Counter(f["stage"] for f in report["failures"])
            by_error = collections.Counter(re.sub(r"[^A-Za-z ]", "", f["reason"].split(":")[-1]).strip()[:60]
                                           for f in report["failures"])
            leaked = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and secret in p.read_bytes()]
            listed = collections.Counter(Path(f["id"]).suffix for f in report["failures"])
            result.update(listed_suffixes_left_out=dict(listed), items=report["items"], rows=report["rows"], left_out=len(report["failures"]),
                          left_out_by_stage=dict(by_stage), left_out_top_reasons=dict(by_error.most_common(8)),
                          peak_rss_mib=round(report["peak_rss_mib"], 1), outside_bytes_in_output=leaked)
        else:
            result["stderr_tail"] = (child.stderr[-2000:] if child else "")
    write_results(args.json, result, command="python benchmarks/build_fuzz.py " + " ".join(sys.argv[1:]),
                  seed=args.seed)
    print(json.dumps(result, indent=2))
    if not finished:
        raise SystemExit("the build did not finish")


if __name__ == "__main__":
    main()
