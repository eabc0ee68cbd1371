"""Qwen2.5-VL specifics: its processor on machines without torchvision, and its legacy adapter key names.

transformers 5 builds `Qwen2_5_VLProcessor` only together with a `Qwen2VLVideoProcessor`, and that one
needs torchvision, which does not install next to the CPU torch this project runs on (DESIGN.md). Images
need only the PIL image processor, so `ImagesOnlyQwen2_5_VLProcessor` is the same processor without the
video part: same tokenizer, image processor, chat template and image-token expansion. Its saved
processor_config.json names `Qwen2_5_VLProcessor` (the file `AutoProcessor` reads first), so a folder saved
from it loads as the standard processor where torchvision is installed.

Adapters saved before transformers 4.52 name the LLM `model.layers.*` and the vision tower `visual.*`;
since then they sit under `model.language_model` and `model.visual`. The authors' release uses the new
names (its 190,442,760-byte file size is reproduced only with them: docs/vlm.md).
"""

from __future__ import annotations

from transformers import Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin

__all__ = ["LEGACY_ADAPTER_KEY_MAPPING", "MODEL_TYPE", "ImagesOnlyQwen2_5_VLProcessor", "needs_images_only_processor"]

MODEL_TYPE = "qwen2_5_vl"
# peft `key_mapping` (applied to adapter keys without their "base_model.model." prefix): old layout -> new
LEGACY_ADAPTER_KEY_MAPPING = {r"^visual": "model.visual",
                              r"^model(?!\.(language_model|visual))": "model.language_model"}


class ImagesOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """`Qwen2_5_VLProcessor` without a video processor (images and text only; no torchvision needed).

    Args:
        image_processor: a `Qwen2VLImageProcessor` (the PIL backend is enough).
        tokenizer: the Qwen2.5-VL tokenizer; it must know `<|image_pad|>` (or define `image_token`).
        chat_template: the chat template (None: the tokenizer's).
        **kwargs: passed on to `ProcessorMixin`.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        # Qwen2_5_VLProcessor.__init__ would insist on a video processor; these are its other settings.
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        ids = tokenizer.convert_tokens_to_ids
        self.image_token_id = getattr(tokenizer, "image_token_id", None) or ids(self.image_token)
        self.video_token_id = getattr(tokenizer, "video_token_id", None) or ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kwargs)

    def to_dict(self) -> dict:
        """The processor's settings, named as a standard `Qwen2_5_VLProcessor` (so saved folders stay standard).

        Returns:
            `ProcessorMixin.to_dict()` with `processor_class` "Qwen2_5_VLProcessor".
        """
        output = super().to_dict()
        output["processor_class"] = Qwen2_5_VLProcessor.__name__
        return output


def needs_images_only_processor(model_type: str | None) -> bool:
    """Whether a folder of `model_type` needs `ImagesOnlyQwen2_5_VLProcessor` here (Qwen2.5-VL, no torchvision).

    Args:
        model_type: the `model_type` of the model's config.json (None when unknown).

    Returns:
        True for "qwen2_5_vl" when torchvision is not importable.
    """
    from transformers.utils import is_torchvision_available

    return model_type == MODEL_TYPE and not is_torchvision_available()

