"""How SSIM and MS-SSIM scale with the image size: qagen against pytorch-msssim.

Forward + backward (gradient with respect to x) of grey float32 images at each side in
``--sizes``, batch 1 and "the largest batch that fits in ``--budget-gib``" (8 GiB by default).

Memory. Each (library, metric, side, batch) runs in a child process started with
``MALLOC_MMAP_THRESHOLD_=65536`` (glibc then maps every large block on its own and returns it
to the system when freed, so the resident set follows the live tensors). The child resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``), creates x and y, runs forward and
backward, and reports ``VmHWM - VmRSS before``: the peak of the inputs, the gradient and every
intermediate. Measured at batch 1 and, up to 1024 px, at batches b and 2b of about 4 and 8
megapixels (per image = the slope between those two, fixed = batch-1 peak minus one image; at
2048 and 4096 px per image = the batch-1 peak). The largest
batch of a library is ``floor((budget - fixed) / per image)``; both libraries are timed at the
smaller of the two (the batch both fit), capped by ``--machine-gib`` (this machine's share of
its 24 GiB, which other engineers use too): a capped cell is marked.

Time. Both libraries in this process, interleaved (ours, theirs, ours, ...), ``--warmup``
runs then min, median and max of ``--repeats`` (more for quick cells, up to 51); torch's default threads unless ``--threads``. The load
average is printed before and after: quote it with the table.

    python benchmarks/iqa_scaling.py [--sizes 64 256 1024 2048 4096] [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

MIB = 2**20
GIB = 2**30


def _fns(metric: str):
    import pytorch_msssim

    import qagen.iqa as iqa

    if metric == "ssim":
        return {
            "qagen": lambda x, y: iqa.ssim(x, y),
            "pytorch-msssim": lambda x, y: pytorch_msssim.ssim(
                x, y, data_range=1.0, size_average=False
            ),
        }
    return {
        "qagen": lambda x, y: iqa.ms_ssim(x, y),
        "pytorch-msssim": lambda x, y: pytorch_msssim.ms_ssim(
            x, y, data_range=1.0, size_average=False
        ),
    }


def _supported(metric: str, side: int) -> bool:
    # 5-scale MS-SSIM with the 11-tap window needs min side > 160 in both libraries.
    return metric == "ssim" or side > 160


def _inputs(batch: int, side: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    y = torch.rand(batch, 1, side, side, generator=g)
    x = (y + 0.1 * torch.randn(batch, 1, side, side, generator=g)).clamp_(0, 1)
    return x, y


# ------------------------------------------------------------------------------ memory (child)
def _status_kib() -> tuple[int, int]:
    text = open("/proc/self/status").read()
    d = dict(re.findall(r"(Vm\w+):\s+(\d+) kB", text))
    return int(d["VmRSS"]), int(d["VmHWM"])


def _child(jobs: list[list]) -> None:
    """Measure peak memory of each (library, metric, side, batch); print one JSON line each."""
    import gc

    import torch

    from qagen._checks import set_input_checks

    set_input_checks(True)
    fns = {m: _fns(m) for m in ("ssim", "ms_ssim")}
    # warm the caches and the libraries' lazy initialisation at a small size
    for d in fns.values():
        for fn in d.values():
            x, y = _inputs(1, 192)
            x.requires_grad_(True)
            fn(x, y).sum().backward()
    for lib, metric, side, batch in jobs:
        gc.collect()
        rss0, _ = _status_kib()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        x, y = _inputs(batch, side)
        x.requires_grad_(True)
        fns[metric][lib](x, y).sum().backward()
        _, hwm = _status_kib()
        del x, y
        print(json.dumps({"lib": lib, "metric": metric, "side": side, "batch": batch,
                          "peak": (hwm - rss0) * 1024}), flush=True)  # fmt: skip
        _ = torch.zeros(1)


def measure_memory(cells: list[tuple[str, str, int, int]], threads: int | None) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", PYTHONPATH=os.getcwd())
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    out = {}
    # one child per cell: a crash or an out-of-memory kill loses one cell only
    for cell in cells:
        cmd = [sys.executable, __file__, "--child", json.dumps([list(cell)])]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if r.returncode or not lines:
            print(f"memory {cell}: failed ({r.returncode}) {r.stderr[-300:]}", flush=True)
            continue
        d = json.loads(lines[-1])
        out[cell] = d["peak"]
        print(f"memory {cell}: {d['peak'] / MIB:.1f} MiB", flush=True)
    return out


def _slope_batch(side: int) -> int:
    """Batch of about 4 megapixels for the per-image memory slope (0: the side is too large)."""
    return (2**22) // (side * side) if side <= 1024 else 0


# ------------------------------------------------------------------------------ time
_CLOCK = time.perf_counter


def _time_once(fn, x, y) -> float:
    xx = x.detach().requires_grad_(True)
    t0 = _CLOCK()
    fn(xx, y).sum().backward()
    return _CLOCK() - t0


def _ms(s: tuple[float, float, float]) -> str:
    """'median (min-max)' in milliseconds."""
    return f"{s[1] * 1e3:.1f} ({s[0] * 1e3:.1f}-{s[2] * 1e3:.1f})"


def time_cell(metric: str, side: int, batch: int, repeats: int, warmup: int) -> dict:
    """(min, median, max) forward + backward seconds of each library, interleaved.

    At least ``repeats`` runs each; quick cells repeat more (up to 51 runs, about 3 s per
    library) so that a median is robust to other processes on a shared machine.
    """
    fns = _fns(metric)
    x, y = _inputs(batch, side)
    times = {lib: [] for lib in fns}
    slowest = 0.0
    for _ in range(max(warmup, 1)):
        for fn in fns.values():
            slowest = max(slowest, _time_once(fn, x, y))
    repeats = max(repeats, min(51, int(3.0 / max(slowest, 1e-6))))
    for _ in range(repeats):
        for lib, fn in fns.items():  # interleaved
            times[lib].append(_time_once(fn, x, y))
    return {lib: (min(t), statistics.median(t), max(t)) for lib, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024, 2048, 4096])
    p.add_argument("--metrics", nargs="+", default=["ssim", "ms_ssim"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--repeats-large", type=int, default=3, help="repeats at the largest batch")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall-clock time, or this process's CPU time (with --threads 1 on a loaded "
                   "machine: the time an idle core would take, without the waits for other processes)")  # fmt: skip
    p.add_argument("--budget-gib", type=float, default=8.0)
    p.add_argument("--machine-gib", type=float, default=3.0,
                   help="cap on one run's memory on this shared machine")  # fmt: skip
    p.add_argument("--out", default=None, help="also write the Markdown tables to this file")
    p.add_argument("--memory-json", default=None,
                   help="reuse the memory measurements in this file (written when absent)")  # fmt: skip
    p.add_argument("--memory-only", action="store_true", help="measure memory, then stop")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    global _CLOCK
    _CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    load0 = os.getloadavg()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"clock {args.clock}, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)  # fmt: skip
    libs = ("qagen", "pytorch-msssim")
    cells = []
    for metric in args.metrics:
        for side in args.sizes:
            if not _supported(metric, side):
                continue
            for lib in libs:
                cells.append((lib, metric, side, 1))
                # two larger batches (about 4 and 8 megapixels) for the per-image slope, where
                # they fit the machine comfortably
                b = _slope_batch(side)
                if b:
                    cells += [(lib, metric, side, b), (lib, metric, side, 2 * b)]
    if args.memory_json and os.path.exists(args.memory_json):
        with open(args.memory_json) as f:
            mem = {tuple(json.loads(k)): v for k, v in json.load(f).items()}
    else:
        mem = measure_memory(cells, args.threads)
        if args.memory_json:
            with open(args.memory_json, "w") as f:
                json.dump({json.dumps(list(k)): v for k, v in mem.items()}, f, indent=1)
    if args.memory_only:
        return

    rows = []
    for metric in args.metrics:
        for side in args.sizes:
            if not _supported(metric, side):
                rows.append(dict(metric=metric, side=side, na=True))
                continue
            largest, peaks = {}, {}
            for lib in libs:
                p1 = mem.get((lib, metric, side, 1))
                b = _slope_batch(side)
                pa, pb = mem.get((lib, metric, side, b)), mem.get((lib, metric, side, 2 * b))
                if p1 is None:
                    continue
                per = (pb - pa) / b if pa is not None and pb is not None and pb > pa else p1
                fixed = max(p1 - per, 0)
                peaks[lib] = (p1, per, fixed)
                largest[lib] = max(1, int((args.budget_gib * GIB - fixed) // per))
            both = min(largest.values())
            machine = max(1, int((args.machine_gib * GIB - max(v[2] for v in peaks.values()))
                                 // max(v[1] for v in peaks.values())))  # fmt: skip
            big = min(both, machine)
            for batch, kind in ((1, "1"), (big, "largest")):
                if kind == "largest" and big == 1:
                    t = rows[-1]["times"] if rows and rows[-1].get("batch") == 1 else None
                else:
                    t = None
                reps = args.repeats if kind == "1" else args.repeats_large
                t = t or time_cell(metric, side, batch, reps, args.warmup)
                rows.append(dict(metric=metric, side=side, batch=batch, kind=kind, times=t,
                                 peaks=peaks, largest=largest, capped=kind == "largest" and big < both))  # fmt: skip
                print(
                    f"{metric} {side} batch {batch}: qagen {_ms(t['qagen'])} ms, "
                    f"pytorch-msssim {_ms(t['pytorch-msssim'])} ms, "
                    f"ratio {t['qagen'][1] / t['pytorch-msssim'][1]:.2f}",
                    flush=True,
                )
    load1 = os.getloadavg()
    text = table(rows, args, load0, load1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


def table(rows, args, load0, load1) -> str:
    lines = [
        f"Load average {load0[0]:.2f} before, {load1[0]:.2f} after; {args.clock} clock; "
        f"threads {args.threads or 'default'}; budget {args.budget_gib:g} GiB, "
        f"machine cap {args.machine_gib:g} GiB.",
        "",
        "| metric | side | batch | qagen ms, median (min-max) | pytorch-msssim ms, median (min-max) "
        "| time ratio (spread) "
        "| peak MiB, batch 1 (qagen / p-m) | MiB per image (qagen / p-m) | memory ratio "
        "| largest batch in budget (qagen / p-m) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("na"):
            lines.append(f"| {r['metric']} | {r['side']} | - | n/a | n/a | - | - | - | - | "
                         "5-scale MS-SSIM needs > 160 px in both libraries |")  # fmt: skip
            continue
        t, pk, lg = r["times"], r["peaks"], r["largest"]
        ours, theirs = t["qagen"], t["pytorch-msssim"]
        q, m = pk["qagen"], pk["pytorch-msssim"]
        batch = f"{r['batch']}" + (" (capped)" if r["capped"] else "")
        lines.append(
            f"| {r['metric']} | {r['side']} | {batch} | {_ms(ours)} | {_ms(theirs)} | "
            f"{ours[1] / theirs[1]:.2f} ({ours[0] / theirs[2]:.2f}-{ours[2] / theirs[0]:.2f}) | "
            f"{q[0] / MIB:.1f} / {m[0] / MIB:.1f} | "
            f"{q[1] / MIB:.3g} / {m[1] / MIB:.3g} | {q[1] / m[1]:.2f} | "
            f"{lg['qagen']} / {lg['pytorch-msssim']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
