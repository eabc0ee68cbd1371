"""CLIP evaluation: the embedder, zero-shot helpers, `evaluate_clip` on a built folder, real RGB-T pairs and
HIT-UAV, and `fusionrs eval clip`. Tiny seeded models (hidden 32, 2 layers) are built and saved here."""

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fusionrs.clip.embed import ClipEmbedder, ClipLoadError
from fusionrs.clip.evaluate import (
    ALL_DIRECTIONS,
    PAPER_DIRECTIONS,
    EvaluationDataError,
    evaluate_clip,
    evaluate_object_presence,
    evaluate_rgbt_pairs,
)
from fusionrs.clip.zeroshot import RGB_TEMPLATES, classifier_weights, pretty_class_name

torch.set_num_threads(1)

_CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789.,-")


def build_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A CLIPModel (hidden 32, 2 layers, 32 px) with a character-level CLIPTokenizer written here."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(_CHARS)}
    vocab.update({c + "</w>": len(_CHARS) + i for i, c in enumerate(_CHARS)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    eos = vocab["<|endoftext|>"]
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=64, eos_token_id=eos, bos_token_id=eos - 1,
                         pad_token_id=eos),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16)
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def build_tiny_dual_encoder(folder: Path, seed: int = 0) -> Path:
    """A VisionTextDualEncoderModel of a tiny Dinov2 + a tiny Bert, with a BertTokenizer from a written vocab.txt."""
    from transformers import (BertConfig, BertModel, BertTokenizer, BitImageProcessorPil, Dinov2Config, Dinov2Model,
                              VisionTextDualEncoderModel, VisionTextDualEncoderProcessor)

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_CHARS, "an", "aerial", "image", "of", "infrared", "scene"]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"))
    torch.manual_seed(seed)
    vision = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                                      patch_size=14, image_size=28))
    text = BertModel(BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64))
    model = VisionTextDualEncoderModel(vision_model=vision, text_model=text)
    model.save_pretrained(folder)
    image_processor = BitImageProcessorPil(size={"height": 28, "width": 28}, do_center_crop=False)
    VisionTextDualEncoderProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="module")
def tiny_dual(tmp_path_factory) -> Path:
    return build_tiny_dual_encoder(tmp_path_factory.mktemp("tiny_dual"))


# ------------------------------------------------------------------------------------------------ a small dataset

CLASSES = ("denseresidential", "storage_tanks")


def _record(i: int, split: str, representative: bool, group: str, ir_captions: bool):
    from fusionrs.data.schema import FusionRecord

    # Row identity is written into the pixels (RGB red channel, IR value) and into the captions, so the
    # oracle embedder below can recognise it: a perfect model must score 100 in every direction.
    rgb = Image.new("RGB", (16, 16), (10 * i, 100, 50 if i % 2 else 200))
    ir = Image.new("L", (16, 16), 10 * i)
    return FusionRecord(
        id=f"r{i}", rgb=rgb, ir=ir, captions=[f"scene {i} first.", f"scene {i} second."],
        ir_captions=[f"infrared scene {i}."] if ir_captions else [], class_name=CLASSES[i % 2], split=split,
        group_id=group, is_eval_representative=representative, source_dataset="test")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    from fusionrs.data.folder import write_dataset_folder

    records = [_record(i, "validation", True, f"g{i}", ir_captions=i < 4) for i in range(6)]
    # Near duplicates of rows 0 and 1 (same group, not representatives): never in the evaluation.
    records += [_record(0, "validation", False, "g0", True), _record(1, "validation", False, "g1", True)]
    records[-2].id, records[-1].id = "r0-dup", "r1-dup"
    records += [_record(i, "train", True, f"t{i}", True) for i in range(10, 13)]
    out = tmp_path_factory.mktemp("ds") / "folder"
    write_dataset_folder(records, out, progress=False)
    return out


