"""The training skeleton shared by the translator, CLIP and the captioner.

Each family keeps its own model, data and loss; what every trainer needs the same way lives here:

- `BaseTrainConfig`: the fields every trainer has (output folder, budget, optimiser basics,
  bookkeeping); a family config subclasses it and overrides the defaults that differ;
- `warmup_cosine`: the one learning-rate curve (linear warmup, cosine decay to a floor);
- `save_checkpoint` / `latest_checkpoint` / `load_checkpoint`: one atomic checkpoint layout,
  `OUT/checkpoints/step_000200/` holding `<name>.safetensors` tensor files, model sub-folders,
  `trainer_state.pt` (optimisers, scheduler, torch RNG) and `state.json` (step + scalars);
- `TrainLog`: `OUT/log.jsonl`, started afresh unless resuming, and the same records to accelerate's
  experiment trackers when `report_to` asks for them (`tracking_kwargs`); `plot_loss_curve` draws it;
- `final_dir`: `OUT/final`, the one final-folder name (older runs' `OUT/model` still resolve);
- `out_of_time`: the `max_minutes` budget check.

Torch is imported inside the functions that need it, so config modules importing this stay light.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionrs.core.atomic import atomic_folder
from fusionrs.errors import FusionRSError

__all__ = [
    "REPORT_TO",
    "BaseTrainConfig",
    "Checkpoint",
    "TrainLog",
    "config_field",
    "final_dir",
    "latest_checkpoint",
    "load_checkpoint",
    "out_of_time",
    "plot_loss_curve",
    "save_checkpoint",
    "set_lr",
    "tracking_kwargs",
    "trackers_for",
    "warmup_cosine",
]

CHECKPOINTS = "checkpoints"
FINAL = "final"
LEGACY_FINAL = ("model",)  # `fusionrs train vlm` wrote OUT/model before the layouts were unified
TRAINER_STATE = "trainer_state.pt"
LEGACY_TRAINER_STATE = ("state.pt", "optimizers.pt")  # CLIP / translator checkpoints before the unification
# `--report-to`: accelerate's experiment trackers beside log.jsonl ("all": those of these that are installed).
REPORT_TO = ("none", "tensorboard", "trackio", "all")
# tracker -> (accelerate.utils check that it is importable, the package that provides it)
_TRACKERS = {"tensorboard": ("is_tensorboard_available", "tensorboard"),
             "trackio": ("is_trackio_available", "trackio")}
TRACKER_DIR = "tensorboard"  # OUT/tensorboard/<project>/: `tensorboard --logdir OUT/tensorboard`


def config_field(default: Any = None, help: str = "", *, factory: Callable[[], Any] | None = None,
                 **cli: Any) -> Any:
    """A dataclass field whose metadata describes its command-line flag (see `fusionrs.core.cli_config`).

    Args:
        default: the default value (ignored when `factory` is given).
        help: the `--help` text.
        factory: a default factory for mutable defaults (lists, dicts).
        **cli: flag options: `flag` (name, default `--field-name`), `choices`, `kind` ("positive",
            "non_negative"), `metavar`, `required`, `cli=False` (no flag), `negate` (a `--no-x` flag
            for a field that defaults to True), `aliases` (older flag names that still parse).

    Returns:
        A `dataclasses.field`.
    """
    metadata = {"help": help, **cli}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class BaseTrainConfig:
    """The fields every fusionrs trainer shares; family configs subclass it."""

    out: str = config_field("runs/train", "output folder: checkpoints/, log.jsonl, loss_curve.png, final/")
    steps: int = config_field(1000, "optimizer steps (the budget is steps x batch size)", kind="positive")
    batch_size: int = config_field(8, "examples per optimizer step", kind="positive")
    lr: float = config_field(1e-3, "peak learning rate")
    warmup: int = config_field(50, "linear warmup steps before the cosine decay", kind="non_negative")
    weight_decay: float = config_field(0.0, "AdamW weight decay")
    seed: int = config_field(0, "seed of the model init and of every batch")
    log_every: int = config_field(10, "write a log.jsonl record every N steps", kind="positive")
    checkpoint_every: int = config_field(200, "checkpoint every N steps for --resume (0: never)", kind="non_negative")
    keep_checkpoints: int = config_field(0, "keep the newest N checkpoints (0: all)", kind="non_negative")
    resume: bool = config_field(False, "continue from the latest checkpoint in --out")
    mixed_precision: str = config_field("no", "accelerate mixed precision", choices=("no", "bf16", "fp16"))
    threads: int | None = config_field(None, "torch CPU threads", kind="positive")
    max_minutes: float | None = config_field(None, "stop (and checkpoint) after this much wall time; --resume continues")
    progress: bool = config_field(True, "hide the progress bar", flag="--no-progress", negate=True)
    report_to: str = config_field("none", "also log every log.jsonl record to accelerate's trackers: tensorboard "
                                  "(OUT/tensorboard), trackio, or all of those that are installed", choices=REPORT_TO)


def warmup_cosine(step: int, *, warmup: int, total: int, floor: float = 0.0, warmup_offset: int = 1) -> float:
    """The learning-rate multiplier at 0-based `step`: linear warmup, then cosine from 1 down to `floor`.

    Args:
        step: the optimizer step about to run (0-based).
        warmup: warmup steps; the multiplier is `(step + warmup_offset) / warmup` during warmup.
        total: the run's total steps (the cosine reaches `floor` there).
        floor: the multiplier at the end of the run.
        warmup_offset: 1 starts warmup at `1 / warmup` (translator, captioner); 0 starts it at 0
            (CLIP, as `transformers.get_cosine_schedule_with_warmup`).

    Returns:
        The multiplier of the peak learning rate.
    """
    if step < warmup:
        return (step + warmup_offset) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer, base_lrs: Iterable[float], factor: float) -> None:
    """Set every parameter group's learning rate to its base rate times `factor`.

    Args:
        optimizer: a torch optimizer.
        base_lrs: one peak rate per parameter group, in group order.
        factor: e.g. `warmup_cosine(step, ...)`.
    """
    for group, base in zip(optimizer.param_groups, base_lrs):
        group["lr"] = base * factor


def out_of_time(started: float, max_minutes: float | None) -> bool:
    """True once `max_minutes` of wall time have passed since `started`.

    Args:
        started: a `time.perf_counter()` reading taken when the run (or its resumed part) began.
        max_minutes: the wall-time budget in minutes (None: no budget).

    Returns:
        Whether the budget is spent.
    """
    return max_minutes is not None and time.perf_counter() - started > 60 * max_minutes


# -------------------------------------------------------------------------------------------------
# Checkpoints


@dataclass
class Checkpoint:
    """A checkpoint read back: its folder, step, scalars (state.json) and trainer state (optimisers...)."""

    folder: Path
    step: int
    scalars: dict[str, Any]
    state: dict[str, Any]

    def tensors(self, name: str) -> dict[str, Any]:
        """The tensors of `<name>.safetensors` in this checkpoint.

        Raises:
            FusionRSError: the file is missing.
        """
        from safetensors.torch import load_file

        path = self.folder / f"{name}.safetensors"
        if not path.is_file():
            raise FusionRSError(f"{self.folder}: checkpoint has no {path.name}")
        return load_file(str(path))


def _step_of(folder: Path) -> int | None:
    """The step a checkpoint folder's name carries (`step_000120`, older `checkpoint-120`), else None."""
    digits = folder.name.replace("-", "_").partition("_")[2]
    return int(digits) if digits.isdigit() else None


