"""Dataset rows -> chat examples with labels on the assistant answer only.

Caption tasks (`--task`): `original` (one of the conventional captions), `ir_aware` (the IR-aware
caption) and `mixed` (task-conditioned: each example is one of the two, and its prompt says which:
the paper's `task_conditioned_mixed` adapter). Rows and the caption/task choices come from two
separate seeded streams, so every variant of a benchmark sees the same rows in the same order.

VQA examples come from the HIT-UAV manifest (`fusionrs.vlm.vqa_data.build_vqa_manifest`): real
thermal images, IR only.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fusionrs.errors import FusionRSError, RecordError
from fusionrs.vlm.chat import build_messages, check_mode, images_for_mode

__all__ = [
    "CAPTION_TASKS",
    "caption_example",
    "caption_stream",
    "collate",
    "encode_example",
    "example_images",
    "prompt_inputs",
    "vqa_examples",
]

# --task value -> chat tasks it trains
CAPTION_TASKS = {"original": ("caption",), "ir_aware": ("ir_aware_caption",),
                 "mixed": ("caption", "ir_aware_caption"), "vqa": ("vqa",)}
IGNORE_INDEX = -100


def _answer(row: dict[str, Any], chat_task: str, rng: random.Random) -> str:
    field = "captions" if chat_task == "caption" else "ir_captions"
    texts = [text for text in (row.get(field) or []) if text and text.strip()]
    if not texts:
        raise RecordError(str(row.get("id")), field, "no caption to train on")
    return rng.choice(texts).strip()


def caption_example(row: dict[str, Any], mode: str, chat_task: str, answer: str | None = None) -> dict[str, Any]:
    """One example: messages, images in prompt order, image cache keys, and (optionally) the answer."""
    check_mode(mode)
    names = {"rgb+ir": ("rgb", "ir"), "rgb": ("rgb",), "ir": ("ir",)}[mode]
    return {
        "id": row["id"],
        "task": chat_task,
        "messages": build_messages(mode, chat_task),
        "images": images_for_mode(mode, rgb=row.get("rgb"), ir=row.get("ir")),
        "image_keys": [f"{row['id']}/{name}" for name in names],
        "answer": answer,
    }


def caption_stream(dataset: Sequence[dict[str, Any]], task: str, mode: str, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Endless seeded examples for `--task original|ir_aware|mixed` (epochs reshuffle the rows)."""
    if task not in CAPTION_TASKS or task == "vqa":
        raise FusionRSError(f"--task {task!r} is not one of original, ir_aware, mixed")
    row_rng, choice_rng = random.Random(seed), random.Random(seed + 1)
    order = list(range(len(dataset)))
    if not order:
        raise FusionRSError("the training split is empty")
    while True:
        row_rng.shuffle(order)
        for index in order:
            row = dataset[index]
            chat_task = choice_rng.choice(CAPTION_TASKS[task])
            yield caption_example(row, mode, chat_task, _answer(row, chat_task, choice_rng))


def vqa_examples(manifest: Sequence[dict[str, Any]], image_root: str | Path) -> list[dict[str, Any]]:
    """Manifest rows ({id, file, question, answer, type}) -> IR-only VQA examples (images load lazily)."""
    root = Path(image_root)
    examples = []
    for item in manifest:
        examples.append({
            "id": item["id"],
            "task": "vqa",
            "type": item.get("type", "all"),
            "messages": build_messages("ir", "vqa", question=item["question"]),
            "image_files": [root / item["file"]],
            "image_keys": [f"hit_uav/{item['file']}/ir"],
            "answer": str(item["answer"]),
        })
    return examples


def example_images(example: dict[str, Any]) -> list:
    """The example's PIL images, reading files for lazily-loaded examples (VQA)."""
    if "images" in example:
        return example["images"]
    from fusionrs.core.image_io import load_image

    return [load_image(path).convert("RGB") for path in example["image_files"]]


def prompt_inputs(processor, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Left-padded generation inputs for a batch of examples (answers ignored)."""
    texts = [processor.apply_chat_template(ex["messages"], add_generation_prompt=True) for ex in examples]
    images = [example_images(ex) for ex in examples]
    processor.tokenizer.padding_side = "left"
    return processor(text=texts, images=images, return_tensors="pt", padding=True)


def encode_example(processor, example: dict[str, Any], max_answer_tokens: int = 64) -> dict[str, Any]:
    """input_ids / labels (prompt masked with -100) / pixel_values for one example with an answer.

    The answer is cut to `max_answer_tokens` tokens before the end-of-turn token, which stays, so
    the model learns to stop.
    """
    if example.get("answer") is None:
        raise FusionRSError(f"example {example['id']!r} has no answer to train on")
    tokenizer = processor.tokenizer
    prompt_text = processor.apply_chat_template(example["messages"], add_generation_prompt=True)
    answer_ids = tokenizer(example["answer"], add_special_tokens=False)["input_ids"][:max_answer_tokens]
    answer = tokenizer.decode(answer_ids)
    full = example["messages"] + [{"role": "assistant", "content": [{"type": "text", "text": answer}]}]
    full_text = processor.apply_chat_template(full)
    if not full_text.startswith(prompt_text):
        raise FusionRSError("the chat template does not render the prompt as a prefix of the full turn")
    images = example_images(example)
    encoded = processor(text=[full_text], images=[images], return_tensors="pt")
    input_ids = encoded["input_ids"][0]
    # The prompt length comes from the tokens: the answer turn holds no image, so its ids are the tail of
    # the full sequence. Only if the tokenizer merges across the boundary is the prompt encoded again.
    answer_turn = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    prompt_len = len(input_ids) - len(answer_turn)
    if not answer_turn or input_ids[prompt_len:].tolist() != list(answer_turn):
        prompt_len = processor(text=[prompt_text], images=[images], return_tensors="pt")["input_ids"].shape[1]
    labels = input_ids.clone()
    labels[:prompt_len] = IGNORE_INDEX
    out = {"input_ids": input_ids, "labels": labels, "image_keys": example["image_keys"]}
    if "pixel_values" in encoded:
        out["pixel_values"] = encoded["pixel_values"]
    return out


def collate(items: Sequence[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Right-padded batch; pixel_values concatenated in order (LLaVA takes all images flat)."""
    import torch

    length = max(len(item["input_ids"]) for item in items)
    input_ids = torch.full((len(items), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(items), length), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(items), length), dtype=torch.long)
    for i, item in enumerate(items):
        n = len(item["input_ids"])
        input_ids[i, :n] = item["input_ids"]
        labels[i, :n] = item["labels"]
        attention[i, :n] = 1
    batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention,
             "image_keys": [key for item in items for key in item["image_keys"]]}
    if all("pixel_values" in item for item in items):
        batch["pixel_values"] = torch.cat([item["pixel_values"] for item in items])
    return batch
