"""Hostile source archives: malformed entries, symlinks out of the root, special files, bad text, fuzz.

Every adapter turns one bad entry into a skipped item with its reason (`SourceItem.skip_reason`)
and lets the good ones through; only an annotation file that is unusable as a whole raises
`SourceSpecError`. Real files in tmp_path, no mocks.
"""

from __future__ import annotations

import copy
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusionrs.data.sources import SkippedEntryError, SourceSpecError, iter_source, parse_source
from tests.hostile import finishes_within, make_fifo

CANONICAL_SPLITS = {None, "train", "validation", "test"}
KINDS_OF_DAMAGE = ("wrong_type", "missing_key", "nul_filename", "integer_split", "unknown_split")
EXPECTED_REASON = {
    "wrong_type": "is an integer, not a",
    "missing_key": "no '",
    "nul_filename": "NUL byte",
    "integer_split": "'split' is an integer (1)",
    "unknown_split": "unknown split",
}


def _png(path: Path, seed: int = 0, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (16, 16, 3) if mode == "RGB" else (16, 16)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def _items(spec: str) -> list:
    return list(iter_source(parse_source(spec)))


def _good(items) -> list:
    return [i for i in items if not i.skip_reason]


def _skipped(items) -> list:
    return [i for i in items if i.skip_reason]


def _assert_sane(items, roots_must_hold: bool = True) -> None:
    """What the builder relies on for every item an adapter lists."""
    for item in items:
        for text in [item.source_id, item.locator, item.class_name, item.skip_reason, *item.captions]:
            assert isinstance(text, str)
            text.encode("utf-8")  # valid UTF-8: no lone surrogates
        if item.skip_reason:
            assert item.root is None and item.locator == "" and item.load is not None
            continue
        assert item.source_split in CANONICAL_SPLITS
        assert all(isinstance(c, str) for c in item.captions)
        assert "\x00" not in item.locator
        if item.root is not None and roots_must_hold:
            real_root = os.path.realpath(item.root)
            real = os.path.realpath(Path(item.root) / item.locator)
            assert real == real_root or real.startswith(real_root + os.sep), item.locator


# ----------------------------------------------------------------------------- one writer per format
# Each writes a valid archive of 3 good entries + one damaged entry (`damage` applied to entry 1 of
# 4, which is "bad.png"), and returns (spec, the good locators).


def _damage(entry: dict, kind: str, *, name_key: str, type_key: str, split_key: str | None = "split") -> dict:
    entry = dict(entry)
    if kind == "wrong_type":
        entry[type_key] = 12345
    elif kind == "missing_key":
        del entry[name_key]
    elif kind == "nul_filename":
        entry[name_key] = "bad\x00.png"
    elif kind == "integer_split":
        entry[split_key] = 1
    elif kind == "unknown_split":
        entry[split_key] = "holdout"
    return entry


def karpathy(root: Path, kind: str | None) -> tuple[str, list[str]]:
    names = ["a_1.png", "bad.png", "b_2.png", "c_3.png"]
    for n, name in enumerate(names):
        _png(root / "images" / name, n)
    entries = [{"filename": n, "split": "train", "sentences": [{"raw": f"scene {n}"}]} for n in names]
    if kind:
        entries[1] = _damage(entries[1], kind, name_key="filename", type_key="sentences")
    (root / "dataset_x.json").write_text(json.dumps({"images": entries}))
    return f"rsicd:{root}", [n for n in names if n != "bad.png"]


def coco(root: Path, kind: str | None) -> tuple[str, list[str]]:
    names = ["a_1.png", "bad.png", "b_2.png", "c_3.png"]
    for n, name in enumerate(names):
        _png(root / "images" / name, n)
    images = [{"id": i, "file_name": n, "split": "test"} for i, n in enumerate(names)]
    annotations = [{"id": i, "image_id": i, "caption": f"scene {i}"} for i in range(len(names))]
    if kind:
        images[1] = _damage(images[1], kind, name_key="file_name", type_key="file_name")
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": annotations}))
    return f"coco:{root / 'ann.json'}:{root / 'images'}", [n for n in names if n != "bad.png"]


def nwpu(root: Path, kind: str | None) -> tuple[str, list[str]]:
    names = ["a_1.png", "bad.png", "b_2.png", "c_3.png"]
    for n, name in enumerate(names):
        _png(root / "images" / "forest" / name, n)
    entries = [{"filename": n, "split": "val", "raw": f"trees {n}", "raw_1": "a forest"} for n in names]
    if kind:
        entries[1] = _damage(entries[1], kind, name_key="filename", type_key="raw_1")
    (root / "dataset_nwpu.json").write_text(json.dumps({"forest": entries}))
    return f"nwpu:{root}", [f"forest/{n}" for n in names if n != "bad.png"]


def rsitmd(root: Path, kind: str | None) -> tuple[str, list[str]]:
    # RSITMD entries carry no split (it comes from the file name): the split kinds damage the label.
    names = ["train/a_1.tif", "train/bad.tif", "train/b_2.tif", "train/c_3.tif"]
    for n, name in enumerate(names):
        _png(root / "images" / name, n)
    entries = [{"image": n, "caption": [f"scene {n}"], "label_name": "a"} for n in names]
    if kind in ("integer_split", "unknown_split"):
        entries[1]["label_name"] = 1.5 if kind == "integer_split" else ["holdout"]
    elif kind:
        entries[1] = _damage(entries[1], kind, name_key="image", type_key="caption", split_key=None)
        if kind == "nul_filename":
            entries[1]["image"] = "train/bad\x00.tif"
    (root / "rsitmd_train.json").write_text(json.dumps(entries))
    return f"rsitmd:{root}", [n for n in names if "bad" not in n]


def table_jsonl(root: Path, kind: str | None) -> tuple[str, list[str]]:
    names = ["a_1.png", "bad.png", "b_2.png", "c_3.png"]
    for n, name in enumerate(names):
        _png(root / name, n)
    rows = [{"image": n, "caption": f"scene {n}", "split": "train"} for n in names]
    if kind:
        rows[1] = _damage(rows[1], kind, name_key="image", type_key="caption")
    (root / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return f"table:{root / 't.jsonl'}:{root}", [n for n in names if n != "bad.png"]


def table_csv(root: Path, kind: str | None) -> tuple[str, list[str]]:
    names = ["a_1.png", "bad.png", "b_2.png", "c_3.png"]
    for n, name in enumerate(names):
        _png(root / name, n)
    lines = [f"{n},scene {n},train" for n in names]
    # CSV cells are all strings: a "wrong type" is a row with an extra cell shifted in, a missing
    # key a short row; an integer split is the cell "1".
    lines[1] = {"wrong_type": "bad.png", "missing_key": "bad.png", "nul_filename": "bad\x00.png,scene,train",
                "integer_split": "bad.png,scene,1", "unknown_split": "bad.png,scene,holdout",
                None: lines[1]}[kind]
    (root / "t.csv").write_text("image,caption,split\n" + "\n".join(lines) + "\n")
    return f"table:{root / 't.csv'}:{root}", [n for n in names if n != "bad.png"]


def thermal(root: Path, kind: str | None) -> tuple[str, list[str]]:
    names = ["images/a_1.png", "images/bad.png", "images/b_2.png", "images/c_3.png"]
    for n, name in enumerate(names):
        _png(root / name, n, mode="L")
    rows = [{"file": n, "split": "train", "objects": [{"label": "Car", "bbox": [1, 1, 4, 4]}],
             "flight": {"day_night_flag": 1}} for n in names]
    if kind:
        rows[1] = _damage(rows[1], kind, name_key="file", type_key="objects")
    (root / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return f"thermal:{root}", [n for n in names if "bad" not in n]


FORMATS = {"karpathy": karpathy, "coco": coco, "nwpu": nwpu, "rsitmd": rsitmd, "table_jsonl": table_jsonl,
           "table_csv": table_csv, "thermal": thermal}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_valid_archive_has_no_skips(tmp_path, fmt):
    spec, good = FORMATS[fmt](tmp_path, None)
    items = _items(spec)
    _assert_sane(items)
    assert not _skipped(items) and len(items) == len(good) + 1
    assert set(good) < {i.locator for i in items}


@pytest.mark.parametrize("kind", KINDS_OF_DAMAGE)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_malformed_entry_kind_is_a_skip_with_its_reason(tmp_path, fmt, kind):
    spec, good = FORMATS[fmt](tmp_path, kind)
    items = _items(spec)
    _assert_sane(items)
    skipped = _skipped(items)
    assert sorted(i.locator for i in _good(items)) == sorted(good), "the good records still come through"
    if fmt == "table_csv" and kind == "wrong_type":
        # a one-cell row: no caption (CSV has no types to get wrong)
        assert len(skipped) == 1 and "no 'caption'" in skipped[0].skip_reason
        return
    expected = EXPECTED_REASON[kind]
    if fmt == "rsitmd" and kind in ("integer_split", "unknown_split"):
        expected = "'label_name' is a"  # a number / a list
    if fmt == "table_csv" and kind == "missing_key":
        expected = "no 'caption'"
    if fmt == "table_csv" and kind == "integer_split":
        expected = "unknown split '1'"
    assert len(skipped) == 1, [i.skip_reason for i in skipped]
    reason = skipped[0].skip_reason
    assert expected in reason, reason
    assert str(tmp_path) not in reason, "reasons never carry absolute local paths"
    with pytest.raises(SkippedEntryError, match="NUL|no '|not a|unknown split"):
        skipped[0].loaded()  # staging a skipped item records its reason


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"table_csv"}))
@pytest.mark.parametrize("entry", ['"a string"', "7", "null", '["a", "list"]', "{"])
def test_an_entry_that_is_not_a_mapping_is_skipped(tmp_path, fmt, entry):
    spec, good = FORMATS[fmt](tmp_path, None)
    annotation = next(p for p in tmp_path.iterdir() if p.suffix in (".json", ".jsonl"))
    if annotation.suffix == ".jsonl":
        lines = annotation.read_text().splitlines()
        lines[1] = entry
        annotation.write_text("\n".join(lines))
    else:
        if entry == "{":
            return  # not JSON at all: the whole-file case below
        data = json.loads(annotation.read_text())
        entries = data if isinstance(data, list) else data["images"] if "images" in data else data["forest"]
        entries[1] = json.loads(entry)
        annotation.write_text(json.dumps(data))
    items = _items(spec)
    _assert_sane(items)
    assert sorted(i.locator for i in _good(items)) == sorted(good)
    [skip] = _skipped(items)
    assert "not a mapping" in skip.skip_reason or "not valid JSON" in skip.skip_reason, skip.skip_reason


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"table_csv"}))  # CSV: the same adapter as JSONL
def test_absolute_and_dotdot_names_are_skipped(tmp_path, fmt):
    spec, good = FORMATS[fmt](tmp_path, None)
    annotation = next(p for p in tmp_path.iterdir() if p.suffix in (".json", ".jsonl"))
    text = annotation.read_text()
    bad = {"karpathy": '"bad.png"', "coco": '"bad.png"', "nwpu": '"bad.png"', "rsitmd": '"train/bad.tif"',
           "table_jsonl": '"bad.png"', "thermal": '"images/bad.png"'}[fmt]
    (tmp_path / "outside.png").write_bytes(b"")
    for replacement, needle in (('"/etc/passwd"', "absolute path"), ('"../../outside.png"', "'..'")):
        annotation.write_text(text.replace(bad, replacement, 1))
        items = _items(spec)
        _assert_sane(items)
        assert sorted(i.locator for i in _good(items)) == sorted(good)
        [skip] = _skipped(items)
        assert needle in skip.skip_reason and "/etc/passwd" not in skip.skip_reason


