"""`fusionrs build`: sources -> records -> translate -> caption -> filter -> split -> dataset folder.

Two phases, so that long builds survive anything:

1. **Stage.** Every source item gets a global index (sources in the given order, items in each
   source's order). Items are cut into fixed chunks of `chunk_size` indices; each chunk is read,
   validated, translated, captioned and written as one staged parquet file, atomically (temporary
   name, then rename). A chunk file either exists complete or not at all, so a SIGKILL at any moment
   loses at most the chunk in flight, and a rerun of the same command skips finished chunks. Under
   `accelerate launch`, rank r stages chunks c with c % world_size == r. Chunk boundaries depend on
   indices only, never on batch sizes or ranks, and stages are per-image deterministic, so the result
   equals a single-process, uninterrupted build.
2. **Group, split and reshard** (rank 0): split keys computed from source pixels and captions (never
   from the translator) give translator-independent groups and splits; rows are rewritten into the
   final per-split parquet folder with a dataset card, the split manifest and a failure report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from fusionrs.core.atomic import atomic_file, write_json_atomic
from fusionrs.data.caption_stage import apply_caption, caption_chunk
from fusionrs.data.schema import FEATURES, FusionRecord, Provenance, validate_locator
from fusionrs.data.sources import SourceItem, SourceSpec, iter_source
from fusionrs.errors import FusionRSError

__all__ = ["BuildConfig", "BuildReport", "build_dataset", "plan_items"]

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
STAGED_SCHEMA = pa.schema(list(FEATURES.arrow_schema) + _KEY_FIELDS)


@dataclass
class BuildConfig:
    """Everything that decides a build's content. Staged chunks are only reused under the same
    `stage_fingerprint`; split settings can change between runs without restaging."""

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
    max_pixels: int | None = None
    limit_per_source: int | None = None  # first N items of each source: try a build small first

    def stage_fingerprint(self) -> str:
        staged = {k: v for k, v in dataclasses.asdict(self).items()
                  if k not in ("split_policy", "fractions", "min_heldout_per_source", "max_distance")}
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

    Args:
        config: the build (its sources, `limit_per_source`, `synth_size` and `seed`).

    Returns:
        Every item in global index order, with `error` set for the ones that cannot be staged.
    """
    planned: list[PlannedItem] = []
    seen: set[str] = set()
    for spec in config.sources:
        items = iter_source(spec, synth_size=config.synth_size, seed=config.seed)
        for item in itertools.islice(items, config.limit_per_source):
            record_id = _record_id(item)
            error = ""
            if record_id in seen:
                error = f"duplicate id {record_id!r} (an earlier item of {item.source_dataset} has the same source id)"
            else:
                try:
                    item.locator = validate_locator(item.locator, record_id)
                except FusionRSError as exc:
                    error = str(exc)
            seen.add(record_id)
            planned.append(PlannedItem(len(planned), record_id, item, error))
    return planned


# --------------------------------------------------------------------------- phase 1: stage


_PASS_THROUGH_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def _load_pixels(item: SourceItem, config: BuildConfig):
    """Decoded image + the file's own bytes when they can be stored as they are.

    JPEG/PNG files that needed no conversion keep their original bytes (decoding them gives exactly
    the pixels we used, and a JPEG is several times smaller than the PNG we would write)."""
    from fusionrs.core.image_io import load_image

    mode = "L" if item.modality == "ir" else "RGB"
    if item.image is not None:
        name = f"{item.source_dataset}:{item.source_id}"
        return load_image(item.image, mode=mode, max_pixels=config.max_pixels, name=name), None
    path = Path(item.root) / item.locator
    try:
        raw = path.read_bytes()
    except OSError:
        raw = None  # let load_image raise its specific, file-naming error
    image = load_image(path if raw is None else raw, mode=mode, max_pixels=config.max_pixels, name=str(path))
    keep = raw is not None and raw.startswith(_PASS_THROUGH_MAGIC) and not image.info.get("fusionrs_conversion")
    return image, raw if keep else None


def _clean_captions(item: SourceItem, kind: str) -> list[str]:
    captions = [" ".join(c.split()) for c in item.captions if isinstance(c, str)]
    captions = [c for c in captions if c]
    if not captions and kind in _CAPTIONED_KINDS:
        raise FusionRSError(f"no non-empty caption ({len(item.captions)} given, all empty)")
    return captions


def _stage_chunk(planned: list[PlannedItem], config: BuildConfig, kinds: dict[str, str], translator, captioner
                 ) -> tuple[pa.Table, list[dict[str, Any]]]:
    from fusionrs.data.splits import split_key

    failures: list[dict[str, Any]] = []
    loaded: list[tuple[PlannedItem, Any, bytes | None, list[str]]] = []
    for p in planned:
        try:
            if p.error:
                raise FusionRSError(p.error)
            p = dataclasses.replace(p, item=p.item.loaded())
            captions = _clean_captions(p.item, kinds[p.item.source_dataset])
            image, raw = _load_pixels(p.item, config)
            loaded.append((p, image, raw, captions))
        except (FusionRSError, OSError) as exc:  # OSError: missing file from a path source
            failures.append({"index": p.index, "id": p.record_id, "stage": "read", "reason": str(exc)})

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
    return pa.Table.from_pylist(rows, schema=STAGED_SCHEMA), failures


