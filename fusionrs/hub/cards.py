"""Dataset and model cards, as the hub push sees them: every name re-exported from where it lives.

The card code sits in the lowest stage that needs it, so each stage writes its own card without
importing the hub:

- `fusionrs.core.licences`: the one licence rule (`licence_from_rights`, `dataset_rights`, `LicenceInfo`,
  `LICENSE_IDS`);
- `fusionrs.core.card_templates`: the templates in model_cards/ and the text every card shares;
- `fusionrs.core.model_index`: `model-index` from eval JSON (huggingface_hub's `EvalResult`);
- `fusionrs.core.model_card`: translator / CLIP / VLM model cards (`translate.card` wraps the translator's);
- `fusionrs.data.card`: the dataset card the folder writer writes and `push` refreshes;
- `fusionrs.hub.validation`: local checks of card metadata against the hub's rules.
"""

from __future__ import annotations

from fusionrs.core.card_templates import CARD_KINDS, LIMITATIONS, template_text
from fusionrs.core.licences import LICENSE_IDS, LicenceInfo, dataset_rights, licence_from_rights
from fusionrs.core.model_card import read_model_meta, render_model_card
from fusionrs.core.model_index import model_index_from_eval
from fusionrs.data.card import filter_report_from_generation, refresh_dataset_card, render_dataset_card
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
    "model_index_from_eval",
    "read_model_meta",
    "render_dataset_card",
    "refresh_dataset_card",
    "render_model_card",
    "template_text",
    "validate_card",
]
