"""The GPU check: everything qagen runs on CUDA, checked and timed in one script, one table.

Written before any GPU was lent to the project (no CUDA path of qagen had run): run it on the
first GPU (under 8 minutes on one GPU) and put its table in ``docs/performance.md``.

Sections (the table's first column):

* ``parity``: every metric of the registry, every IQA loss and every critic penalty on the device
  against the CPU in float64 (relative difference, tolerance per item: :data:`TOLERANCE`); then
  float32 and bfloat16 autocast on the device: finite values and finite gradients.
* ``sync``: the training hot paths, the SSIM-GP and NIQE-GP critic steps (qagan-ssim,
  qagan-niqe) and the QMF step with its quality maps, run under
  ``torch.cuda.set_sync_debug_mode("error")``: any device-to-host synchronisation fails (CUDA only;
  on the CPU the steps run without the check).
* ``speed``: SSIM and MS-SSIM forward + backward against pytorch-msssim and piq at 256 / 1024 /
  4096 px, batch 16 and 1 (float32, grey), median milliseconds and the ratios ours / theirs
  (below 1: qagen is faster; as in docs/performance.md).
* ``filters``: the filter engine's path choice (``qagen.filters.choose_path``) inside SSIM against
  each path forced (``qagen.filters.filter_path``): the chosen path and its time relative to the
  fastest.
* ``steps``: one training step of every recipe's full preset at its paper batch size (the
  built-in photos at the preset's resolution stand in for the data): median time of the timed
  steps after a warm-up step, peak device memory, and the number of ATen operators one step
  dispatches (each at least one kernel launch on a GPU: a lower bound of a small-batch step).
  ``--recipes`` and ``--batch`` narrow it (``docs/scaling.md`` derives its estimates from
  ``--device cpu --sections steps --threads 1`` and ``--batch 2``).

``--device cpu`` runs the same code on the CPU; ``--quick`` shrinks every size (64 px, batch 2,
a few recipes) so that the whole script runs in seconds: the suite runs it that way
(``tests/test_gpu_check.py``). Exit status 1 when a check fails.

    python benchmarks/gpu_check.py                     # CUDA, full sizes
    python benchmarks/gpu_check.py --device cpu --quick
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: Relative tolerance of device vs CPU in float64 (reduction order only; the FFT of FSIM and the
#: gamma fits of NIQE go through other libraries on CUDA). To confirm on the first GPU run.
TOLERANCE = {"default": 1e-9, "fsim": 1e-7, "fsimc": 1e-7, "niqe": 1e-6, "niqe-gp": 1e-6}
#: The recipes of ``--quick`` (one per method family; all of them otherwise) and the widths
#: that make their networks tiny there (the full sizes otherwise).
QUICK_RECIPES = ("wgan-gp", "qagan-ssim", "qagan-niqe", "began", "qmf", "sr-msssim")
QUICK_WIDTHS = {
    "wgan-gp": ("g_channels=8", "d_channels=8"), "qagan-ssim": ("g_channels=8", "d_channels=8"),
    "qagan-niqe": ("g_channels=8", "d_channels=8"), "began": ("channels=8", "z_dim=16",
    "h_dim=16"), "qmf": ("ngf=8", "ndf=8", "d2_ndf=8", "s_ndf=8", "n_res=1"),
}  # fmt: skip


@dataclass
class Row:
    section: str
    item: str
    result: str
    detail: str = ""
    ok: bool = True


@dataclass
class Sizes:
    side: int  # image side of the parity checks
    big_side: int  # side for metrics that need more (MS-SSIM, NIQE)
    speed_sides: tuple[int, ...]
    speed_batches: tuple[int, ...]
    reps: int
    recipes: tuple[str, ...] | None  # None: every recipe
    step_batch: int | None  # None: the preset's batch
    step_widths: bool = False  # the tiny QUICK_WIDTHS


def sizes(quick: bool) -> Sizes:
    if quick:
        return Sizes(32, 176, (176,), (2, 1), 2, QUICK_RECIPES, 2, True)
    return Sizes(256, 256, (256, 1024, 4096), (16, 1), 5, None, None)


# ----------------------------------------------------------------------------- helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_ms(fn: Callable[[], Any], device: torch.device, reps: int, warmup: int = 1) -> float:
    """Median milliseconds of ``fn``: wall time between synchronisations on CUDA; on the CPU
    the process's CPU time (with ``--threads 1`` the call's own compute, nearly independent of
    other jobs on a shared machine; with more threads their sum)."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    times = []
    for _ in range(reps):
        _sync(device)
        t = clock()
        fn()
        _sync(device)
        times.append(clock() - t)
    return 1000.0 * statistics.median(times)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float(((a - b).abs() / b.abs().clamp_min(1e-12)).max())


