"""`fusionrs push` end to end against a fake hub on 127.0.0.1, then loading back by repo id.

Each case runs in a subprocess: huggingface_hub, datasets and transformers read HF_ENDPOINT and
HF_HUB_OFFLINE once at import, and this test process is offline (conftest). Every subprocess gets its
own empty HF_HOME, so a load really downloads from the fake hub instead of reading a cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with FakeHub(tmp_path_factory.mktemp("fake_hub")) as server:
        yield server


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A tiny built dataset, translator, CLIP and LLaVA folder (seeded, hidden 32, 2 layers)."""
    import torch
    from transformers import CLIPConfig, CLIPModel, LlavaConfig, LlavaForConditionalGeneration

    from fusionrs.data.loading import write_world_folder
    from fusionrs.translate.model import build_unet, load_preset
    from fusionrs.translate.train import save_translator

    root = tmp_path_factory.mktemp("push_folders")
    write_world_folder(root / "ds", sizes={"train": 3, "test": 2}, image_size=32, seed=0, progress=False)
    save_translator(root / "tr", build_unet("tiny", seed=3), pixel_shuffle=load_preset("tiny")["pixel_shuffle"],
                    preset="tiny", sources=["world", "llvip"])
    layers = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2)
    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(
        text_config=dict(layers, vocab_size=99, max_position_embeddings=16, bos_token_id=0, eos_token_id=1),
        vision_config=dict(layers, image_size=28, patch_size=14), projection_dim=16))
    clip.save_pretrained(root / "clip")
    (root / "clip" / "fusionrs_clip.json").write_text(json.dumps({"init": "tiny", "epochs": 1, "lr": 5e-6,
                                                                  "data": str(root / "ds")}))
    (root / "clip_eval.json").write_text(json.dumps({"results": {
        "retrieval": {"ir->caption": {"R@1": 10.0, "R@5": 30.0, "R@10": 50.0},
                      "caption->ir": {"R@1": 12.0, "R@5": 28.0, "R@10": 52.0}},
        "mean_recall": 30.33}}))
    torch.manual_seed(0)
    vlm = LlavaForConditionalGeneration(LlavaConfig(
        vision_config=dict(layers, model_type="clip_vision_model", image_size=28, patch_size=14),
        text_config=dict(layers, model_type="llama", num_key_value_heads=2, vocab_size=128),
        image_token_index=120))
    vlm.save_pretrained(root / "vlm")
    (root / "vlm" / "fusionrs_vlm.json").write_text(json.dumps({"training_data": ["llvip"], "lora_r": 16}))
    (root / "vlm_eval.json").write_text(json.dumps({"bleu_4": 0.12, "rouge_l": 0.34, "cider": 0.56, "n": 24}))
    return root


