"""JSON Schemas (draft 2020-12) of the two index formats the FusionRS authors released.

They are written here from the published facts and are equal in effect to the authors' files
`dataset/schemas/fusionrs-public-record-v1.schema.json` (rows with `schema_version`
"fusionrs-public-index-v1": the redacted public index of 600,000 rows) and
`fusionrs-record-v1.schema.json` (rows with "fusionrs-index-v1": the internal full index, with
captions). What both state, the rules we match:

- every property listed in `REQUIRED[name]` is present, and no other (`additionalProperties: false`,
  at the top level and inside `translation`);
- `source_dataset` is one of `SOURCE_DATASETS`, `split` one of `SPLITS` ("val", not "validation");
- `joint_group_id` matches `JOINT_GROUP_ID` (`joint-group:` + 24 lower-case hex digits);
- the id and text fields are non-empty strings, the flags are booleans;
- `source_locator` (and, in the full schema, `translation.output_key`) is a relative path: not
  starting with `/` or a drive and backslash (`C:\\`), holding no `..` segment (`LOCATOR_RULE`);
- `translation.model` is "DiffV2IR"; in the full schema `translation.redistribution` is
  "conditional_on_upstream_rights", `normalized_caption_key` is null or 64 lower-case hex digits
  (a SHA-256), and `class_name` is null unless `source_dataset` is "NWPU".

The authors' verifier (`verify_public_redacted_index.py`) is stricter than their schemas in prose:
a drive with either slash (`C:/`) is absolute there, the public `output_key` must not be absolute,
and no `caption` / `class_name` / `normalized_caption_key` may leak into the public index (the
last already follows from `additionalProperties: false`). The reader adds the locator part of this
on top of the schemas (`fusionrs.data.official.validate`, `strict=True`).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from jsonschema import validators
from jsonschema.protocols import Validator

from fusionrs.errors import UnknownSpecError

__all__ = [
    "JOINT_GROUP_ID", "LOCATOR_FIELDS", "REDACTED_FIELDS", "REQUIRED", "SCHEMA_NAMES",
    "SCHEMA_VERSIONS", "SHA256_HEX", "SOURCE_DATASETS", "SPLITS", "compiled_validator", "schema_for",
    "schema_name",
]

SOURCE_DATASETS = ("NWPU", "RS5M", "RSICD", "RSITMD", "SkyScript")
SPLITS = ("train", "val", "test")
JOINT_GROUP_ID = r"^joint-group:[0-9a-f]{24}$"
SHA256_HEX = r"^[0-9a-f]{64}$"
# Absolute (POSIX root, or a drive letter and a backslash), or a `..` path segment.
_ABSOLUTE = r"^(?:/|[A-Za-z]:\\)"
_PARENT = r"(?:^|/)\.\.(?:/|$)"
LOCATOR_RULE: dict[str, Any] = {"not": {"anyOf": [{"pattern": _ABSOLUTE}, {"pattern": _PARENT}]}}

SCHEMA_VERSIONS = {"public": "fusionrs-public-index-v1", "full": "fusionrs-index-v1"}
SCHEMA_NAMES = tuple(SCHEMA_VERSIONS)

_TEXT = {"type": "string", "minLength": 1}
_FLAG = {"type": "boolean"}
_LOCATOR = {**_TEXT, **LOCATOR_RULE}

# The fields of both formats, in the authors' order, then each format's own.
_SHARED_HEAD = ("schema_version", "sample_id", "source_dataset", "source_record_id", "source_locator")
_SHARED_GROUPS = ("joint_group_id", "phash4_component_id", "canonical_component_representative",
                  "is_canonical_component_representative", "is_eval_representative")
REQUIRED: dict[str, tuple[str, ...]] = {
    "public": _SHARED_HEAD + ("source_rights_code", "split") + _SHARED_GROUPS
    + ("caption_supervision_available_upstream", "vlm_train_identity", "prior_reused_protected", "translation"),
    "full": _SHARED_HEAD + ("source_rights_note", "split", "class_name", "caption", "caption_usable",
                            "normalized_caption_key") + _SHARED_GROUPS
    + ("vlm_train_used", "prior_reused_protected", "translation"),
}
# Fields of the full index the public one leaves out (its summary's `redacted_fields`).
REDACTED_FIELDS = ("caption", "caption_usable", "class_name", "normalized_caption_key")
# Fields holding paths: checked against the locator rule by the schema (where it says so) and by
# the reader's strict check (always).
LOCATOR_FIELDS = (("source_locator",), ("translation", "output_key"))


def _translation(full: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["model", "output_key", "redistribution"],
        "properties": {
            "model": {"const": "DiffV2IR"},
            "output_key": _LOCATOR if full else _TEXT,
            "redistribution": {"const": "conditional_on_upstream_rights"} if full else _TEXT,
        },
    }


def _schema(name: str) -> dict[str, Any]:
    full = name == "full"
    props: dict[str, Any] = {
        "schema_version": {"const": SCHEMA_VERSIONS[name]},
        "sample_id": _TEXT,
        "source_dataset": {"enum": list(SOURCE_DATASETS)},
        "source_record_id": _TEXT,
        "source_locator": _LOCATOR,
        "split": {"enum": list(SPLITS)},
        "joint_group_id": {"type": "string", "pattern": JOINT_GROUP_ID},
        "phash4_component_id": _TEXT,
        "canonical_component_representative": _TEXT,
        "is_canonical_component_representative": _FLAG,
        "is_eval_representative": _FLAG,
        "prior_reused_protected": _FLAG,
        "translation": _translation(full),
    }
    if full:
        props |= {
            "source_rights_note": _TEXT,
            "class_name": {"type": ["string", "null"]},
            "caption": {"type": ["string", "null"]},
            "caption_usable": _FLAG,
            "normalized_caption_key": {"type": ["string", "null"], "pattern": SHA256_HEX},
            "vlm_train_used": _FLAG,
        }
    else:
        props |= {"source_rights_code": _TEXT, "caption_supervision_available_upstream": _FLAG,
                  "vlm_train_identity": _FLAG}
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:fusionrs:official:{SCHEMA_VERSIONS[name]}",
        "title": f"FusionRS official index row ({SCHEMA_VERSIONS[name]})",
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED[name]),
        "properties": {key: copy.deepcopy(props[key]) for key in REQUIRED[name]},
    }
    if full:
        # Only NWPU rows carry a class name.
        schema["allOf"] = [{
            "if": {"properties": {"source_dataset": {"not": {"const": "NWPU"}}}},
            "then": {"properties": {"class_name": {"const": None}}},
        }]
    return schema


_SCHEMAS = {name: _schema(name) for name in SCHEMA_NAMES}  # private: `schema_for` hands out copies


def schema_name(name: str) -> str:
    """The canonical name ("public" or "full") of a schema given by name or by `schema_version`.

    Args:
        name: "public", "full", "fusionrs-public-index-v1" or "fusionrs-index-v1".

    Returns:
        "public" or "full".

    Raises:
        UnknownSpecError: `name` is none of these; the message lists them.
    """
    if name in _SCHEMAS:
        return name
    for short, version in SCHEMA_VERSIONS.items():
        if name == version:
            return short
    choices = ", ".join(f"{k!r} ({v})" for k, v in SCHEMA_VERSIONS.items())
    raise UnknownSpecError(f"unknown official index schema {name!r}; known: {choices}")


def schema_for(name: str) -> dict[str, Any]:
    """A copy of one schema, e.g. to write it out or compare it with the authors' file.

    Args:
        name: a schema name or `schema_version` (see `schema_name`).

    Returns:
        The JSON Schema as a fresh dict.

    Raises:
        UnknownSpecError: `name` names no schema.
    """
    return copy.deepcopy(_SCHEMAS[schema_name(name)])


@functools.lru_cache(maxsize=None)
def _compiled(name: str) -> Validator:
    schema = copy.deepcopy(_SCHEMAS[name])
    cls = validators.validator_for(schema)  # the draft the schema declares: 2020-12
    cls.check_schema(schema)
    return cls(schema)


def compiled_validator(name: str) -> Validator:
    """The validator of one schema, built (and the schema checked against its draft) once per process.

    Args:
        name: a schema name or `schema_version` (see `schema_name`).

    Returns:
        A `jsonschema` validator of the draft the schema declares (`Draft202012Validator`).

    Raises:
        UnknownSpecError: `name` names no schema.
    """
    return _compiled(schema_name(name))
