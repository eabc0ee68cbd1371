"""`pipeline("rgb-ir-feature-extraction")` and `pipeline("zero-shot-rgb-ir-classification")` on a tiny CLIP folder,
in this process and in a fresh one (the tasks exist only after `import fusionrs`)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import fusionrs  # noqa: F401  (registers the pipeline tasks with transformers)
from fusionrs.clip.embed import ClipEmbedder
from tests.test_clip_eval import build_tiny_clip

torch.set_num_threads(1)
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip_pipe"), seed=3)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), "RGB")
    return rgb, rgb.convert("L")


@pytest.fixture(scope="module")
def features(tiny_clip):
    from transformers import pipeline

    return pipeline("rgb-ir-feature-extraction", model=str(tiny_clip), device="cpu")


@pytest.fixture(scope="module")
def zero_shot(tiny_clip):
    from transformers import pipeline

    return pipeline("zero-shot-rgb-ir-classification", model=str(tiny_clip), device="cpu")


def test_feature_extraction_matches_the_embedder(features, tiny_clip, images):
    rgb, ir = images
    embedder = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    out = features({"rgb": rgb, "ir": ir, "text": "a harbour with boats."})
    assert set(out) == {"rgb", "ir", "text"}
    assert torch.allclose(out["rgb"], embedder.embed_images([rgb])[0], atol=1e-5)
    assert torch.allclose(out["ir"], embedder.embed_images([ir], modality="ir")[0], atol=1e-5)
    assert torch.allclose(out["text"], embedder.embed_texts(["a harbour with boats."])[0], atol=1e-5)
    assert out["rgb"].shape == (16,) and abs(float(out["ir"].norm()) - 1) < 1e-5


def test_feature_extraction_input_forms(features, images):
    rgb, ir = images
    text = features("a forest.")
    assert isinstance(text, torch.Tensor) and text.shape == (16,)
    assert torch.allclose(features({"text": "a forest."})["text"], text)
    assert torch.allclose(features(ir, modality="ir"), features({"ir": ir})["ir"])
    batch = features([{"rgb": rgb}, {"ir": ir}, {"text": "x"}])
    assert [list(b) for b in batch] == [["rgb"], ["ir"], ["text"]]
    listed = features({"text": ["a", "b", "c"]})
    assert len(listed) == 3 and all(set(item) == {"text"} for item in listed)
    as_list = features("a forest.", return_tensors=False)
    assert isinstance(as_list, list) and len(as_list) == 16
    with pytest.raises(ValueError, match="input keys"):
        features({"thermal": ir})
    with pytest.raises(ValueError, match="differ in length"):
        features({"rgb": [rgb], "text": ["a", "b"]})


def test_zero_shot_output_like_transformers(zero_shot, images):
    rgb, ir = images
    labels = ["forest", "harbour", "airport"]
    out = zero_shot(ir, candidate_labels=labels, modality="ir")
    assert sorted(o["label"] for o in out) == sorted(labels)
    scores = [o["score"] for o in out]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-5)
    batch = zero_shot([rgb, rgb], candidate_labels=labels, hypothesis_template="an aerial image of {}.")
    assert len(batch) == 2 and batch[0] == batch[1]
    ensemble = zero_shot(rgb, candidate_labels=labels, hypothesis_template=["a {}.", "the {} from above."])
    assert len(ensemble) == 3
    assert [o["label"] for o in zero_shot(rgb, candidate_labels="forest, harbour")] != []


def test_zero_shot_agrees_with_the_evaluation_classifier(zero_shot, tiny_clip, images):
    from fusionrs.clip.zeroshot import IR_TEMPLATES, classifier_weights, zero_shot_logits

    _, ir = images
    labels = ["forest", "harbour"]
    embedder = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    logits = zero_shot_logits(embedder.embed_images([ir], modality="ir"),
                              classifier_weights(embedder, labels, IR_TEMPLATES), embedder.logit_scale)
    expected = dict(zip(labels, logits.softmax(-1)[0].tolist()))
    got = {o["label"]: o["score"] for o in zero_shot(ir, candidate_labels=labels, modality="ir")}
    assert got == pytest.approx(expected, abs=1e-5)


def test_zero_shot_encodes_a_label_set_once(tiny_clip, images):
    """Many images, one label set: the text tower runs once; the cache changes no score."""
    from transformers import pipeline

    rgb, ir = images
    labels = ["forest", "harbour", "airport"]
    pipe = pipeline("zero-shot-rgb-ir-classification", model=str(tiny_clip), device="cpu")
    uncached = pipeline("zero-shot-rgb-ir-classification", model=str(tiny_clip), device="cpu")
    uncached.label_cache_size = 0
    for image in (rgb, ir, rgb):
        assert pipe(image, candidate_labels=labels) == uncached(image, candidate_labels=labels)
    assert len(pipe._label_cache) == 1 and len(uncached._label_cache) == 0
    pipe(rgb, candidate_labels=labels[:2])
    pipe(ir, candidate_labels=labels, modality="ir")  # another template ensemble: another entry
    assert len(pipe._label_cache) == 3
    pipe.label_cache_size = 2
    pipe(rgb, candidate_labels=["beach"])
    assert len(pipe._label_cache) == 2  # the least recently used set was dropped


def test_zero_shot_defaults_set_at_construction(tiny_clip, zero_shot, images):
    from transformers import pipeline

    from fusionrs.clip.zeroshot import IR_TEMPLATES, RGB_TEMPLATES
    from fusionrs.pipelines.zero_shot import prompt_templates

    rgb, ir = images
    labels = ["forest", "harbour", "airport"]
    as_ir = pipeline("zero-shot-rgb-ir-classification", model=str(tiny_clip), device="cpu", modality="ir")
    assert as_ir(ir, candidate_labels=labels) == zero_shot(ir, candidate_labels=labels, modality="ir")
    one = pipeline("zero-shot-rgb-ir-classification", model=str(tiny_clip), device="cpu",
                   hypothesis_template="a {}.")
    assert one(rgb, candidate_labels=labels) == zero_shot(rgb, candidate_labels=labels, hypothesis_template=["a {}."])
    assert prompt_templates("rgb") == list(RGB_TEMPLATES) and prompt_templates("ir") == list(IR_TEMPLATES)
    assert prompt_templates("ir", "an {}.") == ["an {}."]


def test_feature_extraction_batches_like_the_embedder(features, tiny_clip, images):
    rgb, ir = images
    embedder = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    many = [rgb, rgb.rotate(90), rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT), rgb.resize((20, 20))]
    batched = torch.stack(features(many, modality="ir", batch_size=3))
    assert torch.allclose(batched, embedder.embed_images(many, modality="ir"), atol=1e-6)
    assert torch.allclose(batched, torch.stack(features(many, modality="ir")), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "candidate_labels is required"),
    ({"candidate_labels": ["a"], "modality": "thermal"}, "modality"),
    ({"candidate_labels": ["a"], "hypothesis_template": "no placeholder"}, "placeholder"),
])
def test_zero_shot_bad_arguments(zero_shot, images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zero_shot(images[0], **kwargs)


def test_pipelines_in_a_fresh_process(tiny_clip):
    script = textwrap.dedent(f"""
        import numpy as np
        from PIL import Image
        import fusionrs
        from transformers import pipeline

        image = Image.fromarray(np.full((20, 20), 120, dtype=np.uint8), "L")
        features = pipeline("rgb-ir-feature-extraction", model={str(tiny_clip)!r}, device="cpu")
        print("features", tuple(features({{"ir": image}})["ir"].shape))
        classify = pipeline("zero-shot-rgb-ir-classification", model={str(tiny_clip)!r}, device="cpu")
        print("labels", sorted(o["label"] for o in classify(image, candidate_labels=["a", "b"], modality="ir")))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180,
                            cwd=REPO_ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "features (16,)" in result.stdout and "labels ['a', 'b']" in result.stdout