def _finite(t: torch.Tensor | None) -> bool:
    return t is not None and bool(torch.isfinite(t).all())


def _pair(side: int, n: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, side, side, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ----------------------------------------------------------------------------- parity
def _metric_fns() -> dict[str, tuple[Callable, bool, int]]:
    """``{name: (fn(x, y) or fn(x), full_reference, min_size)}`` of the metric registry (the
    learned ``qmap`` metric needs a trained model: left out)."""
    from qagen.registry import METRICS

    out = {}
    for name in METRICS.available():
        info = METRICS.get(name)
        if info.model_required:
            continue
        fn = info.fn
        kw = {"data_range": 1.0} if "data_range" in inspect.signature(fn).parameters else {}
        if info.full_reference:
            out[name] = ((lambda f, k: lambda x, y: f(x, y, **k))(fn, kw), True, info.min_size)
        else:
            out[name] = ((lambda f, k: lambda x, y: f(x, **k))(fn, kw), False, info.min_size)
    return out


def _loss_fns() -> dict[str, tuple[Callable, int]]:
    from qagen import losses

    return {
        "SSIMLoss": (losses.SSIMLoss(), 11),
        "MSSSIMLoss": (losses.MSSSIMLoss(), 161),
        "GMSMLoss": (losses.GMSMLoss(), 5),
        "ChromaLoss": (losses.ChromaLoss(), 3),
        "SSIMDistance": (losses.SSIMDistance(), 11),
        "CompositeIQALoss": (losses.CompositeIQALoss({"l1": 2.0, "gmsm": 1.0, "chroma": 1.0}), 5),
    }


def _critic(side: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 8, 3, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(8 * ((side + 3) // 4) ** 2, 1),
    ).double()  # fmt: skip


def _penalty_fns(side: int) -> dict[str, Callable]:
    """Each penalty as ``fn(critic, real, fake, x_hat) -> scalar`` (real, fake in [-1, 1])."""
    from qagen.gan.niqe_penalty import NIQEGradientPenalty
    from qagen.gan.objectives import drift_penalty
    from qagen.gan.penalties import (
        banach_gradient_penalty,
        gradient_penalty_terms,
        ssim_gradient_penalty,
    )

    def gp(critic, real, fake, x_hat):
        return gradient_penalty_terms(critic, real, fake, interpolates=x_hat).penalty

    def banach(critic, real, fake, x_hat):
        return banach_gradient_penalty(critic, real, fake, s=-1.5, p=2.0, interpolates=x_hat)

    def ssim_gp(critic, real, fake, x_hat):
        return ssim_gradient_penalty(critic(real), critic(fake), real, fake)

    def niqe_gp(critic, real, fake, x_hat):
        pen = NIQEGradientPenalty(pooling="image")
        g = torch.Generator().manual_seed(2)
        for _ in range(24):  # a pristine model from the critic gradients of 48 real-like images
            more = torch.rand(real.shape, generator=g, dtype=torch.float64) * 2 - 1
            more = more.to(device=real.device, dtype=real.dtype)
            pen.accumulate(gradient_penalty_terms(critic, more, more, interpolates=more).grad)
        pen.fit()
        return pen(gradient_penalty_terms(critic, real, fake, interpolates=x_hat).grad)

    def drift(critic, real, fake, x_hat):
        return drift_penalty(critic(real))

    return {"gp": gp, "banach-gp": banach, "ssim-gp": ssim_gp, "niqe-gp": niqe_gp,
            "drift": drift}  # fmt: skip


def _grad_of(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor | None:
    x = x.detach().clone().requires_grad_(True)
    value = fn(x)
    value.float().sum().backward()
    return x.grad


def parity(device: torch.device, sz: Sizes) -> list[Row]:
    rows: list[Row] = []

    def check(kind: str, name: str, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
              side: int, grads: str | None = "input") -> None:  # fmt: skip
        """``grads``: the gradient checked, w.r.t. the ``"input"`` x, the ``"params"`` of the
        critic (penalties: their interpolates are detached by design), or none."""
        x, y = _pair(side)
        ref = fn(x, y)
        try:
            got = fn(x.to(device), y.to(device))
            rel = _rel(got, ref)
            tol = TOLERANCE.get(name, TOLERANCE["default"])
            rows.append(Row("parity", f"{kind} {name} float64", f"{rel:.1e}", f"tol {tol:g}",
                            rel <= tol))  # fmt: skip
        except Exception as err:  # noqa: BLE001 (one failing item must not hide the others)
            rows.append(Row("parity", f"{kind} {name} float64", "error", _one_line(err), False))
        for label, dtype in (("float32", None), ("bf16 autocast", torch.bfloat16)):
            if dtype is torch.bfloat16 and not _bf16_ok(device):
                rows.append(Row("parity", f"{kind} {name} {label}", "n/a", "no bf16 here"))
                continue
            xf, yf = x.float().to(device), y.float().to(device)
            try:
                xg = xf.clone().requires_grad_(grads == "input")
                with _autocast(device, dtype):
                    value = fn(xg, yf)
                grad: list[torch.Tensor | None] = []
                if grads is not None:
                    value.float().sum().backward()
                    grad = [xg.grad] if grads == "input" else [
                        p.grad for p in _CRITIC[device.type].parameters()]  # fmt: skip
                # a parameter outside the penalty's graph (a last bias under a GP) has no grad
                grad = [g for g in grad if g is not None] if grads == "params" else grad
                ok = _finite(value) and all(_finite(g) for g in grad)
                ok = ok and (grads is None or len(grad) > 0)
                what = "finite" + (f", {grads} gradient finite" if grads else "")
                rows.append(Row("parity", f"{kind} {name} {label}", "ok" if ok else "NOT finite",
                                what, ok))  # fmt: skip
            except Exception as err:  # noqa: BLE001
                rows.append(Row("parity", f"{kind} {name} {label}", "error", _one_line(err),
                                False))  # fmt: skip

    from qagen.registry import METRICS

    for name, (fn, _fr, min_size) in _metric_fns().items():
        side = sz.side if sz.side >= min_size else max(sz.big_side, min_size)
        check("metric", name, fn, side, "input" if METRICS.get(name).differentiable else None)
    for name, (loss, min_size) in _loss_fns().items():
        side = sz.side if sz.side >= min_size else max(sz.big_side, min_size)
        check("loss", name, lambda x, y, f=loss: f(x, y), side)
    side = sz.side
    for name, pen in _penalty_fns(side).items():

        def fn(x, y, pen=pen):
            critic = _critic(side).to(device=x.device, dtype=x.dtype)  # the same weights
            critic.zero_grad()
            _CRITIC[x.device.type] = critic
            real, fake = 2 * x - 1, 2 * y - 1
            g = torch.Generator().manual_seed(1)
            eps = torch.rand(x.shape[0], 1, 1, 1, generator=g, dtype=x.dtype).to(x.device)
            return pen(critic, real, fake, eps * real + (1 - eps) * fake)

        check("penalty", name, fn, side, "params")
    return rows


#: The critic of the last penalty evaluated on each device type (its gradients are checked).
_CRITIC: dict[str, nn.Module] = {}


def _bf16_ok(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return True


def _one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip().splitlines()
    return text[0][:120] if text else type(err).__name__


# ----------------------------------------------------------------------------- recipes
def _recipe(name: str, device: torch.device, sz: Sizes, extra: Sequence[str] = ()):
    """The recipe ``name`` built as the trainer builds it, from its full preset, with its main
    batch stream (an iterator)."""
    from qagen.data import build_dataset
    from qagen.registry import PRESETS
    from qagen.train import resolve_run_config
    from qagen.train.build import build_recipe
    from qagen.train.loader import BatchStream
    from qagen.train.recipe import get_recipe

    over = ["data.num_workers=0", f"train.device={device.type}"]
    if sz.step_batch:  # --quick, --batch
        over.append(f"train.batch_size={sz.step_batch}")
    if sz.step_widths:  # --quick
        over += list(QUICK_WIDTHS.get(name, ()))
    over += list(extra)
    run = resolve_run_config(name, preset=name if name in PRESETS else None, data="builtin",
                             overrides=over)  # fmt: skip
    cls = get_recipe(name)
    if cls.has_own_dataset():
        dataset = cls.build_dataset(run)
    else:
        n = max(4 * run.train.batch_size, 16)
        dataset = build_dataset("builtin", run.data.resolution, run.data.split, length=n)

    def stream(sname: str, ds: Any, global_batch: int, **kw: Any) -> BatchStream:
        kw.pop("num_workers", None)
        return BatchStream(ds, global_batch, seed=0, device=device, num_workers=0, stream=sname,
                           **kw)  # fmt: skip

    main = stream("main", dataset, run.train.batch_size)
    built = build_recipe(run, cls, device=device, dataset=dataset,
                         batches_per_epoch=main.batches_per_epoch, stream_factory=stream)  # fmt: skip
    return built.recipe, iter(main), run


def _sync_debug(device: torch.device):
    if device.type != "cuda":
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def mode() -> Iterator[None]:
        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode("default")

    return mode()


def sync(device: torch.device, sz: Sizes) -> list[Row]:
    """The hot paths under the sync debug mode: steps after the warm-up (NIQE's pristine model
    is fitted during the warm-up, where one synchronisation is expected)."""
    cases = {
        "SSIM-GP step (qagan-ssim)": ("qagan-ssim", ["train.batch_size=4"], 1),
        "NIQE-GP step (qagan-niqe)": ("qagan-niqe", ["train.batch_size=4",
                                                     "hparams.niqe.warmup_steps=2"], 3),
        "QMF map step (qmf)": ("qmf", ["train.batch_size=4", "niqe.warmup_steps=2"], 3),
    }  # fmt: skip
    rows = []
    label = "no sync" if device.type == "cuda" else "ran (no sync check on the CPU)"
    for what, (recipe, extra, warmup) in cases.items():
        try:
            rec, batches, _ = _recipe(recipe, device, sz, extra)
            for step in range(warmup):
                rec.train_step(batches, step)
            _sync(device)
            with _sync_debug(device):
                values = rec.train_step(batches, warmup)
            ok = all(_finite(torch.as_tensor(v, dtype=torch.float64).detach().cpu())
                     for v in values.values())  # fmt: skip
            rows.append(Row("sync", what, label if ok else "NOT finite", "", ok))
        except Exception as err:  # noqa: BLE001
            rows.append(Row("sync", what, "error", _one_line(err), False))
    return rows


class _OpCounter:
    """Counts the ATen operators dispatched in the block (forward, backward, optimiser): on a
    GPU each is at least one kernel launch, so ``n x`` a launch's few microseconds bounds a
    small-batch step from below."""

    def __enter__(self) -> _OpCounter:
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                counter.n += 1
                return func(*args, **(kwargs or {}))

        self.n = 0
        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._mode.__exit__(*exc)


def steps(device: torch.device, sz: Sizes) -> list[Row]:
    from qagen.registry import RECIPES

    names = sz.recipes or tuple(RECIPES.available())
    rows = []
    for name in names:
        try:
            rec, batches, run = _recipe(name, device, sz)
            rec.train_step(batches, 0)  # warm-up (kernels, caches)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            counter = iter(range(1, 10**6))

            def one(rec=rec, batches=batches, counter=counter) -> None:
                rec.train_step(batches, next(counter))

            ms = _median_ms(one, device, reps=1 if sz.step_widths else 2, warmup=0)
            with _OpCounter() as ops:  # the ops one step dispatches: each one kernel or more
                one()
            peak = (f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
                    if device.type == "cuda" else "n/a (CPU)")  # fmt: skip
            what = f"batch {run.train.batch_size}, {run.data.resolution} px"
            rows.append(Row("steps", f"{name} ({what})", f"{ms:.0f} ms",
                            f"peak {peak}; {ops.n} aten ops a step"))  # fmt: skip
            print(f"gpu_check: {name}: {ms:.0f} ms, {ops.n} ops", file=sys.stderr, flush=True)
        except Exception as err:  # noqa: BLE001
            rows.append(Row("steps", name, "error", _one_line(err), False))
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


# ----------------------------------------------------------------------------- speed
def speed(device: torch.device, sz: Sizes) -> list[Row]:
    from qagen.iqa.structural import ms_ssim, ssim

    theirs = _other_libraries()
    rows = []
    for side in sz.speed_sides:
        for batch in sz.speed_batches:
            if device.type == "cuda":
                free = torch.cuda.mem_get_info(device)[0]
                if 40 * batch * side * side * 4 > free:  # ~40 image-sized float32 buffers
                    rows.append(Row("speed", f"{side} px, batch {batch}", "skipped",
                                    "not enough device memory"))  # fmt: skip
                    continue
            g = torch.Generator().manual_seed(0)
            x = torch.rand(batch, 1, side, side, generator=g).to(device)
            y = (x + 0.05 * torch.randn(x.shape, generator=g).to(device)).clamp(0, 1)
            for metric, ours in (("SSIM", ssim), ("MS-SSIM", ms_ssim)):
                if metric == "MS-SSIM" and side < 161:
                    continue
                try:
                    mine = _fwd_bwd_ms(lambda a, b, f=ours: f(a, b, 1.0), x, y, device, sz.reps)
                except Exception as err:  # noqa: BLE001 (out of memory at 4096 px, batch 16)
                    rows.append(Row("speed", f"{metric} {side} px, batch {batch}", "error",
                                    _one_line(err), False))  # fmt: skip
                    _free(device)
                    continue
                parts = [f"qagen {mine:.2f} ms"]
                for lib, fns in theirs.items():
                    fn = fns.get(metric)
                    if fn is None:
                        continue
                    try:
                        t = _fwd_bwd_ms(fn, x, y, device, sz.reps)
                        parts.append(f"{lib} {t:.2f} ms (ours/theirs {mine / t:.2f})")
                    except Exception as err:  # noqa: BLE001
                        parts.append(f"{lib}: {_one_line(err)[:40]}")
                        _free(device)
                rows.append(Row("speed", f"{metric} {side} px, batch {batch}", f"{mine:.2f} ms",
                                "; ".join(parts)))  # fmt: skip
    return rows


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _fwd_bwd_ms(fn: Callable, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                reps: int) -> float:  # fmt: skip
    def once() -> None:
        a = x.detach().requires_grad_(True)
        fn(a, y).sum().backward()

    return _median_ms(once, device, reps)


def _other_libraries() -> dict[str, dict[str, Callable]]:
    """pytorch-msssim and piq where installed, configured as qagen's defaults (11-tap Gaussian
    window of sigma 1.5, no downsampling)."""
    out: dict[str, dict[str, Callable]] = {}
    with contextlib.suppress(ImportError):
        import pytorch_msssim as pm

        out["pytorch-msssim"] = {
            "SSIM": lambda a, b: pm.ssim(a, b, data_range=1.0, size_average=False),
            "MS-SSIM": lambda a, b: pm.ms_ssim(a, b, data_range=1.0, size_average=False),
        }
    with contextlib.suppress(ImportError):
        import piq

        out["piq"] = {
            "SSIM": lambda a, b: piq.ssim(
                a, b, data_range=1.0, downsample=False, reduction="none"
            ),  # fmt: skip
            "MS-SSIM": lambda a, b: piq.multi_scale_ssim(a, b, data_range=1.0, reduction="none"),
        }
    return out


# ----------------------------------------------------------------------------- filters
def filters_paths(device: torch.device, sz: Sizes) -> list[Row]:
    import qagen.filters as filters
    from qagen.iqa.structural import ssim

    rows = []
    for side in sz.speed_sides[:2]:
        batch = sz.speed_batches[0]
        g = torch.Generator().manual_seed(0)
        x = torch.rand(batch, 1, side, side, generator=g).to(device)
        y = (x + 0.05 * torch.randn(x.shape, generator=g).to(device)).clamp(0, 1)
        chosen = _chosen_path(x)
        times = {}
        for path in ("auto", *filters.PATHS):
            ctx = filters.filter_path(path) if path != "auto" else contextlib.nullcontext()
            with ctx:
                times[path] = _fwd_bwd_ms(lambda a, b: ssim(a, b, 1.0), x, y, device, sz.reps)
        best = min((t, p) for p, t in times.items() if p != "auto")
        ratio = times["auto"] / best[0]
        detail = ", ".join(f"{p} {t:.2f} ms" for p, t in times.items())
        rows.append(Row("filters", f"SSIM {side} px, batch {batch}: auto takes {chosen}",
                        f"x{ratio:.2f} of the fastest ({best[1]})", detail))  # fmt: skip
    return rows


def _chosen_path(x: torch.Tensor) -> str:
    """The paths the engine takes inside SSIM on ``x`` (recorded through choose_path)."""
    import qagen.filters as filters
    from qagen.iqa.structural import ssim

    seen: list[str] = []
    original = filters.choose_path

    def recording(*args: Any, **kwargs: Any) -> str:
        path = original(*args, **kwargs)
        seen.append(path)
        return path

    filters.choose_path = recording
    try:
        ssim(x, x, 1.0)
    finally:
        filters.choose_path = original
    return "/".join(sorted(set(seen))) or "?"


# ----------------------------------------------------------------------------- main
SECTIONS = {"parity": parity, "sync": sync, "speed": speed, "filters": filters_paths,
            "steps": steps}  # fmt: skip


def table(rows: Sequence[Row], header: str) -> str:
    lines = [header, "", "| section | item | result | detail | ok |", "|---|---|---|---|---|"]
    for r in rows:
        detail = r.detail.replace("|", "/")
        lines.append(f"| {r.section} | {r.item} | {r.result} | {detail} | "
                     f"{'yes' if r.ok else '**FAIL**'} |")  # fmt: skip
    return "\n".join(lines)


def run(device: str = "cuda", quick: bool = False, sections: Sequence[str] | None = None,
        out: Any = None, recipes: Sequence[str] | None = None,
        batch: int | None = None) -> int:  # fmt: skip
    """Run the check; print the table to ``out`` (stdout); 0 when every check passed."""
    out = out if out is not None else sys.stdout
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (run it with --device cpu to check the script)",
              file=sys.stderr)  # fmt: skip
        return 2
    dev = torch.device(device)
    sz = sizes(quick)
    if recipes:
        sz.recipes = tuple(recipes)
    if batch:
        sz.step_batch = batch
    t0 = time.perf_counter()
    rows: list[Row] = []
    from qagen._checks import input_checks

    for name in sections or SECTIONS:
        with input_checks(False):
            rows += SECTIONS[name](dev, sz)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    header = (f"gpu_check on {name} ({dev}), torch {torch.__version__}"
              f"{', quick sizes' if quick else ''}: {time.perf_counter() - t0:.0f} s")  # fmt: skip
    print(table(rows, header), file=out)
    failed = [r for r in rows if not r.ok]
    if failed:
        print(f"gpu_check: {len(failed)} check(s) failed", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--quick", action="store_true", help="small sizes, a few recipes (seconds)")
    p.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=None)
    p.add_argument("--recipes", nargs="+", default=None, help="the steps of these recipes only")
    p.add_argument("--batch", type=int, default=None, help="steps at this batch size instead of "
                   "the presets' (full widths)")  # fmt: skip
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return run(args.device, args.quick, args.sections, recipes=args.recipes, batch=args.batch)


if __name__ == "__main__":
    sys.exit(main())
