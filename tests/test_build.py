"""`fusionrs build`: real sources, bad input, resumability after SIGKILL, 2 processes == 1 process."""

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from fusionrs.data.build import BuildConfig, build_dataset
from fusionrs.data.sources import parse_source
from tests.test_cli import FUSIONRS, run_cli


def fingerprint(folder: Path) -> dict[str, tuple]:
    """id -> (split, group, decoded-pixel hashes, captions): what must not change between builds."""
    ds = datasets.load_dataset(str(folder))
    out = {}
    for split in ds:
        for row in ds[split]:
            pixels = tuple(
                hashlib.sha256(np.asarray(row[k]).tobytes()).hexdigest() if row[k] is not None else None
                for k in ("rgb", "ir")
            )
            out[row["id"]] = (split, row["group_id"], pixels, tuple(row["captions"]))
    return out


# ----------------------------------------------------------------------------- real sources


def build_real(tmp_path, spec: str, limit: int | None = None, **kwargs):
    config = BuildConfig(sources=[parse_source(spec)], limit_per_source=limit, chunk_size=32, **kwargs)
    return build_dataset(config, tmp_path / "out", progress=False)


def test_build_rsicd_aid(shared_data, tmp_path):
    report = build_real(tmp_path, f"rsicd:{shared_data / 'rsicd_aid'}", limit=150)
    assert report.num_rows == 150 and not report.failures
    ds = datasets.load_dataset(str(report.out_dir))
    classes = Counter(c for split in ds for c in ds[split]["class_name"])
    # stratified by class: each of the 30 classes (131 to 253 images) its share of 150, 3 to 6 records
    assert len(classes) == 30 and set(classes.values()) == {3, 4, 5, 6}, classes
    row = ds["train"][0]
    assert row["rgb"].mode == "RGB" and row["ir"].mode == "L" and row["rgb"].size == row["ir"].size
    assert len(row["captions"]) == 5 and row["class_name"] in classes
    assert row["provenance"]["translator"] == "grayscale"
    assert re.fullmatch(rf"{row['class_name']}_\d+\.jpg", row["provenance"]["source_locator"])
    assert "research use" in row["provenance"]["rights"]
    assert np.array_equal(np.asarray(row["ir"]), np.asarray(row["rgb"].convert("L")))


def test_build_sydney_reports_missing_images(shared_data, tmp_path):
    report = build_real(tmp_path, f"sydney:{shared_data / 'captions/sydney'}")
    assert report.num_rows == 9, "only the 9 sample images are present"
    missing = [f for f in report.failures if f["stage"] == "read"]
    assert len(missing) == 613 - 9 and all("not found" in f["reason"].lower() or "no such" in f["reason"].lower()
                                           for f in missing)
    card = (report.out_dir / "README.md").read_text()
    assert f"Records left out ({len(missing)})" in card
    assert len(datasets.load_dataset(str(report.out_dir), split="train")) + sum(
        len(datasets.load_dataset(str(report.out_dir))[s]) for s in datasets.load_dataset(str(report.out_dir)) if s != "train"
    ) == 9


def test_parse_ucm_coco_and_rsitmd(shared_data):
    from fusionrs.data.sources import iter_source

    ucm = list(iter_source(parse_source(
        f"coco:{shared_data / 'captions/ucm/ucm_test_coco_format.json'}:{shared_data / 'captions/ucm/images'}")))
    assert len(ucm) == 210 and all(len(i.captions) == 5 for i in ucm) and {i.source_split for i in ucm} == {"test"}
    rsitmd = list(iter_source(parse_source(f"rsitmd:{shared_data / 'captions/rsitmd'}")))
    assert len(rsitmd) == 4743
    assert {i.source_split for i in rsitmd} == {"train", "validation", "test"}
    assert min(len(i.captions) for i in rsitmd) >= 1 and rsitmd[0].class_name


def test_build_hit_uav_thermal_is_ir_only(shared_data, tmp_path):
    report = build_real(tmp_path, f"thermal:{shared_data / 'hit_uav'}", limit=40)
    assert report.num_rows == 40
    ds = datasets.load_dataset(str(report.out_dir), split="train")
    row = next(r for r in ds if r["objects"])
    assert row["rgb"] is None and row["ir"].mode == "L" and row["ir"].size == (320, 256)
    assert row["provenance"]["translator"] == "real_thermal"
    assert {o["label"] for o in row["objects"]} <= {"Person", "Car", "Bicycle", "OtherVehicle"}


