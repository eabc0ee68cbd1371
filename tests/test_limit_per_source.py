"""`--limit-per-source`: a seeded sample stratified by class; and the `folder:` source's archive layouts.

Folders are made in-test (tiny PNGs); every check but the one build plans only (no pixel is read).
"""

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusionrs.data.build import BuildConfig, build_dataset, plan_items
from fusionrs.data.sampling import allocate_per_class, sample_per_class
from fusionrs.data.sources import SourceSpecError, iter_source, parse_source


def _png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value % 256, np.uint8)).save(path)


def _class_sorted(root: Path, classes=("forest", "river", "airport"), per_class: int = 10, reverse: bool = False) -> Path:
    """`root/<class>/<class>_<n>.png`, written in forward or reverse order (the listing order differs)."""
    names = [(c, n) for c in classes for n in range(per_class)]
    for c, n in reversed(names) if reverse else names:
        _png(root / c / f"{c}_{n}.png", 7 * n + len(c))
    return root


def _planned(spec: str, limit: int | None, seed: int = 0) -> list:
    return plan_items(BuildConfig(sources=[parse_source(spec)], limit_per_source=limit, seed=seed))


def test_limit_takes_each_class_share_with_the_seed(tmp_path):
    root = _class_sorted(tmp_path / "scenes")
    planned = _planned(f"mine=folder:{root}", 6)
    assert Counter(p.item.class_name for p in planned) == {"airport": 2, "forest": 2, "river": 2}
    ids = [p.record_id for p in planned]
    everything = [p.record_id for p in _planned(f"mine=folder:{root}", None)]
    assert ids == [i for i in everything if i in ids], "the chosen items keep the source's order"
    assert [p.index for p in planned] == list(range(6))
    assert [p.record_id for p in _planned(f"mine=folder:{root}", 6)] == ids, "same seed, same rows"
    other = _planned(f"mine=folder:{root}", 6, seed=1)
    assert [p.record_id for p in other] != ids and Counter(p.item.class_name for p in other) == Counter(
        p.item.class_name for p in planned), "another seed: other rows, the same shares"
    assert len(_planned(f"mine=folder:{root}", 100)) == 30, "a limit above the source size takes it whole"


def test_limit_does_not_depend_on_the_listing_order(tmp_path):
    forward = _class_sorted(tmp_path / "a" / "scenes")
    backward = _class_sorted(tmp_path / "b" / "scenes", reverse=True)  # files created in the other order
    for seed in (0, 3):
        picked = [[(p.record_id, p.item.class_name) for p in _planned(f"mine=folder:{root}", 6, seed)]
                  for root in (forward, backward)]
        assert picked[0] == picked[1]
    # the choice itself ignores the order it is given (the result follows the order given)
    items = list(iter_source(parse_source(f"mine=folder:{forward}")))
    shuffled = items[:]
    random.Random(5).shuffle(shuffled)
    kwargs = dict(key=lambda i: i.source_id, class_of=lambda i: i.class_name)
    chosen, chosen_shuffled = sample_per_class(items, 7, 2, **kwargs), sample_per_class(shuffled, 7, 2, **kwargs)
    assert sorted(i.source_id for i in chosen) == sorted(i.source_id for i in chosen_shuffled)
    assert [i.source_id for i in chosen_shuffled] == [i.source_id for i in shuffled if i in chosen_shuffled]


def test_a_source_without_classes_gets_a_seeded_sample_not_its_first_items(tmp_path):
    for n in range(20):
        _png(tmp_path / "loose" / f"img_{n:02d}.png", n)
    first = [p.record_id for p in _planned(f"folder:{tmp_path / 'loose'}", None)][:5]
    picked = [p.record_id for p in _planned(f"folder:{tmp_path / 'loose'}", 5)]
    assert len(picked) == 5 and picked != first and {p.item.class_name for p in _planned(
        f"folder:{tmp_path / 'loose'}", 5)} == {""}
    assert [p.record_id for p in _planned("synth:50", 4)] != [f"fusionrs_world-{i}" for i in range(4)]
    assert [p.record_id for p in _planned("synth:50", 4)] == [p.record_id for p in _planned("synth:50", 4)]


def test_largest_remainder_allocation():
    assert allocate_per_class({"a": 100, "b": 10, "c": 10}, 12) == {"a": 10, "b": 1, "c": 1}
    assert allocate_per_class({"a": 100, "b": 1, "c": 1}, 3) == {"a": 1, "b": 1, "c": 1}, "one per class"
    assert allocate_per_class({"a": 100, "b": 1, "c": 1}, 2) == {"a": 2, "b": 0, "c": 0}, "N < classes: by share"
    assert allocate_per_class({"a": 7, "b": 5, "c": 3}, 8) == {"a": 4, "b": 3, "c": 1}  # 3.73, 2.67, 1.6
    assert allocate_per_class({"a": 3, "b": 2}, 10) == {"a": 3, "b": 2}
    for seed in range(5):
        counts = allocate_per_class({"a": 5, "b": 5, "c": 5, "d": 5}, 6, seed)
        assert sum(counts.values()) == 6 and sorted(counts.values()) == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="limit"):
        allocate_per_class({"a": 1}, -1)


