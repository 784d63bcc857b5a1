"""QAGAN-NIQE under DDP (2 CPU processes, gloo): the recipe's extra state must be identical on
every rank (the NIQE pristine statistics are summed over ranks at every critic update), so the
checkpoint that rank 0 writes is valid for all ranks, and the networks stay in sync.

The generator's batch norm sees per-rank batch statistics under DDP (docs/training.md), so the
run is not compared with a single-process run here; the trainer's own DDP test covers that."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_recipes_wgan import TINY, EightBitImages

from qagen.train import Trainer, resolve_run_config
from qagen.train.ema import unwrap


def _run():
    over = [*TINY, "hparams.niqe.warmup_steps=2", "train.deterministic=false"]
    return resolve_run_config("qagan-ssim-niqe", data="x", overrides=over, max_steps=3)


def _worker(rank: int, world: int, port: int, root: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )  # fmt: skip
    trainer = Trainer(_run(), EightBitImages(), os.path.join(root, "ddp"))
    result = trainer.fit()
    state = {
        "step": result.step,
        "recipe": trainer.recipe.state_dict(),
        "D": unwrap(trainer.recipe.D).state_dict(),
        "G": unwrap(trainer.recipe.G).state_dict(),
    }
    torch.save(state, os.path.join(root, f"rank{rank}.pt"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _equal(a, b, path=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _equal(a[k], b[k], f"{path}/{k}")
    else:
        assert a == b, path


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_niqe_statistics_are_shared_by_all_ranks(tmp_path):
    import torch._dynamo  # noqa: F401  (imported once before forking; DDP needs it)

    mp.start_processes(
        _worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True, start_method="fork"
    )
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert r0["step"] == r1["step"] == 3
    _equal(r0["recipe"], r1["recipe"], "recipe")
    _equal(r0["D"], r1["D"], "D")
    model = r0["recipe"]["niqe"]["model"]
    # batch pooling per rank: one feature row per rank and critic update, 2 warm-up steps of
    # n_critic = 2 updates on 2 ranks
    assert model is not None and model["n_blocks"] == 2 * 2 * 2
    # G's parameters are synchronised by DDP (its batch-norm buffers are per rank)
    _equal({k: v for k, v in r0["G"].items() if "running" not in k and "num_batches" not in k},
           {k: v for k, v in r1["G"].items() if "running" not in k and "num_batches" not in k})  # fmt: skip
