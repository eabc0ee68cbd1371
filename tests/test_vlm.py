"""Dual-modal captioner: composition, chat/labels, LoRA training + resume, saving, evaluation, CLI.

Everything runs on a tiny seeded LLaVA built here (DINOv2 and Llama configs with hidden 32, 2
layers; a byte-level BPE tokenizer trained on a few sentences), so the whole file is fast and offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from fusionrs.errors import FusionRSError

IMAGE_SIZE = 28  # 2 x 2 patches of 14 px: 4 image tokens per image (fusionrs.vlm.compose.TINY_IMAGE_SIZE)


def make_tiny_llava(seed: int = 0):
    from fusionrs.vlm.compose import compose_tiny_llava

    return compose_tiny_llava(seed=seed)


def rgb_image(i: int, size: int = 20) -> Image.Image:
    return Image.new("RGB", (size, size), (20 * i % 255, 120, 40 if i % 2 else 220))


def row(i: int) -> dict:
    return {"id": f"r{i}", "rgb": rgb_image(i), "ir": Image.new("L", (20, 20), 25 * i % 255),
            "captions": [f"many buildings are around a parking lot {i % 3} .", "a river goes through the green forest ."],
            "ir_captions": ["In this infrared-style image, bright roofs and dark water show soft outlines."],
            "is_eval_representative": True}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from fusionrs.vlm.compose import write_vlm_config

    model, processor = make_tiny_llava()
    out = tmp_path_factory.mktemp("vlm") / "tiny"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    write_vlm_config(out, translator="grayscale", mode="rgb+ir")
    return out


def test_composed_llava_loads_with_plain_transformers_and_counts_patch_tokens(tiny_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from fusionrs.vlm.chat import build_messages

    model = AutoModelForImageTextToText.from_pretrained(tiny_dir).eval()
    processor = AutoProcessor.from_pretrained(tiny_dir)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    text = processor.apply_chat_template(build_messages("rgb+ir", "caption"), add_generation_prompt=True)
    assert text.count("<image>") == 2 and "RGB image:" in text and "Infrared-style image:" in text
    assert text.endswith("<|im_start|>assistant\n")
    enc = processor(text=[text], images=[[rgb_image(1), rgb_image(2)]], return_tensors="pt")
    # (28 // 14) ** 2 = 4 patch tokens per image: CLS added by num_additional_image_tokens, dropped by "default"
    assert int((enc["input_ids"] == model.config.image_token_index).sum()) == 8
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape[:2] == enc["input_ids"].shape and torch.isfinite(logits).all()


def test_messages_modes_and_errors():
    from fusionrs.vlm.chat import build_messages, images_for_mode

    assert sum(item["type"] == "image" for item in build_messages("rgb+ir", "caption")[0]["content"]) == 2
    assert sum(item["type"] == "image" for item in build_messages("ir", "ir_aware_caption")[0]["content"]) == 1
    assert "How many" in build_messages("ir", "vqa", question="How many cars?")[0]["content"][-1]["text"]
    with pytest.raises(FusionRSError, match="mode"):
        build_messages("thermal", "caption")
    with pytest.raises(FusionRSError, match="question"):
        build_messages("ir", "vqa")
    with pytest.raises(FusionRSError, match="ir"):
        images_for_mode("rgb+ir", rgb=rgb_image(0))
    assert images_for_mode("ir", ir=Image.new("L", (4, 4)))[0].mode == "RGB"


def test_labels_cover_the_answer_only(tiny_dir):
    from transformers import AutoProcessor

    from fusionrs.vlm.data import caption_example, encode_example

    processor = AutoProcessor.from_pretrained(tiny_dir)
    example = caption_example(row(1), "rgb+ir", "caption", answer="a river goes through the green forest .")
    encoded = encode_example(processor, example)
    answer_ids = encoded["labels"][encoded["labels"] != -100]
    decoded = processor.tokenizer.decode(answer_ids)
    assert decoded.startswith("a river goes through the green forest .") and "<|im_end|>" in decoded
    assert "RGB image" not in decoded
    assert encoded["image_keys"] == ["r1/rgb", "r1/ir"]


def test_caption_stream_same_rows_for_every_task():
    from fusionrs.vlm.data import caption_stream

    rows = [row(i) for i in range(6)]
    streams = {task: caption_stream(rows, task, "rgb+ir", seed=3) for task in ("original", "ir_aware", "mixed")}
    drawn = {task: [next(stream) for _ in range(12)] for task, stream in streams.items()}
    ids = {task: [ex["id"] for ex in examples] for task, examples in drawn.items()}
    assert ids["original"] == ids["ir_aware"] == ids["mixed"]
    assert {ex["task"] for ex in drawn["original"]} == {"caption"}
    assert {ex["task"] for ex in drawn["ir_aware"]} == {"ir_aware_caption"}
    assert {ex["task"] for ex in drawn["mixed"]} == {"caption", "ir_aware_caption"}
    with pytest.raises(FusionRSError, match="--task"):
        next(caption_stream(rows, "nonsense", "rgb+ir"))


def _train(tiny_dir, out, steps, resume=False, cache=True):
    from fusionrs.vlm.train import VLMTrainConfig, train_vlm

    rows = [row(i) for i in range(5)]
    config = VLMTrainConfig(out=str(out), base=str(tiny_dir), steps=steps, batch_size=2, checkpoint_every=1, warmup=1,
                            lora_r=4, lora_alpha=8, lora_dropout=0.0, lr=1e-2, projector_lr=1e-2, cache_features=cache,
                            feature_cache=str(out.parent / "features.safetensors") if cache else None, resume=resume)
    return train_vlm(config, rows=rows)


def test_lora_training_saves_merged_model_and_adapter(tiny_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    summary = _train(tiny_dir, tmp_path / "run", steps=4)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and log[-1]["loss"] < log[0]["loss"]
    assert summary["train_tokens"] > 0 and summary["trainable_parameters"] > 0
    processor = AutoProcessor.from_pretrained(tmp_path / "run" / "final")
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "run" / "final").eval()
    adapted = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_dir),
                                        tmp_path / "run" / "final" / "adapter").eval()
    base = AutoModelForImageTextToText.from_pretrained(tiny_dir).eval()
    enc = processor(text=[processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe"}]}],
        add_generation_prompt=True)], images=[[rgb_image(3)]], return_tensors="pt")
    with torch.no_grad():
        a, b, c = merged(**enc).logits, adapted(**enc).logits, base(**enc).logits
    assert torch.allclose(a, b, atol=1e-4)  # merged == base + adapter (projector included)
    assert not torch.allclose(a, c, atol=1e-3)  # and training changed something
    from fusionrs.vlm.generate import load_vlm  # the strict adapter loader (keys checked) agrees

    strict, _ = load_vlm(tmp_path / "run" / "final" / "adapter", device="cpu", dtype="float32", base_model=tiny_dir)
    with torch.no_grad():
        assert torch.allclose(strict(**enc).logits, a, atol=1e-4)
    assert json.loads((tmp_path / "run" / "final" / "fusionrs_vlm.json").read_text())["mode"] == "rgb+ir"


def test_resume_continues_the_same_run(tiny_dir, tmp_path):
    run = tmp_path / "run"
    straight = _train(tiny_dir, run, steps=3)  # checkpoints after steps 1 and 2; the newest (2) is kept
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_000002"]
    log_path = run / "log.jsonl"
    lines = log_path.read_text().splitlines()
    log_path.write_text("\n".join(lines[:2]) + "\n")  # as if the run died during step 3
    resumed = _train(tiny_dir, run, steps=3, resume=True)
    again = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["step"] for r in again] == [1, 2, 3]
    assert abs(again[-1]["loss"] - json.loads(lines[2])["loss"]) < 1e-4
    assert resumed["train_tokens"] == straight["train_tokens"]


def test_generate_and_evaluate_captions(tiny_dir):
    from fusionrs.vlm.evaluate import evaluate_captions
    from fusionrs.vlm.generate import load_vlm

    model, processor = load_vlm(tiny_dir)
    rows = [row(i) for i in range(3)]
    result = evaluate_captions(model, processor, rows, mode="rgb+ir", task="ir_aware_caption",
                               max_new_tokens=5, batch_size=2)
    assert result["n"] == 3 and len(result["predictions"]) == 3
    assert 0.0 <= result["coco"]["ROUGE-L"] <= 1.0
    assert result["generation"]["new_tokens"] > 0
    with pytest.raises(FusionRSError, match="not a model folder"):
        load_vlm(tiny_dir / "missing")


def test_qlora_without_cuda_is_a_clear_error():
    from fusionrs.vlm.train import _qlora_kwargs

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(FusionRSError, match="bitsandbytes|CUDA"):
        _qlora_kwargs()


PIPELINE_SCRIPT = r'''
import sys, json, warnings
import fusionrs
from transformers import pipeline
from PIL import Image
model = sys.argv[1]; bad = sys.argv[2]
pipe = pipeline("rgb-ir-captioning", model=model)
rgb = Image.new("RGB", (30, 30), (200, 30, 30)); ir = Image.new("L", (30, 30), 90)
out = {}
out["rgb_only"] = pipe({"rgb": rgb}, max_new_tokens=4)
out["rgb_ir"] = pipe({"rgb": rgb, "ir": ir}, task="both", max_new_tokens=4)
out["batch"] = pipe([{"rgb": rgb, "ir": ir}, {"rgb": rgb}], max_new_tokens=4)
try:
    pipe([{"rgb": rgb}, {"rgb": rgb, "ir": bad}], max_new_tokens=4)
    out["error"] = None
except Exception as e:
    out["error"] = f"{type(e).__name__}: {e}"
out["returned"] = pipe([{"rgb": rgb}, {"rgb": bad}], max_new_tokens=4, on_error="return")
print(json.dumps(out))
'''


def test_pipeline_in_a_fresh_process(tiny_dir, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    done = subprocess.run([sys.executable, "-c", PIPELINE_SCRIPT, str(tiny_dir), str(bad)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(out["rgb_only"]) == {"caption", "ir_source"} and out["rgb_only"]["ir_source"] == "translated:grayscale"
    assert set(out["rgb_ir"]) == {"caption", "ir_aware_caption", "ir_source"} and out["rgb_ir"]["ir_source"] == "input"
    assert len(out["batch"]) == 2 and all("caption" in item for item in out["batch"])
    assert out["error"] is not None and "item 1" in out["error"] and "'ir'" in out["error"] and "broken.png" in out["error"]
    assert "caption" in out["returned"][0] and "item 1" in out["returned"][1]["error"]


def test_cli_train_and_eval(tiny_dir, tmp_path, capsys):
    from fusionrs.data.folder import write_dataset_folder
    from fusionrs.data.schema import FusionRecord

    records = [FusionRecord(id=f"r{i}", rgb=rgb_image(i), ir=Image.new("L", (20, 20), 20 * i),
                            captions=[f"many buildings are around a parking lot {i} ."],
                            ir_captions=["In this infrared-style image, bright roofs show soft outlines."],
                            class_name="x", split=split, group_id=f"g{i}", is_eval_representative=True,
                            source_dataset="test")
               for i, split in enumerate(["train"] * 4 + ["validation"] * 2)]
    data = tmp_path / "ds"
    write_dataset_folder(records, data, progress=False)
    from fusionrs.cli.main import main

    assert main(["train", "vlm", "--data", str(data), "--base", str(tiny_dir), "--out", str(tmp_path / "run"),
                 "--steps", "2", "--batch-size", "2", "--task", "original",
                 "--feature-cache", str(tmp_path / "f.safetensors")]) == 0
    assert (tmp_path / "run" / "final" / "config.json").is_file()
    assert (tmp_path / "run" / "final" / "adapter" / "adapter_config.json").is_file()
    assert main(["eval", "vlm", "--model", str(tmp_path / "run"), "--data", str(data),  # a run folder loads its final/
                 "--json", str(tmp_path / "eval.json"), "--max-new-tokens", "4"]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())["results"]
    assert result["captions"]["n"] == 2 and "ROUGE-L" in result["captions"]["caption"]["coco"]
    assert "lexical_f1" in result["captions"]["ir_aware_caption"]["lexical"]
    assert main(["train", "vlm", "--base", str(tiny_dir), "--out", str(tmp_path / "x")]) == 2
    assert "--data" in capsys.readouterr().err


def test_hit_uav_vqa_examples_and_scores(tiny_dir, shared_data):
    from fusionrs.vlm.data import encode_example, vqa_examples
    from fusionrs.vlm.evaluate import evaluate_vqa
    from fusionrs.vlm.generate import load_vlm
    from fusionrs.vlm.vqa_data import build_vqa_manifest

    root = shared_data / "hit_uav"
    manifest = build_vqa_manifest(root, "val")[:4]
    model, processor = load_vlm(tiny_dir)
    example = vqa_examples(manifest, root)[0]
    assert example["image_keys"][0].endswith("/ir") and "thermal image" in example["messages"][0]["content"][-1]["text"]
    encoded = encode_example(processor, example)
    assert processor.tokenizer.decode(encoded["labels"][encoded["labels"] != -100]).startswith(manifest[0]["answer"])
    result = evaluate_vqa(model, processor, manifest, root, max_new_tokens=3, batch_size=4)
    assert result["n"] == 4 and 0.0 <= result["scores"]["exact_match"] <= 1.0
    assert set(result["scores"]["per_type"]) <= {"presence", "counting", "day_night", "category"}


@pytest.mark.parametrize("task", ["caption", "ir_aware_caption"])
def test_prompt_length_from_tokens_equals_encoding_the_prompt_again(tiny_dir, task):
    from transformers import AutoProcessor

    from fusionrs.vlm.data import caption_example, encode_example, example_images

    processor = AutoProcessor.from_pretrained(tiny_dir)
    for i, answer in enumerate(["a river goes through the green forest .", "Bright roofs,dark water!", " x"]):
        example = caption_example(row(i), "rgb+ir", task, answer=answer)
        encoded = encode_example(processor, example)
        prompt = processor.apply_chat_template(example["messages"], add_generation_prompt=True)
        prompt_len = processor(text=[prompt], images=[example_images(example)], return_tensors="pt")["input_ids"].shape[1]
        assert int((encoded["labels"] == -100).sum()) == prompt_len
        assert (encoded["labels"][prompt_len:] == encoded["input_ids"][prompt_len:]).all()
