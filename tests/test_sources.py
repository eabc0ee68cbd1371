"""Source adapters on small generated archives in each format (real-file builds are in test_build)."""

import json

import datasets
import numpy as np
import pytest
from PIL import Image

from fusionrs.data.sources import SourceSpecError, iter_source, parse_source


def _image(path, seed=0, size=(24, 24)):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


def test_karpathy_with_class_prefix_and_split_names(tmp_path):
    _image(tmp_path / "images" / "bareland_12.jpg")
    (tmp_path / "dataset_mine.json").write_text(json.dumps({"images": [
        {"filename": "bareland_12.jpg", "split": "val", "sentences": [{"raw": "bare land ."}, {"raw": "soil"}]}]}))
    [item] = iter_source(parse_source(f"rsicd:{tmp_path}"))
    assert (item.class_name, item.source_split, item.captions) == ("bareland", "validation", ["bare land .", "soil"])
    assert item.root == tmp_path / "images" and item.locator == "bareland_12.jpg"


def test_nwpu_format(tmp_path):
    (tmp_path / "dataset_nwpu.json").write_text(json.dumps({"airplane": [
        {"filename": "airplane_001.jpg", "split": "test", "raw": "a plane", "raw_1": "an aircraft", "raw_2": "jet",
         "raw_3": "plane parked", "raw_4": "one plane"}]}))
    [item] = iter_source(parse_source(f"nwpu:{tmp_path}"))
    assert item.locator == "airplane/airplane_001.jpg" and len(item.captions) == 5 and item.source_split == "test"


def test_folder_of_classes(tmp_path):
    _image(tmp_path / "Forest" / "a.png")
    _image(tmp_path / "River" / "b.tif")
    (tmp_path / "notes.txt").write_text("not an image")
    items = list(iter_source(parse_source(f"folder:{tmp_path}")))
    assert [(i.class_name, i.locator, i.captions) for i in items] == [("forest", "Forest/a.png", []),
                                                                       ("river", "River/b.tif", [])]


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_table_formats_merge_rows_per_image(tmp_path, suffix):
    rows = [{"image": "x.png", "caption": "one", "split": "train"}, {"image": "x.png", "caption": "two", "split": "train"},
            {"image": "y.png", "caption": "three", "split": "test"}]
    table = tmp_path / f"t.{suffix}"
    if suffix == "csv":
        table.write_text("image,caption,split\n" + "".join(f"{r['image']},{r['caption']},{r['split']}\n" for r in rows))
    elif suffix == "jsonl":
        table.write_text("\n".join(json.dumps(r) for r in rows))
    else:
        datasets.Dataset.from_list(rows).to_parquet(str(table))
    items = list(iter_source(parse_source(f"table:{table}:{tmp_path}")))
    assert [(i.locator, i.captions, i.source_split) for i in items] == [("x.png", ["one", "two"], "train"),
                                                                        ("y.png", ["three"], "test")]


def test_hf_folder_keeps_images_encoded(tmp_path):
    _image(tmp_path / "a.png", seed=1)
    ds = datasets.Dataset.from_dict({"image": [str(tmp_path / "a.png")], "caption": ["a field"]})
    ds = ds.cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "saved"))
    [item] = iter_source(parse_source(f"hf:{tmp_path / 'saved'}"))
    assert isinstance(item.image, bytes) and item.captions == ["a field"] and item.source_dataset == "saved"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(__import__("io").BytesIO(item.image))))


def test_thermal_without_manifest(tmp_path):
    Image.new("L", (16, 16), 90).save(tmp_path / "f1.png")
    [item] = iter_source(parse_source(f"thermal:{tmp_path}"))
    assert item.modality == "ir" and item.captions == []


@pytest.mark.parametrize(
    "spec, message",
    [
        ("rsicd", "expected KIND:PATH"),
        ("radar:/tmp", "unknown kind 'radar'"),
        ("rsicd:/definitely/not/here", "does not exist"),
        ("synth:zero", "positive scene count"),
        ("coco:/tmp", "ANNOTATIONS.json:IMAGE_DIR"),
    ],
)
def test_bad_source_specs(spec, message):
    with pytest.raises(SourceSpecError, match=message):
        parse_source(spec)


def test_bad_annotation_file_is_named(tmp_path):
    (tmp_path / "dataset_x.json").write_text("{not json")
    with pytest.raises(SourceSpecError, match="dataset_x.json: not valid JSON"):
        list(iter_source(parse_source(f"rsicd:{tmp_path}")))
