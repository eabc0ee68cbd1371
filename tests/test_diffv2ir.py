"""DiffV2IRPipeline and the diffv2ir translator on tiny random components (32-64 px)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fusionrs.translate.pipeline_diffv2ir import (
    DEFAULT_EDIT_PROMPT,
    DiffV2IRPipeline,
    caption_prompt,
    compvis_sigmas,
    diffv2ir_scheduler,
)
from fusionrs.translate.base import Translator
from fusionrs.translate.diffv2ir_translator import DiffV2IRTranslator, image_seed, working_size

TOKEN_LENGTH = 16


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy machine idle OpenMP threads spin (100x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_tokenizer(folder):
    """A CLIPTokenizer over single letters: enough to turn prompts into distinct ids offline."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=TOKEN_LENGTH)


def tiny_components(folder, seed: int = 0) -> dict:
    """SD-1.x-shaped but tiny: GroupNorm(32)-compatible widths, so the same layout converts from LDM keys."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=12, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=2,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, block_out_channels=(32, 32, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=54, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=TOKEN_LENGTH, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    return {"vae": vae, "text_encoder": text_encoder, "tokenizer": tiny_tokenizer(folder), "unet": unet,
            "scheduler": diffv2ir_scheduler()}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    pipeline = DiffV2IRPipeline(**tiny_components(tmp_path_factory.mktemp("tok")))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="module")
def pipe_dir(pipe, tmp_path_factory):
    folder = tmp_path_factory.mktemp("diffv2ir")
    pipe.save_pretrained(folder)
    return folder


def rgb(seed: int, size=(32, 32)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def run(pipe, image, seed=0, **kwargs):
    return pipe(image, num_inference_steps=kwargs.pop("num_inference_steps", 3),
                generator=torch.Generator().manual_seed(seed), **kwargs).images


# ------------------------------------------------------------------------------------ schedule


def k_diffusion_sigmas_by_hand(steps: int) -> np.ndarray:
    """CompVisDenoiser.get_sigmas(steps) written out: SD's betas, sigma(t), log-linear at fractional t."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1 - betas)
    log_sigmas = np.log(np.sqrt((1 - alphas_cumprod) / alphas_cumprod))
    sigmas = []
    for t in np.linspace(999, 0, steps):
        low, high = int(np.floor(t)), int(np.ceil(t))
        w = t - low
        sigmas.append(np.exp((1 - w) * log_sigmas[low] + w * log_sigmas[high]))
    return np.array(sigmas + [0.0])


def test_sigma_schedule_equals_k_diffusion_discretisation():
    scheduler = diffv2ir_scheduler()
    scheduler.set_timesteps(20)
    ours = compvis_sigmas(scheduler.alphas_cumprod, 20).numpy()
    expected = k_diffusion_sigmas_by_hand(20)
    assert ours.shape == (21,)
    np.testing.assert_allclose(ours, expected, rtol=2e-5, atol=0)
    assert ours[0] == pytest.approx(14.6146, abs=1e-3) and ours[-2] == pytest.approx(0.02916, abs=1e-4)
    # The UNet sees t = linspace(999, 0, n), which is what CompVisDenoiser.sigma_to_t gives back.
    np.testing.assert_allclose(scheduler.timesteps.numpy(), np.linspace(999, 0, 20), atol=1e-3)
    # Start noise is sigma_max (k-diffusion: randn * sigmas[0]), not sqrt(sigma_max^2 + 1).
    assert float(scheduler.init_noise_sigma) == pytest.approx(float(scheduler.sigmas.max()))


def test_pipeline_samples_on_the_compvis_sigmas(pipe):
    run(pipe, rgb(0), num_inference_steps=4)
    np.testing.assert_allclose(pipe.scheduler.sigmas.numpy(), k_diffusion_sigmas_by_hand(4), rtol=2e-5)


# ------------------------------------------------------------------------------------ guidance


