"""One parsed row -> the rules it breaks: the schema's, then the locator and UTF-8 rules on top.

Each broken rule is a `Violation(field, kind, reason)`: `field` a JSON path into the row, `kind` the
JSON Schema keyword that failed ("required", "enum", "pattern", "const", "type", "minLength",
"additionalProperties") or "locator" (an absolute / `..` path, from the schema's `not` rule or the
strict check) or "encoding" (a string holding a lone surrogate, which no UTF-8 file can store).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from jsonschema.exceptions import ValidationError

from fusionrs.data.official.locators import check_locator
from fusionrs.data.official.schemas import LOCATOR_FIELDS, REDACTED_FIELDS, SCHEMA_VERSIONS, compiled_validator, schema_name
from fusionrs.errors import LocatorError

__all__ = ["Violation", "json_path", "row_violations"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_REASON = 240


class Violation(NamedTuple):
    """One broken rule of a row: where (`field`, a JSON path), which rule (`kind`) and why (`reason`)."""

    field: str
    kind: str
    reason: str


def json_path(parts: Any) -> str:
    """A JSON path for a sequence of keys and indices: `("translation", "model")` -> `$.translation.model`.

    Args:
        parts: object keys (str) and array indices (int), outermost first.

    Returns:
        The path, starting at `$`; keys that are not identifiers are quoted (`$["a b"]`).
    """
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + repr(part) + "]"
    return out


def _short(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _schema_violations(error: ValidationError, version: str) -> Iterator[Violation]:
    where = list(error.absolute_path)
    if error.validator == "required":
        # jsonschema raises one error per missing name; its message quotes the name
        for name in error.validator_value:
            if isinstance(error.instance, dict) and name not in error.instance and error.message.startswith(repr(name)):
                yield Violation(json_path(where + [name]), "required", "missing (a required field)")
        return
    if error.validator == "additionalProperties":
        allowed = error.schema.get("properties", {})
        for name in error.instance:
            if name not in allowed:
                why = (f"not a field of {version} rows" if not (where == [] and name in REDACTED_FIELDS)
                       else f"a field the public index redacts; it must not appear in {version} rows")
                yield Violation(json_path(where + [name]), "additionalProperties", why)
        return
    field = json_path(where)
    if error.validator == "not" and tuple(where) in LOCATOR_FIELDS:
        try:
            check_locator(error.instance)
            reason = "locator is an absolute path or holds '..'"
        except LocatorError as exc:
            reason = exc.reason  # like every source's check: an absolute path is not echoed, a '..' one is
        yield Violation(field, "locator", _short(reason))
        return
    reason = error.message
    if "allOf" in error.absolute_schema_path:
        reason += " (only NWPU rows have a class_name)"
    yield Violation(field, str(error.validator), _short(reason))


def _value_at(row: dict[str, Any], parts: tuple[str, ...]) -> Any:
    value: Any = row
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _bad_text(row: dict[str, Any]) -> Iterator[Violation]:
    pending: list[tuple[tuple[Any, ...], Any]] = [((), row)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                yield Violation(json_path(where), "encoding", _short(f"holds a lone surrogate (not valid UTF-8): "
                                                                     f"{value!r}"))
        elif isinstance(value, dict):
            pending.extend((where + (key,), item) for key, item in value.items() if isinstance(key, str))
        elif isinstance(value, list):
            pending.extend((where + (i,), item) for i, item in enumerate(value))


def row_violations(row: Any, schema: str, *, strict: bool = True) -> list[Violation]:
    """Every rule one parsed row breaks, sorted by field.

    Args:
        row: the parsed JSON value of one line.
        schema: "public", "full", or a `schema_version` naming one of them.
        strict: also apply the rules the authors' verifier adds to the schemas: `source_locator`
            and `translation.output_key` must be relative paths without `..` in both formats (a
            drive with a forward slash, `C:/x`, counts as absolute, a backslash as a separator);
            and every string must be valid UTF-8 (no lone surrogate from a `\\udXXX` escape).

    Returns:
        The violations, empty for a valid row; one per missing or unexpected field.

    Raises:
        UnknownSpecError: `schema` names no schema.
    """
    name = schema_name(schema)
    version = SCHEMA_VERSIONS[name]
    found: dict[tuple[str, str], Violation] = {}
    for error in compiled_validator(name).iter_errors(row):
        for violation in _schema_violations(error, version):
            found.setdefault((violation.field, violation.kind), violation)
    if strict and isinstance(row, dict):
        flagged = {field for field, _ in found}
        for parts in LOCATOR_FIELDS:
            value, field = _value_at(row, parts), json_path(parts)
            if isinstance(value, str) and field not in flagged:
                try:
                    check_locator(value)
                except LocatorError as exc:
                    found[(field, "locator")] = Violation(field, "locator", _short(exc.reason))
        for violation in _bad_text(row):
            found.setdefault((violation.field, violation.kind), violation)
    return sorted(found.values())
