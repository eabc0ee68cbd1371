"""`fusionrs build`: sources -> records -> translate -> caption -> filter -> split -> dataset folder.

Two phases, so that long builds survive anything:

1. **Stage.** Every source item gets a global index (sources in the given order, items in each
   source's order). Items are cut into fixed chunks of `chunk_size` indices; each chunk is read,
   validated, translated, captioned and written as one staged parquet file, atomically (temporary
   name, then rename). A chunk file either exists complete or not at all, so a SIGKILL at any moment
   loses at most the chunk in flight, and a rerun of the same command skips finished chunks. Under
   `accelerate launch`, rank r stages chunks c with c % world_size == r. Chunk boundaries depend on
   indices only, never on batch sizes or ranks, and stages are per-image deterministic, so the result
   equals a single-process, uninterrupted build. Within a chunk, decoded images are held in
   sub-batches of at most `max_chunk_pixels` decoded pixels (`_stage_chunk`): memory, never content.
2. **Group, split and reshard** (rank 0): split keys computed from source pixels and captions (never
   from the translator) give translator-independent groups and splits; rows are rewritten into the
   final per-split parquet folder with a dataset card, the split manifest and a failure report.

Before any work: `--out` obeys the output-folder rule (`fusionrs.core.output_folder`: it may be
replaced only if fusionrs wrote it, and it is never an input of the build, never holds one and never
lies in one), the output and work folders are proven writable, and their file systems must have room
for an estimate of what will be written. A resume removes the temporaries a killed run left and
restages any staged chunk it cannot read back whole (naming it); a full disk or a read-only folder
ends the build with a one-line error naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from fusionrs.core.atomic import atomic_file, write_json_atomic
from fusionrs.core.image_io import DEFAULT_MAX_PIXELS
from fusionrs.core.output_folder import (
    USER_OS_ERRNOS, check_free_space, check_not_input, check_output_folder, check_writable, output_error,
    remove_leftovers,
)
from fusionrs.data.caption_stage import apply_caption, caption_chunk
from fusionrs.data.card import scrub_local_paths
from fusionrs.data.sampling import LIMIT_RULE, sample_per_class
from fusionrs.data.schema import FEATURES, FusionRecord, Provenance, validate_locator
from fusionrs.data.sources import SourceItem, SourceSpec, iter_source
from fusionrs.errors import FusionRSError, OutputFolderError

__all__ = ["DEFAULT_CHUNK_PIXELS", "BuildConfig", "BuildReport", "build_dataset", "plan_items"]

# Sources whose items are expected to carry captions; an item of theirs without any is a failure.
_CAPTIONED_KINDS = {"rsicd", "sydney", "ucm", "rsitmd", "nwpu", "coco", "table", "hf", "synth"}
_KEY_FIELDS = [
    pa.field("index", pa.int64()),
    pa.field("phash", pa.uint64()),
    pa.field("crop_phashes", pa.list_(pa.uint64())),
    pa.field("pixel_hash", pa.string()),
    pa.field("caption_key", pa.string()),
    pa.field("source_split", pa.string()),
]
# Failures of this stage are notes, not losses: the record is kept without an IR-aware caption.
FILTER_STAGE = "ir_caption_filter"
_log = logging.getLogger(__name__)
STAGED_SCHEMA = pa.schema(list(FEATURES.arrow_schema) + _KEY_FIELDS)
# Decoded source pixels (width x height) a stager holds at once: 256 MPixel is about 0.8 GB of RGB.
DEFAULT_CHUNK_PIXELS = 256_000_000


@dataclass
class BuildConfig:
    """Everything that decides a build's content. Staged chunks are only reused under the same
    `stage_fingerprint`; split settings can change between runs without restaging.

    `max_chunk_pixels` bounds memory, not content: a chunk is staged in sub-batches of decoded
    images whose pixels (width x height) stay within it, each released before the next is decoded
    (None: the whole chunk at once). It changes no id, pixel or split, so it is not part of the
    fingerprint and may change between runs of one build.
    """

    sources: list[SourceSpec]
    translator: str = "grayscale"
    captioner: str = "none"
    split_policy: Literal["source", "resplit"] = "source"
    fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    min_heldout_per_source: int = 0
    max_distance: int = 4
    seed: int = 0
    chunk_size: int = 64
    synth_size: int = 256
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # per image (None: no limit, on purpose only)
    limit_per_source: int | None = None  # a seeded, class-stratified N of each source: try a build small first
    max_chunk_pixels: int | None = DEFAULT_CHUNK_PIXELS  # decoded pixels held at once while staging

    def stage_fingerprint(self, translator_weights: str | None = None) -> str:
        staged = {k: v for k, v in dataclasses.asdict(self).items()
                  if k not in ("split_policy", "fractions", "min_heldout_per_source", "max_distance",
                               "max_chunk_pixels")}
        if translator_weights:  # the same spec over other weights (a retrained folder, a new builtin) restages
            staged["translator_weights"] = translator_weights
        if self.limit_per_source is not None:  # chunks limited by another rule (the first N, before) restage
            staged["limit_rule"] = LIMIT_RULE
        return hashlib.sha256(json.dumps(staged, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class BuildReport:
    out_dir: Path
    work_dir: Path
    num_items: int = 0
    num_rows: int = 0
    split_counts: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    chunks_staged: int = 0
    chunks_reused: int = 0
    split_stats: dict[str, Any] = field(default_factory=dict)
    chunks_restaged: list[str] = field(default_factory=list)  # "chunk-....parquet: why it could not be reused"
    leftovers_removed: list[str] = field(default_factory=list)  # temporaries a killed run left
    limit: dict[str, Any] | None = None  # the limit_per_source block of generation.json (None: no limit)


@dataclass
class PlannedItem:
    index: int
    record_id: str
    item: SourceItem
    error: str = ""


def _record_id(item: SourceItem) -> str:
    return re.sub(r"[^\w.\-]+", "_", f"{item.source_dataset}-{item.source_id}")


def plan_items(config: BuildConfig) -> list[PlannedItem]:
    """Enumerate every item with its global index; catch metadata problems before any pixel is read.

    Duplicate ids (first occurrence wins) and bad locators become per-item errors, not crashes.
    With `limit_per_source`, each source contributes a seeded sample stratified by class
    (`fusionrs.data.sampling`), in the source's order; entries the source itself leaves out
    (malformed, outside links, ...) are not candidates.

    Args:
        config: the build (its sources, `limit_per_source`, `synth_size` and `seed`).

    Returns:
        Every item in global index order, with `error` set for the ones that cannot be staged.
    """
    return _plan(config)[0]


def _limited(items: Iterator[SourceItem], n: int, seed: int) -> tuple[list[SourceItem], dict[str, Any]]:
    """A source's items cut to a stratified, seeded sample of `n`, and what the card says about it."""
    listed = list(items)  # every entry is listed (no pixel is read): classes must be counted first
    candidates = [item for item in listed if not item.skip_reason]
    chosen = sample_per_class(candidates, n, seed, key=_record_id, class_of=lambda item: item.class_name)
    classes = {item.class_name for item in candidates}
    return chosen, {"listed": len(candidates), "left_out_by_source": len(listed) - len(candidates),
                    "picked": len(chosen), "classes": len(classes - {""}),
                    "stratified_by": "class_name" if classes - {""} else "none (no class labels: a seeded sample)"}


