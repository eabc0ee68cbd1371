"""`--overwrite` replaces only what fusionrs wrote; writes are checked early, durable and resumable.

Real files in tmp_path and the real command line (subprocess, or `main()` in process); the disk-full
and read-only cases mount a real tmpfs inside a user namespace (`unshare -rm`), or use a read-only
folder when the tests do not run as root.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from fusionrs.cli.main import main
from fusionrs.core.atomic import atomic_file, atomic_folder, commit_folder
from fusionrs.core.output_folder import (
    MARKER_NAME, check_free_space, check_output_folder, check_writable, is_fusionrs_folder, remove_leftovers,
    write_marker,
)
from fusionrs.errors import OutputFolderError
from tests.test_cli_contract import FUSIONRS, run_cli


def _one_line_exit_2(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def _rsicd(folder: Path, n: int = 3) -> Path:
    """A tiny Karpathy-format source: dataset_rsicd.json + images/."""
    (folder / "images").mkdir(parents=True)
    images = []
    for i in range(n):
        Image.new("RGB", (32, 32), (40 * i, 90, 200 - 30 * i)).save(folder / "images" / f"scene_{i}.png")
        images.append({"filename": f"scene_{i}.png", "split": "train", "sentences": [{"raw": f"scene number {i}"}]})
    (folder / "dataset_rsicd.json").write_text(json.dumps({"images": images}))
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _synth_build(out: Path, *extra) -> list[str]:
    return ["build", "synth:12", "--synth-size", "64", "--chunk-size", "4", "--split-policy", "resplit",
            "--translator", "grayscale", "--out", str(out), "--quiet", *map(str, extra)]


def _shards(folder: Path) -> dict:
    return {p.name: pq.read_table(p).to_pylist() for p in sorted((folder / "data").glob("*.parquet"))}


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ----------------------------------------------------------------------------- the output rule


def test_overwrite_of_a_source_folder_is_refused(tmp_path):
    source = _rsicd(tmp_path / "rsicd")
    before = _tree(source)
    for out in (source, source / "dataset", tmp_path):  # is, lies inside, contains the source
        line = _one_line_exit_2(run_cli("build", f"rsicd:{source}", "--out", out, "--overwrite", "--quiet",
                                        cwd=tmp_path))
        assert str(out) in line and "input" in line and str(source) in line, line
    assert _tree(source) == before, "a refused build must not touch its source"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rsicd"], "nothing written beside it either"


def test_out_holding_an_input_file_of_another_root_is_refused(tmp_path, capsys):
    # table:T.csv reads its images relative to the table's folder, which is not named in the spec
    # and an --out that fusionrs wrote (its marker) but that now holds an image the build reads
    images = tmp_path / "images"
    images.mkdir()
    write_marker(images, "dataset")
    Image.new("RGB", (16, 16), (10, 20, 30)).save(images / "a.png")
    (tmp_path / "t.csv").write_text("image,caption\nimages/a.png,a red roof\n")
    assert main(["build", f"table:{tmp_path / 't.csv'}", "--out", str(images), "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a.png, an input of this build" in err[0], err
    assert (images / "a.png").is_file()


def test_overwrite_of_a_foreign_folder_is_refused(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.tex").write_text("years of work")
    for args in (_synth_build(docs, "--overwrite"), ["synth", "--n", "4", "--size", "64", "--out", docs, "--overwrite"]):
        line = _one_line_exit_2(run_cli(*args, cwd=tmp_path))
        assert str(docs) in line and "not written by fusionrs" in line, line
    assert _tree(docs) == {"thesis.tex": b"years of work"}
    line = _one_line_exit_2(run_cli(*_synth_build(docs), cwd=tmp_path))  # without --overwrite: the same refusal
    assert "not written by fusionrs" in line
    assert not list(tmp_path.glob(".docs*")), "no staging left beside it"


def test_overwrite_of_a_fusionrs_folder_works(tmp_path):
    out = tmp_path / "ds"
    first = run_cli(*_synth_build(out), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert is_fusionrs_folder(out) and json.loads((out / MARKER_NAME).read_text())["kind"] == "dataset"
    reference = _shards(out)
    line = _one_line_exit_2(run_cli(*_synth_build(out), cwd=tmp_path))
    assert "pass --overwrite" in line
    (out / "stale.txt").write_text("from an older build")
    again = run_cli(*_synth_build(out, "--overwrite"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert not (out / "stale.txt").exists() and _shards(out) == reference and is_fusionrs_folder(out)


def test_the_rule_itself(tmp_path):
    foreign, ours, empty, link = tmp_path / "foreign", tmp_path / "ours", tmp_path / "empty", tmp_path / "link"
    foreign.mkdir()
    (foreign / "x").write_text("x")
    empty.mkdir()
    with atomic_folder(ours, kind="model") as staging:
        (staging / "w").write_text("1")
    link.symlink_to(ours)
    assert check_output_folder(tmp_path / "new") == tmp_path / "new"
    assert check_output_folder(empty) == empty
    assert check_output_folder(ours, overwrite=True) == ours
    for path, overwrite, message in ((ours, False, "pass --overwrite"), (foreign, True, "not written by fusionrs"),
                                     (link, True, "symbolic link"), (foreign / "x", True, "not a folder")):
        with pytest.raises(OutputFolderError, match=message):
            check_output_folder(path, overwrite=overwrite)
    with pytest.raises(OutputFolderError, match="is inside the input"):
        check_output_folder(foreign / "out", inputs=[foreign])
    with pytest.raises(OutputFolderError, match="contains the input"):
        check_output_folder(tmp_path, overwrite=True, inputs=[foreign / "x"])
    with pytest.raises(OutputFolderError, match="not written by fusionrs"):  # the one rule guards commits too
        with atomic_folder(foreign) as staging:
            (staging / "y").write_text("y")
    assert _tree(foreign) == {"x": b"x"} and not list(tmp_path.glob(".foreign*"))
    staging = tmp_path / "staging"
    staging.mkdir()
    commit_folder(staging, ours)
    assert is_fusionrs_folder(ours) and not (ours / "w").exists()


def test_captions_never_replace_their_input(tmp_path, capsys):
    data = tmp_path / "ds"
    assert main(["synth", "--n", "4", "--size", "64", "--out", str(data)]) == 0
    capsys.readouterr()
    assert main(["captions", "--data", str(data), "--backend", "grounded", "--out", str(data / "sub"),
                 "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is inside the input" in err[0], err


# ----------------------------------------------------------------------------- early checks, disk errors


def _mount_run(tmp_path: Path, args: list[str], options: str) -> subprocess.CompletedProcess:
    """Run the CLI with a fresh tmpfs (mount options `options`) at tmp_path/mnt, in a user namespace;
    the mount's top-level names (hidden ones too) are printed on stdout after the CLI's own output."""
    mnt = tmp_path / "mnt"
    mnt.mkdir(exist_ok=True)
    if not shutil.which("unshare"):
        pytest.skip("needs unshare (util-linux) for a private tmpfs mount")
    script = f'mount -t tmpfs -o {options} tmpfs "$0" || exit 99; "$@"; rc=$?; echo "LISTING:" $(ls -A "$0"); exit $rc'
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script, str(mnt), FUSIONRS, *map(str, args)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    if result.returncode == 99 or "unshare:" in result.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {result.stderr.strip()[:200]}")
    return result


def test_read_only_output_folder_gives_one_line_and_exit_2(tmp_path):
    out = tmp_path / "mnt" / "ds"
    if os.geteuid() != 0:  # a read-only folder is enough when permissions apply
        (tmp_path / "mnt").mkdir()
        (tmp_path / "mnt").chmod(0o555)
        try:
            result = run_cli(*_synth_build(out, "--work-dir", tmp_path / "work"), cwd=tmp_path)
        finally:
            (tmp_path / "mnt").chmod(0o755)
    else:
        result = _mount_run(tmp_path, _synth_build(out, "--work-dir", tmp_path / "work"), "ro,size=1m")
    line = _one_line_exit_2(result)
    assert str(tmp_path / "mnt") in line and "not writable" in line, line
    assert not (tmp_path / "work" / "chunks").exists() or not list((tmp_path / "work" / "chunks").iterdir()), \
        "refused before staging"


@pytest.mark.parametrize("size", ["17m", "50m"])
def test_full_disk_gives_one_line_and_exit_2(tmp_path, size):
    # 17 MiB: refused by the free-space check before staging (16 MiB reserve + the estimate);
    # 50 MiB passes that lower-bound estimate, and the disk fills while writing (about 60 MiB are
    # needed). Either way: one line naming the place, no traceback, no staging folder left behind.
    result = _mount_run(tmp_path, ["build", "synth:60", "--synth-size", "512", "--chunk-size", "4", "--quiet", "--translator", "grayscale",
                                   "--out", tmp_path / "mnt" / "ds"], f"size={size}")
    line = _one_line_exit_2(result)
    assert "not enough free space" in line or "disk is full" in line, line
    assert str(tmp_path / "mnt") in line, line
    listing = result.stdout.split("LISTING:")[-1].split()
    assert [name for name in listing if name != "ds.work"] == [], listing


def test_free_space_and_writability_checks(tmp_path):
    with pytest.raises(OutputFolderError, match="not enough free space"):
        check_free_space({tmp_path / "a": 1 << 62})
    check_free_space({tmp_path / "a" / "b": 1024})  # a missing folder: measured at its nearest parent
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputFolderError, match=r"file/out is not writable: .*file is a file"):
        check_writable(tmp_path / "file" / "out")
    assert check_writable(tmp_path / "new" / "deep").is_dir()
    assert list((tmp_path / "new" / "deep").iterdir()) == [], "the probe file is removed"


@pytest.mark.parametrize("args, needle", [
    (["build", "rsicd:/nonexistent", "--out", "x"], "/nonexistent does not exist"),
    (["build", "synth:4", "--out", "afile"], "afile exists and is not a folder"),
    (["build", "synth:4", "--out", "afile/ds"], "is not writable"),
])
def test_user_errors_are_one_line_exit_2(args, needle, tmp_path):
    (tmp_path / "afile").write_text("x")
    start = time.perf_counter()
    line = _one_line_exit_2(run_cli(*args, cwd=tmp_path))
    print(f"{' '.join(args)}: {time.perf_counter() - start:.2f} s")  # reported, not asserted
    assert needle in line, line


# ----------------------------------------------------------------------------- durability and resume


def test_atomic_file_fsyncs_before_the_rename(tmp_path, monkeypatch):
    # A spy around the real os.fsync / os.replace: the file's bytes and then its folder reach the disk.
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))[1])
    target = tmp_path / "chunk.parquet"
    with atomic_file(target) as tmp:
        tmp.write_bytes(b"data")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert events[0][1].endswith(".tmp") and events[2][1] == str(tmp_path)
    assert target.read_bytes() == b"data"


def test_truncated_staged_chunk_is_named_and_restaged_on_resume(tmp_path):
    out = tmp_path / "ds"
    first = run_cli(*_synth_build(out), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    reference = _shards(out)
    chunk = tmp_path / "ds.work" / "chunks" / "chunk-000001.parquet"
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])  # what a lost write-back leaves
    again = run_cli(*_synth_build(out, "--overwrite"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    said = again.stderr + again.stdout
    assert "chunk-000001.parquet" in said and "truncated" in said, said
    assert "1 restaged" in again.stdout and "2 reused" in again.stdout, again.stdout
    assert _shards(out) == reference
    pq.ParquetFile(chunk)  # whole again


def test_leftovers_of_a_killed_build_are_removed_on_rerun(tmp_path):
    out = tmp_path / "ds"
    chunks = tmp_path / "ds.work" / "chunks"
    args = ["build", "synth:40", "--synth-size", "64", "--chunk-size", "2", "--translator", "grayscale", "--out", str(out),
            "--quiet"]
    process = subprocess.Popen([FUSIONRS, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if chunks.is_dir() and len(list(chunks.glob("chunk-*.parquet"))) >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    # What a kill at other moments leaves (a chunk or the card mid-write, the writer's staging folder),
    # named as fusionrs names them, by a process that is gone; and look-alikes that are not ours.
    dead = _dead_pid()
    leftovers = [chunks / f".chunk-000007.parquet.{dead}.tmp", tmp_path / "ds.work" / f".build.json.{dead}.tmp"]
    for path in leftovers:
        path.write_bytes(b"PAR1 half a write")
    staging = tmp_path / f".ds.{dead}.tmp-k1ll3d"
    staging.mkdir()
    (staging / MARKER_NAME).write_text(json.dumps({"written_by": "fusionrs", "kind": "staging"}))
    (staging / "data").mkdir()
    (staging / "data" / "train-00000.parquet").write_bytes(b"PAR1")
    foreign = [tmp_path / f".ds.{dead}.tmp-notours", tmp_path / "notes.tmp", tmp_path / f".other.{dead}.tmp-k1ll3d"]
    for path in foreign:
        path.mkdir()
    live = chunks / f".chunk-000009.parquet.{os.getppid()}.tmp"  # a live process's: left alone
    live.write_bytes(b"in progress")

    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "leftovers" in result.stdout and "removed" in result.stdout, result.stdout
    for path in [*leftovers, staging]:
        assert not path.exists(), path
    for path in [*foreign, live]:
        assert path.exists(), path
    live.unlink()
    reference = tmp_path / "reference"
    assert run_cli(*[a if a != str(out) else str(reference) for a in args], cwd=tmp_path).returncode == 0
    assert _shards(out) == _shards(reference)


def test_remove_leftovers_keeps_what_is_not_a_dead_fusionrs_temporary(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".a.{dead}.tmp").write_text("x")
    (tmp_path / f".a.{os.getpid()}.tmp").write_text("mine, running")
    (tmp_path / f".a.{dead}.tmp-dir").mkdir()  # a folder without the marker: not provably ours
    (tmp_path / "a.tmp").write_text("a user's file")
    removed = remove_leftovers(tmp_path)
    assert removed == [tmp_path / f".a.{dead}.tmp"]
    assert remove_leftovers(tmp_path, name="b") == []


def test_a_refused_output_imports_no_heavy_library(tmp_path):
    from tests.test_cli_contract import CLI_CALL, _modules_after

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    assert _modules_after(CLI_CALL.format(argv=["build", "synth:4", "--out", str(foreign), "--overwrite"])) == []
    assert (foreign / "keep.txt").read_text() == "x"
