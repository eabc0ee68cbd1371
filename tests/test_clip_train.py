"""Dual-modal CLIP: composition, losses, IR views, frozen-block cache, training, resume, CLI.

Tiny seeded models (hidden 32, 2 layers) on a 12-row dataset folder written in the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fusionrs.errors import FusionRSError

SIDE = 28


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """A FusionRS-shaped folder: train 12 rows / validation 4, parquet with embedded images."""
    import datasets

    root = tmp_path_factory.mktemp("clip_data")
    (root / "data").mkdir()
    rng = np.random.default_rng(0)
    words = ["river", "forest", "airport", "farmland", "bridge", "port", "desert", "park"]
    for split, n in (("train", 12), ("validation", 4)):
        rows = {"id": [], "rgb": [], "ir": [], "captions": [], "ir_captions": [], "class_name": []}
        for i in range(n):
            rgb = rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8)
            rows["id"].append(f"{split}-{i}")
            rows["rgb"].append(Image.fromarray(rgb))
            rows["ir"].append(Image.fromarray(rgb.mean(2).astype(np.uint8)[::-1].copy()))
            w = words[i % len(words)]
            rows["captions"].append([f"a {w} scene number {i}", f"an aerial view of a {w}"])
            rows["ir_captions"].append([f"in this infrared-style image, a bright {w}"] if i % 3 else [])
            rows["class_name"].append(w)
        features = datasets.Features({"id": datasets.Value("string"), "rgb": datasets.Image(), "ir": datasets.Image(),
                                      "captions": datasets.List(datasets.Value("string")),
                                      "ir_captions": datasets.List(datasets.Value("string")),
                                      "class_name": datasets.Value("string")})
        datasets.Dataset.from_dict(rows, features=features).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


# ------------------------------------------------------------------------------------------ losses


def test_infonce_matches_cross_entropy_by_hand():
    from fusionrs.clip.losses import TriModalLoss

    g = torch.Generator().manual_seed(0)
    rgb, ir, text = (torch.randn(5, 8, generator=g) for _ in range(3))
    scale = torch.tensor(2.0)
    loss = TriModalLoss(("rgb_text",))(rgb=rgb, text=text, logit_scale=scale)
    logits = scale.exp() * torch.nn.functional.normalize(rgb, dim=-1) @ torch.nn.functional.normalize(text, dim=-1).T
    by_hand = 0.0
    for m in (logits, logits.T):
        by_hand += -(torch.log_softmax(m, 1).diag()).mean() / 2
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)
    parts = TriModalLoss()(rgb=rgb, ir=ir, text=text, logit_scale=scale, output_dict=True)
    assert set(parts) == {"loss", "rgb_text", "ir_text", "rgb_ir"}
    assert parts["loss"].item() == pytest.approx(np.mean([parts[k].item() for k in ("rgb_text", "ir_text", "rgb_ir")]))


def test_aligned_embeddings_give_near_zero_loss_and_bad_pairs_fail():
    from fusionrs.clip.losses import TriModalLoss

    e = torch.eye(6)
    assert TriModalLoss()(rgb=e, ir=e, text=e, logit_scale=torch.tensor(4.6)).item() < 1e-3
    with pytest.raises(ValueError, match="pairs"):
        TriModalLoss(("rgb_depth",))
    with pytest.raises(ValueError, match="needs both"):
        TriModalLoss(("rgb_ir",))(rgb=e, text=e, logit_scale=torch.tensor(1.0))


# ------------------------------------------------------------------------------------------ views


def test_ir_views_and_caption_policies():
    from fusionrs.clip.views import VARIANTS, ir_view_image, pick_captions, resolve_variant

    rgb = Image.new("RGB", (4, 4), (200, 10, 10))
    ir = Image.new("L", (4, 4), 77)
    assert ir_view_image(rgb, ir, "translated") is ir
    assert ir_view_image(rgb, ir, "grayscale").mode == "L"
    assert ir_view_image(rgb, ir, "grayscale").getpixel((0, 0)) == rgb.convert("L").getpixel((0, 0))
    assert ir_view_image(rgb, ir, "rgb_duplicate").getpixel((0, 0)) == (200, 10, 10)
    assert resolve_variant("grayscale") == (("rgb_text", "ir_text", "rgb_ir"), "grayscale")
    assert resolve_variant("rgb_only") == (("rgb_text",), "translated")
    assert resolve_variant("dual_text", "rgb_duplicate")[1] == "rgb_duplicate"
    assert {"trimodal", "dual_text", "grayscale", "rgb_duplicate", "rgb_only"} <= set(VARIANTS)
    with pytest.raises(FusionRSError, match="unknown variant"):
        resolve_variant("quadmodal")
    rng = np.random.default_rng(0)
    assert pick_captions(["a", "b"], ["ir"], "ir_aware", rng)[1] == "ir"
    rgb_cap, ir_cap = pick_captions(["a", "b"], ["ir"], "original", rng)
    assert rgb_cap == ir_cap
    assert pick_captions(["a"], [], "ir_aware", rng) == ("a", "a")  # no IR-aware caption: fall back
    mixed = {pick_captions(["a"], ["ir"], "mixed", rng)[1] for _ in range(50)}
    assert mixed == {"a", "ir"}


# ------------------------------------------------------------------------------------------ compose


def test_tiny_folder_reloads_with_plain_transformers(tmp_path):
    from fusionrs.clip.compose import build_clip, save_clip

    model, processor = build_clip("tiny", seed=0)
    folder = save_clip(tmp_path / "tiny", model, processor, {"variant": "none"})
    assert json.loads((folder / "fusionrs_clip.json").read_text())["variant"] == "none"
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40), dtype=np.uint8))
    with torch.no_grad():
        px = processor(images=[image], return_tensors="pt")["pixel_values"]
        ours = model.get_image_features(pixel_values=px).pooler_output[0].tolist()
    code = (
        "import json, sys; from PIL import Image; import numpy as np, torch\n"
        "from transformers import AutoModel, AutoProcessor\n"
        "m = AutoModel.from_pretrained(sys.argv[1]); p = AutoProcessor.from_pretrained(sys.argv[1])\n"
        "img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40), dtype=np.uint8))\n"
        "px = p(images=[img], return_tensors='pt')['pixel_values']\n"
        "t = p(text=['a river'], return_tensors='pt', padding=True)\n"
        "with torch.no_grad(): f = m.get_image_features(pixel_values=px).pooler_output[0].tolist(); "
        "m.get_text_features(**t)\n"
        "print(json.dumps({'cls': type(m).__name__, 'px': list(px.shape), 'f': f, 'fusionrs': 'fusionrs' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["cls"] == "VisionTextDualEncoderModel" and not out["fusionrs"]
    assert out["px"] == [1, 3, SIDE, SIDE]  # the training image size travels with the folder
    assert np.allclose(out["f"], ours, atol=1e-5)


def test_offline_hub_id_and_bad_folder_fail_fast(tmp_path):
    from fusionrs.clip.compose import build_clip

    start = time.perf_counter()
    with pytest.raises(FusionRSError, match="HF_HUB_OFFLINE"):
        build_clip("openai/clip-vit-base-patch32")
    assert time.perf_counter() - start < 20
    (tmp_path / "empty").mkdir()
    with pytest.raises(FusionRSError, match="config.json"):
        build_clip(str(tmp_path / "empty"))


# ------------------------------------------------------------------------------------------ features


def test_split_forward_equals_stock_forward_and_cache(tiny_data, tmp_path):
    from fusionrs.clip.compose import build_clip
    from fusionrs.clip.features import (build_feature_cache, freeze_lower, text_lower, text_upper, vision_lower,
                                        vision_upper)

    model, processor = build_clip("tiny", seed=0)
    model.eval()
    images = [Image.new("RGB", (30, 30), (i * 40, 20, 200 - i * 30)) for i in range(3)]
    px = processor(images=images, return_tensors="pt")["pixel_values"]
    enc = processor.tokenizer(["a river", "many planes are parked near a long building"], padding=True, return_tensors="pt")
    with torch.no_grad():
        for k in (0, 1, 2):
            assert torch.allclose(vision_upper(model, vision_lower(model, px, k), k),
                                  model.get_image_features(pixel_values=px).pooler_output, atol=1e-5)
            hidden = text_lower(model, enc["input_ids"], enc["attention_mask"], k)
            assert torch.allclose(text_upper(model, hidden, enc["attention_mask"], k),
                                  model.get_text_features(**enc).pooler_output, atol=1e-5)
    names = freeze_lower(model, 1, 1)
    assert "vision_model.encoder.layer.1.mlp.fc1.weight" in names and "logit_scale" in names
    assert not any(n.startswith(("vision_model.encoder.layer.0.", "text_model.encoder.layer.0.", "text_model.embeddings"))
                   for n in names)

    cache = build_feature_cache(model, processor, tiny_data, frozen=(1, 1), root=tmp_path, progress=False)
    again = build_feature_cache(model, processor, tiny_data, frozen=(1, 1), root=tmp_path, progress=False)
    assert again.folder == cache.folder and len(cache) == 12
    assert set(cache.meta["views"]) == {"rgb", "translated", "grayscale"}
    assert [len(c) for c in cache.ir_captions[:3]] == [0, 1, 1]
    hidden, mask = cache.text_batch([cache.captions[0][0], cache.ir_captions[1][0]])
    assert hidden.shape[:2] == mask.shape and mask[0].sum() < mask[1].sum()
    assert cache.image_batch("rgb_duplicate", [3, 1]).shape == (2, 1 + (SIDE // 14) ** 2, 32)


# ------------------------------------------------------------------------------------------ training


def _cfg(tiny_data, out, **kw):
    from fusionrs.clip.train import ClipTrainConfig

    base = dict(data=str(tiny_data), init="tiny", out=str(out), steps=4, batch_size=6, lr=1e-3, warmup=1,
                log_every=1, checkpoint_every=2, progress=False, seed=3)
    base.update(kw)
    return ClipTrainConfig(**base)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_interrupted_and_resumed_run_equals_uninterrupted(tiny_data, tmp_path):
    from fusionrs.clip.train import train_clip

    full = train_clip(_cfg(tiny_data, tmp_path / "a"))
    # max_minutes=0 stops after the first step and checkpoints it: the "crash"
    cut = train_clip(_cfg(tiny_data, tmp_path / "b", max_minutes=0.0))
    assert cut["steps"] == 1 and "model" not in cut
    resumed = train_clip(_cfg(tiny_data, tmp_path / "b", resume=True))
    assert resumed["resumed_from"] == 1 and resumed["steps"] == 4
    a, b = _weights(tmp_path / "a" / "final"), _weights(tmp_path / "b" / "final")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in full["history"][1:]] == [r["loss"] for r in resumed["history"]]
    assert (tmp_path / "a" / "loss_curve.png").stat().st_size > 1000
    meta = json.loads((tmp_path / "a" / "final" / "fusionrs_clip.json").read_text())
    assert meta["variant"] == "trimodal" and meta["ir_view"] == "translated" and meta["caption_policy"] == "ir_aware"
    assert meta["budget"] == {"steps": 4, "batch_size": 6, "samples": 24} and meta["seed"] == 3


def test_cached_frozen_training_matches_live_frozen_training(tiny_data, tmp_path):
    from fusionrs.clip.train import train_clip

    common = dict(train_top_vision=1, train_top_text=1, variant="grayscale", steps=2, checkpoint_every=0,
                  cache_root=str(tmp_path / "cache"))
    live = train_clip(_cfg(tiny_data, tmp_path / "live", **common))
    cached = train_clip(_cfg(tiny_data, tmp_path / "cached", cache_features=True, **common))
    # same batches, same captions; only the fp16 storage of the cached states differs
    for a, b in zip(live["history"], cached["history"]):
        assert a["loss"] == pytest.approx(b["loss"], abs=2e-2)
    assert live["trainable_parameters"] < 0.8 * sum(v.numel() for v in _weights(tmp_path / "live" / "final").values())
    w0, w1 = _weights(tmp_path / "live" / "final"), _weights(tmp_path / "cached" / "final")
    frozen = "vision_model.encoder.layer.0.mlp.fc1.weight"
    assert torch.equal(w0[frozen], w1[frozen])


def test_cli_trains_rgb_only_and_rejects_bad_input(tiny_data, tmp_path, capsys):
    from fusionrs.cli.main import main

    out = tmp_path / "cli"
    rc = main(["train", "clip", "--init", "tiny", "--data", str(tiny_data), "--variant", "rgb_only", "--steps", "2",
               "--batch-size", "4", "--warmup", "0", "--out", str(out), "--no-progress", "--threads", "1"])
    assert rc == 0
    assert '"samples_per_second"' in capsys.readouterr().out
    meta = json.loads((out / "final" / "fusionrs_clip.json").read_text())
    assert meta["loss_pairs"] == ["rgb_text"]
    assert main(["train", "clip", "--init", "tiny", "--data", str(tmp_path / "nowhere"), "--steps", "1",
                 "--out", str(tmp_path / "x")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["train", "clip", "--init", "tiny", "--data", str(tiny_data), "--cache-features", "--steps", "1",
                 "--out", str(tmp_path / "y")]) == 2


@pytest.mark.slow
def test_two_cpu_processes_under_torchrun(tiny_data, tmp_path):
    """Data parallel on CPU. `accelerate launch --cpu --num_processes 2` starts ONE process (its simple
    launcher); torchrun + ACCELERATE_USE_CPU gives accelerate's MULTI_CPU (gloo) state."""
    import os
    import shutil

    fusionrs = shutil.which("fusionrs", path=str(Path(sys.executable).parent))
    out = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561", fusionrs,
         "train", "clip", "--init", "tiny", "--data", str(tiny_data), "--steps", "3", "--batch-size", "8",
         "--grad-accum", "2", "--warmup", "0", "--checkpoint-every", "2", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count('"samples_per_second"') == 2  # both ranks trained
    assert result.stdout.count('"model": null') == 1  # only rank 0 saved the folder
    meta = json.loads((out / "final" / "fusionrs_clip.json").read_text())
    assert meta["processes"] == 2 and meta["grad_accum"] == 2


