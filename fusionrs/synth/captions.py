"""Captions from the layout (RSICD-style) and ground-truth IR-aware captions from the rendered IR.

Conventional captions only state what the layout holds (counts, positions, courses of rivers and
roads). IR-aware captions only describe the 8-bit image as measured from the pixels of each region:
bright/dark responses, uniform low-texture areas, outlines and contrast. They never mention physical
causes or RGB colours, following the FusionRS rules (see `FORBIDDEN_IR_WORDS`).
"""

from __future__ import annotations

import re
from collections import Counter
import numpy as np

from fusionrs.synth.canvas import Layout
from fusionrs.synth.materials import MATERIALS

__all__ = ["FORBIDDEN_IR_WORDS", "conventional_captions", "forbidden_words_in", "ir_captions"]

# Word stems an IR-aware caption must not contain (FusionRS strict filter categories:
# temperature/heat, emissivity/radiance, reflectivity, material/surface property, RGB colours).
FORBIDDEN_IR_WORDS = (
    "temperature", "heat", "hot", "warm", "cold", "cool", "thermal", "emission", "emit", "emissiv", "radian",
    "reflect", "material", "surface propert", "metal", "concrete", "asphalt", "red", "green", "blue", "yellow",
    "brown", "orange", "purple", "pink", "white", "black", "grey", "gray", "colour", "color", "sunlit", "sun",
)
_FORBIDDEN_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in FORBIDDEN_IR_WORDS) + r")\w*", re.IGNORECASE)
_ALLOWED = {"grayscale"}  # the FusionRS rules explicitly ask for grayscale intensity


def forbidden_words_in(text: str) -> list[str]:
    """Forbidden words found in `text` (empty list when the caption is clean).

    Args:
        text: a caption.

    Returns:
        Each whole word starting with a stem of `FORBIDDEN_IR_WORDS`, as written, in order of
        appearance ("grayscale" is allowed).
    """
    return [m.group(0) for m in _FORBIDDEN_RE.finditer(text) if m.group(0).lower() not in _ALLOWED]


_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def _num(n: int) -> str:
    return _NUMBERS[n] if n < len(_NUMBERS) else ("dozens of" if n >= 24 else "many")


def _plural(n: int, noun: str, plural: str | None = None) -> str:
    word = noun if n == 1 else (plural or noun + "s")
    return f"{'a' if n == 1 and noun[0] not in 'aeiou' else 'an' if n == 1 else _num(n)} {word}"


def _where(p) -> str:
    x, y = p
    col = 0 if x < 0.36 else 2 if x > 0.64 else 1
    row = 0 if y < 0.36 else 2 if y > 0.64 else 1
    return [["in the top left corner", "at the top", "in the top right corner"],
            ["on the left side", "in the middle", "on the right side"],
            ["in the bottom left corner", "at the bottom", "in the bottom right corner"]][row][col]


def _course(line) -> str:
    (x0, y0), (x1, y1) = line
    dx, dy = x1 - x0, y1 - y0
    if abs(dy) < 0.4 * abs(dx):
        return "from left to right"
    if abs(dx) < 0.4 * abs(dy):
        return "from top to bottom"
    if dx * dy > 0:
        return "from the top left to the bottom right"
    return "from the bottom left to the top right"


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


# ---------------------------------------------------------------------------------------------
def conventional_captions(layout: Layout, rng: np.random.Generator) -> list[str]:
    """Five distinct RSICD-style captions built from the layout's facts and objects.

    Args:
        layout: the scene layout (its class, facts, objects and material map are read).
        rng: generator for the wording choices and the order of the sentences.

    Returns:
        Up to five (normally exactly five) distinct sentences, capitalised and ending in a period.
    """
    f = layout.facts
    n = Counter(o["label"] for o in layout.objects)
    frac = np.bincount(layout.materials.ravel(), minlength=len(MATERIALS)) / layout.materials.size
    share = dict(zip(MATERIALS, frac))
    cands = list(_CLASS_CAPTIONS[layout.class_name](f, n, share, rng))
    scene = _SCENE_NOUN[layout.class_name]
    cands += [f"this is an aerial image of {scene}", f"{scene} seen from above", f"an overhead view of {scene}"]
    trees = share["tree"]
    if trees > 0.05 and layout.class_name != "forest":
        cands.append(f"{_pick(rng, ['some', 'many', 'several'] if trees < 0.2 else ['lots of', 'many'])} green trees are around {scene}")
    seen: list[str] = []
    order = list(rng.permutation(len(cands) - 3)) + [len(cands) - 3, len(cands) - 2, len(cands) - 1]
    for i in order:  # class-specific sentences first, generic ones only to fill up
        sentence = cands[int(i)].strip()
        sentence = sentence[0].upper() + sentence[1:] + ("" if sentence.endswith(".") else ".")
        if sentence not in seen:
            seen.append(sentence)
        if len(seen) == 5:
            break
    return seen


