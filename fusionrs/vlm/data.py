"""Dataset rows -> chat examples with labels on the assistant answer only.

Caption tasks (`--task`): `original` (one of the conventional captions), `ir_aware` (the IR-aware
caption) and `mixed` (task-conditioned: each example is one of the two, and its prompt says which:
the paper's `task_conditioned_mixed` adapter). Rows and the caption/task choices come from two
separate seeded streams, so every variant of a benchmark sees the same rows in the same order.

VQA examples come from the HIT-UAV manifest (`fusionrs.vlm.vqa_data.build_vqa_manifest`): real
thermal images, IR only.

Decode once: `load_rows` reads one split with only the columns a caption task reads. On a
`datasets.Dataset` the stream's examples hold no images, only where to read them (`RowImages`):
`example_images` decodes the example's row once and builds every image of the mode from that
decode, and with cached vision features (`encode_example(..., image_tokens=...)`) nothing is decoded.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fusionrs.errors import FusionRSError, RecordError
from fusionrs.vlm.chat import MODE_IMAGES, build_messages, check_mode, images_for_mode

__all__ = [
    "CAPTION_TASKS",
    "MODE_IMAGES",
    "RowImages",
    "TEXT_COLUMNS",
    "caption_example",
    "caption_stream",
    "collate",
    "encode_example",
    "example_images",
    "load_rows",
    "prompt_inputs",
    "vqa_examples",
]

# --task value -> chat tasks it trains
CAPTION_TASKS = {"original": ("caption",), "ir_aware": ("ir_aware_caption",),
                 "mixed": ("caption", "ir_aware_caption"), "vqa": ("vqa",)}
IGNORE_INDEX = -100
# what a caption example reads besides its images (MODE_IMAGES, from fusionrs.vlm.chat: the image columns of each mode)
TEXT_COLUMNS = ("id", "captions", "ir_captions")


def load_rows(data: str | os.PathLike | None, split: str = "train", *, mode: str = "rgb+ir",
              limit: int | None = None) -> Any:
    """One split of a FusionRS dataset folder with only the columns a caption task in `mode` reads.

    Only those columns are read from the parquet files; images decode on access.

    Args:
        data: dataset folder, or None for the embedded default.
        split: the split to read.
        mode: the input images (`rgb+ir`, `rgb`, `ir`): which image columns to keep.
        limit: keep only the first N rows.

    Returns:
        A `datasets.Dataset` with `id`, `captions`, `ir_captions` and the mode's image columns.

    Raises:
        FusionRSError: no such split, or the split lacks one of the columns.
    """
    from datasets.exceptions import DatasetGenerationError

    from fusionrs.data.loading import load_dataset, resolve_data_dir

    folder = resolve_data_dir(data)
    columns = [*TEXT_COLUMNS, *MODE_IMAGES[check_mode(mode)]]
    try:
        rows = load_dataset(folder, split=split, columns=columns)
    except ValueError as error:  # an unknown split
        raise FusionRSError(f"{folder}: {error}") from None
    except DatasetGenerationError as error:
        raise FusionRSError(f"{folder}: split {split!r} cannot be read with the columns {', '.join(columns)}") from error
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    return rows


@dataclass(frozen=True)
class RowImages:
    """Where an example's images are: row `index` of `rows` (a dataset of the mode's image columns only)."""

    rows: Any
    index: int
    mode: str

    def load(self) -> list:
        """Decode the row once and build the mode's images from it, in prompt order.

        Returns:
            RGB PIL images, one per image of the prompt.
        """
        row = self.rows[self.index]
        return images_for_mode(self.mode, rgb=row.get("rgb"), ir=row.get("ir"))


class _DatasetRows:
    """A `datasets.Dataset` split into its text columns (read once, in memory) and its image columns."""

    def __init__(self, dataset, mode: str):
        missing = [c for c in ("id", *MODE_IMAGES[mode]) if c not in dataset.column_names]
        if missing:
            raise FusionRSError(f"the training rows have no {', '.join(map(repr, missing))} column")
        self.mode = mode
        self.text = {column: list(dataset[column]) for column in TEXT_COLUMNS if column in dataset.column_names}
        self.images = dataset.select_columns(list(MODE_IMAGES[mode]))

    def __len__(self) -> int:
        return len(self.text["id"])

    def example(self, index: int, chat_task: str, rng: random.Random) -> dict[str, Any]:
        row = {column: values[index] for column, values in self.text.items()}
        return _example(row, self.mode, chat_task, _answer(row, chat_task, rng),
                        image_source=RowImages(self.images, index, self.mode))


def _answer(row: dict[str, Any], chat_task: str, rng: random.Random) -> str:
    field = "captions" if chat_task == "caption" else "ir_captions"
    texts = [text for text in (row.get(field) or []) if text and text.strip()]
    if not texts:
        raise RecordError(str(row.get("id")), field, "no caption to train on")
    return rng.choice(texts).strip()


def _example(row: dict[str, Any], mode: str, chat_task: str, answer: str | None, *,
             image_source: RowImages | None = None) -> dict[str, Any]:
    check_mode(mode)
    example = {
        "id": row["id"],
        "task": chat_task,
        "messages": build_messages(mode, chat_task),
        "image_keys": [f"{row['id']}/{name}" for name in MODE_IMAGES[mode]],
        "answer": answer,
    }
    if image_source is not None:
        example["image_source"] = image_source
    else:
        example["images"] = images_for_mode(mode, rgb=row.get("rgb"), ir=row.get("ir"))
    return example


def caption_example(row: dict[str, Any], mode: str, chat_task: str, answer: str | None = None) -> dict[str, Any]:
    """One example: messages, images in prompt order, image cache keys, and (optionally) the answer.

    Args:
        row: a dataset row with `id` and the mode's images (`rgb`, `ir`: PIL images).
        mode: the input images (`rgb+ir`, `rgb`, `ir`).
        chat_task: `caption`, `ir_aware_caption` (see `fusionrs.vlm.chat`).
        answer: the answer to train on, or None (generation).

    Returns:
        The example: id, task, messages, images (RGB, prompt order), image_keys (`id/rgb`, ...), answer.
    """
    return _example(row, mode, chat_task, answer)


def caption_stream(dataset: Sequence[dict[str, Any]], task: str, mode: str, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Endless seeded examples for `--task original|ir_aware|mixed` (epochs reshuffle the rows).

    On a `datasets.Dataset` (e.g. from `load_rows`) the text columns are read once and no image is
    decoded here: each example holds a `RowImages` instead of its images (see `example_images`).
    The rows, tasks and answers drawn are the same either way.

    Args:
        dataset: the training rows: a `datasets.Dataset`, or a sequence of row dicts with PIL images.
        task: `original`, `ir_aware` or `mixed` (`CAPTION_TASKS`).
        mode: the input images (`rgb+ir`, `rgb`, `ir`).
        seed: seeds the row order and the task / answer draws (two separate streams).

    Returns:
        An endless iterator of examples with answers.

    Raises:
        FusionRSError: an unknown task, or no rows.
    """
    if task not in CAPTION_TASKS or task == "vqa":
        raise FusionRSError(f"--task {task!r} is not one of original, ir_aware, mixed")
    rows = _DatasetRows(dataset, check_mode(mode)) if hasattr(dataset, "select_columns") else None
    row_rng, choice_rng = random.Random(seed), random.Random(seed + 1)
    order = list(range(len(dataset)))
    if not order:
        raise FusionRSError("the training split is empty")
    while True:
        row_rng.shuffle(order)
        for index in order:
            chat_task = choice_rng.choice(CAPTION_TASKS[task])
            if rows is not None:
                yield rows.example(index, chat_task, choice_rng)
            else:
                row = dataset[index]
                yield caption_example(row, mode, chat_task, _answer(row, chat_task, choice_rng))


