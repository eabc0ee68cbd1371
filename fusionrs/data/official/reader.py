"""Stream an official FusionRS index (`.jsonl` or `.jsonl.gz`) line by line, validating every row.

Nothing is held beyond the current line: a 600,000-row index is read in constant memory. Each line
becomes an `IndexRow` (valid) or one `IndexProblem` per broken rule (blank line, a line that is
not UTF-8 or not JSON, a line over `max_line_bytes`, each schema or locator violation); the reader
goes on after a problem. A file it cannot read on raises `IndexFileError` naming it.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from fusionrs.data.official.problems import IndexFileError, IndexProblem, IndexRow
from fusionrs.data.official.schemas import SCHEMA_VERSIONS, schema_name
from fusionrs.data.official.validate import row_violations
from fusionrs.data.sources.checks import regular_annotation

__all__ = ["DEFAULT_MAX_LINE_BYTES", "iter_index"]

# Official rows are about 1 KB; a longer line is refused (and skipped to its end) unread.
DEFAULT_MAX_LINE_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_VERSION_TO_NAME = {version: name for name, version in SCHEMA_VERSIONS.items()}


def _open(path: Path) -> IO[bytes]:
    regular_annotation(path)  # SourceSpecError: missing, a folder, a FIFO or device
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    if path.suffix.lower() == ".gz":
        raise IndexFileError(str(path), "named .gz but is not a gzip file")
    return open(path, "rb")


def _lines(path: Path, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes without the line end), or None for a line over the limit (skipped unread)."""
    number = 0
    with _open(path) as handle:
        while True:
            try:
                line = handle.readline(max_line_bytes + 1)
                if not line:
                    return
                number += 1
                if len(line) > max_line_bytes and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):
                        line = handle.readline(1 << 16)
                    yield number, None
                    continue
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise IndexFileError(str(path), f"the gzip stream is truncated or corrupt after line {number} "
                                     f"({exc}); the rest cannot be read", line=number) from None
            yield number, line.rstrip(b"\r\n")


def _label(row: Any, key: str) -> str | None:
    value = row.get(key) if isinstance(row, dict) else None
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _problem(path: str, line: int, field: str, kind: str, reason: str, row: Any = None) -> IndexProblem:
    return IndexProblem(path, line, field, kind, reason, _label(row, "sample_id"), _label(row, "source_dataset"))


def iter_index(path: str | os.PathLike, schema: str | None = None, *, strict: bool = True,
               max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[IndexRow | IndexProblem]:
    """Every line of an official index, validated, in file order, one line in memory at a time.

    Args:
        path: the index, `.jsonl` or gzip-compressed (`.jsonl.gz`; recognised by its magic bytes).
        schema: "public" (`fusionrs-public-index-v1`), "full" (`fusionrs-index-v1`), either
            `schema_version`, or None / "auto": the `schema_version` of the first row that names a
            known one; rows before it that name none are problems of kind "schema_version".
        strict: also apply the verifier's rules on top of the schema (see
            `fusionrs.data.official.validate.row_violations`); False checks the schema alone.
        max_line_bytes: longest line accepted, in bytes; a longer one is a "too_long" problem.

    Returns:
        An iterator of `IndexRow(line, row)` for each valid row and, for each bad line, one
        `IndexProblem(path, line, field, kind, reason, ...)` per broken rule: kinds "blank",
        "encoding" (not UTF-8), "json" (not valid JSON), "too_long", "schema_version", and those
        of `row_violations`. Line numbers are 1-based.

    Raises:
        SourceSpecError: the file is missing or not a regular file (raised at the first `next`).
        IndexFileError: the gzip stream is truncated or corrupt (raised where the damage is met,
            after the rows before it), or a `.gz` file is not gzip.
        UnknownSpecError: `schema` names no schema.
    """
    path = Path(path)
    name = None if schema in (None, "auto") else schema_name(schema)
    label = str(path)
    for number, raw in _lines(path, max_line_bytes):
        problem = functools.partial(_problem, label, number)
        if raw is None:
            yield problem("$", "too_long", f"line is longer than max_line_bytes={max_line_bytes:,}; skipped unread")
            continue
        if not raw.strip():
            yield problem("$", "blank", "blank line (one JSON object per line expected)")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield problem("$", "encoding", f"not valid UTF-8 (byte {exc.start + 1} of the line)")
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, over-long integers, deep nesting
            yield problem("$", "json", f"not valid JSON ({str(exc).splitlines()[0][:200]})")
            continue
        if name is None:
            version = row.get("schema_version") if isinstance(row, dict) else None
            name = _VERSION_TO_NAME.get(version) if isinstance(version, str) else None
            if name is None:
                found = "the line is not a JSON object" if not isinstance(row, dict) else (
                    "no schema_version" if version is None else f"schema_version {repr(version)[:80]}")
                yield problem("$.schema_version", "schema_version",
                              f"cannot tell the index format ({found}); expected one of "
                              f"{', '.join(SCHEMA_VERSIONS.values())}", row)
                continue
        violations = row_violations(row, name, strict=strict)
        if not violations:
            yield IndexRow(number, row)
            continue
        for violation in violations:
            yield problem(violation.field, violation.kind, violation.reason, row)