def _plan(config: BuildConfig) -> tuple[list[PlannedItem], dict[str, Any] | None]:
    """`plan_items`, plus the `limit_per_source` block of generation.json (None without a limit)."""
    planned: list[PlannedItem] = []
    seen: set[str] = set()
    limit = None
    if config.limit_per_source is not None:
        limit = {"n": config.limit_per_source, "seed": config.seed, "rule": LIMIT_RULE, "sources": []}
    for spec in config.sources:
        items: Iterable[SourceItem] = iter_source(spec, synth_size=config.synth_size, seed=config.seed)
        if limit is not None:
            items, summary = _limited(items, config.limit_per_source, config.seed)
            limit["sources"].append({"name": spec.name, **summary})
        for item in items:
            record_id = _record_id(item)
            error = ""
            if item.skip_reason:  # left out by its source (malformed, outside the root, ...): never loaded
                error = item.skip_reason
            elif record_id in seen:
                error = f"duplicate id {record_id!r} (an earlier item of {item.source_dataset} has the same source id)"
            else:
                try:
                    item.locator = validate_locator(item.locator, record_id)
                except FusionRSError as exc:
                    error = str(exc)
            if not item.skip_reason:  # a skipped entry's id must not shadow a later good entry
                seen.add(record_id)
            planned.append(PlannedItem(len(planned), record_id, item, error))
    return planned, limit