class OracleEmbedder(ClipEmbedder):
    """A perfect model for the test dataset: it reads the row number from pixels / caption text and the
    class from the prompt. Evaluating it must give 100 everywhere, which checks the ground-truth wiring."""

    DIM = 32

    def __init__(self):
        self.device, self.dtype = torch.device("cpu"), torch.float32

    @property
    def projection_dim(self) -> int:
        return self.DIM

    def _vector(self, row: int | None, cls: int | None) -> torch.Tensor:
        v = torch.zeros(self.DIM)
        if row is not None:
            v[row] = 1.0
        if cls is not None:
            v[20 + cls] = 1.0
        return torch.nn.functional.normalize(v, dim=0)

    def embed_images(self, images, batch_size=32, *, modality=None, progress=False):
        rows = [int(np.asarray(im.convert("L") if modality == "ir" else im)[0, 0, ...].ravel()[0]) // 10 for im in images]
        return torch.stack([self._vector(r, r % 2) for r in rows])

    def embed_texts(self, texts, batch_size=256, *, progress=False):
        out = []
        for text in texts:
            number = re.search(r"scene (\d+)", text)
            if number:
                row = int(number.group(1))
                out.append(self._vector(row, row % 2))
            else:  # a zero-shot prompt: only the class
                out.append(self._vector(None, [pretty_class_name(c) in text for c in CLASSES].index(True)))
        return torch.stack(out)


# ------------------------------------------------------------------------------------------------ zero-shot helpers

@pytest.mark.parametrize("name, phrase", [
    ("denseresidential", "dense residential area"), ("DenseResidential", "dense residential area"),
    ("dense_residential", "dense residential area"), ("storage_tanks", "storage tanks"), ("bareland", "bare land"),
    ("BaseballField", "baseball field"), ("lake_pond", "lake or pond"), ("parking", "parking lot"),
    ("railwaystation", "railway station"), ("golf-course", "golf course"), ("forest", "forest"),
    ("SeaIce", "sea ice"), ("new_class name", "new class name"),
])
def test_pretty_class_name(name, phrase):
    assert pretty_class_name(name) == phrase


def test_classifier_weights_are_normalised_ensembles(tiny_clip):
    embedder = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    weights = classifier_weights(embedder, ["forest", "harbour"], RGB_TEMPLATES)
    assert weights.shape == (2, 16)
    assert torch.allclose(weights.norm(dim=1), torch.ones(2), atol=1e-5)
    single = embedder.embed_texts([RGB_TEMPLATES[0].format("forest")])
    assert torch.allclose(classifier_weights(embedder, ["forest"], RGB_TEMPLATES[:1]), single, atol=1e-5)
    with pytest.raises(ValueError, match="placeholder"):
        classifier_weights(embedder, ["forest"], ["no placeholder"])


# ------------------------------------------------------------------------------------------------ embedder

def test_embedder_outputs_and_ir_replication(tiny_clip):
    embedder = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    rng = np.random.default_rng(0)
    gray = Image.fromarray(rng.integers(0, 255, (20, 24), dtype=np.uint8), "L")
    colour = Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8), "RGB")
    emb = embedder.embed_images([gray, gray.convert("RGB"), colour, colour], batch_size=3)
    assert emb.dtype == torch.float32 and emb.shape == (4, 16) and emb.device.type == "cpu"
    assert torch.allclose(emb.norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(emb[0], emb[1], atol=1e-6)  # L is replicated to 3 equal channels
    ir_view = embedder.embed_images([colour], modality="ir")
    assert torch.allclose(ir_view[0], embedder.embed_images([colour.convert("L")])[0], atol=1e-6)
    one_by_one = torch.cat([embedder.embed_images([im], batch_size=1) for im in (gray, colour)])
    assert torch.allclose(one_by_one, emb[[0, 2]], atol=1e-5)  # batching changes nothing


def test_embedder_texts_keep_input_order(tiny_clip):
    embedder = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    texts = ["a long caption about a harbour with many boats.", "x", "medium text here", "x"]
    together = embedder.embed_texts(texts, batch_size=2)  # batches are formed by length, then put back
    alone = torch.cat([embedder.embed_texts([t]) for t in texts])
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(together[1], together[3])
    assert embedder.embed_texts([]).shape == (0, 16)
    with pytest.raises(TypeError):
        embedder.embed_texts("one string")


def test_embedder_is_cached_per_folder(tiny_clip):
    from fusionrs.core.model_cache import default_cache

    first = ClipEmbedder.from_pretrained(tiny_clip, device="cpu")
    loads = default_cache.loads
    assert ClipEmbedder.from_pretrained(str(tiny_clip), device="cpu") is first
    assert default_cache.loads == loads
    assert ClipEmbedder.from_pretrained(first) is first


def test_dual_encoder_folder(tiny_dual):
    embedder = ClipEmbedder.from_pretrained(tiny_dual, device="cpu")
    assert "token_type_ids" in embedder._text_keys
    assert embedder.max_text_length == 64
    texts = embedder.embed_texts(["an aerial image of scene 1.", "infrared"])
    images = embedder.embed_images([Image.new("L", (40, 30), 90)], modality="ir")
    assert texts.shape == (2, embedder.projection_dim) and images.shape == (1, embedder.projection_dim)


def test_load_errors_name_the_folder(tmp_path):
    from transformers import BertConfig, BertModel

    with pytest.raises(ClipLoadError, match="does not exist"):
        ClipEmbedder.from_pretrained(tmp_path / "missing", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClipLoadError, match="no config.json"):
        ClipEmbedder.from_pretrained(tmp_path / "empty", device="cpu")
    BertModel(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                         intermediate_size=8)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ClipLoadError, match=str(tmp_path / "bert")):
        ClipEmbedder.from_pretrained(tmp_path / "bert", device="cpu")
    start = time.perf_counter()
    with pytest.raises(ClipLoadError, match="HF_HUB_OFFLINE is set"):
        ClipEmbedder.from_pretrained("nobody-here/no-such-clip", device="cpu")  # a hub id: cache only, offline
    assert time.perf_counter() - start < 10  # no network retries


