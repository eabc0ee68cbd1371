"""The captioner's peft adapter (`OUT/final/adapter`) records its base (never null, never absolute or
relative to the working directory) and carries a filled card instead of peft's template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

from tests.test_vlm import make_tiny_llava, row  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    model, processor = make_tiny_llava()
    out = tmp_path_factory.mktemp("adapter") / "tiny"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def test_trained_adapter_records_its_base_and_a_filled_card(tiny_dir, tmp_path, monkeypatch):
    from fusionrs.vlm.generate import load_vlm
    from fusionrs.vlm.train import VLMTrainConfig, train_vlm

    run = tmp_path / "run"
    config = VLMTrainConfig(out=str(run), base=str(tiny_dir), steps=2, batch_size=2, checkpoint_every=0, warmup=1,
                            lora_r=4, lora_alpha=8, lora_dropout=0.0, cache_features=False, report_to="none")
    train_vlm(config, rows=[row(i) for i in range(5)])
    adapter = run / "final" / "adapter"
    base = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base and not Path(base).is_absolute()
    assert (adapter / base).resolve() == tiny_dir.resolve()  # relative to the adapter folder itself

    card = (adapter / "README.md").read_text()
    assert "[More Information Needed]" not in card
    for needle in ("library_name: peft", f"**Base:** `{base}`", "r = 4, alpha = 8", "q_proj|k_proj",
                   "multi_modal_projector", "`rgb+ir`", "`mixed`", "dataset rows handed to `train_vlm`",
                   "  fusionrs train vlm --out ", f"--base {tiny_dir}", "--lora-r 4 --lora-alpha 8"):
        assert needle in card, needle

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the recorded base resolves from any working directory
    model, _ = load_vlm(adapter, device="cpu", dtype="float32")
    assert type(model).__name__ == "LlavaForConditionalGeneration"


def test_base_references(tmp_path):
    from fusionrs.vlm.adapter_card import adapter_base_reference

    adapter = tmp_path / "run" / "final" / "adapter"
    assert adapter_base_reference("offline", adapter) == adapter_base_reference(None, adapter) == "fusionrs:offline-llava"
    assert adapter_base_reference("tiny", adapter) == "fusionrs:tiny-llava"
    assert adapter_base_reference("Qwen/Qwen2.5-VL-7B-Instruct", adapter) == "Qwen/Qwen2.5-VL-7B-Instruct"
    snapshot = tmp_path / "hub" / "models--Qwen--Qwen2.5-VL-7B-Instruct" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    assert adapter_base_reference(str(snapshot), adapter) == "Qwen/Qwen2.5-VL-7B-Instruct"
    local = tmp_path / "bases" / "mine"
    local.mkdir(parents=True)
    assert adapter_base_reference(str(local), adapter) == "../../../bases/mine"