# --------------------------------------------------------------------------- phase 1: stage


_PASS_THROUGH_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def _load_pixels(item: SourceItem, config: BuildConfig):
    """Decoded image + the file's own bytes when they can be stored as they are.

    JPEG/PNG files that needed no conversion keep their original bytes (decoding them gives exactly
    the pixels we used, and a JPEG is several times smaller than the PNG we would write)."""
    from fusionrs.core.image_io import load_image, read_source_bytes

    mode = "L" if item.modality == "ir" else "RGB"
    if item.image is not None:
        name = f"{item.source_dataset}:{item.source_id}"
        return load_image(item.image, mode=mode, max_pixels=config.max_pixels, name=name), None
    # the source root is a boundary: links out of it, special files and oversize files are refused
    # before any byte is read, and the read is bounded; errors name the file relative to its root
    name = f"{item.source_dataset}:{item.locator}"
    raw = read_source_bytes(item.root, item.locator, name=name)
    image = load_image(raw, mode=mode, max_pixels=config.max_pixels, name=name)
    keep = raw.startswith(_PASS_THROUGH_MAGIC) and not image.info.get("fusionrs_conversion")
    return image, raw if keep else None


def _clean_captions(item: SourceItem, kind: str) -> list[str]:
    captions = [" ".join(c.split()) for c in item.captions if isinstance(c, str)]
    captions = [c for c in captions if c]
    if not captions and kind in _CAPTIONED_KINDS:
        raise FusionRSError(f"no non-empty caption ({len(item.captions)} given, all empty)")
    return captions


def _stage_chunk(planned: list[PlannedItem], config: BuildConfig, kinds: dict[str, str], translator, captioner
                 ) -> tuple[pa.Table, list[dict[str, Any]]]:
    """One chunk's staged rows and failures, holding at most `config.max_chunk_pixels` decoded pixels.

    Items are decoded in order into a sub-batch. Before an item is decoded, the sub-batch is staged
    (translated, captioned, validated, keyed, encoded) and its decoded images released when an image
    of the size of the last one would not fit; an image that turns out larger than foreseen and does
    not fit is released, the sub-batch staged, and the image decoded again into a new sub-batch. So
    the decoded pixels held at once never exceed the budget, except by an image larger than the
    budget, which is staged alone. Rows keep index order and every stage is per image, so the rows
    are those of staging the whole chunk at once.
    """
    failures: list[dict[str, Any]] = []
    tables: list[pa.Table] = []
    batch: list[list[tuple[PlannedItem, Any, bytes | None, list[str]]]] = [[]]  # the sub-batch being decoded
    held, last, budget = 0, 0, config.max_chunk_pixels

    def stage_batch() -> None:
        nonlocal held
        tables.append(_stage_decoded(batch.pop(), translator, captioner, failures))
        batch.append([])  # the staged sub-batch's decoded images are released here
        held = 0

    for p in planned:
        if batch[0] and budget is not None and held + last > budget:
            stage_batch()  # an image like the last one would not fit: make room before decoding
        for _attempt in range(2):
            try:
                if p.error:
                    raise FusionRSError(p.error)
                p = dataclasses.replace(p, item=p.item.loaded())
                captions = _clean_captions(p.item, kinds[p.item.source_dataset])
                image, raw = _load_pixels(p.item, config)
            except (FusionRSError, OSError) as exc:  # OSError: missing file from a path source
                failures.append({"index": p.index, "id": p.record_id, "stage": "read", "reason": str(exc)})
                break
            pixels = image.width * image.height
            if batch[0] and budget is not None and held + pixels > budget:
                del image, raw  # larger than foreseen: release it, make room, decode it again
                stage_batch()
                continue
            batch[0].append((p, image, raw, captions))
            held, last = held + pixels, pixels
            del image, raw
            break
    if batch[0]:
        stage_batch()
    batch.clear()
    if not tables:
        return pa.Table.from_pylist([], schema=STAGED_SCHEMA), failures
    return (tables[0] if len(tables) == 1 else pa.concat_tables(tables)), failures


