"""Tri-modal contrastive loss: symmetric InfoNCE over (RGB, text), (IR, text) and (RGB, IR).

open_clip style: a small module with `get_logits` and `forward`, one learnable temperature (the
model's `logit_scale`) shared by every pair, the total being the mean over the pairs the variant
trains (`trimodal`: all three; `dual_text`: the two text pairs; `rgb_text` / `ir_text`: one).

The loss is computed over the local batch (no cross-process gather), so under data parallelism
each process contrasts against its own shard's negatives.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PAIRS", "TriModalLoss", "symmetric_infonce"]

PAIRS = ("rgb_text", "ir_text", "rgb_ir")
# CLIP clamps the learnable scale at 100 (temperature 0.01) so training cannot blow up the logits.
MAX_LOGIT_SCALE = 100.0


def symmetric_infonce(logits: torch.Tensor) -> torch.Tensor:
    """Mean of the row-wise and column-wise cross-entropy against the diagonal (matching pairs).

    Args:
        logits: an (N, N) tensor of scaled similarities; row i and column i belong to pair i.

    Returns:
        A scalar tensor: (CE(rows) + CE(columns)) / 2 with targets 0..N-1.
    """
    target = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


class TriModalLoss(nn.Module):
    """Mean symmetric InfoNCE over the chosen modality pairs.

    Inputs are embeddings (normalised here); `logit_scale` is the log of the inverse temperature.
    """

    def __init__(self, pairs: Sequence[str] = PAIRS):
        super().__init__()
        unknown = [p for p in pairs if p not in PAIRS]
        if unknown or not pairs:
            raise ValueError(f"pairs must be a non-empty subset of {PAIRS}, got {list(pairs)}")
        self.pairs = tuple(pairs)

    @property
    def needs_ir(self) -> bool:
        return any(p in ("ir_text", "rgb_ir") for p in self.pairs)

    @property
    def needs_ir_text(self) -> bool:
        return "ir_text" in self.pairs

    def get_logits(self, a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled cosine similarities a->b and b->a."""
        scale = logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        logits = scale * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).t()
        return logits, logits.t()

    def forward(self, *, rgb: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                ir: torch.Tensor | None = None, ir_text: torch.Tensor | None = None,
                output_dict: bool = False):
        """`text` pairs with `rgb`; `ir_text` (default: `text`) pairs with `ir`."""
        ir_text = text if ir_text is None else ir_text
        inputs = {"rgb_text": (rgb, text), "ir_text": (ir, ir_text), "rgb_ir": (rgb, ir)}
        losses = {}
        for pair in self.pairs:
            a, b = inputs[pair]
            if a is None or b is None:
                raise ValueError(f"pair {pair!r} needs both embeddings")
            losses[pair] = symmetric_infonce(self.get_logits(a, b, logit_scale)[0])
        total = torch.stack(list(losses.values())).mean()
        if output_dict:
            return {"loss": total, **losses}
        return total