def vqa_examples(manifest: Sequence[dict[str, Any]], image_root: str | Path) -> list[dict[str, Any]]:
    """Manifest rows ({id, file, question, answer, type}) -> IR-only VQA examples (images load lazily).

    Args:
        manifest: rows of `fusionrs.vlm.vqa_data.build_vqa_manifest`.
        image_root: the HIT-UAV folder the manifest's `file` paths are relative to.

    Returns:
        One example per manifest row, with `image_files` instead of images.
    """
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
    """The example's PIL images: decoded here, once per call, for lazily-loaded examples.

    Args:
        example: a caption or VQA example (`images`, `image_source` or `image_files`).

    Returns:
        RGB PIL images in prompt order.
    """
    if "images" in example:
        return example["images"]
    if "image_source" in example:
        return example["image_source"].load()
    from fusionrs.core.image_io import load_image

    return [load_image(path).convert("RGB") for path in example["image_files"]]


def prompt_inputs(processor, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Left-padded generation inputs for a batch of examples (answers ignored).

    Args:
        processor: the VLM's processor.
        examples: the examples to answer.

    Returns:
        The processor's batch (input_ids, attention_mask, pixel_values, ...) as tensors.
    """
    texts = [processor.apply_chat_template(ex["messages"], add_generation_prompt=True) for ex in examples]
    images = [example_images(ex) for ex in examples]
    processor.tokenizer.padding_side = "left"
    return processor(text=texts, images=images, return_tensors="pt", padding=True)


def _expand_image_tokens(processor, text: str, image_tokens: Sequence[int]) -> str:
    """`text` with its i-th image placeholder repeated `image_tokens[i]` times (what LLaVA's processor does)."""
    token = getattr(processor, "image_token", None)
    if token is None:
        raise FusionRSError(f"{type(processor).__name__} has no image token: cached vision features need a LLaVA base")
    parts = text.split(token)
    if len(parts) - 1 != len(image_tokens):
        raise FusionRSError(f"the prompt holds {len(parts) - 1} images but {len(image_tokens)} image token counts were given")
    return parts[0] + "".join(token * int(n) + part for n, part in zip(image_tokens, parts[1:]))


def encode_example(processor, example: dict[str, Any], max_answer_tokens: int = 64, *,
                   image_tokens: Sequence[int] | None = None) -> dict[str, Any]:
    """input_ids / labels (prompt masked with -100) / pixel_values for one example with an answer.

    The answer is cut to `max_answer_tokens` tokens before the end-of-turn token, which stays, so
    the model learns to stop. The prompt length comes from the tokens (the answer turn's ids are the
    tail of the full sequence); the prompt is encoded on its own only if the tokenizer merges across
    the boundary.

    Args:
        processor: the VLM's processor.
        example: an example with an answer (`caption_stream`, `vqa_examples`).
        max_answer_tokens: answers are cut to this many tokens.
        image_tokens: with cached vision features, the number of image tokens of each image (LLaVA
            placeholders are repeated that often, as its processor does): no image is read and no
            pixel values are computed. None: the processor encodes the images.

    Returns:
        input_ids, labels, image_keys, and pixel_values when the images were encoded.

    Raises:
        FusionRSError: the example has no answer, the chat template does not render the prompt as a
            prefix of the full turn, or `image_tokens` does not fit the prompt's images.
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
    if image_tokens is None:
        images = example_images(example)
        encoded = processor(text=[full_text], images=[images], return_tensors="pt")

        def encode_prompt():
            return processor(text=[prompt_text], images=[images], return_tensors="pt")["input_ids"]
    else:
        encoded = tokenizer([_expand_image_tokens(processor, full_text, image_tokens)], return_tensors="pt")

        def encode_prompt():
            return tokenizer([_expand_image_tokens(processor, prompt_text, image_tokens)], return_tensors="pt")["input_ids"]
    input_ids = encoded["input_ids"][0]
    # The prompt length comes from the tokens: the answer turn holds no image, so its ids are the tail of
    # the full sequence. Only if the tokenizer merges across the boundary is the prompt encoded again.
    answer_turn = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    prompt_len = len(input_ids) - len(answer_turn)
    if not answer_turn or input_ids[prompt_len:].tolist() != list(answer_turn):
        prompt_len = encode_prompt().shape[1]
    labels = input_ids.clone()
    labels[:prompt_len] = IGNORE_INDEX
    out = {"input_ids": input_ids, "labels": labels, "image_keys": example["image_keys"]}
    if "pixel_values" in encoded:
        out["pixel_values"] = encoded["pixel_values"]
    return out


def collate(items: Sequence[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Right-padded batch; pixel_values concatenated in order (LLaVA takes all images flat).

    Args:
        items: `encode_example` outputs.
        pad_token_id: the tokenizer's padding id.

    Returns:
        input_ids, labels (-100 on padding), attention_mask, image_keys (flat), and pixel_values
        when every item has them.
    """
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
