"""Training across machines (issue 20): two "nodes" of one process each, as ``torchrun --nnodes 2
--nproc-per-node 1 --node-rank 0|1 --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:PORT`` sets them
up (every rank is LOCAL_RANK 0 of its node, GROUP_RANK is the node), gloo on the loopback
address, must equal the single-process run with the same global batch: for a GAN recipe
(``began``), for ``qmf`` (QMF under DDP was untested before) and for ``stylegan2`` (lazy R1 and
path-length regularisation, style mixing, noise inputs).

The processes are forked from the test (no interpreter start-up), with the environment
``torchrun`` gives its workers. Both ranks run ``qagen train``'s entry point,
:func:`qagen.train.train_main`, into one run directory, as two machines with a shared file system
do. The runs are in float64 (the networks built under ``torch.set_default_dtype(float64)``, the
images cast), as the trainer's own DDP test (tests/train/test_train_ddp.py), so that the only
difference from the single process, the order of the reductions (two half-batch gradients
averaged by DDP vs one full-batch mean), stays far below what a sharding bug would change.

This test found two faults of QMF under DDP, fixed with it: the interpolation coefficients of
its gradient penalties were drawn for the local batch (``ctx.rand`` takes the global size), and
the map critic's "other real image" rolled each rank's shard instead of the global batch.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import qagen.train.main as train_main_mod
from qagen.data import build_dataset
from qagen.train import load_checkpoint, train_main
from qagen.train.checkpoint import checkpoint_path

STEPS = 3

COMMON = [
    "train.device=cpu", "train.deterministic=false", "train.progress=false",
    "train.tensorboard=false", "train.log_every=1", "train.sample_every=0",
    "train.checkpoint_every=1", "train.keep_last=0", "data.num_workers=0", "train.n_samples=4",
]  # fmt: skip

CASES = {
    # BEGAN: no batch norm, batch-mean losses, the k_t controller on rank-averaged losses
    "began": (
        "began",
        ["data.resolution=16", "channels=4", "z_dim=6", "h_dim=5", "train.batch_size=4"],
    ),  # fmt: skip
    # QMF with map fusion, the map critic D2 and the score regressor S (instance norm only);
    # the NIQE penalty pools its pristine statistics per rank, so it is off here
    "qmf": (
        "qmf-mf-ssim",
        ["ngf=8", "ndf=8", "d2_ndf=8", "s_ndf=8", "n_res=1", "train.batch_size=4", "n_critic=1"],
    ),  # fmt: skip
    # StyleGAN2 with both lazy regularisers inside the 3 steps (R1 on D, path length on G: its
    # running mean pl_mean is all-reduced), style mixing and per-pixel noise drawn for the global
    # batch; minibatch std over groups of 1, because the official grouping is per device (a
    # group never spans two GPUs), so groups of 4 of a batch of 8 differ from two shards of 4
    "stylegan2": (
        "stylegan2",
        [
            "data.resolution=16",
            "z_dim=8",
            "w_dim=8",
            "mapping_layers=2",
            "channel_base=64",
            "channel_max=8",
            "mbstd_group=1",
            "d_reg_interval=2",
            "g_reg_interval=2",
            "pl_batch_shrink=2",
            "train.batch_size=4",
        ],
    ),  # fmt: skip
}


class _Float64:
    """The dataset's images in float64 (the networks are built in float64, see below)."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i):
        item = self.ds[i]
        return item.to(torch.float64) if isinstance(item, torch.Tensor) else item


def _small(data):
    return _Float64(build_dataset("builtin", data.resolution, data.split, length=16))


def _train(recipe: str, out: str, steps: int = STEPS) -> None:
    preset, over = CASES[recipe]
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        rc = train_main(recipe, data="builtin", preset=preset, out=out, max_steps=steps,
                        overrides=[*COMMON, *over])  # fmt: skip
    finally:
        torch.set_default_dtype(before)
    assert rc == 0


def _node(node: int, nodes: int, port: int, recipe: str, out: str) -> None:
    """One node's only worker, with the environment torchrun gives it."""
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(nodes), RANK=str(node),
        LOCAL_RANK="0", LOCAL_WORLD_SIZE="1", GROUP_RANK=str(node), GROUP_WORLD_SIZE=str(nodes),
        ROLE_RANK=str(node), ROLE_WORLD_SIZE=str(nodes), GLOO_SOCKET_IFNAME="lo",
    )  # fmt: skip
    _train(recipe, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
@pytest.mark.parametrize("recipe", sorted(CASES))
def test_two_nodes_equal_one_process(recipe, tmp_path, monkeypatch):
    import torch._dynamo  # noqa: F401  (imported once before forking; DDP needs it)

    monkeypatch.setattr(train_main_mod, "build_training_dataset", _small)
    ddp = tmp_path / "nodes"
    mp.start_processes(_node, args=(2, _free_port(), recipe, str(ddp)), nprocs=2, join=True,
                       start_method="fork")  # fmt: skip
    _train(recipe, str(tmp_path / "single"))  # one thread, as the nodes (tests/conftest.py)
    a = load_checkpoint(checkpoint_path(tmp_path / "single" / "checkpoints", STEPS))
    b = load_checkpoint(checkpoint_path(ddp / "checkpoints", STEPS))
    assert b["world_size"] == 2 and len(b["rng"]) == 2  # both nodes' RNG states are saved
    assert a["data"] == b["data"]  # the same global batches were consumed
    for net, params in a["modules"].items():
        for name, t in params.items():
            # float64: DDP's average of two half-batch gradients vs the full-batch mean differs
            # by ~1e-16 relative; Adam amplifies it at most lr / eps = 1e4 times a step
            # (components whose gradient is ~eps): measured <= 6.3e-10 after 3 steps (qmf's
            # generator); the weights themselves move by > 1e-4 (checked below)
            torch.testing.assert_close(b["modules"][net][name], t, rtol=0, atol=1e-8,
                                       msg=f"{recipe}: {net}.{name}")  # fmt: skip
    first = load_checkpoint(checkpoint_path(tmp_path / "single" / "checkpoints", 1))
    moved = max(float((t - first["modules"][net][k]).abs().max())
                for net, params in a["modules"].items() for k, t in params.items())  # fmt: skip
    assert moved > 1e-4