def test_trains_from_a_clip_model_folder_unfrozen(tiny_data, tmp_path):
    """`--init FOLDER` with a CLIPModel (as the open_clip converter writes): full fine-tuning."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    from fusionrs.clip.clip_tokenizer import build_clip_tokenizer
    from fusionrs.clip.train import train_clip

    torch.manual_seed(0)
    config = CLIPConfig(text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                         vocab_size=49408, max_position_embeddings=77),
                        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=32, patch_size=16),
                        projection_dim=16)
    folder = tmp_path / "clip"
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=build_clip_tokenizer()).save_pretrained(folder)
    summary = train_clip(_cfg(tiny_data, tmp_path / "out", init=str(folder), steps=2, checkpoint_every=0,
                              variant="dual_text"))
    assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
    meta = json.loads((tmp_path / "out" / "final" / "fusionrs_clip.json").read_text())
    assert meta["frozen_blocks"] is None and meta["image_size"] == 32
    with pytest.raises(FusionRSError, match="Dinov2Model"):
        train_clip(_cfg(tiny_data, tmp_path / "bad", init=str(folder), train_top_vision=1))


@pytest.mark.parametrize("variant, images_per_row", [("trimodal", 2), ("rgb_only", 1), ("rgb_duplicate", 1),
                                                     ("grayscale", 1)])
def test_a_live_training_step_decodes_each_image_once(tiny_data, tmp_path, monkeypatch, variant, images_per_row):
    # Count the real decodes of datasets' Image feature during training (loading rows decodes nothing).
    import datasets.features.image as image_feature

    from fusionrs.clip.train import train_clip

    decoded = []
    real_decode = image_feature.Image.decode_example

    def counting_decode(self, value, token_per_repo_id=None):
        decoded.append(value.get("path") or len(value.get("bytes") or b""))
        return real_decode(self, value, token_per_repo_id=token_per_repo_id)

    monkeypatch.setattr(image_feature.Image, "decode_example", counting_decode)
    summary = train_clip(_cfg(tiny_data, tmp_path / variant, variant=variant, steps=2, batch_size=6,
                              checkpoint_every=0))
    assert summary["steps"] == 2
    assert len(decoded) == 2 * 6 * images_per_row  # steps x batch x (RGB [+ translated IR]), nothing twice


def test_data_loader_workers_build_the_same_steps_as_the_training_process(tiny_data):
    # Step N is a function of (seed, N): a worker process builds exactly the tensors the main process
    # would, and a feed that jumps (a resume) restarts at the asked step.
    from fusionrs.clip.compose import build_clip
    from fusionrs.clip.data import LiveData, StepBatches, StepFeed, load_rows

    _, processor = build_clip("tiny", image_size=32)
    steps = StepBatches(LiveData(load_rows(tiny_data, "train"), processor, 16), pairs=("rgb_text", "ir_text", "rgb_ir"),
                        ir_view="translated", caption_policy="mixed", seed=3, batch_size=4, grad_accum=2)
    inline, workers = StepFeed(steps, 4), StepFeed(steps, 4, num_workers=1)
    for step in (0, 1, 3):
        a, b = inline.micro_batches(step), workers.micro_batches(step)
        assert len(a) == len(b) == 2
        for x, y in zip(a, b):
            assert x.keys() == y.keys()
            for key in x:
                assert (x[key] is None) == (y[key] is None), key
                if x[key] is not None:
                    assert torch.equal(x[key], y[key]), (step, key)
    assert not torch.equal(inline.micro_batches(0)[0]["rgb"], inline.micro_batches(1)[0]["rgb"])
