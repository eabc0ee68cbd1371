"""Decode once: a training step decodes each image it needs exactly once, and none with a feature cache.

Counts the real decodes of datasets' Image feature (`decode_example`), one entry per decoded image
(identified by its bytes), while the captioner (tiny seeded LLaVA, as in test_vlm.py) and CLIP (tiny
Dinov2 + Bert, as in test_clip_train.py) train on small parquet folders written here.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIDE = 28


def _image_id(value: dict) -> str:
    return hashlib.sha1(value.get("bytes") or str(value.get("path")).encode()).hexdigest()


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The ids of every image decoded through datasets' Image feature from now on."""
    import datasets.features.image as image_feature

    decoded: list[str] = []
    real_decode = image_feature.Image.decode_example

    def counting_decode(self, value, token_per_repo_id=None):
        decoded.append(_image_id(value))
        return real_decode(self, value, token_per_repo_id=token_per_repo_id)

    monkeypatch.setattr(image_feature.Image, "decode_example", counting_decode)
    return decoded


def _image_keys(folder: Path, split: str = "train") -> dict[str, str]:
    """Image id (as `decodes` records it) -> VLM image key `row_id/rgb|ir`, read from parquet without decoding."""
    import pyarrow.parquet as pq

    keys = {}
    for path in sorted((folder / "data").glob(f"{split}-*.parquet")):
        table = pq.read_table(path, columns=["id", "rgb", "ir"]).to_pylist()
        for row in table:
            for column in ("rgb", "ir"):
                keys[_image_id(row[column])] = f"{row['id']}/{column}"
    return keys


# ------------------------------------------------------------------------------------------ captioner (VLM)


@pytest.fixture(scope="module")
def vlm_data(tmp_path_factory) -> Path:
    from fusionrs.data.folder import write_dataset_folder
    from fusionrs.data.schema import FusionRecord

    rng = np.random.default_rng(0)
    records = [FusionRecord(id=f"r{i}", rgb=Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)),
                            ir=Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)),
                            captions=[f"many buildings are around a parking lot {i} ."],
                            ir_captions=["In this infrared-style image, bright roofs show soft outlines."],
                            class_name="x", split=split, group_id=f"g{i}", is_eval_representative=True,
                            source_dataset="test")
               for i, split in enumerate(["train"] * 6 + ["validation"] * 2)]
    folder = tmp_path_factory.mktemp("decode_once") / "ds"
    write_dataset_folder(records, folder, progress=False)
    return folder


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    from fusionrs.vlm.compose import compose_tiny_llava

    model, processor = compose_tiny_llava(seed=0)
    out = tmp_path_factory.mktemp("decode_once") / "tiny"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _vlm_cfg(data, base, out, mode="rgb+ir", cache=False, feature_cache=None):
    from fusionrs.vlm.config import VLMTrainConfig

    return VLMTrainConfig(out=str(out), data=str(data), base=str(base), mode=mode, task="mixed", steps=1,
                          batch_size=3, checkpoint_every=0, warmup=1, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                          cache_features=cache, feature_cache=feature_cache, progress=False)


def _batch_keys(cfg) -> list[str]:
    from fusionrs.vlm.train import example_streams

    stream = example_streams(cfg)()
    return [key for _ in range(cfg.steps * cfg.batch_size) for key in next(stream)["image_keys"]]


@pytest.mark.parametrize("mode", ["rgb+ir", "ir"])
def test_a_vlm_step_decodes_each_image_of_its_batch_once(vlm_data, tiny_vlm, tmp_path, decodes, mode):
    from fusionrs.vlm.train import train_vlm

    cfg = _vlm_cfg(vlm_data, tiny_vlm, tmp_path / "run", mode=mode)
    expected = _batch_keys(cfg)
    assert len(set(expected)) == 3 * len(mode.split("+")) and not decodes  # planning the stream decodes nothing
    assert train_vlm(cfg)["steps"] == 1
    names = _image_keys(vlm_data)
    assert Counter(names[d] for d in decodes) == Counter(expected)  # the batch's images, each exactly once


