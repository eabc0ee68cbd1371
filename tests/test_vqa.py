"""VQA metrics by hand; the HIT-UAV question manifest: determinism, counts, balance, regression hash."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fusionrs.errors import FusionRSError
from fusionrs.metrics.vqa import exact_match, extract_answer, normalize_answer, token_f1, vqa_scores
from fusionrs.vlm.vqa_data import (
    COUNT_CAP,
    HitUavError,
    answer_distribution,
    build_vqa_manifest,
    load_hit_uav,
    majority_baseline,
    manifest_sha256,
    read_vqa_manifest,
    write_vqa_manifest,
)

# Regression pins of the real HIT-UAV manifests (seed 0). A change here changes every VQA number
# reported on them: update only on purpose, with the reason in the commit and docs/metrics.md.
VAL_SHA256 = "6fa8b430354c71c9bf3e1b94ebb6f65b0cf6159fcdaa2b41fe09f6320bfad809"
TRAIN_SHA256 = "3c4e36e398de3658f2a50323736b16234a93f82db5a5a52f8e534d7c528cde1e"


def test_normalisation_and_scores_by_hand():
    assert normalize_answer("  The answer is: Three! ") == "answer is 3"
    assert normalize_answer("3.") == "3" and normalize_answer("3.5 m") == "3.5 m"
    assert normalize_answer("More than ten") == "more than 10"
    assert exact_match("Yes.", "yes") == 1.0 and exact_match("yes, one", "yes") == 0.0
    assert exact_match("two", ["2", "3"]) == 1.0
    # "a car is parked" -> [car, is, parked] vs [car]: P 1/3, R 1 -> F1 0.5
    assert token_f1("a car is parked", "car") == pytest.approx(0.5)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    assert token_f1("more than 10", "10") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))


def test_extract_answer_per_type():
    assert extract_answer("Yes, there is one person.", "presence") == "yes"
    assert extract_answer("No. I can't see any cars", "presence") == "no"
    assert extract_answer("There are seven cars in the image.", "counting") == "7"
    assert extract_answer("I count 15 people", "counting", count_cap=COUNT_CAP) == "more than 10"
    assert extract_answer("More than ten.", "counting") == "more than 10"
    assert extract_answer("There are no bicycles.", "counting") == "0"
    assert extract_answer("Mostly pedestrians walking.", "category") == "person"
    assert extract_answer("The most common are other vehicles", "category") == "other vehicle"
    assert extract_answer("It was taken at nighttime.", "day_night") == "night"
    assert extract_answer("Daytime", "day_night") == "day"


def test_vqa_scores_per_type():
    preds = ["yes", "no", "3", "Yes, there is a car.", "night"]
    golds = ["yes", "yes", "three", "yes", "day"]
    types = ["presence", "presence", "counting", "presence", "day_night"]
    raw = vqa_scores(preds, golds, types, resamples=500)
    assert raw["exact_match"] == pytest.approx(2 / 5)
    # "Yes, there is a car." -> [yes, there, is, car] vs [yes]: P 1/4, R 1 -> F1 0.4
    assert raw["per_type"]["presence"] == {"exact_match": pytest.approx(1 / 3), "token_f1": pytest.approx(1.4 / 3),
                                           "n": 3}
    assert raw["per_type"]["counting"]["exact_match"] == 1.0 and raw["per_type"]["day_night"]["exact_match"] == 0.0
    assert raw["exact_match_ci"]["low"] <= raw["exact_match"] <= raw["exact_match_ci"]["high"]
    extracted = vqa_scores(preds, golds, types, extract=True, resamples=500, per_item=True)
    assert extracted["exact_match"] == pytest.approx(3 / 5) and extracted["per_item"]["predictions"][3] == "yes"
    with pytest.raises(ValueError, match="needs the question types"):
        vqa_scores(preds, golds, extract=True)
    with pytest.raises(ValueError, match="5 predictions but 1"):
        vqa_scores(preds, golds[:1])


def _write_hit_uav(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _record(name, flag, labels):
    return {"file": f"images/{name}.jpg", "flight": {"day_night_flag": flag, "altitude_m": 60, "camera_angle_deg": 90},
            "objects": [{"label": label, "bbox": [0, 0, 4, 4]} for label in labels]}


def test_manifest_rules_on_a_small_hand_made_split(tmp_path):
    records = [
        _record("1_60_90_0_00001", 1, ["Person"] * 3 + ["Car", "DontCare", "DontCare"]),
        _record("0_60_90_0_00002", 0, ["Car"] * 14 + ["Bicycle"]),
        _record("0_60_90_0_00003", 0, []),
        _record("1_60_90_0_00004", 1, ["Person", "Car"]),  # a tie: no category question
    ]
    folder = _write_hit_uav(tmp_path / "hit", records)
    manifest = build_vqa_manifest(folder, "val")
    assert manifest == build_vqa_manifest(folder, "val")
    by_id = {row["id"]: row for row in manifest}
    assert len(by_id) == len(manifest)
    assert by_id["val/0_60_90_0_00002/category"]["answer"] == "car"
    assert by_id["val/1_60_90_0_00001/category"]["answer"] == "person"  # DontCare ignored
    assert "val/1_60_90_0_00004/category" not in by_id and "val/0_60_90_0_00003/category" not in by_id
    assert by_id["val/0_60_90_0_00003/counting/person"]["answer"] == "0"
    counting = {row["image_id"]: row["answer"] for row in manifest if row["type"] == "counting"}
    assert counting["0_60_90_0_00002"] in {"more than 10", "1"}  # 14 cars (capped) or the one bicycle
    assert {row["answer"] for row in manifest if row["type"] == "day_night"} == {"day", "night"}
    assert by_id["val/0_60_90_0_00002/day_night"]["answer"] == "day"
    presence = Counter((row["category"], row["answer"]) for row in manifest if row["type"] == "presence")
    for word in ("person", "car", "bicycle", "other vehicle"):
        assert presence[(word, "yes")] == presence[(word, "no")]
    assert all(row["file"].startswith("images/") for row in manifest)
    path = write_vqa_manifest(manifest, tmp_path / "out" / "val.jsonl")
    assert read_vqa_manifest(path) == manifest
    assert manifest_sha256(read_vqa_manifest(path)) == manifest_sha256(manifest)


def test_bad_hit_uav_inputs_name_the_file_and_field(tmp_path):
    with pytest.raises(HitUavError, match="val.jsonl: no such file"):
        build_vqa_manifest(tmp_path, "val")
    bad = _write_hit_uav(tmp_path / "a", [{"file": "images/x.jpg", "flight": {"day_night_flag": 2}, "objects": []}])
    with pytest.raises(FusionRSError, match="val.jsonl:1: field 'flight.day_night_flag'"):
        load_hit_uav(bad, "val")
    bad = _write_hit_uav(tmp_path / "b", [_record("x", 0, ["Tank"])])
    with pytest.raises(HitUavError, match="unknown labels \\['Tank'\\]"):
        load_hit_uav(bad, "val")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "val.jsonl").write_text("{not json\n")
    with pytest.raises(HitUavError, match="val.jsonl:1: not valid JSON"):
        load_hit_uav(tmp_path / "c", "val")
    (tmp_path / "m.jsonl").write_text(json.dumps({"id": "x"}) + "\n")
    with pytest.raises(HitUavError, match="missing field"):
        read_vqa_manifest(tmp_path / "m.jsonl")


def test_real_hit_uav_manifests(shared_data):
    hit = shared_data / "hit_uav"
    val = build_vqa_manifest(hit, "val")
    train = build_vqa_manifest(hit, "train")
    assert manifest_sha256(val) == VAL_SHA256
    assert manifest_sha256(train) == TRAIN_SHA256
    assert len(val) == 1498 and len({row["file"] for row in val}) == 290
    assert len(train) == 10536 and len({row["file"] for row in train}) == 2029
    assert not {row["file"] for row in val} & {row["file"] for row in train}
    assert Counter(row["type"] for row in val) == {"presence": 634, "counting": 290, "category": 284, "day_night": 290}
    dist = answer_distribution(val)
    assert dist["presence"] == {"no": 317, "yes": 317}
    assert dist["day_night"] == {"night": 195, "day": 95}
    assert dist["category"] == {"person": 143, "car": 100, "bicycle": 40, "other vehicle": 1}
    assert dist["counting"]["more than 10"] == 66 and sum(dist["counting"].values()) == 290
    assert all((hit / row["file"]).is_file() for row in val[:50])

    baseline = majority_baseline(train, val)
    assert baseline["answers"] == {"category": "person", "counting": "more than 10", "day_night": "night",
                                   "presence": "no"}
    per_type = baseline["scores"]["per_type"]
    assert per_type["presence"]["exact_match"] == 0.5  # balanced per category: no prior to exploit
    assert per_type["day_night"]["exact_match"] == pytest.approx(195 / 290)
    assert baseline["scores"]["exact_match"] == pytest.approx(721 / 1498)
    by_question = majority_baseline(train, val, by="question")
    assert by_question["scores"]["per_type"]["presence"]["exact_match"] == 0.5
