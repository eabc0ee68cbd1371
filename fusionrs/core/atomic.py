"""The one atomic-write helper: a file or folder appears complete or not at all.

Everything fusionrs writes that a later run reads back (staged chunks, checkpoints, caches, dataset
folders, stage markers) goes through here, so a job killed mid-write never leaves a half file that a
resume would trust. The temporary sibling starts with "." and ends with ".tmp", so globs such as
`checkpoint-*` or `*.parquet` never see it, and it carries the writer's process id, so a later run can
tell a dead process's leftover (`fusionrs.core.output_folder.remove_leftovers`) from a live one's.

Writes are durable: a file's bytes are fsynced before its rename and the folder entry after it, so a
power cut never leaves a complete-looking name over missing bytes. Folders get the fusionrs marker
(`fusionrs.core.output_folder.MARKER_NAME`), and `commit_folder` replaces only what the output-folder
rule allows (`check_output_folder`): never a non-empty folder fusionrs did not write.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fusionrs.core.output_folder import MARKER_NAME, check_output_folder, staging_prefix, write_marker

__all__ = ["atomic_file", "atomic_folder", "commit_folder", "fsync_path", "fsync_tree", "write_json_atomic",
           "write_text_atomic"]


def _staging_name(path: Path) -> Path:
    return path.with_name(staging_prefix(path))


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's entries') bytes to the disk.

    Args:
        path: a file, or a folder (its list of entries is flushed; ignored where the platform
            cannot open folders, e.g. Windows).

    Raises:
        OSError: the file cannot be opened or flushed (a folder that cannot be flushed is ignored).
    """
    path = Path(path)
    is_dir = path.is_dir()
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if is_dir else 0))
    except OSError:
        if is_dir:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not is_dir:  # some file systems refuse fsync on folders; the files are what matter
            raise
    finally:
        os.close(fd)


def fsync_tree(folder: str | os.PathLike) -> None:
    """fsync every file and folder under `folder` (and `folder` itself), before it is renamed into place.

    Args:
        folder: the folder to flush.
    """
    for root, dirs, files in os.walk(folder):
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                fsync_path(os.path.join(root, name))
        fsync_path(root)


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
        fsync_path(tmp)  # the bytes reach the disk before the name that promises them
        os.replace(tmp, target)
        fsync_path(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_folder(path: str | os.PathLike, *, replace: bool = True, kind: str = "folder") -> Iterator[Path]:
    """Yield a new staging folder beside `path` (holding only the marker); on success it is renamed to `path`.

    Args:
        path: the folder to create.
        replace: remove an existing `path` first (True), or fail with FileExistsError (False).
        kind: what the folder holds, recorded in its fusionrs marker.

    Returns:
        A context manager yielding the staging folder `Path`.

    Raises:
        FileExistsError: `path` exists and `replace` is False.
        OutputFolderError: `path` is a non-empty folder fusionrs did not write (never replaced).
    """
    target = Path(path)
    staging = _staging_name(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_marker(staging, kind)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists() and not replace:
        shutil.rmtree(staging, ignore_errors=True)
        raise FileExistsError(f"{target} already exists")
    try:
        commit_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def commit_folder(staging: str | os.PathLike, target: str | os.PathLike, *, kind: str | None = None) -> Path:
    """Move a finished staging folder to `target`, replacing what was there if the output rule allows.

    For writers whose staging outlives one `with` block (e.g. the streaming dataset-folder writer).
    The staging folder gets the fusionrs marker (so the result may be replaced later) and is
    fsynced before the rename; the parent folder after it.

    Args:
        staging: the complete folder, on the same file system as `target`.
        target: where it should appear.
        kind: what the folder holds, recorded in its marker (None: keep the staging folder's
            marker, or "folder" when it has none).

    Returns:
        `target` as a `Path`.

    Raises:
        OutputFolderError: `target` is a non-empty folder fusionrs did not write, a file or a
            symbolic link (checked by `check_output_folder`); nothing is removed then.
    """
    staging, target = Path(staging), Path(target)
    check_output_folder(target, overwrite=True)
    if kind is not None or not (staging / MARKER_NAME).is_file():
        write_marker(staging, kind or "folder")
    fsync_tree(staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    fsync_path(target.parent)
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
