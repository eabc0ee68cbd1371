"""`FusionRSEncoder`: the authors' `fusionrs-clip` encoder calls on our CLIP core, and the package-clash check."""

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_clip_eval import build_tiny_clip

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip_encoder"), seed=5)


@pytest.fixture(scope="module")
def encoder(tiny_clip):
    from fusionrs import FusionRSEncoder  # the authors' import line, unchanged

    return FusionRSEncoder.from_pretrained(tiny_clip, device="cpu")


def _images(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    rgb = [Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), "RGB") for _ in range(n)]
    return rgb, [im.convert("L") for im in rgb]


def test_encodings_match_the_embedder_and_are_normalised(encoder, tiny_clip):
    from fusionrs.clip.embed import ClipEmbedder

    rgb, ir = _images(3)
    embedder = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    texts = ["a harbour with boats", "a dense residential area", "farmland"]
    torch.testing.assert_close(encoder.encode_rgb(rgb), embedder.embed_images(rgb))
    torch.testing.assert_close(encoder.encode_ir(ir), embedder.embed_images(ir, modality="ir"))
    torch.testing.assert_close(encoder.encode_text(texts), embedder.embed_texts(texts))
    for emb in (encoder.encode_images(rgb), encoder.encode_ir(ir), encoder.encode_text(texts)):
        assert emb.dtype == torch.float32 and emb.device.type == "cpu" and emb.shape == (3, 16)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))


def test_single_channel_ir_encodes_as_the_authors_rgb_conversion_does(encoder):
    """Theirs converts any image to RGB: for one-channel IR that is exactly our replicated luma."""
    _, ir = _images(2, seed=1)
    pixels = encoder.processor(images=[im.convert("RGB") for im in ir], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        out = encoder.model.get_image_features(pixel_values=pixels)
    reference = torch.nn.functional.normalize(getattr(out, "pooler_output", out).float(), dim=-1)
    torch.testing.assert_close(encoder.encode_ir(ir), reference, atol=1e-5, rtol=1e-4)


def test_score_pairs_and_path_inputs(encoder, tmp_path):
    rgb, ir = _images(2, seed=2)
    paths = []
    for i, (a, b) in enumerate(zip(rgb, ir)):
        a.save(tmp_path / f"rgb{i}.png"), b.save(tmp_path / f"ir{i}.png")
        paths.append((tmp_path / f"rgb{i}.png", str(tmp_path / f"ir{i}.png")))
    texts = ["an airport", "a river"]
    scores = encoder.score_pairs([p[0] for p in paths], [p[1] for p in paths], texts)
    assert set(scores) == {"rgb_text", "ir_text", "rgb_ir"} and all(len(v) == 2 for v in scores.values())
    r, i, t = encoder.encode_rgb(rgb), encoder.encode_ir(ir), encoder.encode_text(texts)
    assert scores["rgb_text"] == pytest.approx((r * t).sum(-1).tolist(), abs=1e-5)
    assert scores["ir_text"] == pytest.approx((i * t).sum(-1).tolist(), abs=1e-5)
    assert scores["rgb_ir"] == pytest.approx((r * i).sum(-1).tolist(), abs=1e-5)


def test_errors_are_specific(encoder, tmp_path):
    from fusionrs import FusionRSEncoder
    from fusionrs.errors import ImageReadError

    rgb, ir = _images(2)
    with pytest.raises(ValueError, match="equal lengths"):
        encoder.score_pairs(rgb, ir[:1], ["a", "b"])
    with pytest.raises(ValueError, match="At least one image"):
        encoder.encode_rgb([])
    with pytest.raises(ValueError, match="At least one text"):
        encoder.encode_text([])
    with pytest.raises(FileNotFoundError, match="Model directory does not exist"):
        FusionRSEncoder.from_pretrained(tmp_path / "missing")
    with pytest.raises(ImageReadError, match="nope.png"):
        encoder.encode_rgb([tmp_path / "nope.png"])


def test_package_conflicts_names_a_second_fusionrs_package(tmp_path, monkeypatch):
    from fusionrs.results import package_conflicts

    assert not any("fusionrs-clip" in line for line in package_conflicts())
    info = tmp_path / "fusionrs_clip-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fusionrs-clip\nVersion: 1.0.0\n")
    (info / "top_level.txt").write_text("fusionrs\n")
    (info / "RECORD").write_text("fusionrs/__init__.py,,\nfusionrs/modeling.py,,\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    conflicts = package_conflicts()
    assert len([c for c in conflicts if c.startswith("fusionrs-clip 1.0.0")]) == 1
    assert "pip uninstall fusionrs-clip" in conflicts[0]


def test_fusionrs_env_reports_conflicts():
    import json

    from tests.test_cli import run_cli

    result = run_cli("env")
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads(result.stdout)
    assert isinstance(info["conflicts"], list) and "libraries" in info
