"""LoRA fine-tuning of a captioning VLM: peft LoRA r16 on the LLM + the projector trained fully.

Reads top to bottom: defaults (`VLMTrainConfig`), load the base, wrap it with peft, (optionally)
cache the frozen vision tower's features, then a fixed budget of `steps x batch_size` examples with
accelerate, checkpoints every `save_every` steps, and at the end two folders:
`OUT/adapter` (peft: `PeftModel.from_pretrained(base, OUT/adapter)`) and `OUT/model` (LoRA merged
into the LLM: a standard LLaVA folder for plain transformers), plus `OUT/log.jsonl`.

Why cache vision features: the vision tower is frozen, so on CPU it is pure waste to run it again
on every step; LLaVA models take the same result through `inputs_embeds`, and the saved model is
still a standard LLaVA that runs its own tower at inference.

QLoRA (4-bit base via bitsandbytes) only where bitsandbytes and CUDA both exist.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fusionrs.core.atomic import atomic_file, atomic_folder
from fusionrs.errors import FusionRSError

__all__ = [
    "LORA_TARGETS",
    "FeatureCache",
    "VLMTrainConfig",
    "load_base",
    "train_vlm",
    "wrap_lora",
]

# The LLM's attention and MLP projections (LLaMA/Qwen/SmolLM names), never the vision tower's.
LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
PROJECTOR = "multi_modal_projector"


@dataclass
class VLMTrainConfig:
    """Training defaults (one fixed budget: `steps x batch_size` examples per variant)."""

    mode: str = "rgb+ir"
    task: str = "mixed"
    steps: int = 64
    batch_size: int = 8
    lr: float = 2e-4  # LoRA
    projector_lr: float = 1e-3  # the projector starts random in the offline LLaVA
    weight_decay: float = 0.0
    warmup_steps: int = 4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    max_answer_tokens: int = 48
    save_every: int = 16
    seed: int = 0
    qlora: bool = False
    cache_features: bool = True
    notes: dict[str, Any] = field(default_factory=dict)


def load_base(base: str | None, *, qlora: bool = False, image_size: int | None = None, vision: str | None = None):
    """(model, processor): `None`/"offline" composes the offline LLaVA, "tiny" a seeded tiny one (tests,
    smoke runs); else any image-text-to-text folder."""
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
    """peft LoRA on the LLM projections; the projector is trained fully and saved with the adapter."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if config.qlora:
        model = prepare_model_for_kbit_training(model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
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
        """Compute features for every image key not cached yet; returns how many were added."""
        import torch

        from fusionrs.vlm.data import example_images

        todo: dict[str, Any] = {}
        for example in examples:
            for key, image in zip(example["image_keys"], example_images(example)):
                if key not in self.features and key not in todo:
                    todo[key] = image
        keys = list(todo)
        parameter = next(model.model.vision_tower.parameters())
        for start in range(0, len(keys), batch_size):
            chunk = keys[start:start + batch_size]
            pixels = processor.image_processor([todo[k] for k in chunk], return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                feats = vision_features(model, pixels.to(parameter.device, parameter.dtype))
            for key, value in zip(chunk, feats):
                self.features[key] = value.to(torch.float16).contiguous().cpu()
            print(f"vision features {min(start + batch_size, len(keys))}/{len(keys)}", file=sys.stderr, flush=True)
        if keys and self.path is not None:
            from safetensors.torch import save_file

            with atomic_file(self.path) as tmp:
                save_file(self.features, str(tmp))
        return len(keys)

    def stack(self, keys: Sequence[str]):
        import torch

        missing = [key for key in keys if key not in self.features]
        if missing:
            raise FusionRSError(f"vision features missing for {missing[:3]} (run FeatureCache.ensure first)")
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
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _latest_checkpoint(out: Path) -> Path | None:
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return checkpoints[-1] if checkpoints else None


def train_vlm(
    model,
    processor,
    examples: Iterator[dict[str, Any]],
    out: str | Path,
    config: VLMTrainConfig,
    *,
    feature_cache: FeatureCache | None = None,
    resume: bool = False,
    extra_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train `config.steps` steps of `config.batch_size` examples drawn from `examples`; save; summary.

    `examples` must be deterministic (e.g. `caption_stream`): on `resume` the first
    `step x batch_size` examples are skipped to continue exactly where the checkpoint stopped.
    """
    import torch
    from accelerate import Accelerator
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from fusionrs.vlm.data import collate, encode_example

    out = Path(out)
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
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    model, optimizer = accelerator.prepare(model, optimizer)

    start_step, elapsed_before, tokens_before = 0, 0.0, 0
    if resume and (checkpoint := _latest_checkpoint(out)) is not None:
        set_peft_model_state_dict(accelerator.unwrap_model(model), load_file(str(checkpoint / "adapter_state.safetensors")))
        state = torch.load(checkpoint / "trainer_state.pt", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        start_step, elapsed_before, tokens_before = int(state["step"]), float(state["elapsed"]), int(state["tokens"])
        torch.set_rng_state(state["torch_rng"])
        for _ in range(start_step * config.batch_size):
            next(examples)
        print(f"resumed from {checkpoint} at step {start_step}", file=sys.stderr, flush=True)

    pad = processor.tokenizer.pad_token_id
    log_path = out / "log.jsonl"
    if start_step == 0 and log_path.exists():
        log_path.unlink()
    n_trainable = sum(p.numel() for p in parameters)
    model.train()
    started = time.perf_counter()
    tokens = tokens_before
    step = start_step
    for step in range(start_step, config.steps):
        batch_examples = [next(examples) for _ in range(config.batch_size)]
        batch = collate([encode_example(processor, ex, config.max_answer_tokens) for ex in batch_examples], pad)
        for group, base_lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base_lr * _lr_factor(step, config)
        loss = _step_loss(model, batch, llava_cache)
        accelerator.backward(loss)
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        elapsed = elapsed_before + time.perf_counter() - started
        record = {"step": step + 1, "loss": round(float(loss.detach()), 5), "lr": optimizer.param_groups[0]["lr"],
                  "tokens": tokens, "elapsed_s": round(elapsed, 2), "tokens_per_s": round(tokens / max(elapsed, 1e-9), 1)}
        with open(log_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(f"step {step + 1}/{config.steps} loss {record['loss']:.4f} {record['tokens_per_s']} tok/s "
              f"{record['elapsed_s']:.0f}s", file=sys.stderr, flush=True)
        if config.save_every and (step + 1) % config.save_every == 0 and step + 1 < config.steps:
            _save_checkpoint(accelerator.unwrap_model(model), optimizer, out, step + 1, elapsed, tokens)

    elapsed = elapsed_before + time.perf_counter() - started
    summary = {
        "config": asdict(config) | (extra_config or {}),
        "steps": config.steps,
        "examples": config.steps * config.batch_size,
        "train_tokens": tokens,
        "train_time_s": round(elapsed, 1),
        "train_tokens_per_s": round(tokens / max(elapsed, 1e-9), 1),
        "trainable_parameters": n_trainable,
        "final_loss": _mean_tail_loss(log_path),
    }
    _save_final(accelerator.unwrap_model(model), processor, out, summary)
    return summary


def _mean_tail_loss(log_path: Path, tail: int = 8) -> float | None:
    if not log_path.exists():
        return None
    losses = [json.loads(line)["loss"] for line in log_path.read_text().splitlines() if line.strip()]
    return round(sum(losses[-tail:]) / len(losses[-tail:]), 4) if losses else None


def _save_checkpoint(model, optimizer, out: Path, step: int, elapsed: float, tokens: int) -> None:
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = out / f"checkpoint-{step}"
    state = {k: v.contiguous() for k, v in get_peft_model_state_dict(model).items()}
    with atomic_folder(folder) as staging:  # a kill mid-save leaves the previous checkpoint intact
        save_file(state, str(staging / "adapter_state.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed, "tokens": tokens,
                    "torch_rng": torch.get_rng_state()}, staging / "trainer_state.pt")
    for old in out.glob("checkpoint-*"):  # keep the newest only: they are resume points, not results
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)


def _save_final(model, processor, out: Path, summary: dict[str, Any]) -> None:
    """OUT/adapter (peft) and OUT/model (merged, standard folder) + fusionrs notes + summary."""
    from fusionrs.vlm.compose import write_vlm_config

    model.save_pretrained(out / "adapter")
    processor.save_pretrained(out / "adapter")
    merged = model.merge_and_unload()
    merged.eval()
    merged.save_pretrained(out / "model")
    processor.save_pretrained(out / "model")
    notes = dict(summary["config"].get("notes") or {})
    write_vlm_config(out / "model", mode=summary["config"]["mode"], task=summary["config"]["task"], **notes)
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
