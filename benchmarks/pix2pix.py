"""pix2pix (Isola et al., CVPR 2017), benchmark-only: the classic paired peer of the one-step translator.

    python benchmarks/pix2pix.py train --pairs ../shared/data/rgbt_pairs/roadscene --tune 11 \
        --out runs/pix2pix --max-minutes 45 --threads 2 [--resume]
    python benchmarks/pix2pix.py predict --model runs/pix2pix/final \
        --pairs ../shared/data/rgbt_pairs/roadscene --out runs/pix2pix/pred_roadscene
    fusionrs eval translator --predictions runs/pix2pix/pred_roadscene \
        --pairs ../shared/data/rgbt_pairs/roadscene --json runs/eval_pix2pix.json

The published recipe (junyanz/pytorch-CycleGAN-and-pix2pix, `--model pix2pix`), re-implemented without
torchvision: `unet_256` generator (ngf 64, BatchNorm, dropout 0.5 in the 3 innermost decoders, skips),
70x70 PatchGAN (`basic`, n_layers 3, ndf 64, BatchNorm) on (RGB, IR) pairs, vanilla GAN loss
(BCE with logits; `--gan-mode lsgan` optional) + 100 x L1, Adam 2e-4 / beta1 0.5 for both networks,
weights ~ N(0, 0.02), `resize_and_crop` (both images to 286x286 bicubic, random 256 crop, random
horizontal flip), batch 1, and the `linear` policy: constant LR for `--n-epochs`, then linear decay
over `--n-epochs-decay`. Each step updates D first, then G (as `optimize_parameters`).

Training pairs: exactly those of `fusionrs train translator --pairs ... --tune N --seed S` (the same
`split_roadscene` call: RoadScene's 40 committed validation names and the N tuning names are never
seen). Resumable and killable: checkpoints every `--checkpoint-every` steps and on SIGTERM/SIGINT or
when `--max-minutes` (counted over the run and the runs it resumed) is spent; `--resume` continues
bit-identically (the epoch order and crops come from generators seeded by (seed, epoch) and (seed,
step); dropout's torch RNG state travels in the checkpoint).

Inference (`predict`, `predictor`) follows the reference test script: each image resized to 256x256
(bicubic), the generator run as in training (BatchNorm on the image's own statistics, dropout on,
as the paper prescribes; seeded per image so results are deterministic), the output resized back to
the input's size (bicubic) and scored at native resolution. `--size 0` instead runs at native
resolution, reflect-padded to a multiple of 256 and cropped back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
GENERATOR_CONFIG = "pix2pix_config.json"

__all__ = ["UnetGenerator", "NLayerDiscriminator", "Pix2PixConfig", "pix2pix_unet_256", "train", "predictor",
           "predict_folder", "training_pairs"]


# -------------------------------------------------------------------------------------------------
# Networks (networks.py of the reference, norm="batch")


class UnetSkipBlock(nn.Module):
    """One U-Net level: down-conv, the inner block, up-conv, and the skip concatenation (not outermost)."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None = None, *, outermost: bool = False,
                 innermost: bool = False, dropout: bool = False, in_channels: int | None = None):
        super().__init__()
        in_channels = in_channels or outer
        down = [nn.Conv2d(in_channels, inner, 4, 2, 1, bias=False)]  # BatchNorm follows: no bias
        if outermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
            self.model = nn.Sequential(*down, sub, *up)
        elif innermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
            self.model = nn.Sequential(nn.LeakyReLU(0.2, True), *down, *up)
        else:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
            up += [nn.Dropout(0.5)] if dropout else []
            self.model = nn.Sequential(nn.LeakyReLU(0.2, True), *down, nn.BatchNorm2d(inner), sub, *up)
        self.outermost = outermost

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """`UnetGenerator(input_nc, output_nc, num_downs=8, ngf)`: 8 stride-2 levels, so inputs are multiples of 256."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, ngf: int = 64, num_downs: int = 8,
                 dropout: bool = True):
        super().__init__()
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, block, dropout=dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, block)
        block = UnetSkipBlock(ngf * 2, ngf * 4, block)
        block = UnetSkipBlock(ngf, ngf * 2, block)
        self.model = UnetSkipBlock(out_channels, ngf, block, outermost=True, in_channels=in_channels)
        self.multiple = 2**num_downs

    def forward(self, x):
        return self.model(x)


def pix2pix_unet_256(in_channels: int = 3, out_channels: int = 1, ngf: int = 64) -> UnetGenerator:
    """The pix2pix/CycleGAN `unet_256` generator (Isola et al. 2017), BatchNorm, dropout in 3 inner decoders.

    Args:
        in_channels: input channels (3: RGB).
        out_channels: output channels (1: IR).
        ngf: filters of the outermost level (64 in the reference).

    Returns:
        A freshly (PyTorch-default) initialised `UnetGenerator`; `init_weights` applies the reference init.
    """
    return UnetGenerator(in_channels, out_channels, ngf)


class NLayerDiscriminator(nn.Module):
    """The `basic` PatchGAN: with n_layers 3 each output logit sees a 70x70 input patch (30x30 logits at 256 px)."""

    def __init__(self, in_channels: int = 4, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            mods += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        mods += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        mods += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*mods)

    def forward(self, x):
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's `init_type=normal`: conv weights ~ N(0, gain), biases 0, BatchNorm weights ~ N(1, gain).

    Args:
        net: the network, initialised in place from the torch RNG.
        gain: the standard deviation (0.02 in the reference).

    Returns:
        `net`.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


# -------------------------------------------------------------------------------------------------
# Recipe


@dataclass
class Pix2PixConfig:
    """The reference defaults of `train.py --model pix2pix` (dataset `aligned`, 3 -> 1 channel)."""

    pairs: list[str] = field(default_factory=lambda: [str(DATA / "rgbt_pairs" / "roadscene")])
    tune: int = 11  # as `fusionrs train translator --tune 11`: RoadScene training pairs held back
    seed: int = 0  # seeds the init, the epoch order, the crops and (as the translator) the tuning slice
    out: str = "runs/pix2pix"
    ngf: int = 64
    ndf: int = 64
    n_layers_d: int = 3
    load_size: int = 286
    crop_size: int = 256
    no_flip: bool = False
    gan_mode: str = "vanilla"  # vanilla (BCE with logits, the pix2pix default) or lsgan
    lambda_l1: float = 100.0
    lr: float = 2e-4
    beta1: float = 0.5
    n_epochs: int = 100  # epochs at the initial LR
    n_epochs_decay: int = 100  # epochs of linear decay to 0
    max_steps: int | None = None  # stop after this many steps in all (None: the full schedule)
    max_minutes: float | None = None  # wall-time budget over the run and the runs it resumed
    threads: int | None = 2
    resume: bool = False
    checkpoint_every: int = 500
    keep_checkpoints: int = 1
    log_every: int = 10
    max_side: int = 640  # non-RoadScene pair folders (LLVIP) are downsized first, as the translator does


def training_pairs(cfg: Pix2PixConfig):
    """The translator's training pairs for `cfg.pairs`, `cfg.tune`, `cfg.seed` (`fusionrs.translate.train`).

    Args:
        cfg: the recipe; RoadScene folders drop their committed validation names and a seeded
            slice of `cfg.tune` tuning names, exactly as `fusionrs train translator` does.

    Returns:
        (list of `Pair`s, list of source names).

    Raises:
        FileNotFoundError: a pair folder is missing or empty.
    """
    from fusionrs.translate.data import load_pairs, split_roadscene

    pairs, sources = [], []
    for folder in cfg.pairs:
        name = Path(folder).name.lower()
        if name == "roadscene":
            split = split_roadscene(folder, tune=cfg.tune, seed=cfg.seed)
            pairs += load_pairs(folder, names=set(split["train"]), source=name).pairs
        else:
            pairs += load_pairs(folder, source=name, max_side=cfg.max_side).pairs
        sources.append(name)
    if not pairs:
        raise FileNotFoundError(f"no training pairs in {cfg.pairs}")
    return pairs, sources


def _lr_factor(epoch: int, cfg: Pix2PixConfig) -> float:
    # lr_scheduler.py `linear` with epoch_count 1: 1 - max(0, epoch + 1 - n_epochs) / (n_epochs_decay + 1)
    return 1.0 - max(0, epoch + 1 - cfg.n_epochs) / float(cfg.n_epochs_decay + 1)


def _resized(pairs, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`transforms.Resize([size, size], BICUBIC)` of both sides, done once (it is not random)."""
    out = []
    for p in pairs:
        rgb = np.asarray(Image.fromarray(p.rgb).resize((size, size), Image.BICUBIC))
        ir = np.asarray(Image.fromarray(p.ir).resize((size, size), Image.BICUBIC))
        out.append((rgb, ir))
    return out