def _is_checkpoint(folder: Path) -> bool:
    """A finished checkpoint: a folder named by its step that holds a trainer state file."""
    return (folder.is_dir() and _step_of(folder) is not None
            and any((folder / name).is_file() for name in (TRAINER_STATE, *LEGACY_TRAINER_STATE)))


def _checkpoint_folders(out: Path) -> list[Path]:
    """The run's checkpoints, oldest first; folders that merely look like one (no trainer state) are not."""
    found = [*(out / CHECKPOINTS).glob("step_*"), *out.glob("checkpoint-*")]  # the second: older VLM runs
    return sorted((p for p in found if _is_checkpoint(p)), key=_step_of)


def save_checkpoint(out: str | Path, step: int, *, tensors: dict[str, dict[str, Any]] | None = None,
                    folders: dict[str, Callable[[Path], None]] | None = None,
                    state: dict[str, Any] | None = None, scalars: dict[str, Any] | None = None,
                    keep: int = 0) -> Path:
    """Write `OUT/checkpoints/step_NNNNNN` atomically (a kill mid-save leaves the previous one intact).

    Args:
        out: the run folder.
        step: optimizer steps done.
        tensors: `name -> state dict`, each written as `<name>.safetensors`.
        folders: `name -> writer(path)` for model folders (e.g. `unet.save_pretrained`).
        state: what `torch.save` keeps in `trainer_state.pt` (optimisers, scheduler); the torch CPU
            RNG state is added.
        scalars: JSON values kept in `state.json` beside the step (elapsed time, token counts).
        keep: keep the newest `keep` checkpoints, delete older ones (0: keep all); only folders that
            hold a trainer state are ever deleted, never a look-alike (`checkpoint-best`, a user's notes).

    Returns:
        The checkpoint folder.
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(out) / CHECKPOINTS / f"step_{step:06d}"
    with atomic_folder(folder) as tmp:
        for name, tensor_dict in (tensors or {}).items():
            save_file({k: v.detach().contiguous().cpu() for k, v in tensor_dict.items()}, str(tmp / f"{name}.safetensors"))
        for name, writer in (folders or {}).items():
            writer(tmp / name)
        torch.save({**(state or {}), "torch_rng": torch.get_rng_state()}, tmp / TRAINER_STATE)
        (tmp / "state.json").write_text(json.dumps({"step": step, **(scalars or {})}) + "\n")
    if keep > 0:
        for old in _checkpoint_folders(Path(out))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest checkpoint folder of a run.

    Args:
        out: the run folder; `OUT/checkpoints/step_*` is searched, and an older run's `OUT/checkpoint-N`.

    Returns:
        The folder with the highest step, or None when the run has none.
    """
    folders = _checkpoint_folders(Path(out))
    return folders[-1] if folders else None


