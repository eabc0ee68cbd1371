"""LoRA fine-tuning of a captioning VLM: peft LoRA r16 on the LLM + the projector trained fully.

Reads top to bottom: `train_vlm(cfg)` builds the example stream, loads the base, (optionally) caches
the frozen vision tower's features, then `fit_vlm` wraps the model with peft and runs a fixed budget
of `steps x batch_size` examples with accelerate, checkpointing every `checkpoint_every` steps in the
shared layout (`fusionrs.core.training`). At the end: `OUT/final` (LoRA merged into the LLM: a
standard LLaVA folder for plain transformers) holding `OUT/final/adapter` (peft:
`PeftModel.from_pretrained(base, OUT/final/adapter)`), plus `OUT/log.jsonl`, `OUT/loss_curve.png`
and `OUT/train_summary.json`. Runs from before the unification (`OUT/model`, `OUT/adapter`) still load.

Why cache vision features: the vision tower is frozen, so on CPU it is pure waste to run it again
on every step; LLaVA models take the same result through `inputs_embeds`, and the saved model is
still a standard LLaVA that runs its own tower at inference.

QLoRA (4-bit base via bitsandbytes) only where bitsandbytes and CUDA both exist.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fusionrs.core.atomic import atomic_file, atomic_folder
from fusionrs.core.training import (TrainLog, latest_checkpoint, load_checkpoint, out_of_time, plot_loss_curve,
                                     save_checkpoint, set_lr, trackers_for, tracking_kwargs, warmup_cosine)
from fusionrs.errors import FusionRSError
from fusionrs.vlm.config import VLMTrainConfig

__all__ = [
    "LORA_TARGETS",
    "FeatureCache",
    "VLMTrainConfig",
    "fit_vlm",
    "load_base",
    "train_vlm",
    "wrap_lora",
]

# The LLM's attention and MLP projections (LLaMA/Qwen/SmolLM names), never the vision tower's.
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
PROJECTOR = "multi_modal_projector"


def load_base(base: str | None, *, qlora: bool = False, image_size: int | None = None, vision: str | None = None):
    """(model, processor): `None`/"offline" composes the offline LLaVA, "tiny" a seeded tiny one (tests,
    smoke runs); else any image-text-to-text folder.

    Args:
        base: a model folder, "offline" (or None / ""), or "tiny".
        qlora: load a folder's base in 4 bits (CUDA + bitsandbytes).
        image_size: with "offline": the image side in pixels.
        vision: with "offline": a vision tower folder instead of the default.

    Returns:
        (model, processor).

    Raises:
        FusionRSError: `qlora` with the composed base, or a folder without config.json.
    """
    if base == "tiny":
        from fusionrs.vlm.compose import compose_tiny_llava

        return compose_tiny_llava()
    if base in (None, "", "offline"):
        if qlora:
            raise FusionRSError("--qlora applies to a pretrained --base folder, not the composed offline LLaVA")
        from fusionrs.vlm.compose import DEFAULT_IMAGE_SIZE, compose_offline_llava

        return compose_offline_llava(vision=vision, image_size=image_size or DEFAULT_IMAGE_SIZE)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = Path(base)
    if not (path / "config.json").is_file():
        raise FusionRSError(f"--base {base}: no config.json (offline machines cannot download models)")
    kwargs: dict[str, Any] = {}
    if qlora:
        kwargs.update(_qlora_kwargs())
    return AutoModelForImageTextToText.from_pretrained(path, **kwargs), AutoProcessor.from_pretrained(path)


def _qlora_kwargs() -> dict[str, Any]:
    import torch

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise FusionRSError("--qlora needs the bitsandbytes package (pip install bitsandbytes)") from error
    if not torch.cuda.is_available():
        raise FusionRSError("--qlora needs a CUDA GPU (bitsandbytes 4-bit); train plain LoRA on CPU instead")
    from transformers import BitsAndBytesConfig

    return {"quantization_config": BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True), "device_map": {"": 0}}


def wrap_lora(model, config: VLMTrainConfig):
    """peft LoRA on the LLM projections; the projector is trained fully and saved with the adapter.

    Args:
        model: the base model (all its parameters are frozen first).
        config: LoRA rank / alpha / dropout and `qlora`.

    Returns:
        The peft model.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if config.qlora:
        model = prepare_model_for_kbit_training(model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.alpha, lora_dropout=config.lora_dropout,
        target_modules=LORA_TARGETS, modules_to_save=[PROJECTOR], bias="none",
    )
    return get_peft_model(model, lora)


