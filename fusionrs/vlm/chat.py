"""Chat messages for the dual-modal captioner: which images, labelled how, asking for what.

One user turn holds the images and the instruction, in the standard `{"type": "image"}` /
`{"type": "text"}` content format every multi-image chat template in transformers accepts (LLaVA,
Qwen2-VL/2.5-VL, Idefics3/SmolVLM). In `rgb+ir` mode the two images are labelled in text
("RGB image:", "Infrared-style image:") so the model can tell them apart; the paper's
task-conditioned adapter is trained on both tasks, and the instruction says which one is wanted.

`ir-official` is the FusionRS authors' format (their Qwen2.5-VL adapters were trained and scored in it,
`code/benchmark/run_fusionrs_benchmark_qwen.py` of the stored repo frozy129/FusionRS): one IR image,
unlabelled, then their prompt for the task (`OFFICIAL_INSTRUCTIONS`), and no system turn of its own.
"""

from __future__ import annotations

from typing import Any

from fusionrs.errors import FusionRSError

__all__ = ["INSTRUCTIONS", "MODES", "MODE_IMAGES", "OFFICIAL_INSTRUCTIONS", "OFFICIAL_MODE", "TASKS", "build_messages",
           "images_for_mode", "check_mode", "check_task", "official_vqa_messages"]

OFFICIAL_MODE = "ir-official"
MODES = ("rgb+ir", "rgb", "ir", OFFICIAL_MODE)
# the image columns each mode shows, in prompt order
MODE_IMAGES = {"rgb+ir": ("rgb", "ir"), "rgb": ("rgb",), "ir": ("ir",), OFFICIAL_MODE: ("ir",)}
TASKS = ("caption", "ir_aware_caption", "vqa")
RGB_LABEL = "RGB image:"
IR_LABEL = "Infrared-style image:"

# Short on purpose: every prompt token is paid for on each training step of a CPU run.
INSTRUCTIONS = {
    "caption": "Describe the scene in one sentence.",
    "ir_aware_caption": "Describe the infrared-style appearance of the scene in one or two sentences.",
}
# The authors' caption prompts, verbatim: `semantic_description` (scored against the conventional captions)
# and `ir_observable_description` (against the IR-aware ones), the latter also their training prompt.
OFFICIAL_INSTRUCTIONS = {
    "caption": "Describe the scene and visible objects in this infrared-style aerial image in one concise sentence.",
    "ir_aware_caption": ("Describe this infrared-style aerial image in one concise sentence. Report visible scene "
                         "semantics, grayscale intensity, contrast, edges, texture, or structure only. Do not infer "
                         "temperature, heat, material properties, emissivity, or RGB color."),
}


def check_mode(mode: str) -> str:
    """Check that `mode` is one of `MODES` ("rgb+ir", "rgb", "ir", "ir-official").

    Args:
        mode: the image mode to check.

    Returns:
        `mode` unchanged.

    Raises:
        FusionRSError: when `mode` is not one of `MODES`.
    """
    if mode not in MODES:
        raise FusionRSError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    return mode


def check_task(task: str) -> str:
    """Check that `task` is one of `TASKS` ("caption", "ir_aware_caption", "vqa").

    Args:
        task: the task name to check.

    Returns:
        `task` unchanged.

    Raises:
        FusionRSError: when `task` is not one of `TASKS`.
    """
    if task not in TASKS:
        raise FusionRSError(f"task {task!r} is not one of {', '.join(TASKS)}")
    return task


def official_vqa_messages(prompt: str) -> list[dict[str, Any]]:
    """The user turn of the authors' HIT-UAV VQA: the thermal image, then the manifest row's `prompt`.

    Args:
        prompt: the row's full prompt (preamble, question and answer format, as the manifest holds it).

    Returns:
        A one-message chat in the authors' IR-only layout (image first, then the text).

    Raises:
        FusionRSError: when `prompt` is empty.
    """
    if not prompt or not str(prompt).strip():
        raise FusionRSError("an official VQA row needs its 'prompt'")
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": str(prompt).strip()}]}]


def build_messages(mode: str, task: str, question: str | None = None) -> list[dict[str, Any]]:
    """The user turn for `mode` (rgb+ir / rgb / ir / ir-official) and `task` (caption / ir_aware_caption / vqa).

    `vqa` needs `question`; the answer is asked for in a few words so exact match is meaningful.

    Args:
        mode: which images the turn holds: "rgb+ir" (RGB then IR, each after its text label),
            "rgb" or "ir" (one labelled image), or "ir-official" (the authors' format: the IR image,
            then their prompt from `OFFICIAL_INSTRUCTIONS`).
        task: "caption", "ir_aware_caption" (instruction from `INSTRUCTIONS`) or "vqa".
        question: the question for `task="vqa"` (stripped, then followed by "Answer with a word
            or a number."); ignored for the caption tasks.

    Returns:
        A one-message chat, `[{"role": "user", "content": [...]}]`, whose content is a list of
        `{"type": "text", "text": ...}` and `{"type": "image"}` items ending with the instruction.

    Raises:
        FusionRSError: when `mode` or `task` is unknown, `task` is "vqa" and `question` is empty, or
            `task` is "vqa" in mode "ir-official" (its VQA prompts come with the authors' manifest rows).
    """
    check_mode(mode)
    check_task(task)
    if mode == OFFICIAL_MODE:
        if task not in OFFICIAL_INSTRUCTIONS:
            raise FusionRSError(f"mode {OFFICIAL_MODE!r} has the authors' caption prompts only "
                                f"(caption, ir_aware_caption), not {task!r}")
        return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": OFFICIAL_INSTRUCTIONS[task]}]}]
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
    """The images in the order `build_messages` places them (IR replicated to RGB by the processor).

    Args:
        mode: "rgb+ir", "rgb", "ir" or "ir-official" (`MODE_IMAGES` says which images each shows).
        rgb: the RGB image (a PIL image); needed for "rgb+ir" and "rgb", ignored otherwise.
        ir: the infrared-style image (a PIL image, any PIL mode); needed for "rgb+ir", "ir" and
            "ir-official", ignored for "rgb".

    Returns:
        A list of PIL images converted to RGB: `[rgb, ir]`, `[rgb]` or `[ir]` by `mode`.

    Raises:
        FusionRSError: when `mode` is unknown or an image the mode needs is None.
    """
    given = {"rgb": rgb, "ir": ir}
    wanted = MODE_IMAGES[check_mode(mode)]
    missing = [name for name in wanted if given[name] is None]
    if missing:
        raise FusionRSError(f"mode {mode!r} needs the {' and '.join(missing)} image")
    return [given[name].convert("RGB") for name in wanted]
