"""The builder's memory budget per chunk (results unchanged, peak RSS bounded) and published files that
carry relative locators only (no absolute local path of a source root or a left-out record)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import pyarrow.parquet as pq
from PIL import Image

from fusionrs.data.build import DEFAULT_CHUNK_PIXELS, BuildConfig, build_dataset
from fusionrs.data.card import scrub_local_paths, scrub_published
from fusionrs.data.sources import parse_source
from tests.test_build import fingerprint


def _scene(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A smooth random scene (distinct pHashes) with a little noise."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(xx * rng.uniform(2, 9) + rng.uniform(0, 6)) + np.cos(yy * rng.uniform(2, 9))
                     for _ in range(3)], axis=-1)
    pixels = (base - base.min()) / (np.ptp(base) + 1e-9) * 220 + rng.integers(0, 30, (h, w, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def _make_table_source(root: Path, n: int = 14, seed: int = 0) -> Path:
    """A table source of `n` images of mixed sizes and formats plus left-out entries; returns the table."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True)
    rows = []
    for i in range(n):
        size = [(32, 32), (48, 40), (64, 64), (24, 56)][i % 4]
        name = f"scene_{i:02d}." + ("png" if i % 3 else "jpg")
        _scene(rng, size).save(images / name)
        rows.append({"image": name, "caption": f"scene {i} with fields and a road"})
    _scene(rng, (32, 32)).save(images / "copy_a.png")
    Image.open(images / "copy_a.png").save(images / "copy_b.png")  # a duplicate pair: one group
    rows += [{"image": "copy_a.png", "caption": "a copied scene"}, {"image": "copy_b.png", "caption": "copied again"}]
    (images / "notes.png").write_text("not an image")
    outside = root / "private"
    outside.mkdir()
    _scene(rng, (32, 32)).save(outside / "secret.png")
    os.symlink(outside / "secret.png", images / "linked.png")  # points out of the source root
    rows += [
        {"image": "missing.png", "caption": "no such file"},
        {"image": "notes.png", "caption": "text, not an image"},
        {"image": str(outside / "secret.png"), "caption": "an absolute path"},
        {"image": "../private/secret.png", "caption": "escapes the root"},
        {"image": "linked.png", "caption": "a link out of the root"},
        {"image": "scene_01.png", "caption": "   "},
    ]
    table = root / "captions.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return table


# ----------------------------------------------------------------------------- the decoded-pixel budget


def test_default_budget_and_budget_not_in_fingerprint():
    config = BuildConfig(sources=[parse_source("synth:4")])
    assert config.max_chunk_pixels == DEFAULT_CHUNK_PIXELS == 256_000_000
    for budget in (None, 1, 10**6):
        assert BuildConfig(sources=[parse_source("synth:4")], max_chunk_pixels=budget).stage_fingerprint() \
            == config.stage_fingerprint(), "the budget changes no content: staged chunks stay reusable"


def test_budget_changes_no_id_pixel_split_or_reason(tmp_path):
    table = _make_table_source(tmp_path / "src")
    spec = f"mine=table:{table}:{table.parent / 'images'}"
    results = {}
    # None: the whole chunk at once (the behaviour before the budget); 1: every image alone;
    # 2500 and 3000: one to three of these images (1024, 1920, 4096, 1344 px, in turn) per sub-batch,
    # sub-batches cut inside chunks; at 2500 the 1920 px image after a 1024 px one is larger than
    # foreseen, so it is released, the sub-batch staged and the image decoded again.
    for budget in (None, 1, 2500, 3000, DEFAULT_CHUNK_PIXELS):
        config = BuildConfig(sources=[parse_source(spec)], chunk_size=8, split_policy="resplit",
                             fractions={"train": 0.6, "validation": 0.2, "test": 0.2}, max_chunk_pixels=budget)
        report = build_dataset(config, tmp_path / f"out_{budget}", progress=False)
        out = report.out_dir
        generation = json.loads((out / "generation.json").read_text())
        results[budget] = (fingerprint(out), [(f["id"], f["stage"], f["reason"]) for f in report.failures],
                           generation["skipped"], generation["split_counts"],
                           json.loads((out / "split_manifest.json").read_text()))
    reference = results[None]
    assert len(reference[0]) >= 10 and len(reference[1]) >= 4, "the source must keep rows and leave some out"
    assert len({split for split, *_ in reference[0].values()}) >= 2
    for budget, result in results.items():
        assert result == reference, f"max_chunk_pixels={budget} changed the build"


def test_resume_with_another_budget_reuses_chunks(tmp_path):
    def build(budget, overwrite=False):
        config = BuildConfig(sources=[parse_source("synth:6")], synth_size=64, chunk_size=2, max_chunk_pixels=budget)
        return build_dataset(config, tmp_path / "out", overwrite=overwrite, progress=False)

    first = build(None)
    second = build(64 * 64, overwrite=True)
    assert first.chunks_staged == 3 and second.chunks_reused == 3 and second.chunks_staged == 0


