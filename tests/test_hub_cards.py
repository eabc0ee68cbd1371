"""Cards: rendering from model_cards/, model-index from eval JSON, licence inheritance, local schema checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusionrs.hub.cards import (
    CardValidationError,
    check_card,
    dataset_rights,
    licence_from_rights,
    model_index_from_eval,
    render_dataset_card,
    render_model_card,
    validate_card,
)


@pytest.fixture(scope="module")
def world_folder(tmp_path_factory) -> Path:
    from fusionrs.data.loading import write_world_folder

    folder = tmp_path_factory.mktemp("cards") / "world"
    write_world_folder(folder, sizes={"train": 2, "test": 1}, image_size=32, seed=0, progress=False)
    return folder


def _rights_folder(folder: Path, rights: dict[str, str]) -> Path:
    """A folder whose parquet has only what `dataset_rights` reads (source + provenance.rights)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    table = pa.table({"source_dataset": list(rights), "provenance": [{"rights": r} for r in rights.values()]})
    pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet")
    return folder


# --- model-index -------------------------------------------------------------------------------------

def test_model_index_from_clip_eval_json(tmp_path):
    path = tmp_path / "clip.json"
    # the shape `fusionrs eval clip` writes (fusionrs.clip.evaluate.evaluate_clip inside write_results)
    path.write_text(json.dumps({"results": {
        "retrieval": {"ir->caption": {"R@1": 40.123456, "R@5": 70, "R@10": 80, "n_queries": 9, "n_gallery": 9},
                      "rgb->ir": {"R@1": 50, "R@5": 75, "R@10": 90}},
        "split": "test", "data": "/somewhere/runs/data/fusionrs-world", "mean_recall": 67.66, "mean_recall_ci": {"low": 60.0, "high": 70.0}, "rows_evaluated": 100,
        "ir_aware": {"rows": 5, "mean_recall": 30.0}, "zero_shot": {"rgb": {"top1": 55.0, "top5": None}, "classes": 4}},
        "command": "fusionrs eval clip"}))
    index = model_index_from_eval(path, model_name="m", task_type="zero-shot-image-classification")
    [result] = index[0]["results"]
    values = {m["name"]: m["value"] for m in result["metrics"]}
    assert values["mean_recall"] == 67.66 and values["ir->caption R@1"] == 40.1235 and values["rgb->ir R@10"] == 90
    assert values["ir_aware mean_recall"] == 30.0 and values["zero-shot rgb top1"] == 55.0
    assert not any("n_queries" in name or "rows" in name for name in values)
    assert {m["type"] for m in result["metrics"]} >= {"mean_recall", "ir_caption_r_at_1"}
    assert result["dataset"] == {"type": "fusionrs", "name": "FusionRS (fusionrs-world)", "split": "test"}


def test_model_index_from_translator_eval_and_benchmark_files():
    single = {"results": {"n": 4, "systems": {"model": {"mean": {"psnr": 20.5, "ssim": 0.6, "mae": 12.0, "edge_corr": 0.7},
                                                         "per_image": []},
                                               "grayscale": {"mean": {"psnr": 15.0}}}}}
    [entry] = model_index_from_eval({"results": {**single["results"], "pairs": "world:24"}}, model_name="t", task_type="image-to-image")
    assert entry["results"][0]["dataset"] == {"type": "fusionrs", "name": "FusionRS (world:24)"}  # no split recorded
    assert {m["type"]: m["value"] for m in entry["results"][0]["metrics"]} == {
        "psnr": 20.5, "ssim": 0.6, "mae": 12.0, "edge_corr": 0.7}
    bench = {"results": {"roadscene": single["results"], "world": single["results"]}}
    [entry] = model_index_from_eval(bench, model_name="t", task_type="image-to-image")
    assert [r["dataset"]["name"] for r in entry["results"]] == ["FusionRS (roadscene)", "FusionRS (world)"]


def test_model_index_generic_mapping_and_override():
    [entry] = model_index_from_eval({"BLEU-4": 0.1, "ROUGE-L": 0.3, "CIDEr": 0.5, "note": "x", "ok": True},
                                    model_name="v", task_type="image-text-to-text", dataset_split=None,
                                    dataset_name="Custom")
    assert [m["type"] for m in entry["results"][0]["metrics"]] == ["bleu_4", "rouge_l", "cider"]
    assert entry["results"][0]["dataset"] == {"type": "fusionrs", "name": "Custom"}
    [entry] = model_index_from_eval({"scores": {"cider": 1.0}}, model_name="v", task_type="image-text-to-text")
    assert entry["results"][0]["metrics"][0]["value"] == 1.0
    [entry] = model_index_from_eval({}, model_name="v", task_type="image-text-to-text", metrics={"lexical_f1": 0.4})
    assert entry["results"][0]["metrics"][0]["type"] == "lexical_f1"
    with pytest.raises(CardValidationError, match="no numeric metrics"):
        model_index_from_eval({"note": "nothing"}, model_name="v", task_type="image-text-to-text")


