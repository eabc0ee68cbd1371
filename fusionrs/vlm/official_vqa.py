"""HIT-UAV real-thermal VQA manifests by the FusionRS authors' rules, for any split.

The authors' benchmark (`benchmark/manifests/hit_uav_vqa_eval_manifest.jsonl` of the FusionRS release:
3,223 questions on the 579 test images) is made from HIT-UAV's box annotations by two scripts
(`build_hit_uav_vqa.py`, then `prepare_hit_uav_real_vqa_manifest.py`). This module writes the same
rows, field for field and in the same key order, from either annotation format:

- HIT-UAV's own COCO json (`annotations/{split}.json`: images with `id`, `file_name`, `width`,
  `height`; annotations with `image_id`, `category_id`, `bbox`): the official image ids are used, so
  the test split gives the authors' manifest;
- the jsonl copy used here (`{split}.jsonl`: `file`, `width`, `height`, `objects[label, bbox]`), which
  has no image ids: a record's `image_id` field is used when present, else its 0-based line number.
  Ids only decide the order of images and the seeded choice of presence questions, never an answer.

The rules, as the release states them (`OFFICIAL_RULES` below is the one place they live):

- classes: HIT-UAV's categories except DontCare, lower case, "OtherVehicle" as "other vehicle",
  sorted (bicycle, car, other vehicle, person);
- presence ("Is a {class} visible in this thermal image?"): per class, as many "no" as "yes"
  questions (min of positives and negatives), each side picked by sorting image ids on
  sha256(f"{seed}:presence-positive:{class}:{id}") / sha256(f"{seed}:presence:{class}:{id}") with
  seed 20260726; all of one class's "yes" rows, then its "no" rows, class by class;
- then image by image (ascending id), for each class present: count ("How many {class} objects are
  visible?", digits, no cap) and group location ("In which image region is the center of the {class}
  group located?"): the thirds-of-the-image region of the mean box centre (x < w/3 left, x > 2w/3
  right, else centre; the same for y with upper/middle/lower; "upper-left" etc., a middle row drops
  its vertical word, a centre column its horizontal one). Ratios, so a 2x downscaled copy (the one
  here: 320x256) gives the same regions as the full-size frames up to boxes on a third line;
- then that image's dominant class ("Which annotated object class appears most frequently?"): the one
  class with the most boxes; ties are dropped (no question); an image with no boxes answers "none";
- question ids run `HITVQA-00001`... sequentially over the whole split; the locator is
  `test/{file_name}` in the authors' script whatever the split (`locator_folder` keeps that default,
  so the test manifest is byte-identical; `fusionrs vqa manifest` writes the split's name instead);
- evaluator fields: `benchmark_id` "HIT-UAV:{image_id}", `dataset`, `ir_image` (= locator),
  `canonical_answer`, `accepted_answers` (number words up to twenty for counts; "upper left",
  "top-left", "top left"... for regions, "middle"/"centre" for center, "top"/"bottom" for
  upper/lower), the prompt (a fixed preamble, the question, one answer-format sentence per type) and
  `max_new_tokens` 12.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fusionrs.core.jsonl import iter_jsonl
from fusionrs.errors import HitUavError

__all__ = [
    "OFFICIAL_RULES",
    "QUESTION_TYPES",
    "build_official_manifest",
    "load_annotations",
    "manifest_summary",
    "read_official_manifest",
    "read_predictions",
    "region_of",
    "resolve_image",
    "write_official_manifest",
    "write_predictions",
]

QUESTION_TYPES = ("object_presence", "object_count", "group_location", "dominant_object_class")
OFFICIAL_RULES: dict[str, Any] = {
    "seed": 20260726,
    "preamble": "Use only the visible content of this real sensor-captured thermal aerial image.",
    "questions": {
        "object_presence": "Is a {cls} visible in this thermal image?",
        "object_count": "How many {cls} objects are visible?",
        "group_location": "In which image region is the center of the {cls} group located?",
        "dominant_object_class": "Which annotated object class appears most frequently?",
    },
    "answer_types": {"object_presence": "yes_no", "object_count": "integer", "group_location": "region",
                     "dominant_object_class": "class_name"},
    "formats": {
        "object_presence": "Answer with exactly yes or no.",
        "object_count": "Answer with exactly one non-negative integer.",
        "group_location": "Answer with exactly one region label from: upper-left, upper, upper-right, left, center, "
                          "right, lower-left, lower, lower-right.",
        "dominant_object_class": "Answer with exactly one class label from: person, car, bicycle, other vehicle, "
                                 "none.",
    },
    "region_synonyms": {
        "upper-left": ["upper left", "top-left", "top left"], "upper-right": ["upper right", "top-right", "top right"],
        "lower-left": ["lower left", "bottom-left", "bottom left"],
        "lower-right": ["lower right", "bottom-right", "bottom right"],
        "upper": ["top"], "lower": ["bottom"], "center": ["middle", "centre"],
    },
    "number_words": ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                     "sixteen seventeen eighteen nineteen twenty").split(),
    "max_new_tokens": 12,
    "label_source": "official_bbox_annotation",
    "dataset": "HIT-UAV",
}
_IGNORED = "dontcare"


def _class_name(label: str) -> str:
    return str(label).replace("OtherVehicle", "other vehicle").lower()


def _image(image_id: int, file_name: str, width: Any, height: Any, where: str) -> dict[str, Any]:
    try:
        width, height = int(width), int(height)
    except (TypeError, ValueError):
        raise HitUavError(f"{where}: fields 'width' and 'height' must be integers") from None
    if width <= 0 or height <= 0:
        raise HitUavError(f"{where}: fields 'width' and 'height' must be positive, got {width}x{height}")
    return {"image_id": image_id, "file_name": Path(file_name).name, "file": file_name, "width": width,
            "height": height, "boxes": {}}


def _add_box(image: dict[str, Any], label: str, bbox: Any, where: str) -> None:
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        raise HitUavError(f"{where}: field 'bbox' must be 4 numbers [x, y, w, h], got {bbox!r}")
    image["boxes"].setdefault(_class_name(label), []).append([float(v) for v in bbox])


def _load_coco(path: Path) -> list[dict[str, Any]]:
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise HitUavError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    for field in ("images", "categories"):
        if not isinstance(coco.get(field), list):
            raise HitUavError(f"{path}: field '{field}' is missing or not a list (expected COCO annotations)")
    categories = {}
    for i, row in enumerate(coco["categories"]):
        if "id" not in row or "name" not in row:
            raise HitUavError(f"{path}: categories[{i}] needs 'id' and 'name'")
        if str(row["name"]).lower() != _IGNORED:
            categories[int(row["id"])] = str(row["name"])
    images: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(coco["images"]):
        name = row.get("file_name") or row.get("filename")
        if "id" not in row or not isinstance(name, str):
            raise HitUavError(f"{path}: images[{i}] needs 'id' and 'file_name'")
        images[int(row["id"])] = _image(int(row["id"]), name, row.get("width"), row.get("height"),
                                        f"{path}: images[{i}]")
    for i, row in enumerate(coco.get("annotations") or coco.get("annotation") or []):
        where = f"{path}: annotations[{i}]"
        label = categories.get(int(row.get("category_id", -1)))
        if label is None:
            continue  # DontCare (or a category the file does not list): ignored, as in the release
        image = images.get(int(row.get("image_id", -1)))
        if image is None:
            raise HitUavError(f"{where}: field 'image_id' {row.get('image_id')!r} names no image")
        _add_box(image, label, row.get("bbox"), where)
    return [images[k] for k in sorted(images)]


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    images = []
    for where, record in iter_jsonl(path, error=HitUavError):
        if not isinstance(record.get("file"), str):
            raise HitUavError(f"{where}: field 'file' is missing or not a string")
        image_id = record.get("image_id", len(images))
        if not isinstance(image_id, int):
            raise HitUavError(f"{where}: field 'image_id' must be an integer, got {image_id!r}")
        image = _image(image_id, record["file"], record.get("width"), record.get("height"), where)
        objects = record.get("objects")
        if not isinstance(objects, list):
            raise HitUavError(f"{where}: field 'objects' must be a list of {{label, bbox}}")
        for j, obj in enumerate(objects):
            if not isinstance(obj, dict) or not isinstance(obj.get("label"), str):
                raise HitUavError(f"{where}: objects[{j}] needs a string 'label'")
            if obj["label"].lower() != _IGNORED:
                _add_box(image, obj["label"], obj.get("bbox"), f"{where}: objects[{j}]")
        images.append(image)
    ids = Counter(image["image_id"] for image in images)
    repeated = sorted(i for i, n in ids.items() if n > 1)
    if repeated:
        raise HitUavError(f"{path}: image ids repeat ({repeated[:5]})")
    return sorted(images, key=lambda image: image["image_id"])


def load_annotations(path: str | Path) -> list[dict[str, Any]]:
    """HIT-UAV images with their boxes per class, ascending image id.

    Args:
        path: a COCO json (`annotations/{split}.json` of HIT-UAV) or a jsonl of {file, width, height,
            objects[label, bbox]} records (the downscaled copy this project develops on).

    Returns:
        One dict per image: image_id, file_name (base name), file (as written in the annotations),
        width, height, boxes ({class name: [[x, y, w, h], ...]}, DontCare left out).

    Raises:
        HitUavError: the file is missing, not JSON, or a record lacks a field the rules need (named
            with its line or index).
    """
    path = Path(path)
    if not path.is_file():
        raise HitUavError(f"{path}: no such file (expected HIT-UAV annotations: COCO .json or .jsonl)")
    return _load_coco(path) if path.suffix.lower() == ".json" else _load_jsonl(path)


def region_of(x: float, y: float, width: float, height: float) -> str:
    """The thirds-of-the-image region of a point, in the release's words.

    Args:
        x: horizontal position in pixels.
        y: vertical position in pixels.
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        One of upper-left, upper, upper-right, left, center, right, lower-left, lower, lower-right.
    """
    column = "left" if x < width / 3 else "right" if x > 2 * width / 3 else "center"
    row = "upper" if y < height / 3 else "lower" if y > 2 * height / 3 else "middle"
    if row == "middle":
        return column
    return row if column == "center" else f"{row}-{column}"


def _accepted(answer: str, answer_type: str) -> list[str]:
    accepted = [answer]
    words = OFFICIAL_RULES["number_words"]
    if answer_type == "integer" and int(answer) < len(words):
        accepted.append(words[int(answer)])
    if answer_type == "region":
        accepted += OFFICIAL_RULES["region_synonyms"].get(answer, [])
    return list(dict.fromkeys(accepted))


def _row(image: dict[str, Any], number: int, question_type: str, answer: str, cls: str | None,
         locator_folder: str) -> dict[str, Any]:
    """One manifest row; keys in the release's order (the builder's sorted keys, then the evaluator's)."""
    question = OFFICIAL_RULES["questions"][question_type].format(cls=cls)
    locator = f"{locator_folder}/{image['file_name']}"
    answer_type = OFFICIAL_RULES["answer_types"][question_type]
    return {
        "answer": answer, "answer_type": answer_type, "image_id": image["image_id"], "image_locator": locator,
        "label_source": OFFICIAL_RULES["label_source"], "object_class": cls, "question": question,
        "question_id": f"HITVQA-{number:05d}", "question_type": question_type,
        "benchmark_id": f"HIT-UAV:{image['image_id']}", "dataset": OFFICIAL_RULES["dataset"], "ir_image": locator,
        "canonical_answer": answer.lower(), "accepted_answers": _accepted(answer.lower(), answer_type),
        "prompt": f"{OFFICIAL_RULES['preamble']} {question} {OFFICIAL_RULES['formats'][question_type]}",
        "max_new_tokens": OFFICIAL_RULES["max_new_tokens"],
    }


