"""Write FusionRS records as a hub-ready dataset folder: parquet shards per split + README card.

The folder is the product: it loads with plain `datasets.load_dataset(folder)` (no fusionrs),
streams, and keeps working after the source images are gone because image bytes are embedded.
Shards are written into a temporary folder and moved into place at the end, so an interrupted
write never leaves a folder that looks complete. The finished folder carries the fusionrs marker, and
an existing `out_dir` is replaced only as `fusionrs.core.output_folder.check_output_folder` allows
(a folder fusionrs wrote, with `overwrite=True`; never an input, never a foreign folder). A write that
meets a full disk or a read-only file system ends with a one-line `OutputFolderError` naming the
folder; the temporary folder a killed writer left is removed by the next writer of the same folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import DatasetCardData
from tqdm.auto import tqdm

from fusionrs.core.atomic import commit_folder
from fusionrs.core.output_folder import (
    check_output_folder, output_error, remove_leftovers, staging_prefix, write_marker,
)
from fusionrs.data.card import scrub_published
from fusionrs.data.schema import FEATURES, SCHEMA_VERSION, FusionRecord
from fusionrs.errors import FusionRSError
from fusionrs.version import __version__

__all__ = ["DatasetFolderWriter", "WriteReport", "write_dataset_folder"]

DEFAULT_MAX_SHARD_BYTES = 256 * 1024 * 1024
# Small row groups keep streaming and the hub viewer responsive on image-heavy rows.
DEFAULT_ROWS_PER_GROUP = 64


@dataclass
class WriteReport:
    """What a write produced: the folder, rows per split and source, and every record left out."""

    out_dir: Path
    split_counts: dict[str, int] = field(default_factory=dict)
    source_counts: dict[str, int] = field(default_factory=dict)
    split_bytes: dict[str, int] = field(default_factory=dict)
    download_bytes: int = 0
    shards: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return sum(self.split_counts.values())


class _SplitShards:
    """Rolls parquet shards of one split over when they pass the byte budget.

    Rows come one at a time as encoded dicts (`add`) or as Arrow tables (`add_table`, never turned
    into Python objects); either way shards and row groups fall at the same rows.
    """

    def __init__(self, tmp_dir: Path, split: str, max_shard_bytes: int, rows_per_group: int):
        self.tmp_dir, self.split = tmp_dir, split
        self.max_shard_bytes, self.rows_per_group = max_shard_bytes, rows_per_group
        self.paths: list[Path] = []
        self.rows: list[dict[str, Any]] = []  # pending dict rows, after the pending table pieces
        self.pieces: list[pa.Table] = []
        self.pending = 0
        self.writer: pq.ParquetWriter | None = None
        self.shard_bytes = 0

    def _make_room(self, nbytes: int) -> None:
        if self.writer is not None and self.shard_bytes + nbytes > self.max_shard_bytes:
            self._flush()
            self.writer.close()
            self.writer = None
        if self.writer is None:
            path = self.tmp_dir / f"{self.split}-{len(self.paths):05d}.parquet"
            self.paths.append(path)
            self.writer = pq.ParquetWriter(path, FEATURES.arrow_schema)
            self.shard_bytes = 0

    def add(self, encoded_row: dict[str, Any], nbytes: int) -> None:
        self._make_room(nbytes)
        self.rows.append(encoded_row)
        self.pending += 1
        self.shard_bytes += nbytes
        if self.pending >= self.rows_per_group:
            self._flush()

    def add_table(self, table: pa.Table, nbytes: list[int]) -> None:
        """Append the rows of `table` (`FEATURES.arrow_schema`); `nbytes`: each row's byte estimate."""
        start = 0
        while start < len(table):
            self._make_room(nbytes[start])
            end = start
            # rows up to the end of the row group or of the shard's byte budget
            while end < len(table) and self.pending + (end - start) < self.rows_per_group and (
                    end == start or self.shard_bytes + nbytes[end] <= self.max_shard_bytes):
                self.shard_bytes += nbytes[end]
                end += 1
            self._seal_rows()
            self.pieces.append(table.slice(start, end - start))
            self.pending += end - start
            start = end
            if self.pending >= self.rows_per_group:
                self._flush()

    def _seal_rows(self) -> None:
        if self.rows:
            self.pieces.append(pa.Table.from_pylist(self.rows, schema=FEATURES.arrow_schema))
            self.rows = []

    def _flush(self) -> None:
        if self.pending and self.writer is not None:
            self._seal_rows()
            self.writer.write_table(self.pieces[0] if len(self.pieces) == 1 else pa.concat_tables(self.pieces))
            self.pieces, self.pending = [], 0

    def close(self) -> list[Path]:
        self._flush()
        if self.writer is not None:
            self.writer.close()
        return self.paths


