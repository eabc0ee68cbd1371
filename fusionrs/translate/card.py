"""The translator's model card: README.md beside the weights, with full hub metadata.

The trainer writes it when it saves a translator (`translate.train`); `fusionrs push` rewrites it
with evaluation results. Both render through `core.model_card`, so the two are the same card.

The translator's licence comes from its training data by one rule (`translator_licence`, which is
`core.licences.training_licence`): the card's YAML `license` / `license_name` / `license_link`, its
licence text and the `licence` / `commercial_use` rows it shows are the same `LicenceInfo`. CC0
procedural-world data alone leaves the model permissive (Apache-2.0, commercial use allowed);
research-use or unstated sources (RoadScene) make it research-only; non-commercial ones (LLVIP)
non-commercial.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fusionrs.core.licences import LicenceInfo
from fusionrs.core.model_card import model_licence, read_model_meta, render_model_card

__all__ = ["render_translator_card", "translator_licence", "write_translator_card"]


def translator_licence(folder: str | Path | None = None, *, training_data: list[str] | None = None,
                       license: str | None = None) -> LicenceInfo:
    """The licence a translator inherits from its training data: what its card states, in every field.

    Args:
        folder: a translator folder (its translator_config.json: `training_data`, `rights`, `licence`);
            None to ask about `training_data` alone (what a trainer is about to record).
        training_data: more source names ("world", "roadscene", "llvip").
        license: a declared hub licence id; never relaxes non-commercial data.

    Returns:
        The `LicenceInfo`; its `note` is the `licence` a translator_config.json should record and
        `commercial_use` its `commercial_use`.

    Raises:
        CardValidationError: an unreadable translator_config.json, or a `license` that would allow
            commercial use of non-commercial data.
    """
    meta = read_model_meta(folder, "translator") if folder is not None else {}
    return model_licence(folder or ".", meta, training_data=training_data, license=license)


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
