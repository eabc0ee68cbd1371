"""benchmarks/pix2pix.py (the classic paired peer) and the evaluator hooks it is scored through:
network shapes and the 70x70 receptive field, a training step, bit-identical kill + resume, the
translator's training names, `screening_split`, and `fusionrs eval translator --predictions`."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from fusionrs.translate.data import roadscene_val_names, screening_split, split_roadscene
from tests.conftest import REPO_ROOT


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("pix2pix_benchmark", REPO_ROOT / "benchmarks" / "pix2pix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


P = _load_benchmark()
VAL = roadscene_val_names()[:3]  # three committed validation names: must never be trained on


@pytest.fixture(scope="module")
def fake_roadscene(tmp_path_factory):
    """36 generated pairs in a folder named roadscene: 3 validation names + 33 others (11 tune, 20 held out, 2 train)."""
    folder = tmp_path_factory.mktemp("pairs") / "roadscene"
    rng = np.random.default_rng(0)
    (folder / "rgb").mkdir(parents=True)
    (folder / "ir").mkdir()
    for name in VAL + [f"GEN_{i:03d}" for i in range(33)]:
        rgb = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
        Image.fromarray(rgb).save(folder / "rgb" / f"{name}.png")
        Image.fromarray((255 - rgb.mean(axis=2)).astype(np.uint8)).save(folder / "ir" / f"{name}.png")
    return folder


def _cfg(folder, out, **kw):
    base = dict(pairs=[str(folder)], tune=11, seed=0, out=str(out), ngf=8, ndf=8, threads=2, checkpoint_every=0,
                log_every=1, n_epochs=1, n_epochs_decay=1)
    return P.Pix2PixConfig(**{**base, **kw})


def test_generator_and_patchgan_shapes_and_70px_receptive_field():
    torch.manual_seed(0)
    g = P.init_weights(P.pix2pix_unet_256()).eval()
    assert abs(sum(p.numel() for p in g.parameters()) / 1e6 - 54.41) < 0.01
    with torch.no_grad():
        y = g(torch.rand(1, 3, 256, 256) * 2 - 1)
    assert y.shape == (1, 1, 256, 256) and y.abs().max() <= 1
    d = P.init_weights(P.NLayerDiscriminator(4, 64, 3)).eval()  # eval: BatchNorm is then per-pixel, not global
    x = torch.zeros(1, 4, 256, 256, requires_grad=True)
    logits = d(x)
    assert logits.shape == (1, 1, 30, 30)
    logits[0, 0, 15, 15].backward()
    rows, cols = np.nonzero(x.grad[0].abs().sum(0).numpy())
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_training_pairs_are_the_translators(fake_roadscene):
    pairs, sources = P.training_pairs(_cfg(fake_roadscene, "unused"))
    names = sorted(p.name for p in pairs)
    assert names == split_roadscene(fake_roadscene, tune=11, seed=0)["train"] and sources == ["roadscene"]
    assert not set(names) & (set(VAL) | set(split_roadscene(fake_roadscene, tune=11)["tune"])) and len(names) == 22


def test_screening_split_extends_the_tuning_slice(fake_roadscene):
    s = screening_split(fake_roadscene)
    assert s["tune"] == split_roadscene(fake_roadscene, tune=11)["tune"] and len(s["held_out"]) == 20
    assert s["train"] == split_roadscene(fake_roadscene, tune=31)["train"] and len(s["train"]) == 2
    assert sorted(s["tune"] + s["held_out"]) == s["screening"] and s["validation"] == sorted(VAL)
    assert not set(s["screening"]) & (set(s["train"]) | set(VAL))
    assert screening_split(fake_roadscene) == s  # deterministic


@pytest.fixture(scope="module")
def runs(fake_roadscene, tmp_path_factory):
    """An uninterrupted 3-step run, and the same run stopped after 1 step (max_minutes=0) then resumed."""
    root = tmp_path_factory.mktemp("runs")
    full = P.train(_cfg(fake_roadscene, root / "full", max_steps=3))
    killed = P.train(_cfg(fake_roadscene, root / "part", max_steps=3, max_minutes=0))
    first = {k: v.clone() for k, v in P.load_generator(root / "part" / "final").state_dict().items()}
    resumed = P.train(_cfg(fake_roadscene, root / "part", max_steps=3, resume=True))
    return root, full, killed, first, resumed


def test_one_step_is_finite_and_kill_resume_is_bit_identical(runs):
    root, full, killed, first, resumed = runs
    assert full["steps"] == 3 and full["stopped"] == "done" and full["threads"] == 2
    assert len(full["loadavg_start"]) == 3 and full["n_train"] == 22 and full["wall_seconds_this_run"] > 0
    log = [json.loads(line) for line in (root / "full" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and all(np.isfinite([r[k] for k in ("g_gan", "g_l1", "d_real", "d_fake")]).all() for r in log)

    assert killed["steps"] == 1 and killed["stopped"] == "max_minutes"
    assert all(torch.isfinite(v.float()).all() for v in first.values())  # one step: no NaN anywhere
    assert resumed["resumed_from"] == 1 and resumed["steps"] == 3

    from safetensors.torch import load_file

    for name in ("generator", "discriminator"):
        a = load_file(str(root / "full" / "checkpoints" / "step_000003" / f"{name}.safetensors"))
        b = load_file(str(root / "part" / "checkpoints" / "step_000003" / f"{name}.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert json.loads((root / "part" / "train_summary.json").read_text())["steps"] == 3


def test_predictions_are_scored_by_fusionrs_eval_translator(fake_roadscene, runs, tmp_path):
    model = runs[0] / "full" / "final"
    written = P.predict_folder(model, fake_roadscene, tmp_path / "pred", split="tune")  # only what is scored
    assert sorted(p.stem for p in written) == screening_split(fake_roadscene)["tune"]
    assert Image.open(written[0]).size == (60, 40) and Image.open(written[0]).mode == "L"
    # deterministic (dropout is seeded per image, BatchNorm running statistics untouched)
    again = P.predictor(model)([np.asarray(Image.open(fake_roadscene / "rgb" / written[0].name).convert("RGB"))])
    assert np.array_equal(again[0], np.asarray(Image.open(written[0])))

    out = tmp_path / "eval.json"
    cmd = [sys.executable, "-m", "fusionrs.cli.main", "eval", "translator", "--predictions", str(tmp_path / "pred"),
           "--pairs", str(fake_roadscene), "--split", "tune", "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    res = json.loads(out.read_text())["results"]
    assert res["n"] == 11 and res["split"] == "tune" and res["model"].startswith("predictions:")
    assert {r["name"] for r in res["systems"]["model"]["per_image"]} == set(screening_split(fake_roadscene)["tune"])
    ci = res["vs_baselines"]["linear"]["psnr"]
    assert ci["low"] <= ci["mean_diff"] <= ci["high"]

    (tmp_path / "pred" / f"{res['systems']['model']['per_image'][0]['name']}.png").unlink()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 2 and "no prediction for 1 of 11 pairs" in result.stderr


def test_eval_splits_score_and_fit_on_disjoint_names(fake_roadscene):
    from types import SimpleNamespace

    from fusionrs.errors import FusionRSError
    from fusionrs.translate.eval_sets import eval_pairs, linear_pairs

    s = screening_split(fake_roadscene)
    for split in ("tune", "screening"):
        args = SimpleNamespace(split=split, seed=0, world_seed=7, world_size=32)
        scored = {p.name for p in eval_pairs(str(fake_roadscene), args)}
        fitted = {p.name for p in linear_pairs(None, str(fake_roadscene), args)}
        assert scored == set(s[split]) and fitted == set(s["train"])
    default = SimpleNamespace(seed=0, world_seed=7, world_size=32)  # benchmarks/translator.py passes no split
    assert {p.name for p in eval_pairs(str(fake_roadscene), default)} == set(VAL)
    with pytest.raises(FusionRSError, match="needs a RoadScene folder"):
        eval_pairs("world:2", SimpleNamespace(split="tune", world_seed=7, world_size=32))
