"""Gradient penalty through a DistributedDataParallel critic (2 CPU processes, gloo backend).

DDP averages parameter gradients over ranks, so after ``loss.backward()`` every rank must hold
the mean of the per-rank single-process gradients of ``L_D = W + GP + drift``."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from qagen.gan.nets.resnet import ResNetCritic
from qagen.gan.objectives import drift_penalty, wasserstein_critic_loss
from qagen.gan.penalties import gradient_penalty


def _critic() -> ResNetCritic:
    torch.manual_seed(0)
    return ResNetCritic(16, channels=8)


def _rank_loss(critic, rank: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + rank)
    real = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    fake = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    d_real, d_fake = critic(real), critic(fake)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(rank))
    return wasserstein_critic_loss(d_real, d_fake) + gp + drift_penalty(d_real)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        critic = DDP(_critic())
        _rank_loss(critic, rank).backward()
        grads = [p.grad.clone() for p in critic.module.parameters()]
        torch.save(grads, f"{out}/grads{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_gradient_penalty_under_ddp(tmp_path):
    # DDP's constructor imports torch._dynamo (seconds): import it once here, then fork (not
    # spawn) so both children inherit it and every other module already imported.
    import torch._dynamo  # noqa: F401

    mp.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork"
    )
    ddp = [torch.load(tmp_path / f"grads{r}.pt", weights_only=True) for r in range(2)]
    # single-process reference: the mean over ranks of each rank's gradient
    per_rank = []
    for r in range(2):
        critic = _critic()
        _rank_loss(critic, r).backward()
        per_rank.append([p.grad.clone() for p in critic.parameters()])
    for a, b, r0, r1 in zip(ddp[0], ddp[1], *per_rank, strict=True):
        ref = (r0 + r1) / 2
        assert torch.isfinite(a).all()
        assert torch.equal(a, b)  # every rank holds the same reduced gradient
        # float32 summation order differs between the all-reduce and this mean: 1e-5
        assert torch.allclose(a, ref, atol=1e-5, rtol=1e-4)