def test_limited_build_records_the_sample_in_the_card(tmp_path):
    root = _class_sorted(tmp_path / "scenes", per_class=4)
    config = BuildConfig(sources=[parse_source(f"mine=folder:{root}")], translator="grayscale", limit_per_source=6,
                         seed=4, chunk_size=4)
    report = build_dataset(config, tmp_path / "out", progress=False)
    assert report.num_rows == 6
    block = json.loads((tmp_path / "out" / "generation.json").read_text())["generation"]["limit_per_source"]
    assert block["n"] == 6 and block["seed"] == 4 and block["rule"].startswith("stratified-by-class")
    assert block["sources"] == [{"name": "mine", "listed": 12, "left_out_by_source": 0, "picked": 6, "classes": 3,
                                 "stratified_by": "class_name"}]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "sampled stratified by class with seed 4 (mine: 6 of 12 over 3 classes)" in card
    assert report.limit == block
    unlimited = BuildConfig(sources=config.sources, translator="grayscale", seed=4, chunk_size=4)
    assert unlimited.stage_fingerprint() != config.stage_fingerprint()


# ----------------------------------------------------------------------------- folder: archive layouts


def _classes(root: Path) -> dict[str, str]:
    return {i.locator: i.class_name for i in iter_source(parse_source(f"folder:{root}"))}


def test_rsscn7_letters_are_dropped(tmp_path):
    for folder in ("aGrass", "bField", "cIndustry", "dRiverLake", "eForest", "fResident", "gParking"):
        _png(tmp_path / "RSSCN7" / folder / f"{folder[0]}001.jpg")
    (tmp_path / "RSSCN7" / "readme.txt").write_text("RSSCN7")  # other files at the root are ignored
    classes = _classes(tmp_path / "RSSCN7")
    assert classes == {"aGrass/a001.jpg": "grass", "bField/b001.jpg": "field", "cIndustry/c001.jpg": "industry",
                       "dRiverLake/d001.jpg": "riverlake", "eForest/e001.jpg": "forest",
                       "fResident/f001.jpg": "resident", "gParking/g001.jpg": "parking"}


def test_aid_and_resisc45_class_names(tmp_path):
    for folder, name in (("Airport", "airport_1"), ("BareLand", "bareland_2"), ("Dense Residential", "denseres_3")):
        _png(tmp_path / "AID" / folder / f"{name}.jpg")
    assert _classes(tmp_path / "AID") == {"Airport/airport_1.jpg": "airport", "BareLand/bareland_2.jpg": "bareland",
                                          "Dense Residential/denseres_3.jpg": "dense_residential"}
    for folder in ("airplane", "basketball_court", "sea_ice"):
        _png(tmp_path / "NWPU-RESISC45" / folder / f"{folder}_001.jpg")
    assert set(_classes(tmp_path / "NWPU-RESISC45").values()) == {"airplane", "basketball_court", "sea_ice"}
    # capitalised folders that are not RSSCN7's lettered ones keep their letters
    for folder in ("iField", "iForest"):
        _png(tmp_path / "same_letter" / folder / "x.jpg")
    assert set(_classes(tmp_path / "same_letter").values()) == {"ifield", "iforest"}


def test_bad_folder_layouts_are_one_line_errors(tmp_path):
    _png(tmp_path / "UCMerced_LandUse" / "Images" / "agricultural" / "agricultural00.tif")
    with pytest.raises(SourceSpecError, match=r"'Images/agricultural/agricultural00.tif' lies 2 folders deep.*"
                                              r"UCMerced_LandUse/Images\)") as deep:
        _classes(tmp_path / "UCMerced_LandUse")
    _png(tmp_path / "mixed" / "forest" / "a.png")
    _png(tmp_path / "mixed" / "stray.png")
    with pytest.raises(SourceSpecError, match=r"mixed: images both directly in the folder \('stray.png'\) and in "
                                              r"class folders \('forest/a.png'\)") as mixed:
        _classes(tmp_path / "mixed")
    assert "\n" not in str(deep.value) + str(mixed.value)
    with pytest.raises(SourceSpecError, match="lies 2 folders deep"):  # the build stops before staging anything
        _planned(f"folder:{tmp_path / 'UCMerced_LandUse'}", 5)
    assert _classes(tmp_path / "UCMerced_LandUse" / "Images") == {"agricultural/agricultural00.tif": "agricultural"}
