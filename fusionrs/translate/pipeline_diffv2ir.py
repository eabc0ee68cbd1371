"""DiffV2IR (Ran et al., arXiv 2503.19012) as a diffusers pipeline: RGB + segmentation map + prompt -> IR.

The model is an InstructPix2Pix-style SD-1.x latent diffusion model whose UNet sees 12 channels:
the noisy latent, the RGB image latent and the segmentation-map latent. Sampling follows DiffV2IR's
public inference script (`infer.py`; see docs/diffv2ir.md):

- condition latents are the VAE posterior *mode*, unscaled (no 0.18215), unconditional ones are zeros;
- four UNet passes per step in one batch: (text, image, seg), (-, image, seg), (-, -, seg), (-, -, -);
- guidance  e = e_uncond + s_text (e_full - e_img) + s_image (e_img - e_seg) + s_seg (e_seg - e_uncond);
- k-diffusion Euler ancestral over CompVis sigmas (`CompVisDenoiser.get_sigmas(steps)`), started
  from noise * sigma_max, final latent divided by the VAE scaling factor before decoding.

The guidance weights sum to one, so combining epsilons (here) equals combining the denoised
estimates (k-diffusion's wrapper): x - sigma * e is affine in e.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, EulerAncestralDiscreteScheduler, UNet2DConditionModel
from diffusers.image_processor import PipelineImageInput, VaeImageProcessor
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTextModel, CLIPTokenizer

__all__ = [
    "DEFAULT_EDIT_PROMPT",
    "DiffV2IRPipeline",
    "DiffV2IRPipelineOutput",
    "caption_prompt",
    "compvis_sigmas",
    "diffv2ir_scheduler",
]

#: The edit instruction of DiffV2IR's inference script when no caption is used.
DEFAULT_EDIT_PROMPT = "turn the RGB image into the infrared one"


def caption_prompt(caption: str) -> str:
    """The prompt DiffV2IR builds from a BLIP caption of the RGB image.

    Args:
        caption: the image caption, e.g. "a road between fields".

    Returns:
        The edit prompt "turn the visible image of {caption} into infrared".
    """
    return f"turn the visible image of {caption} into infrared"


def diffv2ir_scheduler(
    beta_start: float = 0.00085, beta_end: float = 0.012, num_train_timesteps: int = 1000
) -> EulerAncestralDiscreteScheduler:
    """Euler ancestral over the SD-1.x training schedule (scaled-linear betas 0.00085-0.012, 1000 steps).

    "linspace" spacing gives the timesteps k-diffusion's CompVisDenoiser uses (999 -> 0, evenly
    spaced, fractional) and an initial noise of sigma_max; `compvis_sigmas` fixes the sigma values.

    Args:
        beta_start: the first beta of the scaled-linear schedule (default 0.00085).
        beta_end: the last beta (default 0.012).
        num_train_timesteps: the number of training timesteps T (default 1000).

    Returns:
        A new `EulerAncestralDiscreteScheduler` (scaled-linear betas, epsilon prediction,
        "linspace" timestep spacing).
    """
    return EulerAncestralDiscreteScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_start=beta_start,
        beta_end=beta_end,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        timestep_spacing="linspace",
    )


def compvis_sigmas(alphas_cumprod: torch.Tensor, num_inference_steps: int) -> torch.Tensor:
    """k-diffusion's `CompVisDenoiser.get_sigmas(n)`: n sigmas at t = linspace(T-1, 0, n), plus a final 0.

    Fractional t interpolates *log* sigma between neighbouring training steps (diffusers'
    Euler-ancestral interpolates sigma itself, which differs slightly between integer steps).

    Args:
        alphas_cumprod: the scheduler's cumulative alpha products, shape (T,).
        num_inference_steps: the number of sampling steps n.

    Returns:
        A float32 tensor of shape (n + 1,): decreasing sigmas from sigma_max (at t = T-1) down to
        the sigma at t = 0, then 0.
    """
    sigmas = ((1 - alphas_cumprod.float()) / alphas_cumprod.float()) ** 0.5
    log_sigmas = sigmas.log()
    t = torch.linspace(len(sigmas) - 1, 0, num_inference_steps)
    low, high, w = t.floor().long(), t.ceil().long(), t.frac()
    schedule = ((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp()
    return torch.cat([schedule, schedule.new_zeros(1)])


@dataclass
class DiffV2IRPipelineOutput(BaseOutput):
    """`images`: the translated IR-style images (PIL RGB images or a float array in [0, 1])."""

    images: list[PIL.Image.Image] | np.ndarray


class DiffV2IRPipeline(DiffusionPipeline):
    """Visible-to-infrared translation with DiffV2IR weights.

    Components: an SD-1.x `AutoencoderKL`, a CLIP ViT-L/14 `CLIPTextModel` + `CLIPTokenizer`, a
    `UNet2DConditionModel` with `in_channels=12` and an `EulerAncestralDiscreteScheduler` (use
    `diffv2ir_scheduler()`). A converted checkpoint folder loads with `DiffV2IRPipeline.from_pretrained`.
    """

    model_cpu_offload_seq = "text_encoder->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder: CLIPTextModel,
        tokenizer: CLIPTokenizer,
        unet: UNet2DConditionModel,
        scheduler: EulerAncestralDiscreteScheduler,
    ):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler)
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1) if getattr(self, "vae", None) else 8
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor, do_convert_rgb=True)

    # -- helpers -----------------------------------------------------------------------------------

    def encode_prompt(self, prompt: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states of the CLIP text encoder for `prompt` and for the empty prompt."""

        def embed(texts: list[str]) -> torch.Tensor:
            ids = self.tokenizer(
                texts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
            ).input_ids
            return self.text_encoder(ids.to(device))[0]

        return embed(prompt), embed([""] * len(prompt))

    def encode_condition(self, pixels: torch.Tensor) -> torch.Tensor:
        """Condition latent of an image in [-1, 1]: the posterior mode, *not* scaled (as in training)."""
        pixels = pixels.to(device=self._execution_device, dtype=self.vae.dtype)
        return self.vae.encode(pixels).latent_dist.mode()

    @staticmethod
    def combine_guidance(noise_pred: torch.Tensor, text_scale: float, image_scale: float, seg_scale: float) -> torch.Tensor:
        """Three-way classifier-free guidance over the batched passes (full, image+seg, seg, none)."""
        full, image_seg, seg, uncond = noise_pred.chunk(4)
        return uncond + text_scale * (full - image_seg) + image_scale * (image_seg - seg) + seg_scale * (seg - uncond)

    def check_inputs(self, image, segmentation_map, prompt, num_inference_steps, height, width, generator) -> None:
        images = image if isinstance(image, list) else [image]
        if segmentation_map is not None:
            maps = segmentation_map if isinstance(segmentation_map, list) else [segmentation_map]
            if len(maps) != len(images):
                raise ValueError(f"got {len(images)} images but {len(maps)} segmentation maps")
        if isinstance(prompt, list) and len(prompt) != len(images):
            raise ValueError(f"got {len(images)} images but {len(prompt)} prompts")
        if not isinstance(prompt, (str, list)):
            raise TypeError(f"prompt must be a string or a list of strings, not {type(prompt).__name__}")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive int, got {num_inference_steps!r}")
        if height % self.vae_scale_factor or width % self.vae_scale_factor or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of {self.vae_scale_factor}, got {height}x{width}")
        if isinstance(generator, list) and len(generator) != len(images):
            raise ValueError(f"got {len(images)} images but {len(generator)} generators")
        expected = 3 * self.vae.config.latent_channels
        if self.unet.config.in_channels != expected:
            raise ValueError(f"DiffV2IR needs a UNet with {expected} input channels, this one has {self.unet.config.in_channels}")

    # -- sampling ----------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        image: PipelineImageInput,
        segmentation_map: PipelineImageInput | None = None,
        prompt: str | list[str] = DEFAULT_EDIT_PROMPT,
        num_inference_steps: int = 20,
        text_guidance_scale: float = 7.5,
        image_guidance_scale: float = 1.5,
        segmentation_guidance_scale: float = 1.5,
        height: int | None = None,
        width: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
    ) -> DiffV2IRPipelineOutput | tuple:
        """Translate RGB image(s) to IR-style image(s).

        Args:
            image: RGB image(s) (PIL, numpy or tensor, as diffusers' `VaeImageProcessor` accepts).
            segmentation_map: the segmentation map(s) rendered as RGB images (DiffV2IR uses SAM masks);
                `None` uses a blank (black) map, i.e. "no segments".
            prompt: the edit prompt, e.g. `caption_prompt(blip_caption)`; default `DEFAULT_EDIT_PROMPT`.
            num_inference_steps: Euler-ancestral steps (the paper's dataset used 20).
            text_guidance_scale, image_guidance_scale, segmentation_guidance_scale: the three CFG weights.
            height, width: working size, multiples of 8; default: the first image's size rounded down.
                Inputs of another size are resized and centre-cropped (Lanczos), as DiffV2IR does.
            generator: a generator, or one per image so each image's noise ignores the rest of the batch.
            output_type: "pil", "np" or "pt" (values in [0, 1]) or "latent".
            return_dict: return a `DiffV2IRPipelineOutput` (True) or a plain tuple.

        Returns:
            `DiffV2IRPipelineOutput(images=...)`, or `(images,)` when `return_dict` is False:
            PIL RGB images, a numpy array or a tensor in [0, 1] as `output_type` asks, or the final
            (unscaled) latents for "latent"; one per input image.

        Raises:
            ValueError: when the numbers of images, segmentation maps, prompts or generators
                differ, `num_inference_steps` is not a positive int, height/width are not positive
                multiples of the VAE scale factor, or the UNet does not take 3 x latent channels.
            TypeError: when `prompt` is neither a string nor a list of strings.
        """
        # 1. Defaults and input checks
        images = image if isinstance(image, list) else [image]
        if height is None or width is None:
            default_height, default_width = self.image_processor.get_default_height_width(images[0])
            height, width = height or default_height, width or default_width
        self.check_inputs(image, segmentation_map, prompt, num_inference_steps, height, width, generator)
        batch_size = len(images)
        prompts = [prompt] * batch_size if isinstance(prompt, str) else list(prompt)
        device = self._execution_device

        # 2. Text conditions: the prompt and the empty prompt
        text_embeds, null_embeds = self.encode_prompt(prompts, device)

        # 3. Image and segmentation conditions (VAE posterior modes); unconditional = zeros
        pixels = self.image_processor.preprocess(image, height=height, width=width, resize_mode="crop")
        if segmentation_map is None:
            segmentation_pixels = -torch.ones_like(pixels)
        else:
            segmentation_pixels = self.image_processor.preprocess(segmentation_map, height=height, width=width, resize_mode="crop")
        image_latents = self.encode_condition(pixels)
        segmentation_latents = self.encode_condition(segmentation_pixels)
        zeros = torch.zeros_like(image_latents)

        # The four passes, in DiffV2IR's order: (text, image, seg), (-, image, seg), (-, -, seg), (-, -, -)
        cfg_text = torch.cat([text_embeds, null_embeds, null_embeds, null_embeds])
        cfg_image = torch.cat([image_latents, image_latents, zeros, zeros])
        cfg_segmentation = torch.cat([segmentation_latents, segmentation_latents, segmentation_latents, zeros])

        # 4. Timesteps and k-diffusion's CompVis sigmas
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        if isinstance(self.scheduler, EulerAncestralDiscreteScheduler):
            self.scheduler.sigmas = compvis_sigmas(self.scheduler.alphas_cumprod, num_inference_steps)
        timesteps = self.scheduler.timesteps

        # 5. Initial noise, scaled by sigma_max
        latents = randn_tensor(image_latents.shape, generator=generator, device=device, dtype=image_latents.dtype)
        latents = latents * self.scheduler.sigmas[0].to(device=device, dtype=latents.dtype)

        # 6. Denoising loop: one batched UNet call per step, then the three-way guidance
        for t in self.progress_bar(timesteps):
            model_input = self.scheduler.scale_model_input(torch.cat([latents] * 4), t)
            model_input = torch.cat([model_input, cfg_image, cfg_segmentation], dim=1)
            noise_pred = self.unet(model_input, t, encoder_hidden_states=cfg_text, return_dict=False)[0]
            noise_pred = self.combine_guidance(noise_pred, text_guidance_scale, image_guidance_scale, segmentation_guidance_scale)
            latents = self.scheduler.step(noise_pred, t, latents, generator=generator, return_dict=False)[0]

        # 7. Decode
        if output_type == "latent":
            result = latents
        else:
            decoded = self.vae.decode(latents / self.vae.config.scaling_factor, return_dict=False)[0]
            result = self.image_processor.postprocess(decoded, output_type=output_type)

        self.maybe_free_model_hooks()
        if not return_dict:
            return (result,)
        return DiffV2IRPipelineOutput(images=result)
