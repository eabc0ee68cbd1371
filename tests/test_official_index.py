"""The official FusionRS index reader: both schemas, one problem per broken rule, gzip, streaming.

Index files are written in-test from seeded rows shaped like the authors' release (schemas
`fusionrs-public-index-v1` and `fusionrs-index-v1`).
"""

from __future__ import annotations

import gc
import gzip
import itertools
import json
import os
import random
import sys
import tracemalloc
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from fusionrs.data.official import (
    IndexFileError,
    IndexProblem,
    IndexRow,
    IndexSummary,
    check_locator,
    compiled_validator,
    iter_index,
    read_index,
    resolve_locator,
    schema_for,
    source_file,
    summarize_index,
)
from fusionrs.data.official.examples import example_row
from fusionrs.data.official.schemas import REQUIRED, SOURCE_DATASETS
from fusionrs.data.sources.base import SkippedEntryError, SourceSpecError
from fusionrs.errors import LocatorError, OutsideSourceRootError, UnknownSpecError

SOURCES = SOURCE_DATASETS
make_row = example_row  # seeded valid rows of either schema


def write_lines(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def rows_of(schema: str, n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [make_row(schema, i, rng) for i in range(n)]


def problems_of(items) -> list[IndexProblem]:
    return [item for item in items if isinstance(item, IndexProblem)]


# --- schemas ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("schema", ["public", "full"])
def test_schemas_are_valid_draft_2020_12_and_compiled_once(schema):
    document = schema_for(schema)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)
    assert isinstance(compiled_validator(schema), Draft202012Validator)
    assert compiled_validator(schema) is compiled_validator(schema)
    assert compiled_validator(document["properties"]["schema_version"]["const"]) is compiled_validator(schema)
    assert document["additionalProperties"] is False
    assert document["properties"]["translation"]["additionalProperties"] is False
    document["required"].clear()  # a copy: the reader's schema is untouched
    assert schema_for(schema)["required"]


def test_required_fields_are_the_official_ones():
    assert REQUIRED["public"][:5] == ("schema_version", "sample_id", "source_dataset", "source_record_id",
                                      "source_locator")
    assert len(REQUIRED["public"]) == 16 and len(REQUIRED["full"]) == 19
    assert {"source_rights_code", "caption_supervision_available_upstream", "vlm_train_identity"} <= set(
        REQUIRED["public"])
    assert not {"caption", "class_name", "normalized_caption_key", "caption_usable"} & set(REQUIRED["public"])
    assert {"source_rights_note", "caption", "class_name", "normalized_caption_key", "vlm_train_used"} <= set(
        REQUIRED["full"])


def test_unknown_schema_name_lists_the_choices(tmp_path):
    with pytest.raises(UnknownSpecError, match="fusionrs-public-index-v1"):
        list(iter_index(write_lines(tmp_path / "i.jsonl", []), "private"))


# --- valid rows ------------------------------------------------------------------------------------

@pytest.mark.parametrize("schema", ["public", "full"])
@pytest.mark.parametrize("given", [None, "explicit"])
def test_valid_rows_stream_through(tmp_path, schema, given):
    rows = rows_of(schema, 50, seed=1)
    path = write_lines(tmp_path / "index.jsonl", [json.dumps(r) for r in rows])
    items = list(iter_index(path, schema if given else None))
    assert all(isinstance(item, IndexRow) for item in items)
    assert [item.line for item in items] == list(range(1, 51))
    assert [item.row for item in items] == rows


def test_gzip_index_reads_like_plain(tmp_path):
    rows = rows_of("public", 40, seed=2)
    lines = [json.dumps(r, sort_keys=True) for r in rows]
    lines[7] = "{not json"
    plain = list(iter_index(write_lines(tmp_path / "index.jsonl", lines)))
    zipped = list(iter_index(write_lines(tmp_path / "index.jsonl.gz", lines)))
    assert [(type(i), i.line) for i in zipped] == [(type(i), i.line) for i in plain]
    assert [i.row for i in zipped if isinstance(i, IndexRow)] == rows[:7] + rows[8:]
    (bad,) = problems_of(zipped)
    assert (bad.line, bad.kind, bad.field) == (8, "json", "$") and bad.path.endswith("index.jsonl.gz")


def test_gzip_is_recognised_by_content_and_fake_gz_refused(tmp_path):
    row = rows_of("public", 1)[0]
    odd = tmp_path / "index.data"
    odd.write_bytes(gzip.compress((json.dumps(row) + "\n").encode()))
    assert [i.row for i in iter_index(odd)] == [row]
    fake = write_lines(tmp_path / "fake.jsonl", [json.dumps(row)]).rename(tmp_path / "fake.jsonl.gz")
    with pytest.raises(IndexFileError, match="fake.jsonl.gz: named .gz but is not a gzip file"):
        list(iter_index(fake))


# --- one problem per broken rule -------------------------------------------------------------------

def _set(parts, value):
    def mutate(row):
        target = row
        for key in parts[:-1]:
            target = target[key]
        target[parts[-1]] = value
    return mutate


def _drop(parts):
    def mutate(row):
        target = row
        for key in parts[:-1]:
            target = target[key]
        del target[parts[-1]]
    return mutate


def _check_one_broken_row(tmp_path, schema, mutate, field, kind, *, strict=True):
    rows = rows_of(schema, 3, seed=3)
    rows[1]["source_dataset"] = rows[0]["source_dataset"] = "RS5M"
    if schema == "full":
        rows[0]["class_name"] = rows[1]["class_name"] = None
    mutate(rows[1])
    path = write_lines(tmp_path / f"{schema}.jsonl", [json.dumps(r) for r in rows])
    items = list(iter_index(path, None if "schema_version" in rows[1] else schema, strict=strict))
    assert [i.line for i in items if isinstance(i, IndexRow)] == [1, 3]
    problems = problems_of(items)
    assert [(p.line, p.field, p.kind) for p in problems] == [(2, field, kind)], [str(p) for p in problems]
    (problem,) = problems
    assert problem.path == str(path) and problem.reason
    assert str(problem).startswith(f"{path}:2: {field}: ")
    if isinstance(rows[1].get("sample_id"), str) and rows[1]["sample_id"]:
        assert problem.sample_id == rows[1]["sample_id"]
    return problem


@pytest.mark.parametrize("schema,name", [(s, n) for s in ("public", "full") for n in REQUIRED[s]
                                         if n != "schema_version"])
def test_each_missing_required_field_is_named(tmp_path, schema, name):
    problem = _check_one_broken_row(tmp_path, schema, _drop((name,)), f"$.{name}", "required")
    assert "required" in problem.reason


@pytest.mark.parametrize("schema", ["public", "full"])
def test_missing_schema_version_with_the_schema_given(tmp_path, schema):
    _check_one_broken_row(tmp_path, schema, _drop(("schema_version",)), "$.schema_version", "required")


@pytest.mark.parametrize("schema", ["public", "full"])
@pytest.mark.parametrize("name", ["model", "output_key", "redistribution"])
def test_missing_translation_field_is_named(tmp_path, schema, name):
    _check_one_broken_row(tmp_path, schema, _drop(("translation", name)), f"$.translation.{name}", "required")


BROKEN = [
    # (schema, mutation, field, kind, words the reason holds)
    ("public", _set(("source_dataset",), "AID"), "$.source_dataset", "enum", "'AID' is not one of"),
    ("full", _set(("source_dataset",), "nwpu"), "$.source_dataset", "enum", "'nwpu'"),
    ("public", _set(("split",), "validation"), "$.split", "enum", "'validation'"),
    ("full", _set(("split",), "dev"), "$.split", "enum", "'dev'"),
    ("public", _set(("joint_group_id",), "joint-group:" + "A" * 24), "$.joint_group_id", "pattern", "does not match"),
    ("public", _set(("joint_group_id",), "joint-group:" + "a" * 23), "$.joint_group_id", "pattern", "does not match"),
    ("full", _set(("joint_group_id",), "group:" + "a" * 24), "$.joint_group_id", "pattern", "does not match"),
    ("full", _set(("normalized_caption_key",), "abc"), "$.normalized_caption_key", "pattern", "does not match"),
    ("public", _set(("schema_version",), "fusionrs-index-v1"), "$.schema_version", "const",
     "'fusionrs-public-index-v1' was expected"),
    ("public", _set(("translation", "model"), "pix2pix"), "$.translation.model", "const", "'DiffV2IR'"),
    ("full", _set(("translation", "redistribution"), "free"), "$.translation.redistribution", "const", "conditional"),
    ("full", _set(("class_name",), "airport"), "$.class_name", "const", "only NWPU rows have a class_name"),
    ("public", _set(("is_eval_representative",), "yes"), "$.is_eval_representative", "type", "'boolean'"),
    ("full", _set(("caption",), 3), "$.caption", "type", "'string'"),
    ("public", _set(("sample_id",), ""), "$.sample_id", "minLength", "non-empty"),
    ("public", _set(("source_locator",), "/data/RS5M/x.jpg"), "$.source_locator", "locator", "absolute"),
    ("full", _set(("source_locator",), "C:\\data\\x.jpg"), "$.source_locator", "locator", "absolute"),
    ("public", _set(("source_locator",), "images/../../etc/passwd"), "$.source_locator", "locator", "'..'"),
    ("full", _set(("source_locator",), ".."), "$.source_locator", "locator", "'..'"),
    ("full", _set(("translation", "output_key"), "/ir/x.png"), "$.translation.output_key", "locator", "absolute"),
    ("full", _set(("translation", "output_key"), "ir/../../x.png"), "$.translation.output_key", "locator", "'..'"),
    # the verifier's rules on top of the schema (strict)
    ("public", _set(("source_locator",), "C:/data/x.jpg"), "$.source_locator", "locator", "absolute"),
    ("public", _set(("source_locator",), "images\\..\\..\\x.jpg"), "$.source_locator", "locator", "'..'"),
    ("public", _set(("translation", "output_key"), "/ir/x.png"), "$.translation.output_key", "locator", "absolute"),
    ("public", _set(("source_locator",), "a\x00.jpg"), "$.source_locator", "locator", "NUL"),
    ("public", _set(("source_record_id",), "caf\ud800"), "$.source_record_id", "encoding", "lone surrogate"),
    # unexpected fields: the public index must not leak redacted text
    ("public", _set(("caption",), "a leaked caption"), "$.caption", "additionalProperties", "redacts"),
    ("full", _set(("rgb_path",), "/home/me/x.jpg"), "$.rgb_path", "additionalProperties", "not a field"),
    ("public", _set(("translation", "seed"), 1), "$.translation.seed", "additionalProperties", "not a field"),
]


@pytest.mark.parametrize("schema,mutate,field,kind,words", BROKEN,
                         ids=[f"{b[0]}-{b[2]}-{b[3]}-{i}" for i, b in enumerate(BROKEN)])
def test_each_broken_constraint_is_named_with_line_and_field(tmp_path, schema, mutate, field, kind, words):
    problem = _check_one_broken_row(tmp_path, schema, mutate, field, kind)
    assert words in problem.reason


@pytest.mark.parametrize("value", ["C:/data/x.jpg", "images\\a.jpg"])
def test_strict_false_checks_the_official_schema_alone(tmp_path, value):
    rows = rows_of("public", 2)
    rows[1]["source_locator"] = value
    rows[0]["translation"]["output_key"] = "/abs/ir.png"
    path = write_lines(tmp_path / "i.jsonl", [json.dumps(r) for r in rows])
    assert all(isinstance(i, IndexRow) for i in iter_index(path, strict=False))
    assert [p.line for p in problems_of(iter_index(path))] == [1] + ([2] if value.startswith("C:") else [])


def test_a_row_breaking_several_rules_gets_one_problem_each(tmp_path):
    row = rows_of("full", 1)[0]
    row.update(split="x", source_locator="/x.jpg")
    del row["caption"], row["translation"]["model"]
    path = write_lines(tmp_path / "i.jsonl", [json.dumps(row)])
    problems = problems_of(iter_index(path))
    assert [(p.line, p.field, p.kind) for p in problems] == [
        (1, "$.caption", "required"), (1, "$.source_locator", "locator"), (1, "$.split", "enum"),
        (1, "$.translation.model", "required")]


def test_malformed_lines_are_named(tmp_path):
    good = json.dumps(rows_of("public", 1)[0])
    lines = [good, "", "   ", '{"schema_version": "fusionrs-public-index-v1",', "[1, 2]", "null", good]
    raw = "\n".join(lines).encode() + b'\n{"caf\xe9": 1}\n' + b"x" * (len(good) + 50) + b"\n" + good.encode() + b"\r\n"
    path = tmp_path / "index.jsonl"
    path.write_bytes(raw)
    items = list(iter_index(path, "public", max_line_bytes=len(good) + 10))
    assert [(i.line, i.kind) if isinstance(i, IndexProblem) else (i.line, "ok") for i in items] == [
        (1, "ok"), (2, "blank"), (3, "blank"), (4, "json"), (5, "type"), (6, "type"), (7, "ok"),
        (8, "encoding"), (9, "too_long"), (10, "ok")]
    assert "line 1 column" in items[3].reason
    assert items[4].field == "$" and "is not of type 'object'" in items[4].reason


def test_auto_detect_reports_rows_before_the_format_is_known(tmp_path):
    rows = rows_of("full", 3)
    first = dict(rows[0], schema_version="fusionrs-index-v9")
    del rows[1]["schema_version"]
    path = write_lines(tmp_path / "i.jsonl", ["[]", json.dumps(first), json.dumps(rows[2]), json.dumps(rows[1])])
    items = list(iter_index(path))
    assert [(i.line, i.kind) for i in problems_of(items)] == [
        (1, "schema_version"), (2, "schema_version"), (4, "required")]
    assert "fusionrs-index-v9" in items[1].reason and items[1].sample_id == rows[0]["sample_id"]
    assert [i.line for i in items if isinstance(i, IndexRow)] == [3]


# --- files that cannot be read on ------------------------------------------------------------------

def test_truncated_gzip_raises_naming_the_file_after_the_good_rows(tmp_path):
    rows = rows_of("public", 300, seed=4)
    path = write_lines(tmp_path / "index.jsonl.gz", [json.dumps(r) for r in rows])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    seen = []
    with pytest.raises(IndexFileError) as caught:
        for item in iter_index(path):
            seen.append(item)
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, SourceSpecError)
    assert error.path == str(path) and str(error).startswith(f"{path}: ")
    assert "truncated or corrupt" in str(error)
    assert seen and all(isinstance(i, IndexRow) for i in seen) and error.line == len(seen) < 300
    # the trailer alone missing: every row was read, then the stream end is missing
    path.write_bytes(data[:-4])
    with pytest.raises(IndexFileError, match="index.jsonl.gz"):
        list(iter_index(path))