_SCENE_NOUN = {
    "airport": "an airport", "residential": "a residential area", "parking": "a parking lot", "farmland": "farmland",
    "forest": "a forest", "river": "a river", "lake_pond": "a pond", "industrial": "an industrial area", "beach": "a beach",
    "bare_land": "a piece of bare land", "playground": "a playground", "port": "a port", "bridge": "a bridge over a river",
    "storage_tanks": "a tank farm", "meadow": "a meadow",
}


def _airport(f, n, share, rng):
    planes = n["airplane"]
    return [
        f"{_plural(planes, 'plane')} {'is' if planes == 1 else 'are'} parked near the terminal",
        f"a runway runs {_course(f['runway'])} with a parallel taxiway beside it",
        f"the terminal building is {_where(f['terminal'])} next to a wide apron",
        f"{_plural(planes, 'airplane')} and {_plural(n['car'] + n['truck'], 'vehicle')} are on the apron",
        f"an airport with {_plural(planes, 'plane')} parked on the apron",
        "green meadows surround the runway of the airport" if share["grass"] > 0.2 else "dry grass surrounds the runway",
    ]


def _residential(f, n, share, rng):
    houses, cars = n["building"], n["car"]
    s = [
        f"{_plural(houses, 'house')} are arranged in rows along {'two crossing roads' if f['cross_road'] else 'a road'}",
        f"a road runs {_course(f['road'])} through the residential area",
        f"many buildings and {'many' if f['n_trees'] > 20 else 'some'} green trees are in a residential area",
        f"{_plural(cars, 'car')} {'is' if cars == 1 else 'are'} parked along the street" if cars else "no cars are on the quiet street",
        f"a dense residential area with {_plural(houses, 'house')} with red and grey roofs" if houses > 12
        else f"a sparse residential area with {_plural(houses, 'house')}",
    ]
    if f["cross_road"]:
        s.append("two roads cross each other between the houses")
    return s


def _parking(f, n, share, rng):
    cars, stalls = n["car"], f["n_stalls"]
    occupancy = cars / max(1, stalls)
    s = [
        f"{_plural(cars, 'car')} are parked in {_num(f['n_rows'])} rows in the parking lot",
        f"the parking lot is {'almost full' if occupancy > 0.8 else 'half empty' if occupancy > 0.35 else 'mostly empty'}",
        f"many cars of different colours are parked neatly in a parking lot" if cars > 12 else f"a few cars are in a large parking lot",
        f"the parking lot is {_where(f['lot'])} surrounded by grass and trees",
        f"about {stalls - cars} parking spaces are empty",
    ]
    if f["building"]:
        s.append(f"a building with a flat roof stands {_where(f['building'])} beside the parking lot")
    return s


def _farmland(f, n, share, rng):
    k = f["field_kinds"]
    s = [
        f"the farmland is divided into {_num(f['n_fields'])} fields of different shapes",
        f"{_num(k['crop'])} fields are green with crops and {_num(k['soil'])} are bare" if k["soil"] else "all fields are covered with crops",
        "some rectangular farmlands with different colours are next to each other",
        "many pieces of farmland are arranged neatly",
    ]
    if f["road"]:
        s.append(f"a road runs {_course(f['road'])} through the fields")
    if f["farm"]:
        s.append(f"a farm with a few buildings and trees is {_where(f['farm'])}")
    return s


def _forest(f, n, share, rng):
    clearing = f["clearing_fraction"]
    s = [
        "many green trees make up a dense forest",
        "the forest canopy is thick and dark green" if clearing < 0.1 else "several open clearings break the dense forest",
        f"{'a small' if clearing < 0.08 else 'some large'} patches of grassland lie among the trees" if clearing > 0.01 else "trees cover the whole scene",
        "this forest is full of tall trees with round crowns",
    ]
    if f["trail"]:
        s.append(f"a narrow trail winds {_course(f['trail'])} through the forest")
    return s


