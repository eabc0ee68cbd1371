"""`load_dataset("fusionrs")`: the hook into datasets, the embedded default, and the public door."""

import inspect
import json
import re
import subprocess
import sys

import datasets
import numpy as np
import pytest

import fusionrs
from fusionrs.data.folder import write_dataset_folder
from fusionrs.data.loading import install_datasets_hook
from tests.conftest import REPO_ROOT
from tests.test_folder import make_records

PRINT_DEFAULT = (
    "import datasets, fusionrs, json; ds = datasets.load_dataset('fusionrs', split='train'); "
    "f = ds.features; print(json.dumps({'n': len(ds), 'rgb': type(f['rgb']).__name__, 'ir': type(f['ir']).__name__, "
    "'ir_mode': ds[0]['ir'].mode, 'captions': repr(f['captions']), 'ir_captions': repr(f['ir_captions']), "
    "'n_captions': len(ds[0]['captions'])}))"
)


def test_hook_is_pinned_to_the_tested_datasets_release():
    pins = dict(re.findall(r"^([\w-]+)==(\S+)", (REPO_ROOT / "requirements/constraints.txt").read_text(), re.M))
    assert datasets.__version__ == pins["datasets"], (
        "datasets changed: re-check fusionrs.data.loading.install_datasets_hook against the new "
        "datasets.load.dataset_module_factory, then update the pin"
    )
    for name in ("dataset_module_factory", "load_dataset_builder"):
        original = inspect.unwrap(getattr(datasets.load, name))
        assert list(inspect.signature(original).parameters)[:1] == ["path"]
    assert install_datasets_hook() is True
    assert getattr(datasets.load.dataset_module_factory, "_fusionrs_hook", False)
    assert getattr(datasets.load.load_dataset_builder, "_fusionrs_hook", False)


@pytest.mark.parametrize("where", ["empty", "repo_root"])
def test_default_dataset_loads_by_name_from_any_directory(tmp_path, where):
    cwd = tmp_path if where == "empty" else REPO_ROOT
    result = subprocess.run([sys.executable, "-c", PRINT_DEFAULT], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["n"] > 0 and out["rgb"] == "Image" and out["ir"] == "Image" and out["ir_mode"] == "L"
    assert "Value('string')" in out["captions"] and "Value('string')" in out["ir_captions"]
    assert out["n_captions"] == 5


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("loading")
    (root / "s").mkdir()
    write_dataset_folder(make_records(8, root / "s"), root / "ds", progress=False)
    return root / "ds"


def test_name_with_data_dir_equals_plain_folder_load(folder):
    by_name = datasets.load_dataset("fusionrs", data_dir=str(folder), split="train")
    plain = datasets.load_dataset(str(folder), split="train")
    public = fusionrs.load_dataset(folder, split="train")
    assert by_name["id"] == plain["id"] == public["id"]
    for a, b in zip(by_name, plain):
        assert np.array_equal(np.asarray(a["ir"]), np.asarray(b["ir"]))


def test_relative_data_dir_from_another_working_directory(folder, tmp_path, monkeypatch):
    """The README's `load_dataset("fusionrs", data_dir="my_build")`: relative to the working directory."""
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "my_build").symlink_to(folder, target_is_directory=True)
    monkeypatch.chdir(tmp_path / "work")
    expected = datasets.load_dataset(str(folder), split="train")["id"]
    assert datasets.load_dataset("fusionrs", data_dir="my_build", split="train")["id"] == expected
    stream = datasets.load_dataset("fusionrs", data_dir="my_build", split="train", streaming=True)
    assert [row["id"] for row in stream] == expected
    monkeypatch.chdir(folder.parent)
    assert datasets.load_dataset("fusionrs", data_dir=folder.name, split="train")["id"] == expected


def test_name_streaming(folder):
    stream = datasets.load_dataset("fusionrs", data_dir=str(folder), split="validation", streaming=True)
    ids = [row["id"] for row in stream]
    assert ids == datasets.load_dataset(str(folder), split="validation")["id"]


def test_missing_folder_is_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        datasets.load_dataset("fusionrs", data_dir=str(missing))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a FusionRS dataset folder"):
        fusionrs.load_dataset(tmp_path / "empty")


def test_other_dataset_names_are_untouched(folder):
    shard = sorted((folder / "data").glob("train-*.parquet"))[0]
    ds = datasets.load_dataset("parquet", data_files=str(shard), split="train")
    assert len(ds) > 0 and ds.features["rgb"] == datasets.Image(mode="RGB")