def test_guidance_arithmetic_by_hand():
    # Passes in DiffV2IR's order: (text, image, seg), (-, image, seg), (-, -, seg), (-, -, -).
    full, image_seg, seg, uncond = 10.0, 4.0, 3.0, 1.0
    noise = torch.tensor([full, image_seg, seg, uncond]).view(4, 1, 1, 1).expand(4, 4, 2, 2)
    out = DiffV2IRPipeline.combine_guidance(noise, 7.5, 1.5, 1.5)
    # 1 + 7.5 * (10 - 4) + 1.5 * (4 - 3) + 1.5 * (3 - 1) = 1 + 45 + 1.5 + 3
    assert out.shape == (1, 4, 2, 2)
    assert torch.allclose(out, torch.full((1, 4, 2, 2), 50.5))
    # With every scale 1 the terms telescope to the fully conditioned prediction.
    assert torch.allclose(DiffV2IRPipeline.combine_guidance(noise, 1.0, 1.0, 1.0), torch.full((1, 4, 2, 2), full))


def test_batched_passes_carry_the_conditions_in_diffv2ir_order(pipe):
    seen = {}

    def capture(module, args, kwargs):
        seen.setdefault("sample", args[0].clone())
        seen.setdefault("text", kwargs["encoder_hidden_states"].clone())

    handle = pipe.unet.register_forward_pre_hook(capture, with_kwargs=True)
    try:
        seg = Image.new("RGB", (32, 32), (255, 0, 0))
        run(pipe, rgb(1), segmentation_map=seg, num_inference_steps=1, prompt="hot roofs")
    finally:
        handle.remove()
    sample, text = seen["sample"], seen["text"]
    assert sample.shape == (4, 12, 4, 4) and text.shape == (4, TOKEN_LENGTH, 32)
    noisy, image, segmentation = sample[:, :4], sample[:, 4:8], sample[:, 8:]
    assert all(torch.equal(noisy[0], noisy[i]) for i in range(4))  # one latent, four conditionings
    assert torch.equal(image[0], image[1]) and image[0].abs().sum() > 0 and not image[2:].any()
    assert torch.equal(segmentation[0], segmentation[2]) and segmentation[0].abs().sum() > 0 and not segmentation[3].any()
    assert not torch.equal(image[0], segmentation[0])
    assert not torch.equal(text[0], text[1]) and torch.equal(text[1], text[2]) and torch.equal(text[2], text[3])


def test_condition_latents_are_unscaled_posterior_modes(pipe):
    pixels = pipe.image_processor.preprocess(rgb(2), height=32, width=32)
    expected = pipe.vae.encode(pixels).latent_dist.mode()
    assert torch.allclose(pipe.encode_condition(pixels), expected)


# ------------------------------------------------------------------------------------ end to end


def test_shapes_and_output_types(pipe):
    images = run(pipe, rgb(3), prompt=caption_prompt("a harbour with ships"))
    assert len(images) == 1 and images[0].size == (32, 32) and images[0].mode == "RGB"
    array = run(pipe, rgb(3, (48, 32)), output_type="np")
    assert array.shape == (1, 32, 48, 3) and 0 <= array.min() and array.max() <= 1
    latents = run(pipe, rgb(3), output_type="latent", height=64, width=64)
    assert latents.shape == (1, 4, 8, 8)


def test_same_seed_same_image_other_seed_other_image(pipe):
    image = rgb(4)
    first, again, other = (np.asarray(run(pipe, image, seed=s)[0]) for s in (7, 7, 8))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_batch_with_one_generator_per_image_matches_single_runs(pipe):
    a, b = rgb(5), rgb(6)
    batch = pipe([a, b], num_inference_steps=3, output_type="np",
                 generator=[torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]).images
    single = run(pipe, b, seed=2, output_type="np")
    np.testing.assert_allclose(batch[1], single[0], atol=1e-4)


def test_guidance_scales_and_segmentation_change_the_result(pipe):
    image = rgb(9)
    base = np.asarray(run(pipe, image, output_type="np"))
    assert not np.allclose(base, run(pipe, image, output_type="np", segmentation_guidance_scale=4.0))
    assert not np.allclose(base, run(pipe, image, output_type="np", segmentation_map=Image.new("RGB", (32, 32), "white")))


def test_bad_inputs_are_refused(pipe):
    with pytest.raises(ValueError, match="segmentation maps"):
        pipe([rgb(0), rgb(1)], segmentation_map=[rgb(2)], num_inference_steps=1)
    with pytest.raises(ValueError, match="multiples of 8"):
        pipe(rgb(0), height=30, width=32, num_inference_steps=1)
    with pytest.raises(ValueError, match="num_inference_steps"):
        pipe(rgb(0), num_inference_steps=0)
    with pytest.raises(ValueError, match="generators"):
        pipe(rgb(0), generator=[torch.Generator(), torch.Generator()], num_inference_steps=1)


