"""Results files that can be trusted later: numbers next to the command, seed, versions and machine."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from fusionrs.core.atomic import write_json_atomic

__all__ = ["environment_info", "package_conflicts", "write_results"]

_LIBRARIES = ("fusionrs", "torch", "numpy", "pillow", "datasets", "pyarrow", "huggingface_hub",
              "transformers", "diffusers", "accelerate", "peft")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _gpus() -> list[str]:
    """Names of visible CUDA GPUs, without importing torch when it is not already loaded."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def package_conflicts() -> list[str]:
    """Installed distributions that also provide the `fusionrs` import package (one silently shadows the other).

    Returns:
        One line per conflict: the FusionRS authors' `fusionrs-clip` wheel installs a package named
        `fusionrs` too (its `FusionRSEncoder` calls are offered here, `from fusionrs import FusionRSEncoder`).
    """
    found = []
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name == "fusionrs":
            continue
        top = dist.read_text("top_level.txt")
        provides = ("fusionrs" in top.split() if top is not None
                    else any(str(f).startswith("fusionrs/") for f in (dist.files or [])))
        if provides:
            found.append(f"{dist.metadata['Name']} {dist.version} also installs a `fusionrs` package: uninstall it "
                         f"(`pip uninstall {dist.metadata['Name']}`); its FusionRSEncoder calls are in this package")
    return found


def environment_info() -> dict[str, Any]:
    """Library versions and machine facts that make a number comparable (or not) with another."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "gpus": _gpus(),
        "libraries": versions,
    }


def write_results(path: str | os.PathLike, results: dict[str, Any], *, command: str, seed: int | None) -> dict[str, Any]:
    """Write `results` as JSON with the command, seed, environment and date; return what was written.

    Args:
        path: the JSON file to write (atomically; replaced if it exists).
        results: the numbers to record; must be JSON-serialisable.
        command: the command line that produced the results.
        seed: the random seed used, or None when there was none.

    Returns:
        The written payload, a dict with keys "results", "command", "seed", "date" (UTC,
        `YYYY-MM-DDTHH:MM:SSZ`) and "environment" (`environment_info()`).
    """
    payload = {
        "results": results,
        "command": command,
        "seed": seed,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": environment_info(),
    }
    write_json_atomic(path, payload)
    return payload
