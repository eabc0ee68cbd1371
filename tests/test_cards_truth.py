"""Every card kind tells the truth and passes the hub's rules (issue 22 item 3).

Each card is rendered by the project's own renderers from small inputs made here: dataset cards from
tiny real builds (`build_dataset`, ~0.1 s each) and a world folder, translator cards from a saved tiny
translator and from translator_config.json notes as the trainer writes them, CLIP and VLM cards from
their fusionrs notes. For every card: huggingface_hub parses the YAML (`DatasetCard` / `ModelCard`
with `ignore_metadata_errors=False`), `license` is present and `other` comes with `license_name` and
`license_link`, a dataset's `size_categories` is the hub's bucket of its rows, no absolute local path
and no test folder appears anywhere, the split paragraph is the split code's own description, and the
licence's YAML, text and recorded notes agree with the training data's rights.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusionrs.core.licences import NON_COMMERCIAL_LICENSES, NON_COMMERCIAL_NAME, RESEARCH_NAME, WORLD_RIGHTS
from fusionrs.core.references import LOCAL_PATH

NC_RIGHTS = "CC BY-NC 4.0 (made in-test)"


# ----------------------------------------------------------------------------- helpers


def _scenes(root: Path, *, broken: bool = False) -> Path:
    """`root/<class>/<class>_<n>.png`: six tiny distinct scenes (plus an unreadable file when `broken`)."""
    for c in ("forest", "river"):
        for n in range(3):
            path = root / c / f"{c}_{n}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.random.default_rng(10 * n + len(c)).integers(0, 255, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)
    if broken:
        (root / "river" / "broken.png").write_bytes(b"not a png")  # its skip reason names a path
    return root


def _build(root: Path, name: str, rights: str | None, **config):
    from fusionrs.data.build import BuildConfig, build_dataset
    from fusionrs.data.sources import parse_source

    spec = parse_source(f"{name}=folder:{_scenes(root / f'{name}_scenes', broken=True)}", rights=rights)
    report = build_dataset(BuildConfig(sources=[spec], **{"translator": "grayscale", "chunk_size": 4, **config}),
                           root / name, progress=False)
    return root / name, report


def _forbidden_texts(tmp_path: Path) -> list[str]:
    """The test folder in every spelling a card could leak it (as given, resolved, with the home as ~)."""
    forms = {str(tmp_path), str(tmp_path.resolve())}
    home = str(Path.home())
    forms |= {"~" + f[len(home):] for f in list(forms) if home not in ("/", "") and f.startswith(home)}
    return sorted(forms)


def _assert_no_local_paths(text: str, tmp_path: Path) -> None:
    match = LOCAL_PATH.search(text)
    assert match is None, f"absolute path in the card: {match.group(0)!r}"
    for form in _forbidden_texts(tmp_path):
        assert form not in text, form
    assert os.getcwd() not in text


def _assert_licence_fields(meta: dict) -> None:
    assert meta.get("license"), "license missing"
    if meta["license"] == "other":
        assert meta.get("license_name") and meta.get("license_link"), meta


def _claims(text: str) -> dict:
    """What a card says about its licence in its YAML, its text and its shown notes."""
    from fusionrs.hub.validation import split_front_matter

    meta, body = split_front_matter(text)
    said = re.findall(r"\*\*Commercial use: (yes|no)\.\*\*", body)
    assert len(said) == 1, said
    rows = dict(re.findall(r"^\| `(licence|commercial_use)` \| (.+?) \|$", body, re.M))
    return {"license": meta["license"], "license_name": meta.get("license_name"), "commercial": said[0] == "yes",
            "rows": rows}


def _assert_consistent(claims: dict) -> None:
    """The YAML licence, the text's commercial-use answer and the notes' rows state one licence."""
    restricted = claims["license"] in NON_COMMERCIAL_LICENSES or claims["license_name"] in (NON_COMMERCIAL_NAME,
                                                                                          RESEARCH_NAME)
    assert claims["commercial"] is not restricted, claims
    if claims["rows"]:
        assert claims["rows"]["commercial_use"] == json.dumps(claims["commercial"]), claims
        expected = {NON_COMMERCIAL_NAME: "non-commercial", RESEARCH_NAME: "research"}.get(
            claims["license_name"], "non-commercial" if claims["license"] in NON_COMMERCIAL_LICENSES else claims["license"])
        assert claims["rows"]["licence"] == expected, claims


def _check_dataset_card(text: str, rows: int, tmp_path: Path) -> dict:
    from huggingface_hub import DatasetCard

    from fusionrs.core.card_templates import size_category
    from fusionrs.hub.validation import validate_card

    card = DatasetCard(text, ignore_metadata_errors=False)
    meta = card.data.to_dict()
    assert validate_card(text, "dataset") == []
    _assert_licence_fields(meta)
    # the hub's own bucket list, as datasets ships it
    buckets = json.loads(resources.files("datasets.utils").joinpath("resources/size_categories.json").read_text())
    assert meta["size_categories"] == [size_category(rows)] and meta["size_categories"][0] in buckets
    assert sum(s["num_examples"] for s in meta["dataset_info"]["splits"]) == rows
    _assert_no_local_paths(text, tmp_path)
    _assert_consistent(_claims(text))
    return meta


# ----------------------------------------------------------------------------- dataset cards


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("truth")
    built = {"unstated": _build(root, "mine", None, seed=1),
             "nc": _build(root, "nc", NC_RIGHTS, seed=2, split_policy="resplit", min_heldout_per_source=1),
             "cc0": _build(root, "cc0", WORLD_RIGHTS, seed=3)}
    return {"root": root, **built}


@pytest.mark.parametrize("which, license_, name, commercial", [
    ("unstated", "other", RESEARCH_NAME, False),
    ("nc", "other", NON_COMMERCIAL_NAME, False),
    ("cc0", "apache-2.0", None, True),
])
def test_built_dataset_cards(builds, which, license_, name, commercial):
    from fusionrs.data.splits import SplitManifest, describe_split_policy

    folder, report = builds[which]
    text = (folder / "README.md").read_text()
    meta = _check_dataset_card(text, report.num_rows, builds["root"])
    assert (meta["license"], meta.get("license_name"), _claims(text)["commercial"]) == (license_, name, commercial)
    # the split paragraph is the split code's description of what it did, not a sentence of the template
    manifest = SplitManifest.load(folder / "split_manifest.json")
    assert describe_split_policy(**manifest.config) in text
    assert "RGB and IR" not in text and "IR SHA-256" not in text
    assert "| mine-river_broken |" in text or f"| {folder.name}-river_broken |" in text  # the scrubbed reason is there


def test_dataset_inherits_its_translators_terms(tmp_path):
    """CC0 sources translated by a translator trained on LLVIP: the dataset is non-commercial too."""
    from fusionrs.translate.model import build_unet, load_preset
    from fusionrs.translate.train import save_translator

    translator = save_translator(tmp_path / "tr", build_unet("tiny"), preset="tiny", sources=["llvip", "world"],
                                 pixel_shuffle=load_preset("tiny")["pixel_shuffle"])
    folder, report = _build(tmp_path, "cc0", WORLD_RIGHTS, translator=f"fusionrs:{translator}")
    text = (folder / "README.md").read_text()
    meta = _check_dataset_card(text, report.num_rows, tmp_path)
    assert (meta["license"], meta["license_name"]) == ("other", NON_COMMERCIAL_NAME) and "llvip" in text


def test_world_folder_card_describes_its_own_split(tmp_path):
    from fusionrs.data.loading import write_world_folder

    folder = tmp_path / "world"
    write_world_folder(folder, sizes={"train": 2, "test": 1}, image_size=32, seed=0, progress=False)
    text = (folder / "README.md").read_text()
    meta = _check_dataset_card(text, 3, tmp_path)
    assert meta["license"] == "cc0-1.0" and _claims(text)["commercial"]
    generation = json.loads((folder / "generation.json").read_text())["generation"]
    assert generation["split_description"] in text and "train 0-1, test 2" in text
    assert "near-duplicate" in text and "pHash" not in text  # no grouping claimed that did not happen


def test_refreshed_old_card_is_fixed(builds, tmp_path):
    """A card written before these rules (`license: other` alone, the old split sentence) is refreshed true."""
    import shutil

    from fusionrs.data.card import refresh_dataset_card

    folder = tmp_path / "old"
    shutil.copytree(builds["nc"][0], folder)
    readme = folder / "README.md"
    old = re.sub(r"license_name: .*\n|license_link: .*\n|size_categories:\n- .*\n", "", readme.read_text())
    readme.write_text(old.replace("Records are linked by", "Splits keep groups whole (pHash of RGB and IR). Records"))
    text = refresh_dataset_card(folder, repo_id="org/old")
    meta = _check_dataset_card(text, builds["nc"][1].num_rows, tmp_path)
    assert (meta["license"], meta["license_name"]) == ("other", NON_COMMERCIAL_NAME)
    assert "RGB and IR" not in text


def test_declared_licence_never_loosens_and_other_alone_declares_nothing(builds):
    from huggingface_hub import DatasetCard

    from fusionrs.data.card import render_dataset_card
    from fusionrs.errors import CardValidationError

    folder, report = builds["nc"]
    generation = json.loads((folder / "generation.json").read_text())
    sources = [{"name": "nc", "rows": report.num_rows, "rights": NC_RIGHTS}]
    data = DatasetCard.load(folder / "README.md").data

    def render(**licence):
        for key in ("license", "license_name", "license_link"):
            data[key] = licence.get(key)
        return render_dataset_card(data, pretty_name="x", description="", repo_hint="org/x",
                                   split_counts=generation["split_counts"], sources=sources,
                                   generation=generation["generation"], skipped=[])

    with pytest.raises(CardValidationError, match="non-commercial"):
        render(license="cc-by-4.0")
    meta = DatasetCard(render(license="other")).data.to_dict()  # what the writer used to declare by default
    assert (meta["license"], meta["license_name"]) == ("other", NON_COMMERCIAL_NAME) and meta["license_link"]
    meta = DatasetCard(render(license="cc-by-nc-4.0")).data.to_dict()
    assert meta["license"] == "cc-by-nc-4.0" and "license_name" not in meta


# ----------------------------------------------------------------------------- push file list


def test_push_leaves_local_only_folders_out(builds, capsys):
    from fusionrs.cli.main import main
    from fusionrs.data.summary import INSPECT_DIR
    from fusionrs.hub.push import files_to_upload, push_folder, upload_ignore_patterns

    folder = builds["unstated"][0]
    assert main(["inspect", str(folder), "--samples", "2"]) == 0  # writes FOLDER/inspect, as a user would
    capsys.readouterr()
    assert (folder / INSPECT_DIR / "summary.json").is_file()
    (folder / "notes.tmp").write_text("scratch")
    (folder / ".DS_Store").write_bytes(b"\0")
    files, skipped = files_to_upload(folder, upload_ignore_patterns("dataset"))
    names = [path for path, _ in files]
    assert not any(p.startswith(f"{INSPECT_DIR}/") for p in names) and f"{INSPECT_DIR}/summary.json" in skipped
    assert {"notes.tmp", ".DS_Store"} <= set(skipped)
    assert {"README.md", "generation.json", "split_manifest.json"} <= set(names)
    assert any(p.startswith("data/") and p.endswith(".parquet") for p in names)
    report = push_folder("dataset", folder, "org/mine", dry_run=True)  # offline: computes, uploads nothing
    assert [p for p, _ in report.files] == names
    _check_dataset_card(report.card, builds["unstated"][1].num_rows, builds["root"])


# ----------------------------------------------------------------------------- translator cards


def _translator_notes(folder: Path, training_data: list[str], tmp_path: Path) -> Path:
    """translator_config.json as `translate.train.save_translator` writes it (its `licence` note included)."""
    from fusionrs.core.licences import training_licence

    folder.mkdir(parents=True)
    (folder / "translator_config.json").write_text(json.dumps({
        "format": "fusionrs-translator/1", "preset": "tiny", "pixel_shuffle": 2, "timestep": 0,
        "training_data": training_data,
        **training_licence(training_data).notes_fields(),
        "training": {"out": str(tmp_path / "runs" / "tr"), "pairs": [str(tmp_path / "pairs" / "roadscene")]},
    }))
    return folder


@pytest.mark.parametrize("training_data, license_, name, commercial", [
    (["world"], "apache-2.0", None, True),  # CC0 procedural world only: nothing restricts it
    (["roadscene", "world"], "other", RESEARCH_NAME, False),  # RoadScene states no licence: research only
    (["llvip", "world"], "other", NON_COMMERCIAL_NAME, False),  # LLVIP: non-commercial
])
def test_translator_licence_fields_agree(tmp_path, training_data, license_, name, commercial):
    from huggingface_hub import ModelCard

    from fusionrs.hub.validation import validate_card
    from fusionrs.translate.card import render_translator_card, translator_licence

    folder = _translator_notes(tmp_path / "tr", training_data, tmp_path)
    text = render_translator_card(folder)
    meta = ModelCard(text, ignore_metadata_errors=False).data.to_dict()
    assert validate_card(text, "model") == []
    _assert_licence_fields(meta)
    claims = _claims(text)
    assert (meta["license"], meta.get("license_name"), claims["commercial"]) == (license_, name, commercial)
    _assert_consistent(claims)
    licence = translator_licence(folder)
    assert licence.card_fields() == {k: meta[k] for k in ("license", "license_name", "license_link") if k in meta}
    assert claims["rows"] == {"licence": licence.note, "commercial_use": json.dumps(licence.commercial_use)}
    assert translator_licence(training_data=training_data) == licence  # what a trainer should record
    _assert_no_local_paths(text, tmp_path)
    assert 'from_pretrained("path/to/this/folder")' in text


def test_saved_translator_card(tmp_path):
    """The card the trainer's own `save_translator` writes (tiny UNet, no training)."""
    from fusionrs.hub.validation import validate_card
    from fusionrs.translate.model import build_unet, load_preset
    from fusionrs.translate.train import save_translator

    folder = save_translator(tmp_path / "tr", build_unet("tiny"), pixel_shuffle=load_preset("tiny")["pixel_shuffle"],
                             preset="tiny", sources=["world"])
    text = (folder / "README.md").read_text()
    assert validate_card(text, "model") == []
    claims = _claims(text)
    assert claims["license"] == "apache-2.0" and claims["commercial"]
    _assert_consistent(claims)
    _assert_no_local_paths(text, tmp_path)


