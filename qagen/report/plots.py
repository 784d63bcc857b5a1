"""Plots shared by every report: loss curves of a run's ``metrics.csv``, PNG conversion, and a
tick formatter without offset notation.

Figures are made with ``matplotlib.figure.Figure`` (no pyplot, no display backend). No axis ever shows an offset ("+1.999e-4")
or a multiplier ("1e-4" in the corner): :class:`PlainFormatter` writes every tick label in full
with just enough significant digits to tell the ticks apart.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.ticker import Formatter

from qagen.report.runfiles import MetricsTable

__all__ = [
    "PANELS",
    "PlainFormatter",
    "figure_png",
    "new_figure",
    "plain_axes",
    "plot_curves",
    "smooth",
]

#: Panels of the loss curves: (title, column names). Other columns go to "other", learning
#: rates (``lr/*``) to their own panel. A recipe family may pass its own list to plot_curves.
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("losses", ("d_loss", "g_loss")),
    ("training loss", ("loss",)),
    ("PSNR of the training batch, dB (higher is better)", ("psnr", "psnr_bicubic")),
    ("Wasserstein estimate E D(x) - E D(G(z))", ("wdist",)),
    ("gradient penalty", ("gp", "grad_norm", "dual_norm")),
    ("quality-aware penalties (unweighted)", ("ssim_gp", "niqe_gp")),
    ("critic output scale E[D(x)^2] (drift term, unweighted)", ("drift",)),
    ("Banach-WGAN scales", ("lambda", "gamma")),
    ("BEGAN autoencoder losses L(x), L(G(z)) and L_D", ("loss_real", "loss_fake", "loss_d")),
    ("BEGAN equilibrium k_t", ("k_t",)),
    ("BEGAN convergence M_global (lower is better)", ("m_global",)),
    (
        "BEGAN distances of D(x), real images (lower is better)",
        ("l1_real", "gmsm_real", "chrom_real"),
    ),
    ("BEGAN distances of D(G(z)), generated images", ("l1_fake", "gmsm_fake", "chrom_fake")),
)


def new_figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], dpi: int = 96, **kw: Any
) -> tuple[Any, Any]:
    """A matplotlib ``Figure`` and its axes (``Figure.subplots``), created without pyplot: no
    display backend is touched and nothing needs closing."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(nrows, ncols, **kw)


def figure_png(fig: Any, dpi: int | None = None) -> bytes:
    """PNG bytes of a matplotlib figure (tight bounding box); a pyplot figure is closed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", bbox_inches="tight", dpi=dpi)
    finally:
        if getattr(fig.canvas, "manager", None) is not None:  # made by pyplot: release it
            import matplotlib.pyplot as plt

            plt.close(fig)
    return buf.getvalue()


class PlainFormatter(Formatter):
    """Tick labels written in full (``0.0002``, ``0.00019995``), no offset, no multiplier.

    For a set of ticks, the smallest number of significant digits (at least 3) that writes every
    tick to within 1 % of the tick spacing is used; the cursor read-out uses 6 digits.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        return _fmt(x, 6)

    def format_data_short(self, value: float) -> str:
        return _fmt(value, 6)

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        vals = [float(v) for v in values]
        gaps = [abs(b - a) for a, b in zip(vals, vals[1:], strict=False) if b != a]
        tol = 0.01 * min(gaps) if gaps else 0.0
        for digits in range(3, 13):
            labels = [_fmt(v, digits) for v in vals]
            if all(abs(float(t) - v) <= tol for t, v in zip(labels, vals, strict=True)):
                return labels
        return [_fmt(v, 15) for v in vals]


def _fmt(v: float, digits: int) -> str:
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    text = f"{v:.{digits}g}"
    if "e" in text:  # very small or large: keep the exponent, never an offset
        mant, exp = text.split("e")
        return f"{mant}e{int(exp)}"
    return text


