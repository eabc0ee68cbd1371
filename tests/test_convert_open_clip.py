"""open_clip -> transformers CLIPModel conversion, checked against outputs of real open_clip.

The fixture in tests/data/open_clip/ was written once by tests/data/make_open_clip_fixture.py in a
throwaway environment with open_clip installed; these tests run without open_clip or torchvision.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from fusionrs.clip.convert_open_clip import (
    ARCHS,
    OpenClipConversionError,
    clip_config_from_arch,
    convert_open_clip_checkpoint,
    convert_state_dict,
    load_arch,
    load_open_clip_state_dict,
)

FIXTURE = Path(__file__).resolve().parent / "data" / "open_clip"
WEIGHTS = FIXTURE / "tiny_open_clip.safetensors"
ARCH = FIXTURE / "tiny_config.json"
ACTS = {"quick_gelu": True, "gelu": False}
ATOL = 1e-5


@pytest.fixture(scope="module")
def reference() -> dict:
    return load_file(str(FIXTURE / "reference.safetensors"))


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads((FIXTURE / "reference.json").read_text())


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    """The tiny fixture converted once per activation (float32, so maths match open_clip's fp32 run)."""
    root = tmp_path_factory.mktemp("converted")
    return {
        tag: convert_open_clip_checkpoint(WEIGHTS, root / tag, arch=ARCH, quick_gelu=quick, dtype="float32")
        for tag, quick in ACTS.items()
    }


def _load(folder: Path):
    from transformers import AutoModel, AutoProcessor

    model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert not any(info[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    return model.eval(), AutoProcessor.from_pretrained(folder)


def _first_eot(ids: torch.Tensor) -> torch.Tensor:
    return (ids == 49407).int().argmax(dim=-1)


def test_fixture_is_small_and_complete(meta):
    total = sum(path.stat().st_size for path in FIXTURE.rglob("*") if path.is_file())
    assert total < 2_000_000
    assert meta["open_clip_version"] and len(meta["texts"]) == 5
    for name in ("tiny_open_clip.safetensors", "tiny_config.json", "vit_b_32_layout.json", *meta["images"]):
        assert (FIXTURE / name).is_file(), name


@pytest.mark.parametrize("tag", list(ACTS))
def test_converted_model_reproduces_open_clip(converted, reference, tag):
    model, _ = _load(converted[tag])
    assert model.config.text_config.hidden_act == tag == model.config.vision_config.hidden_act
    pixels, ids = reference["pixel_values"], reference["input_ids"]
    with torch.no_grad():
        image = model.get_image_features(pixel_values=pixels).pooler_output
        text = model.get_text_features(input_ids=ids).pooler_output
        outputs = model(input_ids=ids, pixel_values=pixels)
    torch.testing.assert_close(image, reference[f"image_embeds_{tag}"], atol=ATOL, rtol=0)
    torch.testing.assert_close(text, reference[f"text_embeds_{tag}"], atol=ATOL, rtol=0)
    torch.testing.assert_close(outputs.image_embeds, reference[f"image_embeds_normalized_{tag}"], atol=ATOL, rtol=0)
    torch.testing.assert_close(outputs.text_embeds, reference[f"text_embeds_normalized_{tag}"], atol=ATOL, rtol=0)
    torch.testing.assert_close(outputs.logits_per_image, reference[f"logits_per_image_{tag}"], atol=ATOL, rtol=1e-5)
    # The activation is not in the weights, so the flag must matter: the other one is far off.
    other = "gelu" if tag == "quick_gelu" else "quick_gelu"
    assert (image - reference[f"image_embeds_{other}"]).abs().max() > 1e-3


def test_tokenizer_reproduces_open_clip_ids(converted, reference, meta):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted["gelu"])
    assert len(tokenizer) == 49408 and tokenizer.bos_token_id == 49406 and tokenizer.eos_token_id == 49407
    ids = tokenizer(meta["texts"], padding="max_length", truncation=True, return_tensors="pt")["input_ids"]
    expected = reference["input_ids"]
    assert ids.shape == expected.shape == (5, 77)
    ends = _first_eot(expected)
    assert torch.equal(_first_eot(ids), ends)
    for row, end in enumerate(ends.tolist()):
        # Identical up to <|endoftext|>; after it open_clip pads with 0 and we with <|endoftext|> (never read).
        assert ids[row, : end + 1].tolist() == expected[row, : end + 1].tolist()
        assert set(ids[row, end + 1 :].tolist()) <= {49407} and set(expected[row, end + 1 :].tolist()) <= {0}
    assert ends[-1] == 76  # the long text is truncated with <|endoftext|> kept last, as open_clip does
    assert (converted["gelu"] / "vocab.json").is_file()
    assert (converted["gelu"] / "merges.txt").read_text().startswith("#version")


def test_text_embeddings_through_our_tokenizer_match(converted, reference, meta):
    model, processor = _load(converted["quick_gelu"])
    inputs = processor(text=meta["texts"], padding="max_length", truncation=True, return_tensors="pt")
    with torch.no_grad():
        text = model.get_text_features(**inputs).pooler_output
    torch.testing.assert_close(text, reference["text_embeds_quick_gelu"], atol=ATOL, rtol=0)


def test_image_processor_matches_open_clip_preprocess(converted, reference, meta):
    model, processor = _load(converted["quick_gelu"])
    images = [Image.open(FIXTURE / name) for name in meta["images"]]
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    expected = reference["pixel_values"]
    # Images 0 (48x40) and 1 (square): open_clip's eval transform reproduced exactly (looser 1e-5 allows for
    # float rounding in the normalisation order).
    torch.testing.assert_close(pixels[:2], expected[:2], atol=ATOL, rtol=0)
    with torch.no_grad():
        image = model.get_image_features(pixel_values=pixels[:1]).pooler_output
    torch.testing.assert_close(image, reference["image_embeds_quick_gelu"][:1], atol=ATOL, rtol=0)
    # Image 2 (37x50 -> 32x43): torchvision centres the crop with round-half-even (top 6), transformers with
    # floor (top 5), so the crop window is one row higher - documented in docs/convert_clip.md.
    assert (pixels[2] - expected[2]).abs().max() > 0.1
    torch.testing.assert_close(pixels[2][:, 1:, :], expected[2][:, :-1, :], atol=ATOL, rtol=0)


def test_every_key_of_real_vit_b_32_is_mapped():
    layout = json.loads((FIXTURE / "vit_b_32_layout.json").read_text())["state_dict_shapes"]
    assert len(layout) == 302
    # Meta tensors: shapes only, no memory; convert_state_dict consumes every key it maps.
    state = {key: torch.empty(shape, device="meta") for key, shape in layout.items()}
    config = clip_config_from_arch(load_arch("ViT-B-32"))
    weights, dropped = convert_state_dict(state, config, consume=True)
    assert state == {} and dropped == []
    from transformers import CLIPModel

    with torch.device("meta"):
        expected = {key: tuple(value.shape) for key, value in CLIPModel(config).state_dict().items()}
    assert {key: tuple(value.shape) for key, value in weights.items()} == expected
    assert weights["text_projection.weight"].shape == (512, 512) and weights["visual_projection.weight"].shape == (512, 768)


def test_cli_lists_the_presets():
    from fusionrs.cli.convert_clip import ARCH_NAMES
    from fusionrs.clip.convert_open_clip import list_archs

    assert list(ARCH_NAMES) == list_archs()


def test_presets_give_the_published_sizes():
    sizes = {name: clip_config_from_arch(load_arch(name)) for name in ARCHS}
    assert sizes["ViT-H-14"].vision_config.num_attention_heads == 16  # head_width 80
    assert sizes["ViT-H-14"].vision_config.intermediate_size == 5120
    assert sizes["ViT-L-14"].text_config.hidden_size == 768 and sizes["ViT-L-14"].projection_dim == 768
    assert sizes["ViT-B-16"].vision_config.patch_size == 16
    assert {name: config.text_config.hidden_act for name, config in sizes.items()} == {
        "ViT-B-32": "quick_gelu", "ViT-B-16": "quick_gelu", "ViT-L-14": "quick_gelu", "ViT-H-14": "gelu"}
    assert clip_config_from_arch(load_arch("ViT-B-32"), quick_gelu=False).vision_config.hidden_act == "gelu"


def test_pickled_checkpoints_wrappers_and_dtype(tmp_path, reference):
    plain = load_file(str(WEIGHTS))
    torch.save(plain, tmp_path / "plain.pt")  # what RemoteCLIP / GeoRSCLIP publish
    wrapped = {"epoch": 3, "name": "run", "state_dict": {"module." + key: value for key, value in plain.items()}}
    wrapped["state_dict"]["module.attn_mask"] = torch.full((77, 77), float("-inf")).triu(1)
    torch.save(wrapped, tmp_path / "training.pt")  # open_clip training checkpoint from DDP, old causal-mask buffer
    assert load_open_clip_state_dict(tmp_path / "plain.pt").keys() == plain.keys()

    out = convert_open_clip_checkpoint(tmp_path / "training.pt", tmp_path / "out", arch=ARCH, quick_gelu=True)
    conversion = json.loads((out / "conversion.json").read_text())
    assert conversion["dropped_non_weight_keys"] == ["attn_mask"] and conversion["dtype"] == "float16"
    assert len(conversion["source_sha256"]) == 64
    model, _ = _load(out)
    assert model.dtype == torch.float16  # "auto" keeps the checkpoint's dtype
    with torch.no_grad():
        text = model.float().get_text_features(input_ids=reference["input_ids"]).pooler_output
    torch.testing.assert_close(text, reference["text_embeds_quick_gelu"], atol=ATOL, rtol=0)


def test_refuses_arbitrary_pickles(tmp_path):
    weights = load_file(str(WEIGHTS))
    torch.save({"state_dict": weights, "args": argparse.Namespace(lr=1e-4)}, tmp_path / "with_object.pt")
    with pytest.raises(OpenClipConversionError, match="refused.*weights_only=True"):
        load_open_clip_state_dict(tmp_path / "with_object.pt")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(OpenClipConversionError, match="notes.pt: not a PyTorch checkpoint"):
        load_open_clip_state_dict(tmp_path / "notes.pt")
    with pytest.raises(FileNotFoundError):
        load_open_clip_state_dict(tmp_path / "absent.pt")


def _tiny_config():
    return clip_config_from_arch(load_arch(ARCH))


def test_refuses_unknown_keys():
    state = load_file(str(WEIGHTS))
    state["visual.transformer.resblocks.0.ls_1.gamma"] = torch.ones(32)
    state["logit_bias"] = torch.zeros(())
    with pytest.raises(OpenClipConversionError, match=r"2 checkpoint key\(s\).*logit_bias, visual\.transformer\.resblocks\.0\.ls_1\.gamma"):
        convert_state_dict(state, _tiny_config())


def test_refuses_missing_and_mismatched_weights():
    state = load_file(str(WEIGHTS))
    del state["visual.ln_post.bias"]
    with pytest.raises(OpenClipConversionError, match=r"1 CLIPModel weight\(s\) not in the checkpoint: vision_model\.post_layernorm\.bias"):
        convert_state_dict(state, _tiny_config())
    with pytest.raises(OpenClipConversionError, match=r"77 shape mismatch.*positional_embedding -> text_model\.embeddings\."
                                                     r"position_embedding\.weight: checkpoint \(77, 8\) vs architecture \(77, 512\)"
                                                     r".*The checkpoint has vision width 32 x 2 layers.*is --arch right"):
        convert_state_dict(load_file(str(WEIGHTS)), clip_config_from_arch(load_arch("ViT-B-32")))


def test_refuses_layouts_clipmodel_cannot_hold(tmp_path):
    cfg = json.loads(ARCH.read_text())
    cfg["vision_cfg"]["ls_init_value"] = 1e-5
    (tmp_path / "layer_scale.json").write_text(json.dumps(cfg))
    with pytest.raises(OpenClipConversionError, match="vision_cfg: ls_init_value=1e-05 changes the network"):
        load_arch(tmp_path / "layer_scale.json")
    with pytest.raises(OpenClipConversionError, match="unknown architecture 'ViT-Q-99'"):
        load_arch("ViT-Q-99")
    resnet = {"embed_dim": 1024, "vision_cfg": {"layers": [3, 4, 6, 3], "width": 64}, "text_cfg": {}}
    with pytest.raises(OpenClipConversionError, match="ResNet"):
        load_arch(resnet)


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        convert_open_clip_checkpoint(WEIGHTS, tmp_path / "out", arch=ARCH)
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_cli_converts_and_reports_errors_in_one_line(tmp_path, capsys):
    fusionrs = shutil.which("fusionrs", path=str(Path(sys.executable).parent)) or "fusionrs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [fusionrs, "convert-clip", "--open-clip", str(WEIGHTS), "--arch", str(ARCH), "--out", str(tmp_path / "cli"),
         "--gelu", "--dtype", "float32"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "activation gelu" in result.stdout and "fusionrs train clip --init" in result.stdout
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["text_config"]["hidden_act"] == "gelu"

    from fusionrs.cli.main import main

    capsys.readouterr()
    assert main(["convert-clip", "--open-clip", str(WEIGHTS), "--arch", "ViT-L-14", "--out", str(tmp_path / "bad")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("fusionrs convert-clip: error: the checkpoint does not fit")
    assert "The checkpoint has vision width 32 x 2 layers" in error and "is --arch right?" in error


FULL_SIZE = os.environ.get("FUSIONRS_OPEN_CLIP_FULL_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not FULL_SIZE, reason="set FUSIONRS_OPEN_CLIP_FULL_SIZE to files from make_open_clip_fixture.py --full-size")
@pytest.mark.parametrize("name", ["ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-H-14"])
def test_full_size_presets_match_open_clip(tmp_path, name):
    from transformers import CLIPModel

    folder = Path(FULL_SIZE)
    # ViT-H-14 was written with 2 layers per tower (real widths, head_width 80): its own config file.
    arch = folder / f"{name}.json" if name == "ViT-H-14" else name
    out = convert_open_clip_checkpoint(folder / f"{name}.pt", tmp_path / name, arch=arch, hash_source=False)
    reference = torch.load(folder / f"{name}_ref.pt", weights_only=True)
    model = CLIPModel.from_pretrained(out).eval()
    with torch.no_grad():
        image = model.get_image_features(pixel_values=reference["pixel_values"]).pooler_output
        text = model.get_text_features(input_ids=reference["input_ids"]).pooler_output
    torch.testing.assert_close(image, reference["image"], atol=ATOL, rtol=0)
    torch.testing.assert_close(text, reference["text"], atol=ATOL, rtol=0)