# ----------------------------------------------------------------------------- the root is a boundary


@pytest.fixture
def outside(tmp_path):
    """A private image and a private folder outside every source root."""
    private = tmp_path / "private"
    _png(private / "secret.png", 99)
    _png(private / "album" / "holiday.png", 98)
    return private


@pytest.mark.parametrize("kind", ["folder", "thermal"])
def test_walked_folder_skips_outside_symlinks_file_and_directory(tmp_path, outside, kind):
    root = tmp_path / "src"
    _png(root / "forest" / "ok.png", 1)
    (root / "forest" / "leak.png").symlink_to(outside / "secret.png")
    (root / "album").symlink_to(outside / "album", target_is_directory=True)
    (root / "forest" / "inner.png").symlink_to(root / "forest" / "ok.png")  # inside the root: kept
    (root / "again").symlink_to(root / "forest", target_is_directory=True)  # inside: not walked twice
    (root / "loop").symlink_to(root, target_is_directory=True)
    items = _items(f"{kind}:{root}")
    _assert_sane(items)
    assert sorted(i.locator for i in _good(items)) == ["forest/inner.png", "forest/ok.png"]
    reasons = {i.source_id: i.skip_reason for i in _skipped(items)}
    assert set(reasons) == {"album", "forest/leak"}
    assert all("points outside the source root" in r for r in reasons.values())
    assert not any(str(outside) in r for r in reasons.values())


