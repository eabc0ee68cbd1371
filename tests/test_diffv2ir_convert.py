"""The DiffV2IR checkpoint converter on a tiny checkpoint written in the original (CompVis/LDM) key layout."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from fusionrs.translate.pipeline_diffv2ir import DiffV2IRPipeline
from fusionrs.translate.diffv2ir_convert import (
    CheckpointLayoutError,
    CheckpointLoadError,
    convert_diffv2ir_checkpoint,
    load_original_state_dict,
)
from tests.test_diffv2ir import one_torch_thread, tiny_components  # noqa: F401 (autouse fixture)

LAYERS_PER_BLOCK = 1

#: The CompVis config of the tiny components of tests/test_diffv2ir.py, in the layout of DiffV2IR's YAML.
TINY_ORIGINAL_CONFIG = {
    "model": {
        "params": {
            "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000, "scale_factor": 0.18215,
            "unet_config": {"params": {
                "image_size": 8, "in_channels": 12, "out_channels": 4, "model_channels": 32,
                "attention_resolutions": [1], "num_res_blocks": LAYERS_PER_BLOCK, "channel_mult": [1, 2],
                "num_heads": 2, "transformer_depth": 1, "context_dim": 32,
            }},
            "first_stage_config": {"params": {"embed_dim": 4, "ddconfig": {
                "double_z": True, "z_channels": 4, "resolution": 64, "in_channels": 3, "out_ch": 3, "ch": 32,
                "ch_mult": [1, 1, 2, 2], "num_res_blocks": LAYERS_PER_BLOCK, "attn_resolutions": [],
            }}},
        }
    }
}
TINY_TEXT_CONFIG = {"num_attention_heads": 2, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}

# ---------------------------------------------------------------- diffusers -> original names (test only)

_UNET_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
                ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection")]
_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


def _rename_resnet(rest: str) -> str:
    for new, old in _UNET_RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    raise AssertionError(rest)


def ldm_unet_key(key: str, attention_up_blocks: set[int]) -> str:
    """The CompVis UNetModel name of a diffusers UNet2DConditionModel weight (SD-1.x layout)."""
    stride = LAYERS_PER_BLOCK + 1
    head, _, param = key.rpartition(".")
    if head in _UNET_TOP:
        return f"{_UNET_TOP[head]}.{param}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"input_blocks.{1 + int(m[1]) * stride + int(m[2])}.0.{_rename_resnet(m[3])}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        return f"input_blocks.{1 + int(m[1]) * stride + int(m[2])}.1.{m[3]}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"input_blocks.{(int(m[1]) + 1) * stride}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_rename_resnet(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"output_blocks.{int(m[1]) * stride + int(m[2])}.0.{_rename_resnet(m[3])}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", key):
        return f"output_blocks.{int(m[1]) * stride + int(m[2])}.1.{m[3]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        slot = 2 if int(m[1]) in attention_up_blocks else 1
        return f"output_blocks.{int(m[1]) * stride + LAYERS_PER_BLOCK}.{slot}.conv.{m[2]}"
    raise AssertionError(f"unmapped UNet key {key}")


_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def ldm_vae_key(key: str, num_blocks: int) -> str:
    key = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(.+)", key):
        return f"decoder.up.{num_blocks - 1 - int(m[1])}.block.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)", key):
        return f"decoder.up.{num_blocks - 1 - int(m[1])}.upsample.{m[2]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
        return f"{m[1]}.mid.attn_1.{_VAE_ATTENTION[m[2]]}.{m[3]}"
    return key


def original_checkpoint(components: dict) -> dict[str, torch.Tensor]:
    """A DiffV2IR-style state dict: what `LatentDiffusion.state_dict()` holds for these weights."""
    unet, vae, text_encoder = components["unet"], components["vae"], components["text_encoder"]
    attention_up_blocks = {i for i, block in enumerate(unet.up_blocks) if getattr(block, "attentions", None)}
    state = {}
    for key, value in unet.state_dict().items():
        state["model.diffusion_model." + ldm_unet_key(key, attention_up_blocks)] = value.clone()
    for key, value in vae.state_dict().items():
        name = ldm_vae_key(key, len(vae.config.block_out_channels))
        if ".mid.attn_1." in name and value.ndim == 2:
            value = value[:, :, None, None]  # the original attention projections are 1x1 convolutions
        state["first_stage_model." + name] = value.clone()
    for key, value in text_encoder.state_dict().items():
        # FrozenCLIPEmbedder held a transformers-4 CLIPTextModel: its weights sit under `text_model.`.
        key = key if key.startswith("text_model.") else "text_model." + key
        state["cond_stage_model.transformer." + key] = value.clone()
    # Extras a real checkpoint carries: an old-transformers buffer, schedule buffers, EMA copies.
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(16)[None]
    state["betas"] = torch.linspace(0.00085, 0.012, 1000)
    state["model_ema.decay"] = torch.tensor(0.9999)
    return state


def with_ema(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Add LitEma copies (flattened names, here plain weights + 1) as Lightning checkpoints carry them."""
    ema = {"model_ema." + key[len("model."):].replace(".", ""): value + 1
           for key, value in state.items() if key.startswith("model.diffusion_model.")}
    return {**state, **ema}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    components = tiny_components(folder, seed=1)
    components["tokenizer"].save_pretrained(folder / "tokenizer")
    return components, original_checkpoint(components), folder / "tokenizer"


def convert(state_or_path, out, tokenizer, **kwargs):
    return convert_diffv2ir_checkpoint(state_or_path, out, tokenizer=str(tokenizer), original_config=TINY_ORIGINAL_CONFIG,
                                       text_config=TINY_TEXT_CONFIG, **kwargs)


