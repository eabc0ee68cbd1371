"""The licence rule: which rights notes are non-commercial, and the licence a dataset or model inherits.

One rule for every stage: the translator trainer (`translate.model.licence_for_sources`), the
dataset card (`data.card`) and the model cards (`core.model_card`) all ask `is_non_commercial` /
`licence_from_rights`. Licences are inherited, not chosen: a model trained on data whose rights say
non-commercial (LLVIP) is non-commercial too. Torch-free; pyarrow is imported only to read a folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionrs.errors import CardValidationError

__all__ = [
    "LICENSE_IDS",
    "NON_COMMERCIAL_LICENSES",
    "LicenceInfo",
    "dataset_rights",
    "is_non_commercial",
    "licence_from_rights",
    "require_non_commercial_licence",
]

# Licence ids the hub recognises (hub-docs `repositories-licenses`); anything else must be `other` +
# `license_name` (+ `license_link`).
LICENSE_IDS = frozenset({
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1",
    "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research",
    "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0",
    "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license",
    "fair-noncommercial-research-license", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4", "gemma",
    "unknown", "other",
})
# Hub licence ids that forbid commercial use (a non-commercial source may carry one of these, or `other`).
NON_COMMERCIAL_LICENSES = frozenset(i for i in LICENSE_IDS if "-nc" in i) | {"fair-noncommercial-research-license"}

# The rule itself: a source name or rights note matching this forbids commercial use.
_NON_COMMERCIAL = re.compile(r"non[-\s]?commercial|\bnc\b|cc-by-nc|llvip|academic (research )?(use )?only", re.I)
_PERMISSIVE = re.compile(r"^\s*(cc0|cc-by-4\.0|cc-by-sa|mit|apache|public domain|pddl|odc-by)", re.I)


@dataclass(frozen=True)
class LicenceInfo:
    """The licence a dataset or model inherits from its sources' rights."""

    license: str
    license_name: str | None = None
    commercial_use: bool = True
    reason: str = ""
    restricting_sources: tuple[str, ...] = field(default_factory=tuple)

    def card_fields(self) -> dict[str, Any]:
        """The card metadata fields this licence sets.

        Returns:
            `{"license": id}`, plus `license_name` when there is one.
        """
        fields: dict[str, Any] = {"license": self.license}
        if self.license_name:
            fields["license_name"] = self.license_name
        return fields


def is_non_commercial(text: str) -> bool:
    """Whether a source name or rights note forbids commercial use (LLVIP, CC-BY-NC, "non-commercial", ...).

    Args:
        text: a source name, a rights note, or both joined by a space.

    Returns:
        True when the text names non-commercial terms.
    """
    return bool(_NON_COMMERCIAL.search(text))


def require_non_commercial_licence(license_id: str, restricting: Iterable[str], *, what: str = "licence") -> None:
    """Refuse a licence that would allow commercial use of non-commercial sources.

    Args:
        license_id: the hub licence id that would be declared.
        restricting: the non-commercial sources behind it (nothing to check when empty).
        what: how the message names the licence ("licence", "dataset licence").

    Raises:
        CardValidationError: `license_id` is neither a non-commercial id nor `other` while
            `restricting` names sources.
    """
    restricting = tuple(restricting)
    if restricting and license_id not in NON_COMMERCIAL_LICENSES | {"other"}:
        raise CardValidationError(
            f"{what} {license_id!r} would allow commercial use, but {', '.join(restricting)} "
            "is non-commercial; use a -nc licence or 'other'")


def licence_from_rights(rights: Mapping[str, str] | Iterable[str], *, override: str | None = None) -> LicenceInfo:
    """The licence a dataset or model inherits from its sources' rights notes.

    Any non-commercial source (LLVIP, CC-BY-NC, "non-commercial") makes the result non-commercial;
    sources with research-only or unstated rights give `other` / `research-data-terms`; only when every
    source is permissive (CC0, CC-BY, MIT, Apache) is the result Apache-2.0 (fusionrs' own licence).

    Args:
        rights: source name -> rights text, or a plain list of texts / source names.
        override: a hub licence id that wins, but never turns non-commercial data commercial.

    Returns:
        The inherited `LicenceInfo`.

    Raises:
        CardValidationError: `override` would allow commercial use of non-commercial sources.
    """
    items = dict(rights) if isinstance(rights, Mapping) else {str(r): str(r) for r in rights}
    restricting = tuple(sorted(name for name, text in items.items() if is_non_commercial(f"{name} {text}")))
    if restricting:
        if override:
            require_non_commercial_licence(override, restricting)
        return LicenceInfo(override or "other", None if override and override != "other" else "non-commercial-research",
                           False, f"inherits non-commercial terms from {', '.join(restricting)}", restricting)
    if override:
        return LicenceInfo(override, "research-data-terms" if override == "other" else None,
                           override not in NON_COMMERCIAL_LICENSES, "set explicitly")
    unclear = tuple(sorted(name for name, text in items.items() if not _PERMISSIVE.search(text)))
    if unclear or not items:
        return LicenceInfo("other", "research-data-terms", True,
                           "source terms are research-use or unstated: " + (", ".join(unclear) or "no sources listed"),
                           unclear)
    return LicenceInfo("apache-2.0", None, True, "every source is permissively licensed")


def dataset_rights(folder: str | Path) -> dict[str, str]:
    """The rights note of every source in a dataset folder, read from the parquet `provenance` column only.

    Args:
        folder: a dataset folder (with `data/*.parquet` shards).

    Returns:
        source_dataset -> rights note ("not stated" when a row has none); {} without shards.
    """
    import pyarrow.parquet as pq

    rights: dict[str, str] = {}
    for shard in sorted(Path(folder).glob("data/*.parquet")):
        table = pq.read_table(shard, columns=["source_dataset", "provenance"])
        sources = table.column("source_dataset").to_pylist()
        provenance = table.column("provenance").combine_chunks().field("rights").to_pylist()
        for source, text in zip(sources, provenance):
            rights.setdefault(source, text or "not stated")
    return rights
