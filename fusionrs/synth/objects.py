"""Object stamps: vehicles, aircraft, ships, buildings, tanks and trees drawn onto a `Canvas`.

Each stamp draws the parts with their own materials (a running engine is an `engine` part under the
same paint as the body, so it is invisible in RGB and bright in LWIR) and records one labelled box.
"""

from __future__ import annotations

import math

import numpy as np

from fusionrs.synth.canvas import NEUTRAL_TINT, Canvas, rotate

__all__ = ["aircraft", "building", "car_tint", "ship", "tank", "tree", "vehicle"]

# Car paints as tints of the mid-grey vehicle base: white, silver, black, dark blue, red, ...
_CAR_TINTS = np.array(
    [[235, 235, 235], [230, 230, 226], [170, 172, 176], [150, 150, 152], [45, 45, 48], [60, 62, 66],
     [60, 75, 125], [175, 50, 45], [120, 40, 40], [200, 190, 160], [90, 110, 90], [215, 215, 215]],
    dtype=np.int64,
)


def car_tint(rng: np.random.Generator) -> tuple[int, int, int]:
    """A random car paint, as a tint of the mid-grey vehicle material (128 keeps its colour).

    Args:
        rng: generator from which one palette index is drawn.

    Returns:
        An (r, g, b) tint with 0-255 components.
    """
    return tuple(int(v) for v in _CAR_TINTS[rng.integers(len(_CAR_TINTS))])


def _scaled(tint, factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, v * factor))) for v in tint)


def vehicle(c: Canvas, rng: np.random.Generator, cx: float, cy: float, angle: float, *,
            kind: str = "car", running_p: float = 0.35) -> dict | None:
    """A car or truck; with probability `running_p` its engine bay is a hot `engine` part.

    Args:
        c: the canvas to draw on.
        rng: generator for the paint, the running state and a truck's length.
        cx: centre x in metres (east).
        cy: centre y in metres (south).
        angle: heading of the long axis, in radians.
        kind: "car" (4.6 m) or "truck" (any other value draws a 9-15 m truck); also the label.
        running_p: probability that the engine is running; default 0.35.

    Returns:
        The recorded object {"label": kind, "bbox", "running"}, or None when under a pixel after clipping.
    """
    length, width, height = (4.6, 1.9, 1.5) if kind == "car" else (rng.uniform(9, 15), 2.5, 3.6)
    tint = car_tint(rng)
    running = bool(rng.random() < running_p)
    body = c.box(cx, cy, length, width, angle, "vehicle", height, tint)
    if kind == "car":
        c.box(cx, cy, length * 0.9, width * 0.8, angle, "vehicle", height, _scaled(tint, 0.55), u0=0.12, u1=0.28)
        c.box(cx, cy, length * 0.9, width * 0.8, angle, "vehicle", height, _scaled(tint, 0.6), u0=-0.42, u1=-0.32)
        c.box(cx, cy, length, width * 0.9, angle, "engine" if running else "vehicle", height, tint, u0=0.3, u1=0.5)
    else:  # cab in front, a lighter trailer behind it
        c.box(cx, cy, length, width, angle, "vehicle", height, _scaled(tint, 1.2), u0=-0.5, u1=0.3)
        c.box(cx, cy, length, width * 0.8, angle, "engine" if running else "vehicle", height, tint, u0=0.38, u1=0.5)
    return c.add_object(kind, body, running=running)


def aircraft(c: Canvas, rng: np.random.Generator, cx: float, cy: float, angle: float, *, length: float | None = None,
             running_p: float = 0.3) -> dict | None:
    """A jet airliner seen from above: fuselage, swept wings, tailplane and 2 or 4 engines.

    Args:
        c: the canvas to draw on.
        rng: generator for the length, span, grey level and running state.
        cx: centre x in metres (east).
        cy: centre y in metres (south).
        angle: heading of the long axis, in radians.
        length: fuselage length in metres (4 engines above 50 m); default uniform 28-60 m.
        running_p: probability that the engines are running; default 0.3.

    Returns:
        The recorded object {"label": "airplane", "bbox", "running", "length_m"}, or None when
        under a pixel after clipping.
    """
    length = length if length is not None else float(rng.uniform(28, 60))
    span = length * rng.uniform(0.9, 1.05)
    fw = length * 0.085
    tint = (int(rng.integers(122, 134)),) * 3
    running = bool(rng.random() < running_p)
    pts = []
    # Wings first, fuselage drawn over them. u runs tail (-) to nose (+).
    root_u, sweep, chord = 0.08 * length, 0.22 * length, 0.17 * length
    for side in (-1, 1):
        wing = [(root_u, side * fw / 2), (root_u - sweep, side * span / 2), (root_u - sweep - chord * 0.35, side * span / 2),
                (root_u - chord, side * fw / 2)]
        pts += c.polygon(rotate(wing, cx, cy, angle), "aircraft", 5.0, tint)
        tail = [(-0.36 * length, side * fw / 2), (-0.47 * length, side * span * 0.17), (-0.5 * length, side * span * 0.17),
                (-0.45 * length, side * fw / 2)]
        pts += c.polygon(rotate(tail, cx, cy, angle), "aircraft", 6.0, tint)
    nose = [(-0.5 * length, -fw / 3), (0.42 * length, -fw / 2), (0.5 * length, 0.0), (0.42 * length, fw / 2), (-0.5 * length, fw / 3)]
    pts += c.polygon(rotate(nose, cx, cy, angle), "aircraft", 6.0, tint)
    n_engines = 4 if length > 50 else 2
    offsets = (0.33, 0.6) if n_engines == 4 else (0.35,)
    for side in (-1, 1):
        for frac in offsets:
            v = side * span / 2 * frac
            u = root_u - sweep * frac + 0.06 * length
            c.box(*_at(cx, cy, angle, u, v), 0.12 * length, 0.045 * length, angle,
                  "engine" if running else "aircraft", 4.5, _scaled(tint, 0.85))
    return c.add_object("airplane", pts, running=running, length_m=round(length, 1))


