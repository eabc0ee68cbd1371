"""`fusionrs reproduce --preset smoke`: every stage end to end through the real CLI, then resume."""

from __future__ import annotations

import json
import time

import pytest

from tests.test_cli import run_cli

STAGES = ["world", "translator", "build", "clip", "vlm"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "smoke"
    start = time.perf_counter()
    proc = run_cli("reproduce", "--preset", "smoke", "--out", str(out), "--quiet", timeout=600)
    return out, proc, time.perf_counter() - start


def test_smoke_reproduction_writes_every_stage_and_the_report(smoke_run):
    out, proc, seconds = smoke_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert list(results["stages"]) == STAGES
    assert results["seed"] == 0 and "environment" in results
    # translator fidelity vs its baselines, on held-out scenes
    systems = results["stages"]["translator"]["systems"]
    assert {"model", "linear", "grayscale"} <= set(systems)
    assert all(10 < s["psnr"] < 40 for s in systems.values())
    # a dataset with translated IR and IR-aware captions, in grouped splits
    build = results["stages"]["build"]
    assert set(build["splits"]) == {"train", "validation"} and sum(build["splits"].values()) == 40
    # the CLIP ablation table: every variant + the untrained start, Mean Recall in [0, 100]
    clip = results["stages"]["clip"]["evaluations"]
    assert set(clip) == {"untrained", "trimodal", "dual_text", "grayscale", "rgb_only"}
    assert all(0 <= e["mean_recall"] <= 100 for e in clip.values())
    # captioning metrics of the trained captioner
    vlm = results["stages"]["vlm"]
    assert {"BLEU-4", "CIDEr-D", "ROUGE-L"} <= set(vlm["metrics"])
    report = (out / "report.md").read_text()
    for heading in ("translator fidelity", "CLIP ablation", "Captioning"):
        assert heading.lower() in report.lower()
    assert (out / "build" / "samples.png").stat().st_size > 1000
    assert (out / "clip" / "trimodal" / "loss_curve.png").exists()


def test_rerun_resumes_every_finished_stage(smoke_run):
    out, proc, _ = smoke_run
    assert proc.returncode == 0
    again = run_cli("reproduce", "--preset", "smoke", "--out", str(out), "--quiet", timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("done earlier") == len(STAGES)


def test_another_preset_into_the_same_folder_is_refused(smoke_run):
    out, proc, _ = smoke_run
    assert proc.returncode == 0
    refused = run_cli("reproduce", "--preset", "mini", "--out", str(out), "--quiet", timeout=120)
    assert refused.returncode == 2
    assert "other settings" in refused.stderr and "\n" not in refused.stderr.strip()


def test_results_json_has_no_timings_and_no_local_paths(smoke_run):
    out, proc, _ = smoke_run
    assert proc.returncode == 0
    text = (out / "results.json").read_text()
    results = json.loads(text)
    assert str(out.resolve()) not in text and str(out) not in text
    assert results["threads"] == 2 and results["environment"]["torch_threads"] == 2
    assert results["environment"]["cpu_flags"]["all_sha256"]
    timing = json.loads((out / "timing.json").read_text())
    assert set(timing["stages"]) == set(STAGES) and timing["total_seconds"] >= 0  # 0 after a full resume
    assert all(stage["seconds"] > 0 for stage in timing["stages"].values())
    for key in ("seconds", "total_seconds", "samples_per_second", "train_tokens_per_s", "over_budget"):
        assert f'"{key}"' not in text
    assert results["stages"]["build"]["dataset_dir"] == "build/dataset"


def test_a_second_run_gives_a_bit_identical_results_json(smoke_run, tmp_path):
    """Seeded, fixed steps and threads: the same machine gives the same results.json byte for byte."""
    out, proc, _ = smoke_run
    assert proc.returncode == 0
    again = tmp_path / "smoke"
    second = run_cli("reproduce", "--preset", "smoke", "--out", str(again), "--quiet", timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (again / "results.json").read_text() == (out / "results.json").read_text()
