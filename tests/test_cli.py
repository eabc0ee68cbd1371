"""The real `fusionrs` command, run as a user would (subprocess, console script)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

FUSIONRS = shutil.which("fusionrs", path=str(Path(sys.executable).parent)) or "fusionrs"


def run_cli(*args, cwd=None, timeout=300):
    return subprocess.run([FUSIONRS, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_help_lists_subcommands_without_importing_torch():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "synth", "check-images", "env"):
        assert command in result.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom fusionrs.cli.main import main\ntry:\n    main(['--help'])\n"
         "except SystemExit:\n    pass\nprint('torch' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "args, message",
    [
        (["synth", "--size", "9", "--out", "x"], "expected an integer within 64-512, got 9"),
        (["synth", "--n", "zero", "--out", "x"], "expected a positive integer"),
        (["no-such-command"], "invalid choice"),
        (["check-images", "definitely/not/here.png"], "definitely/not/here.png: no such file"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_env_prints_versions():
    result = run_cli("env")
    assert result.returncode == 0
    assert "datasets" in json.loads(result.stdout)["libraries"]


def test_check_images_reports_bad_files_and_keeps_going(bad_inputs, tmp_path):
    folder = Path(next(iter(bad_inputs.values()))).parent
    report_path = tmp_path / "report.json"
    result = run_cli("check-images", folder, "--json", report_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(report_path.read_text())
    failed = {Path(item["path"]).name for item in report["failed"]}
    assert {Path(bad_inputs["truncated_jpeg"]).name, Path(bad_inputs["empty"]).name,
            Path(bad_inputs["text_png"]).name} <= failed
    assert report["ok"], "good files in the same folder must still be read"
    assert run_cli("check-images", folder, "--strict").returncode == 1


def test_synth_writes_a_loadable_folder(tmp_path):
    out = tmp_path / "world"
    result = run_cli("synth", "--n", 10, "--size", 64, "--seed", 3, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote 10 scenes to {out}" in result.stdout
    ds = datasets.load_dataset(str(out))
    assert sum(len(ds[s]) for s in ds) == 10 and ds["train"][0]["rgb"].size == (64, 64)
    again = run_cli("synth", "--n", 10, "--size", 64, "--out", out)
    assert again.returncode == 2 and "exists and is not empty" in again.stderr


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--n", 12, "--size", 64, "--translator-steps", 20, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"output in {out.resolve()}" in result.stdout
    assert (out / "samples.png").stat().st_size > 1000
    fit = json.loads((out / "linear_fit.json").read_text())
    assert fit["rmse_same_colour_pairs"] > 20, "RGB colour cannot explain the world's IR"
    evaluation = json.loads((out / "translator_eval.json").read_text())
    assert evaluation["steps"] == 20 and "psnr_linear" in evaluation


def test_inspect_prints_counts_and_writes_grids(tmp_path):
    out = tmp_path / "world"
    assert run_cli("synth", "--n", 10, "--size", 64, "--out", out).returncode == 0
    result = run_cli("inspect", out, "--out", tmp_path / "inspect", "--samples", 3)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "train: 8 rows" in result.stdout and "fusionrs_world 8" in result.stdout
    summary = json.loads((tmp_path / "inspect" / "summary.json").read_text())
    assert summary["splits"]["train"]["captions_per_row"] == 5
    assert (tmp_path / "inspect" / "samples_train.png").stat().st_size > 1000
