"""Time one training step of the ``began`` recipe: BEGAN-IQA's composite distance (model 12,
weights (2, 1, 0)) against the l1-only distance (model 7), and the split between the networks and
the distance.

One step = D's update on L_D = L(x) - k_t L(G(z_D)) and G's update on L_G = L(G(z_G)) (the
recipe's ``train_step``: G twice forward, D on 3 batches, the distances of the real and generated
reconstructions, all three distances logged whatever the weights, the k_t update). Rows:

* ``began-m07``: l1 only (gamma 0.7), the baseline;
* ``began-m12``: l1 2, GMSM 1, Chrom 0 (N_z = N_h = 256), the target is <= 1.25x the m07 step;
* the distance part of each step, timed alone: the step's three distance evaluations (real and
  generated reconstructions with every distance logged, G(z_D)'s weighted distance only) on
  batch-16 images and the backward passes through them; the networks' part is the step minus it.

Both presets at ``--res`` (64 px: the issue's setting; the m12 preset itself is 128 px), batch
16, ``--channels`` n (128: the presets'; CPU runs are slow at 128, try ``--channels 32``).
Configurations are timed round-robin (one step of each in turn, ``--reps`` rounds after
``--warmup``) so that load from other processes affects all alike; the table gives medians.

    python benchmarks/began_step.py                           # CPU, and CUDA when available
    python benchmarks/began_step.py --device cpu --channels 32 --reps 5 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _steps import on_devices, step_arguments

from qagen.train import TrainContext, get_recipe, resolve_run_config

CONFIGS = ("began-m07", "began-m12")
TARGET = 1.25


def build(name: str, device: torch.device, args: argparse.Namespace):
    preset = name
    over = [f"train.batch_size={args.batch}", f"data.resolution={args.res}",
            f"channels={args.channels}"]  # fmt: skip
    run = resolve_run_config(None, preset=preset, data="x", overrides=over)
    ctx = TrainContext(
        run, device=device, rank=0, world_size=1, local_rank=0, dataset=None,
        generator=torch.Generator(device=device).manual_seed(0), batches_per_epoch=1,
    )  # fmt: skip
    torch.manual_seed(0)
    rec = get_recipe("began")(run.hparams, ctx)
    real = (torch.randint(0, 256, (args.batch, 3, args.res, args.res)) / 127.5 - 1).to(device)
    return rec, real


def distance_part(rec, real: torch.Tensor) -> None:
    """The distance work of one step alone: three evaluations and their backward passes."""
    g = torch.Generator(device=real.device).manual_seed(1)
    recs = [
        (real + 0.2 * torch.randn(real.shape, generator=g, device=real.device)).requires_grad_()
        for _ in range(3)
    ]
    l_x, _ = rec.distances(real, recs[0])
    l_zd, _ = rec.distances(real, recs[1], log=False)
    (l_x.mean() - 0.5 * l_zd.mean()).backward()
    l_g, _ = rec.distances(real, recs[2])
    l_g.mean().backward()


def bench(device: torch.device, args: argparse.Namespace) -> dict[str, list[float]]:
    built = {name: build(name, device, args) for name in CONFIGS}
    jobs = {}
    for name, (rec, real) in built.items():
        jobs[name] = lambda rnd, rec=rec, real=real: rec.train_step(iter(lambda: real, None), rnd)
        jobs[f"{name} distance"] = lambda rnd, rec=rec, real=real: distance_part(rec, real)
    times: dict[str, list[float]] = {name: [] for name in jobs}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for rnd in range(args.warmup + args.reps):
        for name, job in jobs.items():
            sync()
            t0 = time.perf_counter()
            job(rnd)
            sync()
            if rnd >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def table(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    lines = [
        f"BEGAN training step, batch {args.batch}, {args.res}x{args.res}, n = {args.channels} "
        f"filters, torch {torch.__version__}, {args.reps} rounds (medians)",
        "",
        "| device | step | ms | x m07 step | target | distance part ms | networks ms "
        "(step - distance) | distance share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dev, times in results.items():
        base = statistics.median(times["began-m07"])
        for name, label in (("began-m07", "began-m07 (l1)"), ("began-m12", "began-m12 (2,1,0)")):
            step = statistics.median(times[name])
            dist = statistics.median(times[f"{name} distance"])
            target = f"<= {TARGET}x" if name == "began-m12" else ""
            lines.append(
                f"| {dev} | {label} | {step * 1e3:.1f} | {step / base:.3f} | {target} | "
                f"{dist * 1e3:.1f} | {(step - dist) * 1e3:.1f} | {dist / step:.1%} |"
            )
    return "\n".join(lines)


def main() -> None:
    args = step_arguments(__doc__, batch=16, res=64)
    print(table(on_devices(bench, args), args))


if __name__ == "__main__":
    main()
