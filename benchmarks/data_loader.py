"""The trainers' data loaders alone (CLIP live, CLIP feature cache, VLM, VLM with cached features).

    git worktree add /tmp/fusionrs_before d29eb00
    for path in live cache vlm vlm-cache; do
        .venv/bin/python benchmarks/data_loader.py --tree before=/tmp/fusionrs_before --tree after=. \
            --path $path --repeats 9 --json benchmarks/data_loader_$path.json
    done

A dataset folder of `--rows` random 150 px RGB / L image pairs (the RSICD/AID size) with RGB and IR-aware
captions and the metadata columns a built folder carries is written once; each tree (a checkout of the
repository, put first on PYTHONPATH) then times, in a fresh process per repeat, interleaved A, B, A, B,
what that tree's trainer does to feed its model, model forward and backward excluded:

- `live`: read the train split, build `--batches` trimodal CLIP steps (RGB + translated IR pixels, RGB
  and IR captions tokenised) at `--batch-size`, 112 px processor (before: the trainer's own loop;
  after: `fusionrs.clip.data.StepFeed`, 0 workers).
- `cache`: what `--cache-features` does before the first step: read the split and build the feature
  cache of RGB, translated and grayscale IR (tiny towers, all but the top block frozen, so their
  forward is included: it is the same in both trees).
- `vlm` / `vlm-cache`: read the split and encode `--batches` collated caption batches (`mixed` task,
  RGB+IR) with the tiny LLaVA processor; `vlm-cache` is the path taken when vision features are cached
  (after: input ids from cached token counts, no image decoded or processed; before: the processor ran
  on the images anyway).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fusionrs.metrics.bootstrap import paired_bootstrap_ci  # noqa: E402
from fusionrs.results import write_results  # noqa: E402

CHILD = r"""
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[4]))
from fusionrs.clip.compose import build_clip
data_dir, batches, batch_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
_, processor = build_clip("tiny", image_size=112)
start = time.perf_counter()  # from reading the split to the last batch: the data loader alone
try:  # the data module (issue #15): one split read with the training columns, steps through a DataLoader
    from fusionrs.clip.data import LiveData, StepBatches, StepFeed, load_rows
except ImportError:  # before: the trainer's own data path, fed step by step in the training loop
    from fusionrs.clip.train import _LiveData, _micro_batch, batch_rows
    from fusionrs.clip.views import load_split, pick_captions
    data = _LiveData(load_split(data_dir, "train"), processor, "translated", 77)
    for step in range(batches):
        rows = batch_rows(0, step, batch_size, len(data))
        rng = np.random.default_rng([0, step, 1])
        captions = [pick_captions(data.captions[r], data.ir_captions[r], "ir_aware", rng) for r in rows]
        batch = _micro_batch(data, rows, captions, True, True, "translated")
        assert batch["rgb"].shape == batch["ir"].shape
else:
    data = LiveData(load_rows(data_dir, "train"), processor, 77)
    feed = StepFeed(StepBatches(data, pairs=("rgb_text", "ir_text", "rgb_ir"), ir_view="translated",
                                caption_policy="ir_aware", seed=0, batch_size=batch_size), batches)
    for step in range(batches):
        batch = feed.micro_batches(step)[0]
        assert batch["rgb"].shape == batch["ir"].shape
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

CACHE_CHILD = r"""
import json, sys, tempfile, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from fusionrs.clip.compose import build_clip
from fusionrs.clip.features import build_feature_cache, num_blocks
from fusionrs.clip.views import load_split
data_dir = sys.argv[1]
model, processor = build_clip("tiny", image_size=112)
nv, nt = num_blocks(model)
frozen = (nv - 1, nt - 1)
with tempfile.TemporaryDirectory() as root:
    start = time.perf_counter()  # what the trainer does with --cache-features before its first step
    try:
        from fusionrs.clip.data import TRAIN_COLUMNS, load_rows
    except ImportError:  # before: the split read by the trainer, again by the cache, one pass per view
        rows = load_split(data_dir, "train")
        cache = build_feature_cache(model, processor, data_dir, frozen=frozen, root=root, progress=False)
    else:
        rows = load_rows(data_dir, "train", columns=(*TRAIN_COLUMNS, "id"))
        cache = build_feature_cache(model, processor, data_dir, frozen=frozen, root=root, progress=False, rows=rows)
    assert len(cache) == len(rows)
    print(json.dumps({"seconds": time.perf_counter() - start}))
"""


VLM_CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[4]))
from fusionrs.vlm.compose import compose_tiny_llava
from fusionrs.vlm.data import caption_stream, collate, encode_example
data_dir, batches, batch_size, cached = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[5] == "cache"
_, processor = compose_tiny_llava(seed=0)
pad = processor.tokenizer.pad_token_id
start = time.perf_counter()  # from reading the split to the last collated batch: the data loader alone
try:  # the data module (issue #15): the mode's columns only, examples point at rows, cached: token counts
    from fusionrs.vlm.data import load_rows