def test_root_itself_may_be_a_symlink(tmp_path):
    real = tmp_path / "real"
    _png(real / "forest" / "ok.png")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    [item] = _items(f"folder:{tmp_path / 'link'}")
    assert not item.skip_reason and item.locator == "forest/ok.png"


@pytest.mark.parametrize("fmt", ["karpathy", "coco", "nwpu", "rsitmd", "table_jsonl", "thermal"])
def test_annotation_names_through_outside_symlinks_are_skipped(tmp_path, outside, fmt):
    spec, good = FORMATS[fmt](tmp_path / "src", None)
    bad = next(p for p in (tmp_path / "src").rglob("bad.*"))
    bad.unlink()
    bad.symlink_to(outside / "secret.png")  # a file link out of the root
    items = _items(spec)
    _assert_sane(items)
    assert sorted(i.locator for i in _good(items)) == sorted(good)
    [skip] = _skipped(items)
    assert "points outside the source root" in skip.skip_reason and str(outside) not in skip.skip_reason

    # a directory link out of the root, on the way to a named file
    parent = next(p for p in (tmp_path / "src").rglob("a_1.*")).parent
    if parent == Path(_good(_items(spec))[0].root):
        return  # images sit in the source root itself, which may be a symlink: see the test below
    for p in list(parent.iterdir()):
        if p.is_symlink():
            p.unlink()
    moved = tmp_path / "moved"
    parent.rename(moved)
    parent.symlink_to(moved, target_is_directory=True)
    items = _items(spec)
    _assert_sane(items)
    assert not _good(items) and len(_skipped(items)) == len(good) + 1
    assert all("outside the source root" in i.skip_reason for i in _skipped(items))


