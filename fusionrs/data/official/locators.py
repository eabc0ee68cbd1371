"""Official locators -> files under a source root, never outside it.

The authors' rule (`code/dataset/scripts/reconstruct.py`): the user names one root folder per
upstream source (`SOURCE=/path` for each of NWPU, RS5M, RSICD, RSITMD and SkyScript; all five are
required there, each an existing folder); a row's RGB file is `root[row["source_dataset"]] /
row["source_locator"]`, the locator joined as it is, a relative POSIX path; a missing file is
counted as missing, not fatal. (Their workspace then names the copy
`rgb/<source_dataset>/<sample_id><suffix>`, the locator's suffix lower-cased, `.jpg` without one.)

We add the boundary their script leaves to the schema: a locator that is absolute (`/x`, `C:\\x`,
`C:/x`), holds a `..` segment or a NUL byte, or is empty is refused with `LocatorError` (lexical
rule of `fusionrs.data.sources.checks.check_filename`, which treats `\\` as a separator); a path
that resolves outside the root through a symlink is refused with `OutsideSourceRootError` (the
package's boundary test `fusionrs.data.sources.checks.inside`). Nothing is opened; read the bytes
with `fusionrs.core.image_io.read_source_bytes(root, locator)`, which checks the boundary again
at the read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from fusionrs.data.official.schemas import SOURCE_DATASETS
from fusionrs.data.sources.base import SourceSpecError
from fusionrs.data.sources.checks import EntryError, check_filename, inside
from fusionrs.errors import LocatorError, OutsideSourceRootError

__all__ = ["check_locator", "resolve_locator", "source_file"]


def check_locator(locator: Any, *, record_id: str = "?", field: str = "source_locator") -> PurePosixPath:
    """The lexical rule for a locator: a non-empty relative path inside its root, as a POSIX path.

    Args:
        locator: the row's locator.
        record_id: the row named in the error (its `sample_id`).
        field: the field named in the error.

    Returns:
        The locator as a `PurePosixPath` (backslashes read as separators, `a//./b` as `a/b`).

    Raises:
        LocatorError: not a string, empty, absolute (a POSIX root or a drive), holding `..` or a
            NUL byte. `field` and `record_id` are set; `reason` says which.
    """
    try:
        name = check_filename(locator, "locator")
    except EntryError as exc:
        raise LocatorError(record_id, field, str(exc).strip()) from None
    return PurePosixPath(PureWindowsPath(name).as_posix() if "\\" in name else name)


def resolve_locator(source_root: str | os.PathLike, locator: Any, *, record_id: str = "?",
                    field: str = "source_locator") -> Path:
    """The file a locator names under `source_root`, refused when it would lie outside it.

    Args:
        source_root: the upstream source's root folder (it may itself be a symlink).
        locator: the row's locator.
        record_id: the row named in errors (its `sample_id`).
        field: the field named in errors.

    Returns:
        `source_root / locator` (not resolved; it need not exist).

    Raises:
        LocatorError: the locator breaks the lexical rule (see `check_locator`).
        OutsideSourceRootError: the path resolves outside the root through a symlink.
    """
    relative = check_locator(locator, record_id=record_id, field=field)
    path = Path(source_root) / relative
    if not inside(os.path.realpath(path), os.path.realpath(source_root)):
        raise OutsideSourceRootError(f"record {record_id!r}, field {field!r}: {relative}",
                                     "resolves outside its source root (a symlink); refused")
    return path


def source_file(row: Mapping[str, Any], source_roots: Mapping[str, str | os.PathLike]) -> Path:
    """A row's RGB file: its `source_locator` under the root of its `source_dataset`.

    Args:
        row: a validated index row (either schema).
        source_roots: root folder per source name (`SOURCE_DATASETS`); only the row's own is needed.

    Returns:
        The file's path under its root (not opened; it need not exist).

    Raises:
        SourceSpecError: `source_roots` has no root for the row's source.
        LocatorError: the locator breaks the lexical rule.
        OutsideSourceRootError: the path resolves outside the root through a symlink.
    """
    source = row.get("source_dataset")
    record_id = str(row.get("sample_id", "?"))
    if source not in source_roots:
        raise SourceSpecError(f"record {record_id!r}: no source root for source_dataset {source!r} "
                              f"(give one for each of {', '.join(SOURCE_DATASETS)})")
    return resolve_locator(source_roots[source], row.get("source_locator"), record_id=record_id)
