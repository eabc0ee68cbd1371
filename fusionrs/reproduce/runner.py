"""Stage runner: time budgets, resumability and the results file."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fusionrs.core.atomic import write_json_atomic
from fusionrs.errors import FusionRSError
from fusionrs.reproduce.context import Context  # re-exported: stages and the runner share it

__all__ = ["PRESETS", "Context", "load_preset", "run_reproduction"]

_PRESET_FILE = Path(__file__).with_name("presets.json")
PRESETS: tuple[str, ...] = tuple(json.loads(_PRESET_FILE.read_text()))


def load_preset(name: str) -> dict[str, Any]:
    """The settings of one reproduction preset from `presets.json`.

    Args:
        name: the preset name, one of `PRESETS`.

    Returns:
        The preset's settings dict (description, seed, stage settings, `budgets_s`, ...), freshly
        read from the file.

    Raises:
        FusionRSError: when `name` is not a preset.
    """
    presets = json.loads(_PRESET_FILE.read_text())
    if name not in presets:
        raise FusionRSError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    return presets[name]


def _fingerprint(preset: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(preset, sort_keys=True).encode()).hexdigest()[:16]


DEFAULT_THREADS = 2  # the reference machine: results are bit-identical only at the same thread count


def run_reproduction(preset_name: str, out: str | Path, *, progress: bool = True,
                     stages: list[str] | None = None, threads: int = DEFAULT_THREADS) -> dict[str, Any]:
    """Run (or resume) every stage of `preset_name` into `out`; returns the results dict.

    A finished stage leaves `stages/NAME.json`; it is reused only when the preset is unchanged, so a
    changed preset never mixes with stale results (delete the folder or use another `out`).

    Args:
        preset_name: the preset to run, one of `PRESETS`.
        out: the output folder (created if needed); holds `preset.json`, `stages/`, `results.json`
            and `report.md`.
        progress: show progress bars in the stages.
        stages: the names of the stages to run (in their fixed order); None runs them all.
        threads: torch intra-op threads for every stage (default 2). Step counts never depend on
            time: the same preset, seed, machine type and thread count give the same results.json.

    Returns:
        {"preset", "settings", "seed", "threads", "stages": stage name -> result dict (with
        "seconds", "budget_s", "over_budget"), "total_seconds", "environment"}; written to
        `out/results.json` (without the timings), `out/timing.json` and `out/report.md`.

    Raises:
        FusionRSError: when the preset is unknown, or `out` holds a reproduction made with other
            settings.
        TypeError: when a stage returns something other than a dict.
    """
    from fusionrs.reproduce.report import write_report
    from fusionrs.reproduce.stages import STAGES
    from fusionrs.results import environment_info

    preset = load_preset(preset_name)
    out = Path(out)
    done_dir = out / "stages"
    done_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(preset)
    marker = out / "preset.json"
    if marker.exists():
        previous = json.loads(marker.read_text())
        if previous.get("fingerprint") != fingerprint:
            raise FusionRSError(f"{out} holds a reproduction with other settings (preset {previous.get('preset')!r}); "
                                "use another --out or delete it")
    marker.write_text(json.dumps({"preset": preset_name, "fingerprint": fingerprint, "settings": preset}, indent=2))

    import torch

    torch.set_num_threads(threads)
    ctx = Context(preset_name, preset, out, results={}, progress=progress)
    budgets = preset.get("budgets_s", {})
    selected = [name for name, _ in STAGES if stages is None or name in stages]
    total_start = time.perf_counter()
    for index, (name, fn) in enumerate(STAGES, start=1):
        if name not in selected:
            continue
        done = done_dir / f"{name}.json"
        if done.exists():
            ctx.results[name] = json.loads(done.read_text())
            print(f"[{index}/{len(STAGES)}] {name}: done earlier ({ctx.results[name]['seconds']:.0f} s), reusing")
            continue
        print(f"[{index}/{len(STAGES)}] {name} (budget {budgets.get(name, '?')} s)", flush=True)
        start = time.perf_counter()
        result = _run_stage(fn, ctx)
        seconds = time.perf_counter() - start
        result["seconds"] = round(seconds, 1)
        budget = budgets.get(name)
        result["budget_s"] = budget
        result["over_budget"] = bool(budget is not None and seconds > budget)
        if result["over_budget"]:
            print(f"  warning: {name} took {seconds:.0f} s, over its {budget} s budget")
        ctx.results[name] = result
        write_json_atomic(done, result, default=str)  # a killed stage leaves no half-written marker
    results = {"preset": preset_name, "settings": preset, "seed": ctx.seed, "threads": threads, "stages": ctx.results,
               "total_seconds": round(time.perf_counter() - total_start, 1), "environment": environment_info()}
    write_report(out, results)
    return results


def _run_stage(fn: Callable[[Context], dict[str, Any]], ctx: Context) -> dict[str, Any]:
    result = fn(ctx)
    if not isinstance(result, dict):
        raise TypeError(f"stage {fn.__name__} returned {type(result).__name__}, expected a dict")
    return result
