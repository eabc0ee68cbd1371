"""Reading JSON Lines files with errors that name the file and line (plain or gzip)."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fusionrs.errors import FusionRSError

__all__ = ["iter_jsonl"]


def iter_jsonl(path: str | os.PathLike, *, error: type[Exception] = FusionRSError) -> Iterator[tuple[str, dict[str, Any]]]:
    """Stream the objects of a `.jsonl` (or `.jsonl.gz`) file, one line at a time.

    Args:
        path: the file; a `.gz` suffix is read through gzip.
        error: the exception class raised for a line that is not a JSON object.

    Returns:
        An iterator of `(where, row)`: "FILE:LINE" for messages about the row, and the parsed object.
        Blank lines are skipped.

    Raises:
        error: a line is not valid JSON or not a JSON object (named "FILE:LINE").
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise error(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise error(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, row
