"""The `Context` every reproduction stage receives; shared by `runner.py` and `stages.py`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Context"]


@dataclass
class Context:
    """What every stage sees: the preset, the output folder and the results of earlier stages."""

    preset_name: str
    preset: dict[str, Any]
    out: Path
    results: dict[str, Any]
    progress: bool = True

    @property
    def seed(self) -> int:
        return int(self.preset.get("seed", 0))

    def stage_dir(self, name: str) -> Path:
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return path
