"""Frozen lower blocks: split the towers' forward in two, and cache the lower half's output once.

CPU training of the ablation only trains the top block(s) of each tower, its final norm / pooler,
the projections and the temperature. The lower blocks never change, so their output for every
training image (RGB, translated IR, grayscale IR) and every caption is computed once, stored fp16
on disk, memory-mapped, and reused by every variant: a step then costs only the top blocks.

`vision_upper(model, vision_lower(model, x, k), k)` equals `model.get_image_features(x)` (and the
same for text), so a model trained this way is a stock model; `tests/test_clip_train.py` checks it.

Supported towers for the split: `Dinov2Model` (vision) and `BertModel` (text), i.e. the composed
offline model and `tiny`. Other architectures train unfrozen (`train_top=None`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fusionrs.core.atomic import atomic_folder
from fusionrs.errors import FusionRSError

if TYPE_CHECKING:
    import torch

__all__ = [
    "CACHE_VIEWS",
    "FeatureCache",
    "build_feature_cache",
    "check_splittable",
    "freeze_lower",
    "text_lower",
    "text_upper",
    "vision_lower",
    "vision_upper",
]

# IR views that need their own image features (rgb_duplicate reuses "rgb").
CACHE_VIEWS = ("rgb", "translated", "grayscale")
CACHE_VERSION = 1


def _towers(model):
    return model.vision_model, model.text_model


def check_splittable(model) -> None:
    """Raise a clear error unless the towers are ones the split forward knows (Dinov2 + Bert).

    Args:
        model: a CLIP-style model with `vision_model` and `text_model`.

    Raises:
        FusionRSError: the towers are not Dinov2Model + BertModel.
    """
    vision, text = getattr(model, "vision_model", None), getattr(model, "text_model", None)
    names = (type(vision).__name__, type(text).__name__)
    if names != ("Dinov2Model", "BertModel"):
        raise FusionRSError(
            f"frozen-block training supports Dinov2Model + BertModel towers, not {names[0]} + {names[1]}; "
            "train this model unfrozen (no --train-top-blocks)")


def num_blocks(model) -> tuple[int, int]:
    vision, text = _towers(model)
    return len(vision.encoder.layer), len(text.encoder.layer)


def freeze_lower(model, vision_top: int, text_top: int) -> list[str]:
    """Freeze everything except the top blocks, final norm, pooler, projections and temperature.

    Args:
        model: a splittable CLIP model (Dinov2 + Bert towers); changed in place.
        vision_top: image blocks left trainable (0: none).
        text_top: text layers left trainable (0: none).

    Returns:
        The names of the trainable parameters (what checkpoints store).

    Raises:
        FusionRSError: the towers cannot be split, or a count is outside 0..number of blocks.
    """
    check_splittable(model)
    nv, nt = num_blocks(model)
    if not (0 <= vision_top <= nv and 0 <= text_top <= nt):
        raise FusionRSError(f"top blocks must be within 0-{nv} (vision) and 0-{nt} (text), got {vision_top}, {text_top}")
    keep = ["visual_projection.", "text_projection.", "logit_scale", "vision_model.layernorm.", "text_model.pooler."]
    keep += [f"vision_model.encoder.layer.{i}." for i in range(nv - vision_top, nv)]
    keep += [f"text_model.encoder.layer.{i}." for i in range(nt - text_top, nt)]
    names = []
    for name, param in model.named_parameters():
        param.requires_grad_(any(name.startswith(k) or name == k for k in keep))
        if param.requires_grad:
            names.append(name)
    return names


def vision_lower(model, pixel_values: torch.Tensor, frozen: int) -> torch.Tensor:
    """Patch + position embeddings and the first `frozen` blocks.

    Args:
        model: a splittable CLIP model.
        pixel_values: (B, 3, H, W) processed images.
        frozen: how many lower blocks to run.

    Returns:
        The hidden states, (B, 1 + patches, hidden).
    """
    vision = model.vision_model
    hidden = vision.embeddings(pixel_values.to(vision.embeddings.patch_embeddings.projection.weight.dtype))
    for layer in vision.encoder.layer[:frozen]:
        hidden = layer(hidden)
    return hidden


def _cls_attention(q_proj, k_proj, v_proj, heads: int, scaling: float, dropout: float, h: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """Self-attention output of the CLS query only (keys/values from every token): (B, 1, heads*dim)."""
    import torch.nn.functional as F

    batch, tokens, _ = h.shape
    split = lambda x, n: x.view(batch, n, heads, -1).transpose(1, 2)  # noqa: E731
    q, k, v = split(q_proj(h[:, :1]), 1), split(k_proj(h), tokens), split(v_proj(h), tokens)
    if mask is not None and mask.dim() == 4 and mask.shape[-2] > 1:
        mask = mask[:, :, :1]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scaling)
    return out.transpose(1, 2).reshape(batch, 1, -1)


def _dinov2_last_block_cls(layer, hidden: torch.Tensor) -> torch.Tensor:
    """Dinov2Layer for the CLS token only: the pooled output never reads the other tokens' outputs,
    so the last block needs them only as keys/values (about 5x less work at 65 tokens)."""
    attn = layer.attention
    h = layer.norm1(hidden)
    context = _cls_attention(attn.q_proj, attn.k_proj, attn.v_proj, attn.num_attention_heads, attn.scaling,
                             attn.attention_dropout if attn.training else 0.0, h)
    cls = hidden[:, :1] + layer.drop_path(layer.layer_scale1(attn.o_proj(context)))
    return cls + layer.drop_path(layer.layer_scale2(layer.mlp(layer.norm2(cls))))


def vision_upper(model, hidden: torch.Tensor, frozen: int) -> torch.Tensor:
    """The remaining blocks, final LayerNorm on CLS (Dinov2's pooler_output) and the projection.

    Args:
        model: a splittable CLIP model.
        hidden: `vision_lower`'s output (or its cached copy), (B, 1 + patches, hidden).
        frozen: how many lower blocks produced `hidden`.

    Returns:
        Image embeddings, (B, projection_dim), not normalised.
    """
    vision = model.vision_model
    layers = vision.encoder.layer
    for layer in layers[frozen:len(layers) - 1]:
        hidden = layer(hidden)
    if frozen < len(layers):
        hidden = _dinov2_last_block_cls(layers[-1], hidden)
    return model.visual_projection(vision.layernorm(hidden)[:, 0])


def _text_mask(model, hidden: torch.Tensor, attention_mask: torch.Tensor | None):
    """The attention mask exactly as BertModel builds it (None when nothing is padded, for sdpa)."""
    mask, _ = model.text_model._create_attention_masks(
        attention_mask=attention_mask, encoder_attention_mask=None, embedding_output=hidden,
        encoder_hidden_states=None, cache=None)
    return mask


def text_lower(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, frozen: int) -> torch.Tensor:
    """Token embeddings and the first `frozen` BERT layers.

    Args:
        model: a splittable CLIP model.
        input_ids: (B, L) token ids.
        attention_mask: (B, L) mask, or None when nothing is padded.
        frozen: how many lower layers to run.

    Returns:
        The hidden states, (B, L, hidden).
    """
    text = model.text_model
    hidden = text.embeddings(input_ids=input_ids, token_type_ids=_zeros_like(input_ids))
    mask = _text_mask(model, hidden, attention_mask)
    for layer in text.encoder.layer[:frozen]:
        hidden = layer(hidden, mask)
    return hidden


def _bert_last_layer_cls(layer, hidden: torch.Tensor, mask) -> torch.Tensor:
    """BertLayer for the CLS token only (the pooler reads nothing else)."""
    attn = layer.attention.self
    context = _cls_attention(attn.query, attn.key, attn.value, attn.num_attention_heads, attn.scaling,
                             attn.dropout.p if attn.training else 0.0, hidden, mask)
    cls = layer.attention.output(context, hidden[:, :1])
    return layer.output(layer.intermediate(cls), cls)


def text_upper(model, hidden: torch.Tensor, attention_mask: torch.Tensor | None, frozen: int) -> torch.Tensor:
    """The remaining layers, BERT's pooler (dense + tanh on CLS) and the projection.

    Args:
        model: a splittable CLIP model.
        hidden: `text_lower`'s output (or its cached copy), (B, L, hidden).
        attention_mask: (B, L) mask, or None when nothing is padded.
        frozen: how many lower layers produced `hidden`.

    Returns:
        Text embeddings, (B, projection_dim), not normalised.
    """
    text = model.text_model
    mask = _text_mask(model, hidden, attention_mask)
    layers = text.encoder.layer
    for layer in layers[frozen:len(layers) - 1]:
        hidden = layer(hidden, mask)
    if frozen < len(layers):
        hidden = _bert_last_layer_cls(layers[-1], hidden, mask)
    return model.text_projection(text.pooler(hidden))


def _zeros_like(t):
    import torch

    return torch.zeros_like(t)


# ---------------------------------------------------------------------------------------------
# The on-disk cache


def _fingerprint(model, processor, frozen: tuple[int, int], data: str, split: str, n_rows: int) -> str:
    """Cache key: which tower weights, image size, split point and data; a change makes a new folder.

    Only the towers count: projections differ per seed but never touch the cached lower blocks.
    """
    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            if not name.startswith(("vision_model.", "text_model.")):
                continue
            digest.update(name.encode())
            digest.update(tensor.float().flatten()[:64].numpy().tobytes())
    spec = {"version": CACHE_VERSION, "frozen": frozen, "size": processor.image_processor.size,
            "data": str(Path(data).resolve()), "split": split, "rows": n_rows}
    digest.update(json.dumps(spec, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class FeatureCache:
    """Memory-mapped lower-block features of one split: image views and ragged caption tokens."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.is_file():
            raise FusionRSError(f"{self.folder}: not a feature cache (no meta.json)")
        self.meta = json.loads(meta_path.read_text())
        self.images = {v: np.load(self.folder / f"{v}.npy", mmap_mode="r") for v in self.meta["views"]}
        self.tokens = np.load(self.folder / "text_tokens.npy", mmap_mode="r")
        self.offsets = np.load(self.folder / "text_offsets.npy")
        # per image: caption ids of its original and IR-aware captions
        self.captions: list[list[int]] = self.meta["captions"]
        self.ir_captions: list[list[int]] = self.meta["ir_captions"]

    def __len__(self) -> int:
        return len(self.captions)

    def image_batch(self, view: str, index: Sequence[int]) -> torch.Tensor:
        import torch

        if view == "rgb_duplicate":
            view = "rgb"
        order = np.argsort(index)  # sorted reads are faster on a memory map
        rows = np.empty((len(index),) + self.images[view].shape[1:], dtype=np.float16)
        rows[order] = self.images[view][np.asarray(index)[order]]
        return torch.from_numpy(rows).float()

    def text_batch(self, caption_ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad the cached token states of these captions: (B, L, D) float32 + (B, L) mask."""
        import torch

        lengths = [int(self.offsets[c + 1] - self.offsets[c]) for c in caption_ids]
        width = max(lengths)
        hidden = np.zeros((len(caption_ids), width, self.tokens.shape[1]), dtype=np.float32)
        mask = np.zeros((len(caption_ids), width), dtype=np.int64)
        for i, (c, n) in enumerate(zip(caption_ids, lengths)):
            hidden[i, :n] = self.tokens[self.offsets[c]:self.offsets[c] + n]
            mask[i, :n] = 1
        return torch.from_numpy(hidden), torch.from_numpy(mask)


def build_feature_cache(model, processor, data: str | Path, *, split: str = "train", frozen: tuple[int, int],
                        root: str | Path = "runs/clip_cache", views: Sequence[str] = CACHE_VIEWS,
                        batch_size: int = 64, max_text_tokens: int = 77, limit: int | None = None,
                        progress: bool = True, rows=None) -> FeatureCache:
    """Compute (or reuse) the lower-block features of every image view and caption of `split`.

    Each image is decoded once: a chunk of rows is read once and every view is built from it.
    Written into a temporary folder and renamed at the end, so an interrupted run never leaves a
    half cache that a later run would trust.

    Args:
        model: a splittable CLIP model (Dinov2 + Bert towers).
        processor: its processor.
        data: the dataset folder (part of the cache key).
        split: the split.
        frozen: (vision, text) frozen lower blocks.
        root: the folder that holds caches.
        views: image views to cache (`CACHE_VIEWS`).
        batch_size: rows per forward.
        max_text_tokens: caption truncation.
        limit: only the first N rows (ignored when `rows` is given).
        progress: show progress bars.
        rows: the split already loaded (a `datasets.Dataset` with rgb, ir, captions, ir_captions and
            id), so a caller that has it does not load it again.

    Returns:
        The `FeatureCache`.

    Raises:
        FusionRSError: the model's towers cannot be split, or the data is not a FusionRS split.
    """
    import torch
    from tqdm.auto import tqdm

    from fusionrs.clip.views import ir_view_image, load_split

    check_splittable(model)
    if rows is None:
        rows = load_split(data, split, limit=limit)
    key = _fingerprint(model, processor, frozen, str(data), split, len(rows))
    folder = Path(root) / f"{split}-{key}"
    if (folder / "meta.json").is_file():
        return FeatureCache(folder)
    with atomic_folder(folder) as staging:
        vision_frozen, text_frozen = frozen
        model.eval()

        with torch.no_grad():
            # -- images: one fp16 memmap per view, every view built from one decode of each chunk
            images = rows.select_columns(["rgb", "ir"] if "translated" in views else ["rgb"])
            outs: dict[str, np.ndarray] = {}
            for start in tqdm(range(0, len(rows), batch_size), desc="cache images", disable=not progress):
                chunk = images[start:start + batch_size]
                rgbs = chunk["rgb"]
                irs = chunk["ir"] if "translated" in views else [None] * len(rgbs)
                for view in views:
                    batch = [ir_view_image(rgb, ir, view) if view != "rgb" else rgb for rgb, ir in zip(rgbs, irs)]
                    pixels = processor.image_processor(images=batch, return_tensors="pt")["pixel_values"]
                    hidden = vision_lower(model, pixels, vision_frozen).numpy().astype(np.float16)
                    if view not in outs:
                        outs[view] = np.lib.format.open_memmap(staging / f"{view}.npy", mode="w+", dtype=np.float16,
                                                               shape=(len(rows),) + hidden.shape[1:])
                    outs[view][start:start + len(batch)] = hidden
            for out in outs.values():
                out.flush()
            del outs

            # -- captions: ragged token states (only real tokens), offsets per caption
            texts, captions, ir_captions = [], [], []
            for caps, ir_caps in zip(rows["captions"], rows["ir_captions"]):
                captions.append(list(range(len(texts), len(texts) + len(caps))))
                texts += caps
                ir_captions.append(list(range(len(texts), len(texts) + len(ir_caps))))
                texts += ir_caps
            tokenizer = processor.tokenizer
            lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_text_tokens)["input_ids"]]
            order = np.argsort(lengths, kind="stable")  # batches of similar length waste little on padding
            states: list[np.ndarray] = [np.zeros((0, 0), np.float16)] * len(texts)
            for start in tqdm(range(0, len(texts), batch_size), desc="cache captions", disable=not progress):
                idx = order[start:start + batch_size]
                enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_text_tokens,
                                return_tensors="pt")
                hidden = text_lower(model, enc["input_ids"], enc["attention_mask"], text_frozen)
                for i, h, m in zip(idx, hidden, enc["attention_mask"]):
                    states[i] = h[:int(m.sum())].numpy().astype(np.float16)
            chunks = states
            offsets = np.concatenate([[0], np.cumsum([len(x) for x in states])]).astype(np.int64)
            np.save(staging / "text_tokens.npy", np.concatenate(chunks))
            np.save(staging / "text_offsets.npy", offsets)

        meta = {"version": CACHE_VERSION, "key": key, "data": str(data), "split": split, "rows": len(rows),
                "frozen": list(frozen), "views": list(views), "ids": list(rows["id"]),
                "captions": captions, "ir_captions": ir_captions, "max_text_tokens": max_text_tokens}
        (staging / "meta.json").write_text(json.dumps(meta) + "\n")
    return FeatureCache(folder)
