"""Artefacts name each other by hub id or by a path relative to themselves; loading works from any cwd."""

from __future__ import annotations

import json
import subprocess
import sys

from fusionrs.core.references import display_reference, reference_for, resolve_reference, resolve_spec, spec_for


def test_local_paths_become_relative_to_the_artefact(tmp_path, monkeypatch):
    (tmp_path / "runs" / "translator" / "final").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "runs" / "vlm" / "final"
    assert reference_for("runs/translator/final", model) == "../../translator/final"
    assert spec_for("fusionrs:runs/translator/final", model) == "fusionrs:../../translator/final"
    assert spec_for(f"diffv2ir:{tmp_path}/runs/translator;steps=4", model) == "diffv2ir:../../translator;steps=4"
    for kept in ("grayscale", "builtin:default", "user/translator", None):
        assert spec_for(kept, model) == kept
    assert reference_for("someone/a-model", model) == "someone/a-model"  # a hub id, not a local path


def test_references_resolve_against_the_artefact_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "runs" / "translator" / "final").mkdir(parents=True)
    model = tmp_path / "runs" / "vlm" / "final"
    model.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "runs")  # anywhere else
    assert resolve_spec("fusionrs:../../translator/final", model) == f"fusionrs:{tmp_path}/runs/translator/final"
    assert resolve_reference("/abs/old/path", model) == "/abs/old/path"
    assert resolve_reference("user/repo", model) == "user/repo"


def test_display_never_shows_a_local_path(tmp_path):
    deep = tmp_path / "home" / "me" / "runs" / "vlm"
    deep.mkdir(parents=True)
    assert display_reference(deep) == ".../runs/vlm"
    assert display_reference(f"fusionrs:{deep}") == "fusionrs:.../runs/vlm"
    assert display_reference("someone/clip-model") == "someone/clip-model"
    assert str(tmp_path) not in display_reference(str(deep))


def test_trained_captioner_finds_its_translator_from_another_directory(tmp_path):
    """The saved notes of a trained captioner, read by the pipeline from a different working directory."""
    from fusionrs.vlm.compose import compose_tiny_llava

    work = tmp_path / "work"
    (work / "runs" / "translator").mkdir(parents=True)
    (work / "runs" / "translator" / "linear.json").write_text(json.dumps({"coef": [0.2, 0.5, 0.3, 0.0]}))
    script = (
        "import json, sys\n"
        "from fusionrs.vlm.train import _portable_notes\n"
        "from pathlib import Path\n"
        "notes = _portable_notes({'translator': 'linear:runs/translator/linear.json', 'data': 'runs'},"
        " Path('runs/vlm/final'))\n"
        "print(json.dumps(notes))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    notes = json.loads(result.stdout.strip().splitlines()[-1])
    assert notes == {"translator": "linear:../../translator/linear.json", "data": "../.."}
    model, processor = compose_tiny_llava()
    folder = work / "runs" / "vlm" / "final"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    from fusionrs.vlm.compose import write_vlm_config

    write_vlm_config(folder, mode="rgb+ir", **notes)
    probe = (
        "import fusionrs, sys\n"
        "from transformers import pipeline\n"
        f"p = pipeline('rgb-ir-captioning', model={str(folder)!r})\n"
        "print(p.translator_spec)\n"
        "print(type(p.translator).__name__)\n"
    )
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = subprocess.run([sys.executable, "-c", probe], cwd=other, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    spec, kind = result.stdout.strip().splitlines()[-2:]
    assert spec == f"linear:{work}/runs/translator/linear.json"
    assert kind == "LinearTranslator"  # not the grayscale fallback


def test_dataset_records_its_translator_relative_to_itself(tmp_path, monkeypatch):
    """generation.json names the translator relative to the dataset folder; a captioner trained from
    another working directory still finds it."""
    import numpy as np
    from PIL import Image

    from fusionrs.data.build import BuildConfig, build_dataset
    from fusionrs.data.sources import parse_source
    from fusionrs.vlm.train import translator_of_dataset

    work = tmp_path / "work"
    for k in range(4):
        (work / "scenes" / "a").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((32, 32, 3), 40 * k, np.uint8)).save(work / "scenes" / "a" / f"{k}.png")
    (work / "linear.json").write_text(json.dumps({"coef": [0.2, 0.5, 0.3, 0.0]}))
    monkeypatch.chdir(work)
    config = BuildConfig(sources=[parse_source("mine=folder:scenes")], translator="linear:linear.json", chunk_size=4)
    build_dataset(config, "builds/ds", progress=False)
    generation = json.loads((work / "builds" / "ds" / "generation.json").read_text())["generation"]
    assert generation["translator"] == "linear:../../linear.json"
    monkeypatch.chdir(tmp_path)
    assert translator_of_dataset(str(work / "builds" / "ds")) == f"linear:{work}/linear.json"
