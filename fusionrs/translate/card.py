"""The translator's model card: README.md beside the weights, with full hub metadata.

The trainer writes it when it saves a translator (`translate.train`); `fusionrs push` rewrites it
with evaluation results. Both render through `core.model_card`, so the two are the same card.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fusionrs.core.model_card import render_model_card

__all__ = ["render_translator_card", "write_translator_card"]


def render_translator_card(
    folder: str | Path,
    *,
    repo_id: str | None = None,
    eval_json: list[str | Path | Mapping[str, Any]] | None = None,
    license: str | None = None,
) -> str:
    """README.md of a translator folder from model_cards/translator.md.

    Args:
        folder: the translator folder (with translator_config.json: preset, training data, licence).
        repo_id: the hub repo the card is for (default: the folder's name).
        eval_json: `fusionrs eval translator` results -> `model-index`.
        license: a hub licence id; never relaxes non-commercial training data.

    Returns:
        The card text.

    Raises:
        CardValidationError: unreadable notes, an eval JSON without metrics, or a licence that
            would allow commercial use of non-commercial data.
    """
    return render_model_card("translator", folder, repo_id=repo_id, eval_json=eval_json, license=license)


def write_translator_card(folder: str | Path) -> Path:
    """Write the translator folder's README.md (the card as trained: no evaluation yet).

    Args:
        folder: the translator folder.

    Returns:
        The README.md path.

    Raises:
        CardValidationError: the folder's translator_config.json is not valid JSON.
    """
    path = Path(folder) / "README.md"
    path.write_text(render_translator_card(folder))
    return path
