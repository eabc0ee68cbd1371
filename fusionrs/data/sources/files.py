"""File-based sources without a caption JSON: class folders, caption tables, real thermal images."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fusionrs.data.sources.base import SourceItem, SourceSpecError, normalise_split

__all__ = ["IMAGE_SUFFIXES", "iter_folder", "iter_table", "iter_thermal"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
_IMAGE_COLUMNS = ("image", "file", "filename", "file_name", "path", "image_path")
_CAPTION_COLUMNS = ("captions", "caption", "text", "sentences")


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def iter_folder(folder: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """`folder/<class>/<image>`: scene classification archives (AID, UCM, NWPU-RESISC45); no captions.

    Args:
        folder: the root folder, searched recursively for files with an `IMAGE_SUFFIXES` suffix.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s in sorted path order; the class is the image's parent folder
        name ("" for images directly in `folder`).

    Raises:
        SourceSpecError: `folder` is not a folder (raised while iterating).
    """
    if not folder.is_dir():
        raise SourceSpecError(f"{folder}: no such folder")
    for path in _images_under(folder):
        relative = path.relative_to(folder).as_posix()
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=Path(relative).with_suffix("").as_posix(),
            root=folder,
            locator=relative,
            captions=[],
            class_name=path.parent.name if path.parent != folder else "",
            rights=rights,
        )


def _read_table(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SourceSpecError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        return rows
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    raise SourceSpecError(f"{path}: caption table must be .csv, .jsonl or .parquet")


def _pick(row: dict[str, Any], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in row), None)


def iter_table(table: Path, image_dir: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """Images + a CSV/JSONL/parquet table: an image column and a caption column (one caption per
    row, or a list / JSON list / '|'-separated string); rows of the same image are merged.

    Args:
        table: the .csv, .jsonl/.ndjson or .parquet table; the image and caption columns are the
            first of `_IMAGE_COLUMNS` / `_CAPTION_COLUMNS` present in its first row.
        image_dir: the folder image paths are relative to.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, one per distinct image in first-seen order; class and split
        come from the first row of each image (`class`/`class_name`/`label`, `split`).

    Raises:
        SourceSpecError: the table is missing, empty, of another format, has an invalid JSONL line,
            or lacks an image or caption column (raised while iterating).
    """
    if not table.is_file():
        raise SourceSpecError(f"{table}: caption table not found")
    rows = _read_table(table)
    if not rows:
        raise SourceSpecError(f"{table}: the caption table is empty")
    image_col, caption_col = _pick(rows[0], _IMAGE_COLUMNS), _pick(rows[0], _CAPTION_COLUMNS)
    if image_col is None or caption_col is None:
        raise SourceSpecError(f"{table}: needs an image column ({'/'.join(_IMAGE_COLUMNS)}) and a caption column "
                              f"({'/'.join(_CAPTION_COLUMNS)}); found {sorted(rows[0])}")
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = merged.setdefault(str(row[image_col]), {"captions": [], "row": row})
        value = row[caption_col]
        if isinstance(value, str) and value.startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if isinstance(value, str):
            value = [v.strip() for v in value.split("|")] if caption_col == "captions" else [value]
        item["captions"] += [str(v) for v in (value or [])]
    for locator, item in merged.items():
        row = item["row"]
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=Path(locator).with_suffix("").as_posix(),
            root=image_dir,
            locator=locator,
            captions=item["captions"],
            class_name=str(row.get("class") or row.get("class_name") or row.get("label") or ""),
            source_split=normalise_split(row.get("split")),
            rights=rights,
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
        "DontCare" dropped), captions, class, split (else the manifest's name) and flight.

    Raises:
        SourceSpecError: `folder` is not a folder, a manifest line is not valid JSON, or a row has
            no `file` (raised while iterating).
    """
    if not folder.is_dir():
        raise SourceSpecError(f"{folder}: no such folder")
    manifests = sorted(folder.glob("*.jsonl"))
    if not manifests:
        for path in _images_under(folder):
            relative = path.relative_to(folder).as_posix()
            yield SourceItem(source_dataset, Path(relative).with_suffix("").as_posix(), folder, relative, [],
                             modality="ir", rights=rights)
        return
    for manifest in manifests:
        for row in _read_table(manifest):
            if "file" not in row:
                raise SourceSpecError(f"{manifest}: every row needs a 'file'")
            objects = [o for o in row.get("objects", []) if o.get("label") != "DontCare"]
            yield SourceItem(
                source_dataset=source_dataset,
                source_id=Path(row["file"]).stem,
                root=folder,
                locator=row["file"],
                captions=[str(c) for c in row.get("captions", [])],
                modality="ir",
                class_name=str(row.get("class", "")),
                source_split=normalise_split(row.get("split")) or normalise_split(manifest.stem),
                objects=[{"label": o["label"], "bbox": list(o["bbox"])} for o in objects],
                rights=rights,
                extra={"flight": row["flight"]} if "flight" in row else {},
            )
