"""Cost of a QMF training step: ``qmf-full`` against the baseline ``qmf-bl`` (QMF Table 4's
first and last rows) at batch 8 and 64 px with the full-size networks of the CelebA presets,
and the split of the full step into networks, quality maps and the L_BP terms.

The split is measured by difference: the same step with one part replaced by a stand-in of
negligible cost (same shapes, still differentiable), median of ``--steps`` timed steps after
warm-up:

* maps = full - full with the three quality maps replaced by ``1 - |x - ref|`` (their forward
  and their backward; the maps are computed three times a step: the two-pass input of M_F, the
  output's maps for d2 and s, a real pair's maps for d2);
* SSIM term = full - full with ``ssim_weight = 0``; NIQE term = full - full with
  ``niqe_weight = 0`` (after the warm-up, so the NIQE term is on);
* 1-GP = (full without the SSIM and NIQE terms) - (the same with the gradient penalty
  replaced by zero);
* networks = full - maps - SSIM - NIQE - 1-GP (g1/PAM/M_F/g2, d1, d2, s forwards and
  backwards, optimiser steps).

Requirements of the QMF issue: the full step at most 2.0 x the BL step, the maps at most 25 %
of the full step.

Timing: on the CPU the process time of each step (run it with ``--threads 1``: the step's
own compute, little affected by other jobs on a shared machine), on CUDA the wall time between
synchronisations.

Usage: ``python benchmarks/qmf_step.py [--device cpu|cuda] [--steps 5] [--threads N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from qagen.data import build_dataset  # noqa: E402
from qagen.train import TrainContext, get_recipe, resolve_run_config  # noqa: E402
from qagen.train.loader import BatchStream  # noqa: E402


def _recipe(preset: str, device: torch.device, overrides: list[str]):
    run = resolve_run_config(None, preset=preset, data="builtin",
                             overrides=["niqe.warmup_steps=2", "train.batch_size=8",
                                        "data.resolution=64", *overrides])  # fmt: skip
    ds = build_dataset("builtin", 64, "train")
    ctx = TrainContext(run, device=device, rank=0, world_size=1, local_rank=0, dataset=ds,
                       generator=torch.Generator(device=device).manual_seed(0),
                       batches_per_epoch=1000)  # fmt: skip
    rec = get_recipe("qmf")(run.hparams, ctx)
    stream = iter(BatchStream(ds, 8, seed=0, device=device, num_workers=0))
    return rec, stream


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(rec: Any, stream: Iterator, device: torch.device, steps: int, warmup: int = 3) -> float:
    for s in range(warmup):
        rec.train_step(stream, s)
    # CPU: process time (with one thread it is the step's own compute, nearly independent of
    # what else runs on a shared machine); CUDA: wall time between synchronisations
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times = []
    for s in range(warmup, warmup + steps):
        _sync(device)
        t = clock()
        rec.train_step(stream, s)
        _sync(device)
        times.append(clock() - t)
    return statistics.median(times)


def _cheap_maps(x: torch.Tensor, ref: torch.Tensor, scales: int = 5):
    from qagen.methods.qmf.maps import QualityMaps

    d = 1 - (x - ref).abs().mean(1, keepdim=True) / 2
    return QualityMaps(torch.cat([d, d, d], 1), d.mean((1, 2, 3)))


def _zero_gp(critic, real, fake, **kw):
    from qagen.gan.penalties import GradientPenaltyTerms

    z = real.new_zeros(())
    return GradientPenaltyTerms(z, real.new_ones(real.shape[0]), real, real, torch.zeros_like(real))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    import qagen.methods.qmf.recipe as qmf_mod

    def run(preset: str, overrides=(), patch: dict | None = None) -> float:
        with contextlib.ExitStack() as stack:
            for name, fn in (patch or {}).items():
                old = getattr(qmf_mod, name)
                setattr(qmf_mod, name, fn)
                stack.callback(setattr, qmf_mod, name, old)
            rec, stream = _recipe(preset, device, list(overrides))
            return _time(rec, stream, device, args.steps)

    t_bl = run("qmf-bl-celeba")
    t_full = run("qmf-full-celeba")
    t_nomaps = run("qmf-full-celeba", patch={"quality_maps": _cheap_maps})
    t_nossim = run("qmf-full-celeba", ["ssim_weight=0"])
    t_noniqe = run("qmf-full-celeba", ["niqe_weight=0"])
    t_noqa = run("qmf-full-celeba", ["ssim_weight=0", "niqe_weight=0"])
    t_nogp = run("qmf-full-celeba", ["ssim_weight=0", "niqe_weight=0"],
                 patch={"gradient_penalty_terms": _zero_gp})  # fmt: skip
    maps, ssim, niqe, gp = t_full - t_nomaps, t_full - t_nossim, t_full - t_noniqe, t_noqa - t_nogp
    nets = t_full - maps - ssim - niqe - gp
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"QMF step at batch 8, 64 px, full-size networks (qmf-*-celeba presets), {device}, "
        f"{torch.get_num_threads()} threads, median of {args.steps} steps, load {load:.2f}"
    )
    print(f"| step | seconds | share of full |\n|---|---|---|")  # noqa: F541
    for name, v in (("qmf-bl", t_bl), ("qmf-full", t_full), ("  networks", nets),
                    ("  quality maps (3 per step, fwd + bwd)", maps), ("  L_BP: NIQE term", niqe),
                    ("  L_BP: SSIM term", ssim), ("  L_BP: 1-GP", gp)):  # fmt: skip
        print(f"| {name} | {v:.4f} | {v / t_full:.1%} |")
    ratio, share = t_full / t_bl, maps / t_full
    print(
        f"full / BL = {ratio:.2f} (required <= 2.0); maps = {share:.1%} of the full step "
        "(required <= 25 %)"
    )
    return 0 if ratio <= 2.0 and share <= 0.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