# ------------------------------------------------------------------------------------------------ evaluate_clip

def test_thumbnail_baseline_finds_translated_pairs_without_learning():
    """IR that is a function of the RGB (here: inverted gray) is found by thumbnails alone; shuffled IR is not."""
    from PIL import Image

    from fusionrs.clip.baselines import thumbnail, thumbnail_retrieval

    rng = np.random.default_rng(0)
    scenes = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(20)]
    rgb = np.stack([thumbnail(im) for im in scenes])
    ir = np.stack([thumbnail(Image.fromarray(255 - np.asarray(im.convert("L")))) for im in scenes])
    assert np.allclose(np.linalg.norm(rgb, axis=1), 1.0, atol=1e-5)
    paired = thumbnail_retrieval(rgb, -ir)  # inverting back: identical thumbnails
    assert paired["rgb->ir"]["R@1"] == 100.0 and paired["mean_recall"] == 100.0
    shuffled = thumbnail_retrieval(rgb, -ir[rng.permutation(20)])
    assert shuffled["rgb->ir"]["R@1"] < 50.0
    assert not np.any(thumbnail(Image.new("RGB", (8, 8), (9, 9, 9))))  # a flat image: all zeros, no NaN
    with pytest.raises(ValueError, match="differ in shape"):
        thumbnail_retrieval(rgb, ir[:3])


def test_oracle_scores_100_everywhere(dataset_dir):
    result = evaluate_clip(OracleEmbedder(), dataset_dir, "validation")
    assert result["rows_evaluated"] == 6 and result["rows_in_split"] == 8  # duplicates left out
    assert result["row_policy"].startswith("is_eval_representative")
    assert result["gallery_sizes"] == {"images": 6, "captions": 12, "ir_captions": 4, "images_with_ir_captions": 4}
    assert set(result["retrieval"]) == set(ALL_DIRECTIONS)
    for direction, r in result["retrieval"].items():
        assert (r["R@1"], r["R@5"], r["R@10"]) == (100.0, 100.0, 100.0), direction
    assert result["retrieval"]["caption->ir"]["n_queries"] == 12 and result["retrieval"]["ir->caption"]["n_gallery"] == 12
    assert result["mean_recall"] == 100.0 and result["mean_recall_all"] == 100.0
    aware = result["ir_aware"]
    assert aware["rows"] == 4 and aware["mean_recall"] == 100.0
    assert aware["retrieval"]["ir_caption->ir"]["n_gallery"] == 4
    zs = result["zero_shot"]
    assert zs["classes"] == sorted(CLASSES) and zs["rgb"]["top1"] == 100.0 and zs["ir"]["top1"] == 100.0
    assert zs["prompts"]["denseresidential"] == "dense residential area"


