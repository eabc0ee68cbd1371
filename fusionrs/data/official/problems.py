"""What reading an official index yields: a valid row, a problem with one row, or an error for the file.

A problem is not fatal: the reader reports it and goes on with the next line. `IndexProblem` turns
into the package's one "left out, with a reason" mechanism, the skipped `SourceItem`
(`fusionrs.data.sources.base.skipped_item`), so a builder that consumes the index records it like
any source's malformed entry. Only a file that cannot be read on (missing, not a regular file, a
truncated or corrupt gzip stream) raises, with `IndexFileError`, a `SourceSpecError` like any
unusable annotation file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from fusionrs.data.sources.base import SourceItem, SourceSpecError, skipped_item

__all__ = ["IndexFileError", "IndexProblem", "IndexRow", "OFFICIAL_SOURCE"]

# The source name of skipped items whose row does not say its source_dataset.
OFFICIAL_SOURCE = "fusionrs-official"


@dataclass(frozen=True, slots=True)
class IndexRow:
    """A row that passed validation: `line` is its 1-based line number, `row` the parsed JSON object."""

    line: int
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IndexProblem:
    """One broken rule of one line.

    `path` is the index file as given, `line` the 1-based line number, `field` a JSON path into the
    row ("$" for the line as a whole, "$.translation.model", ...), `kind` a short code to count by
    (a JSON Schema keyword such as "required", "enum", "pattern", "const", "type", "minLength",
    "additionalProperties"; or "locator", "json", "blank", "encoding", "too_long",
    "schema_version"), and `reason` a sentence for people. `sample_id` and `source_dataset` are
    the row's own when it has usable ones, so the problem can be traced to its record.
    """

    path: str
    line: int
    field: str
    kind: str
    reason: str
    sample_id: str | None = None
    source_dataset: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.reason}"

    def as_skipped_item(self) -> SourceItem:
        """This problem as a skipped source item, the package's record of a left-out entry.

        Returns:
            A `SourceItem` with `skip_reason` naming the index file (its name only: reasons travel
            into dataset reports, which never hold absolute paths), the line, the field and the
            reason; its source id is the row's `sample_id`, else `<file name>#<line>`.
        """
        name = PurePath(self.path).name
        reason = f"{name} line {self.line}: {self.field}: {self.reason}"
        return skipped_item(self.source_dataset or OFFICIAL_SOURCE, self.sample_id or f"{name}#{self.line}", reason)


class IndexFileError(SourceSpecError):
    """The index file cannot be read on: a gzip stream that is truncated or corrupt, a file named
    `.gz` that is not gzip. `path` names the file, `line` the last line read whole (0: none)."""

    def __init__(self, path: str, reason: str, line: int = 0):
        self.path = str(path)
        self.reason = reason
        self.line = line
        super().__init__(f"{self.path}: {reason}")
