"""`load_dataset("fusionrs")`: the embedded default dataset and built folders, through plain datasets.

Two doors to the same data:
- `fusionrs.load_dataset(...)`: stable, public API only (it calls `datasets.load_dataset(folder)`).
- `datasets.load_dataset("fusionrs", ...)` after `import fusionrs`: convenient, but datasets >= 4
  has no loading scripts, so it needs a hook into a private function
  (`datasets.load.dataset_module_factory`). The hook is checked against the pinned datasets release
  by tests and refuses to install on an unknown signature instead of misbehaving.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fusionrs.core.paths import cache_dir  # re-exported: the cache path lives in core.paths
from fusionrs.errors import DatasetFolderError

__all__ = [
    "DATASET_NAME",
    "DEFAULT_SIZES",
    "cache_dir",
    "default_dataset_dir",
    "install_datasets_hook",
    "load_dataset",
    "resolve_data_dir",
]

DATASET_NAME = "fusionrs"
# The embedded default: small enough to build in seconds on first use, big enough to train toy models.
DEFAULT_SIZES = {"train": 96, "validation": 24, "test": 24}
DEFAULT_IMAGE_SIZE = 128
DEFAULT_SEED = 0


def default_dataset_dir(*, progress: bool = False) -> Path:
    """The embedded default dataset folder, generated from the procedural world on first use.

    The folder name carries the world and schema versions, so a new world never reuses stale data.
    Generation writes to a temporary folder and renames it, so concurrent first uses are safe.

    Args:
        progress: show a progress bar while the folder is generated (only on first use).

    Returns:
        The folder path under `cache_dir()`, named
        `default-world{WORLD_VERSION}-schema{SCHEMA_VERSION}-128px`.
    """
    from fusionrs.data.schema import SCHEMA_VERSION
    from fusionrs.synth import WORLD_VERSION

    target = cache_dir() / f"default-world{WORLD_VERSION}-schema{SCHEMA_VERSION}-{DEFAULT_IMAGE_SIZE}px"
    if (target / "README.md").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".default-", dir=target.parent)) / "dataset"
    write_world_folder(staging, sizes=DEFAULT_SIZES, image_size=DEFAULT_IMAGE_SIZE, seed=DEFAULT_SEED,
                       progress=progress)
    try:
        staging.rename(target)
    except OSError:  # another process won the race; its folder is identical
        pass
    shutil.rmtree(staging.parent, ignore_errors=True)
    return target


def write_world_folder(out_dir: Path, *, sizes: dict[str, int], image_size: int, seed: int,
                       overwrite: bool = False, progress: bool = True):
    """Write a world dataset with the given rows per split (scene indices never overlap across splits)."""
    import itertools

    from fusionrs.data.folder import write_dataset_folder
    from fusionrs.data.world_records import iter_world_records
    from fusionrs.synth import WORLD_VERSION

    parts, start, ranges = [], 0, []
    for split, n in sizes.items():
        parts.append(iter_world_records(n, seed=seed, size=image_size, split=split, start=start))
        if n:
            ranges.append(f"{split} {start}-{start + n - 1}" if n > 1 else f"{split} {start}")
        start += n
    # what the dataset card says about the splits: this loop is the whole split rule of a world folder
    split_description = (
        f"Splits are disjoint ranges of scene indices of one procedural world (seed {seed}): {', '.join(ranges)}. "
        "Every scene is generated independently, so no near-duplicate grouping is applied (`group_id` is empty, "
        "`is_eval_representative` is false).")
    return write_dataset_folder(
        itertools.chain(*parts), out_dir, overwrite=overwrite, progress=progress, total=start,
        pretty_name="FusionRS procedural world",
        description=(
            "Procedurally generated nadir aerial scenes with physically motivated thermal (LWIR-style) "
            "images and ground-truth captions. A test bed and demo, not real data."
        ),
        generation={"source": "fusionrs.synth", "world_version": WORLD_VERSION, "seed": seed,
                    "image_size": image_size, "sizes": sizes, "split_description": split_description},
        license="cc0-1.0",
    )


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """A built dataset folder, or the embedded default when `data_dir` is None.

    Args:
        data_dir: a dataset folder path (`~` expanded), or None for the embedded default dataset
            (generated with a progress bar on first use).

    Returns:
        The absolute, resolved folder path.

    Raises:
        DatasetFolderError: the folder does not exist, or holds neither a README.md nor
            data/*.parquet.
    """
    if data_dir is None:
        return default_dataset_dir(progress=True)
    folder = Path(data_dir).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetFolderError(f"dataset folder {str(data_dir)!r} does not exist")
    if not (folder / "README.md").is_file() and not any(folder.glob("data/*.parquet")):
        raise DatasetFolderError(f"{folder} is not a FusionRS dataset folder (no README.md or data/*.parquet)")
    return folder


def load_dataset(data_dir: str | os.PathLike | None = None, **kwargs: Any):
    """Load a FusionRS dataset folder (default: the embedded world sample) with plain datasets.

    Keyword arguments go to `datasets.load_dataset` (`split`, `streaming`, `cache_dir`, ...).

    Args:
        data_dir: a built dataset folder, or None for the embedded default dataset.
        **kwargs: keyword arguments passed unchanged to `datasets.load_dataset`.

    Returns:
        What `datasets.load_dataset` returns: a `DatasetDict` of all splits, or a `Dataset` for
        one `split=` (their iterable variants with `streaming=True`).

    Raises:
        DatasetFolderError: `data_dir` is not a FusionRS dataset folder (see `resolve_data_dir`).
    """
    import datasets

    return datasets.load_dataset(str(resolve_data_dir(data_dir)), **kwargs)


@functools.cache
def install_datasets_hook() -> bool:
    """Make `datasets.load_dataset("fusionrs", data_dir=...)` load our folders; idempotent.

    Both entry points datasets uses are wrapped: `load_dataset_builder` (which `load_dataset` calls,
    and which would otherwise join a relative `data_dir` onto the folder a second time) and
    `dataset_module_factory`. "fusionrs" becomes the resolved folder (relative to the working
    directory, `~` expanded) and `data_dir` is dropped.

    Returns False (and leaves datasets untouched) when a private function has an unexpected
    signature, so a datasets upgrade degrades to "use fusionrs.load_dataset" instead of breaking.
    """
    import datasets.load

    originals = {name: getattr(datasets.load, name) for name in ("load_dataset_builder", "dataset_module_factory")}
    if all(getattr(f, "_fusionrs_hook", False) for f in originals.values()):
        return True
    for original in originals.values():
        params = list(inspect.signature(original).parameters)
        if params[:1] != ["path"] or "data_dir" not in params:
            return False

    def wrap(original):
        @functools.wraps(original)
        def wrapper(path, *args, **kwargs):
            if path != DATASET_NAME:
                return original(path, *args, **kwargs)
            bound = inspect.signature(original).bind(path, *args, **kwargs)
            bound.arguments["path"] = str(resolve_data_dir(bound.arguments.get("data_dir")))
            bound.arguments["data_dir"] = None
            return original(*bound.args, **bound.kwargs)

        wrapper._fusionrs_hook = True  # type: ignore[attr-defined]
        return wrapper

    for name, original in originals.items():
        if not getattr(original, "_fusionrs_hook", False):
            setattr(datasets.load, name, wrap(original))
    return True
