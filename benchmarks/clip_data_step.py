"""The CLIP trainer's live data path alone: seconds per batch of RGB + translated-IR pixels and texts.

    .venv/bin/python benchmarks/clip_data_step.py --tree before=/tmp/fusionrs_before --tree after=. \
        --repeats 5 --json benchmarks/clip_data_step.json

A dataset folder of `--rows` random 150 px RGB / L image pairs (the RSICD/AID size) is written once; each
tree (a checkout of the repository, put first on PYTHONPATH) then times `--batches` calls of the
trainer's `_micro_batch` (trimodal: RGB + translated IR + captions) at batch `--batch-size` with the
offline 112 px processor, in a fresh process per repeat, interleaved A, B, A, B. Model forward and
backward are not included: this is the part the decode-once change touches.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionrs.results import write_results  # noqa: E402

CHILD = r"""
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[4]))
from fusionrs.clip.compose import build_clip
from fusionrs.clip.train import _LiveData, _micro_batch
from fusionrs.clip.views import load_split
data_dir, batches, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
_, processor = build_clip("tiny", image_size=112)
rows = load_split(data_dir, "train")
data = _LiveData(rows, processor, "translated", 77)
rng = np.random.default_rng(0)
start = time.perf_counter()
for _ in range(batches):
    index = rng.choice(len(data), batch_size, replace=False)
    captions = [(data.captions[i][0], data.captions[i][0]) for i in index]
    batch = _micro_batch(data, index, captions, True, False, "translated")
    assert batch["rgb"].shape == batch["ir"].shape
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def write_folder(root: Path, rows: int) -> Path:
    """A FusionRS-shaped train split of random RGB/IR pairs, images embedded in parquet."""
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "data").mkdir(parents=True)
    rgb = [Image.fromarray(rng.integers(0, 255, (150, 150, 3), dtype=np.uint8)) for _ in range(rows)]
    features = datasets.Features({"id": datasets.Value("string"), "rgb": datasets.Image(), "ir": datasets.Image(),
                                  "captions": datasets.List(datasets.Value("string")),
                                  "ir_captions": datasets.List(datasets.Value("string"))})
    table = {"id": [str(i) for i in range(rows)], "rgb": rgb, "ir": [im.convert("L") for im in rgb],
             "captions": [[f"scene {i}"] for i in range(rows)], "ir_captions": [[] for _ in range(rows)]}
    datasets.Dataset.from_dict(table, features=features).to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    (root / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
                                    "    path: data/train-*\n---\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/clip_data_step.json"))
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp) / "data", args.rows)
        seconds: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()), HF_HUB_OFFLINE="1",
                           HF_DATASETS_OFFLINE="1")
                out = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(args.batches), str(args.batch_size),
                                      str(args.threads)], capture_output=True, text=True, env=env, cwd=tmp)
                if out.returncode:
                    raise SystemExit(f"{name}: {out.stderr.strip()[-400:]}")
                seconds[name].append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    images = args.batches * args.batch_size
    results = {name: {"median_s": round(statistics.median(v), 3), "runs_s": [round(x, 3) for x in v],
                      "images_per_s": round(images / statistics.median(v), 1)} for name, v in seconds.items()}
    for name, r in results.items():
        print(f"{name:>8}: median {r['median_s']:.3f} s for {args.batches} batches of {args.batch_size} "
              f"({r['images_per_s']} rows/s)")
    write_results(args.json, {"rows": args.rows, "batches": args.batches, "batch_size": args.batch_size,
                              "threads": args.threads, "repeats": args.repeats, "trees": trees,
                              "load_average": os.getloadavg(), "timings": results},
                  command=" ".join([Path(sys.executable).name, *sys.argv]), seed=0)


if __name__ == "__main__":
    main()
