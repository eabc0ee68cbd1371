"""`pipeline("rgb-ir-captioning", model=DIR)`: captions from an RGB (+ IR) pair, after `import fusionrs`.

Input: `{"rgb": ..., "ir": ...}` (paths, bytes, PIL images or arrays), or a list of them. With RGB
only, the IR image is made by the translator configured for the model (`translator` in the
`fusionrs_vlm.json` beside it, else `grayscale` with a warning), on the shared inference core.
Output per item: `{"caption": ...}`, `{"ir_aware_caption": ...}` or both (`task="both"`), plus
`ir_source` ("input" or "translated:<spec>").

A bad image in a batch raises an `ImageReadError` naming the item and field (`item 2, 'ir': ...`);
`on_error="return"` instead returns `{"error": ...}` for that item and captions for the others.

`mode` picks the user turn (`fusionrs.vlm.chat`): "rgb+ir" (two images in one turn), "rgb", "ir", or
"ir-official", the FusionRS authors' IR-only format for their Qwen2.5-VL adapters. `model=` may be a peft
adapter folder whose base transformers can find; `fusionrs.vlm.generate.load_vlm(folder, base_model=...)`
loads one strictly (keys checked, LoRA merged, any base) for `pipeline(..., model=model, processor=processor)`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from transformers import Pipeline

from fusionrs.errors import FusionRSError, ImageReadError

__all__ = ["RGBIRCaptioningPipeline"]

CAPTION_TASKS = ("caption", "ir_aware_caption")


class RGBIRCaptioningPipeline(Pipeline):
    """Dual-modal captioning over any image-text-to-text chat model trained by `fusionrs train vlm`."""

    _load_processor = None  # tried by transformers; where that fails (Qwen2.5-VL without torchvision) __init__ loads it
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args, translator: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        from fusionrs.core.references import resolve_spec
        from fusionrs.vlm.compose import read_vlm_config

        if self.processor is None:
            from fusionrs.vlm.loading import load_processor

            self.processor = load_processor(self.model.name_or_path, model_type=self.model.config.model_type)
        folder = Path(str(self.model.name_or_path))
        self.vlm_config = read_vlm_config(folder) if folder.is_dir() else {}
        # The model folder records its translator relative to itself (fusionrs.core.references).
        self.translator_spec = translator or resolve_spec(self.vlm_config.get("translator"), folder)
        self._translator = None

    # transformers' Pipeline contract: `_sanitize_parameters` splits the call's keyword arguments,
    # `preprocess` loads the images (translating missing IR) and builds the chat examples, `_forward`
    # generates, `postprocess` assembles one result dict per item. `__call__` only wraps the items in
    # one `_Batch`, so they go through these steps together: transformers would otherwise run a list
    # item by item, and its DataLoader batching collates tensors, not chat examples with PIL images.
    def _sanitize_parameters(self, task=None, mode=None, max_new_tokens=None, generation_batch_size=None, on_error=None,
                             **kwargs):
        preprocess = {k: v for k, v in {"task": task, "mode": mode, "on_error": on_error}.items() if v is not None}
        forward = {k: v for k, v in {"max_new_tokens": max_new_tokens,
                                     "batch_size": generation_batch_size}.items() if v is not None}
        return preprocess, forward, {}

    def preprocess(self, inputs, task: str | None = None, mode: str | None = None, on_error: str = "raise"):
        """Load and check every item, translate missing IR, build one chat example per (task, item)."""
        from fusionrs.vlm.chat import build_messages, check_mode

        items = inputs.items if isinstance(inputs, _Batch) else [inputs]
        task = task or "caption"
        tasks = CAPTION_TASKS if task == "both" else (task,)
        for name in tasks:
            if name not in CAPTION_TASKS:
                raise FusionRSError(f"task {name!r} is not one of caption, ir_aware_caption, both")
        if on_error not in ("raise", "return"):
            raise FusionRSError(f"on_error must be 'raise' or 'return', got {on_error!r}")
        mode = check_mode(mode or self.vlm_config.get("mode") or "rgb+ir")

        loaded, errors = self._load_items(items, mode, on_error)
        good = [i for i in range(len(items)) if i not in errors]
        self._translate_missing(loaded, good, mode)
        examples = {name: [{"id": str(i), "messages": build_messages(mode, name), "images": self._images(loaded[i], mode),
                            "image_keys": []} for i in good] for name in tasks}
        return {"count": len(items), "errors": errors, "good": good, "examples": examples,
                "ir_source": {i: loaded[i]["ir_source"] for i in good}}

    def _forward(self, model_inputs, max_new_tokens: int = 40, batch_size: int = 8):
        """Generate the texts of every task, batched over the items."""
        from fusionrs.vlm.generate import generate_texts

        texts = {}
        for name, examples in model_inputs["examples"].items():
            texts[name], _ = generate_texts(self.model, self.processor, examples, max_new_tokens=max_new_tokens,
                                            batch_size=batch_size, progress=False)
        return {**model_inputs, "texts": texts}

    def postprocess(self, model_outputs):
        """One dict per item: the text of each task and `ir_source`, or `{"error": ...}`."""
        errors = model_outputs["errors"]
        results: list[dict[str, Any]] = [{"error": errors[i]} if i in errors else {}
                                         for i in range(model_outputs["count"])]
        good = model_outputs["good"]
        for name, texts in model_outputs["texts"].items():
            for i, text in zip(good, texts):
                results[i][name] = text
        for i in good:
            results[i]["ir_source"] = model_outputs["ir_source"][i]
        return results

    @property
    def translator(self):
        """The RGB->IR translator for RGB-only inputs (loaded on first use)."""
        if self._translator is None:
            from fusionrs.translate.base import get_translator

            spec = self.translator_spec
            if not spec:
                warnings.warn("no translator configured for this model (fusionrs_vlm.json): using 'grayscale' "
                              "as IR, a weak stand-in", stacklevel=3)
                spec = "grayscale"
            try:
                self._translator = get_translator(spec)
            except Exception as error:  # a missing translator folder: say which, then fall back
                warnings.warn(f"translator {spec!r} unavailable ({error}); using 'grayscale'", stacklevel=3)
                spec = "grayscale"
                self._translator = get_translator(spec)
            self.translator_spec = spec
        return self._translator

    def __call__(self, inputs, task: str | None = None, mode: str | None = None, max_new_tokens: int = 40,
                 batch_size: int = 8, on_error: str = "raise", **kwargs):
        """Caption one input dict or a list of them; see the module docstring for the format.

        Args:
            inputs: one `{"rgb": ..., "ir": ...}` dict (either key may be missing; values are paths,
                bytes, PIL images or arrays), or a list of them.
            task: "caption" (default), "ir_aware_caption" or "both".
            mode: which images the model sees, and how the turn reads: "rgb+ir", "rgb", "ir" or
                "ir-official" (the authors' IR-only prompts); None uses the model's `fusionrs_vlm.json`
                mode, else "rgb+ir".
            max_new_tokens: the generation limit per caption (default 40).
            batch_size: items per generation batch (default 8).
            on_error: "raise" (a bad item raises `ImageReadError` / `FusionRSError`) or "return"
                (that item's result is `{"error": message}`).
            **kwargs: passed on to transformers' `Pipeline.__call__`.

        Returns:
            For a single dict, one result dict; for a list, a list of them in input order. A result
            holds "caption" and/or "ir_aware_caption" plus "ir_source" ("input" or
            "translated:<spec>"), or {"error": ...} with on_error="return".
        """
        single = isinstance(inputs, dict) or not isinstance(inputs, (list, tuple))
        items = [inputs] if single else list(inputs)
        results = super().__call__(_Batch(items), task=task, mode=mode, max_new_tokens=max_new_tokens,
                                   generation_batch_size=batch_size, on_error=on_error, **kwargs)
        return results[0] if single else results

    def _load_items(self, items: list, mode: str, on_error: str) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
        from fusionrs.core.image_io import load_image
        from fusionrs.vlm.chat import MODE_IMAGES

        loaded: dict[int, dict[str, Any]] = {}
        errors: dict[int, str] = {}
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict) or not ({"rgb", "ir"} & set(item)):
                    raise FusionRSError(f"item {index}: expected a dict with 'rgb' and/or 'ir', got {type(item).__name__}")
                entry: dict[str, Any] = {"rgb": None, "ir": None, "ir_source": "input"}
                for field, image_mode in (("rgb", "RGB"), ("ir", "L")):
                    if item.get(field) is None:
                        continue
                    try:
                        entry[field] = load_image(item[field], mode=image_mode, name=_describe(item[field]))
                    except ImageReadError as error:
                        raise ImageReadError(f"item {index}, {field!r}: {error.source}", error.reason) from error
                if "rgb" in MODE_IMAGES[mode] and entry["rgb"] is None:
                    raise FusionRSError(f"item {index}: mode {mode!r} needs an 'rgb' image")
                if MODE_IMAGES[mode] == ("ir",) and entry["ir"] is None and entry["rgb"] is None:
                    raise FusionRSError(f"item {index}: mode {mode!r} needs an 'ir' or 'rgb' image")
                loaded[index] = entry
            except FusionRSError as error:
                if on_error == "raise":
                    raise
                errors[index] = str(error)
        return loaded, errors

    def _translate_missing(self, loaded: dict[int, dict[str, Any]], good: list[int], mode: str) -> None:
        from fusionrs.vlm.chat import MODE_IMAGES

        if "ir" not in MODE_IMAGES[mode]:
            return
        todo = [i for i in good if loaded[i]["ir"] is None]
        if not todo:
            return
        translator = self.translator
        translated = translator.translate([loaded[i]["rgb"] for i in todo])
        for i, ir in zip(todo, translated):
            loaded[i]["ir"] = ir
            loaded[i]["ir_source"] = f"translated:{self.translator_spec}"

    @staticmethod
    def _images(entry: dict[str, Any], mode: str) -> list:
        from fusionrs.vlm.chat import images_for_mode

        return images_for_mode(mode, rgb=entry["rgb"], ir=entry["ir"])


class _Batch:
    """The items of one call, passed to `Pipeline.__call__` as a single input (see the contract above)."""

    def __init__(self, items: list) -> None:
        self.items = items


def _describe(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return type(source).__name__


# Imported before `transformers.pipelines` (e.g. `fusionrs.pipelines.captioning` first), this module was still
# initialising when the registry hook ran; register now that it is complete.
from fusionrs.pipelines.registry import register_own_task  # noqa: E402

register_own_task(RGBIRCaptioningPipeline)
