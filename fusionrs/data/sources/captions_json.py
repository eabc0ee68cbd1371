"""Caption-dataset annotation formats: Karpathy JSON (RSICD, Sydney, UCM), COCO captions, RSITMD, NWPU.

Every entry is checked for shape (`fusionrs.data.sources.checks`): a malformed entry is yielded as a
skipped item with its reason (annotation file name and entry index); only a file that is not JSON or
has the wrong top-level shape raises `SourceSpecError`.
"""

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
    skipped_item,
    split_from_name,
)
from fusionrs.data.sources.checks import (
    EntryError,
    check_captions,
    check_class,
    check_filename,
    check_id,
    check_split,
    check_str,
    regular_annotation,
    split_from_file_name,
    stem_id,
    type_name,
)

__all__ = ["iter_karpathy", "iter_coco", "iter_rsitmd", "iter_nwpu", "read_json"]


def read_json(path: Path) -> Any:
    """Read a JSON annotation file (UTF-8; undecodable bytes kept as surrogate escapes, so that only
    the entries holding them are skipped).

    Args:
        path: the JSON file.

    Returns:
        The decoded JSON value.

    Raises:
        SourceSpecError: the file does not exist, is not a regular file (FIFO, device, folder), or is
            not valid JSON.
    """
    regular_annotation(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    except OSError as exc:
        raise SourceSpecError(f"{path}: annotation file cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text.removeprefix("\ufeff"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, over-long integers, deep nesting
        raise SourceSpecError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:200]})") from None


def _find_one(folder: Path, patterns: tuple[str, ...]) -> Path:
    if folder.is_file() or (folder.exists() and not folder.is_dir()):
        return regular_annotation(folder)
    if not folder.is_dir():
        raise SourceSpecError(f"{folder}: no such file or folder")
    for pattern in patterns:
        matches = sorted(folder.glob(pattern))
        if len(matches) == 1:
            return regular_annotation(matches[0], folder)
        if len(matches) > 1:
            raise SourceSpecError(f"{folder}: several annotation files match {pattern}: {[m.name for m in matches]}")
    raise SourceSpecError(f"{folder}: no annotation file ({', '.join(patterns)})")


def _image_root(folder: Path) -> Path:
    base = folder if folder.is_dir() else folder.parent
    return base / "images" if (base / "images").is_dir() else base


def _mapping(entry: Any, what: str = "entry") -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise EntryError(f"{what} is {type_name(entry)}, not a mapping")
    return entry


def _readable_id(value: Any, fallback: str) -> str:
    """The entry's natural id when it is a clean string, else its place in the annotation file."""
    if isinstance(value, str) and value.strip() and "\x00" not in value:
        return stem_id(value)
    return fallback


def _karpathy_item(entry: Any, root: Path, source_dataset: str, rights: str) -> SourceItem:
    entry = _mapping(entry)
    filename = check_filename(entry.get("filename"))
    filepath = entry.get("filepath")
    filepath = check_filename(filepath, "'filepath'") if filepath not in (None, "") else ""
    sentences = entry.get("sentences", [])
    if not isinstance(sentences, list):
        raise EntryError(f"'sentences' is {type_name(sentences)}, not a list")
    captions = []
    for j, sentence in enumerate(sentences):
        captions.append(check_str(_mapping(sentence, f"sentences[{j}]").get("raw"), f"sentences[{j}].raw"))
    locator = f"{filepath}/{filename}" if filepath else filename
    return SourceItem(
        source_dataset=source_dataset,
        source_id=stem_id(locator),
        root=root,
        locator=locator,
        captions=captions,
        class_name=normalise_class(check_class(entry.get("class")) or class_from_filename(filename)),
        source_split=check_split(entry.get("split")),
        rights=rights,
    )


