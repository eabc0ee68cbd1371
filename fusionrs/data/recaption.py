"""(Re)caption a dataset folder: read its parquet shards, write a NEW folder with `ir_captions` filled.

Rows keep everything else (images as stored, splits, groups); provenance names the captioner, and
the card's generation info gets the filter report (counts per reason). Resuming is the backend's
job: the OpenAI-compatible client caches every reply, the grounded captioner is deterministic.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from PIL import Image
from tqdm.auto import tqdm

from fusionrs.captions.base import IRCaptioner
from fusionrs.captions.factory import get_captioner
from fusionrs.data.caption_stage import CaptionTally, apply_caption, caption_chunk
from fusionrs.errors import FusionRSError

__all__ = ["recaption_folder"]


def _rows(folder: Path) -> Iterator[dict[str, Any]]:
    for shard in sorted((folder / "data").glob("*.parquet")):
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=256):
            yield from batch.to_pylist()


def _count_rows(folder: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in (folder / "data").glob("*.parquet"))


def recaption_folder(data_dir: str | Path, out_dir: str | Path, captioner: str | IRCaptioner, *,
                     overwrite: bool = False, progress: bool = True, keep_existing: bool = False) -> dict[str, Any]:
    """Caption every row of `data_dir` into a new folder `out_dir` (the caption stage of `fusionrs build`).

    A rejected caption leaves the row with no IR-aware caption (`keep_existing=True` keeps the row's
    old ones instead); the row itself is always kept, as in `fusionrs build`.

    Args:
        data_dir: the built dataset folder (or what `resolve_data_dir` accepts).
        out_dir: the new folder to write.
        captioner: a captioner spec ("grounded", "local:...", "openai:...") or an `IRCaptioner`.
        overwrite: replace an existing `out_dir`.
        progress: show a progress bar.
        keep_existing: on a rejection, keep the row's old IR-aware captions.

    Returns:
        The filter report: captioner, captioner_params, accepted, rejected, unchanged and
        ir_caption_filter_counts (rejections per reason).

    Raises:
        FusionRSError: `out_dir` is the input folder, the input has no parquet shards, or a row has
            no IR image bytes.
        RuntimeError: the captioner returned a different number of results than it was given rows.
    """
    from fusionrs.data.folder import DatasetFolderWriter
    from fusionrs.data.loading import resolve_data_dir

    src = resolve_data_dir(data_dir)
    out = Path(out_dir)
    if out.resolve() == src.resolve():
        raise FusionRSError("--out must be a new folder, not the input folder")
    if not any((src / "data").glob("*.parquet")):
        raise FusionRSError(f"{src} has no data/*.parquet shards")
    cap = get_captioner(captioner) if isinstance(captioner, str) else captioner
    generation: dict[str, Any] = {}
    if (src / "generation.json").is_file():
        generation = json.loads((src / "generation.json").read_text()).get("generation", {})
    tally = CaptionTally()
    params = json.dumps(cap.params, sort_keys=True, default=str)
    writer = DatasetFolderWriter(out, overwrite=overwrite, inputs=[src])  # never replaces its input
    with writer:
        bar = tqdm(total=_count_rows(src), desc=f"captioning ({cap.name})", unit="rec", disable=not progress)
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            images = [Image.open(io.BytesIO(r["ir"]["bytes"])).convert("L") for r in pending]
            results = caption_chunk(cap, images, [r["captions"] for r in pending])
            for row, result in zip(pending, results):
                if result is not None:
                    row["provenance"]["caption_model"] = cap.name
                    row["provenance"]["caption_params"] = params
                row["ir_captions"] = apply_caption(result, row.get("ir_captions"), keep_existing=keep_existing,
                                                   tally=tally)
                writer.add_row(row)
            bar.update(len(pending))
            pending.clear()

        for row in _rows(src):
            if row.get("ir") is None or not row["ir"].get("bytes"):
                raise FusionRSError(f"row {row.get('id')!r} of {src} has no IR image bytes")
            pending.append(row)
            if len(pending) >= cap.batch_size:
                flush()
        if pending:
            flush()
        bar.close()
        report = {"captioner": cap.name, "captioner_params": cap.params, "accepted": tally.accepted,
                  "rejected": tally.rejected, "unchanged": tally.unchanged,
                  "ir_caption_filter_counts": tally.filter_counts()}
        generation = {**generation, "captioner": cap.name, "ir_caption_filter_counts": report["ir_caption_filter_counts"],
                      "recaptioned_from": str(src), "ir_caption_report": report}
        writer.close(pretty_name="FusionRS dataset", generation=generation,
                     description=f"RGB / infrared-style / caption triples from {src.name}, IR-aware captions by {cap.name}.")
    if (src / "split_manifest.json").is_file():
        shutil.copy(src / "split_manifest.json", out / "split_manifest.json")
    return report