def load_checkpoint(folder: str | Path, *, restore_rng: bool = True) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (or by fusionrs before the layouts were unified).

    Args:
        folder: the checkpoint folder.
        restore_rng: also restore the torch CPU RNG state saved with it.

    Returns:
        The `Checkpoint`: step, scalars, trainer state; `.tensors(name)` reads a tensor file.

    Raises:
        FusionRSError: no trainer state in the folder.
    """
    import torch

    folder = Path(folder)
    for name in (TRAINER_STATE, *LEGACY_TRAINER_STATE):
        if (folder / name).is_file():
            state = torch.load(folder / name, weights_only=True)
            break
    else:
        raise FusionRSError(f"{folder}: not a fusionrs checkpoint (no {TRAINER_STATE})")
    scalars = json.loads((folder / "state.json").read_text()) if (folder / "state.json").is_file() else {}
    step = int(scalars.pop("step", state.get("step", 0)))
    if restore_rng and "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    return Checkpoint(folder=folder, step=step, scalars=scalars, state=state)


# -------------------------------------------------------------------------------------------------
# Log, loss curve, final folder


def trackers_for(report_to: str) -> list[str]:
    """The accelerate trackers (`Accelerator(log_with=...)`) a `report_to` setting names.

    Args:
        report_to: one of `REPORT_TO`.

    Returns:
        [] for "none"; ["tensorboard"] or ["trackio"]; for "all", those of the two that are installed
        (possibly none).

    Raises:
        FusionRSError: `report_to` is not one of `REPORT_TO`, or names a tracker that is not installed.
    """
    if report_to not in REPORT_TO:
        raise FusionRSError(f"report_to {report_to!r} is not one of {', '.join(REPORT_TO)}")
    if report_to == "none":
        return []
    import accelerate.utils

    installed = [name for name, (check, _) in _TRACKERS.items() if getattr(accelerate.utils, check)()]
    if report_to == "all":
        return installed
    if report_to not in installed:
        package = _TRACKERS[report_to][1]
        raise FusionRSError(f"--report-to {report_to} needs the {package} package, which is not installed "
                            f"(pip install {package})")
    return [report_to]


def tracking_kwargs(report_to: str, out: str | Path) -> dict[str, Any]:
    """`Accelerator(**...)` keyword arguments for a `report_to` setting; call it before any data is loaded.

    Args:
        report_to: one of `REPORT_TO`.
        out: the run folder (tensorboard writes to `OUT/tensorboard/<project>`).

    Returns:
        {} when no tracker is asked for (the Accelerator is built as without trackers), else
        `log_with` and a `project_config` whose logging folder is `OUT/tensorboard`.

    Raises:
        FusionRSError: as `trackers_for`.
    """
    trackers = trackers_for(report_to)
    if not trackers:
        return {}
    from accelerate.utils import ProjectConfiguration

    return {"log_with": trackers,
            "project_config": ProjectConfiguration(project_dir=str(out), logging_dir=str(Path(out) / TRACKER_DIR))}


def _tracker_config(config: Any) -> dict[str, Any]:
    """A config as trackers take it: a flat dict of bool/int/float/str (tensorboard's hparams refuse the rest)."""
    import dataclasses

    values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})
    return {key: value if isinstance(value, (bool, int, float, str)) else json.dumps(value, default=str)
            for key, value in values.items()}


