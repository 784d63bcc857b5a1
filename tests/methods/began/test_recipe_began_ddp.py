"""The ``began`` recipe under DDP (2 CPU processes, gloo) equals the single-process run: BEGAN's
networks have no batch norm, the losses are batch means (DDP's gradient average is the
full-batch gradient), the noise is drawn per global batch and the k_t controller updates from
losses averaged over ranks, so every rank holds the same k_t and the same weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_recipe_began import TINY, Images

from qagen.train import Trainer, resolve_run_config
from qagen.train.ema import unwrap


def _run():
    over = [*TINY, "beta_gmsm=1.0", "lambda_k=0.05", "k_init=0.5", "train.deterministic=false"]
    return resolve_run_config("began", data="x", overrides=over, max_steps=3)


def _state(trainer, result) -> dict:
    return {
        "step": result.step,
        "recipe": trainer.recipe.state_dict(),
        "D": unwrap(trainer.recipe.D).state_dict(),
        "G": unwrap(trainer.recipe.G).state_dict(),
    }


def _worker(rank: int, world: int, port: int, root: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )  # fmt: skip
    trainer = Trainer(_run(), Images(), os.path.join(root, "ddp"))
    torch.save(_state(trainer, trainer.fit()), os.path.join(root, f"rank{rank}.pt"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_two_ranks_equal_one_process(tmp_path):
    import torch._dynamo  # noqa: F401  (imported once before forking; DDP needs it)

    mp.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork"
    )
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer(_run(), Images(), tmp_path / "single")
        single = _state(trainer, trainer.fit())
    finally:
        torch.set_num_threads(before)
    assert r0["step"] == r1["step"] == single["step"] == 3
    assert r0["recipe"] == r1["recipe"]  # the controller state, k_t included, on both ranks
    k0, k = r0["recipe"]["controller"]["k"], single["recipe"]["controller"]["k"]
    assert k0 == pytest.approx(k, abs=1e-7) and k != 0.5  # k_t moved, identically
    for net in ("D", "G"):
        for name, t in r0[net].items():
            assert torch.equal(t, r1[net][name]), f"{net}.{name} differs between ranks"
            # gradients averaged over ranks vs the full batch: float32 summation order only
            torch.testing.assert_close(t, single[net][name], rtol=0, atol=2e-6)
