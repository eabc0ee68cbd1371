"""`pipeline("zero-shot-rgb-ir-classification")`: label an RGB or IR image with free-text classes.

    >>> import fusionrs
    >>> from transformers import pipeline
    >>> pipe = pipeline("zero-shot-rgb-ir-classification", model="runs/clip/trimodal")
    >>> pipe(ir_image, candidate_labels=["harbour", "forest", "airport"], modality="ir")
    [{'score': 0.91, 'label': 'harbour'}, {'score': 0.06, 'label': 'forest'}, ...]

Output as transformers' `zero-shot-image-classification`: one {"score", "label"} per candidate,
best first, scores softmax-normalised over the candidates. `hypothesis_template` (a string with
"{}" or a list of them) defaults to the remote-sensing prompt ensemble of the modality
(`fusionrs.clip.zeroshot.RGB_TEMPLATES` / `IR_TEMPLATES`): each label's template embeddings are
averaged and re-normalised, as in `fusionrs eval clip`. IR is replicated to 3 channels. `modality` and
`hypothesis_template` given to `pipeline(...)` become the defaults of every call.

The label embeddings (labels x templates through the text tower) depend only on the labels and the
templates, so each pipeline keeps the last `LABEL_CACHE_SIZE` sets it computed: classifying many
images with the same labels runs the text tower once, not once per image.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from fusionrs.clip.embed import MODALITIES
from fusionrs.clip.zeroshot import templates_for
from fusionrs.pipelines.clip_features import ClipPipelineBase

__all__ = ["LABEL_CACHE_SIZE", "ZeroShotRGBIRClassificationPipeline", "prompt_templates"]

LABEL_CACHE_SIZE = 16  # label/template sets whose text embeddings a pipeline keeps


def prompt_templates(modality: str = "rgb", hypothesis_template: str | Sequence[str] | None = None) -> list[str]:
    """The prompt templates the pipeline ensembles for one call.

    Args:
        modality: "rgb" or "ir": picks the default ensemble (`RGB_TEMPLATES` / `IR_TEMPLATES`).
        hypothesis_template: a template with "{}" or a list of them; None: the modality's ensemble.

    Returns:
        The templates, in order; each label's prompts are these with the label in the "{}".

    Raises:
        ValueError: `modality` is not "rgb" or "ir", or a template lacks the "{}" placeholder.
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be 'rgb' or 'ir', got {modality!r}")
    if hypothesis_template is None:
        return list(templates_for(modality))
    templates = [hypothesis_template] if isinstance(hypothesis_template, str) else list(hypothesis_template)
    if not templates or any("{}" not in t for t in templates):
        raise ValueError(f"hypothesis_template needs a '{{}}' placeholder, got {hypothesis_template!r}")
    return templates


class ZeroShotRGBIRClassificationPipeline(ClipPipelineBase):
    """Zero-shot scene / object labels for RGB or IR images with a dual-modal CLIP folder."""

    task_name = "zero-shot-rgb-ir-classification"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._label_cache: OrderedDict[tuple[str, ...], torch.Tensor] = OrderedDict()
        self.label_cache_size = LABEL_CACHE_SIZE  # 0 turns the cache off (every call re-encodes its labels)

    def label_embeddings(self, labels: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
        """(labels, dim) text embeddings: each label's template embeddings averaged and re-normalised.

        Computed once per (labels, templates) and kept (the last `label_cache_size` sets, default
        `LABEL_CACHE_SIZE`).

        Args:
            labels: the candidate labels.
            templates: the prompt templates, each with "{}".

        Returns:
            A float tensor of L2-normalised rows, one per label, on the model's device.
        """
        prompts = tuple(t.format(label) for label in labels for t in templates)
        cached = self._label_cache.get(prompts)
        if cached is not None:
            self._label_cache.move_to_end(prompts)
            return cached
        with torch.inference_mode():
            text = self.embedder.embed_tokens(self.embedder.tokenize(list(prompts)))
        text = torch.nn.functional.normalize(text.reshape(len(labels), len(templates), -1).mean(dim=1), dim=-1)
        self._label_cache[prompts] = text
        while len(self._label_cache) > self.label_cache_size:
            self._label_cache.popitem(last=False)
        return text

    def __call__(self, image: Any, candidate_labels: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Score `candidate_labels` for one image or a list of them.

        Args:
            image: a PIL image, path, bytes or array, or a list of them.
            candidate_labels: the classes, as a list or one comma-separated string.
            **kwargs: `modality` ("rgb", the default, or "ir": which prompt ensemble, and IR is replicated to
                3 channels) and `hypothesis_template` (a template with "{}" or a list of them, whose text
                embeddings are averaged per label); both may also be given to `pipeline(...)` as defaults.

        Returns:
            Per image, one {"score", "label"} per candidate, best first, scores summing to 1.

        Raises:
            ValueError: no candidate labels, an unknown modality or a template without "{}".
        """
        if candidate_labels is not None:
            kwargs["candidate_labels"] = candidate_labels
        return super().__call__(image, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, modality=None, **kwargs):
        preprocess: dict[str, Any] = {}
        if candidate_labels is not None:
            preprocess["candidate_labels"] = candidate_labels
        if hypothesis_template is not None:
            preprocess["hypothesis_template"] = hypothesis_template
        if modality is not None:
            preprocess["modality"] = modality
        return preprocess, {}, {}

    def preprocess(self, image: Any, candidate_labels: Sequence[str] | None = None,
                   hypothesis_template: str | Sequence[str] | None = None, modality: str = "rgb") -> dict[str, Any]:
        templates = prompt_templates(modality, hypothesis_template)
        if isinstance(candidate_labels, str):
            candidate_labels = [label.strip() for label in candidate_labels.split(",") if label.strip()]
        if not candidate_labels:
            raise ValueError("candidate_labels is required: the classes to choose from")
        return {"pixel_values": self.embedder.pixel_values([image], modality),
                "candidate_labels": list(candidate_labels), "templates": templates}

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        labels = model_inputs["candidate_labels"]
        image = self.embedder.embed_pixels(model_inputs["pixel_values"])
        text = self.label_embeddings(labels, model_inputs["templates"])
        return {"logits": self.embedder.logit_scale * (image @ text.T)[0], "candidate_labels": labels}

    def postprocess(self, model_outputs: dict[str, Any]) -> list[dict[str, Any]]:
        probs = model_outputs["logits"].float().softmax(dim=-1).tolist()
        ranked = sorted(zip(probs, model_outputs["candidate_labels"]), key=lambda pair: -pair[0])
        return [{"score": score, "label": label} for score, label in ranked]


# Imported before `transformers.pipelines` (e.g. `fusionrs.pipelines.zero_shot` first), this module was still
# initialising when the registry hook ran; register now that it is complete.
from fusionrs.pipelines.registry import register_own_task  # noqa: E402

register_own_task(ZeroShotRGBIRClassificationPipeline)
