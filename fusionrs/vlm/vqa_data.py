"""Real-thermal VQA on HIT-UAV: questions built from the boxes and flight metadata, a fixed manifest.

Like the FusionRS paper's HIT-UAV benchmark (3,223 questions on 579 test images), every question is
answerable from the annotations alone. HIT-UAV's test split is not public here, so `val` is the
evaluation split and `train` the fine-tuning split. Random choices are seeded by the image name
(counting) or by a hash of image name and category (presence), never by the order of the jsonl, so
the manifest is the same on every machine. Questions:

- presence (yes/no) "Is there {a person|a car|a bicycle|a vehicle other than ...} in this thermal
  image?": balanced per category over the split (as many "no" as "yes" for each category; the larger
  side subsampled by a seeded hash of image and category), so neither the question text nor the
  category predicts the answer;
- counting "How many {people|cars|bicycles} are in this thermal image?" about one category present in
  the image (people if nothing is), answered as digits "0".."10", or "more than 10" above COUNT_CAP:
  dense scenes of 20-36 objects are not countable at 320x256, and digits keep exact match simple;
- category "Which object category is most common in this thermal image?": the most frequent class
  (person, car, bicycle, other vehicle); skipped when two classes tie or the image has no object;
- day_night "Was this thermal image taken during the day or at night?": HIT-UAV's file-name flag
  (0 = day, 1 = night; day images show sun-heated surfaces and cast shadows, higher contrast).

DontCare boxes are ignored everywhere. Manifest rows: {id, file, question, answer, type, category,
split, image_id}; `file` is relative to the HIT-UAV folder (as in its jsonl). See docs/metrics.md
for the counts per type and the answer distributions.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fusionrs.core.jsonl import iter_jsonl
from fusionrs.errors import HitUavError  # noqa: F401  (defined in errors.py, re-exported here)

__all__ = [
    "CATEGORIES",
    "COUNT_CAP",
    "QUESTION_TYPES",
    "HitUavError",
    "answer_distribution",
    "build_vqa_manifest",
    "load_hit_uav",
    "majority_baseline",
    "manifest_sha256",
    "read_vqa_manifest",
    "write_vqa_manifest",
]

# HIT-UAV label -> (answer word, plural for counting questions, noun phrase for presence questions)
CATEGORIES: dict[str, tuple[str, str, str]] = {
    "Person": ("person", "people", "a person"),
    "Car": ("car", "cars", "a car"),
    "Bicycle": ("bicycle", "bicycles", "a bicycle"),
    "OtherVehicle": ("other vehicle", "other vehicles", "a vehicle other than a car or a bicycle"),
}
COUNTED = ("Person", "Car", "Bicycle")  # OtherVehicle is too rare (1 in 25 images) to count
COUNT_CAP = 10
QUESTION_TYPES = ("presence", "counting", "category", "day_night")
DAY_NIGHT = {0: "day", 1: "night"}
_IGNORED_LABELS = frozenset(["DontCare"])

QUESTIONS = {
    "presence": "Is there {phrase} in this thermal image?",
    "counting": "How many {plural} are in this thermal image?",
    "category": "Which object category is most common in this thermal image?",
    "day_night": "Was this thermal image taken during the day or at night?",
}


def load_hit_uav(hit_uav_dir: str | Path, split: str) -> list[dict[str, Any]]:
    """Records of `{hit_uav_dir}/{split}.jsonl` (file, flight.day_night_flag, objects[label, bbox]).

    Args:
        hit_uav_dir: the HIT-UAV folder holding one `{split}.jsonl` per split.
        split: the split name, e.g. "train" or "val".

    Returns:
        The parsed records in file order (blank lines skipped), each a dict with a string "file",
        "flight.day_night_flag" 0 or 1, and "objects" as a list of {label, bbox} dicts.

    Raises:
        HitUavError: when the jsonl file is missing, a line is not valid JSON, or a record's
            "file", "flight.day_night_flag" or "objects" field is missing or malformed (including
            labels outside `CATEGORIES` and DontCare).
    """
    path = Path(hit_uav_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise HitUavError(f"{path}: no such file (expected HIT-UAV's {split}.jsonl)")
    records = []
    for where, rec in iter_jsonl(path, error=HitUavError):
        if not isinstance(rec.get("file"), str):
            raise HitUavError(f"{where}: field 'file' is missing or not a string")
        flag = (rec.get("flight") or {}).get("day_night_flag")
        if flag not in DAY_NIGHT:
            raise HitUavError(f"{where}: field 'flight.day_night_flag' must be 0 or 1, got {flag!r}")
        objects = rec.get("objects")
        if not isinstance(objects, list) or any(not isinstance(o, dict) or "label" not in o for o in objects):
            raise HitUavError(f"{where}: field 'objects' must be a list of {{label, bbox}}")
        unknown = {o["label"] for o in objects} - set(CATEGORIES) - _IGNORED_LABELS
        if unknown:
            raise HitUavError(f"{where}: field 'objects' has unknown labels {sorted(unknown)}")
        records.append(rec)
    return records


def _count_answer(n: int) -> str:
    return str(n) if n <= COUNT_CAP else f"more than {COUNT_CAP}"


def _presence_key(seed: int, image_id: str, label: str) -> str:
    return hashlib.sha256(f"fusionrs-hituav-vqa:{seed}:{image_id}:{label}".encode()).hexdigest()


def _image_questions(record: dict[str, Any], split: str, seed: int) -> list[dict[str, Any]]:
    """All candidate questions of one image: a presence question per category (the manifest keeps a
    balanced subset of them), one counting, the category question unless tied, day/night."""
    file = record["file"]
    image_id = Path(file).stem
    counts = Counter(o["label"] for o in record["objects"] if o["label"] not in _IGNORED_LABELS)
    # A string seed is hashed with SHA-512 by random.Random: stable across runs and Python versions.
    rng = random.Random(f"fusionrs-hituav-vqa:{seed}:{image_id}")
    rows: list[dict[str, Any]] = []

    def add(qtype: str, answer: str, label: str | None = None) -> None:
        word, plural, phrase = CATEGORIES[label] if label else (None, None, None)
        rows.append({
            "id": f"{split}/{image_id}/{qtype}" + (f"/{word.replace(' ', '_')}" if word else ""),
            "file": file, "question": QUESTIONS[qtype].format(phrase=phrase, plural=plural),
            "answer": answer, "type": qtype, "category": word, "split": split, "image_id": image_id,
        })

    for label in CATEGORIES:
        add("presence", "yes" if counts[label] else "no", label)
    counted = [label for label in COUNTED if counts[label] > 0]
    label = rng.choice(counted) if counted else "Person"
    add("counting", _count_answer(counts[label]), label)
    ranked = counts.most_common()
    if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
        add("category", CATEGORIES[ranked[0][0]][0])
    add("day_night", DAY_NIGHT[record["flight"]["day_night_flag"]])
    return rows


def _balanced_presence(rows: list[dict[str, Any]], seed: int) -> set[str]:
    """Ids of the presence questions kept: per category as many "no" as "yes" questions (the smaller
    side whole, the larger one subsampled by a seeded hash), so the question text carries no prior."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["type"] == "presence":
            groups[(row["category"], row["answer"])].append(row)
    keep: set[str] = set()
    for word in sorted({c for c, _ in groups}):
        yes, no = groups.get((word, "yes"), []), groups.get((word, "no"), [])
        k = min(len(yes), len(no))
        for side in (yes, no):
            side = sorted(side, key=lambda r: _presence_key(seed, r["image_id"], r["category"]))
            keep.update(r["id"] for r in side[:k])
    return keep


