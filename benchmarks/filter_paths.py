"""Filter-engine paths inside the metrics: the fixed rule against the old cost model and each path.

Forward + backward (gradient w.r.t. x) of SSIM, MS-SSIM, GMSD, FSIM, MDSI, VIFp and NIQE on
float32 images (grey for SSIM/MS-SSIM, RGB for the rest) at several sides and batches. Columns:

* ``cost model``: ``path="auto"`` as it was before the fixed rule, i.e. the NNLS cost model of
  ``qagen/filters.py`` at git revision ``--cost-model-rev`` (loaded from git, its ``_cheapest``
  patched in as :func:`qagen.filters.choose_path`); left out when git or the revision is missing.
* ``rule`` (or ``rule<=T`` for each ``--thresholds`` T): the library's fixed rule
  (:func:`qagen.filters.choose_path`) with ``MATRIX_MAX_LEN = T``.
* ``matrix``, ``slices``, ``gather``, ``conv``: every axis filter forced onto that path
  (:func:`qagen.filters.filter_path`; non-uniform operators take the gather for slices/conv).

The columns run interleaved (one run of each, ``--repeats`` times, after ``--warmup`` runs).
A column whose warm-up run exceeds ``--slow-ms`` is timed once (marked ``*``). Time is the
process's CPU time (``--clock cpu``, default: what an idle core would take on a shared machine)
or wall time. Prints a Markdown table of median (min-max) milliseconds.

    python benchmarks/filter_paths.py --threads 1 [--metrics ssim ms_ssim] [--thresholds 32 64 128]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch

import qagen.filters as filters
from qagen.errors import InputError

GREY = {"ssim", "ms_ssim"}
PATHS = ("matrix", "slices", "gather", "conv")
#: (side, batch) cases; MS-SSIM needs > 160 px (5 scales), NIQE uses 32 px blocks below 96 px.
CASES = ((32, 1), (32, 64), (64, 1), (64, 64), (256, 1), (256, 16), (1024, 1))
COST_MODEL_REV = "e425834"  # the last revision with filters.CostModel / calibrate()


def _metrics() -> dict[str, Callable]:
    from qagen.iqa.feature_similarity import fsim
    from qagen.iqa.gms import gmsd
    from qagen.iqa.mean_deviation import mdsi
    from qagen.iqa.naturalness import niqe
    from qagen.iqa.structural import ms_ssim, ssim
    from qagen.iqa.vif import vif_p

    def niqe_fn(x, y):
        return niqe(x, 1.0, block_size=96 if x.shape[-1] >= 96 else 32)

    return {
        "ssim": ssim,
        "ms_ssim": ms_ssim,
        "gmsd": gmsd,
        "fsim": fsim,
        "mdsi": mdsi,
        "vif_p": vif_p,
        "niqe": niqe_fn,
    }


def _cost_model_chooser(rev: str) -> Callable | None:
    """choose_path of the cost model at ``rev`` (None without git or the revision)."""
    root = Path(__file__).resolve().parents[1]
    try:
        src = subprocess.run(
            ["git", "show", f"{rev}:qagen/filters.py"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType("_filters_cost_model")
    sys.modules[mod.__name__] = mod  # dataclasses look their module up
    exec(compile(src, f"{rev}:qagen/filters.py", "exec"), mod.__dict__)
    cheapest = mod._cheapest

    def choose(op, rest, device="cpu", last=True):
        return cheapest(op, int(rest), str(torch.device(device)), bool(last))

    return choose


def _column(name: str, rule: Callable, cost_model: Callable | None, threshold: int):
    """A context setter for one column: (enter, exit) callables."""

    def enter():
        if name == "cost model":
            filters.choose_path = cost_model
        elif name.startswith("rule"):
            filters.MATRIX_MAX_LEN = threshold
        else:
            filters._FORCED.append(name)

    def leave():
        filters.choose_path = rule
        if name in PATHS:
            filters._FORCED.pop()

    return enter, leave


def _once(fn: Callable, x: torch.Tensor, y: torch.Tensor, clock: Callable) -> float:
    xr = x.clone().requires_grad_(True)
    t0 = clock()
    fn(xr, y).sum().backward()
    return clock() - t0


def _ms(times: list[float], slow: bool) -> str:
    lo, med, hi = min(times), statistics.median(times), max(times)
    star = "*" if slow else ""
    if len(times) == 1:
        return f"{med * 1e3:.1f}{star}"
    return f"{med * 1e3:.2f} ({lo * 1e3:.2f}-{hi * 1e3:.2f})"


def bench(args) -> list[tuple[str, dict[str, str]]]:
    from qagen._checks import set_input_checks

    set_input_checks(True)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rule = filters.choose_path
    default_t = filters.MATRIX_MAX_LEN
    cost_model = None if args.no_cost_model else _cost_model_chooser(args.cost_model_rev)
    names = (["cost model"] if cost_model else []) + [
        f"rule<={t}" if len(args.thresholds) > 1 else "rule" for t in args.thresholds
    ]
    thresholds = dict(zip(names[-len(args.thresholds) :], args.thresholds, strict=True))
    names += [p for p in PATHS if p in args.paths]
    metrics = _metrics()
    g = torch.Generator().manual_seed(0)
    rows = []
    for metric in args.metrics:
        fn = metrics[metric]
        c = 1 if metric in GREY else 3
        for side, batch in CASES:
            if side not in args.sides or (args.batches and batch not in args.batches):
                continue
            case = f"{metric} {side} px x{batch}"
            if metric == "ms_ssim" and side < 161:
                continue
            y = torch.rand(batch, c, side, side, generator=g)
            x = (y + 0.1 * torch.randn(batch, c, side, side, generator=g)).clamp(0, 1)
            try:
                fn(x, y)
            except InputError as e:  # too small for the metric (VIFp: 41 px)
                print(f"  {case}: n/a ({str(e).split(';')[0]})", flush=True)
                continue
            cols = {n: _column(n, rule, cost_model, thresholds.get(n, default_t)) for n in names}
            times: dict[str, list[float]] = {n: [] for n in names}
            slow: set[str] = set()
            for r in range(args.warmup + args.repeats):
                for n, (enter, leave) in cols.items():
                    if n in slow:
                        continue
                    enter()
                    try:
                        t = _once(fn, x, y, clock)
                    finally:
                        leave()
                        filters.MATRIX_MAX_LEN = default_t
                    if r < args.warmup:
                        if t * 1e3 > args.slow_ms:
                            slow.add(n)
                            times[n] = [t]
                    else:
                        times[n].append(t)
            cells = {n: _ms(times[n], n in slow) for n in names}
            print(f"  {case}: " + "  ".join(f"{n} {v}" for n, v in cells.items()), flush=True)
            rows.append((case, cells))
    return rows


def table(rows: list[tuple[str, dict[str, str]]]) -> str:
    names = list(rows[0][1]) if rows else []
    out = [
        "| case (fwd+bwd) | " + " | ".join(f"{n} ms" for n in names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    out += [f"| {case} | " + " | ".join(c[n] for n in names) + " |" for case, c in rows]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--metrics", nargs="+", default=list(_metrics()), choices=list(_metrics()))
    ap.add_argument("--sides", nargs="+", type=int, default=[32, 64, 256, 1024])
    ap.add_argument("--batches", nargs="+", type=int, default=None, help="default: all cases")
    ap.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    ap.add_argument(
        "--thresholds",
        nargs="+",
        type=int,
        default=[filters.MATRIX_MAX_LEN],
        help="MATRIX_MAX_LEN values of the rule, one column each",
    )
    ap.add_argument("--cost-model-rev", default=COST_MODEL_REV)
    ap.add_argument("--no-cost-model", action="store_true")
    ap.add_argument("--slow-ms", type=float, default=3000.0)
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, clock {args.clock}, "
        f"median (min-max) of {args.repeats} after {args.warmup} warm-up",
        flush=True,
    )
    md = table(bench(args))
    print(md)
    if args.out:
        Path(args.out).write_text(md + "\n")


if __name__ == "__main__":
    main()
