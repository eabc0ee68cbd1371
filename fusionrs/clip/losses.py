"""Tri-modal contrastive loss: symmetric InfoNCE over (RGB, text), (IR, text) and (RGB, IR).

open_clip style: a small module with `get_logits` and `forward`, one learnable temperature (the
model's `logit_scale`) shared by every pair, the total being the mean over the pairs the variant
trains (`trimodal`: all three; `dual_text`: the two text pairs; `rgb_text` / `ir_text`: one).

Under data parallelism (`gather=True`, what `fusionrs train clip` sets with more than one process)
every process's embeddings are gathered first (`gather_rows`), so each process contrasts its rows
against the whole global batch, as one process with the global batch would: 2 processes with batch B
give the loss and (after DDP's gradient averaging) the gradients of 1 process with batch 2B.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PAIRS", "TriModalLoss", "gather_rows", "symmetric_infonce"]

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


class _GatherRows(torch.autograd.Function):
    """All processes' rows, concatenated in rank order; the gradient of each process's own rows is the
    sum over processes of the gradient of their copies (every process computes the same global loss).

    By hand because torch's autograd-aware `torch.distributed.nn.functional.all_gather` is deprecated in
    favour of a private API; this needs only the public `all_gather` / `all_reduce`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        import torch.distributed as dist

        longest = max(sizes)
        padded = torch.cat([x, x.new_zeros(longest - x.shape[0], *x.shape[1:])]) if x.shape[0] < longest else x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        ctx.rank, ctx.sizes = dist.get_rank(), sizes
        return torch.cat([part[:n] for part, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # sum over processes
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Every process's rows of `x`, in rank order, with gradients flowing back to each process's own rows.

    Processes may hold different numbers of rows (a micro-batch that does not split evenly). Outside
    an initialised process group, or with one process, `x` itself.

    Args:
        x: (n_rank, ...) this process's rows.

    Returns:
        (sum of n_rank, ...) the global rows.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    count = torch.tensor([x.shape[0]], device=x.device)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    return _GatherRows.apply(x, [int(c) for c in counts])


class TriModalLoss(nn.Module):
    """Mean symmetric InfoNCE over the chosen modality pairs.

    Inputs are embeddings (normalised here); `logit_scale` is the log of the inverse temperature. With
    `gather=True` the negatives are the global batch of every process (`gather_rows`).
    """

    def __init__(self, pairs: Sequence[str] = PAIRS, *, gather: bool = False):
        super().__init__()
        self.gather = gather
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
        if self.gather:
            rgb, text, ir_text = gather_rows(rgb), gather_rows(text), gather_rows(ir_text)
            ir = None if ir is None else gather_rows(ir)
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
