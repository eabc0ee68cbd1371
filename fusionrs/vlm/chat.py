"""Chat messages for the dual-modal captioner: which images, labelled how, asking for what.

One user turn holds the images and the instruction, in the standard `{"type": "image"}` /
`{"type": "text"}` content format every multi-image chat template in transformers accepts (LLaVA,
Qwen2-VL/2.5-VL, Idefics3/SmolVLM). In `rgb+ir` mode the two images are labelled in text
("RGB image:", "Infrared-style image:") so the model can tell them apart; the paper's
task-conditioned adapter is trained on both tasks, and the instruction says which one is wanted.
"""

from __future__ import annotations

from typing import Any

from fusionrs.errors import FusionRSError

__all__ = ["INSTRUCTIONS", "MODES", "TASKS", "build_messages", "images_for_mode", "check_mode", "check_task"]

MODES = ("rgb+ir", "rgb", "ir")
TASKS = ("caption", "ir_aware_caption", "vqa")
RGB_LABEL = "RGB image:"
IR_LABEL = "Infrared-style image:"

# Short on purpose: every prompt token is paid for on each training step of a CPU run.
INSTRUCTIONS = {
    "caption": "Describe the scene in one sentence.",
    "ir_aware_caption": "Describe the infrared-style appearance of the scene in one or two sentences.",
}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise FusionRSError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return mode


def check_task(task: str) -> str:
    if task not in TASKS:
        raise FusionRSError(f"task {task!r} is not one of {', '.join(TASKS)}")
    return task


def build_messages(mode: str, task: str, question: str | None = None) -> list[dict[str, Any]]:
    """The user turn for `mode` (rgb+ir / rgb / ir) and `task` (caption / ir_aware_caption / vqa).

    `vqa` needs `question`; the answer is asked for in a few words so exact match is meaningful.
    """
    check_mode(mode)
    check_task(task)
    content: list[dict[str, Any]] = []
    if mode == "rgb+ir":
        content += [{"type": "text", "text": RGB_LABEL}, {"type": "image"},
                    {"type": "text", "text": "\n" + IR_LABEL}, {"type": "image"}]
    elif mode == "rgb":
        content += [{"type": "text", "text": RGB_LABEL}, {"type": "image"}]
    else:
        content += [{"type": "text", "text": IR_LABEL}, {"type": "image"}]
    if task == "vqa":
        if not question:
            raise FusionRSError("task 'vqa' needs a question")
        instruction = f"{question.strip()} Answer with a word or a number."
    else:
        instruction = INSTRUCTIONS[task]
    content.append({"type": "text", "text": "\n" + instruction})
    return [{"role": "user", "content": content}]


def images_for_mode(mode: str, rgb=None, ir=None) -> list:
    """The images in the order `build_messages` places them (IR replicated to RGB by the processor)."""
    check_mode(mode)
    wanted = {"rgb+ir": (("rgb", rgb), ("ir", ir)), "rgb": (("rgb", rgb),), "ir": (("ir", ir),)}[mode]
    missing = [name for name, image in wanted if image is None]
    if missing:
        raise FusionRSError(f"mode {mode!r} needs the {' and '.join(missing)} image")
    return [image.convert("RGB") for _, image in wanted]