def test_tiny_model_result_structure(tiny_clip, dataset_dir):
    result = evaluate_clip(tiny_clip, dataset_dir, "validation", device="cpu", ci_resamples=200)
    twelve = [result["retrieval"][d][f"R@{k}"] for d in PAPER_DIRECTIONS for k in (1, 5, 10)]
    eighteen = [result["retrieval"][d][f"R@{k}"] for d in ALL_DIRECTIONS for k in (1, 5, 10)]
    assert result["mean_recall"] == pytest.approx(np.mean(twelve))
    assert result["mean_recall_all"] == pytest.approx(np.mean(eighteen))
    ci = result["mean_recall_ci"]
    assert ci["low"] <= result["mean_recall"] <= ci["high"] and ci["resamples"] == 200
    assert all(0 <= v <= 100 for v in eighteen)
    # 6 images: R@10 is trivially 100 for every direction whose gallery has <= 10 items.
    assert result["retrieval"]["rgb->ir"]["R@10"] == 100.0
    by_pair = result["mean_recall_by_pair"]
    assert by_pair["rgb_ir"] == pytest.approx(np.mean([result["retrieval"][d][f"R@{k}"]
                                                       for d in ("rgb->ir", "ir->rgb") for k in (1, 5, 10)]))
    assert set(by_pair) == {"ir_text", "rgb_text", "rgb_ir"}
    thumb = result["baselines"]["thumbnail_16px_gray"]
    assert thumb["size"] == 16 and thumb["rgb->ir"]["n_queries"] == 6 and 0 <= thumb["mean_recall"] <= 100
    json.dumps(result)  # JSON-ready
    small = evaluate_clip(tiny_clip, dataset_dir, "validation", max_items=3, zero_shot=False, device="cpu")
    assert small["rows_evaluated"] == 3 and small["gallery_sizes"]["captions"] == 6
    assert small["zero_shot"] == {"skipped": "disabled"}


def test_dual_encoder_evaluates(tiny_dual, dataset_dir):
    result = evaluate_clip(tiny_dual, dataset_dir, "train", device="cpu", ci_resamples=50)
    assert result["rows_evaluated"] == 3 and result["ir_aware"]["rows"] == 3
    assert result["zero_shot"]["n_images"] == 3 and len(result["zero_shot"]["classes"]) == 2
    one = evaluate_clip(tiny_dual, dataset_dir, "train", max_items=1, device="cpu")
    assert one["zero_shot"]["skipped"].startswith("needs >= 2 scene classes")
    assert one["mean_recall"] == 100.0 and one["mean_recall_ci"] is None  # one image: nothing to confuse it with


def test_bad_split_and_folder_raise(tiny_clip, dataset_dir, tmp_path):
    with pytest.raises(EvaluationDataError, match=r"no split 'test'.*\['train', 'validation'\]"):
        evaluate_clip(tiny_clip, dataset_dir, "test", device="cpu")
    with pytest.raises(EvaluationDataError, match="does not exist"):
        evaluate_clip(tiny_clip, tmp_path / "nope", device="cpu")
    with pytest.raises(ValueError, match="max_items"):
        evaluate_clip(tiny_clip, dataset_dir, max_items=0)


def test_missing_columns_are_named_and_the_flag_column_is_optional(tiny_clip, dataset_dir, tmp_path):
    import datasets

    ds = datasets.load_dataset(str(dataset_dir), split="validation")
    (tmp_path / "no_flags" / "data").mkdir(parents=True)
    ds.remove_columns(["is_eval_representative"]).to_parquet(str(tmp_path / "no_flags/data/validation-00000-of-00001.parquet"))
    result = evaluate_clip(tiny_clip, tmp_path / "no_flags", "validation", device="cpu", zero_shot=False)
    assert result["rows_evaluated"] == len(ds) and result["row_policy"].startswith("all rows")
    (tmp_path / "no_captions" / "data").mkdir(parents=True)
    ds.remove_columns(["captions"]).to_parquet(str(tmp_path / "no_captions/data/validation-00000-of-00001.parquet"))
    with pytest.raises(EvaluationDataError, match=r"split 'validation' has no column 'captions'"):
        evaluate_clip(tiny_clip, tmp_path / "no_captions", "validation", device="cpu")