def _hash_order(ids: Iterable[int], seed: int, tag: str) -> list[int]:
    return sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{tag}:{i}".encode()).hexdigest())


def build_official_manifest(images: Sequence[dict[str, Any]], *, seed: int = OFFICIAL_RULES["seed"],
                            locator_folder: str = "test") -> list[dict[str, Any]]:
    """All questions of one split by the release's rules (see the module docstring).

    Args:
        images: the output of `load_annotations` (any order: images are taken by ascending id).
        seed: the seed of the presence-question choice; the release uses 20260726.
        locator_folder: the folder part of `image_locator` / `ir_image`; the release writes "test"
            for its test split.

    Returns:
        The manifest rows in the release's order and schema.

    Raises:
        HitUavError: when two images share an id.
    """
    by_id = {image["image_id"]: image for image in images}
    if len(by_id) != len(images):
        raise HitUavError("two HIT-UAV images share an image_id; ids must be unique within a split")
    ordered = [by_id[i] for i in sorted(by_id)]
    classes = sorted({cls for image in ordered for cls in image["boxes"]} | {"bicycle", "car", "other vehicle",
                                                                             "person"})
    rows: list[dict[str, Any]] = []

    def add(image: dict[str, Any], question_type: str, answer: str, cls: str | None) -> None:
        rows.append(_row(image, len(rows) + 1, question_type, answer, cls, locator_folder))

    for cls in classes:
        positives = [i for i in by_id if _has(by_id[i], cls)]
        negatives = [i for i in by_id if not _has(by_id[i], cls)]
        keep = min(len(positives), len(negatives))
        for image_id in _hash_order(positives, seed, f"presence-positive:{cls}")[:keep]:
            add(by_id[image_id], "object_presence", "yes", cls)
        for image_id in _hash_order(negatives, seed, f"presence:{cls}")[:keep]:
            add(by_id[image_id], "object_presence", "no", cls)
    for image in ordered:
        counts = {cls: len(image["boxes"][cls]) for cls in classes if _has(image, cls)}
        for cls, n in counts.items():
            add(image, "object_count", str(n), cls)
            boxes = image["boxes"][cls]
            mean_x = sum(b[0] + b[2] / 2 for b in boxes) / n
            mean_y = sum(b[1] + b[3] / 2 for b in boxes) / n
            add(image, "group_location", region_of(mean_x, mean_y, image["width"], image["height"]), cls)
        if not counts:
            add(image, "dominant_object_class", "none", None)
            continue
        most = max(counts.values())
        winners = [cls for cls, n in counts.items() if n == most]
        if len(winners) == 1:
            add(image, "dominant_object_class", winners[0], None)
    return rows