def build_vqa_manifest(hit_uav_dir: str | Path, split: str, *, seed: int = 0) -> list[dict[str, Any]]:
    """All questions of a HIT-UAV split, images in file-name order: the same list on every machine.

    Args:
        hit_uav_dir: the HIT-UAV folder holding `{split}.jsonl`.
        split: the split name, e.g. "train" or "val".
        seed: seeds the counting category choice and the balanced presence subsample.

    Returns:
        The manifest rows, each {id, file, question, answer, type, category, split, image_id}:
        per image a counting, category (unless tied or empty) and day/night question, plus the
        presence questions kept by per-category yes/no balancing.

    Raises:
        HitUavError: when the split cannot be read (see `load_hit_uav`) or an image file is
            listed twice.
    """
    records = sorted(load_hit_uav(hit_uav_dir, split), key=lambda r: r["file"])
    files = [r["file"] for r in records]
    if len(set(files)) != len(files):
        dup = next(f for f, n in Counter(files).items() if n > 1)
        raise HitUavError(f"{Path(hit_uav_dir) / f'{split}.jsonl'}: image {dup!r} is listed twice")
    rows = [row for rec in records for row in _image_questions(rec, split, seed)]
    keep = _balanced_presence(rows, seed)
    return [row for row in rows if row["type"] != "presence" or row["id"] in keep]


def _jsonl(manifest: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row, ensure_ascii=False, sort_keys=True).encode() + b"\n" for row in manifest)


