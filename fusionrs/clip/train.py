"""Training a dual-modal CLIP model: one shared image encoder for RGB and IR, tri-modal InfoNCE.

Reads top to bottom: config -> model (+ frozen lower blocks, + feature cache) -> data -> optimiser
and cosine schedule -> loop (batch, encode, loss, step, log, checkpoint) -> save a standard folder.

Batches are a deterministic function of (seed, step): each epoch is a seeded permutation of the
training rows and captions are drawn from a generator seeded by (seed, step). Checkpoints hold the
trainable weights, optimiser, scheduler and torch RNG, so `resume=True` continues exactly.

Under `accelerate launch` each process encodes its shard of every batch and the loss is computed
over that shard (see `fusionrs.clip.losses`); gradients are averaged by DDP.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from fusionrs.clip.config import ClipTrainConfig
from fusionrs.core.training import (TrainLog, latest_checkpoint, load_checkpoint, out_of_time, plot_loss_curve,
                                     save_checkpoint, tracking_kwargs, warmup_cosine)
from fusionrs.errors import FusionRSError

__all__ = ["ClipTrainConfig", "plot_loss_curve", "train_clip"]


# -------------------------------------------------------------------------------------------------
# Encoding: one module so DDP sees every trainable parameter used in its forward


def _make_encoder(model, frozen: tuple[int, int] | None, cached: bool):
    """Wrap the CLIP model: images/texts (or cached lower-block states) -> projected embeddings."""
    import torch
    from torch import nn

    from fusionrs.clip.features import text_lower, text_upper, vision_lower, vision_upper

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def train(self, mode: bool = True):
            # Frozen lower blocks are a fixed feature extractor: no dropout there, exactly as when cached.
            super().train(mode)
            if frozen is not None:
                vision, text = self.model.vision_model, self.model.text_model
                for module in (vision.embeddings, *vision.encoder.layer[:frozen[0]],
                               text.embeddings, *text.encoder.layer[:frozen[1]]):
                    module.eval()
            return self

        def image(self, x: torch.Tensor) -> torch.Tensor:
            if frozen is None:
                out = self.model.get_image_features(pixel_values=x)
                return out if isinstance(out, torch.Tensor) else out.pooler_output
            if not cached:
                with torch.no_grad():
                    x = vision_lower(self.model, x, frozen[0])
            return vision_upper(self.model, x, frozen[0])

        def text(self, ids_or_hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            if frozen is None:
                out = self.model.get_text_features(input_ids=ids_or_hidden, attention_mask=mask)
                return out if isinstance(out, torch.Tensor) else out.pooler_output
            if not cached:
                with torch.no_grad():
                    ids_or_hidden = text_lower(self.model, ids_or_hidden, mask, frozen[1])
            return text_upper(self.model, ids_or_hidden, mask, frozen[1])

        def forward(self, rgb, ir, text, text_mask, ir_text, ir_text_mask):
            return {
                "rgb": self.image(rgb),
                "ir": self.image(ir) if ir is not None else None,
                "text": self.text(text, text_mask),
                "ir_text": self.text(ir_text, ir_text_mask) if ir_text is not None else None,
                "logit_scale": self.model.logit_scale,
            }

    return Encoder()


# -------------------------------------------------------------------------------------------------
# Data: fusionrs.clip.data (seeded epochs, one caption draw per (step, row), one decode per image)


# -------------------------------------------------------------------------------------------------
# Checkpoints: trainable weights + optimiser + scheduler + RNG


def _trainable_state(model) -> dict[str, Any]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(out: Path, step: int, model, optimizer, scheduler, keep: int) -> None:
    save_checkpoint(out, step, tensors={"trainable": _trainable_state(model)},
                    state={"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, keep=keep)


def _load_checkpoint(folder: Path, model, optimizer, scheduler) -> int:
    checkpoint = load_checkpoint(folder)
    missing = model.load_state_dict(checkpoint.tensors("trainable"), strict=False)
    if missing.unexpected_keys:
        raise FusionRSError(f"{folder}: checkpoint holds weights this model lacks: {missing.unexpected_keys[:3]}")
    optimizer.load_state_dict(checkpoint.state["optimizer"])
    scheduler.load_state_dict(checkpoint.state["scheduler"])
    return checkpoint.step


# -------------------------------------------------------------------------------------------------


def _param_groups(model, lr: float, head_lr: float, weight_decay: float) -> list[dict[str, Any]]:
    """Pretrained vs new (projections, temperature) x decayed (matrices) vs not (norms, biases)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        head = name.startswith(("visual_projection.", "text_projection.", "logit_scale"))
        decay = param.ndim >= 2
        groups.setdefault((head, decay), []).append(param)
    return [{"params": params, "lr": head_lr if head else lr, "weight_decay": weight_decay if decay else 0.0}
            for (head, decay), params in sorted(groups.items())]


