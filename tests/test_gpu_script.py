"""benchmarks/gpu/all.sh --cpu-smoke: the GPU throughput script's code path, run on the CPU."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ALL_SH = REPO / "benchmarks" / "gpu" / "all.sh"


def _load_translator_bench():
    spec = importlib.util.spec_from_file_location("gpu_translator_bench", REPO / "benchmarks" / "gpu" / "translator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if shutil.which("bash") is None or shutil.which("timeout") is None:
        pytest.skip("needs bash and coreutils timeout")
    out = tmp_path_factory.mktemp("gpu")
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    nice = ["nice", "-n", "19"] if shutil.which("nice") else []
    proc = subprocess.run([*nice, "bash", str(ALL_SH), "--cpu-smoke"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    return proc, out


@pytest.mark.slow
def test_cpu_smoke_writes_positive_throughput(smoke):
    proc, out = smoke
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "gpu_translator.json").read_text())
    assert report["device"] == "cpu" and report["mode"] == "cpu-smoke"
    assert report["threads"] == 2
    assert report["torch"] and report["device_name"] and "cuda" in report
    assert not report["errors"]
    rows = report["results"]
    for model in ("base", "pix2pix_unet_256"):
        train = [r for r in rows if r["model"] == model and r["kind"] == "train"]
        infer = [r for r in rows if r["model"] == model and r["kind"] == "infer"]
        assert train and all(r["steps_per_s"] > 0 and r["train_images_per_s"] > 0 for r in train), model
        assert infer and all(r["images_per_s"] > 0 and r["size"] == 256 for r in infer), model
    assert report["models"]["base"]["pixel_shuffle"] == 4
    assert report["models"]["pix2pix_unet_256"]["params_generator"] > 50e6  # the exact unet_256 (54.4 M)
    assert "datasets" not in report["third_party_modules"]  # not on the device machine


def test_all_sh_rejects_unknown_arguments():
    proc = subprocess.run(["bash", str(ALL_SH), "--bogus"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "unknown argument" in proc.stderr


def test_plans_cover_the_issue_shapes():
    bench = _load_translator_bench()
    gpu = bench.GPU_PLAN
    assert (6, 128) in gpu["train_unet"] and (8, 256) in gpu["train_unet"]
    assert set(gpu["infer"]) == {(8, 256), (64, 256)} and gpu["precisions"] == ["fp32", "bf16"]
    assert bench.model_names(None)[:2] == ["base", bench.PIX2PIX]
    assert {"tiny", "small", "base", "large"} <= set(bench.model_names(None))


def test_time_it_median_of_repeats():
    bench = _load_translator_bench()
    calls = []
    clock = bench.Clock(bench.torch.device("cpu"))
    timed = bench.time_it(lambda: calls.append(1), clock, warmup=2, repeats=3, max_iters=4, repeat_s=10.0)
    assert timed["iters_per_repeat"] == 4 and len(timed["repeats_s"]) == 3
    assert len(calls) == 2 + 1 + 3 * 4  # warm-up, calibration, repeats
    assert timed["seconds_per_call"] >= 0
