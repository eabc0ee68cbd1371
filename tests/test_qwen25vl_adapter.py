"""Qwen2.5-VL + a peft LoRA adapter in the FusionRS authors' release layout (stored repo frozy129/FusionRS,
`models/vlm/<name>/`: adapter_config.json r16 / alpha 32 on the 7 projection names, adapter_model.safetensors,
README.md, processor_config.json and tokenizer_config.json without tokenizer files) through `load_vlm`,
`pipeline("rgb-ir-captioning")` in the authors' IR-only mode and in our RGB+IR mode, and `fusionrs eval vlm`.

The base is a tiny random `Qwen2_5_VLForConditionalGeneration` with a vision tower, its tokenizer and image
processor made here, saved in the layout of the hub repo Qwen/Qwen2.5-VL-7B-Instruct and placed in this
session's private hub cache under that id (conftest gives each session its own HF_HOME), so the release's
`base_model_name_or_path` resolves offline exactly as on a user's machine that holds the base.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fusionrs.errors import AdapterLoadError, HubOfflineError

torch.set_num_threads(1)

BASE_ID = "Qwen/Qwen2.5-VL-7B-Instruct"
# adapter_config.json of the release, the fields that matter (models/vlm/original_only/adapter_config.json)
OFFICIAL_LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "bias": "none", "task_type": "CAUSAL_LM",
                 "target_modules": ["v_proj", "down_proj", "gate_proj", "o_proj", "k_proj", "up_proj", "q_proj"]}
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>"]
WORDS = ("system user assistant You are a helpful . , RGB image: Infrared-style Describe the scene and visible "
         "objects in this infrared-style aerial image one concise sentence Report semantics grayscale intensity "
         "contrast edges texture or structure only Do not infer temperature heat material properties emissivity "
         "color bright dark roofs road river field buildings trees").split()
# Qwen2.5-VL's chat template, reduced to what these prompts use: default system turn, image items as
# <|vision_start|><|image_pad|><|vision_end|>
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
IMAGE_SIDE = 56  # 4 x 4 patches of 14 px, merged 2 x 2: 4 image tokens per image


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + sorted(set(WORDS)) + ["[UNK]"])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="[UNK]", extra_special_tokens=SPECIAL[1:])


def build_base(folder: Path):
    """A seeded tiny Qwen2.5-VL (2 LLM layers, 2 vision blocks, hidden 32) saved as the hub repo lays it out."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = _tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e6},
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=48, num_heads=2, out_hidden_size=32,
                           fullatt_block_indexes=[1], window_size=IMAGE_SIDE),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    Qwen2VLImageProcessorPil(min_pixels=IMAGE_SIDE ** 2, max_pixels=IMAGE_SIDE ** 2).save_pretrained(folder)
    # the hub repo's files: preprocessor_config.json naming the processor, chat_template.json, no processor_config.json
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    preprocessor["processor_class"] = "Qwen2_5_VLProcessor"
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
    return model


