"""The dataset card (README.md) of a dataset folder, from model_cards/dataset.md.

The folder writer renders it when it writes a folder (`data.folder`); `fusionrs push` refreshes it
from the folder's generation.json before an upload. The licence comes from the sources' rights
(`core.licences`): a declared licence may be stricter than the inherited one, never looser than a
non-commercial source. The YAML licence fields, the licence text and `size_categories` are set here
from one `LicenceInfo` and the row count; the split paragraph comes from the split code
(`split_wording`); no absolute local path reaches the card (`core.references.scrub_local_paths`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionrs.core.card_templates import CITATION, LIMITATIONS, size_category, template_text
from fusionrs.core.licences import dataset_rights, licence_from_rights, licence_statement
from fusionrs.core.references import LOCAL_PATH, scrub_local_paths, scrub_published
from fusionrs.version import __version__

if TYPE_CHECKING:
    from huggingface_hub import DatasetCardData

__all__ = ["filter_report_from_generation", "refresh_dataset_card", "render_dataset_card", "scrub_local_paths",
           "scrub_published", "split_wording"]

# The absolute-path pattern every published file is checked against (it lives in `core.references`).
_ABS_PATH = LOCAL_PATH
# Said when a folder records no split rule (written by hand or by an older fusionrs).
_NO_SPLIT_RULE = "The folder records no split rule: splits are as stored in each row's `split` field."
# generation.json fields that `describe_split_policy` takes, as a build records them.
_SPLIT_FIELDS = {"split_policy": "policy", "fractions": "fractions", "min_heldout_per_source": "min_heldout_per_source",
                 "seed": "seed", "max_distance": "max_distance", "crop_phashes": "crop_phashes"}


def split_wording(generation: Mapping[str, Any]) -> str:
    """What a dataset card says about its splits, made by the code that split the records.

    Args:
        generation: the folder's `generation` block. A build's split settings (`split_policy`,
            `fractions`, ...) are described by `fusionrs.data.splits.describe_split_policy`; other
            writers that split records themselves (the procedural world) record their
            `split_description`.

    Returns:
        The paragraph; a plain "no split rule recorded" sentence when there is neither.
    """
    if generation.get("split_policy"):
        from fusionrs.data.splits import describe_split_policy

        return describe_split_policy(**{arg: generation[key] for key, arg in _SPLIT_FIELDS.items()
                                        if generation.get(key) is not None})
    return str(generation.get("split_description") or _NO_SPLIT_RULE)


def filter_report_from_generation(generation: Mapping[str, Any]) -> dict[str, Any] | None:
    """The IR-caption strict-filter outcome recorded by `fusionrs build` / `fusionrs captions`.

    Args:
        generation: the `generation` block of a folder's generation.json.

    Returns:
        {"counts": reason -> rows (most first), "accepted", "rejected", "captioner"}, or None when
        the build recorded no filter outcome.
    """
    counts = generation.get("ir_caption_filter_counts")
    report = generation.get("ir_caption_report") or {}
    if not counts and not report:
        return None
    return {"counts": dict(sorted((counts or {}).items(), key=lambda kv: -kv[1])),
            "accepted": report.get("accepted"), "rejected": report.get("rejected"),
            "captioner": report.get("captioner") or generation.get("captioner")}


def render_dataset_card(
    card_data: DatasetCardData,
    *,
    pretty_name: str,
    description: str,
    repo_hint: str,
    split_counts: Mapping[str, int],
    sources: list[dict[str, Any]],
    generation: Mapping[str, Any],
    skipped: list[dict[str, str]],
    citation: str | None = CITATION,
    schema_version: str | None = None,
) -> str:
    """README.md of a dataset folder from model_cards/dataset.md.

    Args:
        card_data: a `DatasetCardData` that already holds `configs` + `dataset_info` (what
            `load_dataset` reads) and, optionally, a declared `license` (+ `license_name`). Its
            licence fields and `size_categories` are set here.
        pretty_name: the card's title.
        description: the paragraph under the title (a default one when empty).
        repo_hint: the repo id (or folder name) the usage snippet loads.
        split_counts: split -> rows.
        sources: {"name", "rows", "rights"} per source.
        generation: how the folder was built (shown as JSON; its filter report as a table). Its
            `translator_rights`, when set (the packaged `builtin:default` translator), joins the
            sources' rights in the licence rule.
        skipped: {"id", "reason"} of every record left out.
            Absolute local paths in either are shown relative (`scrub_local_paths`).
        citation: the BibTeX entry (None: no citation section).
        schema_version: the dataset schema the folder was written with (None: the current
            `fusionrs.data.schema.SCHEMA_VERSION`; imported late, it pulls in `datasets`).

    Returns:
        The card text.

    Raises:
        CardValidationError: the declared licence allows commercial use of non-commercial sources.
    """
    from huggingface_hub import DatasetCard

    if schema_version is None:
        from fusionrs.data.schema import SCHEMA_VERSION as schema_version

    rights = {s["name"]: s.get("rights") or "" for s in sources}
    if generation.get("translator_rights"):
        # The translator's terms travel with its output: the packaged default (research-only) restricts
        # every record it translated, as a non-commercial source would.
        rights[f"translator {generation.get('translator')}"] = generation["translator_rights"]
    # The one rule: the declared licence wins only where the sources' rights allow it (never looser than
    # non-commercial sources); `other` without a name declares nothing. YAML and text come from this one object.
    licence = licence_from_rights(rights, override=card_data.get("license"), license_name=card_data.get("license_name"))
    for key in ("license", "license_name", "license_link"):
        card_data[key] = None
    for key, value in licence.card_fields().items():
        card_data[key] = value
    card_data["size_categories"] = [size_category(sum(split_counts.values()))]
    # Published text carries relative locators only (also for folders written before this rule).
    generation, skipped = scrub_published(dict(generation)), scrub_published(list(skipped))
    sources = scrub_published(list(sources))
    card = DatasetCard.from_template(
        card_data,
        template_str=template_text("dataset"),
        pretty_name=scrub_local_paths(pretty_name),
        description=scrub_local_paths(description or "An RGB / infrared-style / caption dataset built with fusionrs."),
        repo_hint=scrub_local_paths(repo_hint),
        first_split=sorted(split_counts)[0],
        split_counts=dict(sorted(split_counts.items())),
        split_wording=split_wording(generation),
        sources=sources,
        licence=licence,
        licence_statement=licence_statement(licence, subject="dataset"),
        generation_json=json.dumps(dict(generation), indent=2, sort_keys=True),
        filter_report=filter_report_from_generation(generation),
        skipped=skipped,
        citation=citation,
        limitations=LIMITATIONS[:2],
        fusionrs_version=__version__,
        schema_version=schema_version,
    )
    return str(card)


def _first_paragraph(body: str) -> str:
    """The description paragraph under the card's title (what the writer was given)."""
    lines = body.strip().splitlines()
    paragraph: list[str] = []
    for line in lines[1:] if lines and lines[0].startswith("#") else lines:
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line)
    return "\n".join(paragraph)


