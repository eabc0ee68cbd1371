"""The world's material table: visible colour and thermal behaviour as data, nothing else.

Colour and thermal parameters are independent columns on purpose: pairs of materials share a colour
but not their absorptance, emissivity, thermal inertia or evaporation, so no function of RGB colour
can predict the thermal image (see `SAME_COLOUR_PAIRS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MATERIALS",
    "MATERIAL_TABLE",
    "Material",
    "SAME_COLOUR_PAIRS",
    "material_index",
    "same_colour_pairs",
    "table_arrays",
]


@dataclass(frozen=True)
class Material:
    """One material.

    rgb: mean sRGB colour in sunlight; rgb_texture: relative albedo variation (0.1 = +-10 %);
    absorptance: fraction of sunlight absorbed (not the visible colour: white paint and bare metal
    differ in the infrared part of sunlight); emissivity: LWIR emissivity, low for bare metal, which
    then mirrors the cold sky; tau_h: thermal time constant in hours (thermal inertia: water and
    massive concrete lag and damp the daily cycle, thin sheet metal follows the sun at once);
    evaporation: fraction of absorbed sunlight spent evaporating water (vegetation, water, wet ground);
    self_heating_k: kelvin added by internal sources (running engines, exhaust vents);
    texture_k: kelvin of small-scale thermal variation (moisture, wear).
    """

    name: str
    rgb: tuple[int, int, int]
    rgb_texture: float
    absorptance: float
    emissivity: float
    tau_h: float
    evaporation: float = 0.0
    self_heating_k: float = 0.0
    texture_k: float = 0.5


_GREY = (150, 149, 145)  # concrete and galvanised roofs look alike from above
_GREEN = (84, 108, 58)  # lawn, painted green roofs and artificial turf look alike from above

MATERIAL_TABLE: tuple[Material, ...] = (
    Material("grass", _GREEN, 0.16, 0.75, 0.97, 0.6, evaporation=0.65, texture_k=0.8),
    Material("tree", (46, 66, 40), 0.30, 0.85, 0.98, 1.0, evaporation=0.75, texture_k=0.7),
    Material("crop", (108, 124, 66), 0.14, 0.75, 0.97, 0.6, evaporation=0.55, texture_k=0.8),
    Material("soil", (138, 114, 88), 0.16, 0.78, 0.93, 2.5, evaporation=0.15, texture_k=1.5),
    Material("sand", (206, 190, 152), 0.07, 0.60, 0.92, 2.0, texture_k=0.8),
    Material("water", (38, 60, 72), 0.06, 0.93, 0.98, 60.0, evaporation=0.80, texture_k=0.15),
    Material("asphalt", (74, 76, 78), 0.10, 0.92, 0.95, 3.0, texture_k=0.8),
    Material("concrete", _GREY, 0.08, 0.62, 0.92, 4.0, texture_k=0.6),
    Material("metal_roof", _GREY, 0.06, 0.60, 0.28, 0.3, texture_k=0.4),
    Material("green_roof", _GREEN, 0.10, 0.82, 0.90, 0.3, texture_k=0.4),
    Material("tile_roof", (158, 84, 64), 0.12, 0.68, 0.90, 1.5, texture_k=0.5),
    Material("bright_roof", (214, 213, 208), 0.05, 0.22, 0.90, 0.5, texture_k=0.4),
    Material("vehicle", (130, 130, 130), 0.05, 0.60, 0.85, 0.4, texture_k=0.3),
    Material("aircraft", (208, 210, 214), 0.04, 0.35, 0.85, 0.8, texture_k=0.3),
    Material("ship", (128, 128, 132), 0.08, 0.60, 0.90, 3.0, texture_k=0.4),
    Material("engine", (130, 130, 130), 0.05, 0.60, 0.90, 0.4, self_heating_k=42.0, texture_k=2.0),
    Material("vent", (120, 120, 118), 0.05, 0.60, 0.90, 0.4, self_heating_k=30.0, texture_k=1.5),
    Material("turf", _GREEN, 0.06, 0.86, 0.93, 0.5, texture_k=0.4),
    Material("track", (168, 78, 62), 0.06, 0.85, 0.93, 1.0, texture_k=0.4),
    Material("gravel", (152, 146, 134), 0.14, 0.70, 0.92, 2.5, evaporation=0.05, texture_k=1.0),
    Material("container", (130, 130, 130), 0.04, 0.65, 0.90, 0.4, texture_k=0.4),
    Material("tank", (204, 204, 200), 0.04, 0.30, 0.90, 8.0, texture_k=0.3),
    Material("wet_sand", (150, 138, 110), 0.07, 0.80, 0.96, 3.0, evaporation=0.50, texture_k=0.6),
    Material("dry_grass", (160, 148, 98), 0.14, 0.66, 0.95, 0.8, evaporation=0.15, texture_k=1.0),
)

MATERIALS: tuple[str, ...] = tuple(m.name for m in MATERIAL_TABLE)

# (a, b): same visible colour, different thermal behaviour. Checked by tests and the linear-fit report.
SAME_COLOUR_PAIRS: tuple[tuple[str, str], ...] = (
    ("concrete", "metal_roof"),  # emissivity 0.92 vs 0.28: the roof mirrors the cold sky
    ("grass", "green_roof"),  # evaporating leaves vs sun-baked painted sheet metal
    ("grass", "turf"),  # living lawn vs rubber-filled plastic pitch
)


def material_index(name: str) -> int:
    """Index of `name` in `MATERIALS` (the value stored in material maps).

    Args:
        name: a material name, e.g. "water".

    Returns:
        Its integer index.

    Raises:
        ValueError: `name` is not in `MATERIALS`.
    """
    return MATERIALS.index(name)


def same_colour_pairs() -> list[tuple[str, str]]:
    """The material pairs that look (nearly) the same in RGB but behave differently in LWIR."""
    return list(SAME_COLOUR_PAIRS)


def table_arrays() -> dict[str, np.ndarray]:
    """The table as column arrays indexed by material id, for vectorised rendering."""
    return {
        "rgb": np.array([m.rgb for m in MATERIAL_TABLE], dtype=np.float32),
        "rgb_texture": np.array([m.rgb_texture for m in MATERIAL_TABLE], dtype=np.float32),
        "absorptance": np.array([m.absorptance for m in MATERIAL_TABLE], dtype=np.float64),
        "emissivity": np.array([m.emissivity for m in MATERIAL_TABLE], dtype=np.float64),
        "tau_h": np.array([m.tau_h for m in MATERIAL_TABLE], dtype=np.float64),
        "evaporation": np.array([m.evaporation for m in MATERIAL_TABLE], dtype=np.float64),
        "self_heating_k": np.array([m.self_heating_k for m in MATERIAL_TABLE], dtype=np.float64),
        "texture_k": np.array([m.texture_k for m in MATERIAL_TABLE], dtype=np.float32),
    }