def test_unet_without_twelve_channels_is_refused(tmp_path):
    from diffusers import UNet2DConditionModel

    components = tiny_components(tmp_path)
    components["unet"] = UNet2DConditionModel(
        sample_size=8, in_channels=8, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=2,
    )
    with pytest.raises(ValueError, match="12 input channels"):
        DiffV2IRPipeline(**components)(rgb(0), num_inference_steps=1)


def test_saved_folder_reloads_with_the_same_output(pipe, pipe_dir):
    reloaded = DiffV2IRPipeline.from_pretrained(pipe_dir)
    reloaded.set_progress_bar_config(disable=True)
    assert reloaded.scheduler.config.timestep_spacing == "linspace"
    np.testing.assert_allclose(run(reloaded, rgb(10), output_type="np"), run(pipe, rgb(10), output_type="np"), atol=1e-5)


# ------------------------------------------------------------------------------------ translator


def test_working_size_follows_diffv2ir():
    assert working_size(256, 256, 512) == (512, 512)
    assert working_size(640, 480, 512) == (512, 384)  # long side ~resolution, both multiples of 64
    assert working_size(40, 40, 64) == (64, 64)


def test_translator_is_per_image_deterministic(pipe_dir):
    translator = DiffV2IRTranslator(pipe_dir, steps=2, resolution=64)
    assert isinstance(translator, Translator)
    a, b = rgb(11, (40, 40)), rgb(12, (64, 48))
    pair = translator.translate([a, b])
    alone = translator.translate([b])
    assert [im.mode for im in pair] == ["L", "L"] and pair[0].size == (40, 40) and pair[1].size == (64, 48)
    assert np.array_equal(np.asarray(pair[1]), np.asarray(alone[0]))
    assert image_seed(a) != image_seed(b) and image_seed(a, 1) != image_seed(a)
    json.dumps(translator.params)
    assert translator.params["segmentation"] == "blank" and translator.params["prompt"] == DEFAULT_EDIT_PROMPT


def test_translator_hooks_for_segmentation_and_caption(pipe_dir):
    calls = []

    def sam_masks(image):
        calls.append("seg")
        return Image.new("RGB", image.size, (0, 255, 0))

    def blip(image):
        calls.append("caption")
        return "a runway"

    translator = DiffV2IRTranslator(pipe_dir, steps=1, resolution=64, segmenter=sam_masks, captioner=blip)
    plain = DiffV2IRTranslator(pipe_dir, steps=1, resolution=64)
    hooked = translator.translate([rgb(13)])[0]
    assert calls == ["seg", "caption"] and translator.params["segmentation"] == "sam_masks"
    assert not np.array_equal(np.asarray(hooked), np.asarray(plain.translate([rgb(13)])[0]))


def test_translator_spec_parsing(pipe_dir, tmp_path):
    translator = DiffV2IRTranslator.from_spec(f"diffv2ir:{pipe_dir};steps=4;resolution=256;seed=3")
    assert (translator.steps, translator.resolution, translator.seed) == (4, 256, 3)
    with pytest.raises(ValueError, match="bad option"):
        DiffV2IRTranslator.from_spec(f"diffv2ir:{pipe_dir};stepz=4")
    with pytest.raises(FileNotFoundError, match="convert-diffv2ir"):
        DiffV2IRTranslator.from_spec(f"diffv2ir:{tmp_path}")


def test_scheduler_step_is_k_diffusion_euler_ancestral():
    """One step of k-diffusion's sample_euler_ancestral, written out, against the scheduler's step."""
    scheduler = diffv2ir_scheduler()
    scheduler.set_timesteps(5)
    scheduler.sigmas = compvis_sigmas(scheduler.alphas_cumprod, 5)
    x, eps = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0)), torch.randn(1, 4, 4, 4)
    out = scheduler.step(eps, scheduler.timesteps[0], x, generator=torch.Generator().manual_seed(1)).prev_sample

    sigma, sigma_next = scheduler.sigmas[0], scheduler.sigmas[1]
    denoised = x - sigma * eps  # CompVisDenoiser: input + eps * c_out, c_out = -sigma
    sigma_up = (sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2) ** 0.5
    sigma_down = (sigma_next**2 - sigma_up**2) ** 0.5
    expected = x + (x - denoised) / sigma * (sigma_down - sigma)
    expected = expected + torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1)) * sigma_up
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