# ----------------------------------------------------------------------------- CLIP and VLM cards


@pytest.mark.parametrize("kind", ["clip", "vlm"])
@pytest.mark.parametrize("data, license_, name, commercial", [
    ("nc", "other", NON_COMMERCIAL_NAME, False),  # CC BY-NC data -> non-commercial
    ("cc0", "apache-2.0", None, True),
    ("unstated", "other", RESEARCH_NAME, False),
])
def test_clip_and_vlm_cards(builds, tmp_path, kind, data, license_, name, commercial):
    from huggingface_hub import ModelCard

    from fusionrs.core.model_card import render_model_card
    from fusionrs.core.references import reference_for
    from fusionrs.hub.validation import validate_card

    data_dir = builds[data][0]
    folder = tmp_path / "run" / "model"
    folder.mkdir(parents=True)
    if kind == "clip":  # what `fusionrs train clip` records: the data folder as given (absolute here)
        notes = {"format": "fusionrs-clip/1", "init": "offline-dinov2-minilm", "data": str(data_dir), "seed": 0}
    else:  # what `fusionrs train vlm` records: the data folder relative to the model folder, a summary beside it
        notes = {"base": "HuggingFaceTB/SmolVLM-256M-Instruct", "data": reference_for(data_dir, folder), "lora_r": 16}
        (folder.parent / "train_summary.json").write_text(json.dumps({"config": {
            "out": str(folder.parent), "data": str(data_dir), "steps": 2}}))
    (folder / f"fusionrs_{kind}.json").write_text(json.dumps(notes))
    text = render_model_card(kind, folder, eval_json=[{"mean_recall": 12.5}] if kind == "clip" else None)
    card = ModelCard(text, ignore_metadata_errors=False)
    meta = card.data.to_dict()
    assert validate_card(text, "model") == []
    _assert_licence_fields(meta)
    claims = _claims(text)
    assert (meta["license"], meta.get("license_name"), claims["commercial"]) == (license_, name, commercial)
    _assert_consistent(claims)
    _assert_no_local_paths(text, builds["root"])
    _assert_no_local_paths(text, tmp_path)


