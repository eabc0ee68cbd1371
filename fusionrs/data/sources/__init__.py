"""Source adapters: `KIND:PATH` -> `SourceItem`s (one per image, annotations attached).

| kind | PATH | notes |
|---|---|---|
| rsicd, sydney, ucm | folder with the Karpathy JSON and images/ | |
| rsitmd | folder with rsitmd_{train,val,test}.json (+ images/) | |
| nwpu | folder with the NWPU-Captions JSON and <class>/ image folders | |
| coco | ANNOTATIONS.json:IMAGE_DIR | COCO captions format |
| folder | folder of <class>/<image> (AID, NWPU-RESISC45, RSSCN7) or of images | no captions |
| table | TABLE.(csv,jsonl,parquet)[:IMAGE_DIR] | image + caption columns |
| hf | a datasets folder or a hub dataset repo id (org/name) | image + caption columns |
| thermal | folder of real IR images (+ *.jsonl with boxes) | fills `ir`, never translated |
| synth | N | procedural world scenes |

`NAME=KIND:PATH` names the source (default: the kind, or the folder name for generic kinds).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fusionrs.data.sources.base import SkippedEntryError, SourceItem, SourceSpecError, normalise_split, skipped_item
from fusionrs.data.sources.checks import guard_item
from fusionrs.data.sources.captions_json import iter_coco, iter_karpathy, iter_nwpu, iter_rsitmd
from fusionrs.data.sources.files import iter_folder, iter_table, iter_thermal
from fusionrs.data.sources.generated import iter_hf_folder, iter_synth
from fusionrs.core.repo_id import looks_like_repo_id
from fusionrs.core.licences import WORLD_RIGHTS

__all__ = ["KINDS", "DEFAULT_RIGHTS", "SkippedEntryError", "SourceItem", "SourceSpec", "SourceSpecError", "iter_source",
           "parse_source", "normalise_split", "skipped_item"]

KINDS = ("rsicd", "sydney", "ucm", "rsitmd", "nwpu", "coco", "folder", "table", "hf", "thermal", "synth")

# What users may do with each source's images; travels into every record and the dataset card.
DEFAULT_RIGHTS = {
    "rsicd": "research use (RSICD, Lu et al., TGRS 2017; AID images, Xia et al., TGRS 2017)",
    "sydney": "research use (Sydney-Captions, Qu et al. 2016)",
    "ucm": "research use (UCM-Captions, Qu et al. 2016; UC Merced Land Use)",
    "rsitmd": "research use (RSITMD, Yuan et al., TGRS 2021)",
    "nwpu": "research use (NWPU-Captions, Cheng et al. 2022)",
    "synth": WORLD_RIGHTS,
}
_DEFAULT_NAMES = {"synth": "fusionrs_world"}
_UNSTATED = "not stated: check the source's licence before redistributing"


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str
    path: str
    extra: str | None = None
    rights: str = _UNSTATED


def parse_source(spec: str, rights: str | None = None) -> SourceSpec:
    """Parse `[NAME=]KIND:PATH[:EXTRA]` with a clear message for every mistake.

    Args:
        spec: the source spec, e.g. `rsicd:/data/RSICD`, `coco:ann.json:images/`, `synth:200`,
            `mine=folder:/data/AID`; EXTRA (after the last ':') is only split off for coco and table.
        rights: what users may do with the images; None uses `DEFAULT_RIGHTS` for the kind, or a
            "not stated" notice.

    Returns:
        A `SourceSpec`; without NAME=, the name is the kind (`fusionrs_world` for synth) or, for
        the generic kinds (coco, folder, table, hf, thermal), the lower-cased folder name.

    Raises:
        SourceSpecError: the spec is not KIND:PATH, the kind is unknown, a synth count is not a
            positive integer, PATH does not exist (hub repo ids for hf excepted), or a coco spec
            has no IMAGE_DIR.
    """
    match = re.fullmatch(r"(?:(\w+)=)?(\w+):(.+)", spec.strip())
    if not match:
        raise SourceSpecError(f"source {spec!r}: expected KIND:PATH (kinds: {', '.join(KINDS)})")
    name, kind, rest = match.groups()
    if kind not in KINDS:
        raise SourceSpecError(f"source {spec!r}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    path, extra = rest, None
    if kind in ("coco", "table") and ":" in rest:
        path, extra = rest.rsplit(":", 1)
    if kind == "synth":
        if not path.isdigit() or int(path) < 1:
            raise SourceSpecError(f"source {spec!r}: synth needs a positive scene count, e.g. synth:200")
    elif kind == "hf" and looks_like_repo_id(path):
        pass  # a hub dataset repo: resolved (downloaded, or found in the cache offline) when iterated
    elif not Path(path).exists():
        raise SourceSpecError(f"source {spec!r}: {path} does not exist")
    if kind == "coco" and extra is None:
        raise SourceSpecError(f"source {spec!r}: coco needs ANNOTATIONS.json:IMAGE_DIR")
    if name is None:
        generic = kind in ("coco", "folder", "table", "hf", "thermal")
        base = Path(path).parent if Path(path).is_file() else Path(path)
        if kind == "hf" and looks_like_repo_id(path):
            base = Path(path.replace("/", "__"))
        name = re.sub(r"\W", "_", base.resolve().name.lower()) if generic else _DEFAULT_NAMES.get(kind, kind)
    return SourceSpec(name=name, kind=kind, path=path, extra=extra,
                      rights=rights or DEFAULT_RIGHTS.get(kind, _UNSTATED))


def iter_source(spec: SourceSpec, *, synth_size: int = 256, seed: int = 0) -> Iterator[SourceItem]:
    """Every `SourceItem` of one source, in the source's own (deterministic) order.

    Every item passes `checks.guard_item` on its way out: a file name that is absolute, holds `..`
    or a NUL byte, resolves outside its source root (a symlink), names a special file (FIFO,
    device, socket), or text that is not valid UTF-8 (file name, caption, class, id) turns the
    item into a skipped item (`SourceItem.skip_reason`), as do the adapters' own entry-shape checks.

    Args:
        spec: a parsed source (`parse_source`).
        synth_size: the side in pixels of procedural-world scenes (synth only; default 256).
        seed: the procedural world's seed (synth only; default 0).

    Returns:
        An iterator of `SourceItem`s, skipped items included in their place. The kind's adapter
        raises `SourceSpecError` (while iterating) for a missing annotation file or one that is
        malformed as a whole (not JSON, wrong top-level shape); never for one bad entry.
    """
    real_roots: dict[Path, str] = {}
    for item in _iter_kind(spec, synth_size=synth_size, seed=seed):
        if item.root is not None and item.root not in real_roots:
            real_roots[item.root] = os.path.realpath(item.root)
        yield guard_item(item, real_roots.get(item.root) if item.root is not None else None)


def _iter_kind(spec: SourceSpec, *, synth_size: int, seed: int) -> Iterator[SourceItem]:
    path = Path(spec.path)
    if spec.kind in ("rsicd", "sydney", "ucm"):
        yield from iter_karpathy(path, spec.name, spec.rights)
    elif spec.kind == "rsitmd":
        yield from iter_rsitmd(path, spec.name, spec.rights)
    elif spec.kind == "nwpu":
        yield from iter_nwpu(path, spec.name, spec.rights)
    elif spec.kind == "coco":
        yield from iter_coco(path, Path(spec.extra), spec.name, spec.rights)
    elif spec.kind == "folder":
        yield from iter_folder(path, spec.name, spec.rights)
    elif spec.kind == "table":
        yield from iter_table(path, Path(spec.extra) if spec.extra else path.parent, spec.name, spec.rights)
    elif spec.kind == "hf":
        yield from iter_hf_folder(path, spec.name, spec.rights)
    elif spec.kind == "thermal":
        yield from iter_thermal(path, spec.name, spec.rights)
    elif spec.kind == "synth":
        yield from iter_synth(int(spec.path), spec.name, seed=seed, size=synth_size)