def _river(f, n, share, rng):
    s = [
        f"a river runs {_course(f['river'])}",
        f"a {'wide' if f['width_m'] > 50 else 'narrow'} river winds through green fields",
        f"{'many' if f['n_trees'] > 15 else 'some'} trees grow along both banks of the river",
        "a curved river flows between farmland and grassland",
    ]
    if f["sandbanks"]:
        s.append("sandy banks line the river")
    if f["n_boats"]:
        s.append(f"{_plural(f['n_boats'], 'small boat')} {'is' if f['n_boats'] == 1 else 'are'} on the river")
    return s


def _lake(f, n, share, rng):
    size = "large" if f["lake_fraction"] > 0.25 else "small"
    s = [
        f"a {size} {'round' if f['round'] else 'irregular'} pond is {_where(f['lake'])}",
        f"the pond is surrounded by {'many' if f['n_trees'] > 25 else 'some'} green trees and grass",
        f"a {size} lake lies in the middle of a green park" if _where(f["lake"]) == "in the middle" else f"a {size} lake lies {_where(f['lake'])} of the park",
        "a calm lake with dark water is surrounded by meadows",
    ]
    if f["sand_shore"]:
        s.append("a sandy shore runs around the pond")
    if f["path"]:
        s.append("a path goes around the lake")
    if f["n_boats"]:
        s.append(f"{_plural(f['n_boats'], 'boat')} {'floats' if f['n_boats'] == 1 else 'float'} on the pond")
    return s


def _industrial(f, n, share, rng):
    trucks, b = n["truck"], n["building"]
    return [
        f"{_plural(b, 'large factory building', 'large factory buildings')} stand on both sides of a road",
        f"a road runs {_course(f['road'])} through the industrial area",
        f"{_plural(trucks, 'truck')} {'is' if trucks == 1 else 'are'} on the road between the warehouses" if trucks else "the road between the warehouses is empty",
        "many large buildings with flat roofs are in an industrial area",
        f"several warehouses and {_plural(n['car'], 'car')} are in the industrial area",
    ]


def _beach(f, n, share, rng):
    where_sea = _where(f["sea"])
    s = [
        f"the sea is {where_sea} and a yellow beach lies beside it",
        "waves wash onto a long sandy beach",
        f"a road and {_plural(f['n_buildings'], 'building')} run along the back of the beach",
        "a beach lies between the blue sea and the buildings",
    ]
    if f["n_umbrellas"] > 2:
        s.append(f"{_num(f['n_umbrellas'])} colourful umbrellas are on the beach")
    if f["n_boats"]:
        s.append(f"{_plural(f['n_boats'], 'boat')} {'is' if f['n_boats'] == 1 else 'are'} in the sea near the beach")
    return s


def _bare(f, n, share, rng):
    return [
        "a large piece of bare land is covered with brown soil",
        f"{_plural(f['n_tracks'], 'vehicle track')} cross the bare land" if f["n_tracks"] > 1 else "a single vehicle track crosses the bare land",
        "some dry grass grows in patches on the bare land",
        f"{'a few' if f['n_trees'] else 'no'} trees stand on the empty land",
        "the bare land is rough with gravel and soil",
    ]


def _playground(f, n, share, rng):
    return [
        f"a playground with a red running track is {_where(f['track'])}",
        "a green football field is surrounded by a red track",
        f"{_plural(f['n_buildings'], 'building')} and some trees are around the playground",
        f"{_plural(f['n_cars'], 'car')} are parked next to the playground" if f["n_cars"] else "a playground is next to a road",
        "white lines mark the lanes of the running track",
    ]


def _port(f, n, share, rng):
    ships = n["ship"]
    return [
        f"{_plural(ships, 'ship')} {'is' if ships == 1 else 'are'} docked along the quay" if ships else "the quay of the port is empty",
        f"{'many' if f['n_containers'] > 40 else 'some'} containers of different colours are stacked in the port",
        f"the water is {_where(f['water'])} and the quay runs {_course(f['quay'])}",
        "several cranes stand along the harbour wall",
        f"a port with {_plural(ships, 'large ship')} and a big warehouse",
    ] + ([f"{_plural(n['boat'], 'small boat')} {'is' if n['boat'] == 1 else 'are'} in the harbour basin"] if n["boat"] else [])