def _llava(peft_model):
    """The underlying LLaVA-style model inside peft's wrappers."""
    return peft_model.get_base_model()


def _is_llava(model) -> bool:
    inner = getattr(model, "model", None)
    return hasattr(inner, "vision_tower") and hasattr(inner, PROJECTOR) and hasattr(model.config, "image_token_index")


def vision_features(model, pixel_values):
    """What LLaVA feeds its projector: the chosen vision layer, CLS dropped for strategy "default"."""
    config = model.config
    outputs = model.model.vision_tower(pixel_values, output_hidden_states=True, return_dict=True)
    layer = config.vision_feature_layer
    if isinstance(layer, int):
        features = outputs.hidden_states[layer]
        if config.vision_feature_select_strategy == "default":
            features = features[:, 1:]
        return features
    pool = [outputs.hidden_states[i] for i in layer]
    if config.vision_feature_select_strategy == "default":
        pool = [h[:, 1:] for h in pool]
    import torch

    return torch.cat(pool, dim=-1)


class FeatureCache:
    """Frozen vision-tower features by image key (`row_id/rgb`), saved as one safetensors file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.features: dict[str, Any] = {}
        if self.path is not None and self.path.is_file():
            from safetensors.torch import load_file

            self.features = load_file(str(self.path))

    def ensure(self, model, processor, examples: Iterable[dict[str, Any]], batch_size: int = 32) -> int:
        """Compute features for every image key not cached yet; returns how many were added.

        Only examples with an uncached key are read, each once (all its images from one decode), and
        at most `batch_size` images are held at a time.
        """
        import torch

        from fusionrs.vlm.data import example_images

        parameter = next(model.model.vision_tower.parameters())
        pending: dict[str, Any] = {}
        added = 0

        def flush() -> None:
            nonlocal added
            keys = list(pending)
            pixels = processor.image_processor([pending[k] for k in keys], return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                feats = vision_features(model, pixels.to(parameter.device, parameter.dtype))
            for key, value in zip(keys, feats):
                self.features[key] = value.to(torch.float16).contiguous().cpu()
            added += len(keys)
            pending.clear()
            print(f"vision features {added} computed", file=sys.stderr, flush=True)

        for example in examples:
            todo = [key for key in example["image_keys"] if key not in self.features and key not in pending]
            if not todo:
                continue
            for key, image in zip(example["image_keys"], example_images(example)):
                if key in todo:
                    pending[key] = image
                    if len(pending) == batch_size:
                        flush()
        if pending:
            flush()
        if added and self.path is not None:
            from safetensors.torch import save_file

            with atomic_file(self.path) as tmp:
                save_file(self.features, str(tmp))
        return added

    def _check(self, keys: Sequence[str]) -> None:
        missing = [key for key in keys if key not in self.features]
        if missing:
            raise FusionRSError(f"vision features missing for {missing[:3]} (run FeatureCache.ensure first)")

    def image_tokens(self, keys: Sequence[str]) -> list[int]:
        """How many image tokens each image stands for in the prompt: its number of feature rows."""
        self._check(keys)
        return [int(self.features[key].shape[0]) for key in keys]

    def stack(self, keys: Sequence[str]):
        import torch

        self._check(keys)
        return torch.stack([self.features[key] for key in keys])


def _step_loss(model, batch: dict[str, Any], cache: FeatureCache | None):
    """Loss of one batch: spliced cached features (LLaVA) or the model's own vision path."""
    llava = _llava(model)
    if cache is None:
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "labels", "pixel_values") if k in batch}
        return model(**inputs).loss
    device = next(llava.model.multi_modal_projector.parameters()).device
    input_ids = batch["input_ids"].to(device)
    projector = llava.model.multi_modal_projector
    features = cache.stack(batch["image_keys"]).to(device, next(projector.parameters()).dtype)
    projected = projector(features).reshape(-1, llava.config.text_config.hidden_size)
    embeds = llava.get_input_embeddings()(input_ids)
    mask = (input_ids == llava.config.image_token_index).unsqueeze(-1).expand_as(embeds)
    if mask[..., 0].sum() != projected.shape[0]:
        raise FusionRSError(f"{int(mask[..., 0].sum())} image tokens but {projected.shape[0]} image features in a batch")
    embeds = embeds.masked_scatter(mask, projected.to(embeds.dtype))
    return model(inputs_embeds=embeds, attention_mask=batch["attention_mask"].to(device),
                 labels=batch["labels"].to(device)).loss