def _stage_decoded(loaded: list[tuple[PlannedItem, Any, bytes | None, list[str]]], translator, captioner,
                   failures: list[dict[str, Any]]) -> pa.Table:
    """Translate, caption, validate, key and encode decoded items: their staged rows (failures appended)."""
    from fusionrs.data.splits import split_key

    rgb_items = [(p, image) for p, image, _, _ in loaded if p.item.modality == "rgb"]
    translated: dict[int, Any] = {}
    for start in range(0, len(rgb_items), translator.batch_size):
        batch = rgb_items[start : start + translator.batch_size]
        for (p, _), ir in zip(batch, translator.translate([image for _, image in batch])):
            translated[p.index] = ir

    records: list[tuple[PlannedItem, FusionRecord, str, list[str]]] = []
    keys_from: dict[int, Any] = {}
    for p, image, raw, captions in loaded:
        stored = raw if raw is not None else image
        rgb, ir = (stored, translated[p.index]) if p.item.modality == "rgb" else (None, stored)
        provenance = Provenance(
            translator=translator.name if rgb is not None else "real_thermal",
            translator_params=translator.params if rgb is not None else {},
            caption_model=captioner.name,
            caption_params=captioner.params,
            rights=p.item.rights,
            source_locator=p.item.locator,
            image_conversion=image.info.get("fusionrs_conversion", ""),
            world_version=str(p.item.extra.get("world_version", "")),
        )
        record = FusionRecord(
            id=p.record_id, rgb=rgb, ir=ir, captions=captions, source_dataset=p.item.source_dataset,
            source_id=p.item.source_id, class_name=p.item.class_name, objects=p.item.objects, provenance=provenance,
        )
        records.append((p, record, p.item.source_split or "", captions))
        keys_from[p.index] = image  # split keys come from source pixels, never from the translator

    ir_images = [translated[p.index] if p.index in translated else keys_from[p.index] for p, _, _, _ in records]
    results = caption_chunk(captioner, ir_images, [c for _, _, _, c in records])

    rows = []
    for (p, record, source_split, captions), result in zip(records, results):
        if result is not None and result.caption is None:  # the record stays, without an IR-aware caption
            failures.append({"index": p.index, "id": p.record_id, "stage": FILTER_STAGE, "reason": result.reason})
        record.ir_captions = apply_caption(result, record.ir_captions)
        try:
            record.validate()
        except FusionRSError as exc:
            failures.append({"index": p.index, "id": p.record_id, "stage": "validate", "reason": str(exc)})
            continue
        key = split_key(record.id, keys_from[p.index], captions, source_dataset=record.source_dataset,
                        source_id=record.source_id)
        row = FEATURES.encode_example(record.to_row())
        row.update(index=p.index, phash=key.phash, crop_phashes=list(key.crop_phashes), pixel_hash=key.pixel_hash,
                   caption_key=key.caption_key, source_split=source_split)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=STAGED_SCHEMA)


