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
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusionrs.core.atomic import atomic_folder
from fusionrs.errors import FusionRSError

__all__ = ["ClipTrainConfig", "plot_loss_curve", "train_clip"]


@dataclass
class ClipTrainConfig:
    data: str | None = None  # FusionRS dataset folder (None: the embedded default)
    init: str = "offline-dinov2-minilm"  # or "tiny", a CLIP folder, a hub id
    variant: str = "trimodal"  # see fusionrs.clip.views.VARIANTS
    ir_view: str | None = None  # override the variant's IR view
    caption_policy: str = "ir_aware"  # IR-text captions: original, ir_aware, mixed
    out: str = "runs/clip/trimodal"
    image_size: int | None = None  # None: the init's default (composed: 112 px)
    projection_dim: int = 256
    limit: int | None = None  # use only the first N training rows (smoke runs)
    # frozen lower blocks: train only the top N blocks of each tower (None: full fine-tuning)
    train_top_vision: int | None = None
    train_top_text: int | None = None
    cache_features: bool = False  # cache the frozen blocks' output once (needs both train_top_*)
    cache_root: str = "runs/clip_cache"
    max_text_tokens: int = 77
    # optimisation: the paper fine-tunes at 5e-6; fresh projections + a temperature want more
    steps: int = 1000
    batch_size: int = 128  # global batch (all processes, all accumulation steps)
    grad_accum: int = 1
    lr: float = 5e-6  # pretrained weights
    head_lr: float | None = None  # projections + temperature (None: same as lr)
    weight_decay: float = 0.1  # on matrices only (not norms, biases, temperature), as open_clip
    warmup: int = 100
    # bookkeeping
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    resume: bool = False
    mixed_precision: str = "no"  # "no", "bf16", "fp16" (accelerate)
    threads: int | None = None
    max_minutes: float | None = None  # stop (and checkpoint) after this much wall time
    progress: bool = True


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
# Data: seeded epochs, one caption draw per (step, row)


