"""Group-aware splits: planted near-duplicates never cross splits (fusionrs.data.splits)."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict

import numpy as np
import pytest
from PIL import Image

from fusionrs.data.schema import FusionRecord
from fusionrs.data.splits import (
    SplitKey,
    SplitManifest,
    group_records,
    make_splits,
    split_key,
    split_key_for_record,
)
from tests.test_dedup import crop, real_or_procedural_images, reencode, resize, texture

COPIES = {
    "jpeg75": lambda im: reencode(im, 75),
    "half": lambda im: resize(im, 0.5),
    "x1.5": lambda im: resize(im, 1.5),
    "crop3": lambda im: crop(im, 0.03),
    "corner3": lambda im: crop(im, 0.03, centred=False),
}
SOURCES = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def planted() -> tuple[list[SplitKey], dict[str, str]]:
    """60 scenes over three sources, each with a few planted copies under other sources/splits.

    Returns the keys and record id -> planted scene, the grouping the splits must respect.
    """
    rng = random.Random(0)
    keys, scene_of = [], {}
    for scene, image in enumerate(real_or_procedural_images(60)):
        variants = [("orig", image)] + [(name, COPIES[name](image)) for name in rng.sample(sorted(COPIES), 2)]
        for name, variant in variants:
            record_id = f"s{scene:03d}-{name}"
            source = rng.choice(SOURCES)
            keys.append(split_key(record_id, variant, [f"scene {scene} seen as {name}"], source_dataset=source,
                                  source_id=record_id, source_split=rng.choice(["train", "train", "val", "test"])))
            scene_of[record_id] = f"s{scene:03d}"
    return keys, scene_of


def _groups_by(manifest: SplitManifest, field: str) -> dict[str, set]:
    grouped = defaultdict(set)
    for record_id, entry in manifest.assignments.items():
        grouped[entry[field]].add(record_id)
    return grouped


def test_group_records_recovers_planted_scenes(planted):
    keys, scene_of = planted
    labels = group_records(keys)
    by_scene = defaultdict(set)
    for key, label in zip(keys, labels.tolist()):
        by_scene[scene_of[key.id]].add(label)
    assert all(len(labels_of_scene) == 1 for labels_of_scene in by_scene.values())
    assert len(set(labels.tolist())) == len(by_scene)  # and unrelated scenes are not merged


@pytest.mark.parametrize("policy", ["source", "resplit"])
def test_planted_copies_never_cross_splits(planted, policy):
    keys, scene_of = planted
    manifest = make_splits(keys, policy=policy, min_heldout_per_source=3, seed=1)
    splits_of_scene = defaultdict(set)
    for record_id, entry in manifest.assignments.items():
        splits_of_scene[scene_of[record_id]].add(entry["split"])
    assert all(len(splits) == 1 for splits in splits_of_scene.values())
    for members in _groups_by(manifest, "group_id").values():  # components go whole
        assert len({manifest.assignments[m]["split"] for m in members}) == 1
        assert sum(manifest.assignments[m]["is_eval_representative"] for m in members) == 1
        assert manifest.assignments[min(members)]["is_eval_representative"]
    assert manifest.stats["n_records"] == len(keys)
    assert sum(s["records"] for s in manifest.stats["splits"].values()) == len(keys)


def test_source_policy_keeps_source_splits_and_resolves_conflicts_toward_test():
    image = texture(1)
    keys = [
        split_key("a", image, ["x"], source_dataset="s", source_id="a", source_split="train"),
        split_key("b", reencode(image), ["y"], source_dataset="s", source_id="b", source_split="test"),
        split_key("c", texture(2), ["z"], source_dataset="s", source_id="c", source_split="val"),
        split_key("d", texture(3), ["w"], source_dataset="s", source_id="d", source_split="train"),
    ]
    manifest = make_splits(keys, policy="source")
    assert {i: a["split"] for i, a in manifest.assignments.items()} == {
        "a": "test", "b": "test", "c": "validation", "d": "train"}
    assert manifest.stats["conflicts"]["groups"] == 1
    assert manifest.stats["conflicts"]["resolved"] == {"train+test -> test": 1}


def _hash_only_keys(n_per_source: dict[str, int], split: str | None = None) -> list[SplitKey]:
    """Keys of unrelated records (distinct random hashes, no captions): every record is its own group."""
    keys = []
    for source, n in n_per_source.items():
        rng = np.random.default_rng(list(source.encode()))  # sources must not share hashes
        for i in range(n):
            keys.append(SplitKey(f"{source}-{i:04d}", source, f"{i}", int(rng.integers(0, 2**63)), f"{source}{i}", "",
                                 split))
    return keys


def test_resplit_fractions_and_minimum_heldout_per_source():
    keys = _hash_only_keys({"big": 900, "small": 12, "tiny": 1})
    manifest = make_splits(keys, policy="resplit", min_heldout_per_source=5, seed=3)
    per_source = manifest.stats["sources"]
    assert per_source["small"]["validation"] >= 5 and per_source["small"]["test"] >= 5
    assert per_source["small"]["train"] >= 1  # minimums never take a source's last group
    assert per_source["big"]["validation"] >= 5
    assert manifest.stats["min_heldout_unmet"] == {"tiny": {"test": 0, "validation": 0}}
    assert per_source["big"] == {"test": 90, "train": 720, "validation": 90}  # stratified by source
    assert per_source["tiny"] == {"train": 1}


def test_source_policy_places_records_without_source_split_by_fractions():
    keys = _hash_only_keys({"labelled": 50}, split="val") + _hash_only_keys({"unlabelled": 200})
    manifest = make_splits(keys, policy="source", seed=0)
    assert manifest.stats["sources"]["labelled"] == {"validation": 50}
    assert manifest.stats["sources"]["unlabelled"] == {"test": 20, "train": 160, "validation": 20}


def test_manifest_is_deterministic_under_shuffles_and_round_trips(planted, tmp_path):
    keys, _ = planted
    manifest = make_splits(keys, policy="resplit", seed=7)
    shuffled = list(keys)
    random.Random(1).shuffle(shuffled)
    again = make_splits(shuffled, policy="resplit", seed=7)
    assert again.assignments == manifest.assignments and again.stats == manifest.stats
    assert make_splits(keys, policy="resplit", seed=8).assignments != manifest.assignments

    manifest.save(tmp_path / "splits.json")
    loaded = SplitManifest.load(tmp_path / "splits.json")
    assert loaded == manifest
    assert loaded.ids("test") == sorted(i for i, a in manifest.assignments.items() if a["split"] == "test")
    assert json.loads((tmp_path / "splits.json").read_text())["format"] == "fusionrs-split-manifest"


def test_group_ids_depend_on_members_only(planted):
    keys, _ = planted
    a = make_splits(keys, policy="source")
    b = make_splits(keys, policy="resplit", seed=5)
    assert {i: e["group_id"] for i, e in a.assignments.items()} == {i: e["group_id"] for i, e in b.assignments.items()}


def test_caption_and_source_id_links():
    keys = _hash_only_keys({"s": 4})
    keys[1] = SplitKey(keys[1].id, "s", keys[0].source_id, keys[1].phash, "p1", "")  # same source item
    keys[3] = SplitKey(keys[3].id, "s", "other", keys[3].phash, "p3", "a caption")
    keys[2] = SplitKey(keys[2].id, "s", "", keys[2].phash, "p2", "a caption")  # same caption key
    labels = group_records(keys)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    empty = [SplitKey(f"e{i}", "s", "", i * 0x9E3779B97F4A7C15 % 2**64, "", "") for i in range(3)]
    assert len(set(group_records(empty).tolist())) == 3  # empty keys never link


def test_invalid_inputs():
    keys = _hash_only_keys({"s": 3})
    with pytest.raises(ValueError, match="unique"):
        make_splits(keys + keys[:1])
    with pytest.raises(ValueError, match="source split"):
        make_splits([SplitKey("x", "s", "x", 1, "p", "", "holdout")])
    with pytest.raises(ValueError, match="fractions"):
        make_splits(keys, fractions={"train": 0.5, "test": 0.1})
    with pytest.raises(ValueError, match="policy"):
        make_splits(keys, policy="random")  # type: ignore[arg-type]


def test_split_key_for_record_uses_source_image_not_translation():
    rgb = texture(4)
    record = FusionRecord(id="r1", rgb=rgb, ir=Image.new("L", rgb.size, 7), captions=["A field."],
                          source_dataset="s", source_id="1")
    key = split_key_for_record(record, source_split="train")
    other_ir = FusionRecord(id="r1", rgb=rgb, ir=Image.new("L", rgb.size, 200), captions=["a field"],
                            source_dataset="s", source_id="1")
    assert split_key_for_record(other_ir, source_split="train") == key
    ir_only = FusionRecord(id="r2", rgb=None, ir=rgb.convert("L"), captions=[], source_dataset="t", source_id="2")
    assert split_key_for_record(ir_only).pixel_hash != key.pixel_hash
    png = record.to_row()["rgb"]["bytes"]
    assert split_key("r1", png, ["A field."], source_dataset="s", source_id="1", source_split="train") == key


def test_real_rsicd_subset_groups_stay_small(shared_data):
    """1,000 real RSICD/AID records: a few caption-set and near-duplicate groups, none large."""
    root = shared_data / "rsicd_aid"
    if not (root / "dataset_rsicd.json").is_file():
        pytest.skip("rsicd_aid is absent from the shared data")
    images = json.loads((root / "dataset_rsicd.json").read_text())["images"][::6]
    keys = [
        split_key(im["filename"], Image.open(root / "images" / im["filename"]).convert("RGB"),
                  [s["raw"] for s in im["sentences"]], source_dataset="rsicd", source_id=im["filename"],
                  source_split=im["split"])
        for im in images
    ]
    manifest = make_splits(keys, policy="source")
    stats = manifest.stats
    assert stats["n_records"] == len(images) and stats["n_groups"] > 0.8 * len(images)
    assert stats["largest_group"]["size"] < 0.02 * len(images)
    source_counts = Counter(SPLIT for SPLIT in (im["split"] for im in images))
    assert stats["splits"]["validation"]["records"] >= source_counts["val"]  # conflicts only move toward held-out
