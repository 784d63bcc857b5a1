"""Shared by the training benchmarks (``learning.py``, ``qmf_ablation.py``): train several runs,
``jobs`` at a time, one intra-op thread each when more than one, each its own ``qagen train``
process; a run with its marker file (``<run>/<marker>``: return code, wall seconds) is done and
is not trained again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def train_all(cmds: dict[str, list[str]], out: Path, jobs: int, marker: str, **extra) -> None:
    """Run ``cmds[name]`` (a ``qagen train ... --out out/name`` command line) for each name
    without ``out/name/marker``; log to ``out/name.log``; then write the marker (``rc``,
    ``wall_s``, ``jobs`` and ``extra``)."""
    env = dict(os.environ)
    if jobs > 1:
        env["OMP_NUM_THREADS"] = "1"
    todo = [n for n in cmds if not (out / n / marker).is_file()]
    running: list[tuple[str, subprocess.Popen, float]] = []
    while todo or running:
        while todo and len(running) < jobs:
            n = todo.pop(0)
            log = (out / f"{n}.log").open("w")
            print(f"training {n}", file=sys.stderr)
            p = subprocess.Popen(cmds[n], stdout=log, stderr=log, env=env)
            running.append((n, p, time.monotonic()))
        time.sleep(2)
        for item in list(running):
            n, p, t0 = item
            if p.poll() is not None:
                running.remove(item)
                rec = {"rc": p.returncode, "wall_s": round(time.monotonic() - t0, 1),
                       "jobs": jobs, **extra}  # fmt: skip
                (out / n).mkdir(parents=True, exist_ok=True)
                (out / n / marker).write_text(json.dumps(rec))
                print(f"{n}: rc {p.returncode}", file=sys.stderr)
