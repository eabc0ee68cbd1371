"""The one-step translator: presets, pipeline (pad/crop, any mode, determinism, tiling), stock loading,
from_pretrained in a fresh process, the `fusionrs:DIR` builder translator and the linear baseline."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from fusionrs.translate.model import build_unet, list_presets, load_preset, pad_multiple, translate_tensor  # noqa: E402


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    from fusionrs.translate.train import save_translator

    folder = tmp_path_factory.mktemp("tr") / "tiny"
    unet = build_unet("tiny", seed=3)
    save_translator(folder, unet, pixel_shuffle=load_preset("tiny")["pixel_shuffle"], preset="tiny", sources=["world"])
    return folder


@pytest.fixture(scope="module")
def pipe(tiny_folder):
    from fusionrs.pipelines import RGBToIRPipeline

    return RGBToIRPipeline.from_pretrained(str(tiny_folder))


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_presets_are_data():
    names = list_presets()
    assert names[:1] == ["tiny"] and {"base", "large"} <= set(names)
    with pytest.raises(ValueError, match="unknown translator preset"):
        load_preset("huge")
    unet = build_unet("tiny")
    assert unet.config.in_channels == 12 and unet.config.out_channels == 4
    assert pad_multiple(unet, 2) == 4


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_pipeline_any_mode_odd_size(pipe, mode):
    image = Image.fromarray(_rgb(37, 51)).convert(mode)
    out = pipe(image).images[0]
    assert out.mode == "L" and out.size == (51, 37)


def test_pipeline_deterministic_and_batch_independent(pipe):
    a, b, c = (Image.fromarray(_rgb(40, 44, s)) for s in range(3))
    odd = Image.fromarray(_rgb(21, 33, 5))
    alone = np.asarray(pipe(a).images[0])
    together = pipe([a, odd, b, c]).images
    assert np.array_equal(alone, np.asarray(together[0]))
    assert np.array_equal(alone, np.asarray(pipe(a).images[0]))
    assert together[1].size == (33, 21)


def test_pipeline_tiles_large_images(pipe):
    image = Image.fromarray(_rgb(70, 90))
    tiled = pipe(image, tile_size=32, tile_overlap=8).images[0]
    assert tiled.size == (90, 70)
    with pytest.raises(ValueError, match="tile_size"):
        pipe(image, tile_size=2)


def test_stock_unet_loads_and_gives_the_same_output(tiny_folder, pipe):
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(str(tiny_folder), subfolder="unet")
    assert (tiny_folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    rgb = _rgb(32, 48)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        stock = translate_tensor(unet, x, pixel_shuffle=2)[0, 0].numpy()
    ours = pipe(Image.fromarray(rgb), output_type="np").images[0]
    np.testing.assert_allclose(stock, ours, atol=1e-6)


def test_pipeline_from_pretrained_in_fresh_process(tiny_folder):
    code = (
        "import fusionrs, numpy as np\n"
        "from PIL import Image\n"
        "from fusionrs.pipelines import RGBToIRPipeline\n"
        f"p = RGBToIRPipeline.from_pretrained({str(tiny_folder)!r})\n"
        "out = p(Image.new('RGB', (30, 20), (10, 200, 30))).images[0]\n"
        "print(type(p).__name__, out.size, out.mode)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RGBToIRPipeline (30, 20) L" in result.stdout
    index = json.loads((tiny_folder / "model_index.json").read_text())
    assert index["_class_name"] == "RGBToIRPipeline" and index["pixel_shuffle"] == 2


def test_get_translator_specs(tiny_folder, tmp_path):
    from fusionrs.translate import get_translator
    from fusionrs.translate.base import LinearTranslator

    t = get_translator(f"fusionrs:{tiny_folder}")
    outs = t.translate([Image.fromarray(_rgb(19, 23)), Image.fromarray(_rgb(64, 64)).convert("L")])
    assert [o.size for o in outs] == [(23, 19), (64, 64)] and all(o.mode == "L" for o in outs)
    assert t.params["preset"] == "tiny" and t.params["licence"] == "apache-2.0"  # CC0 world data only

    rgb = _rgb(16, 16)
    ir = (0.2 * rgb[..., 0] + 0.5 * rgb[..., 1] + 0.1 * rgb[..., 2] + 7).astype(np.float64)
    fit = LinearTranslator.fit([(rgb, ir)])
    np.testing.assert_allclose(fit.coef, [0.2, 0.5, 0.1, 7], atol=1e-6)
    path = fit.save(tmp_path / "linear.json")
    loaded = get_translator(f"linear:{path}")
    assert loaded.translate([Image.fromarray(rgb)])[0].size == (16, 16)
    with pytest.raises(ValueError, match="unknown translator"):
        get_translator("nope")
    with pytest.raises(FileNotFoundError):
        get_translator(f"fusionrs:{tmp_path}")


def test_build_cli_with_fusionrs_translator(tiny_folder, tmp_path):
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "fusionrs.cli.main", "build", "synth:8", "--synth-size", "64",
           "--translator", f"fusionrs:{tiny_folder}", "--out", str(out), "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    import datasets

    ds = datasets.load_dataset(str(out))
    row = next(iter(ds[next(iter(ds))]))
    assert row["ir"].mode == "L" and row["ir"].size == row["rgb"].size


def test_world_pairs_can_fix_the_hour():
    from fusionrs.translate.data import world_pairs

    day = world_pairs(range(2), seed=4, size=64, time_of_day=13.0).pairs
    again = world_pairs(range(2), seed=4, size=64, time_of_day=13.0).pairs
    night = world_pairs(range(2), seed=4, size=64, time_of_day=23.0).pairs
    assert all(np.array_equal(a.ir, b.ir) and np.array_equal(a.rgb, b.rgb) for a, b in zip(day, again))
    assert all(not np.array_equal(a.ir, b.ir) for a, b in zip(day, night)), "the IR follows the hour"
