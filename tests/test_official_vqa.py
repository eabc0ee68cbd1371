"""HIT-UAV VQA by the FusionRS authors' protocol: manifest rows from boxes, the parser's quirks, scoring."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fusionrs.cli.main import main as cli
from fusionrs.errors import HitUavError
from fusionrs.metrics.official_vqa import (
    normalize, parse_prediction, prior_predictions, score_official_vqa, strict_match,
)
from fusionrs.vlm.official_vqa import (
    build_official_manifest, load_annotations, manifest_summary, read_official_manifest, region_of, resolve_image,
    write_official_manifest,
)

SHARED_HIT_UAV = Path(__file__).resolve().parents[2] / "shared" / "data" / "hit_uav"

# Three rows of the release's test manifest, verbatim (benchmark/manifests/hit_uav_vqa_eval_manifest.jsonl,
# HITVQA-01807..01809): image 2492 with four cars whose mean centre lies in the lower-right third.
RELEASE_ROWS = [
    '{"answer": "4", "answer_type": "integer", "image_id": 2492, "image_locator": "test/0_60_40_0_06486.jpg", '
    '"label_source": "official_bbox_annotation", "object_class": "car", "question": "How many car objects are '
    'visible?", "question_id": "HITVQA-01807", "question_type": "object_count", "benchmark_id": "HIT-UAV:2492", '
    '"dataset": "HIT-UAV", "ir_image": "test/0_60_40_0_06486.jpg", "canonical_answer": "4", "accepted_answers": '
    '["4", "four"], "prompt": "Use only the visible content of this real sensor-captured thermal aerial image. How '
    'many car objects are visible? Answer with exactly one non-negative integer.", "max_new_tokens": 12}',
    '{"answer": "lower-right", "answer_type": "region", "image_id": 2492, "image_locator": '
    '"test/0_60_40_0_06486.jpg", "label_source": "official_bbox_annotation", "object_class": "car", "question": '
    '"In which image region is the center of the car group located?", "question_id": "HITVQA-01808", '
    '"question_type": "group_location", "benchmark_id": "HIT-UAV:2492", "dataset": "HIT-UAV", "ir_image": '
    '"test/0_60_40_0_06486.jpg", "canonical_answer": "lower-right", "accepted_answers": ["lower-right", "lower '
    'right", "bottom-right", "bottom right"], "prompt": "Use only the visible content of this real sensor-captured '
    'thermal aerial image. In which image region is the center of the car group located? Answer with exactly one '
    'region label from: upper-left, upper, upper-right, left, center, right, lower-left, lower, lower-right.", '
    '"max_new_tokens": 12}',
    '{"answer": "car", "answer_type": "class_name", "image_id": 2492, "image_locator": "test/0_60_40_0_06486.jpg", '
    '"label_source": "official_bbox_annotation", "object_class": null, "question": "Which annotated object class '
    'appears most frequently?", "question_id": "HITVQA-01809", "question_type": "dominant_object_class", '
    '"benchmark_id": "HIT-UAV:2492", "dataset": "HIT-UAV", "ir_image": "test/0_60_40_0_06486.jpg", '
    '"canonical_answer": "car", "accepted_answers": ["car"], "prompt": "Use only the visible content of this real '
    'sensor-captured thermal aerial image. Which annotated object class appears most frequently? Answer with '
    'exactly one class label from: person, car, bicycle, other vehicle, none.", "max_new_tokens": 12}',
]


def _coco(path: Path, images: list[tuple[int, str]], boxes: list[tuple[int, str, list[float]]]) -> Path:
    names = ["Person", "Car", "Bicycle", "OtherVehicle", "DontCare"]
    coco = {
        "images": [{"id": i, "file_name": name, "width": 300, "height": 240} for i, name in images],
        "categories": [{"id": k, "name": n} for k, n in enumerate(names)],
        "annotations": [{"id": k, "image_id": i, "category_id": names.index(label), "bbox": bbox}
                        for k, (i, label, bbox) in enumerate(boxes)],
    }
    path.write_text(json.dumps(coco))
    return path


def _hash_first(ids: list[int], tag: str) -> int:
    return min(ids, key=lambda i: hashlib.sha256(f"20260726:{tag}:{i}".encode()).hexdigest())


def test_rows_match_the_release_byte_for_byte(tmp_path):
    # Four cars, centres (230, 200), (250, 190), (270, 210), (210, 230) on 300x240: mean (240, 207.5) -> lower-right.
    cars = [[220, 190, 20, 20], [240, 180, 20, 20], [260, 200, 20, 20], [200, 220, 20, 20]]
    path = _coco(tmp_path / "test.json", [(2492, "0_60_40_0_06486.jpg")], [(2492, "Car", b) for b in cars])
    rows = build_official_manifest(load_annotations(path))
    # One car-presence "yes" needs a negative; with a single image there is none, so no presence rows at all.
    assert [r["question_type"] for r in rows] == ["object_count", "group_location", "dominant_object_class"]
    for ours, theirs in zip(rows, RELEASE_ROWS):
        expected = json.loads(theirs)
        ours = {**ours, "question_id": expected["question_id"]}  # ids are positional over the whole split
        assert json.dumps(ours, ensure_ascii=False) == theirs


def test_manifest_from_boxes_matches_hand_derived_rows(tmp_path):
    images = [(5, "b.jpg"), (3, "a.jpg"), (9, "c.jpg")]  # listed out of id order on purpose
    boxes = [
        (3, "Person", [10, 10, 20, 20]), (3, "Person", [40, 10, 20, 20]),  # mean centre (35, 20): upper-left
        (3, "Car", [140, 100, 20, 20]),  # centre (150, 110): center
        (5, "Car", [240, 190, 20, 20]), (5, "Car", [260, 210, 20, 20]),  # mean (260, 210): lower-right
        (5, "Bicycle", [140, 10, 20, 20]), (5, "Bicycle", [130, 20, 40, 0]),  # mean (150, 20): upper
        (9, "DontCare", [0, 0, 300, 240]),  # ignored: image 9 has no objects
    ]
    rows = build_official_manifest(load_annotations(_coco(tmp_path / "val.json", images, boxes)),
                                   locator_folder="val")
    got = [(r["question_id"], r["image_id"], r["question_type"], r["object_class"], r["answer"]) for r in rows]
    # Presence, class by class (bicycle, car, other vehicle, person), min(#yes, #no) of each side.
    bicycle_no = _hash_first([3, 9], "presence:bicycle")
    car_yes = _hash_first([3, 5], "presence-positive:car")
    person_no = _hash_first([5, 9], "presence:person")
    expected = [
        (5, "object_presence", "bicycle", "yes"), (bicycle_no, "object_presence", "bicycle", "no"),
        (car_yes, "object_presence", "car", "yes"), (9, "object_presence", "car", "no"),
        (3, "object_presence", "person", "yes"), (person_no, "object_presence", "person", "no"),
        (3, "object_count", "car", "1"), (3, "group_location", "car", "center"),
        (3, "object_count", "person", "2"), (3, "group_location", "person", "upper-left"),
        (3, "dominant_object_class", None, "person"),
        (5, "object_count", "bicycle", "2"), (5, "group_location", "bicycle", "upper"),
        (5, "object_count", "car", "2"), (5, "group_location", "car", "lower-right"),
        # image 5: two bicycles and two cars tie -> no dominant-class question
        (9, "dominant_object_class", None, "none"),
    ]
    assert got == [(f"HITVQA-{k:05d}", *row) for k, row in enumerate(expected, 1)]
    assert {r["image_locator"] for r in rows if r["image_id"] == 3} == {"val/a.jpg"}
    summary = manifest_summary(rows)
    assert summary["question_type_counts"] == {"object_presence": 6, "object_count": 4, "group_location": 4,
                                               "dominant_object_class": 2}
    assert summary["presence_answer_counts"] == {"no": 3, "yes": 3}


def test_regions_are_thirds_and_survive_a_2x_downscale():
    assert region_of(10, 10, 300, 240) == "upper-left"
    assert region_of(150, 120, 300, 240) == "center"
    assert region_of(100, 120, 300, 240) == "center"  # on the line: not < w/3
    assert region_of(99.9, 120, 300, 240) == "left"
    assert region_of(150, 200, 300, 240) == "lower"
    assert region_of(290, 100, 300, 240) == "right"
    for x, y in [(37, 201), (600, 60), (333, 444), (10, 500)]:
        assert region_of(x, y, 640, 512) == region_of(x / 2, y / 2, 320, 256)


def test_jsonl_annotations_use_line_numbers_or_given_ids(tmp_path):
    person = {"label": "Person", "bbox": [1, 1, 2, 2]}
    records = [{"file": "images/x.jpg", "width": 320, "height": 256, "objects": [person]},
               {"file": "images/y.jpg", "width": 320, "height": 256, "objects": []}]
    path = tmp_path / "val.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    images = load_annotations(path)
    assert [(i["image_id"], i["file_name"]) for i in images] == [(0, "x.jpg"), (1, "y.jpg")]
    path.write_text("\n".join(json.dumps({**r, "image_id": 7 - k}) for k, r in enumerate(records)) + "\n")
    assert [i["image_id"] for i in load_annotations(path)] == [6, 7]
    path.write_text(json.dumps({"file": "a.jpg", "width": 3, "height": 2, "objects": [{"label": "Car", "bbox": [1]}]}))
    with pytest.raises(HitUavError, match=r"val.jsonl:1: objects\[0\]: field 'bbox'"):
        load_annotations(path)


@pytest.mark.parametrize("reply, question_type, parsed", [
    ("Yes.", "object_presence", "yes"),
    ("I see no car, yes", "object_presence", "no"),  # first yes/no word wins
    ("Yeah", "object_presence", None),
    ("2 cars and 3 people", "object_count", "2"),
    ("There are 07", "object_count", "7"),
    ("two or one", "object_count", "1"),  # number words tried in the order zero..twenty
    ("twenty-one", "object_count", "1"),  # "twenty one": "one" comes before "twenty"
    ("none", "object_count", None),
    ("Top left corner", "group_location", "upper-left"),
    ("left of center", "group_location", "center"),  # center is tried before left
    ("upper middle", "group_location", "upper"),
    ("middle", "group_location", None),  # accepted for center, yet unparsed
    ("stop", "group_location", "upper"),  # "top" is replaced inside words: "supper"
    ("the centre", "group_location", "center"),
    ("Mostly cars", "dominant_object_class", "car"),
    ("a bicycle and a car", "dominant_object_class", "bicycle"),
    ("persons", "dominant_object_class", "person"),
    ("people", "dominant_object_class", None),
    ("other vehicles and cars", "dominant_object_class", "other vehicle"),
    ("None of them", "dominant_object_class", "none"),
])
def test_parser_quirks(reply, question_type, parsed):
    assert parse_prediction(reply, question_type) == parsed


def test_strict_reading_and_normalisation():
    assert normalize("Upper-Left!") == "upper left"
    assert strict_match("Upper left.", ["upper-left", "upper left"])
    assert strict_match("middle", ["center", "middle", "centre"])
    assert not strict_match("It is in the middle", ["center", "middle", "centre"])


def _val_like(tmp_path) -> list[dict]:
    images = [(k, f"{k}.jpg") for k in range(12)]
    boxes = [(k, "Car", [20 * (k % 5), 10 * (k % 7), 20, 20]) for k in range(0, 12, 2)]
    boxes += [(k, "Person", [140, 110, 10, 10]) for k in range(0, 12, 3)] * 2  # centre (145, 115): center
    return build_official_manifest(load_annotations(_coco(tmp_path / "val.json", images, boxes)))


def test_scores_official_and_strict_with_image_bootstrap(tmp_path):
    rows = _val_like(tmp_path)
    perfect = {r["question_id"]: r["canonical_answer"] for r in rows}
    report = score_official_vqa(rows, perfect)
    assert report["official"]["overall"]["accuracy"] == 100.0
    assert report["official"]["overall"]["accuracy_ci95"] == [100.0, 100.0]
    assert report["strict"]["overall"]["accuracy"] == 100.0
    assert report["official"]["overall"]["images"] == len({r["image_id"] for r in rows})
    # "middle" passes the strict reading but not the official parser; missing replies are wrong in both.
    centre = [r for r in rows if r["canonical_answer"] == "center"]
    assert centre, "the fixture needs a centre answer"
    replies = {**perfect, centre[0]["question_id"]: "middle"}
    dropped = rows[0]["question_id"]
    del replies[dropped]
    report = score_official_vqa(rows, replies)
    n = len(rows)
    assert report["missing_predictions"] == 1
    assert report["official"]["overall"]["accuracy"] == pytest.approx(round(100 * (n - 2) / n, 4))
    assert report["strict"]["overall"]["accuracy"] == pytest.approx(round(100 * (n - 1) / n, 4))
    low, high = report["official"]["overall"]["accuracy_ci95"]
    assert low <= report["official"]["overall"]["accuracy"] <= high
    again = score_official_vqa(rows, replies)
    assert again["official"]["overall"] == report["official"]["overall"]  # seeded
    with pytest.raises(ValueError, match="not in the manifest"):
        score_official_vqa(rows, {"HITVQA-99999": "yes"})


def test_prior_answers_majority_per_type_and_class(tmp_path):
    rows = _val_like(tmp_path)
    answers = prior_predictions(rows, rows)
    presence = [r for r in rows if r["question_type"] == "object_presence"]
    assert {answers[r["question_id"]] for r in presence} == {"no"}  # balanced yes/no: the tie goes to "no"
    counts = [r for r in rows if r["question_type"] == "object_count" and r["object_class"] == "person"]
    assert {answers[r["question_id"]] for r in counts} == {"2"}


def test_cli_manifest_prior_score(tmp_path, capsys):
    rows = _val_like(tmp_path)
    annotations = tmp_path / "val.json"
    out = tmp_path / "m" / "val.jsonl"
    assert cli(["vqa", "manifest", "--annotations", str(annotations), "--out", str(out)]) == 0
    written = read_official_manifest(out)
    assert [r["question_id"] for r in written] == [r["question_id"] for r in rows]
    assert written[0]["image_locator"].startswith("val/")
    assert json.loads((tmp_path / "m" / "val.jsonl.summary.json").read_text())["questions"] == len(rows)
    preds = tmp_path / "prior.jsonl"
    assert cli(["vqa", "prior", "--train-manifest", str(out), "--manifest", str(out), "--out", str(preds)]) == 0
    report = tmp_path / "score.json"
    assert cli(["vqa", "score", "--manifest", str(out), "--predictions", str(preds), "--out", str(report)]) == 0
    scored = json.loads(report.read_text())
    assert scored["official"]["by_type"]["object_presence"]["accuracy"] == 50.0
    assert "official:" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prediction": "yes"}\n')
    assert cli(["vqa", "score", "--manifest", str(out), "--predictions", str(bad), "--out", str(report)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("bad.jsonl:1: missing field 'question_id'") and "\n" not in err
    write_official_manifest([{**written[0], "question_type": "colour"}], tmp_path / "odd.jsonl")
    with pytest.raises(HitUavError, match=r"odd.jsonl:1: field 'question_type' 'colour'"):
        read_official_manifest(tmp_path / "odd.jsonl")


def test_resolve_image_tries_the_locator_then_images_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"x")
    assert resolve_image(tmp_path, {"question_id": "q", "ir_image": "test/a.jpg"}) == tmp_path / "images" / "a.jpg"
    with pytest.raises(HitUavError, match="q: image 'test/b.jpg' not found"):
        resolve_image(tmp_path, {"question_id": "q", "ir_image": "test/b.jpg"})


@pytest.mark.skipif(not SHARED_HIT_UAV.is_dir(), reason="../shared/data/hit_uav (HIT-UAV copy) is absent")
def test_shared_val_counts_and_prior():
    train = build_official_manifest(load_annotations(SHARED_HIT_UAV / "train.jsonl"))
    val = build_official_manifest(load_annotations(SHARED_HIT_UAV / "val.jsonl"))
    summary = manifest_summary(val)
    assert summary["question_type_counts"] == {"object_presence": 634, "object_count": 369, "group_location": 369,
                                               "dominant_object_class": 287}
    assert summary["presence_by_class"] == {"bicycle": 106, "car": 272, "other vehicle": 18, "person": 238}
    report = score_official_vqa(val, prior_predictions(train, val))
    assert report["official"]["by_type"]["object_presence"]["accuracy"] == 50.0
    assert 35 < report["official"]["overall"]["accuracy"] < 45
    assert all(resolve_image(SHARED_HIT_UAV, row).is_file() for row in val[::97])


def test_manifest_reads_gzip_and_names_bad_lines(tmp_path):
    import gzip

    rows = _val_like(tmp_path)
    with gzip.open(tmp_path / "m.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows[:3]) + "\n")  # a blank line is skipped
    assert [r["question_id"] for r in read_official_manifest(tmp_path / "m.jsonl.gz")] == [
        r["question_id"] for r in rows[:3]]
    (tmp_path / "bad.jsonl").write_text(json.dumps(rows[0]) + "\n[1, 2]\n")
    with pytest.raises(HitUavError, match=r"bad.jsonl:2: expected a JSON object, got list"):
        read_official_manifest(tmp_path / "bad.jsonl")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(HitUavError, match=r"bad.jsonl:1: not valid JSON"):
        read_official_manifest(tmp_path / "bad.jsonl")


def test_eval_vlm_answers_an_official_manifest_and_its_replies_rescore_identically(tmp_path):
    """`fusionrs eval vlm --vqa-manifest`: the authors' turn (image, then the row's prompt), their parser."""
    import numpy as np
    from PIL import Image

    from fusionrs.vlm.compose import compose_tiny_llava

    _val_like(tmp_path)  # writes tmp_path/val.json (COCO, 12 images)
    (tmp_path / "images").mkdir()
    for k in range(12):
        Image.fromarray(np.full((24, 30), 20 * k, np.uint8)).save(tmp_path / "images" / f"{k}.jpg")
    manifest = tmp_path / "val.jsonl"
    assert cli(["vqa", "manifest", "--annotations", str(tmp_path / "val.json"), "--out", str(manifest)]) == 0
    model, processor = compose_tiny_llava()
    model.save_pretrained(tmp_path / "vlm")
    processor.save_pretrained(tmp_path / "vlm")
    out = tmp_path / "eval.json"
    assert cli(["eval", "vlm", "--model", str(tmp_path / "vlm"), "--hit-uav", str(tmp_path), "--vqa-manifest",
                str(manifest), "--vqa-n", "10", "--json", str(out), "--batch-size", "4"]) == 0
    official = json.loads(out.read_text())["results"]["official_vqa"]
    assert official["n"] == 10 and official["official"]["overall"]["rows"] == 10
    replies = [json.loads(line) for line in (tmp_path / "eval_predictions.jsonl").read_text().splitlines()]
    assert len(replies) == 10 and all(isinstance(r["prediction"], str) for r in replies)
    rescored = tmp_path / "rescored.json"
    assert cli(["vqa", "score", "--manifest", str(manifest), "--predictions",
                str(tmp_path / "eval_predictions.jsonl"), "--out", str(rescored)]) == 0
    again = json.loads(rescored.read_text())
    assert again["missing_predictions"] == len(read_official_manifest(manifest)) - 10
    scored = {row[0]: row[2] for row in again["rows"]}
    assert sum(scored[r["question_id"]] for r in replies) == pytest.approx(
        official["official"]["overall"]["accuracy"] / 100 * 10)