# --- licences ----------------------------------------------------------------------------------------

def test_licence_inheritance():
    nc = licence_from_rights({"llvip": "LLVIP terms", "world": "CC0-1.0"})
    assert (nc.license, nc.license_name, nc.commercial_use, nc.restricting_sources) == (
        "other", "non-commercial-research", False, ("llvip",))
    assert not licence_from_rights(["cc-by-nc-4.0 data"]).commercial_use
    assert licence_from_rights({"world": "CC0-1.0 (procedurally generated by fusionrs)"}).license == "apache-2.0"
    research = licence_from_rights({"rsicd": "research use (RSICD, Lu et al.)"})
    assert (research.license, research.license_name) == ("other", "research-data-terms")
    assert licence_from_rights({"llvip": "x"}, override="cc-by-nc-4.0").license == "cc-by-nc-4.0"
    with pytest.raises(CardValidationError, match="non-commercial"):
        licence_from_rights({"llvip": "x"}, override="mit")


def test_dataset_rights_reads_provenance(world_folder, tmp_path):
    assert dataset_rights(world_folder) == {"fusionrs_world": "CC0-1.0 (procedurally generated by fusionrs)"}
    folder = _rights_folder(tmp_path / "mixed", {"llvip_pairs": "LLVIP: non-commercial research only", "w": "CC0-1.0"})
    assert dataset_rights(folder)["llvip_pairs"].startswith("LLVIP")


# --- dataset cards -----------------------------------------------------------------------------------

def test_written_dataset_card_is_valid(world_folder):
    text = (world_folder / "README.md").read_text()
    assert validate_card(text, "dataset") == []


def test_refreshed_dataset_card_adds_filter_report_licence_and_citation(world_folder):
    from huggingface_hub import DatasetCard

    from fusionrs.hub.cards import refresh_dataset_card

    generation = json.loads((world_folder / "generation.json").read_text())
    generation["generation"]["ir_caption_filter_counts"] = {"temperature_or_heat": 3, "unsupported_rgb_color": 1}
    card = DatasetCard.load(world_folder / "README.md")
    text = render_dataset_card(card.data, pretty_name="W", description="d", repo_hint="org/w",
                               split_counts=generation["split_counts"],
                               sources=[{"name": "fusionrs_world", "rows": 3, "rights": "CC0-1.0"}],
                               generation=generation["generation"], skipped=[{"id": "x", "reason": "broken"}])
    check_card(text, "dataset")
    assert "| temperature_or_heat | 3 |" in text and "## Citation" in text and "2606.17020" in text
    assert "| x | broken |" in text and "**Licence: `cc0-1.0`.**" in text and "infrared-style" in text
    refreshed = refresh_dataset_card(world_folder, repo_id="org/world")
    check_card(refreshed, "dataset")
    assert 'load_dataset("org/world")' in refreshed
    assert DatasetCard(refreshed).data.configs == card.data.configs  # what load_dataset reads is kept


def test_dataset_card_refuses_commercial_licence_on_non_commercial_sources(world_folder):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(world_folder / "README.md")
    card.data.license = "cc-by-4.0"
    with pytest.raises(CardValidationError, match="llvip"):
        render_dataset_card(card.data, pretty_name="W", description="", repo_hint="x", split_counts={"train": 1},
                            sources=[{"name": "llvip", "rows": 1, "rights": "non-commercial"}], generation={}, skipped=[])


# --- model cards -------------------------------------------------------------------------------------

def test_translator_card_from_training_still_renders_and_is_valid(tmp_path):
    from fusionrs.translate.model import build_unet, load_preset
    from fusionrs.translate.train import save_translator

    folder = save_translator(tmp_path / "tr", build_unet("tiny"), pixel_shuffle=load_preset("tiny")["pixel_shuffle"],
                             preset="tiny", sources=["llvip"])
    legacy = (folder / "README.md").read_text()  # rendered by translate.train with `config` only
    assert validate_card(legacy, "model") == [] and "non-commercial" in legacy
    text = render_model_card("translator", folder, repo_id="org/tr", eval_json=[{"results": {"systems": {
        "model": {"mean": {"psnr": 21.0, "ssim": 0.5}}}}}])
    check_card(text, "model")
    assert "license_name: non-commercial-research" in text and "| psnr | 21.0 |" in text
    assert 'RGBToIRPipeline.from_pretrained("org/tr")' in text and "night" in text