def test_karpathy_filepath_through_an_outside_folder_link_is_skipped(tmp_path, outside):
    spec, good = karpathy(tmp_path / "src", None)
    (tmp_path / "src" / "images" / "album").symlink_to(outside / "album", target_is_directory=True)
    data = json.loads((tmp_path / "src" / "dataset_x.json").read_text())
    data["images"].append({"filename": "holiday.png", "filepath": "album", "sentences": [{"raw": "a beach"}]})
    (tmp_path / "src" / "dataset_x.json").write_text(json.dumps(data))
    items = _items(spec)
    _assert_sane(items)
    assert len(_good(items)) == 4
    [skip] = _skipped(items)
    assert skip.source_id == "album/holiday" and "'album/holiday.png' is a symlink (or lies under one)" in \
        skip.skip_reason


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_skipped_without_blocking(tmp_path):
    root = tmp_path / "src"
    _png(root / "ok.png")
    make_fifo(root / "stuck.png")
    expected = ["'stuck.png' is a FIFO, not an image file"]
    sock = socket.socket(socket.AF_UNIX)
    try:
        try:
            sock.bind(str(root / "sock.png"))
            expected.insert(0, "'sock.png' is a socket, not an image file")
        except OSError:  # AF_UNIX paths are limited to ~108 bytes: a long tmp path has no socket
            pass
        items = finishes_within(10, lambda: _items(f"folder:{root}"))
    finally:
        sock.close()
    assert [i.locator for i in _good(items)] == ["ok.png"]
    assert sorted(i.skip_reason for i in _skipped(items)) == expected

    # named by an annotation, and a link to a device
    spec, good = karpathy(tmp_path / "k", None)
    (tmp_path / "k" / "images" / "bad.png").unlink()
    make_fifo(tmp_path / "k" / "images" / "bad.png")
    os.symlink("/dev/zero", tmp_path / "k" / "images" / "zero.png")
    data = json.loads((tmp_path / "k" / "dataset_x.json").read_text())
    data["images"].append({"filename": "zero.png", "split": "train", "sentences": [{"raw": "zeros"}]})
    (tmp_path / "k" / "dataset_x.json").write_text(json.dumps(data))
    items = finishes_within(10, lambda: _items(spec))
    assert sorted(i.locator for i in _good(items)) == sorted(good)
    reasons = sorted(i.skip_reason for i in _skipped(items))
    assert len(reasons) == 2 and "'bad.png' is a FIFO" in reasons[0], reasons
    assert "'zero.png' is a symlink" in reasons[1] and "outside the source root" in reasons[1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_annotation_file_is_refused_without_blocking(tmp_path):
    make_fifo(tmp_path / "dataset_x.json")
    with pytest.raises(SourceSpecError, match="not a regular file"):
        finishes_within(10, lambda: _items(f"rsicd:{tmp_path}"))
    make_fifo(tmp_path / "t" / "rows.jsonl")
    with pytest.raises(SourceSpecError, match="not a regular file"):
        finishes_within(10, lambda: _items(f"table:{tmp_path / 't' / 'rows.jsonl'}:{tmp_path}"))


def test_annotation_file_linked_from_outside_a_searched_folder_is_refused(tmp_path, outside):
    (outside / "dataset_y.json").write_text(json.dumps({"images": []}))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "dataset_y.json").symlink_to(outside / "dataset_y.json")
    with pytest.raises(SourceSpecError, match="symlink pointing outside"):
        _items(f"rsicd:{tmp_path / 'src'}")
    assert _items(f"rsicd:{tmp_path / 'src' / 'dataset_y.json'}") == []  # named on purpose: used


