"""The training skeleton shared by translator, CLIP and captioner: schedule, checkpoints, flags, final folder."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from fusionrs.core.cli_config import add_config_arguments, config_from_args
from fusionrs.core.training import (BaseTrainConfig, TrainLog, final_dir, latest_checkpoint, load_checkpoint,
                                     save_checkpoint, warmup_cosine)

CONFIGS = [("fusionrs.clip.config", "ClipTrainConfig", []), ("fusionrs.translate.config", "TrainConfig", []),
           ("fusionrs.vlm.config", "VLMTrainConfig", ["--out", "runs/x"])]


def _config_class(module: str, name: str):
    import importlib

    return getattr(importlib.import_module(module), name)


def test_clip_schedule_is_transformers_cosine_with_warmup_bit_for_bit():
    from transformers import get_cosine_schedule_with_warmup

    for warmup, total in ((0, 7), (3, 20), (100, 1000)):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        reference = get_cosine_schedule_with_warmup(optimizer, warmup, total)
        ours = [warmup_cosine(step, warmup=warmup, total=total, floor=0.0, warmup_offset=0) for step in range(total)]
        theirs = [lam(step) for lam in reference.lr_lambdas for step in range(total)]
        assert ours == theirs


def test_translator_and_captioner_schedules_warm_up_from_one_step_and_end_at_their_floor():
    for floor in (0.05, 0.1):
        curve = [warmup_cosine(step, warmup=4, total=50, floor=floor) for step in range(50)]
        assert curve[:4] == [0.25, 0.5, 0.75, 1.0]
        assert all(a >= b for a, b in zip(curve[3:], curve[4:]))  # monotone decay after warmup
        assert warmup_cosine(50, warmup=4, total=50, floor=floor) == pytest.approx(floor)
        assert min(curve) > floor


def test_checkpoints_are_atomic_pruned_and_read_back(tmp_path):
    torch.manual_seed(0)
    weights = {"w": torch.randn(3, 2)}
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, step, tensors={"model": weights}, state={"optimizer": {"lr": 0.1 * step}},
                        scalars={"tokens": 10 * step}, folders={"extra": lambda f: (f.mkdir(), (f / "x.txt").write_text("x"))},
                        keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step_000004", "step_000006"]  # newest two kept, no staging folders left
    latest = latest_checkpoint(tmp_path)
    assert latest.name == "step_000006" and (latest / "extra" / "x.txt").read_text() == "x"
    expected_next = torch.rand(3)  # the RNG state right after saving step 6 ...
    torch.rand(5)
    checkpoint = load_checkpoint(latest)  # ... is restored on load
    assert torch.equal(torch.rand(3), expected_next)
    assert checkpoint.step == 6 and checkpoint.scalars == {"tokens": 60}
    assert checkpoint.state["optimizer"] == {"lr": pytest.approx(0.6)}
    assert torch.equal(checkpoint.tensors("model")["w"], weights["w"])
    with pytest.raises(Exception, match="no missing.safetensors"):
        checkpoint.tensors("missing")


def test_pruning_and_resume_ignore_folders_that_only_look_like_checkpoints(tmp_path):
    look_alikes = [tmp_path / "checkpoint-best", tmp_path / "checkpoint-1", tmp_path / "checkpoints" / "step_notes",
                   tmp_path / "checkpoints" / "step_000001"]  # no trainer state in any of them
    for folder in look_alikes:
        folder.mkdir(parents=True)
        (folder / "mine.txt").write_text("keep me")
    weights = {"w": torch.zeros(2)}
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, step, tensors={"model": weights}, keep=1)
    assert all((folder / "mine.txt").read_text() == "keep me" for folder in look_alikes)
    assert not (tmp_path / "checkpoints" / "step_000002").exists()
    assert latest_checkpoint(tmp_path).name == "step_000006"


def test_checkpoints_from_before_the_unification_still_resume(tmp_path):
    from safetensors.torch import save_file

    old_vlm = tmp_path / "vlm" / "checkpoint-3"  # OUT/checkpoint-N with the step inside trainer_state.pt
    old_vlm.mkdir(parents=True)
    save_file({"a": torch.ones(1)}, str(old_vlm / "adapter_state.safetensors"))
    torch.save({"optimizer": {}, "step": 3, "elapsed": 1.5, "tokens": 7}, old_vlm / "trainer_state.pt")
    found = latest_checkpoint(tmp_path / "vlm")
    assert found == old_vlm and load_checkpoint(found).step == 3
    old_clip = tmp_path / "clip" / "checkpoints" / "step_000010"  # CLIP kept state.pt
    old_clip.mkdir(parents=True)
    torch.save({"optimizer": {}, "scheduler": {}}, old_clip / "state.pt")
    (old_clip / "state.json").write_text(json.dumps({"step": 10}))
    assert load_checkpoint(latest_checkpoint(tmp_path / "clip")).step == 10
    with pytest.raises(Exception, match="not a fusionrs checkpoint"):
        load_checkpoint(tmp_path)


def test_final_dir_resolves_run_folders_old_and_new(tmp_path):
    for name in ("final", "model"):
        run = tmp_path / name / "run"
        (run / name).mkdir(parents=True)
        (run / name / "config.json").write_text("{}")
        assert final_dir(run) == run / name
        assert final_dir(run / name) == run / name  # a model folder is itself
    assert final_dir(tmp_path / "empty") == tmp_path / "empty"


def test_train_log_starts_fresh_unless_resuming(tmp_path):
    log = TrainLog(tmp_path, start_step=0)
    log.write({"step": 1, "loss": 2.0})
    assert TrainLog(tmp_path, start_step=1).records() == [{"step": 1, "loss": 2.0}]
    assert TrainLog(tmp_path, start_step=0).records() == []


@pytest.mark.parametrize("module,name,required", CONFIGS)
def test_flags_are_generated_from_the_config_and_give_its_defaults(module, name, required):
    config_cls = _config_class(module, name)
    assert issubclass(config_cls, BaseTrainConfig)
    parser = argparse.ArgumentParser(prog="t")
    add_config_arguments(parser, config_cls)
    args = parser.parse_args(required)
    built = config_from_args(config_cls, args)
    defaults = config_cls(**({"out": "runs/x"} if required else {}))
    assert built == defaults
    text = parser.format_help()
    for field in dataclasses.fields(config_cls):
        if field.metadata.get("cli", True):
            flag = field.metadata.get("flag", "--" + field.name.replace("_", "-"))
            assert flag in text, f"{name}.{field.name} has no {flag} in --help"
            assert field.metadata.get("help"), f"{name}.{field.name} has no help text"


def test_generated_flags_parse_values_and_reject_bad_ones(capsys):
    from fusionrs.translate.config import TrainConfig
    from fusionrs.vlm.config import VLMTrainConfig

    parser = argparse.ArgumentParser(prog="t")
    add_config_arguments(parser, TrainConfig)
    cfg = config_from_args(TrainConfig, parser.parse_args(
        ["--pairs", "a", "--pairs", "b", "--adv-weight", "0", "--no-progress", "--steps", "5"]))
    assert (cfg.pairs, cfg.adv, cfg.progress, cfg.steps) == (["a", "b"], 0.0, False, 5)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--steps", "0"])
    assert stop.value.code == 2 and "positive integer" in capsys.readouterr().err
    parser = argparse.ArgumentParser(prog="t")
    add_config_arguments(parser, VLMTrainConfig)
    cfg = config_from_args(VLMTrainConfig, parser.parse_args(["--out", "o", "--save-every", "4", "--no-feature-cache",
                                                               "--lora-r", "8"]))
    assert (cfg.checkpoint_every, cfg.cache_features, cfg.alpha) == (4, False, 16)  # old flag name still parses


def test_config_modules_stay_light():
    code = ("import sys, fusionrs.clip.config, fusionrs.translate.config, fusionrs.vlm.config, fusionrs.core.cli_config; "
            "print([m for m in ('torch', 'transformers', 'datasets', 'diffusers', 'gradio') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
