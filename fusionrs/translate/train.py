"""Training the one-step translator: paired L1 + SSIM + gradient losses, a conditional PatchGAN, and an
optional unpaired domain term (real aerial thermal vs translations of aerial RGB).

Reads top to bottom: config -> data -> models -> loop (sample, generator step, discriminator step,
log, sample grid, checkpoint) -> save. Batches are drawn from a generator seeded by (seed, step,
process), so a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from fusionrs.core.training import (TrainLog, latest_checkpoint, load_checkpoint, out_of_time, plot_loss_curve,
                                     save_checkpoint, tracking_kwargs, warmup_cosine)
from fusionrs.errors import FusionRSError
from fusionrs.translate.config import TrainConfig

__all__ = ["TrainConfig", "PatchDiscriminator", "train", "save_translator"]


class PatchDiscriminator:  # a factory returning a torch module, so this module imports without torch
    """70x70-style PatchGAN without normalisation: `in_channels` -> one logit per patch."""

    def __new__(cls, in_channels: int, width: int = 32, layers: int = 3):
        import torch.nn as nn

        mods: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = width
        for i in range(1, layers):
            mods += [nn.Conv2d(ch, ch * 2, 4, 2 if i < layers - 1 else 1, 1), nn.GroupNorm(8, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        mods += [nn.Conv2d(ch, 1, 4, 1, 1)]
        return nn.Sequential(*mods)


def _gradient_loss(pred, target):
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    return (dx(pred) - dx(target)).abs().mean() + (dy(pred) - dy(target)).abs().mean()


def _lr_at(step: int, cfg: TrainConfig) -> float:
    return cfg.lr * warmup_cosine(step, warmup=cfg.warmup, total=cfg.steps, floor=0.05)


def _load_data(cfg: TrainConfig) -> dict[str, Any]:
    from fusionrs.translate.data import PairSet, load_pairs, load_unpaired, split_roadscene, world_pairs

    real, tune, sources = PairSet(), PairSet(), []
    for folder in cfg.pairs:
        name = Path(folder).name.lower()
        if name == "roadscene":
            split = split_roadscene(folder, tune=cfg.tune, seed=cfg.seed)
            real.pairs += load_pairs(folder, names=set(split["train"]), source=name).pairs
            tune.pairs += load_pairs(folder, names=set(split["tune"]), source=name).pairs if split["tune"] else []
        else:
            real.pairs += load_pairs(folder, source=name, max_side=cfg.max_side).pairs
        sources.append(name)
    world = world_pairs(range(cfg.world), seed=cfg.seed + 1000, size=cfg.world_size,
                        time_of_day=cfg.world_time_of_day) if cfg.world else PairSet()
    if cfg.world:
        sources.append("world")
    if not real.pairs and not world.pairs:
        raise FusionRSError("no training pairs: give --pairs folders and/or --world N")
    pools = []
    if real.pairs:
        pools.append((real.pairs, 1.0 - (cfg.world_weight if world.pairs else 0.0)))
    if world.pairs:
        pools.append((world.pairs, cfg.world_weight if real.pairs else 1.0))
    data: dict[str, Any] = {"pools": pools, "tune": tune, "sources": sources,
                            "counts": {"real": len(real), "world": len(world), "tune": len(tune)}}
    if cfg.domain_thermal and cfg.domain_rgb and cfg.domain > 0:
        data["thermal"] = load_unpaired(cfg.domain_thermal, split="train", limit=cfg.domain_images, mode="L", seed=cfg.seed)
        data["aerial_rgb"] = load_unpaired(cfg.domain_rgb, split="train", limit=cfg.domain_images, mode="RGB", seed=cfg.seed)
        sources.append(Path(cfg.domain_thermal).name.lower() + " (unpaired)")
        data["counts"].update(thermal=len(data["thermal"]), aerial_rgb=len(data["aerial_rgb"]))
    return data


def _to_tensor(batch: np.ndarray, device):
    import torch

    x = torch.from_numpy(np.array(batch)).to(device).float()
    return x.permute(0, 3, 1, 2) / 127.5 - 1 if x.ndim == 4 else (x / 255)[:, None]


def save_translator(folder: str | Path, unet, *, pixel_shuffle: int, preset: str, sources: list[str],
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a translator folder: pipeline (model_index.json + unet/ + pipeline.py), translator_config.json, README.md.

    `pipeline.py` is `pipeline_rgb_to_ir.py` verbatim (`RGBToIRPipeline.save_pretrained` writes it), so
    plain diffusers loads the folder: `DiffusionPipeline.from_pretrained(folder, custom_pipeline=folder,
    trust_remote_code=True)`.

    Args:
        folder: the folder to write (created when missing).
        unet: the trained UNet2DModel.
        pixel_shuffle: its fold factor.
        preset: the size preset it was built from.
        sources: the training data sources (they decide the licence, `core.licences.training_licence`).
        extra: more entries for translator_config.json (training recipe, data counts).

    Returns:
        `folder`, as a Path.
    """
    from fusionrs.translate.pipeline_rgb_to_ir import RGBToIRPipeline
    from fusionrs.core.licences import training_licence
    from fusionrs.translate.model import INPUT_NORMALISATION, OUTPUT_RULE, TRANSLATOR_CONFIG_NAME

    folder = Path(folder)
    RGBToIRPipeline(unet=unet, pixel_shuffle=pixel_shuffle, timestep=0).save_pretrained(folder, safe_serialization=True)
    licence = training_licence(sources)  # the one rule the card shows too
    config = {
        "format": "fusionrs-translator/1",
        "preset": preset,
        "pixel_shuffle": pixel_shuffle,
        "timestep": 0,
        "input_normalisation": INPUT_NORMALISATION,
        "output": OUTPUT_RULE,
        "training_data": sources,
        **licence.notes_fields(),  # licence note + commercial_use
        "load": "RGBToIRPipeline.from_pretrained(folder) after `import fusionrs`; without fusionrs: "
                "DiffusionPipeline.from_pretrained(folder, custom_pipeline=folder, trust_remote_code=True); "
                "UNet2DModel.from_pretrained(folder, subfolder='unet')",
        **(extra or {}),
    }
    (folder / TRANSLATOR_CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    _write_card(folder, config)
    return folder


def _write_card(folder: Path, config: dict[str, Any]) -> None:
    """README.md from model_cards/translator.md with full hub metadata (`translate.card`)."""
    from fusionrs.translate.card import write_translator_card

    write_translator_card(folder)


def _save_checkpoint(out: Path, step: int, unet, disc, dom_disc, opt_g, opt_d) -> None:
    tensors = {"discriminator": disc.state_dict()}
    if dom_disc is not None:
        tensors["domain_discriminator"] = dom_disc.state_dict()
    save_checkpoint(out, step, tensors=tensors,
                    folders={"unet": lambda folder: unet.save_pretrained(folder, safe_serialization=True)},
                    state={"generator": opt_g.state_dict(), "discriminator": opt_d.state_dict()})


def _sample_grid(unet, pixel_shuffle: int, pairs, path: Path, device) -> None:
    """RGB | target | prediction rows for a few fixed crops."""
    import torch
    from PIL import Image

    from fusionrs.translate.pipeline_rgb_to_ir import translate_tensor

    rows = []
    for p in pairs:
        h, w = p.rgb.shape[:2]
        s = min(h, w, 192) // 32 * 32
        rgb, ir = p.rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s], p.ir[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        with torch.no_grad():
            pred = translate_tensor(unet, _to_tensor(rgb[None], device), pixel_shuffle=pixel_shuffle)[0, 0].cpu().numpy()
        grey = lambda a: np.repeat(a[..., None], 3, axis=2)  # noqa: E731
        rows.append(np.concatenate([rgb, grey(ir), grey((pred * 255).round().astype(np.uint8))], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train (or resume) a translator. The final model is saved to `out/final`.

    Args:
        cfg: the training recipe (data, preset, losses, steps, checkpointing, time budget).

    Returns:
        A summary: steps, resumed_from, seconds, data_counts, sources, the per-step history and
        (on the main process) the saved model folder.

    Raises:
        FusionRSError: `cfg.crop` is not a multiple of what the preset needs (`pad_multiple`), the
            training data cannot be loaded, or a `report_to` tracker is not installed.
    """
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from fusionrs.metrics.image_quality import ssim_torch
    from fusionrs.translate.data import sample_crops
    from fusionrs.translate.model import build_unet, load_preset
    from fusionrs.translate.pipeline_rgb_to_ir import pad_multiple, translate_tensor

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, **tracking_kwargs(cfg.report_to, out))
    device = accelerator.device

    # -- data
    data = _load_data(cfg)
    use_domain = "thermal" in data
    preset = load_preset(cfg.preset)
    f = int(preset["pixel_shuffle"])

    # -- models and optimisers
    unet = build_unet(preset, seed=cfg.seed)
    if cfg.crop % pad_multiple(unet, f):
        raise FusionRSError(f"crop {cfg.crop} must be a multiple of {pad_multiple(unet, f)} for preset {cfg.preset!r}")
    torch.manual_seed(cfg.seed + 1)
    disc = PatchDiscriminator(4)
    dom_disc = PatchDiscriminator(1) if use_domain else None
    d_params = list(disc.parameters()) + (list(dom_disc.parameters()) if dom_disc is not None else [])
    opt_g = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, betas=(0.5, 0.99), weight_decay=cfg.weight_decay)
    opt_d = torch.optim.AdamW(d_params, lr=cfg.lr, betas=(0.5, 0.99), weight_decay=cfg.weight_decay)

    start = 0
    ckpt = latest_checkpoint(out) if cfg.resume else None
    if ckpt is not None:
        from diffusers import UNet2DModel

        checkpoint = load_checkpoint(ckpt)
        unet.load_state_dict(UNet2DModel.from_pretrained(ckpt / "unet").state_dict())
        disc.load_state_dict(checkpoint.tensors("discriminator"))
        if dom_disc is not None and (ckpt / "domain_discriminator.safetensors").is_file():
            dom_disc.load_state_dict(checkpoint.tensors("domain_discriminator"))
        opt_g.load_state_dict(checkpoint.state["generator"])
        opt_d.load_state_dict(checkpoint.state["discriminator"])
        start = checkpoint.step
        accelerator.print(f"resumed from {ckpt} at step {start}")

    models = [unet, disc] + ([dom_disc] if dom_disc is not None else [])
    prepared = accelerator.prepare(*models, opt_g, opt_d)
    unet, disc = prepared[0], prepared[1]
    dom_disc = prepared[2] if dom_disc is not None else None
    opt_g, opt_d = prepared[-2], prepared[-1]
    raw_unet = accelerator.unwrap_model(unet)

    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps({**asdict(cfg), "data_counts": data["counts"],
                                                           "sources": data["sources"]}, indent=2) + "\n")
    log = TrainLog(out, start_step=start, enabled=accelerator.is_main_process, accelerator=accelerator,
                   project="fusionrs-translator", config=cfg)
    grid_pairs = (data["tune"].pairs or data["pools"][0][0])[:4]
    adv_from = int(cfg.adv_start * cfg.steps)
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not (cfg.progress and accelerator.is_main_process),
               desc="train translator")

    for step in bar:
        rng = np.random.default_rng([cfg.seed, step, accelerator.process_index])
        batch = sample_crops(data["pools"], cfg.batch_size, cfg.crop, rng)
        rgb, ir = _to_tensor(batch["rgb"], device), _to_tensor(batch["ir"], device)
        if use_domain:
            aerial = _to_tensor(sample_crops([(data["aerial_rgb"], 1.0)], cfg.batch_size // 2, cfg.crop, rng)["image"], device)
            thermal = _to_tensor(sample_crops([(data["thermal"], 1.0)], cfg.batch_size // 2, cfg.crop, rng)["image"], device)
        for group in opt_g.param_groups + opt_d.param_groups:
            group["lr"] = _lr_at(step, cfg)
        adversarial = step >= adv_from

        # generator step
        with accelerator.autocast():
            pred = translate_tensor(unet, rgb, pixel_shuffle=f)
            l1 = (pred - ir).abs().mean()
            ssim_l = 1 - ssim_torch(pred.float(), ir).mean()
            grad_l = _gradient_loss(pred, ir)
            loss = cfg.l1 * l1 + cfg.ssim * ssim_l + cfg.grad * grad_l
            adv_l = dom_l = torch.zeros((), device=device)
            if adversarial and cfg.adv > 0:
                adv_l = ((disc(torch.cat([rgb, pred * 2 - 1], 1)) - 1) ** 2).mean()
                loss = loss + cfg.adv * adv_l
            if adversarial and use_domain:
                pred_aerial = translate_tensor(unet, aerial, pixel_shuffle=f)
                dom_l = ((dom_disc(pred_aerial * 2 - 1) - 1) ** 2).mean()
                loss = loss + cfg.domain * dom_l
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        opt_g.step()

        # discriminator step (LSGAN)
        d_l = torch.zeros((), device=device)
        if adversarial and (cfg.adv > 0 or use_domain):
            with accelerator.autocast():
                if cfg.adv > 0:
                    real = disc(torch.cat([rgb, ir * 2 - 1], 1))
                    fake = disc(torch.cat([rgb, pred.detach() * 2 - 1], 1))
                    d_l = d_l + ((real - 1) ** 2).mean() + (fake**2).mean()
                if use_domain:
                    d_l = d_l + ((dom_disc(thermal * 2 - 1) - 1) ** 2).mean() + (dom_disc(pred_aerial.detach() * 2 - 1) ** 2).mean()
            opt_d.zero_grad(set_to_none=True)
            accelerator.backward(d_l)
            opt_d.step()

        record = {"step": step + 1, "loss": loss.item(), "l1": l1.item(), "ssim": 1 - ssim_l.item(), "grad": grad_l.item(),
                  "adv": adv_l.item(), "domain": dom_l.item(), "disc": d_l.item(), "lr": _lr_at(step, cfg),
                  "seconds": round(time.perf_counter() - t0, 2)}
        history.append(record)
        if accelerator.is_main_process:
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                log.write(record)
                bar.set_postfix(l1=f"{record['l1']:.4f}", ssim=f"{record['ssim']:.3f}")
            if cfg.sample_every and (step + 1) % cfg.sample_every == 0:
                _sample_grid(raw_unet, f, grid_pairs, out / "samples" / f"step_{step + 1:06d}.png", device)
            if cfg.checkpoint_every and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
                _save_checkpoint(out, step + 1, raw_unet, accelerator.unwrap_model(disc),
                                 accelerator.unwrap_model(dom_disc) if dom_disc is not None else None, opt_g, opt_d)
        accelerator.wait_for_everyone()
        if out_of_time(t0, cfg.max_minutes):
            accelerator.print(f"time budget of {cfg.max_minutes} min reached at step {step + 1}; `--resume` continues")
            if accelerator.is_main_process and cfg.checkpoint_every:
                _save_checkpoint(out, step + 1, raw_unet, accelerator.unwrap_model(disc),
                                 accelerator.unwrap_model(dom_disc) if dom_disc is not None else None, opt_g, opt_d)
            break

    summary: dict[str, Any] = {"steps": history[-1]["step"] if history else start, "resumed_from": start, "seconds": round(time.perf_counter() - t0, 1),
                               "data_counts": data["counts"], "sources": data["sources"], "history": history}
    if accelerator.is_main_process:
        folder = save_translator(out / "final", raw_unet, pixel_shuffle=f, preset=cfg.preset, sources=data["sources"],
                                 extra={"training": {k: v for k, v in asdict(cfg).items() if k not in ("progress",)},
                                        "data_counts": data["counts"],
                                        "train_seconds_this_run": summary["seconds"]})
        summary["model"] = str(folder)
        plot_loss_curve(log.path, out / "loss_curve.png", title=f"translator ({cfg.preset})", ylabel="loss",
                        keys=("loss", "l1", "grad", "adv", "domain", "disc"))
    log.close()
    return summary
