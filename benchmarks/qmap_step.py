"""Training throughput of ``qmap-resnet18-unet`` (batch 8, 256 x 256 crops) through qagen's
trainer against a bare PyTorch loop over the same model, data and optimiser.

The trainer's time is read from its own ``metrics.csv`` (``elapsed_s`` logged every step), so it
includes everything the trainer does per step (data order, learning-rate schedule, the rollback
copy, the NaN/Inf check, logging); the bare loop is ``DataLoader`` + forward + L1 + backward +
Adam. Both skip ``--warmup`` steps, run ``--steps`` steps, and alternate ``--rounds`` times (the
machine is shared: the median ratio is reported with the load). The SSIM target maps come from
the on-disk cache: the dataset's counters show how many were computed when it was built and
that none is computed while training (hit rate).

    python benchmarks/qmap_step.py [--steps 6] [--warmup 2] [--rounds 2] [--crop 256] [--batch 8]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qagen.data.qmap import QMapDataOptions, QMapDataset  # noqa: E402
from qagen.methods.qmap.recipes import build_map_network  # noqa: E402
from qagen.train import Trainer, resolve_run_config  # noqa: E402


def bare_loop(ds: QMapDataset, steps: int, warmup: int, batch: int) -> float:
    """Seconds per step of a plain PyTorch loop (after ``warmup`` steps)."""
    torch.manual_seed(0)
    net = build_map_network("resnet18-unet")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)
    it = iter(loader)
    t0 = None
    for k in range(warmup + steps):
        if k == warmup:
            t0 = time.perf_counter()
        try:
            x, y, *_ = next(it)
        except StopIteration:
            it = iter(loader)
            x, y, *_ = next(it)
        loss = F.l1_loss(net(x * 2 - 1), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def trainer_loop(ds: QMapDataset, steps: int, warmup: int, batch: int, crop: int) -> float:
    """Seconds per step through :class:`qagen.train.Trainer` (from its metrics.csv)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = resolve_run_config("qmap-resnet18-unet", preset="qmap-resnet18-unet-demo", overrides=[
            f"data.resolution={crop}", f"train.batch_size={batch}", "data.num_workers=0",
            "train.sample_every=0", "train.checkpoint_every=0",
            "train.checkpoint_every_minutes=0", "train.log_every=1", "train.progress=false",
            "train.tensorboard=false", f"train.max_steps={warmup + steps}",
        ])  # fmt: skip
        Trainer(run, ds, tmp).fit()
        with open(Path(tmp) / "metrics.csv", newline="") as fh:
            elapsed = {int(r["step"]): float(r["elapsed_s"]) for r in csv.DictReader(fh)}
    return (elapsed[warmup + steps] - elapsed[warmup]) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    a = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load before: "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    t = time.perf_counter()
    ds = QMapDataset("builtin", "train", a.crop, options=QMapDataOptions(pristine_side=320))
    s = ds.cache_stats
    print(f"data: {len(ds)} items; SSIM maps at build: {s['found']} from the cache, "
          f"{s['computed']} computed ({time.perf_counter() - t:.1f} s)")  # fmt: skip
    bare, trainer = [], []
    for r in range(a.rounds):
        bare.append(bare_loop(ds, a.steps, a.warmup, a.batch))
        trainer.append(trainer_loop(ds, a.steps, a.warmup, a.batch, a.crop))
        print(f"round {r + 1}: bare {a.batch / bare[-1]:.3f} img/s, trainer "
              f"{a.batch / trainer[-1]:.3f} img/s (load {os.getloadavg()[0]:.2f})")  # fmt: skip
    ratios = [b / t for b, t in zip(bare, trainer, strict=True)]
    computed = ds.cache_stats["computed"] - s["computed"]
    reads = 2 * a.rounds * (a.warmup + a.steps) * a.batch
    print(f"\n| loop | images/s (median of {a.rounds}) |\n|---|---|\n"
          f"| bare PyTorch | {a.batch / statistics.median(bare):.3f} |\n"
          f"| qagen Trainer | {a.batch / statistics.median(trainer):.3f} |\n")  # fmt: skip
    print(f"trainer / bare throughput: {statistics.median(ratios):.3f} (rounds: "
          f"{', '.join(f'{x:.3f}' for x in ratios)}); SSIM maps computed while training: "
          f"{computed} for {reads} items read (cache hit rate {100 * (1 - computed / reads):.0f}%)")  # fmt: skip


if __name__ == "__main__":
    main()
