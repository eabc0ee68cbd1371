"""The procedural aerial world: seeded RGB + ground-truth LWIR scenes with captions and labels.

    >>> from fusionrs.synth import generate_scene
    >>> scene = generate_scene(0, seed=0, size=256)   # an airport, RGB + IR + captions + boxes

The world is the embedded default dataset of fusionrs and a controlled test bed: the LWIR image
follows a per-material thermal model (see docs/world.md), so it carries information RGB colour
does not (`linear_fit_report`).
"""

from fusionrs.synth.analysis import linear_fit_report
from fusionrs.synth.captions import FORBIDDEN_IR_WORDS, forbidden_words_in
from fusionrs.synth.layout import SCENE_CLASSES
from fusionrs.synth.materials import MATERIAL_TABLE, MATERIALS, Material, same_colour_pairs
from fusionrs.synth.world import WORLD_VERSION, Scene, generate_scene

__all__ = [
    "FORBIDDEN_IR_WORDS",
    "MATERIALS",
    "MATERIAL_TABLE",
    "Material",
    "SCENE_CLASSES",
    "Scene",
    "WORLD_VERSION",
    "forbidden_words_in",
    "generate_scene",
    "linear_fit_report",
    "same_colour_pairs",
]