def test_corrupt_gzip_data_raises(tmp_path):
    path = write_lines(tmp_path / "index.jsonl.gz", [json.dumps(r) for r in rows_of("public", 50)])
    data = bytearray(path.read_bytes())
    data[40:60] = bytes(20)
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="index.jsonl.gz"):
        list(iter_index(path))


def test_missing_or_special_file_is_a_source_spec_error(tmp_path):
    with pytest.raises(SourceSpecError, match="not found"):
        next(iter_index(tmp_path / "absent.jsonl"))
    with pytest.raises(SourceSpecError, match="a folder"):
        next(iter_index(tmp_path))


# --- summaries and the skipped-record bridge -------------------------------------------------------

def test_read_index_yields_valid_rows_and_counts_problems(tmp_path):
    rows = rows_of("public", 20, seed=5)
    lines = [json.dumps(r) for r in rows]
    lines[3] = ""
    lines[5] = json.dumps(dict(rows[5], split="dev", source_dataset="AID"))
    lines[9] = "{"
    path = write_lines(tmp_path / "i.jsonl.gz", lines)
    summary = IndexSummary()
    valid = list(read_index(path, summary=summary))
    assert valid == [r for i, r in enumerate(rows) if i not in (3, 5, 9)]
    assert (summary.valid, summary.bad_rows, summary.rows) == (17, 3, 20)
    assert summary.by_kind == {"blank": 1, "enum": 2, "json": 1}
    assert summary.by_field == {"$": 2, "$.split": 1, "$.source_dataset": 1}
    assert summary.path == str(path)
    again = summarize_index(path, keep=2)
    assert again.to_dict() == dict(summary.to_dict(), examples=again.to_dict()["examples"])
    assert len(again.examples) == 2 and again.to_dict()["examples"][0] == f"{path}:4: $: " + again.examples[0].reason