except ImportError:  # before: every column of the split, the processor runs on the images of every example
    from fusionrs.data.loading import load_dataset
    stream = caption_stream(load_dataset(data_dir, split="train"), "mixed", "rgb+ir", seed=0)
    encode = lambda ex: encode_example(processor, ex)  # noqa: E731
else:
    stream = caption_stream(load_rows(data_dir, "train", mode="rgb+ir"), "mixed", "rgb+ir", seed=0)
    # with the feature cache on, the trainer passes each image's cached token count (4 for the tiny LLaVA)
    encode = (lambda ex: encode_example(processor, ex, image_tokens=[4] * len(ex["image_keys"]))) if cached \
        else (lambda ex: encode_example(processor, ex))
for _ in range(batches):
    batch = collate([encode(next(stream)) for _ in range(batch_size)], pad)
    assert batch["input_ids"].shape[0] == batch_size
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

def write_folder(root: Path, rows: int) -> Path:
    """A FusionRS-shaped train split of random RGB/IR pairs, images embedded in parquet."""
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "data").mkdir(parents=True)
    rgb = [Image.fromarray(rng.integers(0, 255, (150, 150, 3), dtype=np.uint8)) for _ in range(rows)]
    text = datasets.Value("string")
    features = datasets.Features({"id": text, "rgb": datasets.Image(), "ir": datasets.Image(),
                                  "captions": datasets.List(text), "ir_captions": datasets.List(text),
                                  "source": text, "scene_class": text, "meta": text})
    table = {"id": [str(i) for i in range(rows)], "rgb": rgb, "ir": [im.convert("L") for im in rgb],
             "captions": [[f"scene {i} with roads", f"an aerial view of scene {i}"] for i in range(rows)],
             "ir_captions": [[f"bright roads in scene {i}"] for i in range(rows)],
             "source": ["rsicd"] * rows, "scene_class": [f"class_{i % 30}" for i in range(rows)],
             "meta": [json.dumps({"width": 150, "height": 150, "row": i}) for i in range(rows)]}
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
    parser.add_argument("--path", choices=("live", "cache", "vlm", "vlm-cache"), default="live",
                        help="live: reading the split + building CLIP steps; cache: building the CLIP feature "
                             "cache (tiny towers, all but the top block frozen: their forward is included); "
                             "vlm / vlm-cache: reading the split + encoding VLM caption batches (tiny LLaVA "
                             "processor), without / with the vision feature cache")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp) / "data", args.rows)
        data_sha256 = hashlib.sha256((folder / "data" / "train-00000-of-00001.parquet").read_bytes()).hexdigest()
        seconds: dict[str, list[float]] = {name: [] for name in trees}
        load_before = os.getloadavg()
        for _ in range(args.repeats):
            for name, tree in trees.items():
                env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()), HF_HUB_OFFLINE="1",
                           HF_DATASETS_OFFLINE="1")
                child = {"live": CHILD, "cache": CACHE_CHILD}.get(args.path, VLM_CHILD)
                out = subprocess.run([sys.executable, "-c", child, str(folder), str(args.batches), str(args.batch_size),
                                      str(args.threads), "cache" if args.path == "vlm-cache" else "live"],
                                     capture_output=True, text=True, env=env, cwd=tmp)
                if out.returncode:
                    raise SystemExit(f"{name}: {out.stderr.strip()[-400:]}")
                seconds[name].append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    images = args.batches * args.batch_size if args.path == "live" else args.rows
    results = {name: {"median_s": round(statistics.median(v), 3), "runs_s": [round(x, 3) for x in v],
                      "images_per_s": round(images / statistics.median(v), 1)} for name, v in seconds.items()}
    for name, r in results.items():
        print(f"{name:>8}: median {r['median_s']:.3f} s, {r['images_per_s']} rows/s ({args.path})")
    paired = None
    if len(trees) == 2:  # repeat k of each tree ran back to back: pair them (first tree minus second)
        first, second = list(seconds)
        paired = paired_bootstrap_ci(seconds[first], seconds[second])
        print(f"{first} - {second}: {paired['mean_diff']:+.3f} s [{paired['low']:+.3f}, {paired['high']:+.3f}] "
              f"(95% paired bootstrap over repeats)")
    write_results(args.json, {"dataset": "generated (write_folder, seed 0)", "dataset_sha256": data_sha256,
                              "translator": None, "captioner": None, "path": args.path,
                              "rows": args.rows, "batches": args.batches, "batch_size": args.batch_size,
                              "threads": args.threads, "repeats": args.repeats, "trees": trees,
                              "load_average_start": load_before,
                              "load_average_end": os.getloadavg(), "timings": results,
                              "paired_seconds_first_minus_second": paired},
                  command=" ".join([Path(sys.executable).name, *sys.argv]), seed=0)


if __name__ == "__main__":
    main()
