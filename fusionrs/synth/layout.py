"""Scene-class recipes: a seeded semantic layout (materials, heights, tints, objects, facts) per class.

Recipes work in metres on a canonical orientation; `make_layout` then rotates/flips the whole scene so
roads, shores and runways point every way. All randomness comes from the generator passed in, and
noise grids are sized in cells, so a (seed, index) pair gives the same layout at every pixel size.
`facts` hold what captions may say (counts, positions as fractions of the image, directions).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from fusionrs.synth import objects as obj
from fusionrs.synth.canvas import Canvas, Layout
from fusionrs.synth.materials import material_index
from fusionrs.synth.noise import value_noise

__all__ = ["RECIPES", "SCENE_CLASSES", "make_layout"]

Recipe = Callable[[np.random.Generator, int], tuple[Canvas, dict[str, Any]]]
RECIPES: dict[str, Recipe] = {}


def _recipe(name: str) -> Callable[[Recipe], Recipe]:
    def register(fn: Recipe) -> Recipe:
        RECIPES[name] = fn
        return fn

    return register


def _norm(c: Canvas, x: float, y: float) -> tuple[float, float]:
    return (round(x / c.extent_m, 4), round(y / c.extent_m, 4))


def _noise_mask(c: Canvas, rng: np.random.Generator, cells: int, threshold: float) -> np.ndarray:
    return value_noise(rng, c.size, cells, octaves=3) > threshold


def _scatter_trees(c: Canvas, rng: np.random.Generator, n: int, allowed: tuple[str, ...], region=None,
                   r=(3.0, 6.0)) -> int:
    """Up to `n` trees on pixels of the allowed background materials; returns how many were placed."""
    x0, y0, x1, y1 = region or (0.0, 0.0, c.extent_m, c.extent_m)
    ok = {material_index(m) for m in allowed}
    placed = 0
    for _ in range(n):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        rad = rng.uniform(*r)
        own = np.random.default_rng(rng.integers(2**63))  # same draws whether or not the tree fits
        if c.material_at(x, y) in ok:
            obj.tree(c, own, x, y, rad)
            placed += 1
    return placed


def _wavy_line(rng: np.random.Generator, p0, p1, n: int = 12, amp: float = 0.0) -> list[tuple[float, float]]:
    """Points from p0 to p1 with a smooth sideways meander of amplitude `amp` metres."""
    (xa, ya), (xb, yb) = p0, p1
    length = math.hypot(xb - xa, yb - ya)
    nx, ny = -(yb - ya) / length, (xb - xa) / length
    phase, freq = rng.uniform(0, 2 * math.pi), rng.uniform(1.0, 2.2)
    pts = []
    for i in range(n + 1):
        t = i / n
        off = amp * math.sin(2 * math.pi * freq * t + phase) * math.sin(math.pi * t) ** 0.3
        pts.append((xa + (xb - xa) * t + nx * off, ya + (yb - ya) * t + ny * off))
    return pts


# ------------------------------------------------------------------------------------------------
@_recipe("airport")
def _airport(rng, size):
    E = 420.0
    c = Canvas(size, E, "grass")
    c.fill_mask(_noise_mask(c, rng, 4, 0.25), "dry_grass")
    ry = rng.uniform(0.12, 0.22) * E
    c.rect(-5, ry - 22, E + 5, ry + 22, "concrete")
    for x in np.arange(5, E, 30):  # centre-line dashes
        c.rect(x, ry - 0.6, x + 14, ry + 0.6, "concrete", tint=(200, 200, 200))
    ty = ry + rng.uniform(70, 95)
    c.rect(-5, ty - 11, E + 5, ty + 11, "asphalt")
    for x in rng.uniform(0.1, 0.9, size=2) * E:
        c.rect(x - 10, ry, x + 10, ty, "asphalt")
    apron_y0, apron_y1 = ty + 11, ty + rng.uniform(120, 150)
    ax0, ax1 = rng.uniform(0, 0.15) * E, rng.uniform(0.85, 1.0) * E
    c.rect(ax0, apron_y0, ax1, apron_y1, "concrete")
    roof = "bright_roof" if rng.random() < 0.5 else "metal_roof"
    c.rect(ax0, apron_y1, ax1, E + 5, "asphalt")
    term = obj.building(c, rng, (ax0 + ax1) / 2, apron_y1 + 28, (ax1 - ax0) * 0.8, 40, 0.0, roof=roof, height=16, vents=3)
    n_planes = int(rng.integers(1, 6))
    xs = np.linspace(ax0 + 40, ax1 - 40, n_planes) if n_planes > 1 else np.array([(ax0 + ax1) / 2])
    for x in xs:
        L = rng.uniform(30, 52)
        obj.aircraft(c, rng, x + rng.uniform(-4, 4), apron_y1 - L / 2 - 8, math.pi / 2 + rng.uniform(-0.1, 0.1), length=L)
    for _ in range(int(rng.integers(0, 5))):
        obj.vehicle(c, rng, rng.uniform(ax0 + 10, ax1 - 10), rng.uniform(apron_y0 + 10, apron_y1 - 10), rng.uniform(0, math.pi),
                    kind="truck" if rng.random() < 0.5 else "car", running_p=0.6)
    return c, {"runway": [_norm(c, 0, ry), _norm(c, E, ry)], "terminal": _norm(c, (ax0 + ax1) / 2, apron_y1 + 28),
               "apron": _norm(c, (ax0 + ax1) / 2, (apron_y0 + apron_y1) / 2), "terminal_roof": term and term["roof"]}


@_recipe("residential")
def _residential(rng, size):
    E = 180.0
    c = Canvas(size, E, "grass")
    c.fill_mask(_noise_mask(c, rng, 3, 0.45), "dry_grass")
    ry = rng.uniform(0.4, 0.6) * E
    cross = rng.random() < 0.5
    rx = rng.uniform(0.3, 0.7) * E
    c.rect(-5, ry - 7, E + 5, ry + 7, "concrete")
    c.rect(-5, ry - 4.5, E + 5, ry + 4.5, "asphalt")
    if cross:
        c.rect(rx - 7, -5, rx + 7, E + 5, "concrete")
        c.rect(rx - 4.5, -5, rx + 4.5, E + 5, "asphalt")
    roofs = ("tile_roof", "tile_roof", "tile_roof", "metal_roof", "green_roof", "bright_roof", "concrete")
    lawn = (material_index("grass"), material_index("dry_grass"))
    n_houses = 0
    for side in (-1, 1):
        for row in (0, 1):
            x = rng.uniform(2, 12)
            while x < E - 10:
                w, d = rng.uniform(10, 15), rng.uniform(8, 12)
                cy = ry + side * (7 + 6 + d / 2 + row * 32)
                if row == 0 or rng.random() < 0.8:
                    corners = [(x, cy - d / 2), (x + w, cy - d / 2), (x, cy + d / 2), (x + w, cy + d / 2)]
                    if all(0 < cx_ < E and 0 < cy_ < E and c.material_at(cx_, cy_) in lawn for cx_, cy_ in corners):
                        roof = roofs[rng.integers(len(roofs))]
                        if row == 0:
                            c.rect(x + w / 2 - 2, ry + side * 7, x + w / 2 + 2, cy, "concrete")
                        obj.building(c, rng, x + w / 2, cy, w, d, 0.0, roof=roof, height=rng.uniform(5, 9),
                                     gable=roof == "tile_roof")
                        n_houses += 1
                        if row == 0 and rng.random() < 0.4:
                            obj.vehicle(c, rng, x + w / 2, ry + side * 10, math.pi / 2, running_p=0.1)
                x += w + rng.uniform(5, 12)
    for _ in range(int(rng.integers(0, 6))):  # cars on the road
        side = rng.choice([-2.2, 2.2])
        obj.vehicle(c, rng, rng.uniform(5, E - 5), ry + side, 0.0 if side > 0 else math.pi, running_p=0.9)
    trees = _scatter_trees(c, rng, 60, ("grass", "dry_grass"), r=(3.0, 5.5))
    return c, {"road": [_norm(c, 0, ry), _norm(c, E, ry)], "cross_road": [_norm(c, rx, 0), _norm(c, rx, E)] if cross else None,
               "n_houses": n_houses, "n_trees": trees}


@_recipe("parking")
def _parking(rng, size):
    E = 110.0
    c = Canvas(size, E, "grass")
    x0, y0, x1, y1 = rng.uniform(2, 10), rng.uniform(2, 10), E - rng.uniform(2, 10), E - rng.uniform(12, 25)
    c.rect(x0, y0, x1, y1, "asphalt")
    occupancy = rng.uniform(0.25, 0.95)
    stall_w, stall_d, aisle = 2.6, 5.2, 7.0
    n_rows, n_stalls, y = 0, 0, y0 + 2
    while y + 2 * stall_d < y1:
        for facing, yy in ((1, y), (-1, y + stall_d)):
            n_rows += 1
            for x in np.arange(x0 + 2, x1 - stall_w, stall_w):
                c.rect(x - 0.08, yy, x + 0.08, yy + stall_d, "asphalt", tint=(230, 230, 230))
                n_stalls += 1
                if rng.random() < occupancy:
                    obj.vehicle(c, rng, x + stall_w / 2, yy + stall_d / 2, facing * math.pi / 2 + rng.normal(0, 0.04),
                                running_p=0.15)
        y += 2 * stall_d + aisle
    n_trees = _scatter_trees(c, rng, 25, ("grass",), r=(2.0, 4.0))
    bld = None
    if rng.random() < 0.6:
        bld = obj.building(c, rng, E / 2, E - 4, rng.uniform(40, 90), 14, 0.0, roof="bright_roof", height=10, vents=2)
    n_cars = sum(o["label"] == "car" for o in c.objects)
    return c, {"n_rows": n_rows, "n_stalls": n_stalls, "n_cars": n_cars, "lot": _norm(c, (x0 + x1) / 2, (y0 + y1) / 2),
               "building": _norm(c, E / 2, E - 4) if bld else None, "n_trees": n_trees}


@_recipe("farmland")
def _farmland(rng, size):
    E = 700.0
    c = Canvas(size, E, "crop")
    fields: list[tuple[float, float, float, float]] = []

    def split(x0, y0, x1, y1, depth):
        if depth == 0 or (x1 - x0) * (y1 - y0) < 90_000:
            fields.append((x0, y0, x1, y1))
            return
        if (x1 - x0) > (y1 - y0):
            m = rng.uniform(0.35, 0.65) * (x1 - x0) + x0
            split(x0, y0, m, y1, depth - 1), split(m, y0, x1, y1, depth - 1)
        else:
            m = rng.uniform(0.35, 0.65) * (y1 - y0) + y0
            split(x0, y0, x1, m, depth - 1), split(x0, m, x1, y1, depth - 1)

    split(-5, -5, E + 5, E + 5, int(rng.integers(2, 4)))
    kinds = {"crop": 0, "soil": 0, "dry_grass": 0}
    for x0, y0, x1, y1 in fields:
        kind = ("crop", "crop", "soil", "dry_grass")[rng.integers(4)]
        kinds[kind] += 1
        g = int(rng.integers(110, 146))
        c.rect(x0 + 3, y0 + 3, x1 - 3, y1 - 3, kind, tint=(g + int(rng.integers(-8, 9)), g, g - int(rng.integers(0, 12))))
        if kind != "dry_grass":  # sowing rows: faint stripes along the long side
            step = 12.0
            if x1 - x0 > y1 - y0:
                for yy in np.arange(y0 + 6, y1 - 6, step):
                    c.line([(x0 + 4, yy), (x1 - 4, yy)], 3.0, kind, tint=(int(g * 0.9),) * 3)
            else:
                for xx in np.arange(x0 + 6, x1 - 6, step):
                    c.line([(xx, y0 + 4), (xx, y1 - 4)], 3.0, kind, tint=(int(g * 0.9),) * 3)
    road = None
    if rng.random() < 0.6:
        ry = rng.uniform(0.2, 0.8) * E
        c.line([(-5, ry), (E + 5, ry + rng.uniform(-80, 80))], 7, "asphalt")
        road = [_norm(c, 0, ry), _norm(c, E, ry)]
    farm = None
    if rng.random() < 0.5:
        fx, fy = rng.uniform(0.2, 0.8, size=2) * E
        c.rect(fx - 30, fy - 25, fx + 30, fy + 25, "gravel")
        for _ in range(int(rng.integers(2, 4))):
            obj.building(c, rng, fx + rng.uniform(-18, 18), fy + rng.uniform(-12, 12), rng.uniform(12, 24), rng.uniform(9, 14), 0.0,
                         roof=("metal_roof", "tile_roof", "green_roof")[rng.integers(3)], height=7)
        _scatter_trees(c, rng, 15, ("crop", "soil", "dry_grass"), region=(fx - 50, fy - 45, fx + 50, fy + 45), r=(3, 6))
        farm = _norm(c, fx, fy)
    return c, {"n_fields": len(fields), "field_kinds": kinds, "road": road, "farm": farm}


@_recipe("forest")
def _forest(rng, size):
    E = 260.0
    c = Canvas(size, E, "tree")
    c.rect(0, 0, E, E, "tree", height=11.0)
    clear = _noise_mask(c, rng, 3, 0.38)
    c.fill_mask(clear, "grass")
    n_crowns = 0
    for _ in range(420):
        x, y = rng.uniform(0, E, size=2)
        if c.material_at(x, y) == material_index("tree"):
            t = int(rng.integers(90, 160))
            c.ellipse(x, y, rng.uniform(3, 6.5), rng.uniform(3, 6.5), "tree", float(rng.uniform(12, 20)),
                      (t, int(t * rng.uniform(0.95, 1.1)), int(t * 0.95)))
            n_crowns += 1
    trail = None
    if rng.random() < 0.6:
        pts = _wavy_line(rng, (-5, rng.uniform(0.2, 0.8) * E), (E + 5, rng.uniform(0.2, 0.8) * E), amp=30)
        c.line(pts, 3.5, "soil")
        trail = [_norm(c, *pts[0]), _norm(c, *pts[-1])]
    frac_clear = float(clear.mean())
    return c, {"clearing_fraction": round(frac_clear, 3), "trail": trail}


@_recipe("river")
def _river(rng, size):
    E = 500.0
    c = Canvas(size, E, "grass")
    c.fill_mask(_noise_mask(c, rng, 3, 0.2), "crop")
    a = rng.uniform(0.1, 0.9) * E
    b = rng.uniform(0.1, 0.9) * E
    p0, p1 = (a, -20), (b, E + 20)
    pts = _wavy_line(rng, p0, p1, n=20, amp=rng.uniform(20, 70))
    w = rng.uniform(28, 70)
    sandbanks = rng.random() < 0.5
    c.line(pts, w + 30, "grass")
    if sandbanks:
        c.line(pts, w + 14, "sand")
    c.line(pts, w + 4, "wet_sand")
    c.line(pts, w, "water")
    trees = 0
    for (x, y) in pts[1:-1]:
        for side in (-1, 1):
            trees += _scatter_trees(c, rng, 3, ("grass", "crop"), region=(x - w, y - w, x + w, y + w), r=(3, 6))
    boats = [obj.ship(c, rng, *pts[i], math.atan2(pts[i + 1][1] - pts[i][1], pts[i + 1][0] - pts[i][0]), length=rng.uniform(6, 12))
             for i in rng.choice(np.arange(4, 16), size=int(rng.integers(0, 3)), replace=False)]
    return c, {"river": [_norm(c, a, 0), _norm(c, b, E)], "width_m": round(w, 1), "sandbanks": sandbanks, "n_trees": trees,
               "n_boats": sum(b is not None for b in boats)}


@_recipe("lake_pond")
def _lake(rng, size):
    E = 350.0
    c = Canvas(size, E, "grass")
    c.fill_mask(_noise_mask(c, rng, 3, 0.3), "dry_grass")
    cx, cy = rng.uniform(0.3, 0.7, size=2) * E
    rx, ry = rng.uniform(0.15, 0.32, size=2) * E
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) * (E / size)
    d = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2) + 0.35 * value_noise(rng, size, 3, octaves=2)
    beach = rng.random() < 0.4
    c.fill_mask(d < 1.12, "sand" if beach else "grass")
    c.fill_mask(d < 1.0, "water")
    path = rng.random() < 0.5
    if path:
        c.fill_mask((d > 1.25) & (d < 1.29), "concrete")
    trees = _scatter_trees(c, rng, 90, ("grass", "dry_grass"), r=(2.5, 6.0))
    boats = 0
    for _ in range(int(rng.integers(0, 4))):
        bx, by = cx + rng.uniform(-0.5, 0.5) * rx, cy + rng.uniform(-0.5, 0.5) * ry
        if c.material_at(bx, by) == material_index("water") and obj.ship(c, rng, bx, by, rng.uniform(0, 2 * math.pi),
                                                                          length=rng.uniform(5, 9), running_p=0.3):
            boats += 1
    return c, {"lake": _norm(c, cx, cy), "lake_fraction": round(float((d < 1.0).mean()), 3), "round": abs(rx - ry) < 0.05 * E,
               "sand_shore": beach, "path": path, "n_trees": trees, "n_boats": boats}


@_recipe("industrial")
def _industrial(rng, size):
    E = 320.0
    c = Canvas(size, E, "concrete")
    c.fill_mask(_noise_mask(c, rng, 3, 0.3), "gravel")
    ry = rng.uniform(0.35, 0.65) * E
    c.rect(-5, ry - 8, E + 5, ry + 8, "asphalt")
    roofs = ("metal_roof", "metal_roof", "bright_roof", "green_roof", "concrete")
    n_b = 0
    for side in (-1, 1):
        x = rng.uniform(0, 20)
        while x < E - 30:
            w, d = rng.uniform(40, 110), rng.uniform(35, 0.42 * E - 20)
            cy = ry + side * (8 + 12 + d / 2)
            obj.building(c, rng, x + w / 2, cy, w, d, 0.0, roof=roofs[rng.integers(len(roofs))], height=rng.uniform(8, 18),
                         vents=int(rng.integers(0, 6)))
            n_b += 1
            x += w + rng.uniform(12, 30)
    for _ in range(int(rng.integers(2, 9))):
        obj.vehicle(c, rng, rng.uniform(10, E - 10), ry + rng.choice([-3.0, 3.0]), 0.0, kind="truck", running_p=0.6)
    for _ in range(int(rng.integers(0, 8))):
        obj.vehicle(c, rng, rng.uniform(10, E - 10), ry + rng.choice([-13.0, 13.0]), math.pi / 2, running_p=0.2)
    _scatter_trees(c, rng, 12, ("gravel",), r=(2.5, 4.5))
    return c, {"road": [_norm(c, 0, ry), _norm(c, E, ry)], "n_buildings": n_b}


@_recipe("beach")
def _beach(rng, size):
    E = 260.0
    c = Canvas(size, E, "sand")
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) * (E / size)
    shore = rng.uniform(0.3, 0.45) * E + 12 * value_noise(rng, size, 2, octaves=2)
    c.fill_mask(yy < shore + 10, "wet_sand")
    c.fill_mask(yy < shore, "water")
    back = rng.uniform(0.72, 0.85) * E
    c.rect(-5, back, E + 5, back + 10, "asphalt")
    c.rect(-5, back + 10, E + 5, E + 5, "grass")
    n_b = 0
    for x in np.arange(rng.uniform(0, 20), E - 20, rng.uniform(35, 60)):
        obj.building(c, rng, x + 15, back + 28, rng.uniform(18, 30), rng.uniform(14, 22), 0.0,
                     roof=("bright_roof", "tile_roof", "concrete")[rng.integers(3)], height=rng.uniform(8, 20), vents=1)
        n_b += 1
    _scatter_trees(c, rng, 25, ("grass",), r=(2.0, 4.0))
    n_umbrellas = int(rng.integers(0, 25))
    for _ in range(n_umbrellas):
        x, y = rng.uniform(5, E - 5), rng.uniform(float(shore.max()) + 12, back - 5)
        c.ellipse(x, y, 1.3, 1.3, "bright_roof", 2.2, obj.car_tint(rng))
    n_boats = 0
    for _ in range(int(rng.integers(0, 5))):
        x, y = rng.uniform(10, E - 10), rng.uniform(8, float(shore.min()) - 8)
        if y > 8 and obj.ship(c, rng, x, y, rng.uniform(0, 2 * math.pi), length=rng.uniform(6, 14), running_p=0.5):
            n_boats += 1
    for _ in range(int(rng.integers(0, 6))):
        obj.vehicle(c, rng, rng.uniform(5, E - 5), back + rng.choice([2.5, 7.5]), 0.0, running_p=0.5)
    return c, {"sea": _norm(c, E / 2, float(shore.mean()) / 2), "shore_y": round(float(shore.mean()) / E, 3),
               "n_umbrellas": n_umbrellas, "n_boats": n_boats, "n_buildings": n_b, "road": [_norm(c, 0, back), _norm(c, E, back)]}


@_recipe("bare_land")
def _bare(rng, size):
    E = 400.0
    c = Canvas(size, E, "soil")
    c.fill_mask(_noise_mask(c, rng, 3, 0.15), "gravel")
    c.fill_mask(_noise_mask(c, rng, 5, 0.4), "dry_grass")
    n_tracks = int(rng.integers(1, 5))
    for _ in range(n_tracks):
        pts = _wavy_line(rng, tuple(rng.uniform(0, E, 2)), tuple(rng.uniform(0, E, 2)), amp=rng.uniform(5, 40))
        c.line(pts, 3, "soil", tint=(105, 105, 105))
    n_trees = _scatter_trees(c, rng, int(rng.integers(0, 8)), ("soil", "dry_grass"), r=(2, 4))
    for _ in range(int(rng.integers(0, 3))):
        obj.vehicle(c, rng, *rng.uniform(20, E - 20, 2), rng.uniform(0, math.pi), kind="truck", running_p=0.7)
    return c, {"n_tracks": n_tracks, "n_trees": n_trees}


@_recipe("playground")
def _playground(rng, size):
    E = 220.0
    c = Canvas(size, E, "grass")
    cx, cy = E / 2 + rng.uniform(-15, 15), E / 2 + rng.uniform(-25, 0)
    L, R = 85.0, 37.0  # a 400 m track: straights plus two bends
    for r, mat in ((R + 9, "track"), (R, "turf")):
        c.rect(cx - L / 2, cy - r, cx + L / 2, cy + r, mat)
        c.ellipse(cx - L / 2, cy, r, r, mat)
        c.ellipse(cx + L / 2, cy, r, r, mat)
    for i in range(1, 6):  # lane lines
        r = R + 1.5 * i
        c.line([(cx - L / 2, cy - r), (cx + L / 2, cy - r)], 0.25, "track", tint=(220, 220, 220))
        c.line([(cx - L / 2, cy + r), (cx + L / 2, cy + r)], 0.25, "track", tint=(220, 220, 220))
    c.rect(cx - 50, cy - 32, cx + 50, cy + 32, "turf", tint=(118, 138, 118))
    c.rect(cx - 49.5, cy - 31.5, cx + 49.5, cy + 31.5, "turf")
    c.rect(cx - 0.2, cy - 32, cx + 0.2, cy + 32, "turf", tint=(190, 190, 190))
    c.ellipse(cx, cy, 9, 9, "turf", tint=(190, 190, 190))
    c.ellipse(cx, cy, 8.6, 8.6, "turf")
    by = cy + R + 9 + 22
    n_b = 0
    for x in np.arange(rng.uniform(0, 20), E - 25, rng.uniform(40, 60)):
        obj.building(c, rng, x + 18, by + 12, rng.uniform(25, 35), rng.uniform(14, 20), 0.0,
                     roof=("green_roof", "bright_roof", "tile_roof", "metal_roof")[rng.integers(4)], height=rng.uniform(8, 14))
        n_b += 1
    c.rect(-5, by - 12, E + 5, by - 4, "asphalt")
    n_cars = 0
    for x in np.arange(5, E - 5, 5.0):
        if rng.random() < 0.35:
            n_cars += obj.vehicle(c, rng, x, by - 8, math.pi / 2, running_p=0.1) is not None
    trees = _scatter_trees(c, rng, 40, ("grass",), r=(2.5, 5))
    return c, {"track": _norm(c, cx, cy), "n_buildings": n_b, "n_cars": n_cars, "n_trees": trees}


@_recipe("port")
def _port(rng, size):
    E = 420.0
    c = Canvas(size, E, "concrete")
    qy = rng.uniform(0.35, 0.5) * E
    c.rect(-5, -5, E + 5, qy, "water")
    n_ships = 0
    x = rng.uniform(5, 30)
    while x < E - 80:
        L = rng.uniform(70, 180)
        if x + L > E:
            break
        n_ships += obj.ship(c, rng, x + L / 2, qy - L * 0.09 - 3, rng.choice([0.0, math.pi]), length=L, cargo=True) is not None
        x += L + rng.uniform(10, 60)
    n_boats = 0
    for _ in range(int(rng.integers(0, 4))):
        n_boats += obj.ship(c, rng, rng.uniform(10, E - 10), rng.uniform(10, qy - 50), rng.uniform(0, 2 * math.pi),
                            length=rng.uniform(8, 16)) is not None
    for x in np.arange(20, E - 20, rng.uniform(60, 110)):  # gantry cranes: thin, tall, long shadows
        c.box(x, qy + 14, 45, 3, math.pi / 2, "container", 40.0, (215, 170, 40))
    n_cont = 0
    y0 = qy + 40
    for y in np.arange(y0, min(E - 20, y0 + rng.uniform(60, 140)), 8.0):
        for x in np.arange(15, E - 15, 14.0):
            if rng.random() < 0.75:
                c.rect(x, y, x + 12.2, y + 2.4 * int(rng.integers(1, 3)), "container", 2.6 * int(rng.integers(1, 4)), obj.car_tint(rng))
                n_cont += 1
    wy = min(E - 30, y0 + 150)
    obj.building(c, rng, E * 0.5, wy + 20, E * rng.uniform(0.4, 0.8), 36, 0.0, roof="metal_roof", height=14, vents=2)
    for _ in range(int(rng.integers(1, 6))):
        obj.vehicle(c, rng, rng.uniform(10, E - 10), qy + rng.uniform(25, 35), 0.0, kind="truck", running_p=0.6)
    return c, {"water": _norm(c, E / 2, qy / 2), "quay": [_norm(c, 0, qy), _norm(c, E, qy)], "n_containers": n_cont,
               "n_ships": n_ships, "n_boats": n_boats}


@_recipe("bridge")
def _bridge(rng, size):
    E = 400.0
    c = Canvas(size, E, "grass")
    c.fill_mask(_noise_mask(c, rng, 3, 0.1), "crop")
    a, b = rng.uniform(0.3, 0.7, size=2) * E
    pts = _wavy_line(rng, (a, -20), (b, E + 20), n=16, amp=rng.uniform(10, 40))
    w = rng.uniform(45, 90)
    c.line(pts, w + 6, "wet_sand")
    c.line(pts, w, "water")
    for (x, y) in pts[1:-1]:
        _scatter_trees(c, rng, 3, ("grass", "crop"), region=(x - w, y - w, x + w, y + w), r=(3, 6))
    ry = rng.uniform(0.3, 0.7) * E
    c.rect(-5, ry - 7, E + 5, ry + 7, "asphalt")
    x_mid = a + (b - a) * (ry + 20) / (E + 40)
    c.rect(x_mid - w, ry - 7, x_mid + w, ry + 7, "concrete", height=10.0)
    c.rect(x_mid - w, ry - 5, x_mid + w, ry + 5, "asphalt", height=10.0)
    bridge = c.add_object("bridge", [((x_mid - w) * c.scale, (ry - 7) * c.scale), ((x_mid + w) * c.scale, (ry + 7) * c.scale)])
    n_cars = 0
    for _ in range(int(rng.integers(0, 7))):
        x = rng.uniform(5, E - 5)
        lane = rng.choice([-2.5, 2.5])
        v = obj.vehicle(c, rng, x, ry + lane, 0.0 if lane > 0 else math.pi, running_p=0.9)
        n_cars += v is not None
    return c, {"river": [_norm(c, a, 0), _norm(c, b, E)], "road": [_norm(c, 0, ry), _norm(c, E, ry)],
               "bridge": _norm(c, x_mid, ry) if bridge else None, "n_cars": n_cars}


@_recipe("storage_tanks")
def _tanks(rng, size):
    E = 300.0
    c = Canvas(size, E, "gravel")
    nx, ny = int(rng.integers(2, 5)), int(rng.integers(1, 4))
    r = rng.uniform(11, 19)
    gap = 2 * r + rng.uniform(10, 25)
    x0 = (E - (nx - 1) * gap) / 2 + rng.uniform(-20, 20)
    y0 = (E - (ny - 1) * gap) / 2 + rng.uniform(-20, 20)
    c.rect(x0 - gap / 2, y0 - gap / 2, x0 + (nx - 0.5) * gap, y0 + (ny - 0.5) * gap, "concrete")
    n = 0
    for i in range(nx):
        for j in range(ny):
            n += obj.tank(c, x0 + i * gap, y0 + j * gap, r * rng.uniform(0.85, 1.0)) is not None
    ry = y0 + (ny - 0.5) * gap + 10
    c.rect(-5, ry, E + 5, ry + 9, "asphalt")
    for _ in range(int(rng.integers(0, 5))):
        obj.vehicle(c, rng, rng.uniform(10, E - 10), ry + rng.choice([2.2, 6.8]), 0.0, kind="truck", running_p=0.6)
    _scatter_trees(c, rng, 15, ("gravel",), r=(2.5, 4.5))
    return c, {"tank_grid": (nx, ny), "n_tanks": n, "tanks": _norm(c, x0 + (nx - 1) * gap / 2, y0 + (ny - 1) * gap / 2),
               "road": [_norm(c, 0, ry), _norm(c, E, ry)]}


@_recipe("meadow")
def _meadow(rng, size):
    E = 300.0
    c = Canvas(size, E, "grass")
    c.fill_mask(_noise_mask(c, rng, 3, 0.1), "dry_grass")
    c.fill_mask(_noise_mask(c, rng, 6, 0.45), "soil")
    path = rng.random() < 0.5
    if path:
        c.line(_wavy_line(rng, (-5, rng.uniform(0, E)), (E + 5, rng.uniform(0, E)), amp=40), 2.5, "soil")
    n_trees = _scatter_trees(c, rng, int(rng.integers(0, 30)), ("grass", "dry_grass"), r=(3, 7))
    return c, {"n_trees": n_trees, "path": path}


SCENE_CLASSES: tuple[str, ...] = tuple(RECIPES)


def make_layout(class_name: str, rng: np.random.Generator, size: int) -> Layout:
    """Draw `class_name` at `size` px, then rotate/flip it (boxes and fact positions too).

    Args:
        class_name: the scene class, one of `SCENE_CLASSES`.
        rng: generator for the orientation and the recipe's random choices (consumed).
        size: side of the square layout in pixels.

    Returns:
        The oriented `Layout`: material, height and tint maps, objects and facts.

    Raises:
        ValueError: `class_name` is not a known scene class.
    """
    if class_name not in RECIPES:
        raise ValueError(f"unknown scene class {class_name!r}; choose from {', '.join(SCENE_CLASSES)}")
    k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
    canvas, facts = RECIPES[class_name](rng, size)
    layout = canvas.finish(class_name, facts)
    return _orient(layout, k, flip)


def _orient(layout: Layout, k: int, flip: bool) -> Layout:
    """Rotate by k quarter turns counter-clockwise, then optionally mirror left-right."""
    n = layout.size

    def arr(a: np.ndarray) -> np.ndarray:
        a = np.rot90(a, k, axes=(0, 1))
        return np.ascontiguousarray(a[:, ::-1] if flip else a)

    def point(p):  # normalized (x, y)
        x, y = p
        for _ in range(k):  # np.rot90 CCW: new (x, y) = (y, 1 - x)
            x, y = y, 1.0 - x
        return (round(1.0 - x if flip else x, 4), round(y, 4))

    for o in layout.objects:
        x, y, w, h = o["bbox"]
        corners = [point((x / n, y / n)), point(((x + w) / n, (y + h) / n))]
        xs, ys = sorted(p[0] * n for p in corners), sorted(p[1] * n for p in corners)
        o["bbox"] = [round(xs[0], 2), round(ys[0], 2), round(xs[1] - xs[0], 2), round(ys[1] - ys[0], 2)]

    def facts(v):
        if isinstance(v, tuple) and len(v) == 2 and all(isinstance(t, float) for t in v):
            return point(v)
        if isinstance(v, list):
            return [facts(t) for t in v]
        if isinstance(v, dict):
            return {key: facts(t) for key, t in v.items()}
        return v

    layout.materials, layout.height, layout.tint = arr(layout.materials), arr(layout.height), arr(layout.tint)
    layout.facts = facts(layout.facts)
    return layout
