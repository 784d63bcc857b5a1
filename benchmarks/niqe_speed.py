"""NIQE speed: batch of 16 RGB 384x512 images, float32, forward and forward+backward (CPU).

Usage: ``python benchmarks/niqe_speed.py [--batch 16] [--repeat 5] [--threads N]``. Prints the
median and the minimum wall-clock and process-CPU times over the repeats (the CPU may be shared:
quote the medians with the load average, which is printed too).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from qagen.iqa.naturalness import niqe


def _time(fn, repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds of each run (CPU time is less sensitive to other
    processes sharing the machine; with one thread it is the time an idle core would take)."""
    fn()  # warm-up: builds and caches the filter taps and the alpha grid
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--height", type=int, default=384)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--shape-estimator", choices=("grid", "continuous"), default="grid")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    g = torch.Generator().manual_seed(0)
    # smooth random content plus noise: every block has both MSCN signs, like a photograph
    base = torch.rand(args.batch, 3, args.height // 8, args.width // 8, generator=g, dtype=dtype)
    x = torch.nn.functional.interpolate(base, size=(args.height, args.width), mode="bilinear")
    x = (x + 0.05 * torch.randn(x.shape, generator=g, dtype=dtype)).clamp(0, 1)

    def fwd() -> None:
        with torch.no_grad():
            niqe(x, 1.0, shape_estimator=args.shape_estimator)

    def fwd_bwd() -> None:
        xr = x.clone().requires_grad_(True)
        niqe(xr, 1.0, shape_estimator=args.shape_estimator).sum().backward()
        assert torch.isfinite(xr.grad).all()

    load0 = os.getloadavg()[0]
    tf = _time(fwd, args.repeat)
    tb = _time(fwd_bwd, args.repeat)
    load1 = os.getloadavg()[0]
    shape = f"{args.batch}x3x{args.height}x{args.width} {args.dtype}"
    print(f"NIQE {shape}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {load0:.1f} -> {load1:.1f}")  # fmt: skip
    for name, (wall, cpu) in (("forward", tf), ("forward+backward", tb)):
        print(
            f"  {name:17s} wall median {statistics.median(wall):.3f} s (min {min(wall):.3f})   "
            f"CPU median {statistics.median(cpu):.3f} s (min {min(cpu):.3f})   {len(wall)} runs"
        )


if __name__ == "__main__":
    main()