def build_release_adapter(base_model, folder: Path, base_name: str = BASE_ID, seed: int = 1) -> Path:
    """A peft LoRA with the release's settings and random (non-zero) B matrices, in the release's folder layout."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(base_model, LoraConfig(**OFFICIAL_LORA))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # fresh LoRA has B = 0: a no-op adapter would prove nothing
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    peft_model.save_pretrained(folder)
    peft_model.unload()  # leave the base model as it was
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": base_name}, indent=2))
    (folder / "README.md").write_text(f"---\nbase_model: {base_name}\nlibrary_name: peft\npipeline_tag: "
                                      "image-text-to-text\n---\n\n# FusionRS VLM (test double)\n")
    # the release's partial processor files: settings only, no tokenizer.json / vocab (they come from the base)
    (folder / "processor_config.json").write_text(json.dumps(
        {"image_processor": {"image_processor_type": "Qwen2VLImageProcessor", "merge_size": 2, "patch_size": 14,
                             "size": {"longest_edge": 401408, "shortest_edge": 3136}, "temporal_patch_size": 2},
         "processor_class": "Qwen2_5_VLProcessor",
         "video_processor": {"video_processor_type": "Qwen2VLVideoProcessor"}}, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "processor_class": "Qwen2_5_VLProcessor",
         "tokenizer_class": "Qwen2Tokenizer"}, indent=2))
    return folder


def _cache_as_hub_repo(folder: Path, repo_id: str) -> Path:
    from huggingface_hub import constants

    cache = Path(constants.HF_HUB_CACHE)
    if not cache.resolve().is_relative_to(Path(os.environ["HF_HOME"]).resolve()):
        pytest.skip(f"the hub cache {cache} is not this session's own (HF_HUB_CACHE set outside the tests)")
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return repo


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """{"base": local base folder, "adapter": models/vlm/ir_aware_only/ of a release, "base_model": the model}."""
    root = tmp_path_factory.mktemp("qwen25vl")
    base_model = build_base(root / "base")
    adapter = build_release_adapter(base_model, root / "FusionRS" / "models" / "vlm" / "ir_aware_only")
    cached = _cache_as_hub_repo(root / "base", BASE_ID)
    yield {"base": root / "base", "adapter": adapter, "base_model": base_model, "root": root}
    shutil.rmtree(cached)  # other test modules must not find a fake Qwen in the session cache


def images(seed: int) -> tuple[Image.Image, Image.Image]:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 255, (IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8), "RGB")
    return rgb, Image.fromarray(rng.integers(0, 255, (IMAGE_SIDE, IMAGE_SIDE), dtype=np.uint8), "L")


def _inputs(processor, mode: str, seed: int = 0):
    from fusionrs.vlm.chat import build_messages, images_for_mode
    from fusionrs.vlm.data import prompt_inputs

    rgb, ir = images(seed)
    example = {"messages": build_messages(mode, "ir_aware_caption"), "images": images_for_mode(mode, rgb=rgb, ir=ir)}
    return prompt_inputs(processor, [example])


def _logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits[:, -1]


def _safetensors_bytes(shapes: dict[str, tuple[int, ...]]) -> int:
    """The size of the fp32 safetensors file holding `shapes`: 8-byte header length, JSON header padded to 8, data."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0  # what peft writes
    for name in sorted(shapes):
        size = 4 * int(np.prod(shapes[name]))
        header[name] = {"dtype": "F32", "shape": list(shapes[name]), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":"))
    return 8 + len(text) + (-len(text) % 8) + offset


def test_release_file_size_is_r16_on_the_7b_llm_and_vision_projections():
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    # the sizes of Qwen/Qwen2.5-VL-7B-Instruct's config.json; built on the meta device (no memory, no weights)
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                         num_attention_heads=28, num_key_value_heads=4,
                         rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6}),
        vision_config=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                           fullatt_block_indexes=[7, 15, 23, 31], window_size=112))
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(config)
    state = get_peft_model_state_dict(get_peft_model(model, LoraConfig(**OFFICIAL_LORA)))
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    llm = sum(int(np.prod(s)) for name, s in shapes.items() if ".language_model." in name)
    vision = sum(int(np.prod(s)) for name, s in shapes.items() if ".visual." in name)
    assert (len(shapes), llm, vision) == (584, 40_370_176, 7_219_200)  # docs/vlm.md has the arithmetic
    assert _safetensors_bytes(shapes) == 190_442_760  # models/MODEL_MANIFEST.json of the release
    legacy = {k.replace(".model.language_model.", ".model.").replace(".model.visual.", ".visual."): s
              for k, s in shapes.items()}
    assert _safetensors_bytes(legacy) == 190_435_728  # so the release uses transformers >= 4.52 key names


