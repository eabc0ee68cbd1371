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
    """Karpathy split JSON: `images[].filename/split/sentences[].raw` (+ optional `class`, `filepath`)."""
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
    """COCO captions: `images[].id/file_name` + `annotations[].image_id/caption`."""
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

    Train lists one caption per entry, so entries are merged per image (first-seen order)."""
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
    """NWPU-Captions: `{class: [{filename, split, raw, raw_1..raw_4}]}`, images in `<class>/<filename>`."""
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
