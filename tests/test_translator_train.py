"""Training the translator: loss goes down on world pairs, resume equals uninterrupted, licences travel,
and the eval CLI writes results with baselines and CIs."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from fusionrs.translate.train import TrainConfig, train  # noqa: E402


def _cfg(out, **kw):
    base = dict(out=str(out), preset="tiny", world=4, world_size=64, steps=4, batch_size=2, crop=32, lr=3e-3, warmup=1,
                seed=0, log_every=1, sample_every=0, checkpoint_every=2, progress=False, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def _weights(folder):
    from diffusers import UNet2DModel

    return UNet2DModel.from_pretrained(str(folder), subfolder="unet").state_dict()


def test_loss_goes_down_on_world_pairs(tmp_path):
    from fusionrs.translate.data import world_pairs
    from fusionrs.translate.model import build_unet, translate_tensor

    train(_cfg(tmp_path / "a", steps=30, batch_size=4, adv=0.0, checkpoint_every=0))
    held_out = world_pairs(range(2), seed=5, size=64).pairs
    x = torch.stack([torch.from_numpy(p.rgb).permute(2, 0, 1).float() / 127.5 - 1 for p in held_out])
    y = torch.stack([torch.from_numpy(p.ir).float()[None] / 255 for p in held_out])

    def l1(unet):
        with torch.no_grad():
            return float((translate_tensor(unet, x, pixel_shuffle=2) - y).abs().mean())

    from diffusers import UNet2DModel

    trained = UNet2DModel.from_pretrained(str(tmp_path / "a" / "final"), subfolder="unet")
    assert l1(trained) < 0.95 * l1(build_unet("tiny", seed=0))
    config = json.loads((tmp_path / "a" / "final" / "translator_config.json").read_text())
    # CC0 world data only: the card's licence (apache-2.0, commercial use allowed), from the same rule
    assert config["licence"] == "apache-2.0" and config["commercial_use"] is True
    assert config["training_data"] == ["world"]


def test_resume_matches_uninterrupted(tmp_path):
    full = train(_cfg(tmp_path / "full"))
    # an "interrupted" run: only the step-2 checkpoint of the same settings survives
    (tmp_path / "part" / "checkpoints").mkdir(parents=True)
    shutil.copytree(tmp_path / "full" / "checkpoints" / "step_000002", tmp_path / "part" / "checkpoints" / "step_000002")
    resumed = train(_cfg(tmp_path / "part", resume=True))
    assert resumed["resumed_from"] == 2
    a, b = _weights(tmp_path / "full" / "final"), _weights(tmp_path / "part" / "final")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert [h["l1"] for h in full["history"][2:]] == pytest.approx([h["l1"] for h in resumed["history"]], abs=1e-6)


def test_llvip_pairs_make_the_model_non_commercial(tmp_path):
    folder = tmp_path / "llvip"
    rng = np.random.default_rng(0)
    for sub in ("rgb", "ir"):
        (folder / sub).mkdir(parents=True)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)).save(folder / "rgb" / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (48, 56), dtype=np.uint8)).convert("RGB").save(folder / "ir" / f"{i}.jpg")
    train(_cfg(tmp_path / "m", pairs=[str(folder)], world=0, steps=1, checkpoint_every=0))
    config = json.loads((tmp_path / "m" / "final" / "translator_config.json").read_text())
    assert config["licence"] == "non-commercial" and config["commercial_use"] is False
    assert "llvip" in config["training_data"]
    card = (tmp_path / "m" / "final" / "README.md").read_text()
    assert "Licence: non-commercial" in card and "license_name: non-commercial" in card


def test_eval_cli_on_world_pairs(tmp_path):
    from fusionrs.translate.model import build_unet
    from fusionrs.translate.train import save_translator

    save_translator(tmp_path / "tiny", build_unet("tiny"), pixel_shuffle=2, preset="tiny", sources=["world"])
    out = tmp_path / "eval.json"
    cmd = [sys.executable, "-m", "fusionrs.cli.main", "eval", "translator", "--model", str(tmp_path / "tiny"),
           "--pairs", "world:3", "--linear-from", "world:3", "--world-size", "64", "--json", str(out),
           "--sheet", str(tmp_path / "sheet.png")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(out.read_text())
    res = payload["results"]
    assert set(res["systems"]) == {"model", "grayscale", "inverted_grayscale", "linear"}
    assert len(res["systems"]["model"]["per_image"]) == 3
    assert "rmse_same_colour" in res["systems"]["linear"]["pooled"]
    ci = res["vs_baselines"]["linear"]["psnr"]
    assert ci["low"] <= ci["mean_diff"] <= ci["high"]
    assert payload["command"].startswith("fusionrs eval translator") and (tmp_path / "sheet.png").is_file()