class DatasetFolderWriter:
    """Streaming writer: `add()` records one at a time (memory stays bounded), `close()` finishes.

    `on_error="skip"` leaves invalid records out and reports them (batch jobs must not die on one
    bad file); `"raise"` stops at the first.

    Args:
        out_dir: the dataset folder to write.
        overwrite: replace an existing folder that fusionrs wrote (a non-empty folder without the
            fusionrs marker is never replaced).
        max_shard_bytes: start a new parquet shard past this size.
        rows_per_group: rows per parquet row group.
        on_error: "skip" invalid records (listed in the report) or "raise" on the first one.
        inputs: files and folders the caller reads from; `out_dir` may not be, contain or lie in one.

    Raises:
        OutputFolderError: `out_dir` may not be written (see `check_output_folder`), or its parent
            folder is not writable.
        ValueError: `on_error` is neither "skip" nor "raise".
    """

    def __init__(
        self,
        out_dir: str | Path,
        *,
        overwrite: bool = False,
        max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
        rows_per_group: int = DEFAULT_ROWS_PER_GROUP,
        on_error: Literal["skip", "raise"] = "skip",
        inputs: Iterable[str | Path] = (),
    ):
        self.out_dir = Path(out_dir)
        self._overwrite, self._inputs = overwrite, [Path(p) for p in inputs]
        check_output_folder(self.out_dir, overwrite=overwrite, inputs=self._inputs)
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        self.max_shard_bytes, self.rows_per_group, self.on_error = max_shard_bytes, rows_per_group, on_error
        try:
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
            remove_leftovers(self.out_dir.parent, name=self.out_dir.name, files=False)  # a killed writer's staging
            self._tmp = Path(tempfile.mkdtemp(prefix=staging_prefix(self.out_dir) + "-", dir=self.out_dir.parent))
            write_marker(self._tmp, "staging")
        except OSError as exc:
            raise output_error(self.out_dir.parent, exc, what="the folder of", doing="is not writable") from exc
        self._splits: dict[str, _SplitShards] = {}
        self._ids: set[str] = set()
        self._sources: Counter[str] = Counter()
        self._rights: dict[str, str] = {}
        self.report = WriteReport(out_dir=self.out_dir)

    def add(self, record: FusionRecord) -> bool:
        """Validate and append one record; return False when it was skipped."""
        try:
            record.validate()
            if record.id in self._ids:
                raise FusionRSError(f"record {record.id!r}: duplicate id")
            encoded = FEATURES.encode_example(record.to_row())
        except FusionRSError as exc:
            if self.on_error == "raise":
                raise
            self.report.skipped.append({"id": str(record.id), "reason": str(exc)})
            return False
        self.add_row(encoded)
        return True

    def add_row(self, row: dict[str, Any]) -> None:
        """Append a row already validated and encoded with `FEATURES` (the builder's reshard path)."""
        self._ids.add(row["id"])
        nbytes = sum(len(row[k]["bytes"]) for k in ("rgb", "ir") if row[k] is not None) + 1024
        split = row["split"]
        if split not in self._splits:
            self._splits[split] = _SplitShards(self._tmp, split, self.max_shard_bytes, self.rows_per_group)
        try:
            self._splits[split].add(row, nbytes)
        except OSError as exc:  # disk full, read-only: name the folder, one line
            raise output_error(self.out_dir, exc) from exc
        self._sources[row["source_dataset"]] += 1
        self._rights.setdefault(row["source_dataset"], row["provenance"]["rights"])

    def add_table(self, table: pa.Table) -> None:
        """Append rows already validated and encoded, as an Arrow table, without making Python rows of them.

        The same as `add_row` on each row in order (the builder's reshard path): rows go to the
        shards of their `split` column.

        Args:
            table: rows with the `FEATURES` columns (cast to `FEATURES.arrow_schema`).
        """
        import pyarrow.compute as pc

        if not len(table):
            return
        table = table.select(list(FEATURES.arrow_schema.names)).cast(FEATURES.arrow_schema)
        self._ids.update(table.column("id").to_pylist())
        sources = table.column("source_dataset").to_pylist()
        rights = pc.struct_field(table.column("provenance"), "rights").to_pylist()
        for source, right in zip(sources, rights):
            self._sources[source] += 1
            self._rights.setdefault(source, right)
        nbytes = pc.add(pc.add(*[pc.fill_null(pc.binary_length(pc.struct_field(table.column(k), "bytes")), 0)
                                 for k in ("rgb", "ir")]), 1024).to_pylist()
        splits = table.column("split")
        for split in dict.fromkeys(splits.to_pylist()):
            mask = pc.equal(splits, split)
            if split not in self._splits:
                self._splits[split] = _SplitShards(self._tmp, split, self.max_shard_bytes, self.rows_per_group)
            try:
                self._splits[split].add_table(table.filter(mask), [n for n, m in zip(nbytes, mask.to_pylist()) if m])
            except OSError as exc:  # disk full, read-only: name the folder, one line
                raise output_error(self.out_dir, exc) from exc

    def close(
        self,
        *,
        pretty_name: str = "FusionRS dataset",
        description: str = "",
        generation: dict[str, Any] | None = None,
        license: str | None = None,
    ) -> WriteReport:
        """Finish shards, write README.md + generation.json, and move everything into `out_dir`.

        Args:
            pretty_name: the card's title.
            description: the card's paragraph under the title.
            generation: how the records were made (generation.json and the card).
            license: the declared hub licence id (None: the one the sources' rights give).

        Returns:
            The `WriteReport`.

        Raises:
            FusionRSError: no record was added.
            OutputFolderError: the folder cannot be written (disk full, read-only) or may no longer
                be replaced (it changed since the writer started).
        """
        if not self._splits:
            shutil.rmtree(self._tmp, ignore_errors=True)
            reasons = "; ".join(s["reason"] for s in self.report.skipped[:3])
            raise FusionRSError(f"no valid records to write to {self.out_dir}" + (f" ({reasons})" if reasons else ""))
        try:
            return self._close(pretty_name, description, generation, license)
        except OSError as exc:
            if isinstance(exc, FusionRSError):
                raise  # the output rule's own refusal, already one line
            raise output_error(self.out_dir, exc) from exc

    def _close(self, pretty_name: str, description: str, generation: dict[str, Any] | None, license: str | None
               ) -> WriteReport:
        data_dir = self._tmp / "data"
        data_dir.mkdir()
        for split, shards in sorted(self._splits.items()):
            paths = shards.close()
            names = []
            for i, path in enumerate(paths):
                name = f"{split}-{i:05d}-of-{len(paths):05d}.parquet"
                path.rename(data_dir / name)
                names.append(f"data/{name}")
            self.report.shards[split] = names
            metadata = [pq.ParquetFile(data_dir / Path(n).name).metadata for n in names]
            self.report.split_counts[split] = sum(m.num_rows for m in metadata)
            self.report.split_bytes[split] = sum(m.row_group(g).total_byte_size for m in metadata for g in range(m.num_row_groups))
            self.report.download_bytes += sum((data_dir / Path(n).name).stat().st_size for n in names)
        self.report.source_counts = dict(self._sources)
        generation = {"schema_version": SCHEMA_VERSION, "fusionrs_version": __version__, **(generation or {})}
        # Published files carry relative locators only: no absolute local path of a skipped record.
        generation, self.report.skipped = scrub_published(generation), scrub_published(self.report.skipped)
        (self._tmp / "generation.json").write_text(
            json.dumps({"generation": generation, "split_counts": self.report.split_counts,
                        "source_counts": self.report.source_counts, "skipped": self.report.skipped}, indent=2) + "\n"
        )
        card = _render_card(self.report, self._rights, pretty_name, description, generation, license)
        (self._tmp / "README.md").write_text(card)
        check_output_folder(self.out_dir, overwrite=self._overwrite, inputs=self._inputs)  # still ours to replace?
        commit_folder(self._tmp, self.out_dir, kind="dataset")
        return self.report

    def abort(self) -> None:
        """Drop everything written so far (also after a full disk made the shards unwritable)."""
        for shards in self._splits.values():
            if shards.writer is not None:
                try:
                    shards.writer.close()
                except OSError:
                    pass  # e.g. no space left for the footer: the folder goes anyway
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "DatasetFolderWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def write_dataset_folder(
    records: Iterable[FusionRecord],
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    on_error: Literal["skip", "raise"] = "skip",
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    pretty_name: str = "FusionRS dataset",
    description: str = "",
    generation: dict[str, Any] | None = None,
    license: str | None = None,
    progress: bool = True,
    total: int | None = None,
    inputs: Iterable[str | Path] = (),
) -> WriteReport:
    """Write `records` to a dataset folder in one call (see `DatasetFolderWriter`).

    Args:
        records: the records to write.
        out_dir: the dataset folder (written into a temporary folder, moved into place at the end).
        overwrite: replace an existing folder that fusionrs wrote (never a foreign one).
        on_error: "skip" invalid records (listed in the report) or "raise" on the first one.
        max_shard_bytes: start a new parquet shard past this size.
        pretty_name: the card's title.
        description: the card's paragraph under the title.
        generation: how the records were made (generation.json and the card).
        license: the declared hub licence id (never looser than non-commercial sources; None: the one
            the sources' rights give).
        progress: show a progress bar.
        total: the number of records, for the progress bar.
        inputs: files and folders the records come from; `out_dir` may not be, contain or lie in one.

    Returns:
        The `WriteReport`: folder, rows per split and source, records left out.

    Raises:
        OutputFolderError: `out_dir` may not be written (see `check_output_folder`), or writing
            it failed (disk full, read-only file system).
        FusionRSError: no valid record to write, or `on_error="raise"` and a record is invalid.
    """
    writer = DatasetFolderWriter(out_dir, overwrite=overwrite, on_error=on_error, max_shard_bytes=max_shard_bytes,
                                 inputs=inputs)
    with writer:
        for record in tqdm(records, total=total, desc=f"writing {Path(out_dir).name}", unit="rec", disable=not progress):
            writer.add(record)
        return writer.close(pretty_name=pretty_name, description=description, generation=generation, license=license)