def _has(image: dict[str, Any], cls: str) -> bool:
    """Whether an image (from `load_annotations`) has at least one box of a class."""
    return bool(image["boxes"].get(cls))


def manifest_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts of a manifest: questions, images, per type, presence yes/no and per class.

    Args:
        rows: manifest rows (from `build_official_manifest` or `read_official_manifest`).

    Returns:
        {"questions", "images", "question_type_counts", "presence_answer_counts",
        "presence_by_class", "answer_counts" ({type: {answer: n}})}.
    """
    by_type = Counter(row["question_type"] for row in rows)
    presence = [row for row in rows if row["question_type"] == "object_presence"]
    answers: dict[str, Counter] = {}
    for row in rows:
        answers.setdefault(row["question_type"], Counter())[row["canonical_answer"]] += 1
    return {
        "questions": len(rows),
        "images": len({row["image_id"] for row in rows}),
        "question_type_counts": {t: by_type[t] for t in QUESTION_TYPES if by_type[t]},
        "presence_answer_counts": dict(sorted(Counter(row["canonical_answer"] for row in presence).items())),
        "presence_by_class": dict(sorted(Counter(row["object_class"] for row in presence).items())),
        "answer_counts": {t: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for t, c in answers.items()},
    }


def write_official_manifest(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as the release's jsonl (one JSON object per line, keys in row order, UTF-8).

    Args:
        rows: the manifest rows.
        path: the output file; its folder is created.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


REQUIRED_FIELDS = ("question_id", "question_type", "canonical_answer", "benchmark_id", "ir_image", "prompt")


def read_official_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Read a manifest in the release's schema (ours or the authors' file), `.jsonl` or `.jsonl.gz`.

    Args:
        path: the manifest file.

    Returns:
        The rows in file order.

    Raises:
        HitUavError: the file is missing, a line is not JSON, a row lacks one of `REQUIRED_FIELDS`
            or has an unknown question type, or question ids repeat (each named with its line).
    """
    path = Path(path)
    if not path.is_file():
        raise HitUavError(f"{path}: no such manifest file")
    rows, seen = [], set()
    for where, row in iter_jsonl(path, error=HitUavError):
        missing = [field for field in REQUIRED_FIELDS if field not in row]
        if missing:
            raise HitUavError(f"{where}: missing field(s) {', '.join(missing)}")
        if row["question_type"] not in QUESTION_TYPES:
            raise HitUavError(f"{where}: field 'question_type' {row['question_type']!r} is not one of "
                              f"{', '.join(QUESTION_TYPES)}")
        if row["question_id"] in seen:
            raise HitUavError(f"{where}: question_id {row['question_id']!r} repeats")
        seen.add(row["question_id"])
        rows.append(row)
    return rows


