"""The dataset folder writer: loads with plain datasets, pixel-identical, streaming, sources deleted."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from fusionrs.data.folder import DatasetFolderWriter, write_dataset_folder
from fusionrs.data.schema import FusionRecord, Provenance
from fusionrs.errors import FusionRSError


def make_records(n: int, source_dir, *, split_every: int = 4, size=(24, 20)):
    """Records whose images come from files in `source_dir` (so deleting them proves embedding)."""
    rng = np.random.default_rng(1)
    records = []
    for i in range(n):
        rgb_path = source_dir / f"rgb_{i}.png"
        ir_path = source_dir / f"ir_{i}.png"
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(rgb_path)
        Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8)).save(ir_path)
        records.append(
            FusionRecord(
                id=f"rec-{i:03d}",
                rgb=Image.open(rgb_path),
                ir=Image.open(ir_path),
                captions=[f"scene {i}", f"another view of scene {i}"],
                ir_captions=[f"bright outlines in scene {i}"],
                source_dataset="unit" if i % 2 else "unit_b",
                source_id=str(i),
                class_name=["farmland", "port"][i % 2],
                split="validation" if i % split_every == 0 else "train",
                provenance=Provenance(rights="CC0-1.0", source_locator=f"images/{i}.png"),
            )
        )
    return records


@pytest.fixture
def written(tmp_path):
    source = tmp_path / "sources"
    source.mkdir()
    records = make_records(12, source)
    expected = {r.id: (np.asarray(r.rgb).copy(), np.asarray(r.ir).copy()) for r in records}
    report = write_dataset_folder(records, tmp_path / "ds", progress=False, max_shard_bytes=3000)
    for f in source.iterdir():
        f.unlink()
    source.rmdir()
    return report, expected


def test_folder_layout_and_card(written):
    report, _ = written
    assert report.split_counts == {"train": 9, "validation": 3}
    assert len(report.shards["train"]) > 1, "the tiny byte budget must roll shards over"
    names = sorted(p.name for p in (report.out_dir / "data").iterdir())
    assert names[0].startswith("train-00000-of-") and all(n.endswith(".parquet") for n in names)
    card = (report.out_dir / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and "dataset_info:" in card
    assert "| unit | 6 | CC0-1.0 |" in card
    generation = json.loads((report.out_dir / "generation.json").read_text())
    assert generation["split_counts"] == {"train": 9, "validation": 3}
    assert not any(p.name.startswith(".ds.tmp") for p in report.out_dir.parent.iterdir())


LOAD_WITHOUT_FUSIONRS = textwrap.dedent(
    """
    import json, sys, hashlib
    import numpy as np
    import datasets
    folder, streaming = sys.argv[1], sys.argv[2] == "1"
    ds = datasets.load_dataset(folder, streaming=streaming)
    out = {"fusionrs_imported": "fusionrs" in sys.modules, "splits": {}}
    for split in ds:
        rows = {}
        for row in ds[split]:
            rows[row["id"]] = [hashlib.sha256(np.asarray(row["rgb"]).tobytes()).hexdigest(),
                               hashlib.sha256(np.asarray(row["ir"]).tobytes()).hexdigest(),
                               row["rgb"].mode, row["ir"].mode, row["captions"], row["provenance"]["source_locator"]]
        out["splits"][split] = rows
    features = ds["train"].features
    out["features"] = {k: type(v).__name__ for k, v in features.items()}
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("streaming", [False, True])
def test_plain_datasets_loads_pixel_identical_after_sources_deleted(written, tmp_path, streaming):
    import hashlib

    report, expected = written
    env_script = tmp_path / "load.py"
    env_script.write_text(LOAD_WITHOUT_FUSIONRS)
    result = subprocess.run(
        [sys.executable, str(env_script), str(report.out_dir), "1" if streaming else "0"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["fusionrs_imported"] is False
    assert out["features"]["rgb"] == "Image" and out["features"]["ir"] == "Image"
    assert out["features"]["captions"] == "List"
    loaded = {**out["splits"]["train"], **out["splits"]["validation"]}
    assert set(loaded) == set(expected)
    for rid, (rgb, ir) in expected.items():
        rgb_hash, ir_hash, rgb_mode, ir_mode, captions, locator = loaded[rid]
        assert rgb_hash == hashlib.sha256(rgb.tobytes()).hexdigest()
        assert ir_hash == hashlib.sha256(ir.tobytes()).hexdigest()
        assert (rgb_mode, ir_mode) == ("RGB", "L")
        assert captions[0].startswith("scene ") and locator.startswith("images/")


def test_bad_records_are_skipped_and_reported(tmp_path):
    source = tmp_path / "s"
    source.mkdir()
    good = make_records(3, source)
    bad_size = make_records(1, source, size=(10, 10))[0]
    bad_size.id, bad_size.ir = "bad-size", Image.new("L", (5, 5))
    duplicate = make_records(1, source)[0]
    empty_caption = make_records(1, source)[0]
    empty_caption.id, empty_caption.captions = "empty-caption", [""]
    report = write_dataset_folder([*good, bad_size, duplicate, empty_caption], tmp_path / "ds", progress=False)
    reasons = {item["id"]: item["reason"] for item in report.skipped}
    assert set(reasons) == {"bad-size", "rec-000", "empty-caption"}
    assert "IR is 5x5 but RGB is 10x10" in reasons["bad-size"]
    assert "duplicate id" in reasons["rec-000"]
    assert report.num_rows == 3
    card = (report.out_dir / "README.md").read_text()
    assert "Records left out (3)" in card and "bad-size" in card


def test_raise_mode_and_existing_folder(tmp_path):
    source = tmp_path / "s"
    source.mkdir()
    record = make_records(1, source)[0]
    record.captions = []  # allowed: IR-only or caption-less rows are valid
    record.ir = Image.new("L", (3, 3))
    with pytest.raises(FusionRSError, match="IR is 3x3"):
        write_dataset_folder([record], tmp_path / "ds", on_error="raise", progress=False)
    assert not (tmp_path / "ds").exists(), "a failed write must leave nothing that looks complete"
    write_dataset_folder(make_records(2, source), tmp_path / "ds2", progress=False)
    with pytest.raises(FileExistsError):
        DatasetFolderWriter(tmp_path / "ds2")
    with pytest.raises(FusionRSError, match="no valid records"):
        write_dataset_folder([record], tmp_path / "ds3", progress=False)


def test_an_arrow_table_writes_the_same_shards_as_its_rows(tmp_path):
    # the builder's reshard path: rows stay Arrow from staged chunk to shard (DatasetFolderWriter.add_table)
    import filecmp

    import pyarrow as pa

    from fusionrs.data.schema import FEATURES

    source = tmp_path / "sources"
    source.mkdir()
    rows = [FEATURES.encode_example(r.validate().to_row()) for r in make_records(14, source)]
    outs = {}
    for name in ("rows", "tables"):
        writer = DatasetFolderWriter(tmp_path / name, max_shard_bytes=3000, rows_per_group=3)
        with writer:
            if name == "rows":
                for row in rows:
                    writer.add_row(row)
            else:  # chunks that cross row groups, shards and splits
                for start in (0, 5, 6, 11):
                    part = rows[start:{0: 5, 5: 6, 6: 11, 11: 14}[start]]
                    writer.add_table(pa.Table.from_pylist(part, schema=FEATURES.arrow_schema))
            outs[name] = writer.close(pretty_name="same")
    assert outs["rows"].shards == outs["tables"].shards and len(outs["rows"].shards["train"]) > 1
    assert outs["rows"].source_counts == outs["tables"].source_counts
    files = [shard for names in outs["rows"].shards.values() for shard in names] + ["generation.json"]
    for file in files:
        assert filecmp.cmp(tmp_path / "rows" / file, tmp_path / "tables" / file, shallow=False), file
