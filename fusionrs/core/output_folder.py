"""The one rule for output folders: what fusionrs may replace, and checks made before any work starts.

Every folder fusionrs creates as an output (dataset folders, converted models, checkpoints, staging
folders) carries a small marker file, `MARKER_NAME`. `check_output_folder` is the only place that
decides whether an output path may be written or replaced, and every command that deletes or
replaces an `--out` goes through it:

- a missing or empty folder may always be written;
- a non-empty folder holding the marker may be replaced with `overwrite=True` (`--overwrite`);
- a non-empty folder without the marker (a folder fusionrs did not write) is never replaced, not
  even with `--overwrite`;
- an output that is, contains or lies inside an input of the same run is refused, so a build can
  never delete its own sources;
- an existing file or symbolic link at the output path is refused.

The marker starts with "." so the hub upload rules (which skip dot files) never publish it, and it
holds no path, only which fusionrs wrote the folder and what kind of folder it is.

The module also holds the early checks (`check_writable`, `check_free_space`), the cleanup of the
temporary files and folders a killed run leaves (`remove_leftovers`), and the translation of an
`OSError` met while writing into a `OutputFolderError` that names the path (`output_error`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from fusionrs.errors import OutputFolderError

__all__ = [
    "MARKER_NAME",
    "check_free_space",
    "check_not_input",
    "check_output_folder",
    "check_writable",
    "is_fusionrs_folder",
    "output_error",
    "remove_leftovers",
    "staging_prefix",
    "write_marker",
]

MARKER_NAME = ".fusionrs-output.json"
# Temporary names fusionrs gives files and folders while they are written: `.NAME.PID.tmp` (atomic
# files and folders) and `.NAME.PID.tmp-RANDOM` (the dataset-folder writer's staging folder).
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp(?:-[A-Za-z0-9_]+)?$")
# OSError kinds that are the user's environment (disk, permissions, mounts), not a fusionrs bug.
USER_OS_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "ENAMETOOLONG", "ELOOP",
                                      "EFBIG", "EMFILE", "ENOTDIR", "EISDIR", "EXDEV")
    if hasattr(errno, name)
)
_MiB = 1024 * 1024


def staging_prefix(path: str | os.PathLike) -> str:
    """The name prefix of this process's temporary sibling of `path` (`.NAME.PID.tmp`).

    Args:
        path: the file or folder being written.

    Returns:
        The prefix; `remove_leftovers` recognises names that start with it once the process is gone.
    """
    return f".{Path(path).name}.{os.getpid()}.tmp"


def write_marker(folder: str | os.PathLike, kind: str) -> Path:
    """Mark `folder` as written by fusionrs, so a later `--overwrite` may replace it.

    Args:
        folder: an existing folder (usually a staging folder, before it is moved into place).
        kind: what the folder holds ("dataset", "model", "checkpoint", "staging", ...).

    Returns:
        The marker file's path.
    """
    from fusionrs.version import __version__

    marker = Path(folder) / MARKER_NAME
    marker.write_text(json.dumps({"written_by": "fusionrs", "kind": kind, "fusionrs_version": __version__}) + "\n")
    return marker


def is_fusionrs_folder(folder: str | os.PathLike) -> bool:
    """Whether `folder` is a real folder (not a link) that holds the fusionrs marker.

    Args:
        folder: the folder to look at.

    Returns:
        True when the marker is there and says fusionrs wrote the folder.
    """
    folder = Path(folder)
    marker = folder / MARKER_NAME
    if folder.is_symlink() or not folder.is_dir() or marker.is_symlink() or not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("written_by") == "fusionrs"
    except (OSError, ValueError, AttributeError):
        return False


def _relation(out: Path, source: Path) -> str | None:
    """How the (resolved) output relates to a (resolved) input: "is", "contains", "is inside" or None."""
    if out == source:
        return "is"
    if source.is_relative_to(out):
        return "contains"
    if out.is_relative_to(source):
        return "is inside"
    return None


def check_not_input(out: str | os.PathLike, inputs: Iterable[str | os.PathLike], *, what: str = "output folder"
                    ) -> Path:
    """The input half of the output rule: `out` is no input of the run, holds none and lies in none.

    For folders a run writes into without replacing them (e.g. a build's work folder);
    `check_output_folder` applies it to every output it checks.

    Args:
        out: the folder to be written.
        inputs: the files and folders the run reads.
        what: how the message names `out`.

    Returns:
        `out` as a `Path`.

    Raises:
        OutputFolderError: `out` is, contains or lies inside one of `inputs` (both resolved, so
            symbolic links and `..` change nothing).
    """
    out = Path(out)
    resolved = out.resolve()
    for source in inputs:
        relation = _relation(resolved, Path(source).resolve())
        if relation:
            raise OutputFolderError(
                f"{what} {out} {relation} the input {source} of this run: refusing to write there "
                f"(choose a folder outside every input)")
    return out


def check_output_folder(
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    what: str = "output folder",
) -> Path:
    """The one rule deciding whether `out` may be written, or replaced (see the module docstring).

    Args:
        out: the output folder about to be written or replaced.
        overwrite: the user asked to replace an existing fusionrs output (`--overwrite`).
        inputs: the files and folders this run reads (source roots, annotation files, input
            datasets, checkpoints); `out` may be none of them and may neither contain nor lie
            inside any of them.
        what: how the messages name `out` (e.g. "--out").

    Returns:
        `out` as a `Path`.

    Raises:
        OutputFolderError: (a `FileExistsError`) `out` is an input, contains one or lies inside
            one; `out` is a file or a symbolic link; `out` is a non-empty folder fusionrs did not
            write (even with `overwrite`); or `out` is a non-empty fusionrs folder and `overwrite`
            is False.
    """
    out = check_not_input(out, inputs, what=what)
    if out.is_symlink():
        raise OutputFolderError(f"{what} {out} is a symbolic link: refusing to replace it (pass the folder itself)")
    if not out.exists():
        return out
    if not out.is_dir():
        raise OutputFolderError(f"{what} {out} exists and is not a folder: refusing to replace it")
    try:
        empty = not any(out.iterdir())
    except OSError as exc:
        raise output_error(out, exc, what=what) from exc
    if empty:
        return out
    if not is_fusionrs_folder(out):
        raise OutputFolderError(
            f"{what} {out} is not empty and was not written by fusionrs (no {MARKER_NAME}): refusing to replace "
            f"it, even with --overwrite (remove it yourself or choose another folder)")
    if not overwrite:
        raise OutputFolderError(f"{what} {out} exists and is not empty; pass --overwrite to replace it")
    return out


def check_writable(folder: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Create `folder` (with its parents) and prove a file can be written and removed there.

    Args:
        folder: the folder that will receive files.
        what: how the message names it.

    Returns:
        `folder` as a `Path`.

    Raises:
        OutputFolderError: the folder cannot be created or written (read-only file system,
            permissions, a file in the way); the message names the folder and the reason.
    """
    folder = Path(folder)
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputFolderError(f"{what} {folder} is not writable: {existing} is a file, not a folder")
    probe = folder / f".fusionrs-probe.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"0")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
        raise output_error(folder, exc, what=what, doing="is not writable") from exc
    return folder


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(needs: dict[str | os.PathLike, int], *, reserve: int = 16 * _MiB) -> None:
    """Refuse to start when a file system cannot hold what is about to be written to it.

    Folders on the same file system add up their needs. The needs are estimates (lower bounds), so
    passing this check does not promise the run fits; a disk that fills later still ends the run
    with a one-line `OutputFolderError` naming the file.

    Args:
        needs: bytes expected to be written into each folder (missing folders: their nearest
            existing parent is measured).
        reserve: bytes to leave free on every file system besides the needs.

    Raises:
        OutputFolderError: a file system has less free space than its folders need; the message
            names the folders, the estimate and the free space.
    """
    by_device: dict[int, tuple[list[str], int, Path]] = {}
    for folder, need in needs.items():
        existing = _nearest_existing(Path(folder))
        device = existing.stat().st_dev
        names, total, where = by_device.get(device, ([], 0, existing))
        by_device[device] = (names + [str(folder)], total + int(need), where)
    for names, need, where in by_device.values():
        free = shutil.disk_usage(where).free
        if free < need + reserve:
            raise OutputFolderError(
                f"not enough free space for {' and '.join(names)}: about {_human(need + reserve)} needed, "
                f"{_human(free)} free on the file system of {where}")


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def output_error(path: str | os.PathLike, exc: OSError, *, what: str = "", doing: str = "cannot be written"
                 ) -> OutputFolderError:
    """An `OutputFolderError` for an `OSError` met while writing `path`: one line, naming path and cause.

    Args:
        path: the file or folder being written.
        exc: the error the operating system gave.
        what: how to name the path (e.g. "--out"); empty: just the path.
        doing: what went wrong, e.g. "cannot be written" or "is not writable".

    Returns:
        The error to raise (`raise output_error(path, exc) from exc`).
    """
    reason = " ".join((exc.strerror or str(exc)).split())
    hint = {errno.ENOSPC: "the disk is full", errno.EROFS: "read-only file system",
            errno.EACCES: "check its permissions", errno.EPERM: "check its permissions"}.get(exc.errno, "")
    if getattr(errno, "EDQUOT", None) == exc.errno:
        hint = "disk quota exceeded"
    hint = f" ({hint})" if hint and hint.lower() not in reason.lower() else ""
    name = f"{what} {path}" if what else str(path)
    culprit = str(exc.filename or "")
    culprit = f" ({culprit})" if culprit and culprit != str(path) and ".fusionrs-probe." not in culprit else ""
    return OutputFolderError(f"{name} {doing}: {reason}{hint}{culprit}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's live process (or a number that is no process id)
    return True


def remove_leftovers(folder: str | os.PathLike, *, name: str | None = None, files: bool = True) -> list[Path]:
    """Remove the temporary files and folders that a killed fusionrs process left in `folder`.

    Only names of the form fusionrs gives its temporaries (`.NAME.PID.tmp`, `.NAME.PID.tmp-XXXX`)
    whose process no longer runs are removed; a temporary folder must also hold the fusionrs
    marker. A live process's temporaries (a concurrent run) are left alone.

    Args:
        folder: the folder to clean (nothing happens when it does not exist).
        name: only temporaries of this target name (e.g. the output folder's name, when `folder` is
            a user's folder that holds other things).
        files: also remove temporary files (False: folders only).

    Returns:
        The paths removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if not match or (name is not None and match["name"] != name) or _alive(int(match["pid"])):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                if is_fusionrs_folder(entry):
                    shutil.rmtree(entry)
                    removed.append(entry)
            elif files and (entry.is_file() or entry.is_symlink()):
                entry.unlink()
                removed.append(entry)
        except OSError:
            continue  # best effort: a leftover we cannot remove is hidden and harmless
    return removed