def _write_atomic_parquet(table: pa.Table, failures: list[dict[str, Any]], path: Path) -> None:
    table = table.replace_schema_metadata({"fusionrs_failures": json.dumps(failures)})
    try:
        with atomic_file(path) as tmp:  # the chunk exists complete (fsynced) or not at all
            pq.write_table(table, tmp)
    except OSError as exc:  # disk full, read-only, permissions: one line naming the chunk
        raise output_error(path, exc, what="staged chunk") from exc


def _staged_chunk_problem(path: Path) -> str | None:
    """Why a staged chunk on disk cannot be reused (truncated, not parquet, not ours), or None when it can."""
    try:
        file = pq.ParquetFile(path)
        try:
            metadata = file.schema_arrow.metadata or {}
            if b"fusionrs_failures" not in metadata:
                return "its footer has no fusionrs failure list"
            json.loads(metadata[b"fusionrs_failures"])
            if file.schema_arrow.names != STAGED_SCHEMA.names:
                return "its columns are not those of a staged chunk"
            size, meta = path.stat().st_size, file.metadata
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                for c in range(group.num_columns):
                    column = group.column(c)
                    offsets = [o for o in (column.dictionary_page_offset, column.data_page_offset) if o]
                    if offsets and min(offsets) + column.total_compressed_size > size:
                        return f"truncated (row group {g} ends past the file's {size} bytes)"
        finally:
            file.close()
    except (OSError, ValueError, pa.ArrowException) as exc:
        return f"truncated or unreadable ({' '.join(str(exc).split())})"
    return None


def _input_paths(config: BuildConfig) -> list[Path]:
    """The files and folders a build reads: its sources' paths (and coco/table image folders)."""
    paths = []
    for spec in config.sources:
        if spec.kind == "synth" or (spec.kind == "hf" and not Path(spec.path).exists()):
            continue  # a scene count, or a hub repo id
        paths.append(Path(spec.path))
        if spec.extra:
            paths.append(Path(spec.extra))
    return paths


def _check_out_holds_no_item(out_dir: Path, planned: list[PlannedItem]) -> None:
    """`--out` (about to be replaced) holds no file the build reads, whatever root it came from."""
    out = out_dir.resolve()
    by_root: dict[str, list[str]] = {}
    for p in planned:
        if p.item.root is not None and p.item.locator:
            by_root.setdefault(str(p.item.root), []).append(p.item.locator)
    for root, locators in by_root.items():
        resolved = Path(root).resolve()
        if resolved.is_relative_to(out):
            check_not_input(out_dir, [root], what="--out")  # raises: --out is or holds the root
        elif out.is_relative_to(resolved):
            inside = out.relative_to(resolved).as_posix() + "/"
            held = next((loc for loc in locators if loc.startswith(inside)), None)
            if held is not None:
                raise OutputFolderError(f"--out {out_dir} holds {Path(root) / held}, an input of this build: "
                                        f"refusing to write there (choose an output folder outside every input)")


