"""The one atomic-write helper: a file or folder appears complete or not at all.

Everything fusionrs writes that a later run reads back (staged chunks, checkpoints, caches, dataset
folders, stage markers) goes through here, so a job killed mid-write never leaves a half file that a
resume would trust. The temporary sibling starts with "." and ends with ".tmp", so globs such as
`checkpoint-*` or `*.parquet` never see it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_file", "atomic_folder", "commit_folder", "write_json_atomic", "write_text_atomic"]


def _staging_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without error it replaces `path`.

    Args:
        path: the file to (re)write. Its parent folder is created.

    Returns:
        A context manager yielding the temporary `Path` to write to.

    Raises:
        Whatever the block raises; the temporary file is then removed and `path` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _staging_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_folder(path: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Yield an empty staging folder beside `path`; on success it is renamed to `path`.

    Args:
        path: the folder to create.
        replace: remove an existing `path` first (True), or fail with FileExistsError (False).

    Returns:
        A context manager yielding the staging folder `Path`.

    Raises:
        FileExistsError: `path` exists and `replace` is False.
    """
    target = Path(path)
    staging = _staging_name(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists() and not replace:
        shutil.rmtree(staging, ignore_errors=True)
        raise FileExistsError(f"{target} already exists")
    commit_folder(staging, target)


def commit_folder(staging: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move a finished staging folder to `target`, replacing what was there.

    For writers whose staging outlives one `with` block (e.g. the streaming dataset-folder writer).

    Args:
        staging: the complete folder, on the same file system as `target`.
        target: where it should appear.

    Returns:
        `target` as a `Path`.
    """
    staging, target = Path(staging), Path(target)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically.

    Args:
        path: the file to write.
        text: its new content.

    Returns:
        `path` as a `Path`.
    """
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, **dumps_kwargs: Any) -> Path:
    """Write `obj` as JSON (with a final newline) to `path` atomically.

    Args:
        path: the file to write.
        obj: a JSON-serialisable object.
        indent: `json.dumps` indentation (None: one line).
        **dumps_kwargs: further `json.dumps` arguments (e.g. `default=str`).

    Returns:
        `path` as a `Path`.
    """
    return write_text_atomic(path, json.dumps(obj, indent=indent, **dumps_kwargs) + "\n")
