"""Dataset and model cards, as the hub push sees them: every name re-exported from where it lives.

The card code sits in the lowest stage that needs it, so each stage writes its own card without
importing the hub:

- `fusionrs.core.licences`: the one licence rule (`licence_from_rights`, `training_licence`, `dataset_rights`,
  `LicenceInfo`, `licence_statement`, `LICENSE_IDS`);
- `fusionrs.core.card_templates`: the templates in model_cards/, the text every card shares, `size_category`;
- `fusionrs.core.model_index`: `model-index` from eval JSON (huggingface_hub's `EvalResult`);
- `fusionrs.core.model_card`: translator / CLIP / VLM model cards (`translate.card` wraps the translator's);
- `fusionrs.data.card`: the dataset card the folder writer writes and `push` refreshes (its split paragraph
  from `fusionrs.data.splits.describe_split_policy`);
- `fusionrs.hub.validation`: local checks of card metadata against the hub's rules.
"""

from __future__ import annotations

from fusionrs.core.card_templates import CARD_KINDS, LIMITATIONS, size_category, template_text
from fusionrs.core.licences import (
    LICENSE_IDS,
    LicenceInfo,
    dataset_rights,
    licence_from_rights,
    licence_statement,
    training_licence,
)
from fusionrs.core.model_card import read_model_meta, render_model_card
from fusionrs.core.model_index import model_index_from_eval
from fusionrs.data.card import filter_report_from_generation, refresh_dataset_card, render_dataset_card, split_wording
from fusionrs.errors import CardValidationError
from fusionrs.hub.validation import PIPELINE_TAGS, check_card, validate_card

__all__ = [
    "CARD_KINDS",
    "CardValidationError",
    "LicenceInfo",
    "PIPELINE_TAGS",
    "LICENSE_IDS",
    "LIMITATIONS",
    "check_card",
    "dataset_rights",
    "filter_report_from_generation",
    "licence_from_rights",
    "licence_statement",
    "model_index_from_eval",
    "read_model_meta",
    "render_dataset_card",
    "refresh_dataset_card",
    "render_model_card",
    "size_category",
    "split_wording",
    "template_text",
    "training_licence",
    "validate_card",
]