def test_a_cached_vlm_step_decodes_nothing_and_computes_no_pixels(vlm_data, tiny_vlm, tmp_path, decodes,
                                                                    monkeypatch):
    import fusionrs.vlm.train as vlm_train
    from fusionrs.vlm.train import load_base, train_vlm

    cfg = _vlm_cfg(vlm_data, tiny_vlm, tmp_path / "run", cache=True, feature_cache=str(tmp_path / "f.safetensors"))
    expected = _batch_keys(cfg)
    model, processor = load_base(cfg.base)
    pixel_calls = []
    image_processor = type(processor.image_processor)
    real_call = image_processor.__call__

    def counting_call(self, *args, **kwargs):
        pixel_calls.append(1)
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(image_processor, "__call__", counting_call)
    phases = {}
    real_fit = vlm_train.fit_vlm

    def fit(*args, **kwargs):
        phases["cache"] = (list(decodes), len(pixel_calls))
        summary = real_fit(*args, **kwargs)
        phases["step"] = (decodes[len(phases["cache"][0]):], len(pixel_calls) - phases["cache"][1])
        return summary

    monkeypatch.setattr(vlm_train, "fit_vlm", fit)
    assert train_vlm(cfg, model=model, processor=processor)["steps"] == 1
    names = _image_keys(vlm_data)
    assert Counter(names[d] for d in phases["cache"][0]) == Counter(expected)  # building the cache: once each
    assert phases["step"] == ([], 0)  # the step: no decode, no pixel values
    # a second run reuses the saved cache: nothing is decoded at all
    decodes.clear()
    model, processor = load_base(cfg.base)
    cfg.out = str(tmp_path / "again")
    assert train_vlm(cfg, model=model, processor=processor)["steps"] == 1
    assert decodes == []


@pytest.mark.parametrize("answer", ["a river goes through the green forest .", "Bright roofs,dark water!", " x"])
def test_encoding_from_image_token_counts_equals_encoding_the_images(vlm_data, tiny_vlm, answer):
    from transformers import AutoProcessor

    from fusionrs.vlm.data import caption_example, encode_example, load_rows

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    row = load_rows(vlm_data, "train")[0]
    example = caption_example(row, "rgb+ir", "ir_aware_caption", answer=answer)
    with_images = encode_example(processor, example)
    n = int((with_images["input_ids"] == processor.image_token_id).sum()) // 2
    from_tokens = encode_example(processor, example, image_tokens=[n, n])
    assert "pixel_values" in with_images and "pixel_values" not in from_tokens
    assert with_images["input_ids"].tolist() == from_tokens["input_ids"].tolist()
    assert with_images["labels"].tolist() == from_tokens["labels"].tolist()


# ------------------------------------------------------------------------------------------ CLIP


from tests import test_clip_train  # noqa: E402

tiny_data = test_clip_train.tiny_data  # the CLIP tests' 12 + 4 row folder, as a fixture


def test_building_the_clip_cache_decodes_each_image_once_and_a_cached_step_none(tiny_data, tmp_path, decodes,
                                                                                monkeypatch):
    import fusionrs.clip.features as clip_features
    from fusionrs.clip.train import ClipTrainConfig, train_clip

    built = {}
    real_build = clip_features.build_feature_cache

    def build(*args, **kwargs):
        cache = real_build(*args, **kwargs)
        built["decodes"] = list(decodes)
        return cache

    monkeypatch.setattr(clip_features, "build_feature_cache", build)
    cfg = ClipTrainConfig(data=str(tiny_data), init="tiny", out=str(tmp_path / "run"), steps=2, batch_size=6, lr=1e-3,
                          warmup=1, log_every=1, checkpoint_every=0, progress=False, seed=3, variant="trimodal",
                          cache_features=True, train_top_vision=1, train_top_text=1,
                          cache_root=str(tmp_path / "cache"))
    summary = train_clip(cfg)
    assert summary["steps"] == 2
    # every view (rgb, translated, grayscale) of every row from one decode of its RGB and its IR image
    assert sorted(Counter(built["decodes"]).values()) == [1] * (2 * 12)
    assert set(built["decodes"]) == set(_image_keys(tiny_data))
    assert decodes == built["decodes"]  # the training steps decode nothing


# ------------------------------------------------------------------------------------------ records


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_validating_pass_through_bytes_decodes_nothing_and_still_rejects_cut_bytes(monkeypatch, fmt):
    import io

    from PIL import ImageFile

    from fusionrs.data.schema import FusionRecord
    from fusionrs.errors import RecordError

    rng = np.random.default_rng(1)
    buffers = {}
    for name, array in (("rgb", rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)),
                        ("ir", rng.integers(0, 255, (40, 48), dtype=np.uint8))):
        buffers[name] = io.BytesIO()
        Image.fromarray(array).save(buffers[name], format=fmt)
    rgb, ir = buffers["rgb"].getvalue(), buffers["ir"].getvalue()
    loads = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):
        loads.append(self.format)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    record = FusionRecord(id="a", rgb=rgb, ir=ir, captions=["a field"],
                          objects=[{"label": "car", "bbox": [1, 1, 40, 30]}]).validate()
    assert loads == [] and record.to_row()["rgb"]["bytes"] == rgb  # header only, bytes untouched
    with pytest.raises(RecordError, match="rgb.*does not decode"):
        FusionRecord(id="a", rgb=rgb[: len(rgb) * 2 // 3], ir=ir, captions=["a field"]).validate()
    with pytest.raises(RecordError, match="ir.*mode is RGB, expected L"):
        FusionRecord(id="a", rgb=rgb, ir=rgb, captions=["a field"]).validate()
