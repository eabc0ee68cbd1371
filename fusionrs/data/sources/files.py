"""File-based sources without a caption JSON: class folders, caption tables, real thermal images.

Folders are walked without leaving the source root (`checks.walk_images`); table and manifest rows
are checked for shape, a malformed row becoming a skipped item with its reason (file and row).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fusionrs.data.sources.base import SourceItem, SourceSpecError, normalise_class, skipped_item
from fusionrs.data.sources.checks import (
    EntryError,
    check_captions,
    check_class,
    check_filename,
    check_objects,
    check_split,
    regular_annotation,
    split_from_file_name,
    stem_id,
    type_name,
    walk_images,
)

__all__ = ["IMAGE_SUFFIXES", "folder_class_names", "iter_folder", "iter_table", "iter_thermal"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
_IMAGE_COLUMNS = ("image", "file", "filename", "file_name", "path", "image_path")
_CAPTION_COLUMNS = ("captions", "caption", "text", "sentences")


def _listed(folder: Path, source_dataset: str, rights: str, modality: str) -> Iterator[tuple[str, SourceItem | None]]:
    """(locator, skipped item or None) for every image file under `folder`, inside the root only."""
    for locator, reason in walk_images(folder, IMAGE_SUFFIXES):
        skipped = skipped_item(source_dataset, stem_id(locator), reason, rights=rights, modality=modality) \
            if reason else None
        yield locator, skipped


# RSSCN7 orders its class folders with a leading letter: aGrass, bField, cIndustry, ..., gParking.
_ORDER_LETTER = re.compile(r"([a-z])([A-Z][A-Za-z]*)")


def folder_class_names(folders: Iterable[str]) -> dict[str, str]:
    """The class name of each class folder of a scene-classification archive.

    Names go through `normalise_class` (lower case, spaces and hyphens as '_'), as the captioned
    sources' classes do, so AID's `BareLand/` is "bareland" like RSICD's class of the same scenes,
    and NWPU-RESISC45's `basketball_court/` stays "basketball_court". RSSCN7 prefixes its folder
    names with a letter that orders them (`aGrass`, `bField`, ..., `dRiverLake`): when there are at
    least two folders and every one is a lower-case letter followed by a capitalised name, the
    letters all different, the letter is dropped ("grass", "field", "riverlake").

    Args:
        folders: the class folder names (duplicates allowed).

    Returns:
        folder name -> class name.
    """
    names = sorted(set(folders))
    matches = [_ORDER_LETTER.fullmatch(name) for name in names]
    lettered = (len(names) >= 2 and all(matches)
                and len({m.group(1) for m in matches if m}) == len(names))
    return {name: normalise_class(match.group(2) if lettered and match else name)
            for name, match in zip(names, matches)}


def _check_layout(folder: Path, locators: list[str]) -> None:
    """Refuse a folder that is neither `<class>/<image>` nor images directly in the folder."""
    deep = [loc for loc in locators if loc.count("/") >= 2]
    if deep:
        tops = {loc.split("/", 1)[0] for loc in locators}
        hint = f" (e.g. {folder / tops.pop()})" if len(tops) == 1 else ""
        raise SourceSpecError(
            f"{folder}: {deep[0]!r} lies {deep[0].count('/')} folders deep; a folder source is <class>/<image> "
            f"(or images directly in it, without classes): point PATH at the folder that holds the class "
            f"folders{hint}")
    loose = [loc for loc in locators if "/" not in loc]
    if loose and len(loose) < len(locators):
        classed = next(loc for loc in locators if "/" in loc)
        raise SourceSpecError(
            f"{folder}: images both directly in the folder ({loose[0]!r}) and in class folders ({classed!r}); "
            f"move the loose images into a class folder, or point PATH at a folder of one layout")


def iter_folder(folder: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """A scene-classification archive: `folder/<class>/<image>` (AID, NWPU-RESISC45, RSSCN7, UCM's
    `Images/`), or images directly in `folder` (no classes); no captions.

    Args:
        folder: the root folder; files with an `IMAGE_SUFFIXES` suffix are listed, other files
            (a readme, a licence) are ignored.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s in sorted path order; the class is the image's folder name
        through `folder_class_names` (RSSCN7's ordering letter dropped, lower case), "" for images
        directly in `folder`. A symlink (file or folder) pointing outside `folder` and a special
        file with an image suffix are skipped items with their reason.

    Raises:
        SourceSpecError: `folder` is not a folder, an image lies deeper than `<class>/<image>`
            (e.g. `split/<class>/<image>`: name the folder that holds the class folders), or images
            lie both directly in `folder` and in class folders (raised while iterating, before any
            item is yielded).
    """
    if not folder.is_dir():
        raise SourceSpecError(f"{folder}: no such folder")
    listed = list(_listed(folder, source_dataset, rights, "rgb"))
    good = [relative for relative, skipped in listed if skipped is None]
    _check_layout(folder, good)
    classes = folder_class_names(relative.split("/", 1)[0] for relative in good if "/" in relative)
    for relative, skipped in listed:
        if skipped is not None:
            yield skipped
            continue
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=stem_id(relative),
            root=folder,
            locator=relative,
            captions=[],
            class_name=classes[relative.split("/", 1)[0]] if "/" in relative else "",
            rights=rights,
        )


def _read_table(path: Path) -> list[tuple[str, Any]]:
    """(where, row) for every row of a table; a row is whatever the file holds (checked by the caller)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson", ".parquet"):
        raise SourceSpecError(f"{path}: caption table must be .csv, .jsonl or .parquet")
    regular_annotation(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return [(f"{path.name} row {n}", row) for n, row in enumerate(pq.read_table(path).to_pylist(), 1)]
        except Exception as exc:  # pyarrow raises several types for a file that is not parquet
            raise SourceSpecError(f"{path}: not a readable parquet table ({str(exc)[:200]})") from None
    try:
        text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    except OSError as exc:
        raise SourceSpecError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    rows: list[tuple[str, Any]] = []
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            reader.fieldnames  # reads the header line
        except csv.Error as exc:
            raise SourceSpecError(f"{path}: the header line is not valid CSV ({exc})") from None
        for n in itertools.count(1):
            where = f"{path.name} row {n}"
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                rows.append((where, EntryError(f"not a valid CSV row ({exc})")))
                continue
            rows.append((where, row))
        return rows
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines: U+2028 may sit inside a JSON string
        if line.strip():
            try:
                rows.append((f"{path.name} line {n}", json.loads(line)))
            except (ValueError, RecursionError) as exc:
                rows.append((f"{path.name} line {n}", EntryError(f"not valid JSON ({str(exc)[:120]})")))
    return rows


def _pick(rows: list[tuple[str, Any]], names: tuple[str, ...]) -> str | None:
    """The first of `names` that is a key of any mapping row."""
    keys: set[str] = set()
    for _, row in rows:
        if isinstance(row, dict):
            keys.update(k for k in row if isinstance(k, str))
    return next((n for n in names if n in keys), None)


def _row_captions(value: Any, caption_col: str) -> list[str]:
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            pass
    if isinstance(value, str):
        return [v.strip() for v in value.split("|")] if caption_col == "captions" else [value]
    return check_captions(value, f"{caption_col!r}")


def iter_table(table: Path, image_dir: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """Images + a CSV/JSONL/parquet table: an image column and a caption column (one caption per
    row, or a list / JSON list / '|'-separated string); rows of the same image are merged.

    Args:
        table: the .csv, .jsonl/.ndjson or .parquet table; the image and caption columns are the
            first of `_IMAGE_COLUMNS` / `_CAPTION_COLUMNS` present in its rows.
        image_dir: the folder image paths are relative to.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, one per distinct image in first-seen order; class and split
        come from the first good row of each image (`class`/`class_name`/`label`, `split`). A row
        that is not a mapping (or not valid JSON / CSV), lacks a string image name (or has a NUL
        in it), has a caption that is not a string or list of strings, or a bad class or split is a
        skipped item with its reason, listed after the images.

    Raises:
        SourceSpecError: the table is missing, empty, of another format, not a regular file, or
            lacks an image or caption column (raised while iterating).
    """
    if not table.exists():
        raise SourceSpecError(f"{table}: caption table not found")
    rows = _read_table(table)
    if not rows:
        raise SourceSpecError(f"{table}: the caption table is empty")
    image_col, caption_col = _pick(rows, _IMAGE_COLUMNS), _pick(rows, _CAPTION_COLUMNS)
    if image_col is None or caption_col is None:
        found = sorted({k for _, r in rows if isinstance(r, dict) for k in r if isinstance(k, str)})
        raise SourceSpecError(f"{table}: needs an image column ({'/'.join(_IMAGE_COLUMNS)}) and a caption column "
                              f"({'/'.join(_CAPTION_COLUMNS)}); found {found[:20]}")
    merged: dict[str, dict[str, Any]] = {}
    bad: list[SourceItem] = []
    for where, row in rows:
        try:
            if isinstance(row, EntryError):
                raise row
            if not isinstance(row, dict):
                raise EntryError(f"row is {type_name(row)}, not a mapping")
            locator = check_filename(row.get(image_col), f"{image_col!r}")
            captions = _row_captions(row.get(caption_col), caption_col)
            class_name = check_class(row.get("class") or row.get("class_name") or row.get("label"))
            split = check_split(row.get("split"))
        except EntryError as exc:
            bad.append(skipped_item(source_dataset, f"{table.name}#{where.rsplit(' ', 1)[-1]}", f"{where}: {exc}",
                                    rights=rights))
            continue
        item = merged.setdefault(locator, {"captions": [], "class": class_name, "split": split})
        item["captions"] += captions
    for locator, item in merged.items():
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=stem_id(locator),
            root=image_dir,
            locator=locator,
            captions=item["captions"],
            class_name=item["class"],
            source_split=item["split"],
            rights=rights,
        )
    yield from bad


def _thermal_item(row: Any, manifest: Path, folder: Path, source_dataset: str, rights: str) -> SourceItem:
    if isinstance(row, EntryError):
        raise row
    if not isinstance(row, dict):
        raise EntryError(f"row is {type_name(row)}, not a mapping")
    file = check_filename(row.get("file"), "'file'")
    objects = [o for o in check_objects(row.get("objects")) if o["label"] != "DontCare"]
    captions = check_captions(row.get("captions"), "'captions'", required=False)
    split = check_split(row.get("split")) or split_from_file_name(manifest.stem)
    return SourceItem(
        source_dataset=source_dataset,
        source_id=Path(file).stem,
        root=folder,
        locator=file,
        captions=captions,
        modality="ir",
        class_name=check_class(row.get("class")),
        source_split=split,
        objects=objects,
        rights=rights,
        extra={"flight": row["flight"]} if "flight" in row else {},
    )


def iter_thermal(folder: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """Real IR-only images (e.g. HIT-UAV): `*.jsonl` rows with `file`, `split`, `objects`, `flight`,
    or, without JSONL, every image under the folder. They fill the `ir` column and are never translated.

    Args:
        folder: the folder of IR images and optional `*.jsonl` manifests.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s with `modality="ir"`; with manifests, their objects (boxes,
        "DontCare" dropped), captions, class, split (else the split word of the manifest's name, if
        any) and flight. A row that is not a mapping or valid JSON, lacks a string `file` (or has a
        NUL in it), has malformed objects (no string label, not 4 finite numbers) or captions, or a
        bad class or split is a skipped item with its reason. Without manifests, the folder is
        walked as for `iter_folder` (outside symlinks and special files skipped with a reason).

    Raises:
        SourceSpecError: `folder` is not a folder, or a manifest is not a regular file inside it
            (raised while iterating).
    """
    if not folder.is_dir():
        raise SourceSpecError(f"{folder}: no such folder")
    manifests = [regular_annotation(m, folder) for m in sorted(folder.glob("*.jsonl"))]
    if not manifests:
        for relative, skipped in _listed(folder, source_dataset, rights, "ir"):
            yield skipped if skipped is not None else SourceItem(source_dataset, stem_id(relative), folder, relative,
                                                                 [], modality="ir", rights=rights)
        return
    for manifest in manifests:
        for where, row in _read_table(manifest):
            try:
                yield _thermal_item(row, manifest, folder, source_dataset, rights)
            except EntryError as exc:
                natural = row.get("file") if isinstance(row, dict) else None
                source_id = (Path(natural).stem if isinstance(natural, str) and natural.strip() and "\x00" not in natural
                             else f"{manifest.name}#{where.rsplit(' ', 1)[-1]}")
                yield skipped_item(source_dataset, source_id, f"{where}: {exc}", rights=rights, modality="ir")
