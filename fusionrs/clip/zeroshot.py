"""Zero-shot classification with a CLIP model: prompt templates, readable class names, classifier weights.

Class names in datasets are identifiers ("denseresidential", "storage_tanks", "BaseballField");
text encoders read sentences, so names are turned into phrases ("dense residential area") and
put into several templates whose embeddings are averaged (CLIP's prompt ensembling).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from fusionrs.clip.embed import ClipEmbedder

__all__ = [
    "IR_TEMPLATES",
    "OBJECT_TEMPLATES",
    "RGB_TEMPLATES",
    "classifier_weights",
    "pretty_class_name",
    "templates_for",
    "zero_shot_logits",
]

# Remote-sensing phrasing: "a photo of a {}" (CLIP's default) describes ground-level photos.
RGB_TEMPLATES: tuple[str, ...] = (
    "a satellite image of {}.",
    "an aerial image of {}.",
    "an aerial photograph of {}.",
    "a remote sensing image of {}.",
    "an overhead view of {}.",
)
# The dataset's IR is infrared-*style* (translated), described by appearance, never by temperature.
IR_TEMPLATES: tuple[str, ...] = (
    "an infrared aerial image of {}.",
    "an infrared-style remote sensing image of {}.",
    "a grayscale infrared image of {} seen from above.",
    "a thermal infrared aerial view of {}.",
    "an overhead infrared image of {}.",
)
# Object presence in real thermal drone images (HIT-UAV): "{}" is an object phrase such as "a person".
OBJECT_TEMPLATES: tuple[str, ...] = (
    "an infrared aerial image with {} in it.",
    "a thermal drone image showing {}.",
    "an overhead infrared image containing {}.",
)

# Squashed identifier (lower case, letters and digits only) -> phrase. Covers AID / RSICD / UCM /
# NWPU-RESISC45 / RSITMD names that cannot be split mechanically, and names that read better as a place.
_PHRASES = {
    "bareland": "bare land",
    "baseballfield": "baseball field",
    "baseballdiamond": "baseball diamond",
    "basketballcourt": "basketball court",
    "boat": "boats",
    "buildings": "buildings",
    "center": "city center",
    "circularfarmland": "circular farmland",
    "commercial": "commercial area",
    "commercialarea": "commercial area",
    "denseresidential": "dense residential area",
    "golfcourse": "golf course",
    "groundtrackfield": "ground track field",
    "industrial": "industrial area",
    "industrialarea": "industrial area",
    "lakepond": "lake or pond",
    "mediumresidential": "medium residential area",
    "mobilehomepark": "mobile home park",
    "parking": "parking lot",
    "parkinglot": "parking lot",
    "railwaystation": "railway station",
    "rectangularfarmland": "rectangular farmland",
    "residential": "residential area",
    "seaice": "sea ice",
    "sparseresidential": "sparse residential area",
    "storagetank": "storage tanks",
    "storagetanks": "storage tanks",
    "tenniscourt": "tennis court",
    "thermalpowerstation": "thermal power station",
}


def pretty_class_name(name: str) -> str:
    """'denseresidential' / 'DenseResidential' / 'dense_residential' -> 'dense residential area'.

    Args:
        name: a dataset class identifier (squashed, CamelCase, snake_case or kebab-case).

    Returns:
        The lower-case phrase: a curated one for known remote-sensing names, else the name split
        at case changes, underscores, hyphens and spaces.
    """
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    if squashed in _PHRASES:
        return _PHRASES[squashed]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name.strip())  # camelCase -> camel Case
    return re.sub(r"[\s_\-]+", " ", words).strip().lower()


def templates_for(modality: str) -> tuple[str, ...]:
    """The default prompt templates of a modality ("rgb" or "ir").

    Args:
        modality: "rgb" or "ir".

    Returns:
        `RGB_TEMPLATES` or `IR_TEMPLATES`, each a tuple of strings with one "{}" placeholder.

    Raises:
        ValueError: when `modality` is neither "rgb" nor "ir".
    """
    if modality == "rgb":
        return RGB_TEMPLATES
    if modality == "ir":
        return IR_TEMPLATES
    raise ValueError(f"modality must be 'rgb' or 'ir', got {modality!r}")


def classifier_weights(embedder: "ClipEmbedder", class_phrases: Sequence[str],
                       templates: Sequence[str] = RGB_TEMPLATES) -> "torch.Tensor":
    """(classes, dim) L2-normalised text classifier: the mean of each class's template embeddings.

    Phrases go into the templates verbatim (prettify them first if they are identifiers).

    Args:
        embedder: the `ClipEmbedder` whose text tower embeds the prompts.
        class_phrases: one phrase per class, in class order.
        templates: prompt templates, each with a "{}" placeholder (default `RGB_TEMPLATES`).

    Returns:
        A float32 CPU tensor of shape (len(class_phrases), projection_dim), each row the
        L2-normalised mean of that class's template embeddings.

    Raises:
        ValueError: when `class_phrases` is empty, or `templates` is empty or has a template
            without "{}".
    """
    import torch

    if not class_phrases:
        raise ValueError("need at least one class")
    if not templates or any("{}" not in t for t in templates):
        raise ValueError(f"every template needs a '{{}}' placeholder, got {list(templates)!r}")
    prompts = [t.format(c) for c in class_phrases for t in templates]
    emb = embedder.embed_texts(prompts).reshape(len(class_phrases), len(templates), -1).mean(dim=1)
    return torch.nn.functional.normalize(emb, dim=-1)


def zero_shot_logits(image_embeddings: "torch.Tensor", weights: "torch.Tensor", logit_scale: float = 100.0) -> "torch.Tensor":
    """(images, classes) logits = scale * cosine similarity (softmax them for probabilities).

    Args:
        image_embeddings: (images, dim) L2-normalised image embeddings.
        weights: (classes, dim) classifier from `classifier_weights`.
        logit_scale: the multiplier (CLIP's learned scale, capped at 100; default 100).

    Returns:
        A float32 tensor of shape (images, classes).
    """
    return logit_scale * image_embeddings.float() @ weights.float().T