def _write_atomic_parquet(table: pa.Table, failures: list[dict[str, Any]], path: Path) -> None:
    table = table.replace_schema_metadata({"fusionrs_failures": json.dumps(failures)})
    with atomic_file(path) as tmp:  # the chunk exists complete or not at all
        pq.write_table(table, tmp)


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
        overwrite: replace a non-empty `out_dir`.
        progress: show progress bars.

    Returns:
        The `BuildReport`: rows per split, failures, chunks staged and reused, split statistics.

    Raises:
        FileExistsError: `out_dir` is not empty and `overwrite` is False.
        FusionRSError: two sources share a name, the work folder was staged with other settings, a
            staged chunk is missing, or no item could be staged.
    """
    from fusionrs.captions import get_captioner
    from fusionrs.translate import get_translator

    out_dir = Path(out_dir)
    work_dir = Path(work_dir) if work_dir else out_dir.with_name(out_dir.name + ".work")
    rank, world, barrier = _distributed()
    report = BuildReport(out_dir=out_dir, work_dir=work_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty; pass --overwrite to replace it")
    translator, captioner = get_translator(config.translator), get_captioner(config.captioner)
    kinds = {spec.name: spec.kind for spec in config.sources}
    if len(kinds) != len(config.sources):
        raise FusionRSError("two sources have the same name; name them with NAME=KIND:PATH")

    chunks_dir = work_dir / "chunks"
    if rank == 0:
        _prepare_work_dir(work_dir, config)
    barrier()

    planned = plan_items(config)
    report.num_items = len(planned)
    n_chunks = (len(planned) + config.chunk_size - 1) // config.chunk_size
    mine = [c for c in range(n_chunks) if c % world == rank]
    bar = tqdm(mine, desc=f"staging (rank {rank}/{world})" if world > 1 else "staging", unit="chunk", disable=not progress)
    for c in bar:
        path = chunks_dir / f"chunk-{c:06d}.parquet"
        if path.exists():
            report.chunks_reused += 1
            continue
        chunk = planned[c * config.chunk_size : (c + 1) * config.chunk_size]
        table, failures = _stage_chunk(chunk, config, kinds, translator, captioner)
        _write_atomic_parquet(table, failures, path)
        report.chunks_staged += 1
    barrier()
    if rank == 0:
        _finalize(config, planned, n_chunks, chunks_dir, out_dir, report, progress)
    barrier()
    return report


def _prepare_work_dir(work_dir: Path, config: BuildConfig) -> None:
    """Create the work folder, or check that an existing one was staged with the same settings."""
    config_path = work_dir / "build.json"
    fingerprint = config.stage_fingerprint()
    if config_path.exists():
        previous = json.loads(config_path.read_text()).get("stage_fingerprint")
        if previous != fingerprint:
            raise FusionRSError(
                f"{work_dir} holds chunks staged with other settings (sources, translator, captioner or chunk "
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


def _with_assignments(table: pa.Table, assignments: dict[str, dict[str, Any]]) -> pa.Table:
    """`table` with its split, group_id and is_eval_representative columns set from the split manifest."""
    assigned = [assignments[i] for i in table.column("id").to_pylist()]
    columns = {"split": pa.array([a["split"] for a in assigned], pa.string()),
               "group_id": pa.array([a["group_id"] for a in assigned], pa.string()),
               "is_eval_representative": pa.array([bool(a["is_eval_representative"]) for a in assigned], pa.bool_())}
    for name, column in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def _finalize(config: BuildConfig, planned: list[PlannedItem], n_chunks: int, chunks_dir: Path, out_dir: Path,
              report: BuildReport, progress: bool) -> None:
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
            "translator": config.translator,
            "captioner": config.captioner,
            "split_policy": config.split_policy,
            "fractions": config.fractions,
            "min_heldout_per_source": config.min_heldout_per_source,
            "max_distance": config.max_distance,
            "seed": config.seed,
            "items": len(planned),
            "left_out_counts": dict(Counter(f["stage"] for f in left_out)),
            "ir_caption_filter_counts": dict(Counter(f["reason"] for f in failures if f["stage"] == FILTER_STAGE)),
            "split_stats": manifest.stats,
        }
        written = writer.close(pretty_name="FusionRS dataset", generation=generation,
                               description="RGB / infrared-style / caption triples built with `fusionrs build` from: "
                                           + ", ".join(s.name for s in config.sources) + ".")
    shutil.copy(config_manifest, out_dir / "split_manifest.json")
    report.num_rows = written.num_rows
    report.split_counts = written.split_counts
    report.failures = failures
    report.split_stats = manifest.stats
