"""Speed of qagen's IQA metrics against pytorch-msssim, piq and torchmetrics.

Forward, and forward + backward (gradient w.r.t. x), for batch 1 and 16 of 256 x 256 float32
images: grey for SSIM and MS-SSIM (every library then does the same work), RGB for the rest.
All contenders run in one process, interleaved (ours, theirs, ours, ...), ``--repeats`` runs
after ``--warmup`` runs. Prints a Markdown table of median (min-max) milliseconds and the ratio of
the medians ours/theirs (< 1: qagen is faster), with the ratio's spread (ours min / theirs max to
ours max / theirs min): a change inside that spread is noise. ``--device cuda`` times on a GPU (synchronised).

    python benchmarks/iqa_speed.py [--repeats 7] [--batches 1 16] [--out table.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import qagen.iqa as iqa


def _contenders() -> dict[str, list[tuple[str, Callable]]]:
    """metric -> [(library, fn(x, y) -> per-image or scalar value)], ours first."""
    import piq
    import pytorch_msssim
    import torchmetrics.functional.image as tm

    from qagen.iqa.feature_similarity import fsim
    from qagen.iqa.mean_deviation import mdsi
    from qagen.iqa.vif import vif_p

    return {
        "ssim": [
            ("qagen", lambda x, y: iqa.ssim(x, y)),
            (
                "pytorch-msssim",
                lambda x, y: pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False),
            ),
            (
                "piq",
                lambda x, y: piq.ssim(x, y, data_range=1.0, downsample=False, reduction="none"),
            ),
            (
                "torchmetrics",
                lambda x, y: tm.structural_similarity_index_measure(
                    x, y, data_range=1.0, reduction="none"
                ),
            ),
        ],
        "ms_ssim": [
            ("qagen", lambda x, y: iqa.ms_ssim(x, y)),
            (
                "pytorch-msssim",
                lambda x, y: pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False),
            ),
            ("piq", lambda x, y: piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none")),
            (
                "torchmetrics",
                lambda x, y: tm.multiscale_structural_similarity_index_measure(
                    x, y, data_range=1.0, reduction="none"
                ),
            ),
        ],
        "gmsd": [
            ("qagen", lambda x, y: iqa.gmsd(x, y)),
            ("piq", lambda x, y: piq.gmsd(x, y, data_range=1.0, reduction="none")),
        ],
        "fsim": [
            ("qagen", lambda x, y: fsim(x, y)),
            ("piq", lambda x, y: piq.fsim(x, y, data_range=1.0, chromatic=False, reduction="none")),
        ],
        "mdsi": [
            ("qagen", lambda x, y: mdsi(x, y)),
            ("piq", lambda x, y: piq.mdsi(x, y, data_range=1.0, reduction="none")),
        ],
        "vif_p": [
            ("qagen", lambda x, y: vif_p(x, y)),
            ("piq", lambda x, y: piq.vif_p(x, y, data_range=1.0, reduction="none")),
        ],
        # No other library implements these: timed for reference (ratio column empty).
        "psnr": [("qagen", lambda x, y: iqa.psnr(x, y))],
        "cqs": [("qagen", lambda x, y: iqa.cqs(x, y))],
        "fsimc": [
            (
                "qagen",
                lambda x, y: __import__("qagen.iqa.feature_similarity", fromlist=["fsimc"]).fsimc(
                    x, y
                ),
            )
        ],
    }


GREY = {"ssim", "ms_ssim"}


def _time(fn: Callable, x: torch.Tensor, y: torch.Tensor, backward: bool, device: str) -> float:
    if backward:
        x = x.detach().clone().requires_grad_(True)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t0 = time.perf_counter()
    v = fn(x, y)
    if backward:
        v.sum().backward()
    sync()
    return time.perf_counter() - t0


def bench(
    batches: list[int], repeats: int, warmup: int, device: str, size: int = 256
) -> list[dict]:
    from qagen._checks import set_input_checks

    set_input_checks(True)  # ours pays for its input checks, as a user would
    rows = []
    g = torch.Generator().manual_seed(0)
    for metric, entries in _contenders().items():
        c = 1 if metric in GREY else 3
        for n in batches:
            y = torch.rand(n, c, size, size, generator=g).to(device)
            x = (y + 0.1 * torch.randn(n, c, size, size, generator=g).to(device)).clamp(0, 1)
            for backward in (False, True):
                times: dict[str, list[float]] = {lib: [] for lib, _ in entries}
                for _ in range(warmup):
                    for _lib, fn in entries:
                        _time(fn, x, y, backward, device)
                for _ in range(repeats):
                    for lib, fn in entries:  # interleaved
                        times[lib].append(_time(fn, x, y, backward, device))
                ours = spread(times["qagen"])
                mode = "fwd+bwd" if backward else "fwd"
                for lib, _ in entries[1:]:
                    theirs = spread(times[lib])
                    rows.append(dict(metric=metric, batch=n, mode=mode, ours=ours, lib=lib,
                                     theirs=theirs, ratio=ours[1] / theirs[1],
                                     ratio_lo=ours[0] / theirs[2], ratio_hi=ours[2] / theirs[0]))  # fmt: skip
                if len(entries) == 1:
                    rows.append(dict(metric=metric, batch=n, mode=mode, ours=ours, lib="-"))
                print(f"  {metric:8s} N={n:<3d} {mode:7s} qagen {_ms(ours)}", flush=True)
    return rows


def spread(times: list[float]) -> tuple[float, float, float]:
    """(min, median, max) of a list of seconds."""
    return min(times), statistics.median(times), max(times)


def _ms(s: tuple[float, float, float]) -> str:
    """'median (min-max)' in milliseconds."""
    return f"{s[1] * 1e3:.2f} ({s[0] * 1e3:.2f}-{s[2] * 1e3:.2f})"


def table(rows: list[dict]) -> str:
    lines = [
        "| metric | batch | pass | qagen ms, median (min-max) | library "
        "| library ms, median (min-max) | ours/theirs (spread) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["lib"] == "-":
            theirs = ratio = "-"
        else:
            theirs = _ms(r["theirs"])
            ratio = f"{r['ratio']:.2f} ({r['ratio_lo']:.2f}-{r['ratio_hi']:.2f})"
        lines.append(
            f"| {r['metric']} | {r['batch']} | {r['mode']} | {_ms(r['ours'])} | {r['lib']} "
            f"| {theirs} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    p.add_argument("--out", default=None, help="also write the Markdown table to this file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    rows = bench(args.batches, args.repeats, args.warmup, args.device)
    t = table(rows)
    print(t)
    if args.out:
        with open(args.out, "w") as f:
            f.write(t + "\n")


if __name__ == "__main__":
    main()
