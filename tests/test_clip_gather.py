"""Gathered negatives under data parallelism: 2 CPU processes (gloo, real DDP) with batch B each give the
same loss and gradients as 1 process with the whole batch 2B (`fusionrs.clip.losses.gather_rows`)."""

import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from fusionrs.clip.losses import TriModalLoss, gather_rows

DIM_IN, DIM_OUT = 6, 4


class TinyEncoders(nn.Module):
    """One linear tower per modality and CLIP's learnable temperature: a real model, just small."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rgb, self.ir, self.text = (nn.Linear(DIM_IN, DIM_OUT) for _ in range(3))
        self.logit_scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, rgb, ir, text, ir_text):
        return {"rgb": self.rgb(rgb), "ir": self.ir(ir), "text": self.text(text), "ir_text": self.text(ir_text),
                "logit_scale": self.logit_scale}


def _inputs(n: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {k: torch.randn(n, DIM_IN, generator=g) for k in ("rgb", "ir", "text", "ir_text")}


def _loss_and_grads(model: nn.Module, batch: dict, gather: bool) -> tuple[float, dict[str, torch.Tensor]]:
    out = model(**batch)
    loss = TriModalLoss(gather=gather)(**out)
    loss.backward()
    inner = model.module if hasattr(model, "module") else model
    return loss.item(), {k: p.grad.detach().clone() for k, p in inner.named_parameters()}


def _rank(rank: int, world: int, port: int, n: int, results: dict) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        batch = {k: v[rank::world] for k, v in _inputs(n).items()}  # the trainer's shard: rows rank, rank + world, ...
        ddp = nn.parallel.DistributedDataParallel(TinyEncoders())  # averages gradients over the processes
        results[rank] = _loss_and_grads(ddp, batch, gather=True)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("n", [8, 5])  # even shards (4 + 4) and uneven ones (3 + 2)
def test_two_ranks_match_one_rank_with_the_whole_batch(n):
    single_loss, single_grads = _loss_and_grads(TinyEncoders(), _inputs(n), gather=False)
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_rank, args=(2, _free_port(), n, results), nprocs=2, join=True)
        results = dict(results)
    # Local-only negatives (the old behaviour) would give a different loss: the check has teeth.
    local_loss, _ = _loss_and_grads(TinyEncoders(), {k: v[0::2] for k, v in _inputs(n).items()}, gather=False)
    assert abs(local_loss - single_loss) > 1e-3
    for rank in (0, 1):
        loss, grads = results[rank]
        assert loss == pytest.approx(single_loss, abs=1e-6)
        for name, grad in single_grads.items():
            torch.testing.assert_close(grads[name], grad, atol=1e-6, rtol=1e-5, msg=f"rank {rank}, {name}")


def test_gather_rows_is_the_identity_without_a_process_group():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_rows(x) is x
