"""``benchmarks/gpu_check.py --device cpu --quick`` runs (issue 20): the GPU check's own code is
tested on the CPU, so that the first GPU run only has the GPU to find out about."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import torch

from qagen.registry import METRICS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_gpu_check_runs_on_the_cpu():
    gpu_check = _load()
    out = io.StringIO()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = gpu_check.run("cpu", quick=True, out=out)
    finally:
        torch.set_num_threads(before)
    text = out.getvalue()
    assert rc == 0, text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")][1:]
    sections = {r[0].lstrip("| ") for r in rows}
    assert sections == {"parity", "sync", "speed", "filters", "steps"}
    items = {r[1] for r in rows}
    # every metric of the registry (but the learned one) in float64, float32 and bf16 autocast
    for name in METRICS.available():
        if not METRICS.get(name).model_required:
            for kind in ("float64", "float32", "bf16 autocast"):
                assert f"metric {name} {kind}" in items, (name, kind)
    for pen in ("gp", "banach-gp", "ssim-gp", "niqe-gp", "drift"):
        assert f"penalty {pen} float64" in items
    # the CPU against itself is exact: the float64 column must read 0 for every item
    assert all(r[2] == "0.0e+00" for r in rows if r[1].endswith("float64"))
    speed = [r for r in rows if r[0].endswith("speed")]
    assert any("pytorch-msssim" in r[3] and "piq" in r[3] for r in speed)
    assert {r[1].split(" (")[0] for r in rows if r[0].endswith("steps")} == set(
        gpu_check.QUICK_RECIPES
    )


def test_gpu_check_refuses_a_missing_gpu(capsys):
    if torch.cuda.is_available():
        return
    assert _load().main(["--device", "cuda"]) == 2
    assert "no CUDA device here" in capsys.readouterr().err
