"""Time one training step of sr-mse, sr-mae and sr-msssim (SRCNN 9-5-5, 4x) at the same batch
and patch size, and the MS-SSIM loss's share of the sr-msssim step.

One step = RGB patches -> Y (rgb2ycbcr) -> LR (imresize 1/4) -> bicubic (imresize 4) ->
SRCNN -> loss -> backward -> Adam step: the recipes' ``train_step`` on a fixed batch. The
recipes are timed round-robin (one step of each in turn, ``--reps`` rounds after
``--warmup``) so that load from other processes affects them alike; the table gives the median
and the minimum. The MS-SSIM share is the forward + backward time of the loss alone on the
network's output, divided by the sr-msssim step. Target (issue 13): sr-msssim <= 2.0x sr-mse.

    python benchmarks/sr_step.py                         # batch 16, 48 px patches, CPU
    python benchmarks/sr_step.py --batch 64 --patch 48 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from qagen.train import TrainContext, get_recipe, resolve_run_config

RECIPES = ("sr-mse", "sr-mae", "sr-msssim")
TARGET = 2.0


def build(name: str, device: torch.device, args: argparse.Namespace):
    over = [f"train.batch_size={args.batch}", f"data.resolution={args.patch}"]
    run = resolve_run_config(name, data="patches:builtin", overrides=over)
    ctx = TrainContext(run, device=device, rank=0, world_size=1, local_rank=0, dataset=None,
                       generator=torch.Generator(device=device).manual_seed(0),
                       batches_per_epoch=1)  # fmt: skip
    torch.manual_seed(0)
    return get_recipe(name)(run.hparams, ctx)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=48)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    batch = (torch.rand(args.batch, 3, args.patch, args.patch, generator=g) * 2 - 1).to(device)
    recipes = {n: build(n, device, args) for n in RECIPES}
    times: dict[str, list[float]] = {n: [] for n in RECIPES}
    loss_times: list[float] = []
    msssim = recipes["sr-msssim"]
    for rep in range(args.warmup + args.reps):
        for n, rec in recipes.items():
            sync(device)
            t0 = time.perf_counter()
            rec.train_step(iter([batch]), rep)
            sync(device)
            if rep >= args.warmup:
                times[n].append(time.perf_counter() - t0)
        b, y = msssim.prepare(batch)
        pred = msssim.net(b).detach().requires_grad_(True)
        sync(device)
        t0 = time.perf_counter()
        msssim.loss(pred, y).backward()
        sync(device)
        if rep >= args.warmup:
            loss_times.append(time.perf_counter() - t0)
    base = statistics.median(times["sr-mse"])
    print(f"SRCNN 9-5-5, batch {args.batch}, {args.patch} px patches, {args.device}, "
          f"{torch.get_num_threads()} threads, {args.reps} rounds")  # fmt: skip
    print(f"{'recipe':<11}{'median ms':>11}{'min ms':>9}{'x sr-mse':>10}")
    for n in RECIPES:
        med, mn = statistics.median(times[n]), min(times[n])
        print(f"{n:<11}{1e3 * med:11.1f}{1e3 * mn:9.1f}{med / base:10.2f}")
    share = statistics.median(loss_times) / statistics.median(times["sr-msssim"])
    ratio = statistics.median(times["sr-msssim"]) / base
    print(f"MS-SSIM loss (3 scales, forward + backward): {1e3 * statistics.median(loss_times):.1f} "
          f"ms = {100 * share:.1f} % of the sr-msssim step")  # fmt: skip
    print(f"target sr-msssim <= {TARGET}x sr-mse: {'met' if ratio <= TARGET else 'NOT met'} "
          f"({ratio:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