def _lr_factor(step: int, config: VLMTrainConfig) -> float:
    return warmup_cosine(step, warmup=config.warmup, total=config.steps, floor=0.1)


# -------------------------------------------------------------------------------------------------
# The whole job from a config: examples -> base -> feature cache -> fit


def translator_of_dataset(data_dir: str | None) -> str | None:
    """The dataset's own translator spec (generation.json), usable from the current working directory.

    Args:
        data_dir: a FusionRS dataset folder (None: no dataset).

    Returns:
        The spec with its path resolved (relative to the dataset folder, as fusionrs writes it, or, for
        older folders, to the working directory), or None when the folder records none.
    """
    from fusionrs.core.references import resolve_spec

    if not data_dir or not (Path(data_dir) / "generation.json").is_file():
        return None
    spec = json.loads((Path(data_dir) / "generation.json").read_text()).get("generation", {}).get("translator")
    if not spec:
        return None
    resolved = resolve_spec(spec, data_dir)
    if resolved == spec:  # not beside the dataset: an older folder whose path was relative to its run's cwd
        resolved = resolve_spec(spec, Path.cwd())
    return resolved


def _notes(cfg: VLMTrainConfig, translator: str | None) -> dict[str, Any]:
    """What goes into fusionrs_vlm.json beside the merged model (hub cards read base/data/lora_r)."""
    notes: dict[str, Any] = {"base": cfg.base, "lora_r": cfg.lora_r, "steps": cfg.steps, "batch_size": cfg.batch_size,
                             "seed": cfg.seed}
    if translator:
        notes["translator"] = translator
    if cfg.data:
        notes["data"] = str(cfg.data)
    if cfg.hit_uav:
        notes["hit_uav"] = str(cfg.hit_uav)
    return notes | cfg.notes


def _portable_notes(notes: dict[str, Any], final_dir: Path) -> dict[str, Any]:
    """Notes whose local paths (translator, data, hit_uav) are relative to the saved model folder."""
    from fusionrs.core.references import reference_for, spec_for

    portable = dict(notes)
    if portable.get("translator"):
        portable["translator"] = spec_for(portable["translator"], final_dir)
    for key in ("data", "hit_uav"):
        if portable.get(key):
            portable[key] = reference_for(portable[key], final_dir)
    return portable