def _render_card(
    report: WriteReport, rights: dict[str, str], pretty_name: str, description: str,
    generation: dict[str, Any], license: str | None,
) -> str:
    """The README.md: YAML `configs` + `dataset_info` (so plain `load_dataset` and the hub viewer know
    the splits and features) and a human-readable card from model_cards/dataset.md."""
    card_data = DatasetCardData(
        license=license,
        pretty_name=pretty_name,
        task_categories=["image-to-text", "zero-shot-image-classification", "image-to-image"],
        tags=["remote-sensing", "infrared", "rgb-infrared", "fusionrs"],
    )
    datasets.utils.metadata.MetadataConfigs(
        {"default": {"data_files": [{"split": s, "path": f"data/{s}-*"} for s in sorted(report.split_counts)]}}
    ).to_dataset_card_data(card_data)
    splits = datasets.SplitDict()
    for name, count in sorted(report.split_counts.items()):
        splits.add(datasets.SplitInfo(name=name, num_examples=count, num_bytes=report.split_bytes[name]))
    info = datasets.DatasetInfo(features=FEATURES, splits=splits, download_size=report.download_bytes,
                                dataset_size=sum(report.split_bytes.values()))
    datasets.info.DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    from fusionrs.data.card import render_dataset_card

    return render_dataset_card(
        card_data,
        pretty_name=pretty_name,
        description=description,
        repo_hint=str(report.out_dir.name),
        split_counts=report.split_counts,
        sources=[{"name": n, "rows": c, "rights": rights.get(n) or "not stated"} for n, c in sorted(report.source_counts.items())],
        generation=generation,
        skipped=report.skipped,
        schema_version=SCHEMA_VERSION,
    )
