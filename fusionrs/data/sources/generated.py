"""Sources whose pixels are not loose files: a `datasets` folder, and the procedural world."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from fusionrs.core.licences import WORLD_RIGHTS
from fusionrs.data.sources.base import SourceItem, SourceSpecError, skipped_item
from fusionrs.data.sources.checks import EntryError, check_captions, check_class, check_id, check_split

__all__ = ["iter_hf_folder", "iter_synth"]

_IMAGE_COLUMNS = ("rgb", "image", "img")
_CAPTION_COLUMNS = ("captions", "caption", "text", "sentences")


def iter_hf_folder(folder: Path, source_dataset: str, rights: str) -> Iterator[SourceItem]:
    """A `datasets` folder (`save_to_disk` output or parquet/README folder) with an image column and
    captions; images stay encoded until staging.

    Args:
        folder: a local datasets folder (`save_to_disk` output, else loaded with
            `datasets.load_dataset`), or a hub dataset repo id resolved to its snapshot folder.
        source_dataset: the source name stored in every item.
        rights: the usage rights stored in every item.

    Returns:
        An iterator of `SourceItem`s, split by split, each holding the encoded image bytes in
        `image`; `id`, `class_name` and `split` columns are used when present. A row without
        embedded image bytes, with captions that are not a string or list of strings, a non-string
        class, or a split (its own or its split's name) that is no known split is a skipped item.

    Raises:
        SourceSpecError: a split has no image column (`rgb`/`image`/`img`) (raised while iterating).
            A path that is not a folder goes to `resolve_dataset_source`, whose errors pass through
            (FileNotFoundError, HubOfflineError offline and uncached, HubRepoNotFoundError).
    """
    import datasets

    from fusionrs.core.resolve import resolve_dataset_source

    # a hub repo id becomes its snapshot folder (offline and uncached: HubOfflineError, at once)
    folder = resolve_dataset_source(folder) if not Path(folder).is_dir() else Path(folder)
    try:
        loaded = datasets.load_from_disk(str(folder))
    except FileNotFoundError:
        loaded = datasets.load_dataset(str(folder))
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, ds in splits:
        image_col = next((c for c in _IMAGE_COLUMNS if c in ds.column_names), None)
        caption_col = next((c for c in _CAPTION_COLUMNS if c in ds.column_names), None)
        if image_col is None:
            raise SourceSpecError(f"{folder}: no image column ({'/'.join(_IMAGE_COLUMNS)}) in {ds.column_names}")
        ds = ds.cast_column(image_col, datasets.Image(decode=False))
        for i, row in enumerate(ds):
            try:
                item = _hf_item(row, i, split, image_col, caption_col, source_dataset, rights)
            except EntryError as exc:
                natural = row.get("id")
                natural = str(natural) if isinstance(natural, (str, int)) and not isinstance(natural, bool) else ""
                item = skipped_item(source_dataset, natural.strip() or f"{split or 'all'}-{i}",
                                    f"row {i} of split {split or 'all'}: {exc}", rights=rights)
            yield item


def _hf_item(row: dict, i: int, split: str | None, image_col: str, caption_col: str | None, source_dataset: str,
             rights: str) -> SourceItem:
    captions = check_captions(row.get(caption_col) if caption_col else None, f"{caption_col!r}", required=False)
    encoded = row[image_col]
    if not isinstance(encoded, dict) or not isinstance(encoded.get("bytes"), bytes) or not encoded["bytes"]:
        raise EntryError(f"no embedded image bytes in {image_col!r}")
    source_id = check_id(row["id"]) if row.get("id") is not None else f"{split or 'all'}-{i}"
    row_split = row.get("split")
    return SourceItem(
        source_dataset=source_dataset,
        source_id=source_id,
        root=None,
        locator="",
        captions=captions,
        class_name=check_class(row.get("class_name"), "'class_name'"),
        source_split=check_split(row_split if row_split not in (None, "") else split,
                                 "'split'" if row_split not in (None, "") else "the split name"),
        rights=rights,
        image=encoded["bytes"],
    )


def iter_synth(n: int, source_dataset: str = "fusionrs_world", *, seed: int = 0, size: int = 256) -> Iterator[SourceItem]:
    """`synth:N`: N procedural-world scenes as an RGB source (their IR comes from the translator).

    Scenes are rendered at staging (`SourceItem.load`), not while the build is planned.

    Args:
        n: the number of scenes (indices 0..n-1).
        source_dataset: the source name stored in every item (default "fusionrs_world").
        seed: the world seed passed to `generate_scene`.
        size: the side of each rendered scene, in pixels (default 256).

    Returns:
        An iterator of `n` `SourceItem`s whose `load` renders the image, captions, class and
        objects of their scene.
    """
    from fusionrs.synth import WORLD_VERSION

    for index in range(n):
        yield SourceItem(
            source_dataset=source_dataset,
            source_id=str(index),
            root=None,
            locator="",
            captions=[],
            rights=WORLD_RIGHTS,
            extra={"world_version": WORLD_VERSION},
            load=functools.partial(_render_scene, index, seed, size),
        )


def _render_scene(index: int, seed: int, size: int) -> dict:
    from PIL import Image

    from fusionrs.synth import generate_scene

    scene = generate_scene(index, seed=seed, size=size)
    return {"image": Image.fromarray(scene.rgb), "captions": scene.captions, "class_name": scene.class_name,
            "objects": scene.objects}