def assert_same_weights(model, reference) -> None:
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key


def test_lightning_checkpoint_converts_to_the_same_weights(tiny, tmp_path):
    components, state, tokenizer = tiny
    ckpt = tmp_path / "diffv2ir.ckpt"
    torch.save({"state_dict": state, "global_step": 1234, "epoch": 3, "pytorch-lightning_version": "1.6.5"}, ckpt)
    out = convert(ckpt, tmp_path / "converted", tokenizer)

    pipe = DiffV2IRPipeline.from_pretrained(out)
    assert pipe.unet.config.in_channels == 12
    assert_same_weights(pipe.unet, components["unet"])  # conv_in keeps all 12 input channels
    assert_same_weights(pipe.vae, components["vae"])
    assert_same_weights(pipe.text_encoder, components["text_encoder"])
    assert pipe.vae.config.scaling_factor == pytest.approx(0.18215)
    assert (pipe.scheduler.config.beta_start, pipe.scheduler.config.beta_end) == (0.00085, 0.012)
    assert sorted(p.name for p in out.glob("*/*.safetensors")) and not list(out.glob("*/*.bin"))

    # And it samples exactly like the unconverted components.
    reference = DiffV2IRPipeline(**components)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    outputs = [p(image, num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0)).images
               for p in (pipe, reference)]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)


def test_safetensors_checkpoint_is_accepted(tiny, tmp_path):
    from safetensors.torch import save_file

    components, state, tokenizer = tiny
    path = tmp_path / "diffv2ir.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    assert load_original_state_dict(path).keys() == state.keys()
    pipe = DiffV2IRPipeline.from_pretrained(convert(path, tmp_path / "out", tokenizer))
    assert_same_weights(pipe.unet, components["unet"])


def test_ema_copies_are_used_when_present_unless_plain_is_asked(tiny, tmp_path):
    components, state, tokenizer = tiny
    ema_state = with_ema(state)
    ema = DiffV2IRPipeline.from_pretrained(convert(ema_state, tmp_path / "ema", tokenizer)).unet.state_dict()
    plain = DiffV2IRPipeline.from_pretrained(convert(ema_state, tmp_path / "plain", tokenizer, extract_ema=False)).unet
    reference = components["unet"].state_dict()
    assert all(torch.equal(ema[key], reference[key] + 1) for key in reference)
    assert_same_weights(plain, components["unet"])
    with pytest.raises(CheckpointLayoutError, match="EMA"):
        convert(state, tmp_path / "none", tokenizer, extract_ema=True)


class _NotATensor:  # anything a weights-only unpickler must refuse
    pass


def test_pickles_with_objects_are_refused_with_a_way_out(tiny, tmp_path):
    _, state, _ = tiny
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": _NotATensor()}, path)
    with pytest.raises(CheckpointLoadError, match="weights_only=True") as info:
        load_original_state_dict(path)
    assert "safetensors" in str(info.value) and "never unpickles" in str(info.value)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)


def test_wrong_layouts_are_refused(tiny, tmp_path):
    components, state, tokenizer = tiny
    with pytest.raises(CheckpointLayoutError, match="cond_stage_model.transformer."):
        convert({k: v for k, v in state.items() if not k.startswith("cond_stage_model.")}, tmp_path / "a", tokenizer)
    plain = dict(state)
    weight = plain["model.diffusion_model.input_blocks.0.0.weight"]
    plain["model.diffusion_model.input_blocks.0.0.weight"] = weight[:, :8].clone()  # InstructPix2Pix-like
    with pytest.raises(CheckpointLayoutError, match="12"):
        convert(plain, tmp_path / "b", tokenizer)
    with pytest.raises(CheckpointLoadError, match="not a readable"):
        bad = tmp_path / "garbage.ckpt"
        bad.write_bytes(b"not a checkpoint")
        load_original_state_dict(bad)


def test_existing_output_is_kept_unless_overwrite(tiny, tmp_path):
    _, state, tokenizer = tiny
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert(state, out, tokenizer)
    with pytest.raises(FileExistsError, match="not written by fusionrs"):  # a foreign folder: never replaced
        convert(state, out, tokenizer, overwrite=True)
    assert (out / "keep.txt").read_text() == "x"
    (out / "keep.txt").unlink()
    convert(state, out, tokenizer)
    (out / "stale.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert(state, out, tokenizer)
    convert(state, out, tokenizer, overwrite=True)  # a folder fusionrs wrote: replaced
    assert (out / "model_index.json").is_file() and not (out / "stale.txt").exists()


def test_cli_converts_and_reports_refusals(tiny, tmp_path, capsys):
    import yaml
    from safetensors.torch import save_file

    from fusionrs.cli.main import main

    _, state, tokenizer = tiny
    config = tmp_path / "generate.yaml"
    config.write_text(yaml.safe_dump(TINY_ORIGINAL_CONFIG))
    path = tmp_path / "diffv2ir.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    # The tiny text encoder's head count is not readable from its weights; the CLI assumes CLIP's 64-wide heads.
    rc = main(["convert-diffv2ir", str(path), "--out", str(tmp_path / "cli"), "--tokenizer", str(tokenizer),
               "--config", str(config)])
    assert rc == 0 and "diffv2ir:" in capsys.readouterr().out
    assert (tmp_path / "cli" / "unet" / "config.json").is_file()

    bad = tmp_path / "object.ckpt"
    torch.save({"state_dict": {}, "callback": _NotATensor()}, bad)
    assert main(["convert-diffv2ir", str(bad), "--out", str(tmp_path / "x"), "--tokenizer", str(tokenizer)]) == 2
    assert "weights_only=True" in capsys.readouterr().err
