"""The procedural world as dataset records: `fusionrs.synth` scenes -> `FusionRecord`s.

`fusionrs.synth` is a numpy leaf that knows nothing of the dataset schema; turning a scene into a
record (ids, provenance, rights) is the data stage's job, so it lives here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from fusionrs.core.licences import WORLD_RIGHTS
from fusionrs.data.schema import FusionRecord, Provenance
from fusionrs.synth.world import WORLD_VERSION, Scene, generate_scene

__all__ = ["iter_world_records", "scene_to_record"]


def scene_to_record(scene: Scene, *, split: str = "train") -> FusionRecord:
    """The scene as a FusionRS record, with the world version in its provenance.

    Args:
        scene: a generated procedural-world scene (`generate_scene`).
        split: the split stored in the record (default "train").

    Returns:
        A `FusionRecord` with id `world-v{WORLD_VERSION}-s{seed}-{index:06d}`, the scene's RGB and
        ground-truth IR images, captions, IR captions and objects, and CC0 provenance.
    """
    return FusionRecord(
        id=f"world-v{WORLD_VERSION}-s{scene.seed}-{scene.index:06d}",
        rgb=Image.fromarray(np.ascontiguousarray(scene.rgb)),
        ir=Image.fromarray(np.ascontiguousarray(scene.ir)),
        captions=list(scene.captions),
        ir_captions=list(scene.ir_captions),
        source_dataset="fusionrs_world",
        source_id=str(scene.index),
        class_name=scene.class_name,
        split=split,
        objects=[{"label": o["label"], "bbox": list(o["bbox"])} for o in scene.objects],
        provenance=Provenance(
            translator="world:ground_truth_thermal",
            translator_params={"time_of_day": scene.time_of_day, "size": scene.size},
            caption_model="world:layout",
            rights=WORLD_RIGHTS,
            source_locator=f"synth/{scene.seed}/{scene.index}",
            world_version=WORLD_VERSION,
        ),
    )


def iter_world_records(n: int, *, seed: int = 0, size: int = 256, split: str = "train", start: int = 0) -> Iterator[FusionRecord]:
    """Records for scenes `start .. start + n - 1` of world `seed`, classes cycling through all classes.

    Args:
        n: the number of records.
        seed: the world seed (default 0).
        size: the side of each scene, in pixels (default 256).
        split: the split stored in every record (default "train").
        start: the first scene index (default 0).

    Returns:
        An iterator of `n` `FusionRecord`s, generated lazily in index order.
    """
    for index in range(start, start + n):
        yield scene_to_record(generate_scene(index, seed=seed, size=size), split=split)
