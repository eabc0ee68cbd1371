"""`pipeline("rgb-ir-feature-extraction")`: RGB, IR and text embeddings of a dual-modal CLIP folder.

    >>> import fusionrs
    >>> from transformers import pipeline
    >>> pipe = pipeline("rgb-ir-feature-extraction", model="runs/clip/trimodal")
    >>> out = pipe({"rgb": rgb_image, "ir": ir_image, "text": "a harbour with boats"})
    >>> out["rgb"] @ out["text"]           # cosine similarity: embeddings are L2-normalised
    >>> pipe("a harbour with boats")       # a bare string is text -> one embedding
    >>> pipe(ir_image, modality="ir")      # a bare image needs its modality (default "rgb")

Lists (of dicts, strings or images, or a dict of equal-length lists) give lists. Embeddings are
float32 CPU tensors of the model's projection size, as `fusionrs.clip.embed.ClipEmbedder` makes them
(`return_tensors=False` gives Python lists). IR is replicated to 3 channels for the shared encoder.
"""

from __future__ import annotations

from typing import Any

from transformers import Pipeline

from fusionrs.clip.embed import MODALITIES, ClipEmbedder

__all__ = ["RGBIRFeatureExtractionPipeline"]

_KEYS = (*MODALITIES, "text")


def _expand(inputs: Any) -> Any:
    """{"rgb": [a, b]} -> [{"rgb": a}, {"rgb": b}]: the base Pipeline iterates over lists only."""
    if isinstance(inputs, dict) and inputs and all(isinstance(v, (list, tuple)) for v in inputs.values()):
        lengths = {len(v) for v in inputs.values()}
        if len(lengths) != 1:
            raise ValueError(f"lists in the input dict differ in length: { {k: len(v) for k, v in inputs.items()} }")
        return [dict(zip(inputs, values)) for values in zip(*inputs.values())]
    return inputs


class ClipPipelineBase(Pipeline):
    """Loads the CLIP folder's AutoProcessor (images + text) and wraps model + processor in one embedder."""

    _load_processor = True
    _load_image_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False
    task_name = "this pipeline"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.processor is None:
            raise ValueError(f"{self.task_name} needs the model's processor (AutoProcessor of the CLIP folder)")
        self.embedder = ClipEmbedder(self.model, self.processor, device=self.device, dtype=self.model.dtype)


class RGBIRFeatureExtractionPipeline(ClipPipelineBase):
    """Embeddings of RGB images, IR images and texts in the shared CLIP space."""

    task_name = "rgb-ir-feature-extraction"

    def _sanitize_parameters(self, modality: str | None = None, return_tensors: bool | None = None, **kwargs):
        preprocess = {} if modality is None else {"modality": modality}
        postprocess = {} if return_tensors is None else {"return_tensors": return_tensors}
        return preprocess, {}, postprocess

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Embed one input or a list of them.

        Args:
            inputs: a string (text), an image (PIL, path, bytes or array), a dict with keys among "rgb", "ir",
                "text", a dict of equal-length lists, or a list of any of these.
            **kwargs: `modality` ("rgb", the default, or "ir") for bare images; `return_tensors` (False: Python
                lists); `batch_size` (transformers' batching: images of one call share a forward pass).

        Returns:
            Per input, one L2-normalised embedding (a bare string or image) or a dict of them (a dict input).

        Raises:
            ValueError: unknown dict keys, lists of different lengths or an unknown modality.
            TypeError: a "text" value that is not a string.
        """
        return super().__call__(_expand(inputs), **kwargs)

    def preprocess(self, inputs: Any, modality: str = "rgb") -> dict[str, Any]:
        if isinstance(inputs, str):
            items, single = {"text": inputs}, "text"
        elif isinstance(inputs, dict):
            unknown = sorted(set(inputs) - set(_KEYS))
            if unknown or not inputs:
                raise ValueError(f"input keys must be among {list(_KEYS)}, got {sorted(inputs)}")
            items, single = inputs, None
        else:
            if modality not in MODALITIES:
                raise ValueError(f"modality must be 'rgb' or 'ir', got {modality!r}")
            items, single = {modality: inputs}, modality
        model_inputs: dict[str, Any] = {"single": single}
        for key, value in items.items():
            if key == "text":
                if not isinstance(value, str):
                    raise TypeError(f"'text' must be a string, got {type(value).__name__}")
                model_inputs["text"] = self.embedder.tokenize([value])
            else:
                model_inputs[key] = self.embedder.pixel_values([value], key)
        return model_inputs

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"single": model_inputs["single"]}
        for key in _KEYS:
            if key in model_inputs:
                value = model_inputs[key]
                out[key] = self.embedder.embed_tokens(value) if key == "text" else self.embedder.embed_pixels(value)
        return out

    def postprocess(self, model_outputs: dict[str, Any], return_tensors: bool = True) -> Any:
        embeddings = {k: v[0] if return_tensors else v[0].tolist() for k, v in model_outputs.items() if k in _KEYS}
        single = model_outputs["single"]
        return embeddings[single] if single else embeddings


# Imported before `transformers.pipelines` (e.g. `fusionrs.pipelines.clip_features` first), this module was still
# initialising when the registry hook ran; register now that it is complete.
from fusionrs.pipelines.registry import register_own_task  # noqa: E402

register_own_task(RGBIRFeatureExtractionPipeline)