def test_release_layout_loads_strictly_onto_qwen25vl(release):
    from safetensors import safe_open
    from transformers import Qwen2_5_VLForConditionalGeneration

    from fusionrs.vlm.generate import load_vlm

    adapter = release["adapter"]
    assert {p.name for p in adapter.iterdir()} == {"adapter_config.json", "adapter_model.safetensors", "README.md",
                                                  "processor_config.json", "tokenizer_config.json"}
    with safe_open(adapter / "adapter_model.safetensors", "pt") as weights:
        keys = list(weights.keys())
        assert all(weights.get_tensor(k).abs().sum() > 0 for k in keys if "lora_B" in k)
    # the release's names hit the LLM's 7 projections and the vision blocks' MLP (gate/up/down), nothing else
    adapted = {k.split(".lora_")[0] for k in keys}
    assert len(adapted) == 2 * 7 + 2 * 3
    assert {m.rsplit(".", 1)[1] for m in adapted if ".visual." in m} == {"gate_proj", "up_proj", "down_proj"}

    model, processor = load_vlm(adapter, device="cpu", dtype="float32")  # base from the (offline) hub cache
    assert type(model) is Qwen2_5_VLForConditionalGeneration and model.name_or_path == str(adapter)
    assert type(processor).__name__ in ("Qwen2_5_VLProcessor", "ImagesOnlyQwen2_5_VLProcessor")
    inputs = _inputs(processor, "ir-official")
    assert (_logits(model, inputs) - _logits(release["base_model"], inputs)).abs().max() > 1e-2  # the adapter acts

    # the same adapter with a local base given explicitly, and with a base path relative to the adapter folder
    explicit, _ = load_vlm(adapter, device="cpu", dtype="float32", base_model=release["base"])
    torch.testing.assert_close(_logits(explicit, inputs), _logits(model, inputs))
    relative = shutil.copytree(adapter, release["root"] / "relative" / "adapter")
    config = json.loads((relative / "adapter_config.json").read_text())
    (relative / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "../../base"}))
    moved, _ = load_vlm(relative, device="cpu", dtype="float32")
    torch.testing.assert_close(_logits(moved, inputs), _logits(model, inputs))


def test_missing_unexpected_keys_and_unreachable_bases_are_errors(release, tmp_path):
    from safetensors.torch import load_file, save_file

    from fusionrs.vlm.loading import load_adapter_model

    tensors = load_file(release["adapter"] / "adapter_model.safetensors")
    stray = {"base_model.model.model.extra.lora_A.weight": torch.ones(2, 2)}
    for name, edit in {"missing": lambda t: t.pop(sorted(t)[0]), "unexpected": lambda t: t.update(stray)}.items():
        broken = shutil.copytree(release["adapter"], tmp_path / name)
        changed = dict(tensors)
        edit(changed)
        save_file(changed, broken / "adapter_model.safetensors", metadata={"format": "pt"})
        with pytest.raises(AdapterLoadError, match=rf"adapter_model.safetensors: .*1 {name} keys"):
            load_adapter_model(broken, base_model=release["base"])
    # pre-4.52 key names (model.layers.*, visual.*) are renamed, not reported
    legacy = shutil.copytree(release["adapter"], tmp_path / "legacy")
    old_names = {k.replace(".model.language_model.", ".model.").replace(".model.visual.", ".visual."): v
                 for k, v in tensors.items()}
    save_file(old_names, legacy / "adapter_model.safetensors", metadata={"format": "pt"})
    renamed, processor = load_adapter_model(legacy, base_model=release["base"], merge=False)
    strict, _ = load_adapter_model(release["adapter"], base_model=release["base"], merge=False)
    inputs = _inputs(processor, "rgb+ir")
    torch.testing.assert_close(_logits(renamed, inputs), _logits(strict, inputs))

    other = shutil.copytree(release["adapter"], tmp_path / "other")
    config = json.loads((other / "adapter_config.json").read_text())
    (other / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "Qwen/Qwen2.5-VL-72B"}))
    with pytest.raises(HubOfflineError, match=r"adapter_config.json: field 'base_model_name_or_path'.*--base-model"):
        load_adapter_model(other)