def resolve_image(image_root: str | Path, row: dict[str, Any]) -> Path:
    """The image file of a manifest row under a HIT-UAV folder.

    Tries `root/ir_image`, then `root/images/NAME` and `root/NAME` (the locator's folder is "test"
    in the release whatever the split, and the copy here keeps every split in `images/`).

    Args:
        image_root: the HIT-UAV folder.
        row: a manifest row.

    Returns:
        The first existing candidate path.

    Raises:
        HitUavError: none of the candidates exists (the row's question id and locator named).
    """
    root = Path(image_root)
    name = Path(row["ir_image"]).name
    for candidate in (root / row["ir_image"], root / "images" / name, root / name):
        if candidate.is_file():
            return candidate
    raise HitUavError(f"{row['question_id']}: image {row['ir_image']!r} not found under {root} "
                      f"(tried {row['ir_image']}, images/{name}, {name})")


def write_predictions(path: str | Path, predictions: dict[str, str]) -> Path:
    """Write replies as the jsonl `fusionrs vqa score` reads: one `{question_id, prediction}` per line.

    Args:
        path: the output file; its folder is created.
        predictions: {question_id: reply}, in the order to write.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"question_id": q, "prediction": p}) + "\n" for q, p in predictions.items()),
                    encoding="utf-8")
    return path


def read_predictions(path: str | Path) -> dict[str, str]:
    """{question_id: prediction} from a .jsonl of rows with those two fields (other fields ignored).

    Args:
        path: the predictions file.

    Returns:
        The replies keyed by question id (a null prediction reads as "").

    Raises:
        HitUavError: the file is missing, a line is not JSON, lacks `question_id`, or an id repeats.
    """
    path = Path(path)
    if not path.is_file():
        raise HitUavError(f"{path}: no such predictions file")
    predictions: dict[str, str] = {}
    for where, row in iter_jsonl(path, error=HitUavError):
        if "question_id" not in row:
            raise HitUavError(f"{where}: missing field 'question_id'")
        if row["question_id"] in predictions:
            raise HitUavError(f"{where}: question_id {row['question_id']!r} repeats")
        prediction = row.get("prediction")
        predictions[row["question_id"]] = "" if prediction is None else str(prediction)
    return predictions
