"""Time one training step of the ``began`` recipe: BEGAN-IQA's composite distance (model 12,
weights (2, 1, 0)) against the l1-only distance (model 7), and the split between the networks and
the distance.

One step = D's update on L_D = L(x) - k_t L(G(z_D)) and G's update on L_G = L(G(z_G)) (the
recipe's ``train_step``: G twice forward, D on 3 batches, the distances of the real and generated
reconstructions, all three distances logged whatever the weights, the k_t update). Rows:

* ``began-m07``: l1 only (gamma 0.7), the baseline;
* ``began-m12``: l1 2, GMSM 1, Chrom 0 (N_z = N_h = 256), the target is <= 1.25x the m07 step;
* ``networks only``: the m12 step with the distance replaced by a bare l1 (no GMSM, no logged
  distances): what the networks cost; ``distance`` = m12 - networks only.

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

from qagen.train import TrainContext, get_recipe, resolve_run_config

CONFIGS = ("began-m07", "began-m12", "networks only")
TARGET = 1.25


def build(name: str, device: torch.device, args: argparse.Namespace):
    preset = "began-m12" if name == "networks only" else name
    over = [f"train.batch_size={args.batch}", f"data.resolution={args.res}",
            f"channels={args.channels}"]  # fmt: skip
    run = resolve_run_config(None, preset=preset, data="x", overrides=over)
    ctx = TrainContext(
        run, device=device, rank=0, world_size=1, local_rank=0, dataset=None,
        generator=torch.Generator(device=device).manual_seed(0), batches_per_epoch=1,
    )  # fmt: skip
    torch.manual_seed(0)
    rec = get_recipe("began")(run.hparams, ctx)
    if name == "networks only":

        def bare(v, r, log=True):
            return (v - r).abs().flatten(1).mean(1), {
                k: torch.zeros(v.shape[0], device=v.device) for k in ("l1", "gmsm", "chrom")
            }

        rec.distances = bare
    real = (torch.randint(0, 256, (args.batch, 3, args.res, args.res)) / 127.5 - 1).to(device)
    return rec, real


def bench(device: torch.device, args: argparse.Namespace) -> dict[str, list[float]]:
    built = {name: build(name, device, args) for name in CONFIGS}
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for rnd in range(args.warmup + args.reps):
        for name, (rec, real) in built.items():
            sync()
            t0 = time.perf_counter()
            rec.train_step(iter(lambda real=real: real, None), rnd)
            sync()
            if rnd >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def table(results: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    lines = [
        f"BEGAN training step, batch {args.batch}, {args.res}x{args.res}, n = {args.channels} "
        f"filters, torch {torch.__version__}, {args.reps} rounds (medians)",
        "",
        "| device | began-m07 (l1) ms | began-m12 (2,1,0) ms | m12 / m07 | target | "
        "networks ms | distance ms (m12) | distance share of m12 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dev, times in results.items():
        m07, m12 = statistics.median(times["began-m07"]), statistics.median(times["began-m12"])
        net = statistics.median(times["networks only"])
        dist = max(m12 - net, 0.0)
        lines.append(
            f"| {dev} | {m07 * 1e3:.1f} | {m12 * 1e3:.1f} | {m12 / m07:.3f} | <= {TARGET}x | "
            f"{net * 1e3:.1f} | {dist * 1e3:.1f} | {dist / m12:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--res", type=int, default=64)
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = []
    if args.device in ("all", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    results = {}
    for dev in devices:
        name = "cpu" if dev.type == "cpu" else torch.cuda.get_device_name(dev)
        if dev.type == "cpu":
            name += f" ({torch.get_num_threads()} threads)"
        results[name] = bench(dev, args)
    print(table(results, args))


if __name__ == "__main__":
    main()
