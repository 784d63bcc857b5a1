"""Loss curves (PNG) and a short self-contained ``report.html`` for a training run directory.

``write_report(run_dir)`` reads ``metrics.csv``, ``config.toml``, ``samples/*.png`` and
``checkpoints/`` of a run written by :class:`qagen.train.Trainer` and writes

- ``loss_curves.png``: the logged quantities against the generator step, grouped in panels
  (losses; Wasserstein estimate; gradient-penalty terms; quality-aware penalties; other), raw
  (thin) and a centred moving average (thick);
- ``report.html``: one HTML file with the images embedded (base64), so it can be copied or
  mailed alone: a summary (recipe, data, steps, time, final values, whether any logged value was
  NaN/Inf), the curves, the newest sample grid and a few earlier ones, and the configuration.

Command line: ``python -m qagen.train.report RUN_DIR [--out DIR] [--title TEXT]``; ``qagen
train`` calls it at the end of a run.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["read_metrics", "plot_curves", "write_report", "main"]

#: panels of the curves: (title, metric names); anything else goes to "other"
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("losses", ("d_loss", "g_loss")),
    ("Wasserstein estimate E D(x) - E D(G(z))", ("wdist",)),
    ("gradient penalty", ("gp", "grad_norm", "dual_norm")),
    ("quality-aware penalties (unweighted)", ("ssim_gp", "niqe_gp")),
    ("critic output scale E[D(x)^2] (drift term, unweighted)", ("drift",)),
    ("Banach-WGAN scales", ("lambda", "gamma")),
)
_SKIP = ("step", "elapsed_s")


def read_metrics(path: str | Path) -> tuple[list[int], dict[str, list[float]], set[str]]:
    """``metrics.csv`` as (steps, {column: values}, columns holding a logged NaN/Inf).

    Empty cells (a quantity not logged yet, e.g. a penalty switched on after a warm-up) become
    NaN in the values but do not count as non-finite."""
    steps: list[int] = []
    cols: dict[str, list[float]] = {}
    bad: set[str] = set()
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        names = [n for n in (reader.fieldnames or []) if n not in _SKIP]
        for n in names:
            cols[n] = []
        for row in reader:
            steps.append(int(row["step"]))
            for n in names:
                text = (row.get(n) or "").strip()
                try:
                    v = float(text) if text else math.nan
                except ValueError:
                    v = math.nan
                if text and not math.isfinite(v):
                    bad.add(n)
                cols[n].append(v)
    return steps, cols, bad


def _elapsed(path: Path) -> float | None:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return float(rows[-1]["elapsed_s"]) if rows else None
    except (OSError, KeyError, ValueError):
        return None


def _smooth(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average over ``window`` rows (no lag), ignoring missing values."""
    out = []
    half = window // 2
    for i in range(len(values)):
        chunk = [v for v in values[max(0, i - half) : i + half + 1] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk and math.isfinite(values[i]) else math.nan)
    return out


def _groups(cols: Mapping[str, list[float]]) -> list[tuple[str, list[str]]]:
    used: set[str] = set()
    groups = []
    for title, names in PANELS:
        present = [n for n in names if n in cols]
        if present:
            groups.append((title, present))
            used.update(present)
    other = [n for n in cols if n not in used and not n.startswith("lr/")]
    if other:
        groups.append(("other", other))
    lrs = [n for n in cols if n.startswith("lr/")]
    if lrs:
        groups.append(("learning rate", lrs))
    return groups


def plot_curves(
    steps: Sequence[int], cols: Mapping[str, list[float]], path: str | Path, title: str = ""
) -> Path:
    """Write the grouped curves of ``cols`` against ``steps`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(cols)
    n = max(len(groups), 1)
    ncol = 2 if n > 1 else 1
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.4 * ncol, 3.2 * nrow), dpi=100, squeeze=False)
    window = max(3, len(steps) // 40) | 1
    for ax, (gtitle, names) in zip(axes.flat, groups, strict=False):
        for k, name in enumerate(names):
            color = f"C{k}"
            vals = cols[name]
            if len(steps) > 50 and not name.startswith("lr/"):
                ax.plot(steps, vals, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(steps, _smooth(vals, window), color=color, linewidth=1.6, label=name)
            else:
                marker = "." if len(steps) <= 50 else None
                ax.plot(steps, vals, color=color, linewidth=1.4, label=name, marker=marker)
        ax.set_title(gtitle, fontsize=10)
        ax.set_xlabel("generator step", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    grids = []
    for p in sorted((run_dir / "samples").glob("step_*.png")):
        m = re.match(r"step_(\d+)", p.stem)
        if m:
            grids.append((int(m.group(1)), p))
    return sorted(grids)


def _img(path: Path, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    w = f' width="{width}"' if width else ""
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{w}>'


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4g}"


def _markdown_table(text: str) -> str:
    """A pipe table (as ``qagen.demo`` writes ``scores.md``) as HTML; other text as <pre>."""
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.strip().startswith("|") and not set(line.strip()) <= set("|-: ")
    ]
    if len(rows) < 2:
        return f"<pre>{html.escape(text)}</pre>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    return f"<table><tr>{head}</tr>{body}</table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1100px;color:#222;line-height:1.4;padding:0 12px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.92em} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4} .ok{color:#1a7f37;font-weight:600} .bad{color:#cf222e;font-weight:600}
.grids{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.grids figure{margin:0} figcaption{font-size:.85em;color:#555;text-align:center}
img{image-rendering:pixelated;border:1px solid #ccc;max-width:100%}
pre{background:#f6f8fa;padding:10px;overflow-x:auto;font-size:.85em}
"""


