"""The core's one atomic-write helper, one cached model loader and one repo-id check."""

import os
import time

import pytest

from fusionrs.core.atomic import atomic_file, atomic_folder, write_json_atomic
from fusionrs.core.model_cache import ModelCache, cached_model, weights_stamp
from fusionrs.core.repo_id import is_repo_id, looks_like_repo_id


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "sub" / "state.json"
    write_json_atomic(target, {"step": 1})
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "step": 1\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]  # no temporary left behind


def test_atomic_folder_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    target = tmp_path / "checkpoint-2"
    with atomic_folder(target) as staging:
        (staging / "weights").write_text("v1")
        assert not target.exists()  # nothing visible while writing
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(target) as staging:
            (staging / "weights").write_text("v2")
            raise KeyboardInterrupt
    assert (target / "weights").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2"]
    with pytest.raises(FileExistsError):
        with atomic_folder(target, replace=False) as staging:
            (staging / "weights").write_text("v3")
    assert (target / "weights").read_text() == "v1"


def test_cached_model_reloads_a_folder_retrained_in_place(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    weights = folder / "model.safetensors"
    weights.write_bytes(b"v1")
    cache, loads = ModelCache(max_items=4), []

    def loader():
        loads.append(weights.read_bytes())
        return loads[-1]

    assert cached_model("kind", folder, loader, "cpu", cache=cache) == b"v1"
    assert cached_model("kind", str(folder), loader, "cpu", cache=cache) == b"v1"  # str or Path: one key
    assert len(loads) == 1
    weights.write_bytes(b"v2")
    stamp = time.time_ns() + 10_000_000
    os.utime(weights, ns=(stamp, stamp))
    assert cached_model("kind", folder, loader, "cpu", cache=cache) == b"v2"
    assert cached_model("other-kind", folder, loader, "cpu", cache=cache) == b"v2" and len(loads) == 3
    assert weights_stamp(tmp_path / "not-there") == ()


@pytest.mark.parametrize(
    "text, namespaced, bare",
    [("org/name", True, True), ("gpt2", False, True), ("a/b/c", False, False), ("-x/y", False, False),
     ("org/na me", False, False), ("Qwen/Qwen2.5-VL-7B-Instruct", True, True)],
)
def test_repo_id_spelling(text, namespaced, bare):
    assert is_repo_id(text) is namespaced
    assert is_repo_id(text, require_namespace=False) is bare


def test_local_paths_win_over_repo_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert looks_like_repo_id("org/name")
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert not looks_like_repo_id("org/name")
    assert not looks_like_repo_id("./org/name") and not looks_like_repo_id("/abs/path")
