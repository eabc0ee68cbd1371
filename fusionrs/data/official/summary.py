"""Valid rows only, with every problem counted aside: `read_index` and `summarize_index`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fusionrs.data.official.problems import IndexProblem, IndexRow
from fusionrs.data.official.reader import DEFAULT_MAX_LINE_BYTES, iter_index

__all__ = ["IndexSummary", "read_index", "summarize_index"]


@dataclass
class IndexSummary:
    """Counts of one pass over an index: `valid` rows, `bad_rows` (lines with at least one problem),
    problems by `kind` and by `field`, and the first `keep` problems as `examples`. Its size does
    not grow with the file (the counters have one key per kind / field)."""

    path: str = ""
    valid: int = 0
    bad_rows: int = 0
    by_kind: Counter = field(default_factory=Counter)
    by_field: Counter = field(default_factory=Counter)
    examples: list[IndexProblem] = field(default_factory=list)
    keep: int = 20
    _last_bad_line: int = field(default=0, init=False, repr=False)

    def add(self, item: IndexRow | IndexProblem) -> None:
        """Count one item of `iter_index`.

        Args:
            item: a valid row or a problem (several problems of one line count as one bad row).
        """
        if isinstance(item, IndexRow):
            self.valid += 1
            return
        if item.line != self._last_bad_line:
            self.bad_rows += 1
            self._last_bad_line = item.line
        self.by_kind[item.kind] += 1
        self.by_field[item.field] += 1
        if len(self.examples) < self.keep:
            self.examples.append(item)

    @property
    def rows(self) -> int:
        """Lines read: valid plus bad."""
        return self.valid + self.bad_rows

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (examples as strings)."""
        return {"path": self.path, "rows": self.rows, "valid": self.valid, "bad_rows": self.bad_rows,
                "by_kind": dict(sorted(self.by_kind.items())), "by_field": dict(sorted(self.by_field.items())),
                "examples": [str(p) for p in self.examples]}


def read_index(path: str | os.PathLike, schema: str | None = None, *, summary: IndexSummary | None = None,
               strict: bool = True, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[dict[str, Any]]:
    """The valid rows of an index as dicts, streamed; every problem goes into `summary`.

    Args:
        path: the `.jsonl` / `.jsonl.gz` index.
        schema: "public", "full", a `schema_version`, or None to detect it (see `iter_index`).
        summary: counts problems and valid rows as they stream (read it after the iterator ends);
            None counts nothing.
        strict: apply the verifier's rules on top of the schema (see `iter_index`).
        max_line_bytes: longest line accepted, in bytes.

    Returns:
        An iterator of the valid rows' parsed JSON objects, in file order.

    Raises:
        SourceSpecError: the file is missing or not a regular file.
        IndexFileError: the gzip stream is truncated or corrupt (after the rows before the damage).
        UnknownSpecError: `schema` names no schema.
    """
    if summary is not None and not summary.path:
        summary.path = str(path)
    for item in iter_index(path, schema, strict=strict, max_line_bytes=max_line_bytes):
        if summary is not None:
            summary.add(item)
        if isinstance(item, IndexRow):
            yield item.row


def summarize_index(path: str | os.PathLike, schema: str | None = None, *, strict: bool = True,
                    keep: int = 20, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> IndexSummary:
    """Read a whole index once and count valid and bad rows, problems by kind and by field.

    Args:
        path: the `.jsonl` / `.jsonl.gz` index.
        schema: "public", "full", a `schema_version`, or None to detect it.
        strict: apply the verifier's rules on top of the schema.
        keep: how many problems to keep as examples.
        max_line_bytes: longest line accepted, in bytes.

    Returns:
        The `IndexSummary`.

    Raises:
        SourceSpecError: the file is missing or not a regular file.
        IndexFileError: the gzip stream is truncated or corrupt.
        UnknownSpecError: `schema` names no schema.
    """
    summary = IndexSummary(path=str(path), keep=keep)
    for item in iter_index(path, schema, strict=strict, max_line_bytes=max_line_bytes):
        summary.add(item)
    return summary
