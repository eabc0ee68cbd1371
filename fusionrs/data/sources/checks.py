"""Hostile-input rules shared by every source adapter: entry shapes, the source-root boundary, UTF-8.

Three rules, applied to what adapters *list* (pixels are read later, by the builder's bounded reader):

1. **Entry shapes.** Each annotation entry is checked (types, required keys, NUL-free file names,
   split values that name a known split). A bad entry becomes a *skipped item* (`skipped_item`)
   whose reason names the annotation file and entry, never a crash. Only an annotation file that
   is unusable as a whole (not JSON, not UTF-8 structure, wrong top-level shape) raises
   `SourceSpecError`.
2. **The source root is a boundary.** A file name that is absolute, holds `..`, or resolves (through
   a symlink anywhere on its way) outside the source root is skipped with a reason; the root itself
   may be a symlink. Special files (FIFOs, devices, sockets) are skipped after a `stat`, never opened.
3. **Text is valid UTF-8.** A file name with bytes that are not UTF-8 (held by Python as
   surrogate escapes) and a caption, class or id holding a lone surrogate are not escaped: the
   record is skipped, and its reason shows the offending value escaped (`b'caf\\xe9.png'`).
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from fusionrs.data.sources.base import SPLIT_ALIASES, SourceItem, SourceSpecError, skipped_item, split_from_name

__all__ = [
    "EntryError", "check_captions", "check_class", "check_filename", "check_id", "check_objects", "check_split",
    "check_str", "describe_text", "guard_item", "inside", "regular_annotation", "split_from_file_name", "stem_id",
    "type_name", "walk_images",
]

_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                  (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


class EntryError(ValueError):
    """One annotation entry is malformed; the adapter turns it into a skipped item with this reason."""


_TYPE_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "list": "a list",
               "dict": "a mapping", "NoneType": "null", "tuple": "a list", "bytes": "bytes"}


def type_name(value: Any) -> str:
    """How reasons name a JSON value's type: "a string", "an integer", "a list", "null", ...

    Args:
        value: any decoded value.

    Returns:
        The type with its article.
    """
    return _TYPE_NAMES.get(type(value).__name__, f"a {type(value).__name__}")


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)  # printable: NUL, control characters and lone surrogates escaped
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_text(value: str) -> str:
    """A printable, ASCII-only rendering of `value` for reasons: non-UTF-8 file-name bytes as bytes.

    Args:
        value: a string that may hold surrogate escapes or lone surrogates.

    Returns:
        `b'...'` of the original bytes when `value` came from undecodable file-name bytes, else the
        `repr()` form (lone surrogates as `\\udXXX`), cut to 80 characters.
    """
    try:
        return _short(os.fsencode(value))
    except UnicodeError:
        return _short(value)


def _bad_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_str(value: Any, what: str, *, required: bool = True, default: str = "") -> str:
    """`value` as a string, or raise: the shape check for one text field of an entry.

    Args:
        value: the entry's value (None when the key is absent).
        what: the field named in the error, e.g. "'filename'".
        required: raise for None too (else None gives `default`).
        default: the result for None when not required.

    Returns:
        The string (not stripped).

    Raises:
        EntryError: the value is missing (when required) or not a string.
    """
    if value is None:
        if required:
            raise EntryError(f"no {what}")
        return default
    if not isinstance(value, str):
        raise EntryError(f"{what} is {type_name(value)}, not a string")
    return value


def check_filename(value: Any, what: str = "'filename'") -> str:
    """A file name from an annotation: a non-empty relative path without NUL bytes or `..`.

    Symlinks out of the root, special files and non-UTF-8 names are refused later, by
    `guard_item` (which repeats these checks on the whole locator), with the same reasons for
    every source.

    Args:
        value: the entry's value (None when the key is absent).
        what: the field named in the error.

    Returns:
        The file name.

    Raises:
        EntryError: missing, not a string, empty, holding a NUL byte, absolute, or holding `..`.
    """
    name = check_str(value, what)
    if not name.strip():
        raise EntryError(f"{what} is empty")
    _, reason = _normalise_locator(name)
    if reason:
        raise EntryError(f"{what} {reason.removeprefix('file name ')}")
    return name


def check_id(value: Any, what: str = "'id'") -> str:
    """An identifier: a string or an integer (not a bool), as a string.

    Args:
        value: the entry's value (None when the key is absent).
        what: the field named in the error.

    Returns:
        `str(value)`.

    Raises:
        EntryError: missing, or of another type.
    """
    if value is None:
        raise EntryError(f"no {what}")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise EntryError(f"{what} is {type_name(value)}, not a string or integer")
    if isinstance(value, str) and not value.strip():
        raise EntryError(f"{what} is empty")
    return str(value)


def check_class(value: Any, what: str = "'class'") -> str:
    """An optional class name: a string or an integer label (not a bool); None gives "".

    Args:
        value: the entry's value (None when the key is absent).
        what: the field named in the error.

    Returns:
        The class as a string ("" for None).

    Raises:
        EntryError: of another type (list, mapping, float, bool).
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise EntryError(f"{what} is {type_name(value)}, not a string")
    return str(value)