def test_build_several_sources_with_synth(shared_data, tmp_path):
    config = BuildConfig(
        sources=[parse_source(f"rsicd:{shared_data / 'rsicd_aid'}"), parse_source(f"thermal:{shared_data / 'hit_uav'}"),
                 parse_source("synth:12")],
        limit_per_source=20, synth_size=64, chunk_size=16,
    )
    report = build_dataset(config, tmp_path / "out", progress=False)
    assert report.num_rows == 52
    ds = datasets.load_dataset(str(report.out_dir))
    sources = {r["source_dataset"] for s in ds for r in ds[s].select_columns(["source_dataset"])}
    assert sources == {"rsicd", "hit_uav", "fusionrs_world"}
    card = (report.out_dir / "README.md").read_text()
    assert "| hit_uav |" in card and "| fusionrs_world | 12 | CC0-1.0" in card
    assert (report.out_dir / "split_manifest.json").is_file()


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_reported_and_the_build_continues(tmp_path, bad_inputs):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(images / f"ok_{i}.png")
    shutil.copy(bad_inputs["truncated_jpeg"], images / "truncated.jpg")
    shutil.copy(bad_inputs["text_png"], images / "notes.png")
    rows = [
        {"image": "ok_0.png", "caption": "a good scene"},
        {"image": "ok_1.png", "caption": "   "},                    # empty caption
        {"image": "ok_2.png", "caption": "fine"},
        {"image": "ok_2.png", "caption": ""},                       # one empty among good ones: dropped, kept
        {"image": "missing.png", "caption": "no file"},
        {"image": "truncated.jpg", "caption": "cut short"},
        {"image": "notes.png", "caption": "text, not an image"},
        {"image": "/etc/passwd", "caption": "absolute"},
        {"image": "../outside.png", "caption": "escapes"},
        {"image": "ok_3.png", "caption": "first"},
        {"image": "./ok_3.png", "caption": "same id again"},        # duplicate source id
    ]
    table = tmp_path / "captions.jsonl"
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = run_cli("build", f"mine=table:{table}:{images}", "--out", tmp_path / "out", "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    ds = datasets.load_dataset(str(tmp_path / "out"))
    kept = {r["id"]: r["captions"] for s in ds for r in ds[s].select_columns(["id", "captions"])}
    assert kept == {"mine-ok_0": ["a good scene"], "mine-ok_2": ["fine"], "mine-ok_3": ["first"]}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Records left out (7)" in card
    for needle in ("mine-ok_1", "no non-empty caption", "missing.png", "truncated.jpg", "notes.png",
                   "absolute path", "'..'", "duplicate id"):
        assert needle in card, needle


# ----------------------------------------------------------------------------- resumability


def _build_cmd(out: Path, *extra) -> list[str]:
    # grayscale: these tests are about staging, resuming and sharding, not about the (default) model
    return [FUSIONRS, "build", "synth:40", "--synth-size", "64", "--chunk-size", "4", "--split-policy", "resplit",
            "--translator", "grayscale", "--out", str(out), "--quiet", *map(str, extra)]


def _kill_when(process: subprocess.Popen, condition, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if condition():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)


def test_sigkill_at_several_points_then_resume_equals_uninterrupted(tmp_path):
    reference = tmp_path / "reference"
    assert subprocess.run(_build_cmd(reference), capture_output=True, timeout=300).returncode == 0
    out = tmp_path / "resumed"
    chunks = tmp_path / "resumed.work" / "chunks"
    kills = 0
    for at_least in (1, 4, 7):
        process = subprocess.Popen(_build_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _kill_when(process, lambda: chunks.is_dir() and len(list(chunks.glob("chunk-*.parquet"))) >= at_least)
        kills += process.returncode == -signal.SIGKILL
    assert kills >= 2, "the build finished before it could be killed: make it longer"
    assert not out.exists() or not (out / "README.md").exists() or kills < 3
    assert not list(chunks.glob("*.tmp")), "a killed chunk write must not leave a file that looks finished"
    result = subprocess.run(_build_cmd(out), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "reused" in result.stdout
    assert fingerprint(out) == fingerprint(reference)


def test_chunk_and_batch_boundaries_do_not_change_results(tmp_path):
    def build(chunk_size, name):
        config = BuildConfig(sources=[parse_source("synth:10")], synth_size=64, chunk_size=chunk_size,
                             split_policy="resplit")
        return build_dataset(config, tmp_path / name, progress=False).out_dir

    assert fingerprint(build(3, "a")) == fingerprint(build(64, "b"))


def test_changed_settings_refuse_stale_chunks(tmp_path):
    assert run_cli(*_build_cmd(tmp_path / "out")[1:]).returncode == 0
    result = run_cli("build", "synth:40", "--synth-size", "64", "--chunk-size", "4", "--translator",
                     "inverted_grayscale", "--out", tmp_path / "out", "--overwrite", "--quiet")
    assert result.returncode == 2 and "staged with other settings" in result.stderr


def test_two_processes_equal_one(tmp_path):
    """Two CPU processes under torchrun (`accelerate launch --cpu --num_processes 2` starts only one
    process: accelerate's simple launcher) stage disjoint chunks and write the same dataset as one."""
    single = tmp_path / "single"
    assert subprocess.run(_build_cmd(single), capture_output=True, timeout=300).returncode == 0
    double = tmp_path / "double"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [c for c in _build_cmd(double) if c != "--quiet"]  # progress bars name each rank
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29563", *command],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "staging (rank 0/2)" in result.stderr and "staging (rank 1/2)" in result.stderr
    assert result.stdout.count("built 40 records") == 1  # the summary comes from rank 0 only
    assert fingerprint(double) == fingerprint(single)


# ----------------------------------------------------------------------------- splits in a build


def test_planted_near_duplicates_never_cross_splits(tmp_path):
    from fusionrs.synth import generate_scene

    images = tmp_path / "images"
    images.mkdir()
    rows, planted = [], []
    for i in range(30):
        base = Image.fromarray(generate_scene(i, seed=5, size=128).rgb)
        base.save(images / f"base_{i}.png")
        rows.append({"image": f"base_{i}.png", "caption": f"scene number {i}"})
        if i % 3 == 0:  # three kinds of copies: re-encoded, resized, slightly cropped
            buffer = io.BytesIO()
            base.save(buffer, format="JPEG", quality=70)
            copies = {"jpeg": Image.open(buffer), "resized": base.resize((100, 100), Image.Resampling.BICUBIC),
                      "cropped": base.crop((3, 3, 125, 125))}
            for kind, copy in copies.items():
                copy.convert("RGB").save(images / f"copy_{kind}_{i}.png")
                rows.append({"image": f"copy_{kind}_{i}.png", "caption": f"a different caption {kind} {i}"})
                planted.append((f"mine-base_{i}", f"mine-copy_{kind}_{i}"))
    table = tmp_path / "captions.csv"
    table.write_text("image,caption\n" + "".join(f"{r['image']},{r['caption']}\n" for r in rows))
    config = BuildConfig(sources=[parse_source(f"mine=table:{table}:{images}")], split_policy="resplit",
                         fractions={"train": 0.5, "validation": 0.25, "test": 0.25}, seed=1)
    report = build_dataset(config, tmp_path / "out", progress=False)
    rows_by_id = {row_id: value for row_id, value in fingerprint(report.out_dir).items()}
    assert len({v[0] for v in rows_by_id.values()}) == 3, "all three splits are used"
    for a, b in planted:
        assert rows_by_id[a][0] == rows_by_id[b][0], f"{a} and {b} crossed splits"
        assert rows_by_id[a][1] == rows_by_id[b][1], f"{a} and {b} are in different groups"
    ds = datasets.load_dataset(str(report.out_dir))
    for split in ("validation", "test"):
        groups = [r["group_id"] for r in ds[split] if r["is_eval_representative"]]
        assert len(groups) == len(set(groups)) == len(set(ds[split]["group_id"])), "one representative per group"