def iter_karpathy(path: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """Karpathy split JSON: `images[].filename/split/sentences[].raw` (+ optional `class`, `filepath`).

    Args:
        path: the annotation JSON, or a folder holding exactly one `dataset_*.json` (else one
            `*.json`); images are read from its `images/` subfolder when there is one.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, one per `images[]` entry, in file order. An entry that is not
        a mapping, lacks a string `filename`, has a NUL in it, non-list `sentences`, a sentence
        without a string `raw`, a non-string `class` or a split that is not a known split name is a
        skipped item (`skip_reason`).

    Raises:
        SourceSpecError: `path` does not exist, no or several annotation files match, the JSON is
            unreadable or has no `images` list (raised while iterating).
    """
    annotation = _find_one(path, ("dataset_*.json", "*.json"))
    data = read_json(annotation)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise SourceSpecError(f"{annotation}: expected Karpathy format with an 'images' list")
    root = _image_root(path)
    for i, entry in enumerate(data["images"]):
        where = f"{annotation.name} images[{i}]"
        try:
            yield _karpathy_item(entry, root, source_dataset, rights)
        except EntryError as exc:
            natural = entry.get("filename") if isinstance(entry, dict) else None
            yield skipped_item(source_dataset, _readable_id(natural, f"{annotation.name}#images[{i}]"),
                               f"{where}: {exc}", rights=rights)


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
        A malformed image entry (not a mapping, no string/integer `id`, no string `file_name`, a NUL
        in it, a bad `split`) is a skipped item; so is a malformed annotation entry (no
        string/integer `image_id`, no string `caption`), while its image keeps its other captions.

    Raises:
        SourceSpecError: the JSON is missing, unreadable, or lacks an `images` or `annotations`
            list (raised while iterating).
    """
    data = read_json(regular_annotation(Path(annotations)))
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
            data.get("annotations"), list):
        raise SourceSpecError(f"{annotations}: expected COCO format with 'images' and 'annotations' lists")
    name = Path(annotations).name
    captions: dict[str, list[str]] = {}
    bad_annotations: list[SourceItem] = []
    for j, ann in enumerate(data["annotations"]):
        try:
            ann = _mapping(ann)
            image_id = check_id(ann.get("image_id"), "'image_id'")
            caption = check_str(ann.get("caption"), "'caption'")
        except EntryError as exc:
            bad_annotations.append(skipped_item(source_dataset, f"{name}#annotations[{j}]",
                                                f"{name} annotations[{j}]: {exc}", rights=rights))
            continue
        captions.setdefault(image_id, []).append(caption)
    split = split_from_name(Path(annotations).stem)
    for i, image in enumerate(data["images"]):
        try:
            image = _mapping(image)
            image_id = check_id(image.get("id"))
            filename = check_filename(image.get("file_name"), "'file_name'")
            item_split = check_split(image.get("split"))
        except EntryError as exc:
            natural = image.get("id") if isinstance(image, dict) else None
            natural = str(natural) if isinstance(natural, (str, int)) and not isinstance(natural, bool) else None
            yield skipped_item(source_dataset, natural if natural and natural.strip() else f"{name}#images[{i}]",
                               f"{name} images[{i}]: {exc}", rights=rights)
            continue
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=image_id,
            root=image_dir,
            locator=filename,
            captions=captions.get(image_id, []),
            class_name=class_from_filename(filename),
            source_split=item_split or split,
            rights=rights,
        )
    yield from bad_annotations


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
        name (`rsitmd_val.json` -> validation; a name with no split word gives none). A malformed
        entry (not a mapping, no string `image`, a NUL in it, a caption that is not a string or
        list of strings, a non-string `label_name`) is a skipped item, after the file's images;
        the image keeps its other entries' captions.

    Raises:
        SourceSpecError: the folder has no `rsitmd_*.json`, a file is missing, not valid JSON or
            not a list (raised while iterating).
    """
    files = ([regular_annotation(f, folder) for f in sorted(folder.glob("rsitmd_*.json"))] if folder.is_dir()
             else [folder])
    if not files:
        raise SourceSpecError(f"{folder}: no rsitmd_*.json files")
    root = folder / "images" if (folder / "images").is_dir() else folder
    for file in files:
        split = split_from_file_name(file.stem)
        entries = read_json(file)
        if not isinstance(entries, list):
            raise SourceSpecError(f"{file}: expected RSITMD format (a list of entries)")
        merged: dict[str, dict[str, Any]] = {}
        bad: list[SourceItem] = []
        for i, entry in enumerate(entries):
            try:
                entry = _mapping(entry)
                image = check_filename(entry.get("image"), "'image'")
                caption = check_captions(entry.get("caption"), required=False)
                label = check_class(entry.get("label_name"), "'label_name'")
            except EntryError as exc:
                bad.append(skipped_item(source_dataset, f"{file.name}#{i}", f"{file.name} entry {i}: {exc}",
                                        rights=rights))
                continue
            item = merged.setdefault(image, {"captions": [], "class": label})
            item["class"] = item["class"] or label
            item["captions"] += caption
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
        yield from bad


_NWPU_CAPTIONS = ("raw", "raw_1", "raw_2", "raw_3", "raw_4")


def _nwpu_item(class_name: str, entry: Any, root: Path, source_dataset: str, rights: str) -> SourceItem:
    entry = _mapping(entry)
    filename = check_filename(entry.get("filename"))
    captions = [check_str(entry[k], f"'{k}'") for k in _NWPU_CAPTIONS if entry.get(k) is not None]
    return SourceItem(
        source_dataset=source_dataset,
        source_id=Path(filename).stem,
        root=root,
        locator=f"{class_name}/{filename}",
        captions=captions,
        class_name=normalise_class(class_name),
        source_split=check_split(entry.get("split")),
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
        An iterator of `SourceItem`s, classes in sorted order, with up to five captions each. A
        class whose value is not a list, and an entry that is not a mapping, lacks a string
        `filename` (or has a NUL in it), has a non-string `raw*` or a bad `split`, is a skipped item.

    Raises:
        SourceSpecError: `path` does not exist, no or several annotation files match, or the JSON
            is unreadable or not a mapping (raised while iterating).
    """
    annotation = _find_one(path, ("dataset_nwpu.json", "*.json"))
    data = read_json(annotation)
    if not isinstance(data, dict):
        raise SourceSpecError(f"{annotation}: expected NWPU format (a mapping class -> list of images)")
    root = _image_root(path)
    name = annotation.name
    for class_name, entries in sorted(data.items()):
        if not isinstance(entries, list):
            yield skipped_item(source_dataset, f"{name}#{class_name}",
                               f"{name} class {class_name!r}: {type_name(entries)}, not a list of images",
                               rights=rights)
            continue
        for i, entry in enumerate(entries):
            try:
                yield _nwpu_item(class_name, entry, root, source_dataset, rights)
            except EntryError as exc:
                natural = entry.get("filename") if isinstance(entry, dict) else None
                yield skipped_item(source_dataset, _readable_id(natural, f"{name}#{class_name}[{i}]"),
                                   f"{name} {class_name}[{i}]: {exc}", rights=rights)