def _cycle(examples: list, seed: int) -> Iterator[dict[str, Any]]:
    """Endless seeded reshuffles of a finite example list (deterministic for resume)."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    if not order:
        raise FusionRSError("no training examples")
    while True:
        rng.shuffle(order)
        for index in order:
            yield examples[index]


def example_streams(cfg: VLMTrainConfig, rows=None) -> Callable[[], Iterator[dict[str, Any]]]:
    """A function returning a fresh, identical example stream (one plans the feature cache, one trains).

    Args:
        cfg: the training config (task, mode, data / hit_uav, seed).
        rows: dataset rows to use instead of reading `cfg.data` (caption tasks).

    Returns:
        A zero-argument function; each call starts the same deterministic stream.

    Raises:
        FusionRSError: the task's data is missing or the mode does not fit the task.
    """
    if cfg.task == "vqa":
        if not cfg.hit_uav:
            raise FusionRSError("--task vqa needs --hit-uav DIR")
        if cfg.mode != "ir":
            raise FusionRSError("--task vqa trains on real thermal images only: use --mode ir")
        from fusionrs.vlm.data import vqa_examples
        from fusionrs.vlm.vqa_data import build_vqa_manifest

        examples = vqa_examples(build_vqa_manifest(cfg.hit_uav, "train"), cfg.hit_uav)
        return lambda: _cycle(examples, cfg.seed)
    from fusionrs.vlm.data import caption_stream, load_rows

    if rows is None:
        if not cfg.data:
            raise FusionRSError(f"--task {cfg.task} needs --data DIR (a FusionRS dataset folder)")
        rows = load_rows(cfg.data, "train", mode=cfg.mode)  # one split, only the columns the task reads
    return lambda: caption_stream(rows, cfg.task, cfg.mode, seed=cfg.seed)


def train_vlm(cfg: VLMTrainConfig, *, rows=None, model=None, processor=None) -> dict[str, Any]:
    """Train (or resume) a captioner from its config; the merged model is a standard folder at `OUT/final`.

    Args:
        cfg: the whole job (data, base, budget, LoRA, feature cache, bookkeeping).
        rows: dataset rows to train on instead of reading `cfg.data` (caption tasks).
        model: an already loaded base (with `processor`) instead of loading `cfg.base`; `cfg.base`
            still names it (the adapter records it as its base).
        processor: the base's processor.

    Returns:
        The summary: steps, examples, tokens, time, throughput, final loss, config.

    Raises:
        FusionRSError: bad data, base or settings (named in the message).
    """
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trackers_for(cfg.report_to)  # a missing tracker fails before the base loads and the features are cached
    new_stream = example_streams(cfg, rows)
    notes = _notes(cfg, cfg.translator or translator_of_dataset(cfg.data))
    if model is None:
        model, processor = load_base(cfg.base, qlora=cfg.qlora, image_size=cfg.image_size, vision=cfg.vision)
    cache = None
    if cfg.cache_features and _is_llava(model):
        cache = FeatureCache(cfg.feature_cache)
        planned = new_stream()  # features for exactly the examples the budget will draw
        cache.ensure(model, processor, [next(planned) for _ in range(cfg.steps * cfg.batch_size)])
    return fit_vlm(model, processor, new_stream(), cfg, feature_cache=cache, notes=notes)


# -------------------------------------------------------------------------------------------------
# The loop


def fit_vlm(model, processor, examples: Iterator[dict[str, Any]], config: VLMTrainConfig, *,
            feature_cache: FeatureCache | None = None, notes: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train `config.steps` steps of `config.batch_size` examples drawn from `examples`; save; summary.

    Args:
        model: the base image-text-to-text model (wrapped with LoRA here).
        processor: its processor.
        examples: a deterministic stream (e.g. `caption_stream`): on `config.resume` the first
            `step x batch_size` examples are skipped to continue exactly where the checkpoint stopped.
        config: budget, LoRA and bookkeeping (`config.out` is the run folder).
        feature_cache: cached vision features for the examples (LLaVA bases), or None.
        notes: what goes into `fusionrs_vlm.json` beside the merged model (default `config.notes`).

    Returns:
        The summary dict (also written to `OUT/train_summary.json` when the budget is done).
    """
    import torch
    from accelerate import Accelerator
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    from fusionrs.vlm.data import collate, encode_example

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    model = wrap_lora(model, config)
    llava_cache = feature_cache if (config.cache_features and _is_llava(_llava(model))) else None
    parameters = [p for p in model.parameters() if p.requires_grad]
    projector = [p for n, p in model.named_parameters() if p.requires_grad and PROJECTOR in n]
    lora = [p for n, p in model.named_parameters() if p.requires_grad and PROJECTOR not in n]
    optimizer = torch.optim.AdamW(
        [{"params": lora, "lr": config.lr}, {"params": projector, "lr": config.projector_lr}],
        weight_decay=config.weight_decay,
    )
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=config.mixed_precision,
                              **tracking_kwargs(config.report_to, out))
    model, optimizer = accelerator.prepare(model, optimizer)

    start_step, elapsed_before, tokens_before = 0, 0.0, 0
    if config.resume and (folder := latest_checkpoint(out)) is not None:
        checkpoint = load_checkpoint(folder)
        adapter = "adapter" if (folder / "adapter.safetensors").is_file() else "adapter_state"  # older runs
        set_peft_model_state_dict(accelerator.unwrap_model(model), checkpoint.tensors(adapter))
        optimizer.load_state_dict(checkpoint.state["optimizer"])
        scalars = checkpoint.scalars | {k: checkpoint.state[k] for k in ("elapsed", "tokens") if k in checkpoint.state}
        start_step, elapsed_before, tokens_before = checkpoint.step, float(scalars["elapsed"]), int(scalars["tokens"])
        for _ in range(start_step * config.batch_size):
            next(examples)
        print(f"resumed from {folder} at step {start_step}", file=sys.stderr, flush=True)

    pad = processor.tokenizer.pad_token_id
    log = TrainLog(out, start_step=start_step, accelerator=accelerator, project="fusionrs-vlm", config=config)
    n_trainable = sum(p.numel() for p in parameters)
    model.train()
    started = time.perf_counter()
    tokens = tokens_before
    done = start_step
    for step in range(start_step, config.steps):
        batch_examples = [next(examples) for _ in range(config.batch_size)]
        # each image is decoded once here, or not at all with cached features (no pixel values either)
        batch = collate([encode_example(processor, ex, config.max_answer_tokens,
                                        image_tokens=llava_cache.image_tokens(ex["image_keys"]) if llava_cache else None)
                         for ex in batch_examples], pad)
        set_lr(optimizer, base_lrs, _lr_factor(step, config))
        loss = _step_loss(model, batch, llava_cache)
        accelerator.backward(loss)
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        done = step + 1
        elapsed = elapsed_before + time.perf_counter() - started
        record = {"step": done, "loss": round(float(loss.detach()), 5), "lr": optimizer.param_groups[0]["lr"],
                  "tokens": tokens, "elapsed_s": round(elapsed, 2), "tokens_per_s": round(tokens / max(elapsed, 1e-9), 1)}
        if done % config.log_every == 0 or done == config.steps:
            log.write(record)
        if config.progress:
            print(f"step {done}/{config.steps} loss {record['loss']:.4f} {record['tokens_per_s']} tok/s "
                  f"{record['elapsed_s']:.0f}s", file=sys.stderr, flush=True)
        stop = out_of_time(started, config.max_minutes) and done < config.steps
        if (config.checkpoint_every and done % config.checkpoint_every == 0 and done < config.steps) or stop:
            adapter_state = get_peft_model_state_dict(accelerator.unwrap_model(model))
            save_checkpoint(out, done, tensors={"adapter": adapter_state}, state={"optimizer": optimizer.state_dict()},
                            scalars={"elapsed": elapsed, "tokens": tokens}, keep=config.keep_checkpoints)
        if stop:
            print(f"time budget of {config.max_minutes} min reached at step {done}; --resume continues",
                  file=sys.stderr, flush=True)
            break

    elapsed = elapsed_before + time.perf_counter() - started
    summary = {
        "config": asdict(config),
        "steps": done,
        "examples": done * config.batch_size,
        "train_tokens": tokens,
        "train_time_s": round(elapsed, 1),
        "train_tokens_per_s": round(tokens / max(elapsed, 1e-9), 1),
        "trainable_parameters": n_trainable,
        "final_loss": _mean_tail_loss(log),
    }
    if done >= config.steps:
        _save_final(accelerator.unwrap_model(model), processor, out, summary,
                    config.notes if notes is None else notes)
        summary["model"] = str(out / "final")
    plot_loss_curve(log.path, out / "loss_curve.png", title=f"captioner LoRA ({config.mode}, {config.task})",
                    ylabel="cross-entropy (answer tokens)")
    log.close()
    return summary