def train_clip(cfg: ClipTrainConfig) -> dict[str, Any]:
    """Train (or resume) a CLIP variant; the final model is a standard folder at `out/final`.

    Args:
        cfg: the run's settings (`ClipTrainConfig`); `cfg.resume` continues from the newest checkpoint
            in `cfg.out`, and `cfg.max_minutes` stops (with a checkpoint) after that much wall time.

    Returns:
        The run summary: steps done, final loss, wall time, trainable parameters, the loss history
        and, when the run finished, `model` (the path of `out/final`).

    Raises:
        FusionRSError: an unknown variant or caption policy, a batch size that does not split into
            the accumulation steps or processes, a missing dataset folder or split, frozen-block
            settings the model cannot take, a checkpoint that does not fit the model, or a
            `report_to` tracker that is not installed.
    """
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm

    from fusionrs.clip.compose import build_clip, image_size_of, save_clip
    from fusionrs.clip.data import TRAIN_COLUMNS, CachedData, LiveData, StepBatches, StepFeed, load_rows
    from fusionrs.clip.features import build_feature_cache, check_splittable, freeze_lower, num_blocks
    from fusionrs.clip.losses import TriModalLoss
    from fusionrs.clip.views import CAPTION_POLICIES, resolve_variant

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.caption_policy not in CAPTION_POLICIES:
        raise FusionRSError(f"unknown caption policy {cfg.caption_policy!r}; choose one of {', '.join(CAPTION_POLICIES)}")
    pairs, ir_view = resolve_variant(cfg.variant, cfg.ir_view)
    if cfg.batch_size % cfg.grad_accum:
        raise FusionRSError(f"batch size {cfg.batch_size} must be divisible by grad_accum {cfg.grad_accum}")
    if cfg.data is not None:
        from fusionrs.data.loading import resolve_data_dir

        resolve_data_dir(cfg.data)  # a wrong folder fails here, before any model is loaded
    out = Path(cfg.out)
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, **tracking_kwargs(cfg.report_to, out))
    micro = cfg.batch_size // cfg.grad_accum
    if micro < 2 * accelerator.num_processes:
        raise FusionRSError(f"micro-batch {micro} is too small for {accelerator.num_processes} processes (contrastive loss needs >= 2 per process)")

    # -- model: build (deterministic from init + seed), freeze the lower blocks
    model, processor = build_clip(cfg.init, image_size=cfg.image_size, projection_dim=cfg.projection_dim, seed=cfg.seed)
    frozen = None
    if cfg.train_top_vision is not None or cfg.train_top_text is not None:
        check_splittable(model)
        nv, nt = num_blocks(model)
        top_v = nv if cfg.train_top_vision is None else cfg.train_top_vision
        top_t = nt if cfg.train_top_text is None else cfg.train_top_text
        freeze_lower(model, top_v, top_t)
        frozen = (nv - top_v, nt - top_t)
    elif cfg.cache_features:
        raise FusionRSError("cache_features needs frozen lower blocks (set train_top_vision / train_top_text)")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    # -- data (fusionrs.clip.data): the split is read once, with only the columns training reads
    rows = load_rows(cfg.data, "train", limit=cfg.limit, columns=(*TRAIN_COLUMNS, "id") if cfg.cache_features else TRAIN_COLUMNS)
    if cfg.cache_features:
        with accelerator.main_process_first():  # one process computes the cache, the others read it
            cache = build_feature_cache(model, processor, cfg.data if cfg.data is not None else _default_data(),
                                        split="train", frozen=frozen, root=cfg.cache_root, rows=rows,
                                        max_text_tokens=cfg.max_text_tokens, progress=cfg.progress and accelerator.is_main_process)
        data = CachedData(cache)
    else:
        data = LiveData(rows, processor, cfg.max_text_tokens)
    n_rows = len(data)
    if n_rows < 2:
        raise FusionRSError(f"{cfg.data}: the train split has {n_rows} rows; contrastive training needs at least 2")
    feed = StepFeed(StepBatches(data, pairs=pairs, ir_view=ir_view, caption_policy=cfg.caption_policy, seed=cfg.seed,
                                batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
                                rank=accelerator.process_index, world=accelerator.num_processes), cfg.steps,
                    num_workers=cfg.num_workers)

    # -- loss, optimiser, schedule
    # More than one process: contrast against the global batch (gathered), as one process would.
    loss_fn = TriModalLoss(pairs, gather=accelerator.num_processes > 1)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.lr, cfg.head_lr or cfg.lr, cfg.weight_decay),
                                  betas=(0.9, 0.98), eps=1e-6)
    schedule = functools.partial(warmup_cosine, warmup=min(cfg.warmup, cfg.steps), total=cfg.steps, floor=0.0,
                                 warmup_offset=0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    start = 0
    checkpoint = latest_checkpoint(out) if cfg.resume else None
    if checkpoint is not None:
        start = _load_checkpoint(checkpoint, model, optimizer, scheduler)
        accelerator.print(f"resumed from {checkpoint} at step {start}")
    encoder = _make_encoder(model, frozen, cfg.cache_features)
    encoder, optimizer = accelerator.prepare(encoder, optimizer)
    raw_model = accelerator.unwrap_model(encoder).model

    from fusionrs.core.references import reference_for

    meta = {"format": "fusionrs-clip/1", "variant": cfg.variant, "loss_pairs": list(pairs), "ir_view": ir_view,
            "caption_policy": cfg.caption_policy, "init": cfg.init,
            # relative to the saved model folder (fusionrs.core.references), so the pair can move together
            "data": reference_for(cfg.data, out / "final") if cfg.data else "fusionrs (embedded)",
            "train_rows": n_rows, "seed": cfg.seed, "image_size": image_size_of(processor),
            "budget": {"steps": cfg.steps, "batch_size": cfg.batch_size, "samples": cfg.steps * cfg.batch_size},
            "frozen_blocks": {"vision": frozen[0], "text": frozen[1]} if frozen else None,
            "trainable_parameters": trainable, "lr": cfg.lr, "head_lr": cfg.head_lr or cfg.lr,
            "weight_decay": cfg.weight_decay, "warmup": cfg.warmup, "mixed_precision": cfg.mixed_precision,
            "processes": accelerator.num_processes, "grad_accum": cfg.grad_accum,
            "evaluation_note": "the IR view changes training only; evaluate on the dataset's own IR"}
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps({**asdict(cfg), **meta}, indent=2, default=str) + "\n")
    log = TrainLog(out, start_step=start, enabled=accelerator.is_main_process, accelerator=accelerator,
                   project="fusionrs-clip", config=cfg)

    # -- loop
    encoder.train()
    t0 = time.perf_counter()
    history: list[dict[str, Any]] = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train clip {cfg.variant}",
               disable=not (cfg.progress and accelerator.is_main_process))
    for step in bar:
        micro_batches = feed.micro_batches(step)  # this process's shard of each micro-batch of the step
        parts: dict[str, list[float]] = {}
        for k in range(cfg.grad_accum):
            batch = micro_batches[k]
            with accelerator.autocast():
                emb = encoder(**batch)
                losses = loss_fn(rgb=emb["rgb"].float(), ir=None if emb["ir"] is None else emb["ir"].float(),
                                 text=emb["text"].float(),
                                 ir_text=None if emb["ir_text"] is None else emb["ir_text"].float(),
                                 logit_scale=emb["logit_scale"], output_dict=True)
            accelerator.backward(losses["loss"] / cfg.grad_accum)
            for key, value in losses.items():
                parts.setdefault(key, []).append(value.item())
        accelerator.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        record = {"step": step + 1, **{k: float(np.mean(v)) for k, v in parts.items()},
                  "temperature": float(1 / raw_model.logit_scale.exp().clamp(max=100).item()),
                  "lr": scheduler.get_last_lr()[0], "seconds": round(time.perf_counter() - t0, 2)}
        history.append(record)
        if accelerator.is_main_process:
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                log.write(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}")
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
                _save_checkpoint(out, step + 1, raw_model, optimizer,
                                 scheduler, cfg.keep_checkpoints)
        accelerator.wait_for_everyone()
        if out_of_time(t0, cfg.max_minutes):
            accelerator.print(f"time budget of {cfg.max_minutes} min reached at step {step + 1}; --resume continues")
            if accelerator.is_main_process:
                _save_checkpoint(out, step + 1, raw_model, optimizer,
                                 scheduler, cfg.keep_checkpoints)
            break

    seconds = time.perf_counter() - t0
    done = history[-1]["step"] if history else start
    summary: dict[str, Any] = {"steps": done, "resumed_from": start, "seconds": round(seconds, 1),
                               "samples_per_second": round((done - start) * cfg.batch_size / seconds, 2) if seconds > 0 and done > start else None,
                               "final_loss": history[-1]["loss"] if history else None, "history": history, **meta}
    if accelerator.is_main_process:
        if done >= cfg.steps:
            meta.update(train_seconds_last_run=round(seconds, 1), samples_per_second=summary["samples_per_second"],
                        final_loss=summary["final_loss"])
            save_clip(out / "final", raw_model, processor, meta)
            summary["model"] = str(out / "final")
        if log.path.exists():
            plot_loss_curve(log.path, out / "loss_curve.png", title=f"{cfg.variant} ({ir_view}, {cfg.caption_policy})",
                            ylabel="InfoNCE")
    log.close()
    accelerator.wait_for_everyone()
    return summary


def _default_data() -> str:
    from fusionrs.data.loading import default_dataset_dir

    return str(default_dataset_dir())