def ship(c: Canvas, rng: np.random.Generator, cx: float, cy: float, angle: float, *, length: float,
         running_p: float = 0.5, cargo: bool = False) -> dict | None:
    """A ship (or a small boat below 20 m): pointed hull, stern superstructure, engine funnel.

    Args:
        c: the canvas to draw on.
        rng: generator for the grey level, running state and container colours.
        cx: centre x in metres (east).
        cy: centre y in metres (south).
        angle: heading of the long axis, in radians.
        length: hull length in metres; 20 m or less draws a white boat.
        running_p: probability that the engine is running; default 0.5.
        cargo: stack containers on deck (ships longer than 60 m only).

    Returns:
        The recorded object {"label": "ship" or "boat", "bbox", "running"}, or None when under a
        pixel after clipping.
    """
    width = length * (0.16 if length > 20 else 0.35)
    tint = (int(rng.integers(90, 180)),) * 3 if length > 20 else (235, 235, 235)
    running = bool(rng.random() < running_p)
    hull = [(-0.5 * length, -width / 2), (0.38 * length, -width / 2), (0.5 * length, 0.0), (0.38 * length, width / 2),
            (-0.5 * length, width / 2)]
    pts = c.polygon(rotate(hull, cx, cy, angle), "ship", 3.0, tint)
    if cargo and length > 60:
        n = int(length // 14)
        for i in range(n):
            u0 = -0.22 + i * 0.58 / n
            c.box(cx, cy, length, width * 0.8, angle, "container", 6.0, car_tint(rng), u0=u0, u1=u0 + 0.5 / n)
    if length > 20:
        c.box(cx, cy, length, width * 0.85, angle, "ship", 14.0, (230, 230, 228), u0=-0.46, u1=-0.32)
    c.box(cx, cy, length, width * 0.4, angle, "engine" if running else "ship", 16.0 if length > 20 else 1.0,
          _scaled(tint, 0.7), u0=-0.45 if length > 20 else -0.5, u1=-0.38 if length > 20 else -0.36)
    return c.add_object("ship" if length > 20 else "boat", pts, running=running)


def building(c: Canvas, rng: np.random.Generator, cx: float, cy: float, w: float, d: float, angle: float, *,
             roof: str, height: float, gable: bool = False, vents: int = 0, tint=NEUTRAL_TINT) -> dict | None:
    """A flat or gabled building; `vents` hot exhaust vents sit on flat roofs.

    Args:
        c: the canvas to draw on.
        rng: generator for the vent positions and sizes.
        cx: centre x in metres (east).
        cy: centre y in metres (south).
        w: length along `angle`, in metres.
        d: depth across `angle`, in metres.
        angle: orientation in radians.
        roof: material name of the roof.
        height: roof height in metres.
        gable: shade one half of the roof as a gable's far face.
        vents: number of exhaust vents drawn at random on the roof (also when `gable`); default 0.
        tint: (r, g, b) tint of the roof, 128 keeping the material's colour.

    Returns:
        The recorded object {"label": "building", "bbox", "roof"}, or None when under a pixel after clipping.
    """
    pts = c.box(cx, cy, w, d, angle, roof, height, tint)
    if gable:  # the two roof faces catch the sun differently: shade one half
        c.box(*_at(cx, cy, angle, 0.0, d / 4), w, d / 2, angle, roof, height + 0.5, _scaled(tint, 0.8))
    for _ in range(vents):
        u, v = rng.uniform(-0.4, 0.4) * w, rng.uniform(-0.4, 0.4) * d
        s = rng.uniform(1.5, 3.5)
        c.box(*_at(cx, cy, angle, u, v), s, s, angle, "vent", height + 1.5)
    return c.add_object("building", pts, roof=roof)


def tank(c: Canvas, cx: float, cy: float, r: float) -> dict | None:
    """A cylindrical storage tank with a slightly darker floating roof ring.

    Args:
        c: the canvas to draw on.
        cx: centre x in metres (east).
        cy: centre y in metres (south).
        r: radius in metres.

    Returns:
        The recorded object {"label": "storage_tank", "bbox"}, or None when under a pixel after clipping.
    """
    pts = c.ellipse(cx, cy, r, r, "tank", 12.0)
    c.ellipse(cx, cy, r * 0.8, r * 0.8, "tank", 12.0, (112, 112, 112))
    c.ellipse(cx, cy, r * 0.72, r * 0.72, "tank", 12.0)
    return c.add_object("storage_tank", pts)


def tree(c: Canvas, rng: np.random.Generator, cx: float, cy: float, r: float) -> None:
    """A tree crown (not a labelled object: trees are counted through the material map).

    Args:
        c: the canvas to draw on.
        rng: generator for the grey tint, the crown's aspect ratio and its height (5-11 m).
        cx: centre x in metres (east).
        cy: centre y in metres (south).
        r: crown radius in metres (along x; y varies by +-15%).
    """
    t = int(rng.integers(100, 150))
    c.ellipse(cx, cy, r, r * rng.uniform(0.85, 1.15), "tree", float(rng.uniform(5, 11)), (t, int(t * rng.uniform(0.95, 1.08)), t))


def _at(cx: float, cy: float, angle: float, u: float, v: float) -> tuple[float, float]:
    return cx + u * math.cos(angle) - v * math.sin(angle), cy + u * math.sin(angle) + v * math.cos(angle)