def _mean_tail_loss(log: TrainLog, tail: int = 8) -> float | None:
    losses = [record["loss"] for record in log.records()]
    return round(sum(losses[-tail:]) / len(losses[-tail:]), 4) if losses else None


def _save_final(model, processor, out: Path, summary: dict[str, Any], notes: dict[str, Any]) -> None:
    """OUT/final: the merged standard folder + fusionrs notes, with the peft adapter in OUT/final/adapter.

    The adapter records its base (`adapter_base_reference`: a hub id, a path relative to the adapter, or
    a composed base's name; peft alone would write the loaded path, or null for a composed base) and a
    filled card replaces peft's template README.
    """
    from fusionrs.core.cli_config import config_command
    from fusionrs.vlm.adapter_card import adapter_base_reference, write_adapter_card
    from fusionrs.vlm.compose import write_vlm_config

    config = summary["config"]
    adapter_dir = out / "final" / "adapter"
    lora = model.peft_config[model.active_adapter]
    lora.base_model_name_or_path = adapter_base_reference(config["base"], adapter_dir)
    with atomic_folder(out / "final") as staging:
        # The embeddings are never trained (LoRA on the projections only), and "auto" would look the recorded
        # base up (on the hub, for a name that is not a local folder) to compare vocabulary sizes.
        model.save_pretrained(staging / "adapter", save_embedding_layers=False)
        processor.save_pretrained(staging / "adapter")
        write_adapter_card(staging / "adapter", adapter_dir, base_reference=lora.base_model_name_or_path,
                           config=config, lora=lora.to_dict(),
                           command=config_command(VLMTrainConfig, config, ("fusionrs", "train", "vlm")),
                           trainable_parameters=summary.get("trainable_parameters"))
        merged = model.merge_and_unload()
        merged.eval()
        merged.save_pretrained(staging)
        processor.save_pretrained(staging)
        write_vlm_config(staging, mode=summary["config"]["mode"], task=summary["config"]["task"],
                         **_portable_notes(notes, out / "final"))
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
