"""IR-aware captions: prompt contract + JSON extraction, strict filter (on the labelled set),
IR measurement, the grounded captioner, backend spec strings, the build and the `captions` CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from fusionrs.captions import (
    PROMPT_VERSION,
    REASONS,
    CaptionFilter,
    GroundedCaptioner,
    build_messages,
    check_caption,
    extract_caption,
    get_captioner,
    main_scene_noun,
    measure_ir,
)
from fusionrs.captions.grounded import clean_original
from fusionrs.synth import forbidden_words_in, generate_scene
from tests.test_cli import run_cli

LABELLED = Path(__file__).parent / "data" / "ir_caption_filter_labelled.jsonl"
CAP = "In this infrared-style image, a river runs through a forest with sharp outlines."


# ----------------------------------------------------------------------------- prompt + extraction
def test_prompt_carries_rules_version_and_inputs():
    msgs = build_messages(["A river runs through a forest."], summary="overall dark intensity")
    assert msgs[0]["role"] == "system" and "temperature" in msgs[0]["content"] and "ir_aware_caption" in msgs[0]["content"]
    assert "A river runs through a forest." in msgs[1]["content"] and "overall dark intensity" in msgs[1]["content"]
    with_image = build_messages(["x"], image_url="data:image/png;base64,AAAA")
    assert with_image[1]["content"][0] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert PROMPT_VERSION.startswith("fusionrs-ir-caption-v")


@pytest.mark.parametrize("reply", [
    json.dumps({"ir_aware_caption": CAP}),
    "```json\n" + json.dumps({"ir_aware_caption": CAP}) + "\n```",
    "Here you go: " + json.dumps({"ir_aware_caption": CAP}) + " Let me know if you need more.",
    "{'ir_aware_caption': '" + CAP + "'}",
    '{"ir_aware_caption": "' + CAP + '",',  # unterminated object (stopped generation)
    '{"other": 1, "ir_aware_caption": "' + CAP + '"} {"ir_aware_caption": "second"}',
])
def test_extract_caption_is_robust(reply):
    assert extract_caption(reply) == CAP


@pytest.mark.parametrize("reply", ["", "no json at all", '{"caption": "x"}', '{"ir_aware_caption": ""}', None,
                                   '{"ir_aware_caption": 5}'])
def test_extract_caption_rejects_replies_without_the_field(reply):
    assert extract_caption(reply) is None


# ----------------------------------------------------------------------------- filter
ORIG = ["Several buildings and some trees are in a residential area."]


@pytest.mark.parametrize("text, reason", [
    ("In this infrared-style image of a residential area, the buildings look warm.", "temperature_or_heat"),
    ("In this infrared-style image of a residential area, the buildings have high emissivity.", "emissivity_or_radiance"),
    ("In this infrared-style image of a residential area, the buildings are highly reflective.", "reflectivity"),
    ("In this infrared-style image of a residential area, the concrete buildings appear bright.", "material_or_surface_property"),
    ("This RGB image of a residential area shows bright buildings among the trees.", "rgb_self_description"),
    ("In this infrared-style image of a residential area, the red buildings appear bright.", "unsupported_rgb_color"),
    ("In this infrared-style image of a residential area, the buildings possibly appear bright.", "hedging"),
    ("Residential area.", "length_or_sentence_count"),
    ("The residential area is bright. The trees are dark. The buildings have sharp outlines.", "length_or_sentence_count"),
    ("In this infrared-style image of a residential area, a swimming pool appears dark.", "invented_object"),
    ("Bright rectangles stand among darker textured patches with sharp outlines.", "lost_semantics"),
    ("In this infrared-style image of a residential area, the buildings appear bright with sharp outlines among darker trees.", ""),
    ("In this infrared-style image, the grayscale intensity of the residential area is dark gray with low-texture lawns.", ""),
])
def test_filter_reasons(text, reason):
    assert check_caption(text, ORIG) == reason


def test_main_scene_noun():
    assert main_scene_noun("Many planes are parked near the terminal of an airport.") == "airport"
    assert main_scene_noun("Two ships are docked along the quay.") == "port"  # the quay names the scene
    assert main_scene_noun("Nine trees are scattered on the meadow.") == "grass"
    assert main_scene_noun("Large factory buildings stand on both sides of a road in an industrial area.") == "industrial"


def test_filter_report_counts():
    f = CaptionFilter()
    f.check_result(CAP, ["A river runs through a forest."])
    f.check_result("The river looks cold.", ["A river runs through a forest."])
    f.note_unparsed()
    report = f.report.to_dict()
    assert report == {"checked": 2, "kept": 1, "unparsed": 1, "backend_errors": 0, "rejected": {"temperature_or_heat": 1}}


def test_labelled_set_shape_and_filter_quality():
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    counts = Counter(r["label"] for r in rows)
    assert all(counts[r] >= 20 for r in REASONS) and counts["ok"] >= 200
    assert {r["source"] for r in rows} == {"hand", "smollm2"}
    assert all(set(r) >= {"text", "original_caption", "label", "source", "note"} for r in rows)
    # Regression guard on the whole set (benchmarks/captions.json has the per-half numbers).
    predicted = [check_caption(r["text"], r["original_caption"]) or "ok" for r in rows]
    for reason in REASONS:
        tp = sum(p == reason and r["label"] == reason for p, r in zip(predicted, rows))
        fp = sum(p == reason and r["label"] != reason for p, r in zip(predicted, rows))
        fn = sum(p != reason and r["label"] == reason for p, r in zip(predicted, rows))
        assert tp / (tp + fp) >= 0.85 and tp / (tp + fn) >= 0.85, reason


def test_world_ground_truth_ir_captions_pass_the_physical_and_colour_rules():
    # The world's own IR captions follow synth.FORBIDDEN_IR_WORDS; the filter is stricter only about
    # surface words ("the paved areas" counts as a surface property here).
    allowed = ("", "length_or_sentence_count", "material_or_surface_property")
    for i in range(15):
        scene = generate_scene(i, seed=0, size=64)
        for caption in scene.ir_captions:
            assert check_caption(caption, []) in allowed, caption


# ----------------------------------------------------------------------------- measurement + grounded
def _synthetic_ir() -> Image.Image:
    rng = np.random.default_rng(0)
    a = np.full((120, 120), 100, np.float32) + rng.normal(0, 8, (120, 120))
    a[:40, :40] = 230  # bright upper left, uniform
    a[80:, 80:] = 20  # dark lower right, uniform
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def test_measure_finds_bright_and_dark_cells():
    m = measure_ir(_synthetic_ir())
    assert m.bright_cell == 0 and m.dark_cell == 8
    assert m.contrast == "high" and m.outlines in ("sharp", "clear")
    assert m.low_texture_cell in (0, 8) and m.low_texture_fraction > 0.15
    assert "brightest area in the upper left" in m.summary()
    flat = measure_ir(Image.new("L", (64, 64), 128))
    assert flat.bright_cell is None and flat.dark_cell is None and flat.contrast == "low"


def test_grounded_caption_states_measurements_and_keeps_semantics():
    g = GroundedCaptioner()
    captions = ["Many green trees make up a dense forest around a red house."]
    text, m = g.describe(_synthetic_ir(), captions)
    assert "in the upper left" in text and "in the lower right" in text
    assert "forest" in text and "house" in text
    assert not forbidden_words_in(text)
    result = g.caption([_synthetic_ir()], [captions])[0]
    assert result.caption == text and result.reason == ""
    assert g.filter.report.kept == 1


def test_clean_original_drops_colours_and_material_clauses():
    assert clean_original("Many green trees make up a dense forest.") == "Many trees make up a dense forest"
    assert clean_original("Many cars of different colours are parked neatly.") == "Many cars are parked neatly"
    cleaned = clean_original("A large piece of bare land is covered with brown soil.")
    assert cleaned and "soil" not in cleaned and "bare land" in cleaned


def test_grounded_on_world_scenes_passes_filter():
    g = GroundedCaptioner()
    scenes = [generate_scene(i, seed=5, size=96) for i in range(15)]
    results = g.caption([Image.fromarray(s.rgb).convert("L") for s in scenes], [s.captions for s in scenes])
    assert sum(r.caption is not None for r in results) >= 14


# ----------------------------------------------------------------------------- specs, build, CLI
def test_get_captioner_specs(tmp_path):
    from fusionrs.captions.local import LocalCaptioner
    from fusionrs.captions.openai_compat import OpenAICaptioner

    assert get_captioner("none").caption([Image.new("L", (8, 8))], [["x"]]) == [None]
    assert get_captioner("grounded").name == "grounded"
    local = get_captioner("local:/nowhere/model")
    assert isinstance(local, LocalCaptioner) and local.name == "local:/nowhere/model"  # nothing loaded yet
    remote = get_captioner("openai:http://127.0.0.1:9/v1:m", cache_dir=tmp_path)
    assert isinstance(remote, OpenAICaptioner) and remote.params["prompt_version"] == PROMPT_VERSION
    with pytest.raises(ValueError, match="unknown IR captioner"):
        get_captioner("gpt")


def test_build_with_grounded_captioner(tmp_path):
    from fusionrs.data.build import BuildConfig, build_dataset
    from fusionrs.data.sources import parse_source

    config = BuildConfig(sources=[parse_source("synth:6")], captioner="grounded", synth_size=64)
    report = build_dataset(config, tmp_path / "ds", progress=False)
    ds = datasets.load_dataset(str(tmp_path / "ds"))
    rows = [row for split in ds for row in ds[split]]
    assert len(rows) == report.num_rows == 6
    assert all(len(r["ir_captions"]) == 1 and r["ir_captions"][0].startswith("In this infrared-style image") for r in rows)
    assert all(r["provenance"]["caption_model"] == "grounded" for r in rows)


def test_captions_cli_recaptions_a_folder(tmp_path):
    from fusionrs.data.build import BuildConfig, build_dataset
    from fusionrs.data.sources import parse_source

    build_dataset(BuildConfig(sources=[parse_source("synth:5")], synth_size=64), tmp_path / "src", progress=False)
    result = run_cli("captions", "--data", tmp_path / "src", "--backend", "grounded", "--out", tmp_path / "out", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "5 of 5 IR-aware captions kept" in result.stdout
    ds = datasets.load_dataset(str(tmp_path / "out"))
    rows = [row for split in ds for row in ds[split]]
    assert len(rows) == 5 and all(r["ir_captions"] for r in rows)
    generation = json.loads((tmp_path / "out" / "generation.json").read_text())["generation"]
    assert generation["captioner"] == "grounded" and generation["ir_caption_report"]["accepted"] == 5
    assert "ir_caption_filter_counts" in (tmp_path / "out" / "README.md").read_text()
    bad = run_cli("captions", "--data", tmp_path / "src", "--backend", "nonsense", "--out", tmp_path / "out2")
    assert bad.returncode == 2 and "unknown IR captioner" in bad.stderr
