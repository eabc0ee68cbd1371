"""Device and dtype policy shared by every model in fusionrs.

One place decides where models run, so the CLI, pipelines and the Space agree without each
re-implementing `cuda if available else cpu`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["select_device", "select_dtype"]

_DTYPE_NAMES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
                "bfloat16": "bfloat16", "bf16": "bfloat16"}


def select_device(preferred: "str | torch.device | None" = None) -> "torch.device":
    """Pick the device: an explicit choice, else `$FUSIONRS_DEVICE`, else cuda > mps > cpu.

    An explicit device that is not available raises instead of silently falling back, because a
    user who asked for a GPU and got a CPU would wait hours before noticing.

    Args:
        preferred: a device name or `torch.device` ("cuda", "cuda:1", "mps", "cpu"); None reads
            `$FUSIONRS_DEVICE` and, when that is unset or empty, picks automatically.

    Returns:
        The `torch.device` to run on.

    Raises:
        RuntimeError: when a cuda or mps device is requested (explicitly or through
            `$FUSIONRS_DEVICE`) but that backend is not available on this machine.
    """
    import torch

    choice = preferred if preferred is not None else os.environ.get("FUSIONRS_DEVICE") or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available on this machine")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"device {str(device)!r} requested but MPS is not available on this machine")
    return device


def select_dtype(device: "torch.device", preferred: "str | torch.dtype | None" = None) -> "torch.dtype":
    """Pick the compute dtype: explicit choice, else bf16 on GPUs that support it, fp16 on other
    GPUs and MPS, fp32 on CPU (half precision on CPU is slower and less accurate).

    Args:
        device: the device the model will run on (as from `select_device`).
        preferred: a `torch.dtype`, or a name such as "float32"/"fp32", "float16"/"fp16",
            "bfloat16"/"bf16" (case-insensitive); None picks by device.

    Returns:
        The `torch.dtype` to compute in.

    Raises:
        ValueError: when `preferred` is a name that is not one of the known dtype names.
    """
    import torch

    if isinstance(preferred, torch.dtype):
        return preferred
    if preferred is not None:
        name = _DTYPE_NAMES.get(str(preferred).lower())
        if name is None:
            raise ValueError(f"unknown dtype {preferred!r}; use one of {sorted(set(_DTYPE_NAMES))}")
        return getattr(torch, name)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
