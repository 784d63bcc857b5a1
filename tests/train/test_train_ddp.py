"""DDP (2 processes, gloo, CPU) equals the single-process run with the same global batch.

The toy WGAN-GP's critic loss holds a gradient penalty: ``autograd.grad(D(x_hat), x_hat,
create_graph=True)`` through the DistributedDataParallel critic, then ``backward`` (double
backward through DDP, which DataParallel cannot do, pytorch #2467). Each rank gets half of every
global batch of 8 (data order and augmentation follow the global position), draws the noise of
the whole global batch from the shared generator and keeps its half, and DDP averages the
gradients, so the only difference from the single process is the order of floating-point
reductions (two half-batch means averaged vs one full-batch mean).

Tolerance: the test runs in float64 so that this reordering changes gradients by ~1e-16
relative. Adam's update ``lr * m / (sqrt(v) + eps)`` amplifies a gradient perturbation by at most
``lr / eps`` = 1e-3 / 1e-8 = 1e5 (for components with |g| near eps), i.e. <= ~1e-11 per step; after
4 steps every parameter, EMA weight and Adam moment must agree within atol 1e-9 (rtol 1e-9). In
float32 the same bound would be ~1e-2 (sign flips of near-zero gradient components under Adam),
too loose to detect a sharding bug. Integer state (data position, step counts) and the shared
generator state must match exactly.

A second run checks the NaN agreement: rank 1 alone produces a NaN at step 3; both ranks must
stop with the same error (no hang), rank 0 saves step 2's state, and the group shuts down.
"""

from __future__ import annotations

import json
import socket
import time

import torch.multiprocessing as mp
from train_toys import RandomImages, assert_trees_equal, ddp_run, ddp_worker, max_abs_diff

from qagen.train import Trainer, load_checkpoint
from qagen.train.checkpoint import checkpoint_path, list_checkpoints

TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rows(path):
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]


def test_ddp_matches_single_process_and_agrees_on_nan(tmp_path):
    ports = (_free_port(), _free_port())
    ctx = mp.start_processes(
        ddp_worker, args=(2, ports, str(tmp_path)), nprocs=2, join=False, start_method="spawn"
    )
    # the single-process reference runs meanwhile
    single = Trainer(ddp_run(), RandomImages(), tmp_path / "single").fit()
    deadline = time.monotonic() + TIMEOUT_S
    while not ctx.join(timeout=2):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            raise AssertionError(f"DDP workers did not finish within {TIMEOUT_S} s (hang?)")

    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["step"] for r in reports] == [4, 4] == [single.step] * 2

    a = load_checkpoint(checkpoint_path(tmp_path / "single" / "checkpoints", 4))
    b = load_checkpoint(checkpoint_path(tmp_path / "ddp" / "checkpoints", 4))
    assert b["world_size"] == 2 and len(b["rng"]) == 2  # every rank's RNG state is saved
    for key in ("modules", "ema", "optimizers", "recipe"):
        diff = max_abs_diff(a[key], b[key])
        print(f"max |single - ddp| in {key}: {diff:.2e}")
        assert_trees_equal(a[key], b[key], key, atol=1e-9, rtol=1e-9)
    assert a["data"] == b["data"] and a["data"]["streams"]["main"] == 8
    assert_trees_equal(a["shared_rng"], b["shared_rng"], "shared_rng")

    # logged values are averaged over ranks: the rows of metrics.csv agree too
    rows_a, rows_b = (
        _rows(tmp_path / "single" / "metrics.csv"),
        _rows(tmp_path / "ddp" / "metrics.csv"),
    )
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b] == ["1", "2", "3", "4"]
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for k in ("d_loss", "g_loss", "gp", "wdist"):
            assert abs(float(ra[k]) - float(rb[k])) <= 1e-9 * (1 + abs(float(ra[k]))), (k, ra, rb)
    assert sorted(p.name for p in (tmp_path / "ddp" / "samples").iterdir()) == [
        "step_00000002.png",
        "step_00000004.png",
    ]

    # NaN on rank 1 only: both ranks stopped at step 3, rank 0 saved step 2, groups were closed
    for r in reports:
        assert r["nan_step"] == 3 and r["initialized_after"] is False
        assert "'g_loss' = nan (non-finite on 1 of 2 ranks) at step 3" in r["nan"], r["nan"]
    assert [s for s, _ in list_checkpoints(tmp_path / "nan" / "checkpoints")] == [2]
    nan_ck = load_checkpoint(checkpoint_path(tmp_path / "nan" / "checkpoints", 2))
    assert nan_ck["step"] == 2 and len(nan_ck["rng"]) == 2
    clean_2 = Trainer(ddp_run(max_steps=2, sample_every=0), RandomImages(), tmp_path / "s2").fit()
    ref = load_checkpoint(clean_2.checkpoint)
    assert_trees_equal(ref["modules"], nan_ck["modules"], "modules", atol=1e-9, rtol=1e-9)
    # the parameters really moved between steps 2 and 4 (the 1e-9 agreement is not trivial)
    assert max_abs_diff(ref["modules"], a["modules"]) > 1e-4