def check_split(value: Any, what: str = "'split'") -> str | None:
    """An optional split value: a string naming a known split (see `SPLIT_ALIASES`); None or "" gives None.

    Args:
        value: the entry's value (None when the key is absent).
        what: the field named in the error.

    Returns:
        "train", "validation", "test", or None.

    Raises:
        EntryError: not a string (an integer split too), or a name that is no known split.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise EntryError(f"{what} is {type_name(value)} ({_short(value)}), not a split name")
    key = value.strip().lower()
    if not key:
        return None
    if key not in SPLIT_ALIASES:
        raise EntryError(f"unknown split {_short(value)} (known: {', '.join(sorted(SPLIT_ALIASES))})")
    return SPLIT_ALIASES[key]


def split_from_file_name(stem: str) -> str | None:
    """The split an annotation file's name implies (`rsitmd_val` -> validation, `train` -> train), or None.

    Args:
        stem: the file name without its suffix.

    Returns:
        The split of the last `_`-separated part of `stem`, else of any of its letter runs, else None.
    """
    last = stem.rsplit("_", 1)[-1].lower()
    return SPLIT_ALIASES.get(last) or split_from_name(stem)


def check_captions(value: Any, what: str = "'caption'", *, required: bool = True) -> list[str]:
    """A caption field: one string or a list of strings.

    Args:
        value: the entry's value (None when the key is absent).
        what: the field named in the error.
        required: raise for None (else None gives []).

    Returns:
        The captions as a list (not cleaned: empty ones are the builder's concern).

    Raises:
        EntryError: missing (when required), not a string or list, or a list item that is not a string.
    """
    if value is None:
        if required:
            raise EntryError(f"no {what}")
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise EntryError(f"{what} is {type_name(value)}, not a string or a list of strings")
    for i, caption in enumerate(value):
        if not isinstance(caption, str):
            raise EntryError(f"{what}[{i}] is {type_name(caption)}, not a string")
    return list(value)


def check_objects(value: Any, what: str = "'objects'") -> list[dict[str, Any]]:
    """Boxes of a thermal manifest row: a list of `{label: str, bbox: [x, y, w, h]}` (finite numbers).

    Args:
        value: the row's value (None when the key is absent gives []).
        what: the field named in the error.

    Returns:
        The objects as `{"label", "bbox"}` dicts ("DontCare" boxes included: the adapter drops them).

    Raises:
        EntryError: not a list, or an object without a string label or a 4-number bbox.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise EntryError(f"{what} is {type_name(value)}, not a list")
    objects = []
    for i, obj in enumerate(value):
        if not isinstance(obj, dict):
            raise EntryError(f"{what}[{i}] is {type_name(obj)}, not a mapping")
        label = check_str(obj.get("label"), f"{what}[{i}].label")
        bbox = obj.get("bbox")
        if (not isinstance(bbox, (list, tuple)) or len(bbox) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)):
            raise EntryError(f"{what}[{i}].bbox must be 4 finite numbers, got {_short(bbox)}")
        objects.append({"label": label, "bbox": list(bbox)})
    return objects


def stem_id(locator: str) -> str:
    """A source id from a file name: the POSIX path without its suffix (`a/b.tif` -> `a/b`).

    Args:
        locator: a file name relative to the source root.

    Returns:
        The path without suffix, or `locator` itself when it has no usable name (e.g. ".").
    """
    try:
        return PurePosixPath(locator).with_suffix("").as_posix()
    except ValueError:
        return locator


def inside(path: str, root: str) -> bool:
    """Whether the real path `path` is `root` or lies under it (both already `realpath`ed).

    Args:
        path: a resolved path.
        root: a resolved folder.

    Returns:
        True when `path` is within `root`.
    """
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _special(mode: int) -> str:
    return next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")


def _text_problem(item: SourceItem) -> str:
    fields = [("file name", item.locator), ("source id", item.source_id), ("class", item.class_name),
              ("split", item.source_split or "")]
    fields += [(f"caption {i}", c) for i, c in enumerate(item.captions) if isinstance(c, str)]
    fields += [(f"object {i} label", o.get("label", "")) for i, o in enumerate(item.objects)
               if isinstance(o, dict) and isinstance(o.get("label"), str)]
    for what, value in fields:
        if isinstance(value, str) and _bad_utf8(value):
            return f"{what} is not valid UTF-8: {describe_text(value)}"
    return ""


def _normalise_locator(locator: str) -> tuple[str, str]:
    """(POSIX locator, reason): the same normalisation as `schema.validate_locator`, as a reason."""
    if "\x00" in locator:
        return locator, f"file name holds a NUL byte: {_short(locator)}"
    if "\\" in locator or PureWindowsPath(locator).drive:
        windows = PureWindowsPath(locator)
        if windows.is_absolute() or windows.drive:
            return locator, "file name is an absolute path"
        locator = windows.as_posix()
    path = PurePosixPath(locator)
    if path.is_absolute():
        return locator, "file name is an absolute path"
    if ".." in path.parts:
        return locator, f"file name holds '..': {_short(locator)}"
    if not path.parts:
        return locator, "file name is empty"
    return path.as_posix(), ""


