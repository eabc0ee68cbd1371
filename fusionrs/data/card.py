"""The dataset card (README.md) of a dataset folder, from model_cards/dataset.md.

The folder writer renders it when it writes a folder (`data.folder`); `fusionrs push` refreshes it
from the folder's generation.json before an upload. The licence comes from the sources' rights
(`core.licences`): a declared licence may be stricter than the inherited one, never looser.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusionrs.core.card_templates import CITATION, LIMITATIONS, template_text
from fusionrs.core.licences import LicenceInfo, dataset_rights, licence_from_rights, require_non_commercial_licence
from fusionrs.version import __version__

if TYPE_CHECKING:
    from huggingface_hub import DatasetCardData

__all__ = ["filter_report_from_generation", "refresh_dataset_card", "render_dataset_card", "scrub_local_paths",
           "scrub_published"]

# An absolute local path inside free text: POSIX `/a/b`, home `~/a`, Windows `C:\a`. Not preceded by a word
# character, '.', '/', '~' or '-' (so `RGB/IR`, `3/4`, `./x`, `https://host/x` are left alone).
_ABS_PATH = re.compile(r"(?<![\w./~\\-])(?:~/|/(?=[^\s/])|[A-Za-z]:[\\/])[^\s'\"`<>|,;()\[\]{}]*")


def _local_roots(roots: Iterable[str | os.PathLike]) -> list[str]:
    """Each root as given, absolute and resolved, longest first (so the deepest root wins)."""
    forms: set[str] = set()
    for root in roots:
        if not root:
            continue
        path = Path(root).expanduser()
        for form in (path, path.absolute(), path.resolve()):
            text = str(form).rstrip("/\\")
            if text and text not in ("/", "."):
                forms.add(text)
    return sorted(forms, key=len, reverse=True)


def scrub_local_paths(text: str, roots: Iterable[str | os.PathLike] = ()) -> str:
    """`text` with no absolute local path left: what a published file (card, generation.json) may say.

    A path under one of `roots` becomes its locator relative to that root (`/data/RSICD/images/a.jpg`
    with root `/data/RSICD` -> `images/a.jpg`); a root itself becomes `<source root>`; any other
    absolute path (a link target, a home folder, `/etc/passwd`) keeps only its last component, after
    an ellipsis (`.../passwd`). Relative text (`RGB/IR`, `3/4`, `./a.png`, URLs) is left alone.
    Idempotent.

    Args:
        text: free text, e.g. the reason a record was left out.
        roots: local folders whose paths may appear in `text` (source roots, annotation files).

    Returns:
        The text with relative locators only.
    """
    for root in _local_roots(roots):
        text = re.sub(re.escape(root) + r"[/\\]+", "", text)
        text = re.sub(re.escape(root) + r"(?![\w.\-])", "<source root>", text)

    def shorten(match: re.Match) -> str:
        name = re.split(r"[/\\]", match.group(0).rstrip("/\\"))[-1]
        return "..." + ("/" + name if name and name != "~" else "")

    return _ABS_PATH.sub(shorten, text)


def scrub_published(value: Any, roots: Iterable[str | os.PathLike] = ()) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with `scrub_local_paths` applied to every string and key.

    Args:
        value: what goes into a published file (generation.json's blocks, the skipped list).
        roots: as in `scrub_local_paths`.

    Returns:
        A scrubbed copy; numbers, booleans and None unchanged.
    """
    roots = list(roots)
    if isinstance(value, str):
        return scrub_local_paths(value, roots)
    if isinstance(value, Mapping):
        return {scrub_published(k, roots) if isinstance(k, str) else k: scrub_published(v, roots)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_published(v, roots) for v in value]
    return value


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
            `load_dataset` reads) and, optionally, a declared `license`.
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
    inherited = licence_from_rights(rights)
    declared = card_data.get("license") or inherited.license
    if not inherited.commercial_use:
        require_non_commercial_licence(declared, inherited.restricting_sources, what="dataset licence")
    # The card states the declared licence; the sources' rights decide whether commercial use is possible.
    licence = LicenceInfo(declared, card_data.get("license_name"), inherited.commercial_use,
                          inherited.reason, inherited.restricting_sources)
    # Published text carries relative locators only (also for folders written before this rule).
    generation, skipped = scrub_published(dict(generation)), scrub_published(list(skipped))
    card = DatasetCard.from_template(
        card_data,
        template_str=template_text("dataset"),
        pretty_name=pretty_name,
        description=description or "An RGB / infrared-style / caption dataset built with fusionrs.",
        repo_hint=repo_hint,
        first_split=sorted(split_counts)[0],
        split_counts=dict(sorted(split_counts.items())),
        sources=sources,
        licence=licence,
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
    translator_rights = (written.get("generation") or {}).get("translator_rights")
    licence = licence_from_rights({s["name"]: s["rights"] for s in sources}
                                  | ({"translator": translator_rights} if translator_rights else {}))
    if card.data.get("license") in (None, "other") and licence.license_name and not card.data.get("license_name"):
        card.data.license_name = licence.license_name
    if card.data.get("license") is None:
        card.data.license = licence.license
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