def _sample(data, step: int, cfg: Pix2PixConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair `step` of the run: a seeded permutation per epoch, then a seeded random crop and flip."""
    n = len(data)
    epoch, index = divmod(step, n)
    order = np.random.default_rng([cfg.seed, 0, epoch]).permutation(n)
    rgb, ir = data[int(order[index])]
    rng = np.random.default_rng([cfg.seed, 1, step])
    top = int(rng.integers(0, rgb.shape[0] - cfg.crop_size + 1))
    left = int(rng.integers(0, rgb.shape[1] - cfg.crop_size + 1))
    rgb, ir = rgb[top:top + cfg.crop_size, left:left + cfg.crop_size], ir[top:top + cfg.crop_size, left:left + cfg.crop_size]
    if not cfg.no_flip and rng.random() > 0.5:
        rgb, ir = rgb[:, ::-1], ir[:, ::-1]
    a = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
    b = torch.from_numpy(np.ascontiguousarray(ir))[None, None].float() / 127.5 - 1
    return a, b


def _gan_loss(pred: torch.Tensor, real: bool, mode: str) -> torch.Tensor:
    target = torch.full_like(pred, 1.0 if real else 0.0)
    if mode == "lsgan":
        return nn.functional.mse_loss(pred, target)
    return nn.functional.binary_cross_entropy_with_logits(pred, target)


def _set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


def _save_final(folder: Path, generator: nn.Module, cfg: Pix2PixConfig, extra: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    from fusionrs.core.atomic import atomic_folder

    with atomic_folder(folder) as tmp:
        save_file({k: v.detach().contiguous() for k, v in generator.state_dict().items()}, str(tmp / "generator.safetensors"))
        config = {"format": "pix2pix-benchmark/1", "generator": "unet_256", "in_channels": 3, "out_channels": 1,
                  "ngf": cfg.ngf, "norm": "batch", "dropout": True, "crop_size": cfg.crop_size, **extra}
        (tmp / GENERATOR_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    return folder


def train(cfg: Pix2PixConfig) -> dict[str, Any]:
    """Train (or resume) pix2pix; writes OUT/checkpoints/, log.jsonl, loss_curve.png, final/, train_summary.json.

    Args:
        cfg: the recipe and the run's budget (`max_steps`, `max_minutes`) and bookkeeping.

    Returns:
        The summary also written to OUT/train_summary.json: steps, planned steps, epochs, stop
        reason, wall seconds (this invocation and in all), threads, load averages, training names.

    Raises:
        FileNotFoundError: a pair folder is missing or holds no pairs.
        ValueError: `crop_size` is not a multiple of 256 or exceeds `load_size`, or `gan_mode` is unknown.
    """
    from fusionrs.core.training import (TrainLog, latest_checkpoint, load_checkpoint, out_of_time, plot_loss_curve,
                                         save_checkpoint)

    if cfg.crop_size % 256 or cfg.crop_size > cfg.load_size:
        raise ValueError(f"crop_size {cfg.crop_size} must be a multiple of 256 and <= load_size {cfg.load_size}")
    if cfg.gan_mode not in ("vanilla", "lsgan"):
        raise ValueError(f"gan_mode must be vanilla or lsgan, got {cfg.gan_mode!r}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()

    pairs, sources = training_pairs(cfg)
    data = _resized(pairs, cfg.load_size)
    total = (cfg.n_epochs + cfg.n_epochs_decay) * len(data)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)

    torch.manual_seed(cfg.seed)
    generator = init_weights(UnetGenerator(3, 1, cfg.ngf))
    discriminator = init_weights(NLayerDiscriminator(4, cfg.ndf, cfg.n_layers_d))
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))

    start, prior_seconds = 0, 0.0
    ckpt_folder = latest_checkpoint(out) if cfg.resume else None
    if ckpt_folder is not None:
        ckpt = load_checkpoint(ckpt_folder)  # restores the torch RNG (dropout) too
        generator.load_state_dict(ckpt.tensors("generator"))
        discriminator.load_state_dict(ckpt.tensors("discriminator"))
        opt_g.load_state_dict(ckpt.state["generator"])
        opt_d.load_state_dict(ckpt.state["discriminator"])
        start, prior_seconds = ckpt.step, float(ckpt.scalars.get("train_seconds", 0.0))
        print(f"resumed from {ckpt_folder} at step {start}", file=sys.stderr)
    names = sorted(p.name for p in pairs)
    (out / "train_config.json").write_text(json.dumps({**asdict(cfg), "n_train": len(names), "train_names": names,
                                                       "sources": sources}, indent=2) + "\n")
    log = TrainLog(out, start_step=start)
    generator.train()
    discriminator.train()

    stop = {"reason": None}

    def on_signal(signum, _frame):
        stop["reason"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    t0 = time.perf_counter()
    started = t0 - prior_seconds  # the budget counts the runs this one resumed

    def checkpoint(step: int) -> None:
        save_checkpoint(out, step, tensors={"generator": generator.state_dict(), "discriminator": discriminator.state_dict()},
                        state={"generator": opt_g.state_dict(), "discriminator": opt_d.state_dict()},
                        scalars={"train_seconds": time.perf_counter() - started}, keep=cfg.keep_checkpoints)

    step = start
    record: dict[str, Any] = {}
    try:
        while step < total:
            epoch = step // len(data)
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * _lr_factor(epoch, cfg)
            real_a, real_b = _sample(data, step, cfg)
            fake_b = generator(real_a)
            # D: fake pairs -> 0, real pairs -> 1, halved
            _set_requires_grad(discriminator, True)
            opt_d.zero_grad(set_to_none=True)
            d_fake = _gan_loss(discriminator(torch.cat([real_a, fake_b.detach()], 1)), False, cfg.gan_mode)
            d_real = _gan_loss(discriminator(torch.cat([real_a, real_b], 1)), True, cfg.gan_mode)
            ((d_fake + d_real) * 0.5).backward()
            opt_d.step()
            # G: fool D + lambda * L1
            _set_requires_grad(discriminator, False)
            opt_g.zero_grad(set_to_none=True)
            g_gan = _gan_loss(discriminator(torch.cat([real_a, fake_b], 1)), True, cfg.gan_mode)
            g_l1 = (fake_b - real_b).abs().mean() * cfg.lambda_l1
            (g_gan + g_l1).backward()
            opt_g.step()
            step += 1
            record = {"step": step, "epoch": epoch + 1, "lr": opt_g.param_groups[0]["lr"], "g_gan": g_gan.item(),
                      "g_l1": g_l1.item(), "d_real": d_real.item(), "d_fake": d_fake.item(),
                      "seconds": round(time.perf_counter() - started, 2), "load1": os.getloadavg()[0]}
            if step % cfg.log_every == 0 or step == total:
                log.write(record)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                checkpoint(step)
            if stop["reason"] is None and out_of_time(started, cfg.max_minutes):
                stop["reason"] = "max_minutes"
            if stop["reason"] is not None:
                break
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if step > start and (not cfg.checkpoint_every or step % cfg.checkpoint_every):
        checkpoint(step)  # what the next --resume continues from (also at the end of the schedule)
    wall = time.perf_counter() - t0
    summary = {
        "recipe": "pix2pix (Isola et al. 2017), junyanz/pytorch-CycleGAN-and-pix2pix defaults; benchmarks/pix2pix.py",
        "steps": step, "planned_steps": total, "resumed_from": start, "epochs_done": step / len(data),
        "stopped": stop["reason"] or ("done" if step >= total else "not started"),
        "wall_seconds_this_run": round(wall, 1), "train_seconds_total": round(time.perf_counter() - started, 1),
        "seconds_per_step_this_run": round(wall / max(1, step - start), 3),
        "threads": torch.get_num_threads(), "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg()),
        "cpu_count": os.cpu_count(), "n_train": len(names), "sources": sources,
        "train_names_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
        "last": record, "config": asdict(cfg),
    }
    loads = [r["load1"] for r in log.records() if "load1" in r]
    if loads:
        summary["load1_logged"] = {"mean": round(float(np.mean(loads)), 2), "max": round(float(np.max(loads)), 2), "n": len(loads)}
    summary["model"] = str(_save_final(out / "final", generator, cfg, {"steps": step, "train_seconds": summary["train_seconds_total"],
                                                                         "sources": sources, "n_train": len(names)}))
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_loss_curve(log.path, out / "loss_curve.png", title="pix2pix", keys=("g_gan", "g_l1", "d_real", "d_fake"))
    return summary


# -------------------------------------------------------------------------------------------------
# Inference


def load_generator(folder: str | Path) -> UnetGenerator:
    """The trained generator of a `final/` folder (or a checkpoint folder with generator.safetensors).

    Args:
        folder: the folder holding `generator.safetensors` (and `pix2pix_config.json` for its ngf).

    Returns:
        The `UnetGenerator` with the stored weights and BatchNorm statistics.

    Raises:
        FileNotFoundError: no `generator.safetensors` in `folder`.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "generator.safetensors").is_file():
        raise FileNotFoundError(f"{folder}: no generator.safetensors (give a pix2pix final/ folder)")
    config = json.loads((folder / GENERATOR_CONFIG).read_text()) if (folder / GENERATOR_CONFIG).is_file() else {}
    generator = UnetGenerator(3, 1, int(config.get("ngf", 64)))
    generator.load_state_dict(load_file(str(folder / "generator.safetensors")))
    return generator