def test_problem_becomes_a_skipped_source_item(tmp_path):
    row = dict(rows_of("public", 1)[0], split="dev")
    path = write_lines(tmp_path / "index.jsonl", [json.dumps(row), "oops"])
    with_row, without_row = problems_of(iter_index(path, "public"))
    item = with_row.as_skipped_item()
    assert (item.source_dataset, item.source_id) == (row["source_dataset"], row["sample_id"])
    assert item.skip_reason.startswith("index.jsonl line 1: $.split: ") and str(tmp_path) not in item.skip_reason
    with pytest.raises(SkippedEntryError):
        item.loaded()
    other = without_row.as_skipped_item()
    assert (other.source_dataset, other.source_id) == ("fusionrs-official", "index.jsonl#2")


# --- streaming -------------------------------------------------------------------------------------

def test_20k_rows_stream_in_constant_memory(tmp_path):
    path = tmp_path / "big.jsonl.gz"
    rng = random.Random(6)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for i in range(20_000):
            out.write(json.dumps(make_row("public", i, rng)) + "\n")
    assert path.stat().st_size > 500_000
    stream = iter_index(path)
    assert iter(stream) is stream  # a generator, not a list
    for _ in range(200):  # warm up: the validator compiled, its meta-schemas loaded, caches filled
        next(stream)
    # Allocated blocks over the whole file (cheap to sample), bytes (tracemalloc, 5x slower) over its last
    # 4,000 rows, both after a garbage collection (validation makes short-lived reference cycles; what
    # matters is what stays). The measure has teeth: holding 1,000 parsed rows takes over 10,000 blocks,
    # and what the last 4,000 rows leave behind must stay below what 1,000 held rows cost.
    tracemalloc.start()
    base = sys.getallocatedblocks()
    held = list(itertools.islice(stream, 1_000))
    held_blocks, held_bytes = sys.getallocatedblocks() - base, tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert held_blocks > 10_000
    del held
    gc.collect()
    base, grown, count, last = sys.getallocatedblocks(), 0, 1_200, 1_200
    for item in stream:
        assert isinstance(item, IndexRow)
        count, last = count + 1, item.line
        if count % 2_000 == 0:
            gc.collect()
            grown = max(grown, sys.getallocatedblocks() - base)
            if count == 16_000:
                tracemalloc.start()
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert (count, last) == (20_000, 20_000)
    assert grown < 2_000, f"{grown:,} more memory blocks while streaming"
    assert kept < held_bytes, f"the last 4,000 rows left {kept:,} bytes; 1,000 held rows take {held_bytes:,}"


