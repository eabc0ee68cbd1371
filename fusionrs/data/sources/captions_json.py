"""Caption-dataset annotation formats: Karpathy JSON (RSICD, Sydney, UCM), COCO captions, RSITMD, NWPU."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fusionrs.data.sources.base import (
    SourceItem,
    SourceSpecError,
    class_from_filename,
    normalise_class,
    normalise_split,
    split_from_name,
)

__all__ = ["iter_karpathy", "iter_coco", "iter_rsitmd", "iter_nwpu", "read_json"]


def read_json(path: Path) -> Any:
    """Read a UTF-8 JSON annotation file.

    Args:
        path: the JSON file.

    Returns:
        The decoded JSON value.

    Raises:
        SourceSpecError: the file does not exist, or is not valid UTF-8 JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceSpecError(f"{path}: annotation file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceSpecError(f"{path}: not valid JSON ({exc})") from None


def _find_one(folder: Path, patterns: tuple[str, ...]) -> Path:
    if folder.is_file():
        return folder
    if not folder.is_dir():
        raise SourceSpecError(f"{folder}: no such file or folder")
    for pattern in patterns:
        matches = sorted(folder.glob(pattern))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise SourceSpecError(f"{folder}: several annotation files match {pattern}: {[m.name for m in matches]}")
    raise SourceSpecError(f"{folder}: no annotation file ({', '.join(patterns)})")


def _image_root(folder: Path) -> Path:
    base = folder if folder.is_dir() else folder.parent
    return base / "images" if (base / "images").is_dir() else base


def iter_karpathy(path: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """Karpathy split JSON: `images[].filename/split/sentences[].raw` (+ optional `class`, `filepath`).

    Args:
        path: the annotation JSON, or a folder holding exactly one `dataset_*.json` (else one
            `*.json`); images are read from its `images/` subfolder when there is one.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, one per `images[]` entry, in file order.

    Raises:
        SourceSpecError: `path` does not exist, no or several annotation files match, the JSON is
            unreadable or has no `images` list, or an entry has no `filename` (raised while iterating).
    """
    annotation = _find_one(path, ("dataset_*.json", "*.json"))
    data = read_json(annotation)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise SourceSpecError(f"{annotation}: expected Karpathy format with an 'images' list")
    root = _image_root(path)
    for i, entry in enumerate(data["images"]):
        filename = entry.get("filename")
        if not isinstance(filename, str):
            raise SourceSpecError(f"{annotation}: images[{i}] has no 'filename'")
        locator = f"{entry['filepath']}/{filename}" if entry.get("filepath") else filename
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=Path(locator).with_suffix("").as_posix(),
            root=root,
            locator=locator,
            captions=[s.get("raw", "") for s in entry.get("sentences", [])],
            class_name=normalise_class(entry.get("class") or class_from_filename(filename)),
            source_split=normalise_split(entry.get("split")),
            rights=rights,
        )


def iter_coco(annotations: Path, image_dir: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """COCO captions: `images[].id/file_name` + `annotations[].image_id/caption`.

    Args:
        annotations: the COCO captions JSON; a split word in its name (e.g. `*_test_*`) is the
            default split of its images.
        image_dir: the folder `file_name`s are relative to.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, one per `images[]` entry, with all its annotations' captions.

    Raises:
        SourceSpecError: the JSON is missing, unreadable, or lacks `images` or `annotations`
            (raised while iterating).
    """
    data = read_json(annotations)
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise SourceSpecError(f"{annotations}: expected COCO format with 'images' and 'annotations'")
    captions: dict[Any, list[str]] = {}
    for ann in data["annotations"]:
        captions.setdefault(ann.get("image_id"), []).append(ann.get("caption", ""))
    split = split_from_name(Path(annotations).stem)
    for image in data["images"]:
        filename = image["file_name"]
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=str(image["id"]),
            root=image_dir,
            locator=filename,
            captions=captions.get(image["id"], []),
            class_name=class_from_filename(filename),
            source_split=normalise_split(image.get("split")) or split,
            rights=rights,
        )


def iter_rsitmd(folder: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """RSITMD: `rsitmd_{train,val,test}.json`, lists of `{"image": "train/NAME.tif", "caption": str | list}`.

    Train lists one caption per entry, so entries are merged per image (first-seen order).

    Args:
        folder: the folder holding `rsitmd_*.json` (images under its `images/` when present), or
            one such JSON file.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, one per image, file by file; the split comes from the file
        name (`rsitmd_val.json` -> validation).

    Raises:
        SourceSpecError: the folder has no `rsitmd_*.json`, a file is missing or not valid JSON, or
            an entry has no `image` (raised while iterating).
    """
    files = sorted(folder.glob("rsitmd_*.json")) if folder.is_dir() else [folder]
    if not files:
        raise SourceSpecError(f"{folder}: no rsitmd_*.json files")
    root = folder / "images" if (folder / "images").is_dir() else folder
    for file in files:
        split = normalise_split(file.stem.split("_", 1)[-1])
        merged: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(read_json(file)):
            if "image" not in entry:
                raise SourceSpecError(f"{file}: entry {i} has no 'image'")
            item = merged.setdefault(entry["image"], {"captions": [], "class": entry.get("label_name")})
            caption = entry.get("caption", [])
            item["captions"] += caption if isinstance(caption, list) else [caption]
        for image, item in merged.items():
            yield SourceItem(
                source_dataset=source_dataset,
                source_id=Path(image).stem,
                root=root,
                locator=image,
                captions=item["captions"],
                class_name=normalise_class(item["class"] or class_from_filename(image)),
                source_split=split,
                rights=rights,
            )


def iter_nwpu(path: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """NWPU-Captions: `{class: [{filename, split, raw, raw_1..raw_4}]}`, images in `<class>/<filename>`.

    Args:
        path: the annotation JSON, or a folder holding `dataset_nwpu.json` (else exactly one
            `*.json`); images are read from its `images/` subfolder when there is one.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, classes in sorted order, with up to five captions each.

    Raises:
        SourceSpecError: `path` does not exist, no or several annotation files match, or the JSON
            is unreadable or not a mapping (raised while iterating).
    """
    annotation = _find_one(path, ("dataset_nwpu.json", "*.json"))
    data = read_json(annotation)
    if not isinstance(data, dict):
        raise SourceSpecError(f"{annotation}: expected NWPU format (a mapping class -> list of images)")
    root = _image_root(path)
    for class_name, entries in sorted(data.items()):
        for entry in entries:
            captions = [entry[k] for k in ("raw", "raw_1", "raw_2", "raw_3", "raw_4") if isinstance(entry.get(k), str)]
            yield SourceItem(
                source_dataset=source_dataset,
                source_id=Path(entry["filename"]).stem,
                root=root,
                locator=f"{class_name}/{entry['filename']}",
                captions=captions,
                class_name=normalise_class(class_name),
                source_split=normalise_split(entry.get("split")),
                rights=rights,
            )