@pytest.mark.parametrize("kind, tag, library", [("clip", "zero-shot-image-classification", "transformers"),
                                                ("vlm", "image-text-to-text", "transformers")])
def test_clip_and_vlm_cards(tmp_path, kind, tag, library):
    from huggingface_hub import ModelCard

    folder = tmp_path / kind
    folder.mkdir()
    data = _rights_folder(tmp_path / "data", {"llvip_pairs": "LLVIP: non-commercial research only"})
    meta = {"base_model": "HuggingFaceTB/SmolLM2-135M-Instruct", "epochs": 3, "lr": 5e-6, "data": str(data),
            "nested": {"batch_size": 128}}
    (folder / f"fusionrs_{kind}.json").write_text(json.dumps(meta))
    text = render_model_card(kind, folder, repo_id=f"org/{kind}", datasets=["org/fusionrs-world"],
                             eval_json=[{"mean_recall": 50.0}])
    check_card(text, "model")
    card = ModelCard(text).data
    assert (card.pipeline_tag, card.library_name) == (tag, library)
    assert card.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and card.datasets == ["org/fusionrs-world"]
    assert card.license == "other" and card.license_name == "non-commercial-research"  # from the data folder's rights
    assert {"fusionrs", "remote-sensing", "infrared", "thermal"} <= set(card.tags)
    assert card.eval_results[0].dataset_type == "org/fusionrs-world"
    assert "| `nested.batch_size` | 128 |" in text and "not radiometric" in text and "at night" in text


# --- validation rules --------------------------------------------------------------------------------

_GOOD_MODEL = """---
license: apache-2.0
library_name: transformers
pipeline_tag: image-text-to-text
base_model: org/base
datasets: [org/data]
model-index:
- name: m
  results:
  - task: {type: image-text-to-text}
    dataset: {type: org/data, name: Data}
    metrics: [{type: cider, value: 0.5}]
---
# m
"""


@pytest.mark.parametrize("change, problem", [
    (("license: apache-2.0", "license: apache2"), "not a hub licence id"),
    (("license: apache-2.0", "license: other"), "license_name: required"),
    (("license: apache-2.0", "license: other\nlicense_name: My Licence"), "lower-case"),
    (("pipeline_tag: image-text-to-text", "pipeline_tag: captioning"), "pipeline_tag"),
    (("base_model: org/base", "base_model: [org/base, 'not an id!']"), "base_model"),
    (("- task: {type: image-text-to-text}", "- task: {name: x}"), "task.type: missing"),
    (("dataset: {type: org/data, name: Data}", "dataset: {type: org/data}"), "dataset.name: missing"),
    (("metrics: [{type: cider, value: 0.5}]", "metrics: [{type: cider}]"), "metrics[0].value"),
    (("metrics: [{type: cider, value: 0.5}]", "metrics: []"), "metrics: expected a non-empty list"),
    (("- name: m\n", "- results_only: 1\n"), "model-index[0].name"),
    (("license: apache-2.0\n", "license: apache-2.0\n  bad: [\n"), "does not parse"),
])
def test_model_card_rules(change, problem):
    assert validate_card(_GOOD_MODEL, "model") == []
    problems = validate_card(_GOOD_MODEL.replace(*change), "model")
    assert any(problem in p for p in problems), problems


def test_card_without_front_matter_and_dataset_and_space_rules():
    assert validate_card("# just text\n", "model") == ["no YAML front matter (--- ... ---) at the top of the card"]
    dataset = "---\nlicense: cc0-1.0\ntask_categories: [image-to-text]\nconfigs:\n- config_name: default\n" \
              "  data_files:\n  - split: train\n    path: data/train-*\n---\n"
    assert validate_card(dataset, "dataset") == []
    assert any("needs split and path" in p for p in validate_card(dataset.replace("    path: data/train-*\n", ""), "dataset"))
    assert any("task_categories" in p for p in validate_card(dataset.replace("image-to-text", "captions"), "dataset"))
    space = "---\ntitle: Demo\nsdk: gradio\nsdk_version: \"6.31.0\"\napp_file: app.py\ncolorFrom: blue\ncolorTo: gray\n---\n"
    assert validate_card(space, "space") == []
    bad = space.replace("sdk: gradio", "sdk: flask").replace("colorTo: gray", "colorTo: teal")
    problems = validate_card(bad, "space")
    assert any("sdk" in p for p in problems) and any("colorTo" in p for p in problems)
    with pytest.raises(CardValidationError, match="README.md: card metadata"):
        check_card(bad, "space")
