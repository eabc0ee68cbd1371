"""Deterministic caption-metric fixture: image-caption sets of 1 candidate + 5 references.

The sentences are templated remote-sensing captions written for this fixture (none is copied from a
dataset), with what COCO tokenisation must handle: capitals, commas/periods/semicolons/colons,
parentheses, double and single quotes, contractions (there's, isn't, can't), possessives, hyphenated
and slash words, abbreviations (e.g., approx., etc.), numbers (3, 1,200, 3.5 km, 25%, 10:30),
ellipses, dashes and a few edge cases (an empty candidate, punctuation only, a candidate equal to a
reference, a one-word candidate).

    python tests/data/make_caption_fixture.py OUT.json   # writes the fixture as JSON
"""

from __future__ import annotations

import json
import random
import re
import sys

__all__ = ["make_caption_fixture"]

_SCENES = ["airport", "harbour", "farmland", "residential area", "parking lot", "stadium", "river bank",
           "railway station", "industrial zone", "forest", "beach", "school campus", "bridge", "desert"]
_OBJECTS = ["planes", "boats", "cars", "buildings", "trees", "storage tanks", "tennis courts", "houses",
            "ships", "trucks", "ponds", "roads"]
_COLOURS = ["white", "dark", "grey", "bright", "green", "red-roofed", "light-coloured"]
_COUNTS = ["3", "two", "several", "many", "1,200", "12", "a few", "some", "four", "25"]
_PLACES = ["next to the runway", "near the river", "along the road", "in the centre", "on the left side",
           "beside a lake", "around a square", "at the corner", "between two fields", "by the coast"]

_TEMPLATES = [
    "{Count} {colour} {obj} are {place}.",
    "There's a {scene} with {count} {obj} {place}.",
    "It's a {scene}; {count} {obj} are parked {place}.",
    "A {scene} (with {count} {obj}) is {place}.",
    "This {scene} isn't empty: {count} {obj} can be seen {place}.",
    "You can't miss the {scene}'s {colour} {obj} {place}!",
    "The \"{scene}\" has {count} {obj}, e.g. {colour} ones {place}.",
    "Approx. {num} {obj} stand {place} -- a {scene} at 10:30 a.m.",
    "Aerial view of a {scene}: {colour} {obj}, roads, etc.",
    "A well-known {scene} covers 3.5 km2 and about {pct}% of it is {obj}.",
    "In the {scene}, there are {count} {obj} {place}...",
    "{Count} tree-lined roads/paths cross the {scene}.",
    "Is this a {scene}? Yes, with {count} {obj} {place}.",
    "The {scene} is surrounded by {colour} {obj} - they're arranged {place}.",
    "A {scene} where {obj} don't fit; {count} are 'parked' {place}.",
    "It is a {scene} with 1,200 m2 of {obj}",
    "Two-storey buildings and {obj} are {place} in the {scene} .",
    "THE {SCENE} SHOWS {COUNT} {OBJ} {PLACE}.",
]

_EDGE_CANDIDATES = ["", "...", "airport", "A.", "there 're n't any"]


def _fill(template: str, rng: random.Random, scene: str) -> str:
    count = rng.choice(_COUNTS)
    obj = rng.choice(_OBJECTS)
    place = rng.choice(_PLACES)
    values = {"scene": scene, "count": count, "obj": obj, "place": place, "colour": rng.choice(_COLOURS),
              "num": rng.choice(["20", "150", "3", "1,000"]), "pct": rng.choice(["25", "40", "60"])}
    values.update({"Count": count[0].upper() + count[1:], "SCENE": scene.upper(), "COUNT": count.upper(),
                   "OBJ": obj.upper(), "PLACE": place.upper()})
    # "a airport" -> "an airport" (the templates are written with "a")
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", template.format(**values))


def make_caption_fixture(n: int = 60, seed: int = 0) -> list[dict]:
    """`n` items {"id", "candidate", "references" (5 captions)}; the same list for the same arguments."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        scene = _SCENES[i % len(_SCENES)]
        refs = [_fill(rng.choice(_TEMPLATES), rng, scene) for _ in range(5)]
        kind = i % 6
        if i < len(_EDGE_CANDIDATES):
            candidate = _EDGE_CANDIDATES[i]
        elif kind == 0:  # an exact reference: every metric near its maximum
            candidate = refs[rng.randrange(5)]
        elif kind == 1:  # a caption of another scene: low scores
            candidate = _fill(rng.choice(_TEMPLATES), rng, rng.choice(_SCENES))
        else:  # a new caption of the same scene
            candidate = _fill(rng.choice(_TEMPLATES), rng, scene)
        items.append({"id": f"fixture-{i:03d}", "candidate": candidate, "references": refs})
    return items


if __name__ == "__main__":
    fixture = make_caption_fixture()
    text = json.dumps(fixture, indent=1, ensure_ascii=False)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