def _bridge(f, n, share, rng):
    cars = f["n_cars"]
    return [
        f"a bridge crosses a river {_where(f['bridge'])}" if f["bridge"] else "a bridge crosses the river",
        f"a river flows {_course(f['river'])} under a road bridge",
        f"{_plural(cars, 'car')} {'is' if cars == 1 else 'are'} on the road over the bridge" if cars else "no cars are on the bridge",
        f"a road runs {_course(f['road'])} and crosses the river on a bridge",
        "green fields and trees are on both banks of the river",
    ]


def _tanks(f, n, share, rng):
    nx, ny = f["tank_grid"]
    tanks = n["storage_tank"]
    return [
        f"{_num(tanks)} white storage tanks are arranged in {_num(ny)} {'row' if ny == 1 else 'rows'}",
        f"{_num(tanks)} round storage tanks are {_where(f['tanks'])}",
        "many storage tanks stand close to each other on bare ground",
        f"a road runs {_course(f['road'])} beside the storage tanks",
        f"{_plural(n['truck'], 'truck')} {'is' if n['truck'] == 1 else 'are'} near the tanks" if n["truck"] else "no vehicles are near the tanks",
    ]


def _meadow(f, n, share, rng):
    t = f["n_trees"]
    s = [
        "a large meadow is covered with green grass",
        f"{_plural(t, 'tree')} {'is' if t == 1 else 'are'} scattered on the meadow" if t else "no trees grow on the open meadow",
        "patches of dry grass and bare soil are on the meadow",
        "the meadow is wide and flat",
    ]
    if f["path"]:
        s.append("a narrow path crosses the meadow")
    return s


_CLASS_CAPTIONS = {
    "airport": _airport, "residential": _residential, "parking": _parking, "farmland": _farmland, "forest": _forest,
    "river": _river, "lake_pond": _lake, "industrial": _industrial, "beach": _beach, "bare_land": _bare,
    "playground": _playground, "port": _port, "bridge": _bridge, "storage_tanks": _tanks, "meadow": _meadow,
}

# ---------------------------------------------------------------------------------------------
# Regions named as scene parts, never as substances.
_GROUPS: dict[str, tuple[str, ...]] = {
    "the water": ("water",),
    "the trees": ("tree",),
    "the lawns and grassland": ("grass", "dry_grass"),
    "the crop fields": ("crop",),
    "the bare ground": ("soil", "gravel"),
    "the beach": ("sand", "wet_sand"),
    "the roads": ("asphalt",),
    "the paved areas": ("concrete",),
    "the rooftops": ("metal_roof", "green_roof", "tile_roof", "bright_roof", "vent"),
    "the vehicles": ("vehicle", "engine"),
    "the aircraft": ("aircraft",),
    "the ships": ("ship",),
    "the containers and cranes": ("container",),
    "the storage tanks": ("tank",),
    "the running track": ("track",),
    "the sports pitch": ("turf",),
}
_GROUP_IDS = {name: np.array([MATERIALS.index(m) for m in mats]) for name, mats in _GROUPS.items()}


_SINGULAR = {"the water", "the bare ground", "the beach", "the running track", "the sports pitch"}


def _verb(group: str, singular: str, plural: str) -> str:
    return singular if group in _SINGULAR else plural


def _level(v: float) -> str:
    if v > 200:
        return "very bright"
    if v > 150:
        return "bright"
    if v > 105:
        return "medium-intensity"
    if v > 55:
        return "dark"
    return "very dark"


