"""Time one critic update of the adversarial recipes: WGAN-GP, Banach-WGAN, QAGAN-SSIM, QAGAN-NIQE.

One critic update = augment the real batch, draw z, G(z) without gradient, the recipe's critic
loss (Wasserstein term, gradient penalty with double backward, drift, and the SSIM or NIQE
penalty), backward, optimiser step: the body of the recipes' ``n_critic`` loop. The networks
are the presets' (QAGAN/BWGAN ResNet, 128 channels), batch 64 at 32 x 32 by default. QAGAN-NIQE
is timed with its penalty on (after the warm-up) and, as a separate row, during the warm-up
(when it also computes grad_x D(x_real) for the pristine statistics).

Recipes are timed round-robin (one update of each in turn, ``--reps`` rounds after ``--warmup``)
so that load from other processes affects all of them alike; the table gives the median and the
minimum. Targets (issue #4): QAGAN-SSIM <= 1.15x and QAGAN-NIQE <= 1.5x the WGAN-GP step.

    python benchmarks/critic_step.py                      # CPU, and CUDA when available
    python benchmarks/critic_step.py --device cpu --reps 5 --channels 128 --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _steps import on_devices, step_arguments

from qagen.train import TrainContext, get_recipe, resolve_run_config

RECIPES = ("wgan-gp", "bwgan", "qagan-ssim", "qagan-niqe", "qagan-niqe (warm-up)")
TARGETS = {"qagan-ssim": 1.15, "qagan-niqe": 1.5}


def build(name: str, device: torch.device, args: argparse.Namespace):
    recipe = name.split(" ")[0]
    over = [
        f"train.batch_size={args.batch}",
        f"data.resolution={args.res}",
        f"g_channels={args.channels}",
        f"d_channels={args.channels}",
    ]
    run = resolve_run_config(recipe, data="x", overrides=over)
    ctx = TrainContext(
        run,
        device=device,
        rank=0,
        world_size=1,
        local_rank=0,
        dataset=None,
        generator=torch.Generator(device=device).manual_seed(0),
        batches_per_epoch=1,
    )
    torch.manual_seed(0)
    rec = get_recipe(recipe)(run.hparams, ctx)
    real = (torch.randint(0, 256, (args.batch, 3, args.res, args.res)) / 127.5 - 1).to(device)
    step = 10**9  # after any warm-up: the NIQE penalty is on, no statistics are collected
    if "warm-up" in name:  # penalty off, grad_x D(x_real) statistics accumulated
        step = 0
    elif rec.__class__.__name__ == "QAGANNIQE":  # a fitted pristine model: penalty on
        for _ in range(40):
            rec.niqe.accumulate(torch.randn(args.batch, 3, args.res, args.res, device=device))
        rec.niqe.fit()
    return rec, real, step


def critic_update(rec, real: torch.Tensor, step: int) -> None:
    n = real.shape[0]
    x = rec.real_batch(iter([real]))
    with torch.no_grad():
        fake = rec.G(rec.latent(n))
    eps = rec.ctx.rand(n, 1, 1, 1, dtype=x.dtype)
    loss, _ = rec.critic_step(x, fake, eps, step)
    rec._zero_grad("D")
    loss.backward()
    rec._update("D")


def bench(device: torch.device, args: argparse.Namespace) -> dict[str, list[float]]:
    built = {name: build(name, device, args) for name in RECIPES}
    times: dict[str, list[float]] = {name: [] for name in RECIPES}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for rnd in range(args.warmup + args.reps):
        for name, (rec, real, step) in built.items():
            sync()
            t0 = time.perf_counter()
            critic_update(rec, real, step)
            sync()
            if rnd >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def table(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    lines = [
        f"Critic update, batch {args.batch}, {args.res}x{args.res}, ResNet {args.channels} "
        f"channels, torch {torch.__version__}, {args.reps} rounds",
        "",
        "| recipe | device | median ms | min ms | x WGAN-GP (median) | target |",
        "|---|---|---|---|---|---|",
    ]
    for dev, times in results.items():
        base = statistics.median(times["wgan-gp"])
        for name, ts in times.items():
            med = statistics.median(ts)
            target = TARGETS.get(name)
            tgt = f"<= {target}x" if target else ""
            lines.append(
                f"| {name} | {dev} | {med * 1e3:.1f} | {min(ts) * 1e3:.1f} | {med / base:.2f} | {tgt} |"
            )
    return "\n".join(lines)


def main() -> None:
    args = step_arguments(__doc__, batch=64, res=32)
    print(table(on_devices(bench, args), args))


if __name__ == "__main__":
    main()
