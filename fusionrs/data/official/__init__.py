"""The FusionRS authors' released index (rows without images): schemas, a streaming reader, locators.

| module | job |
|---|---|
| `schemas` | JSON Schemas equal in effect to the official `fusionrs-public-index-v1` and `fusionrs-index-v1` |
| `validate` | one parsed row -> the rules it breaks (`Violation(field, kind, reason)`) |
| `reader` | `iter_index`: stream a `.jsonl` / `.jsonl.gz` line by line -> `IndexRow` / `IndexProblem` |
| `summary` | `read_index` (valid rows only, problems counted aside), `summarize_index` |
| `locators` | official locator -> file under its source root, never outside it |
| `problems` | `IndexRow`, `IndexProblem` (-> skipped source item), `IndexFileError` |
"""

from __future__ import annotations

from fusionrs.data.official.locators import check_locator, resolve_locator, source_file
from fusionrs.data.official.problems import IndexFileError, IndexProblem, IndexRow
from fusionrs.data.official.reader import iter_index
from fusionrs.data.official.schemas import SCHEMA_VERSIONS, compiled_validator, schema_for
from fusionrs.data.official.summary import IndexSummary, read_index, summarize_index

__all__ = [
    "IndexFileError", "IndexProblem", "IndexRow", "IndexSummary", "SCHEMA_VERSIONS", "check_locator",
    "compiled_validator", "iter_index", "read_index", "resolve_locator", "schema_for", "source_file",
    "summarize_index",
]
