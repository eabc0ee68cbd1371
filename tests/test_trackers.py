"""`report_to`: accelerate's experiment trackers beside log.jsonl. "none" (the default) changes nothing; an
unknown or uninstalled tracker is one clear line before any work; tensorboard, where installed, gets the
same records as log.jsonl."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from fusionrs.core.training import REPORT_TO, trackers_for, tracking_kwargs  # noqa: E402
from fusionrs.errors import FusionRSError  # noqa: E402
from tests.test_cli import run_cli  # noqa: E402


def _installed(name: str) -> bool:
    import accelerate.utils

    return {"tensorboard": accelerate.utils.is_tensorboard_available,
            "trackio": accelerate.utils.is_trackio_available}[name]()


def _train_tiny_translator(out, **kwargs):
    from fusionrs.translate.train import TrainConfig, train

    return train(TrainConfig(out=str(out), preset="tiny", world=2, world_size=32, steps=2, batch_size=2, crop=16,
                             warmup=1, log_every=1, sample_every=0, checkpoint_every=0, progress=False, threads=1,
                             **kwargs))


def test_report_to_none_changes_nothing(tmp_path):
    from fusionrs.core.training import BaseTrainConfig

    assert BaseTrainConfig().report_to == "none" and REPORT_TO == ("none", "tensorboard", "trackio", "all")
    assert trackers_for("none") == [] and tracking_kwargs("none", tmp_path) == {}  # Accelerator built as before
    _train_tiny_translator(tmp_path / "run", report_to="none")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["final", "log.jsonl", "loss_curve.png",
                                                                     "train_config.json"]
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]


def test_all_is_the_installed_trackers():
    assert trackers_for("all") == [name for name in ("tensorboard", "trackio") if _installed(name)]


def test_unknown_tracker_is_refused():
    with pytest.raises(FusionRSError, match="report_to 'wandb' is not one of none, tensorboard, trackio, all"):
        trackers_for("wandb")
    result = run_cli("train", "translator", "--report-to", "wandb", "--out", "x")
    assert result.returncode == 2 and "invalid choice: 'wandb'" in result.stderr


@pytest.mark.parametrize("name", ["tensorboard", "trackio"])
def test_uninstalled_tracker_is_one_line_naming_the_package(name, tmp_path):
    if _installed(name):
        pytest.skip(f"{name} is installed here")
    with pytest.raises(FusionRSError, match=f"needs the {name} package.*pip install {name}"):
        trackers_for(name)
    out = tmp_path / "run"
    result = run_cli("train", "translator", "--preset", "tiny", "--world", "2", "--steps", "1", "--report-to", name,
                     "--out", out)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and f"pip install {name}" in lines[0], lines
    assert not out.exists()  # refused before any data or model work


def test_tensorboard_gets_the_log_records(tmp_path):
    if not _installed("tensorboard"):
        pytest.skip("neither tensorboard nor tensorboardX is installed here (no new dependencies)")
    _train_tiny_translator(tmp_path / "plain")
    _train_tiny_translator(tmp_path / "tb", report_to="tensorboard")
    events = list((tmp_path / "tb" / "tensorboard" / "fusionrs-translator").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    plain, tracked = ([{k: v for k, v in json.loads(line).items() if k != "seconds"}
                       for line in (tmp_path / run / "log.jsonl").read_text().splitlines()] for run in ("plain", "tb"))
    assert plain == tracked  # log.jsonl is written as without trackers