def test_declared_model_licence_cannot_relax_non_commercial_data(builds, tmp_path):
    from fusionrs.core.model_card import render_model_card
    from fusionrs.errors import CardValidationError

    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "fusionrs_clip.json").write_text(json.dumps({"data": str(builds["nc"][0])}))
    with pytest.raises(CardValidationError, match="non-commercial"):
        render_model_card("clip", folder, license="mit")
    assert "license: cc-by-nc-4.0" in render_model_card("clip", folder, license="cc-by-nc-4.0")


# ----------------------------------------------------------------------------- the rules themselves


_DATASET = """---
license: cc0-1.0
size_categories:
- n<1K
dataset_info:
  splits:
  - name: train
    num_examples: 1200
---
# d
"""


@pytest.mark.parametrize("change, problem", [
    (("license: cc0-1.0", "license: other\nlicense_name: my-terms"), "license_link: required"),
    (("size_categories:\n- n<1K\n", ""), "size_categories: missing"),
    (("- n<1K", "- 1K<n<10K"), None),
    (("- n<1K", "- n<2K"), "not one of the hub's buckets"),
    (("# d\n", "# d\nbuilt from /home/someone/data/x.png\n"), "absolute local paths"),
    (("# d\n", "# d\nsee ~/data and C:\\data\\x\n"), "absolute local paths"),
])
def test_validation_rules(change, problem):
    from fusionrs.hub.validation import validate_card

    problems = validate_card(_DATASET.replace(*change), "dataset")
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems
    assert any("does not match the 1200 rows" in p for p in validate_card(_DATASET, "dataset"))