# ----------------------------------------------------------------------------- text is valid UTF-8


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses non-UTF-8 file names")
def test_non_utf8_file_name_is_skipped_and_named(tmp_path):
    root = tmp_path / "src"
    _png(root / "ok.png")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.png"), "wb") as f:
        f.write((root / "ok.png").read_bytes())
    items = _items(f"folder:{root}")
    _assert_sane(items)
    assert [i.locator for i in _good(items)] == ["ok.png"]
    [skip] = _skipped(items)
    assert "file name is not valid UTF-8" in skip.skip_reason and "caf\\xe9.png" in skip.skip_reason

    # the same name inside an annotation file written with the raw byte
    spec, good = karpathy(tmp_path / "k", None)
    path = tmp_path / "k" / "dataset_x.json"
    path.write_bytes(path.read_bytes().replace(b'"bad.png"', b'"caf\xe9.png"'))
    items = _items(spec)
    _assert_sane(items)
    assert sorted(i.locator for i in _good(items)) == sorted(good)
    [skip] = _skipped(items)
    assert "not valid UTF-8" in skip.skip_reason and "caf\\xe9.png" in skip.skip_reason


@pytest.mark.parametrize("fmt", ["karpathy", "table_jsonl", "coco"])
def test_lone_surrogate_caption_is_skipped(tmp_path, fmt):
    spec, good = FORMATS[fmt](tmp_path, None)
    annotation = next(p for p in tmp_path.iterdir() if p.suffix in (".json", ".jsonl"))
    annotation.write_text(annotation.read_text().replace("scene bad.png" if fmt != "coco" else "scene 1",
                                                         "a \\ud800 field", 1))
    items = _items(spec)
    _assert_sane(items)
    assert sorted(i.locator for i in _good(items)) == sorted(good)
    [skip] = _skipped(items)
    assert "caption 0 is not valid UTF-8" in skip.skip_reason and "\\ud800" in skip.skip_reason