class TrainLog:
    """`OUT/log.jsonl`: one JSON record per logged step; a fresh run (start step 0) starts it empty.

    Given an `Accelerator` built with trackers (`tracking_kwargs`), every record also goes to
    `accelerator.log` (its numeric fields, at its `step`), the trackers are started here with the run's
    config and `close()` finishes them. log.jsonl is written either way.
    """

    def __init__(self, out: str | Path, *, start_step: int, enabled: bool = True, accelerator: Any = None,
                 project: str = "fusionrs", config: Any = None) -> None:
        self.path = Path(out) / "log.jsonl"
        self.enabled = enabled
        if enabled and start_step == 0 and self.path.exists():
            self.path.unlink()
        self.accelerator = accelerator if accelerator is not None and accelerator.log_with else None
        if self.accelerator is not None:
            self.accelerator.init_trackers(project, config=_tracker_config(config))

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (a no-op on processes other than the main one), and log it to the trackers."""
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
        if self.accelerator is not None:
            values = {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float))}
            self.accelerator.log(values, step=record.get("step"))

    def close(self) -> None:
        """Finish the trackers (tensorboard flushes its event file); log.jsonl needs nothing."""
        if self.accelerator is not None:
            # not accelerator.end_training(): that also tears down the process group, which callers may still use
            for tracker in self.accelerator.trackers:
                tracker.finish()

    def records(self) -> list[dict[str, Any]]:
        """Every record written so far (this run and the runs it resumed)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def plot_loss_curve(log_path: str | Path, png_path: str | Path, title: str = "", ylabel: str = "loss",
                    keys: Iterable[str] = ("loss", "rgb_text", "ir_text", "rgb_ir")) -> Path | None:
    """Draw the loss (and each named component present in the log) against step, as a PNG.

    Args:
        log_path: a `log.jsonl` with `step` and loss fields per line.
        png_path: where to write the figure.
        title: figure title.
        ylabel: y-axis label.
        keys: the fields to draw when present; "loss" is drawn thicker.

    Returns:
        The PNG path, or None when the log is empty.
    """
    log_path = Path(log_path)
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()] if log_path.exists() else []
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = [r["step"] for r in records]
    for key in keys:
        if key in records[0]:
            ax.plot(steps, [r[key] for r in records], label=key, lw=2 if key == "loss" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return Path(png_path)


def final_dir(run: str | Path, marker: str = "config.json") -> Path:
    """The trained model of a run folder: `RUN/final` (or an older run's `RUN/model`); a model folder itself.

    Args:
        run: a run folder (`--out` of a `fusionrs train ...`) or a model folder.
        marker: the file a model folder holds.

    Returns:
        The folder to load; `run` unchanged when it already holds `marker` or no final folder exists.
    """
    run = Path(run)
    if (run / marker).is_file():
        return run
    for name in (FINAL, *LEGACY_FINAL):
        if (run / name / marker).is_file():
            return run / name
    return run