def guard_item(item: SourceItem, real_root: str | None = None) -> SourceItem:
    """Apply the boundary and UTF-8 rules to one listed item: it passes, or becomes a skipped item.

    Args:
        item: an item as an adapter listed it.
        real_root: `os.path.realpath` of `item.root` (computed when None), for items with a root.

    Returns:
        `item` (its locator in POSIX form) when it passes; else a skipped item with the same source
        name, id (when printable) and rights, whose reason says why: text not valid UTF-8, a NUL
        byte, an absolute or `..` file name, a path resolving outside the source root (a symlink),
        or a special file (FIFO, device, socket, folder). A missing file passes: the builder
        reports it when it reads.
    """
    if item.skip_reason:
        return item
    reason = _text_problem(item)
    locator = item.locator
    if not reason and item.root is not None:
        locator, reason = _normalise_locator(item.locator)
        if not reason:
            root = Path(item.root)
            real_root = real_root or os.path.realpath(root)
            full = root / locator
            if not inside(os.path.realpath(full), real_root):
                reason = f"{_short(locator)} is a symlink (or lies under one) that points outside the source root"
            else:
                try:
                    mode = os.stat(full).st_mode  # follows links inside the root; opens nothing
                except FileNotFoundError:
                    mode = None
                except OSError as exc:
                    reason = f"{_short(locator)}: cannot stat ({exc.strerror or type(exc).__name__})"
                    mode = None
                if mode is not None and not stat.S_ISREG(mode):
                    reason = f"{_short(locator)} is {_special(mode)}, not an image file"
    if reason:
        source_id = item.source_id if not _bad_utf8(item.source_id) else f"skipped-{describe_text(item.source_id)}"
        return skipped_item(item.source_dataset, source_id, reason, rights=item.rights, modality=item.modality)
    if locator != item.locator:
        item.locator = locator
    return item


def walk_images(root: Path, suffixes: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """Every image file under `root`, without leaving it: `(locator, reason)` pairs in sorted path order.

    Symlinks are looked at, not blindly followed: a link (to a file or a folder) resolving outside
    `root` is listed with a reason; a link to a folder inside `root` is not descended (its files are
    listed under their real path, and loops cannot form); a link to a file inside `root` is kept.
    Special files with an image suffix are listed with a reason, never opened.

    Args:
        root: the folder to walk (it may itself be a symlink).
        suffixes: lower-case file suffixes that mark an image (e.g. ".png").

    Returns:
        An iterator of `(locator, reason)`: `reason` is "" for a listable image file.
    """
    real_root = os.path.realpath(root)
    found: list[tuple[str, str]] = []
    pending: list[tuple[str, ...]] = [()]
    while pending:
        parts = pending.pop()
        try:
            with os.scandir(os.path.join(root, *parts)) as entries:
                listed = list(entries)
        except OSError as exc:
            found.append(("/".join(parts), f"folder {'/'.join(parts) or '.'} cannot be listed "
                                           f"({exc.strerror or type(exc).__name__})"))
            continue
        for entry in listed:
            rel = parts + (entry.name,)
            locator = "/".join(rel)
            is_image = entry.name.lower().endswith(suffixes)
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not inside(target, real_root):
                        if is_image or os.path.isdir(entry.path):
                            found.append((locator, f"{_short(locator)} is a symlink that points outside the "
                                                   f"source root"))
                        continue
                    if os.path.isdir(entry.path):
                        continue  # inside the root: walked under its real path
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(rel)
                    continue
                if not is_image:
                    continue
                try:
                    mode = os.stat(entry.path).st_mode
                except FileNotFoundError:
                    found.append((locator, f"{_short(locator)} is a broken symlink"))
                    continue
                found.append((locator, "" if stat.S_ISREG(mode) else f"{_short(locator)} is {_special(mode)}, "
                                                                       f"not an image file"))
            except OSError as exc:
                if is_image:
                    found.append((locator, f"{_short(locator)}: cannot stat ({exc.strerror or type(exc).__name__})"))
    found.sort(key=lambda pair: tuple(pair[0].split("/")))
    yield from found


def regular_annotation(path: Path, folder: Path | None = None) -> Path:
    """Check an annotation file before it is read: a regular file (never a FIFO or device), inside
    `folder` when it was found by searching one.

    Args:
        path: the annotation file.
        folder: the folder it was found in (None: the user named the file itself).

    Returns:
        `path`.

    Raises:
        SourceSpecError: the file is missing, special (FIFO, device, socket, folder), or resolves
            outside `folder` (a symlink).
    """
    if folder is not None and not inside(os.path.realpath(path), os.path.realpath(folder)):
        raise SourceSpecError(f"{path}: annotation file is a symlink pointing outside {folder}; "
                              f"name the file itself as PATH to use it")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise SourceSpecError(f"{path}: annotation file not found") from None
    except OSError as exc:
        raise SourceSpecError(f"{path}: annotation file cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise SourceSpecError(f"{path}: annotation file is {_special(mode)}, not a regular file")
    return path
