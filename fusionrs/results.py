"""Results files that can be trusted later: numbers next to the command, seed, versions and machine."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from fusionrs.core.atomic import write_json_atomic

__all__ = ["cpu_flags", "environment_info", "package_conflicts", "write_results"]

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


# SIMD features that change which float kernels torch runs (and so the last bits of results).
_SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
               "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def cpu_flags() -> dict[str, Any]:
    """The CPU's SIMD feature flags that matter for float kernels, and a digest of all its flags.

    Returns:
        {"simd": the `_SIMD_FLAGS` present, in that order; "all_sha256": the first 16 hex digits of
        the SHA-256 of the sorted full flag list} (empty values where /proc/cpuinfo is unreadable).
    """
    import hashlib

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    digest = hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:16] if flags else ""
    return {"simd": [f for f in _SIMD_FLAGS if f in flags], "all_sha256": digest}


def _torch_threads() -> int | None:
    """torch's intra-op thread count, without importing torch when it is not already loaded."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


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
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "threads": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
        "torch_threads": _torch_threads(),
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