def ir_captions(layout: Layout, ir: np.ndarray, shadow: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Two captions measured from the 8-bit IR image: what is bright, what is dark, what stands out.

    Args:
        layout: the scene layout (material map, heights, objects and class).
        ir: the rendered (H, W) uint8 LWIR image.
        shadow: the (H, W) shadow mask of the LWIR view (0 sunlit .. 1 full shadow).
        rng: generator for the wording choices and the selection of detail sentences.

    Returns:
        [overview, details]: a sentence on the brightest and darkest regions, then one or two
        detail sentences joined by a space.
    """
    ir_f = ir.astype(np.float32)
    counts = np.bincount(layout.materials.ravel(), minlength=len(MATERIALS))
    sums = np.bincount(layout.materials.ravel(), weights=ir_f.ravel(), minlength=len(MATERIALS))
    sq = np.bincount(layout.materials.ravel(), weights=(ir_f * ir_f).ravel(), minlength=len(MATERIALS))
    min_px = max(6, int(0.002 * ir.size))
    stats: dict[str, tuple[float, float, int]] = {}
    for name, ids in _GROUP_IDS.items():
        cnt = int(counts[ids].sum())
        if cnt >= min_px:
            mean = float(sums[ids].sum() / cnt)
            stats[name] = (mean, float(np.sqrt(max(0.0, sq[ids].sum() / cnt - mean * mean))), cnt)
    scene = _SCENE_NOUN[layout.class_name]
    ranked = sorted(stats, key=lambda k: stats[k][0])
    first: list[str] = []
    if len(ranked) >= 2:
        dark, bright = ranked[0], ranked[-1]
        gap = stats[bright][0] - stats[dark][0]
        if _level(stats[bright][0]) == _level(stats[dark][0]):
            first.append(f"In this infrared-style image of {scene}, {bright} and {dark} show similar {_level(stats[dark][0])} responses,"
                         f" with {bright} only slightly brighter.")
        else:
            contrast = "strong contrast between them" if gap > 90 else "moderate contrast" if gap > 40 else "a small difference in grayscale intensity"
            first.append(_pick(rng, [
                f"In this infrared-style image of {scene}, {bright} {_verb(bright, 'appears', 'appear')} {_level(stats[bright][0])}"
                f" while {dark} {_verb(dark, 'is', 'are')} {_level(stats[dark][0])}, with {contrast}.",
                f"The infrared-style view of {scene} shows {bright} as the brightest {_verb(bright, 'region', 'regions')}"
                f" and {dark} as the darkest, with {contrast}.",
                f"{bright[0].upper() + bright[1:]} {_verb(bright, 'gives', 'give')} the strongest response in this infrared-style"
                f" scene of {scene} and {dark} the weakest, with {contrast}.",
            ]))
    else:
        only = ranked[0] if ranked else "the scene"
        first.append(f"This infrared-style image of {scene} is dominated by {only}, which {_verb(only, 'appears', 'appear')} {_level(float(ir_f.mean()))} with little contrast.")

    details: list[str] = []
    for name in ("the water", "the sports pitch", "the paved areas", "the roads"):
        if name in stats and stats[name][1] < 6.0 and stats[name][2] > 0.05 * ir.size:
            details.append(f"{name[0].upper() + name[1:]} {_verb(name, 'forms', 'form')} a uniform, low-texture {_level(stats[name][0])} area.")
            break
    spots = _bright_spots(layout, ir_f)
    if spots:
        label, k = max(spots.items(), key=lambda kv: kv[1])
        details.append(f"{_plural(k, _SPOT_NOUN[label], _SPOT_PLURAL.get(label)).capitalize()} {'shows a compact, saturated bright spot' if k == 1 else 'show compact, saturated bright spots'}.")
    if "the rooftops" in stats and stats["the rooftops"][1] > 35:
        details.append("The rooftops vary widely, some very bright and others dark, so building outlines stand out sharply.")
    elif "the rooftops" in stats:
        details.append(f"The rooftops appear {_level(stats['the rooftops'][0])}, with building outlines clearly visible.")
    if shadow.mean() > 0.02:
        in_shade = shadow > 0.6
        open_ground = ~in_shade & (layout.height < 0.5)
        if in_shade.any() and open_ground.any() and ir_f[open_ground].mean() - ir_f[in_shade].mean() > 8:
            details.append("Darker imprints of the shadows lie beside the taller objects.")
    if not details:
        contrast = float(ir_f.std())
        details.append("The image has " + ("high" if contrast > 45 else "moderate" if contrast > 20 else "low") + " overall contrast with soft structural outlines.")
    chosen = details if len(details) <= 2 else [details[i] for i in sorted(rng.choice(len(details), size=2, replace=False))]
    return [first[0] if first[0].endswith(".") else first[0] + ".", " ".join(chosen)]


_SPOT_NOUN = {"car": "car", "truck": "truck", "airplane": "aircraft", "ship": "ship", "boat": "boat"}
_SPOT_PLURAL = {"airplane": "aircraft"}


def _bright_spots(layout: Layout, ir: np.ndarray) -> dict[str, int]:
    """Objects whose brightest pixels clearly exceed their own body and the scene (e.g. engines)."""
    found: Counter[str] = Counter()
    thresh = float(np.percentile(ir, 99.0))
    for o in layout.objects:
        if o["label"] not in _SPOT_NOUN:
            continue
        x, y, w, h = (int(round(v)) for v in o["bbox"])
        patch = ir[y:y + max(1, h), x:x + max(1, w)]
        if patch.size and patch.max() >= max(thresh, 200) and patch.max() - np.median(patch) > 40:
            found[o["label"]] += 1
    return dict(found)
