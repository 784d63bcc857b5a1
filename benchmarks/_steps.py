"""Shared command line of the GAN step benchmarks (``critic_step.py``, ``began_step.py``):
the options and the loop over the requested devices."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch


def step_arguments(doc: str, batch: int, res: int) -> argparse.Namespace:
    """Parse ``--device --batch --res --channels --reps --warmup --threads`` (defaults: ``batch``,
    ``res``) and apply ``--threads``."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--device", choices=["all", "cpu", "cuda"], default="all")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--res", type=int, default=res)
    p.add_argument("--channels", type=int, default=128)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def on_devices(bench: Callable[[torch.device, argparse.Namespace], Any], args) -> dict[str, Any]:
    """``{device label: bench(device, args)}`` for the CPU and/or the CUDA device (when present)."""
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
    return results
