"""Content hashes that results and release files record: one file's SHA-256, a data folder's fingerprint."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["IMAGE_SUFFIXES", "file_sha256", "folder_fingerprint"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})


def file_sha256(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks.

    Args:
        path: the file.

    Returns:
        64 hex digits.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(folder: str | os.PathLike, suffixes: Iterable[str] = IMAGE_SUFFIXES) -> dict[str, Any]:
    """File count and SHA-256 of the sorted relative names of the files below `folder` with `suffixes`.

    Names, not bytes: cheap on large image folders, and it changes whenever a file is added, removed or
    renamed (the usual way two copies of a dataset differ).

    Args:
        folder: a data folder.
        suffixes: lower-case file suffixes to count.

    Returns:
        {"folder", "n_files", "names_sha256"}; n_files 0 and names_sha256 None when the folder is absent.
    """
    folder, wanted = Path(folder), {s.lower() for s in suffixes}
    if not folder.is_dir():
        return {"folder": str(folder), "n_files": 0, "names_sha256": None}
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix.lower() in wanted)
    return {"folder": str(folder), "n_files": len(names),
            "names_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest()}