# ------------------------------------------------------------------------------------------------ real data

def test_rgbt_pairs_real(tiny_clip, shared_data):
    result = evaluate_rgbt_pairs(tiny_clip, shared_data / "rgbt_pairs", max_pairs=12, device="cpu")
    assert set(result["sets"]) == {"llvip", "roadscene"}
    for s in result["sets"].values():
        assert s["n_pairs"] == 12
        assert s["retrieval"]["rgb->ir"]["n_gallery"] == 12 and s["retrieval"]["ir->rgb"]["n_queries"] == 12
        assert 0 <= s["mean_recall"] <= 100
    one = evaluate_rgbt_pairs(tiny_clip, shared_data / "rgbt_pairs" / "llvip", max_pairs=5, device="cpu")
    assert list(one["sets"]) == ["llvip"] and one["sets"]["llvip"]["n_pairs"] == 5
    with pytest.raises(EvaluationDataError, match="no pair set"):
        evaluate_rgbt_pairs(tiny_clip, shared_data / "rgbt_pairs", sets=["flir"], device="cpu")


def test_object_presence_real_hit_uav(tiny_clip, shared_data):
    result = evaluate_object_presence(tiny_clip, shared_data / "hit_uav", "val", max_images=40, device="cpu")
    assert result["n_images"] == 40 and set(result["per_class"]) == {"Person", "Car", "Bicycle", "OtherVehicle"}
    for c in result["per_class"].values():
        assert c["n_positive"] + c["n_negative"] == 40
        assert c["auc"] is None or 0 <= c["auc"] <= 1


def test_object_presence_labels_from_boxes(tiny_clip, tmp_path):
    folder = tmp_path / "hit"
    (folder / "images").mkdir(parents=True)
    objects = [[{"label": "Person", "bbox": [1, 1, 2, 2]}], [{"label": "DontCare", "bbox": [1, 1, 2, 2]}],
               [{"label": "Car", "bbox": [0, 0, 3, 3]}, {"label": "Person", "bbox": [4, 4, 2, 2]}], []]
    lines = []
    for i, objs in enumerate(objects):
        Image.new("L", (24, 20), 40 * i).save(folder / "images" / f"{i}.jpg")
        lines.append(json.dumps({"file": f"images/{i}.jpg", "objects": objs}))
    (folder / "val.jsonl").write_text("\n".join(lines) + "\n")
    result = evaluate_object_presence(tiny_clip, folder, device="cpu")
    counts = {c: (v["n_positive"], v["n_negative"]) for c, v in result["per_class"].items()}
    assert counts == {"Person": (2, 2), "Car": (1, 3), "Bicycle": (0, 4), "OtherVehicle": (0, 4)}
    assert result["per_class"]["Bicycle"]["auc"] is None  # undefined without positives, not 0.5
    (folder / "val.jsonl").write_text("not json\n")
    with pytest.raises(EvaluationDataError, match="line 1"):
        evaluate_object_presence(tiny_clip, folder, device="cpu")


# ------------------------------------------------------------------------------------------------ CLI

def test_cli_eval_clip(tiny_clip, dataset_dir, tmp_path, capsys):
    from fusionrs.cli.main import main

    out = tmp_path / "clip.json"
    code = main(["eval", "clip", "--model", str(tiny_clip), "--data", str(dataset_dir), "--json", str(out),
                 "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Mean Recall (paper" in printed and "ir->caption" in printed and "Zero-shot scenes (2 classes" in printed
    payload = json.loads(out.read_text())
    assert payload["results"]["gallery_sizes"]["images"] == 6 and payload["seed"] == 0
    assert payload["results"]["model"] == str(tiny_clip)
    code = main(["eval", "clip", "--model", str(tiny_clip), "--data", str(dataset_dir), "--split", "test",
                 "--json", str(out), "--device", "cpu"])
    assert code == 2
    assert "no split 'test'" in capsys.readouterr().err