def write_report(
    run_dir: str | Path, out_dir: str | Path | None = None, title: str | None = None
) -> Path:
    """Write ``loss_curves.png`` and ``report.html`` for ``run_dir`` into ``out_dir`` (default
    ``run_dir``); returns the path of ``report.html``."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = run_dir / "metrics.csv"
    cfg_text = (run_dir / "config.toml").read_text() if (run_dir / "config.toml").is_file() else ""
    recipe = re.search(r'^recipe = "([^"]*)"', cfg_text, re.M)
    spec = re.search(r'^spec = "([^"]*)"', cfg_text, re.M)
    recipe_name = recipe.group(1) if recipe else "?"
    data_spec = spec.group(1) if spec else "?"
    title = title or f"qagen training report: {recipe_name} on {data_spec}"

    steps: list[int] = []
    cols: dict[str, list[float]] = {}
    bad: set[str] = set()
    if metrics.is_file():
        steps, cols, bad = read_metrics(metrics)
    curves = None
    if steps:
        curves = plot_curves(steps, cols, out_dir / "loss_curves.png", title=recipe_name)
    grids = _sample_grids(run_dir)
    ckpts = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    elapsed = _elapsed(metrics) if metrics.is_file() else None

    rows = [
        ("recipe", html.escape(recipe_name)),
        ("data", html.escape(data_spec)),
        ("run directory", html.escape(str(run_dir))),
        ("generator steps logged", str(steps[-1]) if steps else "none"),
        ("newest checkpoint", html.escape(ckpts[-1].name) if ckpts else "none"),
    ]
    if elapsed is not None and steps:
        rows.append(
            (
                "training time",
                f"{elapsed / 60:.1f} min ({steps[-1] / max(elapsed, 1e-9):.2f} steps/s)",
            )
        )
    rows.append(
        (
            "NaN / Inf in metrics.csv",
            '<span class="ok">none</span>'
            if not bad
            else f'<span class="bad">{html.escape(", ".join(sorted(bad)))}</span>',
        )
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>",
    ]
    if steps:
        last = [
            (n, cols[n][-1]) for n in cols if not n.startswith("lr/") and math.isfinite(cols[n][-1])
        ]
        parts.append(f"<h2>Last logged values (mean over steps up to {steps[-1]})</h2>")
        parts.append(
            "<table><tr>"
            + "".join(f"<th>{html.escape(n)}</th>" for n, _ in last)
            + "</tr><tr>"
            + "".join(f"<td>{_fmt(v)}</td>" for _, v in last)
            + "</tr></table>"
        )
    if curves is not None:
        parts.append("<h2>Loss curves</h2>")
        parts.append(
            "<p>Thin: each logged row (the mean since the previous row); thick: centred moving "
            "average. "
            "The critic loss includes the weighted penalties; the penalties are shown "
            "unweighted.</p>"
        )
        parts.append(_img(curves, "loss curves"))
    if grids:
        step, newest = grids[-1]
        parts.append(f"<h2>Samples at step {step} (fixed z; EMA generator if enabled)</h2>")
        parts.append(_img(newest, f"samples at step {step}", width=512))
        earlier = grids[:-1]
        if earlier:
            k = min(5, len(earlier))
            pick = [earlier[round(i * (len(earlier) - 1) / max(k - 1, 1))] for i in range(k)]
            pick = list(dict.fromkeys(pick))
            parts.append("<h2>Earlier samples</h2><div class='grids'>")
            for s, p in pick:
                parts.append(
                    f"<figure>{_img(p, f'step {s}', width=200)}<figcaption>step {s}"
                    "</figcaption></figure>"
                )
            parts.append("</div>")
    scores = out_dir / "scores.md"
    if scores.is_file():
        parts.append("<h2>IQA metrics demo (scores.md: a photo under four distortions)</h2>")
        parts.append(_markdown_table(scores.read_text()))
    if cfg_text:
        parts.append("<h2>Configuration (config.toml)</h2>")
        parts.append(
            f"<details><summary>show</summary><pre>{html.escape(cfg_text)}</pre></details>"
        )
    parts.append("</body></html>")
    out = out_dir / "report.html"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write loss_curves.png and report.html for a run")
    p.add_argument("run_dir", help="run directory (config.toml, metrics.csv, samples/)")
    p.add_argument("--out", help="output directory (default: the run directory)")
    p.add_argument("--title", help="report title")
    args = p.parse_args(argv)
    if not Path(args.run_dir).is_dir():
        p.error(f"no such run directory: {args.run_dir}")
    path = write_report(args.run_dir, args.out, args.title)
    print(f"wrote {path} and {path.with_name('loss_curves.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
