"""Seeded rows shaped like the authors' release, for tests, benchmarks and users' dry runs.

The public release has no images, so every check of the reader (and of `fusionrs reconstruct`) runs
on rows like these: valid under both schemas, deterministic for (index, seed).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

from fusionrs.data.official.schemas import SCHEMA_VERSIONS, SOURCE_DATASETS, SPLITS

__all__ = ["example_row", "write_example_index"]


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def example_row(schema: str, i: int, rng: random.Random) -> dict[str, Any]:
    """A valid row of `schema`, deterministic for (i, rng state); rows come in groups of three.

    Args:
        schema: "public" (`fusionrs-public-index-v1`) or "full" (`fusionrs-index-v1`).
        i: the row's index (its `sample_id` is `fusionrs-{i:07d}`).
        rng: draws the split, record id and flags.

    Returns:
        The row as a dict.
    """
    source = SOURCE_DATASETS[i % len(SOURCE_DATASETS)]
    sample_id = f"fusionrs-{i:07d}"
    row = {
        "schema_version": SCHEMA_VERSIONS[schema],
        "sample_id": sample_id,
        "source_dataset": source,
        "source_record_id": f"{source.lower()}-{rng.randrange(10**6)}",
        "source_locator": f"images/{source}/{i:07d}.jpg",
        "split": rng.choice(SPLITS),
        "joint_group_id": "joint-group:" + _hex(f"group{i // 3}", 24),
        "phash4_component_id": "phash4:" + _hex(f"component{i // 3}", 16),
        "canonical_component_representative": f"fusionrs-{(i // 3) * 3:07d}",
        "is_canonical_component_representative": i % 3 == 0,
        "is_eval_representative": rng.random() < 0.05,
        "prior_reused_protected": False,
        "translation": {"model": "DiffV2IR", "output_key": f"ir/{source}/{sample_id}.png",
                        "redistribution": "conditional_on_upstream_rights"},
    }
    if schema == "public":
        row |= {"source_rights_code": f"{source.lower()}-rights", "caption_supervision_available_upstream": True,
                "vlm_train_identity": rng.random() < 0.1}
    else:
        caption = f"an aerial view of scene {i}"
        row |= {"source_rights_note": "research use", "class_name": "airport" if source == "NWPU" else None,
                "caption": caption, "caption_usable": True, "normalized_caption_key": _hex(caption, 64),
                "vlm_train_used": False}
    return row


def write_example_index(path: str | os.PathLike, schema: str, n: int, seed: int = 0) -> Path:
    """Write `n` example rows as `.jsonl` (or gzip for a `.gz` name), one at a time.

    Args:
        path: the file to write.
        schema: "public" or "full".
        n: rows.
        seed: seeds the row draws.

    Returns:
        The path written.
    """
    path = Path(path)
    rng = random.Random(seed)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps(example_row(schema, i, rng)) + "\n")
    return path