def plain_axes(ax: Any, *, integer_x: bool = False) -> None:
    """Use :class:`PlainFormatter` on both axes of ``ax``; ``integer_x`` puts the x ticks on
    integers (steps)."""
    ax.xaxis.set_major_formatter(PlainFormatter())
    ax.yaxis.set_major_formatter(PlainFormatter())
    if integer_x:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def smooth(values: Sequence[float], window: int | None = None) -> list[float]:
    """Centred moving average (no lag) over ``window`` rows, default the odd number nearest
    1/20 of the rows (no smoothing below 40 rows). NaN/Inf entries stay NaN and are left out
    of their neighbours' averages."""
    vals = [float(v) if math.isfinite(v) else math.nan for v in values]
    n = len(vals)
    if window is None:
        window = max(1, n // 20) | 1 if n >= 40 else 1
    half = max(0, int(window) // 2)
    if half == 0:
        return vals
    # prefix sums over the finite values: O(n)
    csum, ccount = [0.0], [0]
    for v in vals:
        ok = math.isfinite(v)
        csum.append(csum[-1] + (v if ok else 0.0))
        ccount.append(ccount[-1] + ok)
    out = []
    for i, v in enumerate(vals):
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        lo, hi = max(0, i - half), min(n, i + half + 1)
        out.append((csum[hi] - csum[lo]) / (ccount[hi] - ccount[lo]))
    return out


def _groups(
    names: Sequence[str], panels: Sequence[tuple[str, Sequence[str]]]
) -> list[tuple[str, list[str]]]:
    used: set[str] = set()
    groups = []
    for title, members in panels:
        present = [n for n in members if n in names]
        if present:
            groups.append((title, present))
            used.update(present)
    other = [n for n in names if n not in used and not n.startswith("lr/")]
    if other:
        groups.append(("other", other))
    lrs = [n for n in names if n.startswith("lr/")]
    if lrs:
        groups.append(("learning rate", lrs))
    return groups


def plot_curves(
    table: MetricsTable,
    path: str | Path | None = None,
    *,
    title: str,
    panels: Sequence[tuple[str, Sequence[str]]] = PANELS,
) -> bytes:
    """The loss curves of ``table`` (a run's ``metrics.csv``) as PNG bytes (also written to
    ``path`` when given).

    One panel per group of ``panels`` (then "other" and "learning rate"), against the generator
    step, under an overall ``title`` naming the run. From 40 rows on, each row is drawn thin and
    a centred moving average (:func:`smooth`) thick; a non-finite logged value is marked by a
    dashed red vertical line. Tick labels have no offset notation (:class:`PlainFormatter`).
    """
    names = [n for n, v in table.cols.items() if any(math.isfinite(x) for x in v)]
    names += [n for n in table.nonfinite if n not in names]
    if not table.steps or not names:
        raise ValueError("plot_curves: the table has no rows with values")
    groups = _groups(names, panels)
    ncol = 2 if len(groups) > 1 else 1
    nrow = math.ceil(len(groups) / ncol)
    fig, axes = new_figure(nrow, ncol, figsize=(6.2 * ncol, 3.0 * nrow + 0.5), squeeze=False)
    steps = table.steps
    many = len(steps) >= 40
    for ax, (gtitle, members) in zip(axes.flat, groups, strict=False):
        for k, name in enumerate(members):
            color = f"C{k}"
            vals = [v if math.isfinite(v) else math.nan for v in table.cols.get(name, [])]
            if many and not name.startswith("lr/"):
                ax.plot(steps, vals, color=color, alpha=0.25, lw=0.8)
                ax.plot(steps, smooth(vals), color=color, lw=1.6, label=name)
            else:
                ax.plot(steps, vals, color=color, lw=1.4, label=name, marker=None if many else ".")
            for s in table.nonfinite.get(name, []):
                ax.axvline(s, color="C3", lw=1.0, ls="--")
        ax.set_title(gtitle, fontsize=10)
        ax.set_xlabel("generator step", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.tick_params(labelsize=8)
        plain_axes(ax, integer_x=True)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    data = figure_png(fig)
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return data