def test_pipeline_in_the_authors_ir_mode_and_our_rgb_ir_mode(release):
    from transformers import pipeline

    from fusionrs.vlm.data import prompt_inputs
    from fusionrs.vlm.generate import load_vlm

    model, processor = load_vlm(release["adapter"], device="cpu", dtype="float32")
    captioner = pipeline("rgb-ir-captioning", model=model, processor=processor)
    (rgb, ir), (rgb2, ir2) = images(0), images(1)
    placeholders = {}
    for mode, items in {"ir-official": [{"ir": ir}, {"ir": ir2}],
                        "rgb+ir": [{"rgb": rgb, "ir": ir}, {"rgb": rgb2, "ir": ir2}]}.items():
        example = captioner.preprocess(items[0], task="ir_aware_caption", mode=mode)["examples"]["ir_aware_caption"][0]
        prompt = processor.apply_chat_template(example["messages"], add_generation_prompt=True)
        ids = prompt_inputs(processor, [example])["input_ids"][0]
        placeholders[mode] = (prompt.count("<|vision_start|>"), int((ids == processor.image_token_id).sum()))
        results = captioner(items, mode=mode, task="ir_aware_caption", max_new_tokens=4)
        assert len(results) == 2 and all(isinstance(r["ir_aware_caption"], str) for r in results)
        assert all(r["ir_source"] == "input" for r in results)
    assert placeholders == {"ir-official": (1, 4), "rgb+ir": (2, 8)}  # one image vs two in the user turn
    turn = captioner.preprocess({"ir": ir}, task="caption", mode="ir-official")["examples"]["caption"][0]["messages"]
    assert turn[0]["content"][0] == {"type": "image"}  # the authors' order: the image, then their prompt
    assert turn[0]["content"][1]["text"].startswith("Describe the scene and visible objects")

    # an unmerged PeftModel (as for a 4-bit base, docs/vlm.md) reads the same
    from fusionrs.vlm.loading import load_adapter_model

    unmerged, _ = load_adapter_model(release["adapter"], merge=False)
    assert pipeline("rgb-ir-captioning", model=unmerged, processor=processor)({"ir": ir}, mode="ir-official",
                                                                              max_new_tokens=4) == \
        captioner({"ir": ir}, mode="ir-official", max_new_tokens=4)
    # the plain transformers route (its own peft loading; base found in the hub cache) reads the same
    direct = pipeline("rgb-ir-captioning", model=str(release["adapter"]))
    assert type(direct.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    inputs = _inputs(processor, "rgb+ir")
    torch.testing.assert_close(_logits(direct.model, inputs), _logits(model, inputs), atol=1e-4, rtol=1e-4)
    assert direct({"ir": ir}, mode="ir-official", max_new_tokens=4) == captioner({"ir": ir}, mode="ir-official",
                                                                                max_new_tokens=4)


def test_eval_vlm_cli_with_base_model_in_both_modes(release, tmp_path):
    from fusionrs.cli.main import main
    from fusionrs.data.folder import write_dataset_folder
    from fusionrs.data.schema import FusionRecord

    records = [FusionRecord(id=f"v{i}", rgb=images(i)[0], ir=images(i)[1], captions=["buildings and a road ."],
                            ir_captions=["bright roofs and a dark river ."], split="validation", group_id=f"g{i}",
                            is_eval_representative=True, source_dataset="test") for i in range(2)]
    data = tmp_path / "data"
    write_dataset_folder(records, data, progress=False)
    for mode in ("ir-official", "rgb+ir"):
        out = tmp_path / f"{mode}.json"
        assert main(["eval", "vlm", "--model", str(release["adapter"]), "--base-model", str(release["base"]),
                     "--data", str(data), "--mode", mode, "--task", "ir_aware_caption", "--max-new-tokens", "4",
                     "--json", str(out), "--threads", "1"]) == 0
        result = json.loads(out.read_text())["results"]
        assert result["mode"] == mode and result["base_model"] == str(release["base"])
        predictions = result["captions"]["ir_aware_caption"]["predictions"]
        assert len(predictions) == 2 and all(isinstance(p, str) for p in predictions)