def _estimated_bytes(items: list[PlannedItem], config: BuildConfig, sample: int = 4096) -> int:
    """About what staging `items` writes, low: their files' sizes (synth scenes: one byte a pixel).

    Large plans are measured on `sample` evenly spaced items and scaled, so a resume of a build of
    millions of files does not stat every one of them first."""
    stride = max(1, len(items) // sample)
    total = 0
    for p in items[::stride]:
        if isinstance(p.item.image, (bytes, bytearray)):
            total += len(p.item.image)
        elif p.item.root is not None and p.item.locator:
            try:
                total += os.stat(Path(p.item.root) / p.item.locator).st_size
            except (OSError, ValueError):
                pass
        elif p.item.root is None and p.item.load is not None:  # rendered at staging (synth)
            total += config.synth_size ** 2
    return total * len(items) // max(1, len(items[::stride]))


# --------------------------------------------------------------------------- distribution


def _distributed() -> tuple[int, int, Callable[[], None]]:
    """(rank, world_size, barrier). Multi-process only under a launcher that starts several processes
    (torchrun, or `accelerate launch` with a multi-GPU / multi-node config)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, lambda: None
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # Without cpu=True accelerate leaves CPU-only processes ungrouped: each would think it is rank 0 of 1.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    return state.process_index, state.num_processes, state.wait_for_everyone


# --------------------------------------------------------------------------- the build


def build_dataset(
    config: BuildConfig,
    out_dir: str | Path,
    *,
    work_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Run (or resume) a build; returns the report on rank 0 (other ranks get a partial one).

    Args:
        config: everything that decides the build's content.
        out_dir: the dataset folder to write.
        work_dir: where staged chunks live between runs (default: `OUT_DIR.work` beside it).
        overwrite: replace an existing `out_dir` that fusionrs wrote (a folder without the
            fusionrs marker, or one that is, holds or lies in an input of the build, is never replaced).
        progress: show progress bars.

    Returns:
        The `BuildReport`: rows per split, failures, chunks staged, reused and restaged, split
        statistics, temporaries of a killed run removed, and with `limit_per_source` the sample
        taken of each source (`limit`).

    Raises:
        OutputFolderError: (a `FileExistsError`) `out_dir` exists and `overwrite` is False, or may
            not be replaced (see `fusionrs.core.output_folder.check_output_folder`); the output or
            work folder is not writable or lacks free space; or writing failed (disk full).
        FusionRSError: two sources share a name, the work folder was staged with other settings, a
            staged chunk is missing, or no item could be staged.
    """
    from fusionrs.captions import get_captioner
    from fusionrs.translate import get_translator

    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir else out_dir.with_name(out_dir.name + ".work")
    rank, world, barrier = _distributed()
    report = BuildReport(out_dir=out_dir, work_dir=work_dir)
    inputs = _input_paths(config)
    check_output_folder(out_dir, overwrite=overwrite, inputs=inputs, what="--out")
    check_not_input(work_dir, inputs, what="--work-dir")
    translator, captioner = get_translator(config.translator), get_captioner(config.captioner)
    kinds = {spec.name: spec.kind for spec in config.sources}
    if len(kinds) != len(config.sources):
        raise FusionRSError("two sources have the same name; name them with NAME=KIND:PATH")

    chunks_dir = work_dir / "chunks"
    check_writable(out_dir.parent, what="the folder of --out")  # every rank: a rank that raised alone would hang
    check_writable(work_dir, what="--work-dir")
    if rank == 0:
        _prepare_work_dir(work_dir, config, translator.params.get("weights_sha256"))
        for folder, name, files in ((work_dir, None, True), (chunks_dir, None, True), (out_dir.parent, out_dir.name, False)):
            report.leftovers_removed += [str(p) for p in remove_leftovers(folder, name=name, files=files)]
    barrier()

    planned, limit = _plan(config)
    report.limit = limit
    _check_out_holds_no_item(out_dir, planned)
    report.num_items = len(planned)
    n_chunks = (len(planned) + config.chunk_size - 1) // config.chunk_size
    mine = [c for c in range(n_chunks) if c % world == rank]
    todo = [c for c in mine if not (chunks_dir / f"chunk-{c:06d}.parquet").exists()]
    needs = {work_dir: sum(_estimated_bytes(planned[c * config.chunk_size:(c + 1) * config.chunk_size], config)
                           for c in todo)}
    if rank == 0:
        needs[out_dir.parent] = _estimated_bytes(planned, config)
    check_free_space(needs)
    bar = tqdm(mine, desc=f"staging (rank {rank}/{world})" if world > 1 else "staging", unit="chunk", disable=not progress)
    for c in bar:
        path = chunks_dir / f"chunk-{c:06d}.parquet"
        if path.exists():
            problem = _staged_chunk_problem(path)
            if problem is None:
                report.chunks_reused += 1
                continue
            _log.warning("staged chunk %s is %s: restaging it", path, problem)
            report.chunks_restaged.append(f"{path.name}: {problem}")
            path.unlink()
        chunk = planned[c * config.chunk_size : (c + 1) * config.chunk_size]
        table, failures = _stage_chunk(chunk, config, kinds, translator, captioner)
        _write_atomic_parquet(table, failures, path)
        report.chunks_staged += 1
    barrier()
    if rank == 0:
        try:
            _finalize(config, planned, n_chunks, chunks_dir, out_dir, report, progress, translator.params, limit)
        except OSError as exc:
            if isinstance(exc, FusionRSError) or exc.errno not in USER_OS_ERRNOS:
                raise
            raise output_error(exc.filename or out_dir, exc) from exc
    barrier()
    return report


def _prepare_work_dir(work_dir: Path, config: BuildConfig, translator_weights: str | None = None) -> None:
    """Create the work folder, or check that an existing one was staged with the same settings and weights."""
    config_path = work_dir / "build.json"
    fingerprint = config.stage_fingerprint(translator_weights)
    if config_path.exists():
        previous = json.loads(config_path.read_text()).get("stage_fingerprint")
        if previous != fingerprint:
            raise FusionRSError(
                f"{work_dir} holds chunks staged with other settings (sources, translator or its weights, captioner or chunk "
                f"size changed); remove it or pass another --work-dir"
            )
    (work_dir / "chunks").mkdir(parents=True, exist_ok=True)
    write_json_atomic(config_path, {"stage_fingerprint": fingerprint, "config": dataclasses.asdict(config)},
                      default=str)


def _iter_chunks(chunks_dir: Path, n_chunks: int, columns: list[str] | None = None
                 ) -> Iterator[tuple[pa.Table, list]]:
    """Each staged chunk once, in order: (its `columns` as an Arrow table, its failures from the footer)."""
    for c in range(n_chunks):
        path = chunks_dir / f"chunk-{c:06d}.parquet"
        if not path.exists():
            raise FusionRSError(f"staged chunk {path} is missing: rerun the same command to resume")
        file = pq.ParquetFile(path)
        failures = json.loads(file.schema_arrow.metadata[b"fusionrs_failures"])
        yield file.read(columns=columns), failures


def _source_roots(config: BuildConfig) -> list[Path]:
    """The local folders and files the sources name (their paths may appear in failure reasons)."""
    roots: list[Path] = []
    for spec in config.sources:
        for text in (spec.path, spec.extra):
            if text and spec.kind != "synth":
                path = Path(text)
                roots += [path, path.parent] if path.suffix else [path]
    return roots


def _with_assignments(table: pa.Table, assignments: dict[str, dict[str, Any]]) -> pa.Table:
    """`table` with its split, group_id and is_eval_representative columns set from the split manifest."""
    assigned = [assignments[i] for i in table.column("id").to_pylist()]
    columns = {"split": pa.array([a["split"] for a in assigned], pa.string()),
               "group_id": pa.array([a["group_id"] for a in assigned], pa.string()),
               "is_eval_representative": pa.array([bool(a["is_eval_representative"]) for a in assigned], pa.bool_())}
    for name, column in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def _limit_sentence(limit: dict[str, Any] | None) -> str:
    """The card's words for a limited build: which sample of each source, with which seed."""
    if limit is None:
        return ""
    picked = ", ".join(f"{s['name']}: {s['picked']} of {s['listed']}"
                       + (f" over {s['classes']} classes" if s["classes"] else " (no class labels)")
                       for s in limit["sources"])
    return (f" Limited to {limit['n']} items per source, sampled stratified by class with seed {limit['seed']} "
            f"({picked}).")


def _finalize(config: BuildConfig, planned: list[PlannedItem], n_chunks: int, chunks_dir: Path, out_dir: Path,
              report: BuildReport, progress: bool, translator_params: dict[str, Any],
              limit: dict[str, Any] | None = None) -> None:
    from fusionrs.data.folder import DatasetFolderWriter
    from fusionrs.data.splits import SplitKey, make_splits

    # Two passes over the staged chunks: the split keys (small columns, no image bytes) for the global
    # split, then each chunk's record columns, read once and kept as Arrow tables from file to shard.
    keys, failures = [], []
    key_columns = ["id", "source_dataset", "source_id", "phash", "crop_phashes", "pixel_hash", "caption_key",
                   "source_split"]
    for table, chunk_failures in _iter_chunks(chunks_dir, n_chunks, key_columns):
        failures += chunk_failures
        for row in table.to_pylist():
            keys.append(SplitKey(id=row["id"], source_dataset=row["source_dataset"], source_id=row["source_id"],
                                 phash=int(row["phash"]), crop_phashes=tuple(int(h) for h in row["crop_phashes"]),
                                 pixel_hash=row["pixel_hash"],
                                 caption_key=row["caption_key"], source_split=row["source_split"] or None))
    from fusionrs.core.references import spec_for

    # Reasons go into the card and generation.json: relative locators only, never a local path.
    roots = _source_roots(config)
    failures = [dict(f, reason=scrub_local_paths(str(f["reason"]), roots)) for f in failures]
    if not keys:
        reasons = Counter(f["reason"] for f in failures).most_common(3)
        raise FusionRSError(f"no item of {len(planned)} could be staged; most common reasons: {reasons}")
    manifest = make_splits(keys, policy=config.split_policy, fractions=config.fractions,
                           min_heldout_per_source=config.min_heldout_per_source, seed=config.seed,
                           max_distance=config.max_distance)
    manifest.save(config_manifest := chunks_dir.parent / "split_manifest.json")

    writer = DatasetFolderWriter(out_dir, overwrite=True)
    with writer:
        bar = tqdm(total=len(keys), desc="writing dataset", unit="rec", disable=not progress)
        for table, _ in _iter_chunks(chunks_dir, n_chunks, list(FEATURES.arrow_schema.names)):
            writer.add_table(_with_assignments(table, manifest.assignments))
            bar.update(len(table))
        bar.close()
        failures.sort(key=lambda f: f["index"])
        left_out = [f for f in failures if f["stage"] != FILTER_STAGE]
        writer.report.skipped = [{"id": f["id"], "reason": f"[{f['stage']}] {f['reason']}"} for f in left_out]
        generation = {
            "sources": [{"name": s.name, "kind": s.kind, "rights": s.rights} for s in config.sources],
            "translator": spec_for(config.translator, out_dir),  # a path relative to the dataset folder
            # which weights (for trained translators) and whose terms (the packaged one is research-only)
            **{key: translator_params[param] for key, param in (("translator_weights_sha256", "weights_sha256"),
                                                                ("translator_rights", "rights"))
               if translator_params.get(param)},
            "captioner": config.captioner,
            "split_policy": config.split_policy,
            "fractions": config.fractions,
            "min_heldout_per_source": config.min_heldout_per_source,
            "max_distance": config.max_distance,
            "seed": config.seed,
            "crop_phashes": manifest.config["crop_phashes"],  # with the fields above: `describe_split_policy`
            **({"limit_per_source": limit} if limit is not None else {}),
            "items": len(planned),
            "left_out_counts": dict(Counter(f["stage"] for f in left_out)),
            "ir_caption_filter_counts": dict(Counter(f["reason"] for f in failures if f["stage"] == FILTER_STAGE)),
            "split_stats": manifest.stats,
        }
        written = writer.close(pretty_name="FusionRS dataset", generation=generation,
                               description="RGB / infrared-style / caption triples built with `fusionrs build` from: "
                                           + ", ".join(s.name for s in config.sources) + "." + _limit_sentence(limit))
    shutil.copy(config_manifest, out_dir / "split_manifest.json")
    report.num_rows = written.num_rows
    report.split_counts = written.split_counts
    report.failures = failures
    report.split_stats = manifest.stats
