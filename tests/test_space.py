"""The Space: the real app served by `fusionrs space` in a subprocess on 127.0.0.1, driven with gradio_client.

Every named endpoint is called (translate, caption, classify, search, browse, batch) with a tiny seeded translator,
a tiny CLIP model and a tiny world dataset built here; uploads over the limits come back as friendly errors.
In-process: the class-stratified gallery, examples from the loaded dataset, thumbnail size, the no-captioner
statement and the batch limit.
The same running server is shared with tests/test_space_browser.py (`shared_space`).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_MEGAPIXELS = 0.1  # small limits so "too large" files stay small in the test
MAX_UPLOAD_MB = 0.5
ENDPOINTS = ("/translate", "/caption", "/classify", "/search", "/browse", "/batch")
START_TIMEOUT_S = 180


@dataclass
class SpaceServer:
    url: str
    process: subprocess.Popen
    root: Path
    translator: str  # the spec the Space runs
    clip: Path
    data: Path
    rgb: Path  # a 128 px world scene (RGB PNG)
    ir: Path  # its IR (L PNG)
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _build_assets(root: Path) -> dict[str, Path]:
    """Tiny, seeded: a world dataset (train 10 / test 4 at 64 px), a random tiny translator and CLIP."""
    import torch

    torch.set_num_threads(1)
    from fusionrs.clip.compose import build_clip, save_clip
    from fusionrs.data.loading import write_world_folder
    from fusionrs.synth import generate_scene
    from fusionrs.translate.model import build_unet, load_preset
    from fusionrs.translate.train import save_translator

    data = root / "data"
    # The docs screenshots (FUSIONRS_SPACE_SCREENSHOT=1) show thumbnails at their own resolution.
    image_size = 160 if os.environ.get("FUSIONRS_SPACE_SCREENSHOT") else 64
    write_world_folder(data, sizes={"train": 10, "test": 4}, image_size=image_size, seed=0, progress=False)
    translator = root / "translator"
    save_translator(translator, build_unet("tiny", seed=3), pixel_shuffle=load_preset("tiny")["pixel_shuffle"],
                    preset="tiny", sources=["world"])
    clip = root / "clip"
    model, processor = build_clip("tiny", seed=0)
    save_clip(clip, model, processor, {"init": "tiny", "note": "random weights, test only"})
    scene = generate_scene(5, seed=3, size=128)  # a river scene
    rgb, ir = root / "scene_rgb.png", root / "scene_ir.png"
    Image.fromarray(scene.rgb).save(rgb)
    Image.fromarray(scene.ir).save(ir)
    # FUSIONRS_SPACE_TEST_TRANSLATOR swaps in a trained translator, e.g. for the docs screenshot.
    spec = os.environ.get("FUSIONRS_SPACE_TEST_TRANSLATOR") or f"fusionrs:{translator}"
    return {"data": data, "translator": spec, "clip": clip, "rgb": rgb, "ir": ir}


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`fusionrs space` exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"`fusionrs space` did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@functools.cache
def shared_space() -> SpaceServer:
    """Start the Space once per test session (both Space test files share it); stopped at exit."""
    root = Path(tempfile.mkdtemp(prefix="fusionrs-space-"))
    assets = _build_assets(root)
    port = _free_port()
    log = root / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    command = [sys.executable, "-m", "fusionrs.cli.main", "space", "--host", "127.0.0.1", "--port", str(port),
               "--translator", assets["translator"], "--clip", str(assets["clip"]),
               "--data", str(assets["data"]), "--max-megapixels", str(MAX_MEGAPIXELS),
               "--max-upload-mb", str(MAX_UPLOAD_MB), "--share", "no",
               "--no-local-models"]  # no VLM here, even in a checkout where `make run` trained one
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)

    def stop():
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    url = f"http://127.0.0.1:{port}/"
    _wait_until_up(url, process, log)
    return SpaceServer(url=url, process=process, root=root, log=log, **assets)


@pytest.fixture(scope="module")
def space() -> SpaceServer:
    return shared_space()


@pytest.fixture(scope="module")
def client(space):
    from gradio_client import Client

    return Client(space.url, verbose=False, download_files=str(space.root / "downloads"))


def _predict(client, *args, api_name):
    return client.predict(*args, api_name=api_name)


def _app_error(client, *args, api_name) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name)
    return str(info.value)


# ------------------------------------------------------------------------------------------- endpoints


def test_every_event_is_a_named_endpoint(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(ENDPOINTS) <= set(named)


def test_translate_returns_the_translators_ir(client, space):
    from gradio_client import handle_file

    from fusionrs.translate.base import get_translator

    rgb_out, ir_out, slider, info = _predict(client, handle_file(str(space.rgb)), api_name="/translate")
    rgb_in = Image.open(space.rgb).convert("RGB")
    expected = get_translator(space.translator).translate([rgb_in])[0]
    ir = Image.open(ir_out)
    assert ir.size == rgb_in.size
    assert np.array_equal(np.asarray(ir.convert("L")), np.asarray(expected))  # PNG: lossless, same model
    assert np.array_equal(np.asarray(Image.open(rgb_out).convert("RGB")), np.asarray(rgb_in))
    assert len(slider) == 2 and all(Path(p).is_file() for p in slider)
    from fusionrs.core.references import display_reference

    assert "fusionrs translator" in info and display_reference(space.translator) in info
    assert str(space.root) not in info  # no local path on the page


def test_caption_without_vlm_says_so_and_copies_no_other_caption(client, space):
    from gradio_client import handle_file

    import datasets

    from fusionrs.space.models import NO_CAPTIONER

    caption, ir_caption, ir_used, info = _predict(client, handle_file(str(space.rgb)), None, "RGB + IR", "",
                                                  api_name="/caption")
    splits = datasets.load_dataset(str(space.data)).values()
    all_captions = {c for split in splits for caps in split["captions"] for c in caps}
    assert caption == NO_CAPTIONER and "no captioning model" in caption
    assert not any(c in caption or c in ir_caption for c in all_captions)  # nothing of another image
    assert ir_caption.startswith("In this infrared-style image of the scene")
    assert "no captioning model is configured" in info and "grounded captioner on this image" in info
    assert "translated" in info
    assert Image.open(ir_used).size == (128, 128)

    mine = "A river crosses farmland with a road along it."
    caption, ir_caption, _, info = _predict(client, handle_file(str(space.rgb)), handle_file(str(space.ir)),
                                            "RGB + IR", mine, api_name="/caption")
    assert caption == mine
    assert "river" in ir_caption and "your IR upload" in info and "your caption" in info


def test_classify_scores_the_given_labels(client, space):
    from gradio_client import handle_file

    labels, used, info = _predict(client, handle_file(str(space.rgb)), "RGB", "river, forest, airport", None,
                                  api_name="/classify")
    scores = {c["label"]: c["confidence"] for c in labels["confidences"]}
    assert set(scores) == {"river", "forest", "airport"}
    assert abs(sum(scores.values()) - 1) < 1e-4 and labels["label"] in scores
    assert "templates" in info and "(your RGB image)" in info
    assert Image.open(used).mode == "RGB"

    # IR: the user's own IR upload (no RGB needed), else the RGB translated; the note says which.
    labels, used, info = _predict(client, None, "IR", "", handle_file(str(space.ir)), api_name="/classify")
    assert len(labels["confidences"]) >= 2 and "as IR (your IR upload)" in info  # default labels: the classes
    assert np.array_equal(np.asarray(Image.open(used).convert("L")), np.asarray(Image.open(space.ir).convert("L")))
    _, used, info = _predict(client, handle_file(str(space.rgb)), "IR", "river, forest", None, api_name="/classify")
    assert "as IR (IR translated from your RGB image" in info and Image.open(used).mode == "L"


def test_search_ranks_the_gallery_by_text_or_image(client, space):
    gallery, info = _predict(client, "a river crossing farmland", "IR", 3, None, None, api_name="/search")
    assert len(gallery) == 3
    assert all(Path(item["image"]).is_file() and item["caption"].startswith("world-") for item in gallery)
    assert "the text to 14 gallery IR images" in info
    message = _app_error(client, "  ", "RGB", 3, None, None, api_name="/search")
    assert "type a description" in message and "upload an image" in message

    from gradio_client import handle_file

    gallery, info = _predict(client, "", "IR", 2, None, handle_file(str(space.ir)), api_name="/search")
    assert len(gallery) == 2 and "of your IR upload to 14 gallery IR images" in info
    message = _app_error(client, "river", "IR", 2, None, handle_file(str(space.ir)), api_name="/search")
    assert "not both" in message


def test_batch_returns_a_zip_and_refuses_more_than_sixteen(client, space):
    import json
    import zipfile

    from gradio_client import handle_file

    zip_path, previews, table, info = _predict(client, [handle_file(str(space.rgb))] * 2, api_name="/batch")
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(archive.namelist())
        assert names == ["captions.csv", "captions.json", "ir/scene_rgb-2.png", "ir/scene_rgb.png"]
        items = json.loads(archive.read("captions.json"))["items"]
    assert [i["ir_aware_caption"][:28] for i in items] == ["In this infrared-style image"] * 2
    assert all(i["caption"] is None for i in items) and len(previews) == 2  # no captioner: no caption, said so
    assert "no captioning model" in info and len(table["data"]) == 2

    many = space.root / "many"
    many.mkdir(exist_ok=True)
    paths = []
    for i in range(17):
        Image.new("RGB", (8, 8), (i * 10, 80, 40)).save(many / f"{i}.png")
        paths.append(handle_file(str(many / f"{i}.png")))
    message = _app_error(client, paths, api_name="/batch")
    assert "This batch has 17 images; the Space takes up to 16 at once" in message


def test_browse_pages_through_a_split(client):
    html, rows, info, page = _predict(client, "train", 2, api_name="/browse")
    assert page == 2 and len(rows) == 2 and "rows 9-10 of 10" in info  # page size 8
    assert html.count("<img") == 4 and "IR-aware captions" in html
    _, rows, _, page = _predict(client, "test", 99, api_name="/browse")
    assert page == 1 and len(rows) == 4 and {r["split"] for r in rows} == {"test"}
    assert "not in the list of choices" in _app_error(client, "nope", 1, api_name="/browse")


# ------------------------------------------------------------------------------------------- validation


def test_oversized_uploads_are_rejected_with_a_friendly_message(client, space):
    from gradio_client import handle_file

    big = space.root / "big.png"
    Image.new("RGB", (400, 300), (40, 120, 60)).save(big)  # 0.12 MP > 0.1 MP
    message = _app_error(client, handle_file(str(big)), api_name="/translate")
    assert "too large: 400x300 = 120,000 pixels" in message and "0.1 megapixels" in message
    assert "Traceback" not in message

    heavy = space.root / "heavy.png"  # few pixels, many bytes (a 0.7 MB text chunk)
    meta = PngImagePlugin.PngInfo()
    meta.add_text("padding", "x" * 700_000)
    Image.new("RGB", (32, 32)).save(heavy, pnginfo=meta)
    message = _app_error(client, handle_file(str(heavy)), None, "RGB only", "", api_name="/caption")
    assert "file is too large" in message and "0.5 MB" in message

    text = space.root / "notes.png"
    text.write_text("not an image at all")
    message = _app_error(client, handle_file(str(text)), "RGB", "a, b", api_name="/classify")
    assert "not an image this Space can read" in message


def test_missing_upload_is_a_friendly_error(client):
    assert "Please upload the RGB image first" in _app_error(client, None, api_name="/translate")


# ------------------------------------------------------------------------------------------- in-process


def test_config_from_env_and_overrides(tmp_path):
    from fusionrs.space.config import SpaceConfig, SpaceConfigError, default_translator_spec

    env = {"FUSIONRS_SPACE_CLIP": "/models/clip", "FUSIONRS_SPACE_MAX_MEGAPIXELS": "2.5", "FUSIONRS_SPACE_VLM": " "}
    config = SpaceConfig.from_env(env, clip=None, data="/d")
    assert (config.clip, config.vlm, config.data, config.max_pixels) == ("/models/clip", None, "/d", 2_500_000)
    with pytest.raises(SpaceConfigError, match="FUSIONRS_SPACE_PAGE_SIZE"):
        SpaceConfig.from_env({"FUSIONRS_SPACE_PAGE_SIZE": "many"})
    with pytest.raises(SpaceConfigError, match="max_megapixels"):
        SpaceConfig(max_megapixels=0)
    spec = default_translator_spec()
    # the packaged default translator when installed (it is, in this checkout), else a local run or the baseline
    assert spec == "builtin:default"


def test_unconfigured_clip_tab_says_how_to_configure(space):
    from fusionrs.space.config import SpaceConfig
    from fusionrs.space.models import NotConfiguredError, SpaceModels

    models = SpaceModels(SpaceConfig(translator="grayscale", data=str(space.data)))
    with pytest.raises(NotConfiguredError, match="--clip DIR"):
        models.classify(Image.open(space.rgb), "RGB", ["a", "b"])
    assert "not configured" in models.status()["clip"]
    assert "grayscale" in models.translator_description()


def test_space_help_does_not_import_gradio():
    code = ("import sys; from fusionrs.cli.main import build_parser; build_parser(); "
            "print('gradio' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.split() == ["False", "False"]
    bad = subprocess.run([sys.executable, "-m", "fusionrs.cli.main", "space", "--share", "maybe"],
                         capture_output=True, text=True, cwd=REPO_ROOT)
    assert bad.returncode == 2 and "expected yes or no" in bad.stderr


def test_space_card_metadata_is_valid():
    from fusionrs.hub.cards import validate_card

    text = (REPO_ROOT / "spaces" / "fusionrs" / "README.md").read_text()
    assert validate_card(text, "space") == []
    assert 'sdk_version: "6.31.0"' in text and "app_file: app.py" in text


def test_linear_world_fallback_is_fitted_once_and_stated(space):
    from fusionrs.data.loading import cache_dir
    from fusionrs.space.config import LINEAR_WORLD, SpaceConfig
    from fusionrs.space.models import SpaceModels

    models = SpaceModels(SpaceConfig(translator=LINEAR_WORLD, data=str(space.data)))
    answer = models.translate(Image.new("RGB", (50, 40), (30, 120, 40)))
    assert answer.value.mode == "L" and answer.value.size == (50, 40)
    assert answer.source.startswith("**Baseline** linear colour fit")
    assert len(list((cache_dir() / "space").glob("linear-world*.json"))) == 1


def test_caption_with_a_vlm_goes_through_the_registered_pipeline(space, tmp_path):
    from tests.test_vlm import make_tiny_llava  # the VLM tests' tiny seeded LLaVA (hidden 32, 2 layers)

    from fusionrs.space.config import SpaceConfig
    from fusionrs.space.models import SpaceModels
    from fusionrs.vlm.compose import write_vlm_config

    model, processor = make_tiny_llava()
    folder = tmp_path / "vlm"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    write_vlm_config(folder, translator="grayscale", mode="rgb+ir")
    models = SpaceModels(SpaceConfig(translator=space.translator, vlm=str(folder), data=str(space.data)))
    rgb = Image.open(space.rgb)

    answer = models.caption(rgb, use_ir=True)
    assert isinstance(answer.value["caption"], str) and answer.value["caption"]  # random weights: any text
    assert isinstance(answer.value["ir_aware_caption"], str) and answer.value["ir_aware_caption"]
    assert answer.value["ir"].size == rgb.size  # the Space's own translator made the IR the model saw
    assert answer.source.startswith(f"Both captions: VLM `.../{folder.parent.name}/vlm` (RGB + IR; IR translated")
    assert str(tmp_path) not in answer.source  # no local path in what the page shows

    answer = models.caption(rgb, Image.new("L", rgb.size, 90), use_ir=False)
    assert answer.value["ir"] is None and "(RGB only)" in answer.source


# ------------------------------------------------------------------------------------------- registered pipelines


@pytest.fixture(scope="module")
def clip_models(space):
    from fusionrs.space.config import SpaceConfig
    from fusionrs.space.models import SpaceModels

    return SpaceModels(SpaceConfig(translator="grayscale", clip=str(space.clip), data=str(space.data)))


@pytest.mark.parametrize("modality, image_attr", [("RGB", "rgb"), ("IR", "ir")])
def test_classify_is_the_registered_zero_shot_pipeline(clip_models, space, modality, image_attr):
    from transformers import pipeline

    from fusionrs.clip.embed import ClipEmbedder
    from fusionrs.clip.zeroshot import classifier_weights, templates_for, zero_shot_logits
    from fusionrs.core.references import display_reference
    from fusionrs.pipelines.registry import register_pipelines

    register_pipelines()
    image = Image.open(getattr(space, image_attr))
    labels = ["river", "forest", "airport", "dense residential area"]
    if modality == "IR":  # the user's own IR image, no RGB
        answer = clip_models.classify(None, modality, labels + [" river ", ""], ir=image)
        image = image.convert("L")
    else:
        answer = clip_models.classify(image, modality, labels + [" river ", ""])  # repeats and blanks are dropped
    mod = modality.lower()

    # The same model folder in a pipeline of its own, with the modality's ensemble spelled out: the same scores.
    classify = pipeline("zero-shot-rgb-ir-classification", model=str(space.clip), device="cpu")
    expected = classify(image, candidate_labels=labels, modality=mod, hypothesis_template=list(templates_for(mod)))
    assert list(answer.value.items()) == [(o["label"], o["score"]) for o in expected]
    assert classify(image, candidate_labels=labels, modality=mod) == expected  # the ensemble is the default

    # ... which are the CLIP evaluation's numbers (`fusionrs eval clip`): mean of normalised template embeddings.
    embedder = ClipEmbedder.from_pretrained(str(space.clip), device="cpu")
    logits = zero_shot_logits(embedder.embed_images([image], modality=mod),
                              classifier_weights(embedder, labels, templates_for(mod)), embedder.logit_scale)
    assert answer.value == pytest.approx(dict(zip(labels, logits.softmax(-1)[0].tolist())), abs=1e-5)
    assert f"CLIP `{display_reference(space.clip)}` via `pipeline('zero-shot-rgb-ir-classification')`" in answer.source
    assert str(space.root) not in answer.source  # no local path on the page
    assert f"as {modality}" in answer.source and f"{len(templates_for(mod))} templates per label" in answer.source


def test_the_space_has_no_zero_shot_or_embedding_code_of_its_own():
    import ast

    tree = ast.parse((REPO_ROOT / "fusionrs" / "space" / "models.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    own = {"classifier_weights", "zero_shot_logits", "templates_for", "embed_images", "embed_texts", "softmax",
           "normalize"}
    assert not own & names


def test_search_by_text_and_by_image_uses_the_feature_extraction_pipeline(clip_models, space):
    import torch
    from transformers import pipeline

    from fusionrs.core.model_cache import default_cache

    features = pipeline("rgb-ir-feature-extraction", model=str(space.clip), device="cpu")
    gallery = clip_models.gallery()
    ir_gallery = torch.stack([features(item.ir, modality="ir") for item in gallery])
    query = "a river crossing farmland"
    answer = clip_models.search(query, "IR", k=3)
    top = torch.topk(ir_gallery @ features(query), 3)
    assert [item.id for item, _ in answer.value] == [gallery[i].id for i in top.indices.tolist()]
    assert [s for _, s in answer.value] == pytest.approx(top.values.tolist(), abs=1e-5)
    assert "via `pipeline('rgb-ir-feature-extraction')`" in answer.source

    # An image query: the user's IR against the IR gallery (no translation), the RGB against the RGB gallery.
    ir = Image.open(space.ir).convert("L")
    answer = clip_models.search("", "IR", k=3, ir=ir)
    top = torch.topk(ir_gallery @ features(ir, modality="ir"), 3)
    assert [item.id for item, _ in answer.value] == [gallery[i].id for i in top.indices.tolist()]
    assert "your IR upload" in answer.source
    rgb = Image.open(space.rgb).convert("RGB")
    answer = clip_models.search("", "RGB", k=2, rgb=rgb)
    rgb_sims = torch.stack([features(g.rgb, modality="rgb") for g in gallery]) @ features(rgb, modality="rgb")
    assert [item.id for item, _ in answer.value] == [gallery[i].id for i in torch.topk(rgb_sims, 2).indices.tolist()]
    assert "your RGB image" in clip_models.search("", "RGB", k=1, rgb=rgb).source

    # Both tasks wrap one loaded model; asking again loads nothing.
    zero_shot = clip_models.clip_pipeline("zero-shot-rgb-ir-classification")
    assert zero_shot.model is clip_models.clip_pipeline("rgb-ir-feature-extraction").model
    loads = default_cache.loads
    clip_models.search(query, "RGB", k=2)
    clip_models.classify(rgb, "RGB", ["river", "forest"])
    assert default_cache.loads == loads and clip_models.clip_pipeline("zero-shot-rgb-ir-classification") is zero_shot


@pytest.mark.parametrize("call, message", [
    (lambda m, im: m.classify(im, "thermal", ["a", "b"]), "modality must be 'RGB' or 'IR'"),
    (lambda m, im: m.classify(im, "RGB", ["river", " river"]), "at least two different labels"),
    (lambda m, im: m.search("", "RGB"), "type a description"),
    (lambda m, im: m.search("river", "RGB", rgb=im), "not both"),
    (lambda m, im: m.classify(None, "RGB", ["a", "b"]), "upload the RGB image first"),
    (lambda m, im: m.clip_pipeline("image-classification"), "task must be one of"),
])
def test_clip_tabs_reject_bad_input_by_name(clip_models, space, call, message):
    from fusionrs.errors import FusionRSError

    with pytest.raises(FusionRSError, match=message):
        call(clip_models, Image.open(space.rgb))


# ------------------------------------------------------------------------------------------- gallery, examples, limits


CLASSES = [f"class{c:02d}" for c in range(6)]


@pytest.fixture(scope="module")
def sorted_data(tmp_path_factory) -> Path:
    """A dataset listed class by class (as many archives are): 6 classes x 4 rows in test, 6 x 2 in train.

    Its scenes are flat colours with ids and captions of their own, so anything shown from it is recognisably
    from this dataset, not from the procedural world.
    """
    from fusionrs.data.folder import write_dataset_folder
    from fusionrs.data.schema import FusionRecord

    records = []
    for split, per_class in (("test", 4), ("train", 2)):
        for c, name in enumerate(CLASSES):
            for j in range(per_class):
                records.append(FusionRecord(
                    id=f"mine-{split}-{name}-{j}", rgb=Image.new("RGB", (48, 40), (40 * c, 200 - 30 * j, 90)),
                    ir=Image.new("L", (48, 40), 30 * c + j), captions=[f"A flat {name} scene number {j}."],
                    class_name=name, split=split, source_dataset="mine"))
    folder = tmp_path_factory.mktemp("sorted") / "data"
    write_dataset_folder(records, folder, progress=False, license="cc0-1.0")
    return folder


def test_stratified_rows_spread_over_classes_seeded_and_evaluation_first():
    from fusionrs.space.models import stratified_rows

    # 30 classes listed class by class, 40 rows each: the first 256 rows hold 7 classes.
    classes = {"train": [f"c{c}" for c in range(30) for _ in range(40)], "test": [f"c{c}" for c in range(30) for _ in range(5)]}
    ids = {split: [f"{split}-{i}" for i in range(len(names))] for split, names in classes.items()}
    rows = stratified_rows(classes, ids, 256, seed=0)
    assert len(rows) == 256 and len(set(rows)) == 256
    assert len({classes[s][i] for s, i in rows}) == 30  # every class
    assert len({classes["train"][i] for i in range(256)}) == 7  # what the first 256 rows would have held
    per_class = {}
    for s, i in rows:
        per_class.setdefault(classes[s][i], []).append(s)
    assert all(8 <= len(v) <= 9 for v in per_class.values())  # 256 / 30 each (largest remainder)
    assert all(v.count("test") == 5 for v in per_class.values())  # evaluation rows first within each class
    assert rows == sorted(rows, key=lambda r: (r[0] != "test", r[1]))  # test split first, dataset order
    assert stratified_rows(classes, ids, 256, seed=0) == rows and stratified_rows(classes, ids, 256, seed=1) != rows
    assert stratified_rows({"train": ["a", "b"]}, {"train": ["x", "y"]}, 10, seed=0) == [("train", 0), ("train", 1)]
    with pytest.raises(ValueError, match="2 class names but 1 ids"):
        stratified_rows({"train": ["a", "b"]}, {"train": ["x"]}, 1, seed=0)


def test_gallery_and_examples_come_from_the_loaded_dataset_stratified(sorted_data):
    from fusionrs.space.config import SpaceConfig
    from fusionrs.space.models import SpaceModels

    models = SpaceModels(SpaceConfig(translator="grayscale", data=str(sorted_data), gallery_size=6, examples=4))
    gallery = models.gallery()
    assert len(gallery) == 6 and {g.class_name for g in gallery} == set(CLASSES)  # the first 6 rows: 2 classes
    assert {g.split for g in gallery} == {"test"} and all(g.id.startswith("mine-test-") for g in gallery)
    assert "6 scenes of 6 classes, stratified over classes (seed 0) from 36 rows" == models.gallery_description()
    examples = models.examples()
    assert len(examples) == 4 and len({e.class_name for e in examples}) == 4
    assert all(e.id.startswith("mine-") and e.captions[0].startswith("A flat ") for e in examples)
    row = {r["id"]: r for r in models.dataset()["test"]}[examples[0].id]
    assert np.array_equal(np.asarray(examples[0].rgb), np.asarray(row["rgb"].convert("RGB")))
    other = SpaceModels(SpaceConfig(translator="grayscale", data=str(sorted_data), gallery_size=6, seed=3))
    assert [g.id for g in other.gallery()] != [g.id for g in gallery]  # the seed picks the rows


def test_the_page_offers_examples_of_the_loaded_dataset(sorted_data):
    from fusionrs.space.app import build_demo
    from fusionrs.space.config import SpaceConfig
    from fusionrs.space.models import SpaceModels

    models = SpaceModels(SpaceConfig(translator="grayscale", data=str(sorted_data), gallery_size=6, examples=3))
    config = build_demo(models=models).get_config_file()
    datasets = [c["props"] for c in config["components"] if c.get("type") == "dataset"]
    assert datasets and all(p["label"].startswith("Examples from the dataset: class") for p in datasets)
    wanted = {np.asarray(e.rgb).tobytes() for e in models.examples()}
    shown = set()
    for props in datasets:
        for sample in props["samples"]:
            path = sample[0]["path"] if isinstance(sample[0], dict) else sample[0]
            shown.add(np.asarray(Image.open(path).convert("RGB")).tobytes())
    assert wanted <= shown  # the examples' pixels are the dataset's rows


def test_dataset_thumbnails_are_large_enough_to_judge_ir(sorted_data):
    import base64
    import io
    import re

    from fusionrs.space.app import THUMB_PX, rows_html
    from fusionrs.space.config import SpaceConfig
    from fusionrs.space.models import SpaceModels

    assert THUMB_PX >= 160
    rows = SpaceModels(SpaceConfig(translator="grayscale", data=str(sorted_data))).browse("test", 1).value
    html = rows_html(rows)
    images = re.findall(r"<img alt='(RGB|IR) [^']*' src='data:image/png;base64,([^']+)' width='(\d+)' height='(\d+)'",
                        html)
    assert len(images) == 2 * len(rows) == 16
    for kind, data, width, height in images:
        thumb = Image.open(io.BytesIO(base64.b64decode(data)))
        assert thumb.size == (int(width), int(height)) == (THUMB_PX, THUMB_PX * 40 // 48)  # 48x40 enlarged
        assert thumb.mode == ("L" if kind == "IR" else "RGB")
    assert "max-width:none" in html and html.count(f"min-width:{THUMB_PX}px") == 16
    assert "<i>no IR image</i>" in rows_html([{**rows[0], "ir": None}])


def test_no_captioner_is_stated_and_the_batch_limit_holds(sorted_data):
    from fusionrs.errors import FusionRSError
    from fusionrs.space.config import SpaceConfig, SpaceConfigError
    from fusionrs.space.models import NO_CAPTIONER, SpaceModels

    models = SpaceModels(SpaceConfig(translator="grayscale", data=str(sorted_data)))
    assert models.status()["captioner"].startswith("**No captioning model is configured**")
    rgb = models.gallery()[0].rgb  # an image of the gallery itself: still none of its captions is copied
    answer = models.caption(rgb)
    assert answer.value["caption"] == NO_CAPTIONER and "A flat" not in answer.value["ir_aware_caption"]
    assert answer.value["ir_aware_caption"].startswith("In this infrared-style image of the scene")
    assert "none written: no captioning model is configured" in answer.source

    images = [(f"{i}.png", Image.new("RGB", (8, 8), (i, 0, 0))) for i in range(17)]
    with pytest.raises(FusionRSError, match="This batch has 17 images; the Space takes up to 16 at once"):
        models.batch(images)
    with pytest.raises(FusionRSError, match="at least one image"):
        models.batch([])
    results = models.batch(images[:16]).value
    assert len(results) == 16 and all(r["caption"] is None and r["ir"].size == (8, 8) for r in results)
    assert SpaceConfig.from_env({"FUSIONRS_SPACE_MAX_BATCH": "4"}).max_batch == 4
    with pytest.raises(SpaceConfigError, match="max_batch"):
        SpaceConfig(max_batch=65)