def write_vqa_manifest(manifest: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the manifest as JSONL (sorted keys, one question per line); returns the path.

    Args:
        manifest: the manifest rows (as from `build_vqa_manifest`).
        path: the output file; its parent folders are created.

    Returns:
        `path` as a `Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_jsonl(manifest))
    return path


def read_vqa_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Read a manifest written by `write_vqa_manifest` (checks the fields every row needs).

    Args:
        path: the manifest JSONL file.

    Returns:
        The rows in file order (blank lines skipped), each with at least id, file, question,
        answer and type.

    Raises:
        HitUavError: when the file is missing, a line is not valid JSON, or a row lacks one of
            the required fields.
    """
    path = Path(path)
    if not path.is_file():
        raise HitUavError(f"{path}: no such VQA manifest")
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise HitUavError(f"{path}:{line_no}: not valid JSON ({e.msg})") from None
        missing = [k for k in ("id", "file", "question", "answer", "type") if k not in row]
        if missing:
            raise HitUavError(f"{path}:{line_no}: missing field(s) {missing}")
        rows.append(row)
    return rows


def manifest_sha256(manifest: Sequence[dict[str, Any]]) -> str:
    """SHA-256 of the manifest's JSONL bytes: a one-line regression check of the whole question set.

    Args:
        manifest: the manifest rows, in order.

    Returns:
        The hex digest of the bytes `write_vqa_manifest` would write.
    """
    return hashlib.sha256(_jsonl(manifest)).hexdigest()


def answer_distribution(manifest: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """{type: {answer: count}} with answers sorted by count (then text).

    Args:
        manifest: the manifest rows (each with "type" and "answer").

    Returns:
        A dict keyed by question type (sorted), each mapping answer -> count, most frequent first
        and ties alphabetical.
    """
    by_type: dict[str, Counter] = defaultdict(Counter)
    for row in manifest:
        by_type[row["type"]][row["answer"]] += 1
    return {t: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for t, c in sorted(by_type.items())}


def _majority(counter: Counter) -> str:
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]  # ties -> alphabetical, deterministic


def majority_baseline(train_manifest: Sequence[dict[str, Any]], eval_manifest: Sequence[dict[str, Any]], *,
                      by: str = "type") -> dict[str, Any]:
    """Answer every eval question with the most frequent train answer of its question type.

    by="type" (default): one answer per question type; by="question": one per question text (e.g.
    "How many cars ..."), falling back to the type's answer for unseen questions. Returns {"by",
    "answers", "predictions", "scores"} with scores from `fusionrs.metrics.vqa.vqa_scores`.

    Args:
        train_manifest: the rows the majority answers are counted on.
        eval_manifest: the rows to answer and score.
        by: "type" or "question": what the majority answer is taken per.

    Returns:
        {"by", "answers" (the chosen answer per type or question, sorted), "predictions" (one per
        eval row), "scores" (`vqa_scores` overall and per type)}.

    Raises:
        ValueError: when `by` is not "type" or "question", or either manifest is empty.
    """
    from fusionrs.metrics.vqa import vqa_scores

    if by not in ("type", "question"):
        raise ValueError(f"by must be 'type' or 'question', got {by!r}")
    if not train_manifest or not eval_manifest:
        raise ValueError("majority_baseline needs non-empty train and eval manifests")
    per_type: dict[str, Counter] = defaultdict(Counter)
    per_question: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for row in train_manifest:
        per_type[row["type"]][row["answer"]] += 1
        per_question[row["question"]][row["answer"]] += 1
        overall[row["answer"]] += 1
    type_answer = {t: _majority(c) for t, c in per_type.items()}
    question_answer = {q: _majority(c) for q, c in per_question.items()}
    fallback = _majority(overall)

    def predict(row: dict[str, Any]) -> str:
        if by == "question" and row["question"] in question_answer:
            return question_answer[row["question"]]
        return type_answer.get(row["type"], fallback)

    predictions = [predict(row) for row in eval_manifest]
    scores = vqa_scores(predictions, [row["answer"] for row in eval_manifest], [row["type"] for row in eval_manifest])
    answers = question_answer if by == "question" else type_answer
    return {"by": by, "answers": dict(sorted(answers.items())), "predictions": predictions, "scores": scores}


def main(argv: Sequence[str] | None = None) -> None:
    """python -m fusionrs.vlm.vqa_data HIT_UAV_DIR OUT_DIR [--seed N]: write {split}.jsonl per split."""
    import argparse

    parser = argparse.ArgumentParser(description="Write the HIT-UAV VQA manifests (one JSONL per split).")
    parser.add_argument("hit_uav_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--splits", nargs="+", default=["train", "val"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for split in args.splits:
        manifest = build_vqa_manifest(args.hit_uav_dir, split, seed=args.seed)
        path = write_vqa_manifest(manifest, Path(args.out_dir) / f"{split}.jsonl")
        print(f"{path}: {len(manifest)} questions, sha256 {manifest_sha256(manifest)}")


if __name__ == "__main__":
    main()