# --- locators --------------------------------------------------------------------------------------

def test_check_locator_normalises_and_refuses():
    assert str(check_locator("images/a.jpg")) == "images/a.jpg"
    assert str(check_locator("images//./b\\c.tif")) == "images/b/c.tif"
    for bad, words in [("/etc/passwd", "absolute"), ("C:\\x.jpg", "absolute"), ("C:/x.jpg", "absolute"),
                       ("\\\\server\\share\\x.jpg", "absolute"), ("a/../../b", "'..'"), ("..", "'..'"),
                       ("", "empty"), (".", "empty"), ("a\x00b", "NUL"), (None, "no locator"), (7, "not a string")]:
        with pytest.raises(LocatorError) as caught:
            check_locator(bad, record_id="s1", field="source_locator")
        assert words in caught.value.reason, (bad, caught.value.reason)
        assert (caught.value.record_id, caught.value.field) == ("s1", "source_locator")


def test_resolve_locator_stays_under_the_source_root(tmp_path):
    root = tmp_path / "RS5M"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.jpg").write_bytes(b"jpeg")
    outside = tmp_path / "secret"
    outside.mkdir()
    os.symlink(outside, root / "images" / "link")
    os.symlink(root / "images", tmp_path / "linked_root")
    assert resolve_locator(root, "images/a.jpg") == root / "images" / "a.jpg"
    assert resolve_locator(root, "images/missing.jpg") == root / "images" / "missing.jpg"  # need not exist
    assert resolve_locator(tmp_path / "linked_root", "a.jpg").read_bytes() == b"jpeg"  # the root may be a link
    with pytest.raises(OutsideSourceRootError, match="'s9'.*images/link/x.jpg"):
        resolve_locator(root, "images/link/x.jpg", record_id="s9")
    with pytest.raises(LocatorError, match="'..'"):
        resolve_locator(root, "images/../../secret/x.jpg")
    with pytest.raises(LocatorError, match="absolute"):
        resolve_locator(root, str(root / "images" / "a.jpg"))


def test_source_file_follows_the_reconstruct_rule(tmp_path):
    roots = {s: tmp_path / s for s in SOURCES}
    rows = rows_of("public", 5)
    for row in rows:
        assert source_file(row, roots) == tmp_path / row["source_dataset"] / row["source_locator"]
    with pytest.raises(SourceSpecError, match="no source root for source_dataset 'RS5M'"):
        source_file(rows[1], {"NWPU": tmp_path})
    with pytest.raises(LocatorError, match="fusionrs-0000000"):
        source_file(dict(rows[0], source_locator="../x.jpg"), roots)
