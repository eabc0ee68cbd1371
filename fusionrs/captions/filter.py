"""The strict IR-aware caption filter: one reason per rejected caption, counts for the dataset card.

The paper's blocks (temperature_or_heat, emissivity_or_radiance, reflectivity,
material_or_surface_property, unsupported_rgb_color) plus the rest of its rules made checkable:
rgb_self_description ("this RGB image"), hedging ("possibly"), length_or_sentence_count
(1-2 sentences, 6-60 words), invented_object (an object noun that neither the original captions nor
the scene they name contain) and lost_semantics (the original's main scene noun is gone).

Checks run in `REASONS` order and the first failure is the reason, so every rejection has exactly
one reason and the card's counts add up to the number of rejections.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from fusionrs.captions.base import CaptionResult

__all__ = ["REASONS", "CaptionFilter", "FilterReport", "check_caption", "main_scene_noun", "object_nouns"]

REASONS = (
    "temperature_or_heat",
    "emissivity_or_radiance",
    "reflectivity",
    "material_or_surface_property",
    "rgb_self_description",
    "unsupported_rgb_color",
    "hedging",
    "length_or_sentence_count",
    "invented_object",
    "lost_semantics",
)


def _words(*stems: str) -> str:
    return "|".join(stems)


_PATTERNS = {
    "temperature_or_heat": _words(
        r"temperatures?", r"heat\w*", r"hot(?:ter|test)?", r"warm\w*", r"cold\w*", r"cool(?:er|est|ing|s|ed)?",
        r"thermal\w*", r"lukewarm", r"chill\w*", r"freez\w*", r"frozen", r"tepid", r"scorch\w*", r"sun-?(?:lit|baked)",
        r"glow\w*", r"degrees?", r"celsius", r"kelvin", r"fahrenheit"),
    "emissivity_or_radiance": _words(
        r"emissiv\w*", r"emissions?", r"emit\w*", r"emitt\w*", r"emissive", r"radian\w*", r"radiat\w*", r"radiometr\w*",
        r"exitance", r"black-?body", r"infrared energy", r"energy"),
    "reflectivity": _words(
        r"reflect\w*", r"specular\w*", r"shin(?:y|e|es|ing)", r"glint\w*", r"gloss\w*", r"albedo", r"mirror\w*",
        r"sheen", r"glare\w*", r"glitter\w*", r"sparkl\w*"),
    "material_or_surface_property": _words(
        r"materials?", r"metal\w*", r"concrete", r"asphalt\w*", r"steel", r"iron", r"alumin(?:i)?um", r"wood(?:en)?",
        r"bricks?", r"stone\w*", r"tiles?", r"tiled", r"rubber\w*", r"plastic\w*", r"glass", r"gravel\w*", r"soil",
        r"mud\w*", r"moist\w*", r"wet\w*", r"dry", r"drier", r"damp\w*", r"sand(?:y)?", r"paved", r"pavement",
        r"turf", r"fabric", r"painted", r"surface propert\w*", r"tarmac", r"cement", r"timber", r"granite", r"marble",
        r"clay", r"copper", r"tin", r"corrugated"),
    "rgb_self_description": _words(
        r"rgb", r"photo\w*", r"pictures?", r"optical", r"visible[- ]light", r"true[- ]colou?r\w*",
        r"natural[- ]colou?r\w*", r"colou?r (?:image|photo\w*|picture|view|scene)", r"multispectral", r"camera"),
    "unsupported_rgb_color": _words(
        r"red(?:dish)?", r"green(?:ish)?", r"blue(?:ish)?", r"yellow(?:ish)?", r"orange", r"purple", r"pink\w*",
        r"brown(?:ish)?", r"white", r"black", r"gr[ae]y(?!\s*(?:level|value|tone|shade|scale|intensit))",
        r"golden", r"gold", r"silver\w*", r"turquoise", r"violet", r"cyan", r"magenta", r"beige", r"tan",
        r"colou?r\w*", r"multicolou?r\w*", r"khaki", r"crimson", r"emerald", r"azure", r"navy"),
    "hedging": _words(
        r"maybe", r"perhaps", r"possib\w*", r"probabl\w*", r"likely", r"unlikely", r"might", r"may",
        r"could", r"seem\w*", r"apparent\w*", r"presumabl\w*", r"appears? to", r"appearing to", r"looks? like",
        r"i think", r"i believe", r"unclear", r"uncertain\w*", r"suggest\w*", r"supposed\w*", r"guess\w*",
        r"somewhat", r"hard to tell", r"it is difficult", r"not sure", r"seemingly", r"would"),
}
_REGEX = {name: re.compile(r"\b(?:" + body + r")\b", re.IGNORECASE) for name, body in _PATTERNS.items()}
_ALLOWED_PHRASES = re.compile(r"\b(?:gr[ae]yscale|infrared-style|low-texture|(?:light|medium|dark|mid)[- ]gr[ae]y)\b", re.I)

MIN_WORDS, MAX_WORDS, MAX_SENTENCES = 6, 60, 2

# ----------------------------------------------------------------------------- nouns
# Object nouns (lemma -> concept). Words outside this vocabulary are never called invented:
# region/appearance words (area, band, line, spot, outline, patch, ...) are what a caption may add.
_CONCEPTS: dict[str, tuple[str, ...]] = {
    "aircraft": ("plane", "airplane", "aeroplane", "aircraft", "jet", "airliner", "helicopter"),
    "airport": ("airport", "airfield", "aerodrome"),
    "runway": ("runway", "taxiway", "apron"),
    "terminal": ("terminal",),
    "car": ("car", "automobile"),
    "vehicle": ("vehicle",),
    "truck": ("truck", "lorry"),
    "bus": ("bus",),
    "train": ("train", "locomotive", "wagon"),
    "tractor": ("tractor",),
    "cart": ("cart",),
    "ship": ("ship", "vessel", "boat", "ferry", "yacht", "barge", "tanker"),
    "building": ("building", "house", "home", "residence", "roof", "rooftop", "villa", "apartment", "warehouse",
                 "factory", "plant", "hall", "shed", "barn"),
    "church": ("church", "cathedral", "chapel", "tower", "steeple"),
    "school": ("school",),
    "stadium": ("stadium", "arena", "grandstand"),
    "road": ("road", "street", "highway", "avenue", "lane", "freeway", "motorway", "intersection", "crossroad",
             "roundabout", "path", "trail"),
    "railway": ("railway", "railroad", "rail", "station"),
    "bridge": ("bridge", "viaduct", "overpass"),
    "parking": ("parking", "car park"),
    "tree": ("tree", "forest", "wood", "woodland", "canopy", "crown", "grove", "orchard", "bush", "shrub"),
    "grass": ("grass", "meadow", "lawn", "grassland", "pasture"),
    "field": ("field", "farmland", "farm", "crop", "cropland", "pitch", "court"),
    "water": ("water", "river", "lake", "pond", "sea", "ocean", "bay", "canal", "pool", "reservoir", "stream", "wave"),
    "beach": ("beach", "shore", "coast", "shoreline", "bank", "sandbank"),
    "port": ("port", "harbour", "harbor", "quay", "pier", "dock", "wharf", "marina", "jetty"),
    "tank": ("tank",),
    "container": ("container",),
    "crane": ("crane",),
    "chimney": ("chimney", "smokestack"),
    "umbrella": ("umbrella",),
    "animal": ("cow", "sheep", "horse", "animal", "cattle", "bird"),
    "person": ("person", "people", "pedestrian", "player"),
    "fountain": ("fountain",),
    "cemetery": ("cemetery", "grave"),
    "scoreboard": ("scoreboard",),
    "floodlight": ("floodlight", "lamp", "streetlight"),
    "power_line": ("power line", "pylon", "wire"),
    "solar": ("solar panel", "panel"),
    "track": ("running track", "track"),
    "golf": ("golf", "bunker"),
    "baseball": ("baseball",),
    "basketball": ("basketball",),
    "tennis": ("tennis",),
    "industrial": ("industrial",),
    "residential": ("residential",),
    "playground": ("playground",),
    "bare_land": ("bare land", "desert", "wasteland"),
    "mountain": ("mountain", "hill"),
    "island": ("island",),
}
# Concepts a scene implies: a caption may name them when the original names the scene.
_IMPLIES: dict[str, tuple[str, ...]] = {
    "airport": ("aircraft", "runway", "terminal", "building", "vehicle", "grass", "road"),
    "runway": ("airport",),
    "aircraft": ("airport", "runway"),
    "residential": ("building", "road", "tree", "grass", "vehicle"),
    "industrial": ("building", "road", "vehicle"),
    "parking": ("car", "vehicle", "road"),
    "car": ("vehicle", "road"),
    "truck": ("vehicle", "road"),
    "bus": ("vehicle", "road"),
    "train": ("railway", "vehicle"),
    "tractor": ("vehicle",),
    "port": ("ship", "water", "building"),
    "ship": ("water", "port"),
    "water": ("beach",),
    "beach": ("water",),
    "bridge": ("water", "road", "railway"),
    "field": ("grass", "tree", "road"),
    "grass": ("field", "tree"),
    "tree": ("grass", "field", "road"),
    "playground": ("track", "field", "grass", "building"),
    "track": ("field", "playground"),
    "stadium": ("field", "track", "building"),
    "golf": ("grass", "water", "tree", "field"),
    "baseball": ("field", "grass"),
    "basketball": ("field",),
    "tennis": ("field",),
    "school": ("building", "playground", "field"),
    "church": ("building",),
    "railway": ("road",),
    "tank": ("building",),
    "bare_land": ("field", "grass", "road"),
    "road": ("vehicle",),
    "building": ("roof_parts",),
}
# Scene nouns, in the order they win when a caption names several (the scene before its parts).
_SCENE_CONCEPTS = ("airport", "residential", "industrial", "parking", "port", "playground", "stadium", "golf",
                   "baseball", "school", "church", "bare_land", "tank", "bridge")
_SCENE_LEMMAS = {"farmland": "field", "forest": "tree", "meadow": "grass", "river": "water", "lake": "water",
                 "pond": "water", "sea": "water", "beach": "beach", "railway": "railway", "viaduct": "bridge",
                 "runway": "runway", "harbour": "port", "harbor": "port"}

_LEMMA_TO_CONCEPT: dict[str, str] = {}
_PHRASES: list[tuple[re.Pattern, str]] = []
for _concept, _lemmas in _CONCEPTS.items():
    for _lemma in _lemmas:
        if " " in _lemma:
            _PHRASES.append((re.compile(r"\b" + _lemma + r"s?\b"), _concept))
        else:
            _LEMMA_TO_CONCEPT.setdefault(_lemma, _concept)

_IRREGULAR = {"people": "people", "cattle": "cattle", "sheep": "sheep", "aircraft": "aircraft", "bus": "bus",
              "buses": "bus", "glass": "glass", "grass": "grass", "golf": "golf", "trees": "tree", "series": "series"}


def _lemma(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("xes", "x"), ("ses", "s")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            cand = word[: -len(suffix)] + repl
            if cand in _LEMMA_TO_CONCEPT:
                return cand
    if word.endswith("s") and not word.endswith("ss") and word[:-1] in _LEMMA_TO_CONCEPT:
        return word[:-1]
    return word


def _concept_hits(text: str) -> list[tuple[int, str, str]]:
    """(position, concept, surface word) of every object noun in `text`, in order."""
    low = text.lower()
    hits: list[tuple[int, str, str]] = []
    covered: list[tuple[int, int]] = []
    for pattern, concept in _PHRASES:
        for m in pattern.finditer(low):
            hits.append((m.start(), concept, m.group(0)))
            covered.append(m.span())
    for m in re.finditer(r"[a-z][a-z\-]*", low):
        if any(a <= m.start() < b for a, b in covered):
            continue
        word = m.group(0)
        if word.startswith("low-") or word.endswith("-style"):
            continue
        concept = _LEMMA_TO_CONCEPT.get(_lemma(word))
        if concept:
            hits.append((m.start(), concept, word))
    return sorted(hits)


def object_nouns(text: str) -> set[str]:
    """The object concepts named in `text` (e.g. {"aircraft", "building"}).

    Args:
        text: a caption, matched case-insensitively against the object-noun vocabulary.

    Returns:
        The set of concept names found; empty when no known object noun occurs.
    """
    return {concept for _, concept, _ in _concept_hits(text)}


def main_scene_noun(caption: str) -> str | None:
    """The concept of the original caption's main scene noun: its first scene noun (airport, port,
    residential area, ...), else its first object noun; None when it names no known noun.

    Args:
        caption: the original caption.

    Returns:
        The concept name (e.g. "airport", "water"), or None when the caption names no known noun.
    """
    hits = _concept_hits(caption)
    low = caption.lower()
    for pos, concept, word in hits:
        if concept in _SCENE_CONCEPTS:
            return concept
    for m in re.finditer(r"[a-z]+", low):
        lemma = _lemma(m.group(0))
        if lemma in _SCENE_LEMMAS:
            return _SCENE_LEMMAS[lemma]
    return hits[0][1] if hits else None


def _supported(originals: Sequence[str]) -> set[str]:
    """Concepts an IR-aware caption may name: those of the originals and what their scenes imply."""
    named = set().union(*(object_nouns(c) for c in originals)) if originals else set()
    allowed = set(named)
    for concept in named:
        allowed.update(_IMPLIES.get(concept, ()))
    return allowed


def _scene_kept(main: str, named: set[str]) -> bool:
    """The scene survives without its own noun when a distinctive part names it ("the runway" keeps
    an airport) or when two of its parts are named ("the roads and houses" keep a residential area)."""
    if any(main in _IMPLIES.get(c, ()) for c in named & {"runway", "aircraft", "ship", "water", "beach", "track"}):
        return True
    return len(named & set(_IMPLIES.get(main, ()))) >= 2


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=\S)", text.strip())
    return [p for p in parts if re.search(r"[A-Za-z]", p)]


def check_caption(text: str | None, originals: Sequence[str] | str) -> str:
    """The first rule `text` breaks ("" when it passes). `originals`: the record's original captions,
    the first being the one the IR-aware caption rewrites.

    Args:
        text: the candidate IR-aware caption; None counts as an empty caption.
        originals: the record's original caption(s); a single string is one caption. When empty,
            the invented-object and lost-semantics checks are skipped.

    Returns:
        The first failed reason from `REASONS` (e.g. "hedging", "invented_object"), or "" when the
        caption passes every rule.
    """
    if isinstance(originals, str):
        originals = [originals]
    text = " ".join((text or "").split())
    masked = _ALLOWED_PHRASES.sub(" ", text)
    for reason in REASONS[:7]:
        if _REGEX[reason].search(masked):
            return reason
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'\-]*", text)
    if not MIN_WORDS <= len(words) <= MAX_WORDS or len(_sentences(text)) > MAX_SENTENCES:
        return "length_or_sentence_count"
    if originals:
        invented = object_nouns(text) - _supported(originals)
        if invented:
            return "invented_object"
        main = main_scene_noun(originals[0])
        if main is not None:
            named = object_nouns(text)
            # The scene survives when named directly, or through a concept that implies it
            # (e.g. "the runway" keeps an airport scene).
            if main not in named and not _scene_kept(main, named):
                return "lost_semantics"
    return ""


@dataclass
class FilterReport:
    """Counts per reason over everything a filter has seen; goes into the dataset card."""

    checked: int = 0
    kept: int = 0
    rejected: Counter = field(default_factory=Counter)
    unparsed: int = 0  # replies without a recoverable {"ir_aware_caption": ...}
    backend_errors: int = 0  # requests that failed after all retries

    def to_dict(self) -> dict:
        return {"checked": self.checked, "kept": self.kept, "unparsed": self.unparsed,
                "backend_errors": self.backend_errors,
                "rejected": {r: int(self.rejected[r]) for r in REASONS if self.rejected[r]}}

    def update(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.checked += 1
            if reason:
                self.rejected[reason] += 1
            else:
                self.kept += 1


class CaptionFilter:
    """Stateful wrapper of `check_caption` that keeps a `FilterReport`."""

    def __init__(self) -> None:
        self.report = FilterReport()

    def check(self, text: str | None, originals: Sequence[str] | str) -> str:
        reason = check_caption(text, originals)
        self.report.update([reason])
        return reason

    def check_result(self, text: str, originals: Sequence[str] | str) -> CaptionResult:
        reason = self.check(text, originals)
        return CaptionResult(None, reason) if reason else CaptionResult(" ".join(text.split()))

    def note_unparsed(self) -> None:
        self.report.unparsed += 1

    def note_backend_error(self) -> None:
        self.report.backend_errors += 1
