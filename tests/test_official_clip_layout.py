"""The authors' released CLIP folder layout (stored repo frozy129/FusionRS-CLIP, `model/` as its SHA256SUMS
lists it) works with our encoder calls, both CLIP pipelines, `fusionrs eval clip` and `fusionrs train clip --init`.
The model is a tiny random `CLIPModel`; the files and their roles are the release's."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_cli import run_cli
from tests.test_clip_eval import build_tiny_clip
from tests import test_clip_train

torch.set_num_threads(1)
tiny_data = test_clip_train.tiny_data  # the CLIP tests' 12 + 4 row folder, as a fixture

# model/ in the release's SHA256SUMS
OFFICIAL_FILES = {"config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt",
                  "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
                  "processor_config.json", "verification.json"}


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory) -> Path:
    folder = build_tiny_clip(tmp_path_factory.mktemp("FusionRS-CLIP") / "model", seed=7)
    if not (folder / "special_tokens_map.json").is_file():  # older releases of transformers wrote it
        (folder / "special_tokens_map.json").write_text(json.dumps(
            {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
             "unk_token": "<|endoftext|>"}, indent=2))
    if not (folder / "preprocessor_config.json").is_file():  # transformers 5 keeps it inside processor_config.json
        from transformers import CLIPProcessor

        CLIPProcessor.from_pretrained(folder).image_processor.save_pretrained(folder)
    if not (folder / "processor_config.json").is_file():
        (folder / "processor_config.json").write_text(json.dumps({"processor_class": "CLIPProcessor"}))
    # verification.json: the release's provenance record (keys as released), which loaders must ignore
    (folder / "verification.json").write_text(json.dumps(
        {"source_checkpoint_sha256": "0" * 64, "epoch": 3, "step": 13593, "missing_keys": [], "unexpected_keys": [],
         "reload_parameter_exact_match": True, "format": "Hugging Face safetensors", "architecture": "CLIP ViT-B/32",
         "shared_image_encoder": True, "paired_input_fusion": False, "seed": 42}, indent=2))
    for extra in set(p.name for p in folder.iterdir()) - OFFICIAL_FILES:
        (folder / extra).unlink()
    return folder


def test_layout_is_the_releases(official_folder):
    assert {p.name for p in official_folder.iterdir()} == OFFICIAL_FILES


def test_encoder_and_both_pipelines_load_it(official_folder):
    from transformers import pipeline

    from fusionrs import FusionRSEncoder

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), "RGB")
    encoder = FusionRSEncoder.from_pretrained(official_folder, device="cpu")
    scores = encoder.score_pairs([rgb], [rgb.convert("L")], ["an airport"])
    assert all(-1.0 <= v[0] <= 1.0 for v in scores.values())
    features = pipeline("rgb-ir-feature-extraction", model=str(official_folder), device="cpu")
    out = features({"rgb": rgb, "ir": rgb.convert("L"), "text": "an airport"})
    torch.testing.assert_close(out["rgb"], encoder.encode_rgb([rgb])[0], atol=1e-5, rtol=1e-4)
    zero_shot = pipeline("zero-shot-rgb-ir-classification", model=str(official_folder), device="cpu")
    ranked = zero_shot(rgb.convert("L"), candidate_labels=["airport", "river", "forest"], modality="ir")
    assert sorted(r["label"] for r in ranked) == ["airport", "forest", "river"]
    assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-4)


def test_eval_and_train_init_from_it(official_folder, tiny_data, tmp_path):
    # the embedded world sample (a full FusionRS schema folder), 8 rows
    result = run_cli("eval", "clip", "--model", official_folder, "--max-items", 8, "--json", tmp_path / "eval.json",
                     "--no-zero-shot")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "eval.json").read_text())["results"]
    assert results["rows_evaluated"] == 8 and results["retrieval"]["rgb->ir"]["n_queries"] == 8
    assert 0 <= results["mean_recall"] <= 100
    result = run_cli("train", "clip", "--init", official_folder, "--data", tiny_data, "--steps", 2, "--batch-size", 4,
                     "--warmup", 0, "--checkpoint-every", 0, "--out", tmp_path / "ft", "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ft" / "final" / "model.safetensors").is_file()
