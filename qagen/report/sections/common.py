"""Sections every run report has: summary, training curves, samples over training, configuration."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from qagen.report import (
    Cell,
    Figure,
    Gallery,
    KeyValues,
    Paragraph,
    Preformatted,
    Section,
    Table,
    plot_curves,
    select_evenly,
)
from qagen.report.run import (
    RunReportData,
)

__all__ = ["config_section", "curves_section", "samples_section", "summary_section"]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", json.dumps(v) if isinstance(v, list) else v))
    return out


def summary_section(run: RunReportData) -> list[Section]:
    """Run summary, hyper-parameters, last logged values and the NaN/Inf log."""
    data, train, table = run.data, run.train, run.metrics
    res = data.get("resolution", "?")
    rows: list[tuple[str, Any]] = [
        ("recipe", run.recipe),
        ("data", f"{data.get('spec', '?')} ({res}x{res}, split {data.get('split', '?')})"),
        ("batch size (global)", train.get("batch_size")),
        ("max steps", train.get("max_steps")),
        ("seed", train.get("seed")),
        ("EMA decay", train.get("ema_decay")),
    ]
    if table is not None and table.steps:
        rows.append(("last logged step", table.steps[-1]))
        wall = table.elapsed[-1] if table.elapsed and math.isfinite(table.elapsed[-1]) else None
        if wall:
            rows.append(
                ("training time", f"{_duration(wall)} ({table.steps[-1] / wall:.3g} steps/s)")
            )
    ckpts = ", ".join(str(s) for s, _ in run.checkpoints) if run.checkpoints else "none"
    rows.append(("checkpoints (steps)", ckpts))
    blocks: list[Any] = [
        KeyValues(rows, caption="The run (config.toml, metrics.csv, checkpoints/).")
    ]
    if run.config_error:
        blocks.append(Paragraph(f"config.toml could not be read: {run.config_error}", note=True))
    hp = _flatten(run.config.get("hparams") or {})
    if hp:
        blocks.append(
            KeyValues(hp, caption="Hyper-parameters of the recipe (`[hparams]`).", columns=2)
        )
    if table is None or not table.steps:
        blocks.append(Paragraph("No metrics.csv rows yet.", note=True))
        return [Section("Summary", blocks, id="summary")]
    last = table.last()
    names = [n for n in table.cols if n in last or n in table.nonfinite]
    rows2 = [
        [
            Cell(n, strong=True),
            last.get(n),
            Cell(", ".join(str(s) for s in table.nonfinite[n]), tone="bad")
            if n in table.nonfinite
            else Cell("none", tone="muted"),
        ]
        for n in names
    ]
    bad = sorted(table.nonfinite)
    blocks.append(
        Table(
            [
                "quantity",
                f"last finite value (row of step {table.steps[-1]} or earlier)",
                "NaN / Inf logged at steps",
            ],
            rows2,
            caption="Last logged values and the NaN/Inf log of metrics.csv. Each row of "
            "metrics.csv is the mean over the steps since the previous row.",
            notes=f"NaN / Inf logged: {', '.join(bad) if bad else 'none'}.",
        )  # fmt: skip
    )
    return [Section("Summary", blocks, id="summary")]


def curves_section(run: RunReportData) -> list[Section]:
    """The training curves of metrics.csv (also written to ``loss_curves.png``)."""
    table = run.metrics
    has_values = table is not None and any(
        any(math.isfinite(v) for v in vals) for vals in table.cols.values()
    )
    if table is None or not table.steps or not has_values:
        return [Section("Training curves", [Paragraph("No metrics.csv rows.")], id="curves")]
    png = run.cached(
        "curves_png", lambda: plot_curves(table, title=f"Training curves: {run.title}")
    )
    many = len(table.steps) >= 40
    wgan = "wdist" in table.cols  # the advice is for the runs that log a Wasserstein estimate
    caption = (
        "Logged quantities of metrics.csv against the generator step, grouped in panels"
        + (
            "; thin: the rows (each the mean since the previous row), thick: a centred moving "
            "average over 1/20 of the run"
            if many
            else ""
        )
        + ". Dashed red lines mark NaN/Inf values."
        + (
            " Critic losses include the weighted penalties; penalty terms are logged "
            "unweighted. The Wasserstein estimate should fall (the generator approaches the "
            "data) and the gradient norm stay near 1; the losses themselves have no 'better' "
            "direction."
            if wgan
            else ""
        )
    )
    return [Section("Training curves", [Figure(png, caption, alt="training curves")], id="curves")]


#: Grids shown first in "Samples over training" (the generator's output before its inputs and the
#: recipes' diagnostic maps); other grids follow in name order.
_GRID_ORDER = ("", "output", "samples", "input", "target", "reference")


def _grid_rank(name: str) -> tuple[int, str]:
    return (_GRID_ORDER.index(name) if name in _GRID_ORDER else len(_GRID_ORDER), name)


def samples_section(run: RunReportData) -> list[Section]:
    """The sample grids of samples/: the newest large, evenly spaced earlier ones small; the
    generator's output first, then its inputs and targets, then the other grids by name."""
    if not run.grids:
        return [Section("Samples over training", [Paragraph("No sample grids in samples/.")],
                        id="samples")]  # fmt: skip
    blocks: list[Any] = [
        Paragraph(
            "The grids the trainer wrote during the run, always from the same inputs (fixed "
            "z), with the EMA generator when the run keeps one. Look for variety across the "
            "grid (a repeated image means mode collapse), sharp edges and natural colours."
        )
    ]
    for name, items in sorted(run.grids.items(), key=lambda kv: _grid_rank(kv[0])):
        step, newest = items[-1]
        label = f"grid {name!r}, " if name else ""
        blocks.append(
            Figure(
                newest,
                f"{label}newest: step {step}",
                alt=f"samples at step {step}",
                width=512,
                pixelated=True,
            )  # fmt: skip
        )
        earlier = select_evenly(items, run.max_grids)[:-1]
        if earlier:
            figs = [
                Figure(p, f"step {s}", alt=f"samples at step {s}", width=200, pixelated=True)
                for s, p in earlier
            ]
            more = len(items) > run.max_grids
            blocks.append(
                Gallery(
                    figs,
                    caption=f"Earlier grids{' (evenly spaced, the first included)' if more else ''}.",
                )
            )
    return [Section("Samples over training", blocks, id="samples")]


def config_section(run: RunReportData) -> list[Section]:
    """``config.toml`` (collapsible)."""
    if not run.config_text:
        return [Section("Configuration", [Paragraph("No config.toml.")], id="config")]
    return [
        Section(
            "Configuration",
            [
                Paragraph(
                    "The resolved configuration of the run (`config.toml`); re-run it with "
                    "`qagen train --preset config.toml`."
                ),
                Preformatted(run.config_text, summary="show config.toml"),
            ],
            id="config",
        )
    ]