def refresh_dataset_card(folder: str | Path, *, repo_id: str | None = None, schema_version: str | None = None) -> str:
    """Re-render a dataset folder's README.md from its generation.json, keeping its YAML `configs` and
    `dataset_info` (what `load_dataset` reads).

    Args:
        folder: the dataset folder (README.md + data/*.parquet, generation.json when fusionrs wrote it).
        repo_id: the repo the card is for (the usage snippet; default: the folder's name).
        schema_version: the dataset schema the card names (None: the current one, as in
            `render_dataset_card`).

    Returns:
        The new card text; the README unchanged when the folder has no generation.json.

    Raises:
        CardValidationError: the card's licence allows commercial use of non-commercial sources.
    """
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    readme = folder / "README.md"
    if not (folder / "generation.json").is_file():
        return readme.read_text()
    card = DatasetCard.load(readme)
    written = json.loads((folder / "generation.json").read_text())
    rights = dataset_rights(folder)
    counts = written.get("source_counts") or {}
    sources = [{"name": n, "rows": counts.get(n, "?"), "rights": rights.get(n) or "not stated"}
               for n in sorted(set(counts) | set(rights))]
    # the licence is re-derived from the rights (a declared one kept where they allow it): `render_dataset_card`
    return render_dataset_card(
        card.data,
        pretty_name=card.data.get("pretty_name") or "FusionRS dataset",
        description=_first_paragraph(card.text),
        repo_hint=repo_id or folder.name,
        split_counts=written.get("split_counts") or {},
        sources=sources,
        generation=written.get("generation") or {},
        skipped=written.get("skipped") or [],
        schema_version=schema_version,
    )
