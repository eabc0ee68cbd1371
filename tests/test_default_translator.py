"""The packaged default translator (`builtin:default`): committed fp16 weights <= 10 MB, offline loading
in a fresh process and from an installed wheel, the build default, and the export command's limit."""

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_cli import run_cli

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGED = REPO_ROOT / "fusionrs" / "weights" / "translator"
WEIGHTS = "unet/diffusion_pytorch_model.safetensors"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_UPDATE_DOWNLOAD_COUNTS": "0"}
LOAD_DEFAULT = (
    "import fusionrs, numpy as np\n"
    "from fusionrs.pipelines import RGBToIRPipeline\n"
    "from fusionrs.weights import default_translator_dir\n"
    "pipe = RGBToIRPipeline.from_pretrained(default_translator_dir())\n"
    "ir = pipe(np.full((20, 28, 3), 90, np.uint8)).images[0]\n"
    "print(fusionrs.__file__)\n"
    "print('loaded', pipe.unet.dtype, ir.mode, ir.size)\n"
)


def _offline_env() -> dict:
    return {**os.environ, **OFFLINE, "OMP_NUM_THREADS": "1"}


def test_packaged_folder_is_fp16_and_small():
    from safetensors import safe_open

    from fusionrs.weights import DEFAULT_TRANSLATOR_SPEC, default_translator_dir

    assert default_translator_dir() == PACKAGED.resolve() and DEFAULT_TRANSLATOR_SPEC == "builtin:default"
    for name in ("model_index.json", "pipeline.py", "translator_config.json", "README.md", "unet/config.json", WEIGHTS):
        assert (PACKAGED / name).is_file(), name
    assert (PACKAGED / WEIGHTS).stat().st_size <= 10_000_000
    with safe_open(str(PACKAGED / WEIGHTS), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes == {"F16"}
    config = json.loads((PACKAGED / "translator_config.json").read_text())
    # its recorded terms ("research use only, non-commercial") decide it, by the rule every card uses
    assert config["licence"] == "non-commercial" and config["commercial_use"] is False
    assert config["training_command"].startswith("fusionrs train translator ")
    card = (PACKAGED / "README.md").read_text()
    for needle in ("builtin:default", "research-only", "Commercial use: no", config["training_command"],
                   "RoadScene states no licence", ", ".join(config["training_data"])):
        assert needle in card, needle


def test_get_translator_builtin_default_translates():
    from fusionrs.translate import get_translator

    translator = get_translator("builtin:default")
    assert translator.name == "builtin:default" and translator.params["licence"] == "non-commercial"
    assert len(translator.params["weights_sha256"]) == 16
    rng = np.random.default_rng(0)
    outs = translator.translate([Image.fromarray(rng.integers(0, 255, (24, 36, 3), dtype=np.uint8))])
    assert outs[0].mode == "L" and outs[0].size == (36, 24)


def test_fp16_weights_load_as_float32_and_match_fp32(tmp_path):
    """fp16 storage changes outputs by at most ~1e-2 against the same weights in fp32."""
    import torch
    from safetensors.torch import load_file, save_file

    from fusionrs.pipelines import RGBToIRPipeline
    from fusionrs.weights import default_translator_dir

    fp32 = tmp_path / "fp32"
    for name in ("model_index.json", "unet/config.json"):
        (fp32 / name).parent.mkdir(parents=True, exist_ok=True)
        (fp32 / name).write_bytes((PACKAGED / name).read_bytes())
    save_file({k: v.float() for k, v in load_file(PACKAGED / WEIGHTS).items()}, fp32 / WEIGHTS)
    packaged = RGBToIRPipeline.from_pretrained(default_translator_dir())
    assert packaged.unet.dtype == torch.float32
    assert RGBToIRPipeline.from_pretrained("builtin:default").unet.dtype == torch.float32
    rgb = np.random.default_rng(1).integers(0, 255, (32, 40, 3), dtype=np.uint8)
    a = packaged(rgb, output_type="np").images[0]
    b = RGBToIRPipeline.from_pretrained(str(fp32))(rgb, output_type="np").images[0]
    assert np.abs(a - b).max() < 1e-2


def test_loads_in_a_fresh_offline_process(tmp_path):
    result = subprocess.run([sys.executable, "-c", LOAD_DEFAULT], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env=_offline_env())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loaded torch.float32 L (28, 20)" in result.stdout


@pytest.mark.slow
def test_wheel_ships_and_loads_the_default_translator(tmp_path):
    """Build a wheel, install it alone into a fresh venv and load the translator from outside the repo."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(["nice", "-n", "19", sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", str(REPO_ROOT), "-w", str(wheels)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(wheels.glob("fusionrs-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for name in ("model_index.json", "pipeline.py", "translator_config.json", "README.md", "unet/config.json", WEIGHTS):
        assert f"fusionrs/weights/translator/{name}" in names, name

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # --system-site-packages reaches the base interpreter only; the test venv's dependencies (torch,
    # diffusers) come through a plain path entry, which (unlike a site dir) runs none of its .pth
    # files, so the repo's editable install stays invisible and fusionrs comes from the wheel.
    (next(venv.glob("lib/python*/site-packages")) / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in _offline_env().items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run([str(python), "-c", LOAD_DEFAULT], capture_output=True, text=True, timeout=120,
                            cwd=run_dir, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    installed = Path(result.stdout.splitlines()[0]).resolve()
    assert installed.is_relative_to(venv.resolve()), installed
    assert "loaded torch.float32 L (28, 20)" in result.stdout


def test_build_without_translator_uses_builtin_default(shared_data, tmp_path):
    import datasets

    out = tmp_path / "ds"
    result = run_cli("build", f"rsicd:{shared_data / 'rsicd_aid'}", "--limit-per-source", 6, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "translator: builtin:default" in result.stdout and "research-only" in result.stdout
    ds = datasets.load_dataset(str(out))
    row = next(iter(ds[next(iter(ds))]))
    sha = json.loads(row["provenance"]["translator_params"])["weights_sha256"]
    assert row["provenance"]["translator"] == "builtin:default" and len(sha) == 16
    card = (out / "README.md").read_text()
    assert "builtin:default" in card and sha in card
    assert "license: other" in card and "forbid commercial use" in card


def test_export_refuses_weights_over_the_limit(tmp_path):
    out = tmp_path / "release"
    result = run_cli("export", "translator", "--model", PACKAGED, "--out", out, "--max-bytes", 1000)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "over the" in lines[0] and "limit" in lines[0] and str(PACKAGED) in lines[0], lines
    assert not out.exists() and not list(tmp_path.glob(".release.tmp-*"))


def test_export_writes_a_release_folder(tmp_path):
    from fusionrs.translate.package import export_translator, training_command

    out = export_translator(PACKAGED, tmp_path / "release", command="fusionrs train translator --steps 1")
    config = json.loads((out / "translator_config.json").read_text())
    assert config["training_command"] == "fusionrs train translator --steps 1" and config["commercial_use"] is False
    assert "fusionrs train translator --steps 1" in (out / "README.md").read_text()
    assert training_command({"steps": 7, "pairs": ["a", "b"], "seed": 0}) == \
        "fusionrs train translator --steps 7 --pairs a --pairs b"


def test_new_weights_under_the_same_spec_refuse_stale_chunks(tmp_path):
    """Chunks staged by one set of weights are never reused for another, even under the same spec."""
    import shutil

    from safetensors.torch import load_file, save_file

    from fusionrs.data.build import BuildConfig, build_dataset
    from fusionrs.data.sources import parse_source
    from fusionrs.errors import FusionRSError

    folder = tmp_path / "translator"
    shutil.copytree(PACKAGED, folder)
    config = BuildConfig(sources=[parse_source("synth:4")], synth_size=32, translator=f"fusionrs:{folder}")
    work = tmp_path / "work"
    build_dataset(config, tmp_path / "a", work_dir=work, progress=False)
    again = build_dataset(config, tmp_path / "b", work_dir=work, progress=False)
    assert again.chunks_reused > 0 and again.chunks_staged == 0  # same weights: reused
    weights = load_file(folder / WEIGHTS)
    first = sorted(weights)[0]
    weights[first] = weights[first] + 0.01
    save_file(weights, folder / WEIGHTS)
    with pytest.raises(FusionRSError, match="translator or its weights"):
        build_dataset(config, tmp_path / "c", work_dir=work, progress=False)