def predictor(model: str | Path | nn.Module, *, size: int = 256, mode: str = "reference", seed: int = 0):
    """A `fusionrs.translate.evaluate` predictor (list of RGB HxWx3 uint8 -> list of IR HxW uint8).

    Args:
        model: a `final/` folder or a generator module.
        size: the side the image is resized to (bicubic) before the generator and back after it,
            as the reference test script; 0 runs at native size, reflect-padded to a multiple of 256.
        mode: "reference" runs the generator as in training (BatchNorm on the image's own
            statistics, dropout on; the paper's test protocol), seeded per image; "eval" uses the
            running BatchNorm statistics and no dropout.
        seed: the torch seed set before each image in "reference" mode.

    Returns:
        The predictor; every output has the size of its input.

    Raises:
        ValueError: an unknown `mode`.
    """
    if mode not in ("reference", "eval"):
        raise ValueError(f"mode must be reference or eval, got {mode!r}")
    generator = load_generator(model) if not isinstance(model, nn.Module) else model

    def one(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC)) if size else rgb
        t = torch.from_numpy(np.array(x)).permute(2, 0, 1)[None].float() / 127.5 - 1
        if not size:
            ph, pw = -h % 256, -w % 256
            t = nn.functional.pad(t, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the dropout masks of "reference" mode, the same for every image
            y = generator(t)[0, 0]
        if not size:
            y = y[:h, :w]
        out = np.clip(np.round((y.numpy() + 1) * 127.5), 0, 255).astype(np.uint8)
        return np.asarray(Image.fromarray(out).resize((w, h), Image.BICUBIC)) if size else out

    def predict(rgbs: list[np.ndarray]) -> list[np.ndarray]:
        norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        generator.train(mode == "reference")
        for m in norms:
            m.momentum = 0.0  # train-mode BatchNorm would move the running statistics: keep them
        try:
            return [one(np.asarray(r)) for r in rgbs]  # one image per forward: batch statistics = its own
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum

    return predict


def predict_folder(model: str | Path, pairs: str | Path, out: str | Path, *, split: str = "all", size: int = 256,
                   mode: str = "reference", threads: int | None = 2) -> list[Path]:
    """Translate the RGB images of a pair folder to OUT/NAME.png (what `fusionrs eval translator --predictions` reads).

    Args:
        model: a trained `final/` folder.
        pairs: a pair folder (`rgb/` + `ir/`).
        out: the folder of predictions (created).
        split: "all" translates every pair; for a RoadScene folder "validation", "tune" or
            "screening" translates only the names `fusionrs eval translator --split` scores.
        size: see `predictor`.
        mode: see `predictor`.
        threads: torch CPU threads (None: torch's default).

    Returns:
        The written PNG paths.
    """
    from fusionrs.core.image_io import load_image
    from fusionrs.translate.data import list_pair_files

    if threads:
        torch.set_num_threads(threads)
    predict = predictor(model, size=size, mode=mode)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    keep = None
    if split != "all":
        from types import SimpleNamespace

        from fusionrs.translate.eval_sets import eval_pairs

        keep = {p.name for p in eval_pairs(str(pairs), SimpleNamespace(split=split, world_seed=0, world_size=0))}
    for name, rgb_path, _ in list_pair_files(pairs):
        if keep is not None and name not in keep:
            continue
        rgb = np.asarray(load_image(rgb_path, mode="RGB", max_pixels=None))
        path = out / f"{name}.png"
        Image.fromarray(predict([rgb])[0], mode="L").save(path)
        written.append(path)
    (out / "predictions.json").write_text(json.dumps({"model": str(model), "pairs": str(pairs), "split": split, "size": size, "mode": mode,
                                                      "n": len(written)}, indent=2) + "\n")
    return written


# -------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = Pix2PixConfig()
    t = sub.add_parser("train", help="train (or --resume) pix2pix on the translator's training pairs")
    t.add_argument("--pairs", action="append", metavar="DIR", help=f"pair folder, repeatable (default {d.pairs[0]})")
    t.add_argument("--out", default=d.out)
    for name in ("tune", "seed", "ngf", "ndf", "n_layers_d", "load_size", "crop_size", "n_epochs", "n_epochs_decay",
                 "checkpoint_every", "keep_checkpoints", "log_every", "max_side"):
        t.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    t.add_argument("--max-steps", type=int, default=None, help="cap on the steps in all (default: the full schedule)")
    t.add_argument("--max-minutes", type=float, default=None,
                   help="wall-time budget over this run and the runs it resumed; stops with a checkpoint")
    t.add_argument("--threads", type=int, default=d.threads)
    for name in ("lambda_l1", "lr", "beta1"):
        t.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    t.add_argument("--gan-mode", choices=("vanilla", "lsgan"), default=d.gan_mode)
    t.add_argument("--no-flip", action="store_true")
    t.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    q = sub.add_parser("predict", help="translate every RGB image of a pair folder to OUT/NAME.png")
    q.add_argument("--model", required=True, help="a trained final/ folder")
    q.add_argument("--pairs", required=True, metavar="DIR")
    q.add_argument("--out", required=True, metavar="DIR")
    q.add_argument("--split", choices=("all", "validation", "tune", "screening"), default="all",
                   help="RoadScene only: translate just the names `fusionrs eval translator --split` scores")
    q.add_argument("--size", type=int, default=256, help="resize side (reference test protocol); 0: native, padded")
    q.add_argument("--mode", choices=("reference", "eval"), default="reference")
    q.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.command == "train":
        fields = {k: v for k, v in vars(args).items() if k in Pix2PixConfig.__dataclass_fields__ and v is not None}
        if args.pairs is None:
            fields.pop("pairs", None)
        summary = train(Pix2PixConfig(**fields))
        print(json.dumps({k: v for k, v in summary.items() if k not in ("config", "last")}, indent=2))
        return 0
    written = predict_folder(args.model, args.pairs, args.out, split=args.split, size=args.size, mode=args.mode, threads=args.threads)
    print(f"{len(written)} predictions in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