def run_client(hub: FakeHub, code: str, tmp_path: Path, *, timeout: int = 240) -> dict:
    """Run `code` in a fresh interpreter talking to the fake hub; it prints one JSON line last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN="hf_fake", HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf_home"),
               HF_HUB_DISABLE_TELEMETRY="1", HF_UPDATE_DOWNLOAD_COUNTS="0", FUSIONRS_CACHE=str(tmp_path / "fr"),
               OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"client failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}\n"
                             "fake hub log:\n" + "\n".join(hub.log[-30:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_dataset_push_and_load_by_repo_id(hub, folders, tmp_path):
    out = run_client(hub, f"""
        import contextlib, io, json
        from fusionrs.cli.main import main
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["push", "dataset", {str(folders / "ds")!r}, "--repo", "org/world"])
        import datasets
        ds = datasets.load_dataset("org/world")
        row = ds["train"][0]
        streamed = next(iter(datasets.load_dataset("org/world", split="test", streaming=True)))  # HfFileSystem reads
        print(json.dumps({{"rc": rc, "printed": buf.getvalue(), "splits": {{k: len(v) for k, v in ds.items()}},
                          "ir": [row["ir"].mode, row["ir"].size[0]], "rgb": row["rgb"].mode,
                          "streamed": streamed["id"] in ds["test"]["id"]}}))
    """, tmp_path)
    assert out["rc"] == 0
    assert f"{hub.endpoint}/datasets/org/world" in out["printed"] and "data/train-00000-of-00001.parquet" in out["printed"]
    assert out["splits"] == {"train": 3, "test": 2}
    assert out["ir"] == ["L", 32] and out["rgb"] == "RGB" and out["streamed"]
    files = hub.repo_files("org/world", "dataset")
    assert {"README.md", "generation.json"} <= set(files) and any(f.startswith("data/") for f in files)
    from fusionrs.hub.cards import validate_card

    card = (hub.root / "datasets" / "org/world" / "tree" / "README.md").read_text()
    assert validate_card(card, "dataset") == []
    assert 'load_dataset("org/world")' in card and "## Citation" in card


def test_translator_push_and_load_by_repo_id(hub, folders, tmp_path):
    out = run_client(hub, f"""
        import json
        import numpy as np
        from PIL import Image
        from fusionrs.hub.push import push_folder
        report = push_folder("model", {str(folders / "tr")!r}, "org/translator")
        import fusionrs
        from fusionrs.translate.pipeline_rgb_to_ir import RGBToIRPipeline
        pipe = RGBToIRPipeline.from_pretrained("org/translator")
        rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
        ir = pipe(rgb).images[0]
        from diffusers import UNet2DModel
        unet = UNet2DModel.from_pretrained("org/translator", subfolder="unet")
        from fusionrs.hub.resolve import resolve_repo
        from fusionrs.translate.base import get_translator
        local = np.asarray(get_translator("fusionrs:{folders / "tr"}").translate([rgb])[0])
        remote = np.asarray(get_translator("fusionrs:" + str(resolve_repo("org/translator"))).translate([rgb])[0])
        print(json.dumps({{"url": report.url, "kind": report.model_kind, "ir": [ir.mode, ir.size[0]],
                          "unet_params": sum(p.numel() for p in unet.parameters()),
                          "same": bool((local == remote).all())}}))
    """, tmp_path)
    assert out["url"] == f"{hub.endpoint}/org/translator" and out["kind"] == "translator"
    assert out["ir"] == ["L", 32] and out["unet_params"] > 0 and out["same"]
    card = (hub.root / "models" / "org/translator" / "tree" / "README.md").read_text()
    assert "license_name: non-commercial-research" in card and "llvip" in card
    from fusionrs.hub.cards import validate_card

    assert validate_card(card, "model") == []


def test_clip_push_with_eval_and_load_by_repo_id(hub, folders, tmp_path):
    out = run_client(hub, f"""
        import json, torch
        from fusionrs.hub.push import push_folder
        push_folder("model", {str(folders / "clip")!r}, "org/clip",
                    card_options={{"eval_json": [{str(folders / "clip_eval.json")!r}],
                                   "base_model": "openai/clip-vit-base-patch32"}})
        from transformers import AutoModel
        remote = AutoModel.from_pretrained("org/clip")
        local = AutoModel.from_pretrained({str(folders / "clip")!r})
        same = all(torch.equal(a, b) for a, b in zip(remote.state_dict().values(), local.state_dict().values()))
        print(json.dumps({{"cls": type(remote).__name__, "same": same}}))
    """, tmp_path)
    assert out == {"cls": "CLIPModel", "same": True}
    from huggingface_hub import ModelCard

    from fusionrs.hub.cards import validate_card

    text = (hub.root / "models" / "org/clip" / "tree" / "README.md").read_text()
    assert validate_card(text, "model") == []
    data = ModelCard(text).data
    assert data.pipeline_tag == "zero-shot-image-classification" and data.library_name == "transformers"
    assert data.base_model == "openai/clip-vit-base-patch32"
    values = {r.metric_name: r.metric_value for r in data.eval_results}
    assert values["mean_recall"] == 30.33 and values["ir->caption R@1"] == 10.0


def test_vlm_push_and_load_by_repo_id(hub, folders, tmp_path):
    out = run_client(hub, f"""
        import json, torch
        from fusionrs.cli.main import main
        rc = main(["push", "model", {str(folders / "vlm")!r}, "--repo", "org/vlm", "--eval", {str(folders / "vlm_eval.json")!r}])
        from transformers import AutoModelForImageTextToText
        model = AutoModelForImageTextToText.from_pretrained("org/vlm")
        print(json.dumps({{"rc": rc, "cls": type(model).__name__, "params": sum(p.numel() for p in model.parameters())}}))
    """, tmp_path)
    assert out["rc"] == 0 and out["cls"] == "LlavaForConditionalGeneration" and out["params"] > 0
    from huggingface_hub import ModelCard

    from fusionrs.hub.cards import validate_card

    text = (hub.root / "models" / "org/vlm" / "tree" / "README.md").read_text()
    assert validate_card(text, "model") == []
    data = ModelCard(text).data
    assert data.pipeline_tag == "image-text-to-text"
    assert data.license == "other" and data.license_name == "non-commercial-research"  # LLVIP in its notes
    assert {r.metric_type for r in data.eval_results} == {"bleu_4", "rouge_l", "cider", "n"}


def test_hf_source_reads_a_pushed_dataset_by_repo_id(hub, folders, tmp_path):
    """`fusionrs build hf:ORG/NAME`: the source spec resolves the repo id through the hub, and a build runs on it."""
    out = run_client(hub, f"""
        import json
        import datasets
        from fusionrs.hub.push import push_folder
        push_folder("dataset", {str(folders / "ds")!r}, "org/hf-source")
        from fusionrs.data.build import BuildConfig, build_dataset
        from fusionrs.data.sources import iter_source, parse_source
        spec = parse_source("hf:org/hf-source")
        items = list(iter_source(spec))
        build_dataset(BuildConfig(sources=[spec]), {str(tmp_path / "built")!r}, progress=False)
        built = datasets.load_dataset({str(tmp_path / "built")!r})
        print(json.dumps({{"n": len(items), "has_bytes": all(isinstance(i.image, bytes) for i in items),
                          "splits": sorted({{i.source_split for i in items}}), "captions": bool(items[0].captions),
                          "name": spec.name, "built": {{k: v.num_rows for k, v in built.items()}}}}))
    """, tmp_path)
    assert out == {"n": 5, "has_bytes": True, "splits": ["test", "train"], "captions": True, "name": "org__hf_source",
                   "built": {"test": 2, "train": 3}}


def test_offline_repo_id_fails_fast_with_advice(folders, tmp_path):
    # this process is offline (conftest sets HF_HUB_OFFLINE=1 before huggingface_hub is imported)
    from fusionrs.hub.push import push_folder
    from fusionrs.hub.resolve import HubOfflineError, resolve_dataset_source, resolve_repo

    for call in (lambda: resolve_repo("org/not-cached"), lambda: resolve_dataset_source("org/not-cached")):
        start = time.perf_counter()
        with pytest.raises(HubOfflineError) as info:
            call()
        assert time.perf_counter() - start < 2.0
        message = str(info.value)
        assert "HF_HUB_OFFLINE" in message and "hf download org/not-cached" in message and "local folder" in message
    assert resolve_repo(folders / "tr") == folders / "tr"  # local folders never touch the hub
    with pytest.raises(HubOfflineError, match="offline"):
        push_folder("model", folders / "tr", "org/translator")


def test_push_cli_offline_is_one_line_and_exit_2(folders, capsys):
    from fusionrs.cli.main import main

    start = time.perf_counter()
    assert main(["push", "dataset", str(folders / "ds"), "--repo", "org/x"]) == 2
    assert time.perf_counter() - start < 2.0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "HF_HUB_OFFLINE" in err


def test_dry_run_lists_files_and_card_without_writing(folders, capsys):
    from fusionrs.cli.main import main

    readme = folders / "clip" / "README.md"
    readme.unlink(missing_ok=True)
    assert main(["push", "model", str(folders / "clip"), "--repo", "org/clip", "--dry-run",
                 "--eval", str(folders / "clip_eval.json")]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "model.safetensors" in out and "model-index:" in out and "----- README.md" in out
    assert not readme.exists()


@pytest.mark.parametrize("kind, make, message", [
    ("dataset", lambda d: (d / "README.md").write_text("---\nlicense: mit\n---\n"), "data/\\*.parquet"),
    ("model", lambda d: ((d / "config.json").write_text('{"model_type": "clip"}'),
                         (d / "pytorch_model.bin").write_bytes(b"x")), "safe_serialization"),
    ("space", lambda d: (d / "README.md").write_text("---\ntitle: x\nsdk: gradio\n---\n"), "app.py"),
])
def test_wrong_folders_are_refused_before_any_upload(tmp_path, kind, make, message):
    from fusionrs.hub.push import FolderError, push_folder

    make(tmp_path)
    with pytest.raises(FolderError, match=message):
        push_folder(kind, tmp_path, "org/x", dry_run=True)


def test_space_push_and_download_and_missing_repo(hub, tmp_path):
    space = tmp_path / "space"
    space.mkdir()
    (space / "app.py").write_text("import gradio as gr\n")
    (space / "requirements.txt").write_text("fusionrs\n")
    (space / "README.md").write_text("---\ntitle: FusionRS demo\nemoji: 🛰️\ncolorFrom: blue\ncolorTo: gray\n"
                                     "sdk: gradio\nsdk_version: \"6.31.0\"\napp_file: app.py\nlicense: apache-2.0\n---\n# demo\n")
    out = run_client(hub, f"""
        import json, os
        from fusionrs.hub.push import push_folder
        report = push_folder("space", {str(space)!r}, "org/demo", private=True)
        from huggingface_hub import snapshot_download
        local = snapshot_download("org/demo", repo_type="space")
        from fusionrs.hub.resolve import HubRepoNotFoundError, resolve_repo
        try:
            resolve_repo("org/missing", "dataset")
            missing = None
        except HubRepoNotFoundError as error:
            missing = str(error)
        print(json.dumps({{"url": report.url, "files": sorted(os.listdir(local)), "missing": missing}}))
    """, tmp_path)
    assert out["url"] == f"{hub.endpoint}/spaces/org/demo"
    assert out["files"] == ["README.md", "app.py", "requirements.txt"]
    assert "org/missing: no such hub dataset repo" in out["missing"]  # online: a clear error, not a traceback
    meta = json.loads((hub.root / "spaces" / "org/demo" / "meta.json").read_text())
    assert meta["private"] is True and meta["sdk"] == "gradio"


def test_space_folder_deploys_with_its_wheel_built_uploaded_and_pinned(hub, tmp_path):
    """spaces/fusionrs as it is committed: the push builds the wheel, uploads it and pins it by URL + sha256."""
    import shutil

    space = tmp_path / "space"
    shutil.copytree(REPO_ROOT / "spaces" / "fusionrs", space)
    before = (space / "requirements.txt").read_text()
    out = run_client(hub, f"""
        import hashlib, json, os, urllib.request
        from fusionrs.hub.push import push_folder, describe
        report = push_folder("space", {str(space)!r}, "org/fusionrs-space")
        from huggingface_hub import snapshot_download
        local = snapshot_download("org/fusionrs-space", repo_type="space")
        requirements = open(os.path.join(local, "requirements.txt")).read()
        line = next(l for l in requirements.splitlines() if l.startswith("fusionrs @ "))
        url, _, digest = line[len("fusionrs @ "):].partition("#sha256=")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
        fetched = opener.open(url, timeout=60).read()  # the URL pip will fetch, from the Space repo itself
        print(json.dumps({{"files": sorted(os.listdir(local)), "url": url, "digest": digest,
                          "fetched": hashlib.sha256(fetched).hexdigest(), "summary": describe(report)}}))
    """, tmp_path)
    wheel = "fusionrs-0.1.0-py3-none-any.whl"
    assert out["files"] == ["README.md", "app.py", wheel, "requirements.txt"]
    assert out["url"] == f"{hub.endpoint}/spaces/org/fusionrs-space/resolve/main/{wheel}"
    assert out["fetched"] == out["digest"] and len(out["digest"]) == 64  # pinned: exactly the uploaded wheel
    assert f"fusionrs @ {out['url']}#sha256=" in out["summary"]
    assert (space / "requirements.txt").read_text() == before and not list(space.glob("*.whl"))  # folder untouched


def test_space_wheel_pinning_refuses_what_would_not_deploy(tmp_path):
    import shutil
    import zipfile

    from fusionrs.hub.push import FolderError, build_wheel, pin_space_wheel, push_folder

    text = "# fusionrs-wheel (pinned by fusionrs push space)\ntorch==2.13.0\n"
    assert pin_space_wheel(text, "https://h/x.whl#sha256=ab") == "fusionrs @ https://h/x.whl#sha256=ab\ntorch==2.13.0\n"
    with pytest.raises(FolderError, match="no `# fusionrs-wheel` line"):
        pin_space_wheel("torch\n", "u")
    with pytest.raises(FolderError, match="both installs fusionrs and has the wheel marker"):
        pin_space_wheel(text + "fusionrs @ git+https://example.org/fusionrs\n", "u")
    with pytest.raises(FolderError, match="not a fusionrs source checkout"):
        build_wheel(tmp_path / "out", source=tmp_path)

    space = tmp_path / "space"
    shutil.copytree(REPO_ROOT / "spaces" / "fusionrs", space)
    fake = tmp_path / "fusionrs-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(FolderError, match="holds no fusionrs/__init__.py"):
        push_folder("space", space, "org/x", dry_run=True, space_wheel=fake)
    with pytest.raises(FolderError, match="not a fusionrs wheel"):
        push_folder("space", space, "org/x", dry_run=True, space_wheel=tmp_path / "space" / "app.py")
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("fusionrs/__init__.py", "")
    report = push_folder("space", space, "org/x", dry_run=True, space_wheel=fake)
    assert ("fusionrs-0.1.0-py3-none-any.whl", fake.stat().st_size) in report.files
    assert any(n.startswith("requirements.txt as uploaded: fusionrs @ ") and "/spaces/org/x/resolve/main/" in n
               for n in report.notes)