# The child's own high-water mark (VmHWM of its address space): `ru_maxrss` is no good here, since
# Linux carries the parent's (pytest's) resident size into a child's ru_maxrss across fork + exec.
_PEAK_SCRIPT = textwrap.dedent("""
    import json, re, sys
    from fusionrs.data.build import BuildConfig, build_dataset
    from fusionrs.data.sources import parse_source
    budget = None if sys.argv[3] == "none" else int(sys.argv[3])
    config = BuildConfig(sources=[parse_source(sys.argv[1])], chunk_size=64, max_chunk_pixels=budget)
    report = build_dataset(config, sys.argv[2], progress=False)
    with open("/proc/self/status") as status:
        peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
    print(json.dumps({"rows": report.num_rows, "peak_kib": peak}))
""")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak from /proc (Linux)")
def test_peak_rss_follows_the_budget_not_the_chunk(tmp_path):
    """One chunk of 16 images of 1000x1000 px: 16 x 4 MB of decoded RGB + IR when held at once."""
    images = tmp_path / "big" / "scenes"
    images.mkdir(parents=True)
    side, n = 1000, 16
    for i in range(n):  # highly compressible: each file is a few KB, each decoded image 3 MB of RGB
        pixels = np.zeros((side, side, 3), np.uint8)
        pixels[: side // 2, :, i % 3] = 40 + 8 * i
        pixels[:, : side // (2 + i % 5), (i + 1) % 3] = 200 - 5 * i
        Image.fromarray(pixels).save(images / f"big_{i:02d}.png")
    peaks = {}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for budget in ("none", str(side * side)):
        result = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, f"big=folder:{tmp_path / 'big'}",
                                 str(tmp_path / f"out_{budget}"), budget],
                                capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        assert answer["rows"] == n
        peaks[budget] = answer["peak_kib"] * 1024
    held = n * side * side * 4  # RGB + IR of the whole chunk
    print({k: round(v / 2**20) for k, v in peaks.items()}, round(held / 2**20))
    assert peaks["none"] - peaks[str(side * side)] > 0.5 * held, (peaks, held)


# ----------------------------------------------------------------------------- relative locators only


def test_scrub_local_paths():
    root = "/data/RSICD"
    assert scrub_local_paths("/data/RSICD/images/a.jpg: no such file", [root]) == "images/a.jpg: no such file"
    assert scrub_local_paths("source root /data/RSICD", [root]) == "source root <source root>"
    assert scrub_local_paths("absolute path '/etc/passwd'") == "absolute path '.../passwd'"
    assert scrub_local_paths("link to /home/u/private/x.png, refused") == "link to .../x.png, refused"
    assert scrub_local_paths("~/data/a.png and C:\\Users\\u\\b.png") == ".../a.png and .../b.png"
    for kept in ("RGB/IR and/or 3/4", "./a.png '../b.png'", "https://huggingface.co/datasets/x/y", "a / b"):
        assert scrub_local_paths(kept) == kept
    once = scrub_local_paths("see /tmp/x/y.png")
    assert scrub_local_paths(once) == once
    assert scrub_published({"k": ["/a/b", 1, None], "/c/d": True}) == {"k": [".../b", 1, None], ".../d": True}


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def test_published_files_carry_no_absolute_path(tmp_path, monkeypatch):
    source = tmp_path / "src"
    table = _make_table_source(source)
    monkeypatch.chdir(tmp_path)  # one source is given by a relative path, which the builder resolves
    specs = [parse_source(f"mine=table:{table}:{source / 'images'}"),
             parse_source("rel=folder:src/images"), parse_source("synth:3")]
    report = build_dataset(BuildConfig(sources=specs, chunk_size=5, synth_size=64), tmp_path / "out", progress=False)
    left_out = [f for f in report.failures if f["stage"] != "ir_caption_filter"]
    assert report.num_rows >= 10 and len(left_out) >= 5
    assert any("missing.png" in f["reason"] for f in left_out) and any("notes.png" in f["reason"] for f in left_out)

    forbidden = {str(tmp_path), str(tmp_path.resolve()), str(source), os.path.expanduser("~"), os.getcwd(),
                 str(Path(__file__).resolve().parents[1]), str(source / "private"), "/tmp/"}
    forbidden.discard("")
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    names = {p.relative_to(tmp_path / "out").as_posix() for p in files}
    assert {"README.md", "generation.json", "split_manifest.json"} <= names
    from fusionrs.data.card import _ABS_PATH

    for path in files:
        if path.suffix == ".parquet":
            table_ = pq.read_table(path)
            texts = list(_strings(table_.drop_columns([c for c in ("rgb", "ir") if c in table_.column_names])
                                  .to_pylist()))
        else:
            texts = [path.read_text()]
        for text in texts:
            for needle in forbidden:
                assert needle not in text, f"{path.name} holds the local path {needle!r}"
            if path.suffix != ".md":  # the card has URLs and YAML; its left-out table is checked below
                assert not _ABS_PATH.search(text), f"{path.name}: {_ABS_PATH.search(text).group(0)!r}"
    card = (tmp_path / "out" / "README.md").read_text()
    generation = json.loads((tmp_path / "out" / "generation.json").read_text())
    for entry in generation["skipped"]:
        assert not _ABS_PATH.search(entry["reason"]) and entry["id"] in card
    assert "missing.png" in card and "notes.png" in card


def test_a_library_build_refuses_a_header_that_claims_billions_of_pixels(tmp_path):
    # A BMP whose height field claims 536,870,936 rows: with the library's defaults (no max_pixels given)
    # the build must refuse it from its header, not try to decode 17 G pixels.
    import io
    import struct

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(buffer, "BMP")
    bomb = bytearray(buffer.getvalue())
    bomb[22:26] = struct.pack("<i", 536_870_936)
    root = tmp_path / "src" / "scenes"
    root.mkdir(parents=True)
    (root / "bomb.bmp").write_bytes(bytes(bomb))
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(root / "good.png")
    report = build_dataset(BuildConfig(sources=[parse_source(f"folder:{tmp_path / 'src'}")]), tmp_path / "out",
                           progress=False)
    assert report.num_rows == 1
    [failure] = report.failures
    assert "bomb.bmp" in failure["reason"] and "max_pixels" in failure["reason"], failure
