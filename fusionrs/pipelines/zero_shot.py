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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from fusionrs.clip.embed import MODALITIES
from fusionrs.clip.zeroshot import templates_for
from fusionrs.pipelines.clip_features import ClipPipelineBase

__all__ = ["ZeroShotRGBIRClassificationPipeline", "prompt_templates"]


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
        prompts = [t.format(label) for label in candidate_labels for t in templates]
        return {"pixel_values": self.embedder.pixel_values([image], modality),
                "text": self.embedder.tokenize(prompts), "candidate_labels": list(candidate_labels),
                "n_templates": len(templates)}

    def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
        labels = model_inputs["candidate_labels"]
        image = self.embedder.embed_pixels(model_inputs["pixel_values"])
        text = self.embedder.embed_tokens(model_inputs["text"]).reshape(len(labels), model_inputs["n_templates"], -1)
        # Prompt ensembling: average each label's template embeddings, then re-normalise.
        text = torch.nn.functional.normalize(text.mean(dim=1), dim=-1)
        return {"logits": self.embedder.logit_scale * (image @ text.T)[0], "candidate_labels": labels}

    def postprocess(self, model_outputs: dict[str, Any]) -> list[dict[str, Any]]:
        probs = model_outputs["logits"].float().softmax(dim=-1).tolist()
        ranked = sorted(zip(probs, model_outputs["candidate_labels"]), key=lambda pair: -pair[0])
        return [{"score": score, "label": label} for score, label in ranked]


# Imported before `transformers.pipelines` (e.g. `fusionrs.pipelines.zero_shot` first), this module was still
# initialising when the registry hook ran; register now that it is complete.
from fusionrs.pipelines.registry import register_own_task  # noqa: E402

register_own_task(ZeroShotRGBIRClassificationPipeline)