def test_hf_folder_rows_are_checked(tmp_path):
    import datasets

    png = (_png(tmp_path / "a.png")).read_bytes()
    features = datasets.Features({"image": datasets.Image(), "caption": datasets.Value("string"),
                                  "split": datasets.Value("string")})
    good = datasets.Dataset.from_dict({"image": [{"bytes": png, "path": None}] * 2, "caption": ["one", "two"],
                                       "split": ["train", "holdout"]}, features=features)
    datasets.DatasetDict({"train": good, "extra": good}).save_to_disk(str(tmp_path / "saved"))
    items = _items(f"hf:{tmp_path / 'saved'}")
    _assert_sane(items)
    assert [i.captions for i in _good(items)] == [["one"], ["one"]]
    assert [i.skip_reason.split(": ", 1)[1][:14] for i in _skipped(items)] == ["unknown split "] * 2


# ----------------------------------------------------------------------------- whole files


@pytest.mark.parametrize("fmt", ["karpathy", "nwpu", "rsitmd", "coco"])
@pytest.mark.parametrize("content", [b"{not json", b"[" * 100000, b'{"images": 3}', b"\xff\xfe\x00\x00", b"7"])
def test_a_wholly_broken_annotation_file_is_one_source_spec_error(tmp_path, fmt, content):
    if fmt == "nwpu" and content == b'{"images": 3}':
        content = b'["a list, not a mapping"]'  # for NWPU that is one bad class, skipped
    spec, _ = FORMATS[fmt](tmp_path, None)
    annotation = next(p for p in tmp_path.iterdir() if p.suffix == ".json")
    annotation.write_bytes(content)
    with pytest.raises(SourceSpecError) as info:
        _items(spec)
    message = str(info.value)
    assert annotation.name in message and "\n" not in message and len(message) < 400


# ----------------------------------------------------------------------------- seeded mutation fuzz

_SWAPS = [None, 0, -1, 1, 2.5, float("nan"), True, "", "x", "train", "holdout", [], {}, [1, "a"], {"a": 1},
          "a\x00b", "\ud800", "../up.png", "/abs.png", "sub/\udce9.png", [[]], "9" * 50]


def _containers(value, path=()):
    """Paths to every dict and list inside `value` (the top level included)."""
    if isinstance(value, (dict, list)):
        yield path
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            yield from _containers(child, path + (key,))


def _mutate(data, rng: random.Random):
    """`data` with one random type swap or key drop in one of its dicts or lists (any depth)."""
    data = copy.deepcopy(data)
    paths = list(_containers(data))
    path = rng.choice(paths)
    if not path and not isinstance(data, (dict, list)):
        return copy.deepcopy(rng.choice(_SWAPS))
    container = data
    for key in path:
        container = container[key]
    if not container:
        return data
    key = rng.choice(list(container)) if isinstance(container, dict) else rng.randrange(len(container))
    if rng.random() < 0.35:
        del container[key]
    else:
        container[key] = copy.deepcopy(rng.choice(_SWAPS))
    return data


def _fuzz_targets(root: Path) -> dict[str, tuple[str, Path, str]]:
    """name -> (spec, annotation file, 'json' | 'jsonl' | 'csv') for a valid archive of each format."""
    targets = {}
    for name, writer in FORMATS.items():
        folder = root / name
        spec, _ = writer(folder, None)
        annotation = next(p for p in folder.iterdir() if p.suffix in (".json", ".jsonl", ".csv"))
        targets[name] = (spec, annotation, annotation.suffix[1:])
    return targets