@functools.lru_cache(maxsize=4)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_rows(seed: int, step: int, batch_size: int, n: int) -> np.ndarray:
    """Rows of global batch `step`: positions step*B ... in a sequence of seeded epoch permutations."""
    positions = np.arange(step * batch_size, (step + 1) * batch_size)
    return np.array([_permutation(seed, int(p // n), n)[p % n] for p in positions])


class _LiveData:
    """Images and captions read from the dataset each step (no cache).

    Each step decodes every image it needs exactly once: the row selection reads only the image
    columns the views need, and RGB and the IR view are both built from that one decode.
    """

    def __init__(self, rows, processor, ir_view: str, max_text_tokens: int):
        self.processor, self.ir_view, self.max_text_tokens = processor, ir_view, max_text_tokens
        self.captions = list(rows["captions"])
        self.ir_captions = list(rows["ir_captions"])
        self._rgb_rows = rows.select_columns(["rgb"])
        self._pair_rows = rows.select_columns(["rgb", "ir"])

    def __len__(self) -> int:
        return len(self.captions)

    def image_views(self, index, views: Sequence[str | None]) -> dict[str | None, Any]:
        """Pixel batches for each view (None: RGB; else an IR view) of the rows `index`."""
        from fusionrs.clip.views import ir_view_image

        needs_ir = "translated" in views
        chunk = (self._pair_rows if needs_ir else self._rgb_rows)[[int(i) for i in index]]
        rgb, ir = chunk["rgb"], chunk["ir"] if needs_ir else [None] * len(chunk["rgb"])
        out = {}
        for view in views:
            images = rgb if view is None else [ir_view_image(r, i, view) for r, i in zip(rgb, ir)]
            out[view] = self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
        return out

    def texts(self, texts: list[str]):
        enc = self.processor.tokenizer(texts, padding=True, truncation=True, max_length=self.max_text_tokens,
                                       return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]


class _CachedData:
    """The same, from the feature cache (caption ids instead of texts)."""

    def __init__(self, cache, ir_view: str):
        self.cache, self.ir_view = cache, ir_view
        self.captions, self.ir_captions = cache.captions, cache.ir_captions

    def __len__(self) -> int:
        return len(self.cache)

    def image_views(self, index, views: Sequence[str | None]) -> dict[str | None, Any]:
        return {view: self.cache.image_batch("rgb" if view is None else view, index) for view in views}

    def texts(self, caption_ids: list[int]):
        return self.cache.text_batch(caption_ids)


def _micro_batch(data, rows: np.ndarray, captions: list[tuple[Any, Any]], needs_ir: bool, needs_ir_text: bool,
                 ir_view: str) -> dict[str, Any]:
    rgb_caps = [c[0] for c in captions]
    ir_caps = [c[1] for c in captions]
    text, text_mask = data.texts(rgb_caps)
    # rgb_duplicate: the RGB image plays IR, so its embedding is the RGB one (same encoder, same input)
    views = [None, ir_view] if needs_ir and ir_view != "rgb_duplicate" else [None]
    pixels = data.image_views(rows, views)
    batch = {"rgb": pixels[None], "text": text, "text_mask": text_mask,
             "ir": None, "ir_text": None, "ir_text_mask": None}
    if needs_ir:
        batch["ir"] = pixels[None] if ir_view == "rgb_duplicate" else pixels[ir_view]
    if needs_ir_text and ir_caps != rgb_caps:
        batch["ir_text"], batch["ir_text_mask"] = data.texts(ir_caps)
    return batch


# -------------------------------------------------------------------------------------------------
# Checkpoints: trainable weights + optimiser + scheduler + RNG


def _trainable_state(model) -> dict[str, Any]:
    return {name: p.detach().contiguous().cpu() for name, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(folder: Path, step: int, model, optimizer, scheduler, keep: int) -> None:
    import torch
    from safetensors.torch import save_file

    with atomic_folder(folder) as tmp:
        save_file(_trainable_state(model), str(tmp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step}) + "\n")
    for old in _checkpoints(folder.parent)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def _checkpoints(root: Path) -> list[Path]:
    found = [p for p in root.glob("step_*") if p.is_dir() and not p.name.endswith(".tmp")]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def _load_checkpoint(folder: Path, model, optimizer, scheduler) -> int:
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(folder / "trainable.safetensors"))
    missing = model.load_state_dict(weights, strict=False)
    if missing.unexpected_keys:
        raise FusionRSError(f"{folder}: checkpoint holds weights this model lacks: {missing.unexpected_keys[:3]}")
    state = torch.load(folder / "state.pt", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(json.loads((folder / "state.json").read_text())["step"])


# -------------------------------------------------------------------------------------------------


def plot_loss_curve(log_path: str | Path, png_path: str | Path, title: str = "", ylabel: str = "InfoNCE") -> Path | None:
    """Loss (and each pair's loss) against step from log.jsonl, as a PNG."""
    records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = [r["step"] for r in records]
    for key in ("loss", "rgb_text", "ir_text", "rgb_ir"):
        if key in records[0]:
            ax.plot(steps, [r[key] for r in records], label=key, lw=2 if key == "loss" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return Path(png_path)


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
    """Train (or resume) a CLIP variant; the final model is a standard folder at `out/final`."""
    import torch
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from fusionrs.clip.compose import build_clip, image_size_of, save_clip
    from fusionrs.clip.features import build_feature_cache, check_splittable, freeze_lower, num_blocks
    from fusionrs.clip.losses import TriModalLoss
    from fusionrs.clip.views import CAPTION_POLICIES, load_split, pick_captions, resolve_variant

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
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision)
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

    # -- data
    rows = load_split(cfg.data, "train", limit=cfg.limit)
    if cfg.cache_features:
        with accelerator.main_process_first():  # one process computes the cache, the others read it
            cache = build_feature_cache(model, processor, cfg.data if cfg.data is not None else _default_data(),
                                        split="train", frozen=frozen, root=cfg.cache_root, limit=cfg.limit,
                                        max_text_tokens=cfg.max_text_tokens, progress=cfg.progress and accelerator.is_main_process)
        data = _CachedData(cache, ir_view)
        caption_pool = (cache.captions, cache.ir_captions)
    else:
        data = _LiveData(rows, processor, ir_view, cfg.max_text_tokens)
        caption_pool = (data.captions, data.ir_captions)
    n_rows = len(data)
    if n_rows < 2:
        raise FusionRSError(f"{cfg.data}: the train split has {n_rows} rows; contrastive training needs at least 2")

    # -- loss, optimiser, schedule
    loss_fn = TriModalLoss(pairs)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.lr, cfg.head_lr or cfg.lr, cfg.weight_decay),
                                  betas=(0.9, 0.98), eps=1e-6)
    scheduler = get_cosine_schedule_with_warmup(optimizer, min(cfg.warmup, cfg.steps), cfg.steps)
    start = 0
    ckpts = _checkpoints(out / "checkpoints") if cfg.resume else []
    if ckpts:
        start = _load_checkpoint(ckpts[-1], model, optimizer, scheduler)
        accelerator.print(f"resumed from {ckpts[-1]} at step {start}")
    encoder = _make_encoder(model, frozen, cfg.cache_features)
    encoder, optimizer = accelerator.prepare(encoder, optimizer)
    raw_model = accelerator.unwrap_model(encoder).model

    meta = {"format": "fusionrs-clip/1", "variant": cfg.variant, "loss_pairs": list(pairs), "ir_view": ir_view,
            "caption_policy": cfg.caption_policy, "init": cfg.init, "data": str(cfg.data) if cfg.data else "fusionrs (embedded)",
            "train_rows": n_rows, "seed": cfg.seed, "image_size": image_size_of(processor),
            "budget": {"steps": cfg.steps, "batch_size": cfg.batch_size, "samples": cfg.steps * cfg.batch_size},
            "frozen_blocks": {"vision": frozen[0], "text": frozen[1]} if frozen else None,
            "trainable_parameters": trainable, "lr": cfg.lr, "head_lr": cfg.head_lr or cfg.lr,
            "weight_decay": cfg.weight_decay, "warmup": cfg.warmup, "mixed_precision": cfg.mixed_precision,
            "processes": accelerator.num_processes, "grad_accum": cfg.grad_accum,
            "evaluation_note": "the IR view changes training only; evaluate on the dataset's own IR"}
    log_path = out / "log.jsonl"
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps({**asdict(cfg), **meta}, indent=2, default=str) + "\n")
        if not cfg.resume and log_path.exists():
            log_path.unlink()

    # -- loop
    encoder.train()
    t0 = time.perf_counter()
    history: list[dict[str, Any]] = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train clip {cfg.variant}",
               disable=not (cfg.progress and accelerator.is_main_process))
    rank, world = accelerator.process_index, accelerator.num_processes
    for step in bar:
        rows_b = batch_rows(cfg.seed, step, cfg.batch_size, n_rows)
        rng = np.random.default_rng([cfg.seed, step, 1])
        captions = [pick_captions(caption_pool[0][r], caption_pool[1][r], cfg.caption_policy, rng) for r in rows_b]
        parts: dict[str, list[float]] = {}
        for k in range(cfg.grad_accum):
            part = slice(k * micro + rank, (k + 1) * micro, world)  # this process's shard of micro-batch k
            batch = _micro_batch(data, rows_b[part], captions[part], loss_fn.needs_ir, loss_fn.needs_ir_text, ir_view)
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
                with log_path.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=f"{record['loss']:.3f}")
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
                _save_checkpoint(out / "checkpoints" / f"step_{step + 1:06d}", step + 1, raw_model, optimizer,
                                 scheduler, cfg.keep_checkpoints)
        accelerator.wait_for_everyone()
        if cfg.max_minutes is not None and time.perf_counter() - t0 > 60 * cfg.max_minutes:
            accelerator.print(f"time budget of {cfg.max_minutes} min reached at step {step + 1}; --resume continues")
            if accelerator.is_main_process:
                _save_checkpoint(out / "checkpoints" / f"step_{step + 1:06d}", step + 1, raw_model, optimizer,
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
        if log_path.exists():
            plot_loss_curve(log_path, out / "loss_curve.png", title=f"{cfg.variant} ({ir_view}, {cfg.caption_policy})")
    accelerator.wait_for_everyone()
    return summary


def _default_data() -> str:
    from fusionrs.data.loading import default_dataset_dir

    return str(default_dataset_dir())