def test_seeded_mutation_fuzz_of_every_adapter(tmp_path):
    """Random type swaps / key drops on valid entries (and byte edits of the files): an adapter
    raises nothing but SourceSpecError, and every item it lists is sane or a skip with a reason."""
    rng = random.Random(20)
    deadline = time.monotonic() + 25
    targets = _fuzz_targets(tmp_path)
    originals = {name: annotation.read_bytes() for name, (_, annotation, _) in targets.items()}
    runs = {name: 0 for name in targets}
    outcomes = {"items": 0, "skipped": 0, "spec_errors": 0}
    while time.monotonic() < deadline and min(runs.values()) < 400:
        for name, (spec, annotation, fmt) in targets.items():
            original = originals[name]
            if fmt == "csv" or rng.random() < 0.2:  # byte-level: flips, insertions, cuts
                data = bytearray(original)
                for _ in range(rng.randint(1, 4)):
                    pos = rng.randrange(len(data))
                    op = rng.random()
                    if op < 0.4:
                        data[pos] = rng.choice(b',"\n\x00\xff\\[]{}:0a')
                    elif op < 0.7:
                        data[pos:pos] = bytes(rng.choice([b",", b'"', b"\xe9", b"\n", b"\x00", b"|"]))
                    else:
                        del data[pos: pos + rng.randint(1, 8)]
                annotation.write_bytes(bytes(data))
            elif fmt == "jsonl":
                rows = [json.loads(line) for line in original.decode().splitlines() if line.strip()]
                rows = [_mutate(r, rng) if rng.random() < 0.5 else r for r in rows]
                if rng.random() < 0.2:
                    rows[rng.randrange(len(rows))] = copy.deepcopy(rng.choice(_SWAPS))
                annotation.write_text("\n".join(json.dumps(r) for r in rows), errors="surrogatepass")
            else:
                data = json.loads(original)
                for _ in range(rng.randint(1, 3)):
                    data = _mutate(data, rng)
                annotation.write_bytes(json.dumps(data).encode("utf-8", "surrogatepass"))
            try:
                items = list(iter_source(parse_source(spec)))
            except SourceSpecError as exc:
                assert "\n" not in str(exc)
                outcomes["spec_errors"] += 1
            else:
                _assert_sane(items)
                outcomes["items"] += len(items)
                outcomes["skipped"] += len(_skipped(items))
            runs[name] += 1
    print(runs, outcomes)
    assert min(runs.values()) >= 20, runs
    assert outcomes["skipped"] > 0 and outcomes["items"] > outcomes["skipped"], outcomes


# ----------------------------------------------------------------------------- through the builder


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_build_over_a_hostile_folder_finishes_and_leaks_nothing(tmp_path, outside):
    """FIFO, /dev/zero link, outside file and folder links, a non-UTF-8 name: the build ends (bounded
    time, in a subprocess so a hang cannot stall the suite) and no byte of the targets is published."""
    root = tmp_path / "src"
    for n in range(3):
        _png(root / "forest" / f"ok_{n}.png", n)
    (root / "forest" / "leak.png").symlink_to(outside / "secret.png")
    (root / "album").symlink_to(outside / "album", target_is_directory=True)
    make_fifo(root / "forest" / "stuck.png")
    os.symlink("/dev/zero", root / "forest" / "zero.png")
    with open(os.path.join(os.fsencode(root / "forest"), b"caf\xe9.png"), "wb") as f:
        f.write((root / "forest" / "ok_0.png").read_bytes())
    out = tmp_path / "out"
    script = ("from fusionrs.data.build import BuildConfig, build_dataset\n"
              "from fusionrs.data.sources import parse_source\n"
              f"r = build_dataset(BuildConfig(sources=[parse_source('folder:' + {str(root)!r})], chunk_size=4), "
              f"{str(out)!r}, progress=False)\n"
              "print(r.num_rows, len(r.failures))\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rows, failures = map(int, result.stdout.split()[-2:])
    assert rows == 3 and failures == 5
    card = (out / "README.md").read_text()
    for needle in ("points outside the source root", "a FIFO", "not valid UTF-8"):
        assert needle in card, needle
    secret, holiday = ((outside / p).read_bytes() for p in ("secret.png", "album/holiday.png"))
    secret, holiday = secret[len(secret) // 2:][:32], holiday[len(holiday) // 2:][:32]  # compressed noise
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret not in data and holiday not in data and str(outside).encode() not in data, path
