"""The HTML report of a training run (the ``qagen report RUN_DIR`` command).

:func:`write_report` writes ``RUN_DIR/report.html``: one self-contained page (every picture is a
PNG embedded as a base64 data URI, so the file can be copied or mailed alone) with

1. **Run summary**: recipe, data, the loop settings, steps, wall time and speed, checkpoints,
   the recipe's hyper-parameters, the last logged values.
2. **Evaluation**: the records of ``RUN_DIR/eval.json`` (:func:`qagen.eval.run.evaluate_run`)
   as tables, each with its protocol; metrics skipped for want of Inception weights are listed
   with the reason; when ``eval_history.jsonl`` holds several checkpoints, the metrics against
   the checkpoint step.
3. **Training curves**: one panel per quantity of ``metrics.csv`` against the generator step.
4. **Samples over training**: the fixed-input grids of ``samples/`` (a selection when many).
5. **Quality maps**: generated samples next to their nearest real training image (pixel L2),
   with the SSIM map and the gradient-magnitude-similarity map between the two.
6. The configuration (``config.toml``).

Sections whose inputs are missing say so instead of failing (a run without ``eval.json`` gets
a pointer to ``qagen eval``).
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "MetricsTable",
    "quality_maps",
    "read_metrics_csv",
    "report_command",
    "select_grids",
    "smooth",
    "write_report",
]

_SKIP_COLUMNS = ("step", "elapsed_s")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:20px auto;
max-width:1160px;color:#1f2328;line-height:1.45;padding:0 14px}
h1{font-size:1.55em;margin:.2em 0} h2{font-size:1.2em;margin-top:1.8em;padding-bottom:.2em;
border-bottom:1px solid #d0d7de} h3{font-size:1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;font-size:.9em;margin:.4em 0 .8em}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#57606a;font-size:.9em} .note{color:#57606a;font-size:.9em;max-width:60em}
.skip{color:#9a6700} .bad{color:#cf222e;font-weight:600} .ok{color:#1a7f37;font-weight:600}
nav a{margin-right:1em} .cols{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
.grids{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:0} figcaption{font-size:.85em;color:#57606a;text-align:center}
img{max-width:100%;border:1px solid #d0d7de}
img.px{image-rendering:pixelated}
details{margin:.2em 0 .5em} summary{cursor:pointer;color:#0969da}
pre{background:#f6f8fa;padding:10px;overflow-x:auto;font-size:.82em}
"""


# ----------------------------------------------------------------------------- data


@dataclass
class MetricsTable:
    """``metrics.csv``: steps, {quantity: values}, elapsed seconds per row, and per quantity the
    steps whose logged value was NaN/Inf (empty cells, a quantity not logged yet, are NaN in
    ``cols`` but not listed there)."""

    steps: list[int] = field(default_factory=list)
    cols: dict[str, list[float]] = field(default_factory=dict)
    elapsed: list[float] = field(default_factory=list)
    nonfinite: dict[str, list[int]] = field(default_factory=dict)


def read_metrics_csv(path: str | Path) -> MetricsTable:
    """Read a run's ``metrics.csv`` (:class:`MetricsTable`)."""
    t = MetricsTable()
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        names = [n for n in (reader.fieldnames or []) if n not in _SKIP_COLUMNS]
        t.cols = {n: [] for n in names}
        for row in reader:
            try:
                step = int(row["step"])
            except (KeyError, TypeError, ValueError):
                continue
            t.steps.append(step)
            t.elapsed.append(_float(row.get("elapsed_s")))
            for n in names:
                text = (row.get(n) or "").strip()
                v = _float(text)
                if text and not math.isfinite(v):
                    t.nonfinite.setdefault(n, []).append(step)
                t.cols[n].append(v)
    return t


def _float(text: object) -> float:
    try:
        return float(str(text).strip()) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def smooth(values: Sequence[float], n_rows: int | None = None) -> list[float]:
    """Exponential moving average whose time constant is 1/20 of the rows (no smoothing below
    40 rows); NaN/Inf entries stay NaN and do not enter the average."""
    n = len(values) if n_rows is None else n_rows
    if n < 40:
        return [v if math.isfinite(v) else math.nan for v in values]
    w = 1.0 - 20.0 / n
    out, last = [], None
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        last = v if last is None else w * last + (1.0 - w) * v
        out.append(last)
    return out


def select_grids(grids: Sequence[tuple[int, Path]], k: int) -> list[tuple[int, Path]]:
    """At most ``k`` items, evenly spaced, always the first and the last."""
    grids = list(grids)
    if len(grids) <= k:
        return grids
    if k <= 1:
        return grids[-1:]
    idx = sorted({round(i * (len(grids) - 1) / (k - 1)) for i in range(k)})
    return [grids[i] for i in idx]


def _sample_grids(run_dir: Path) -> dict[str, list[tuple[int, Path]]]:
    """``{grid name: [(step, path), ...]}`` from ``samples/step_XXXXXXXX[_name].png``."""
    out: dict[str, list[tuple[int, Path]]] = {}
    for p in (run_dir / "samples").glob("step_*.png"):
        m = re.fullmatch(r"step_(\d+)(?:_(.+))?", p.stem)
        if m:
            out.setdefault(m.group(2) or "", []).append((int(m.group(1)), p))
    return {k: sorted(v) for k, v in sorted(out.items())}


# ----------------------------------------------------------------------------- pictures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _img(data: bytes, alt: str, *, width: int | None = None, pixelated: bool = False) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    w = f' width="{int(width)}"' if width else ""
    cls = ' class="px"' if pixelated else ""
    return f'<img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}"{w}{cls}>'


def _curves_png(
    steps: Sequence[int], cols: Mapping[str, Sequence[float]], nonfinite: Mapping[str, list[int]]
) -> bytes:
    plt = _plt()
    names = list(cols)
    ncol = min(3, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 2.7 * nrow), dpi=90, squeeze=False)
    many = len(steps) >= 40
    for ax, name in zip(axes.flat, names, strict=False):
        vals = [float(v) if math.isfinite(v) else math.nan for v in cols[name]]
        if many:
            ax.plot(steps, vals, color="C0", alpha=0.3, lw=0.8)
            ax.plot(steps, smooth(vals), color="C0", lw=1.6)
        else:
            ax.plot(steps, vals, color="C0", lw=1.3, marker=".")
        for s in nonfinite.get(name, []):
            ax.axvline(s, color="C3", lw=1.0, ls="--")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("generator step", fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    fig.tight_layout()
    return _png(fig)


#: GLCM properties plotted over checkpoints (QMF's reading: entropy and correlation rise with
#: quality, homogeneity falls); the other metrics are all plotted.
_HISTORY_GLCM = ("glcm.entropy", "glcm.correlation", "glcm.homogeneity")


def _history_png(rows: Sequence[Mapping[str, Any]]) -> bytes | None:
    """Metric against checkpoint step (last evaluation per step and generator)."""
    series: dict[str, dict[int, float]] = {}
    for r in rows:
        metric = str(r.get("metric"))
        if metric.startswith("glcm.") and metric not in _HISTORY_GLCM:
            continue
        step, v = r.get("checkpoint_step"), r.get("value")
        if not isinstance(step, int) or not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        key = f"{r.get('metric')} ({r.get('generator', '?')})"
        series.setdefault(key, {})[step] = float(v)
    series = {k: v for k, v in series.items() if len(v) >= 2}
    if not series:
        return None
    plt = _plt()
    names = sorted(series, key=lambda k: (k.startswith("glcm."), k))
    ncol = min(3, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 2.7 * nrow), dpi=90, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        pts = sorted(series[name].items())
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color="C1")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("checkpoint step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    fig.tight_layout()
    return _png(fig)


def quality_maps(
    run_dir: str | Path,
    *,
    n_maps: int = 4,
    pool: int = 512,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[bytes, list[dict]]:
    """The quality-map figure (PNG bytes) and one record per row.

    ``n_maps`` samples of the newest checkpoint's EMA generator (the first of a batch of 64, so
    batch-statistics generators see a normal batch) are each paired with the nearest image, by
    pixel L2 distance, among ``pool`` images of the run's *training* split. Per pair: the SSIM
    map (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, grey Y, ``same`` padding so that
    it lines up with the pixels) and the GMS map (Xue et al. 2014: Prewitt gradients, c = 170
    on 8-bit values, without GMSD's 2x downsampling so that small samples keep their
    resolution; its one-pixel border, where the zero-padded Prewitt filters see the padding and
    give ~1 for any pair, is dropped), both with the generated image as the distorted one.
    """
    import torch

    from qagen.eval.run import load_reference, load_run, sample_run
    from qagen.iqa import gms_map, ssim_maps

    loaded = load_run(run_dir, "last", use_ema=True, device=device)
    fake = sample_run(loaded, max(n_maps, 64), seed=seed)[:n_maps]
    real, info = load_reference(None, loaded.run, pool, seed=seed, split=loaded.run.data.split)
    if real.shape[1] != fake.shape[1]:
        real = real.expand(-1, fake.shape[1], -1, -1) if real.shape[1] == 1 else real
    d = torch.cdist(fake.flatten(1).double(), real.flatten(1).double())
    dist, idx = d.min(dim=1)
    near = real[idx]
    q = lambda t: torch.round(t.double() * 255) / 255  # noqa: E731  8-bit, as stored
    x, y = q(fake), q(near)
    win = min(11, (min(x.shape[-2:]) - 1) // 2 * 2 + 1)
    ssim_map = ssim_maps(x, y, 1.0, win_size=win, padding="same")[0]
    gms = gms_map(x, y, 1.0, downsample=False)[..., 1:-1, 1:-1]  # zero-padded borders dropped
    rows = []
    for i in range(x.shape[0]):
        rows.append(
            {
                "l2": float(dist[i]),
                "rmse": float(dist[i]) / math.sqrt(x[i].numel()),
                "ssim": float(ssim_map[i].mean()),
                "gms_mean": float(gms[i].mean()),
                "gmsd_full_res": float(gms[i].std(unbiased=False)),
            }
        )
    plt = _plt()
    n = x.shape[0]
    fig, axes = plt.subplots(n, 4, figsize=(8.6, 2.25 * n), dpi=90, squeeze=False)
    titles = ("generated", "nearest real (train)", "SSIM map", "GMS map")
    for i in range(n):
        img_f = x[i].permute(1, 2, 0).numpy()
        img_r = y[i].permute(1, 2, 0).numpy()
        if img_f.shape[-1] == 1:
            img_f, img_r = img_f[..., 0], img_r[..., 0]
        axes[i, 0].imshow(img_f, interpolation="nearest", cmap="gray", vmin=0, vmax=1)
        axes[i, 1].imshow(img_r, interpolation="nearest", cmap="gray", vmin=0, vmax=1)
        im_s = axes[i, 2].imshow(ssim_map[i, 0].numpy(), cmap="viridis", vmin=0, vmax=1,
                                 interpolation="nearest")  # fmt: skip
        im_g = axes[i, 3].imshow(gms[i, 0].numpy(), cmap="viridis", vmin=0, vmax=1,
                                 interpolation="nearest")  # fmt: skip
        r = rows[i]
        labels = (
            f"sample {i}",
            f"RMSE {r['rmse']:.3f}",
            f"mean SSIM {r['ssim']:.3f}",
            f"mean GMS {r['gms_mean']:.3f}",
        )
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(labels[j], fontsize=8)
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
        fig.colorbar(im_s, ax=axes[i, 2], fraction=0.046, pad=0.04, extend="min")
        fig.colorbar(im_g, ax=axes[i, 3], fraction=0.046, pad=0.04)
    fig.tight_layout()
    for r in rows:
        r.update(
            {
                "checkpoint_step": loaded.step,
                "generator": loaded.generator,
                "pool": int(real.shape[0]),
                "pool_split": info["reference_split"],
            }
        )
    return _png(fig), rows


# ----------------------------------------------------------------------------- HTML pieces


def _esc(v: object) -> str:
    return html.escape(str(v))


def _num(v: object, digits: int = 5) -> str:
    if isinstance(v, bool) or v is None:
        return "–" if v is None else str(v)
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            return f'<span class="bad">{v}</span>'
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)
    return _esc(v)


def _kv_table(rows: Sequence[tuple[str, object]], raw: bool = False) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v if raw else _esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    c = f' class="{cls}"' if cls else ""
    return f"<table{c}><tr>{head}</tr>{body}</table>"


def _flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.extend(_flatten(v, key + "."))
        else:
            out.append((key, v))
    return out


def _protocol_html(name: str, protocol: Mapping[str, Any]) -> str:
    rows = []
    for k, v in protocol.items():
        text = json.dumps(v, default=str) if isinstance(v, (Mapping, list)) else str(v)
        rows.append((k, text))
    return f"<details><summary>protocol of {_esc(name)}</summary>{_kv_table(rows)}</details>"


def _better(name: str) -> str:
    return {"swd": "lower", "fid": "lower", "kid": "lower", "is": "higher", "niqe": "lower"}.get(
        name, ""
    )


def _eval_section(evals: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> list[str]:
    parts = ['<h2 id="evaluation">Evaluation (eval.json)</h2>']
    if not evals:
        parts.append(
            '<p class="note">No evaluation yet: run <code>qagen eval RUN_DIR</code> '
            "(SWD, NIQE and GLCM need no weights; FID/KID/IS need "
            "<code>--inception-weights</code>). The report is refreshed by it.</p>"
        )
        return parts
    header = ["metric", "generated", "real set", "spread", "better", "checkpoint step",
              "generator", "n fake", "n real", "reference [split]"]  # fmt: skip
    rows = []
    skipped = []
    for name, rec in evals.items():
        if not isinstance(rec, Mapping):
            continue
        if rec.get("skipped"):
            skipped.append((name, rec.get("reason", "")))
            continue
        if name == "glcm":
            continue
        p = rec.get("protocol", {})
        if name == "swd":
            value, spread = rec.get("average"), "x1e3, mean of the pyramid levels"
            real = "–"
        elif name == "niqe":
            value = rec.get("value")
            spread = (
                f"per image {_num(rec.get('per_image_mean'), 4)} ± "
                f"{_num(rec.get('per_image_std'), 3)}; block {p.get('block_size')}"
            )
            real = _num((rec.get("real") or {}).get("value"))
        else:
            value = rec.get("value")
            std = rec.get("std")
            spread = f"± {_num(std, 3)}" if std is not None else "–"
            real = "–"
        ref = f"{_esc(p.get('reference', '–'))} [{_esc(p.get('reference_split', '–'))}]"
        if name == "is":
            ref = "– (IS uses the generated images only)"
        rows.append(
            [
                f"<b>{_esc(name)}</b>",
                _num(value),
                real,
                spread,
                _better(name),
                _num(p.get("checkpoint_step")),
                _esc(p.get("generator", "–")),
                _num(p.get("n_fake")),
                _num(p.get("n_real")),
                ref,
            ]
        )
    if rows:
        parts.append(_table(header, rows, "eval"))
    swd = evals.get("swd")
    if isinstance(swd, Mapping) and swd.get("per_level"):
        lv = swd["per_level"]
        parts.append("<h3>SWD per pyramid level (x1e3)</h3>")
        parts.append(
            _table(["level"] + [f"{k}x{k}" for k in lv], [["SWD"] + [_num(v) for v in lv.values()]])
        )
    niqe = evals.get("niqe")
    if isinstance(niqe, Mapping) and "fake_vs_real" in niqe:
        parts.append(
            f'<p class="note">NIQE: the generated and real sets are scored with the same block '
            f"size; the NIQE distance between their pooled feature Gaussians is "
            f"{_num(niqe['fake_vs_real'])}. Values at this block size are not comparable with "
            "published full-size NIQE.</p>"
        )
    glcm = evals.get("glcm")
    if isinstance(glcm, Mapping) and not glcm.get("skipped"):
        fake, real = glcm.get("fake", {}), glcm.get("real", {})
        keys = list(dict.fromkeys([*fake, *real]))
        parts.append("<h3>GLCM texture statistics (mean over images)</h3>")
        parts.append(
            _table(
                ["property", "generated", "real", "generated − real"],
                [
                    [
                        _esc(k),
                        _num(fake.get(k)),
                        _num(real.get(k)),
                        _num(fake[k] - real[k])
                        if isinstance(fake.get(k), float) and isinstance(real.get(k), float)
                        else "–",
                    ]
                    for k in keys
                ],
            )
        )
    if skipped:
        by_reason: dict[str, list[str]] = {}
        for n, r in skipped:
            by_reason.setdefault(r, []).append(n)
        parts.append("<h3>Skipped</h3><ul>")
        parts += [
            f'<li class="skip"><b>{_esc(", ".join(ns))}</b>: {_esc(r)}</li>'
            for r, ns in by_reason.items()
        ]
        parts.append("</ul>")
    parts.append("<h3>Protocols</h3>")
    parts.append(
        '<p class="note">Every number depends on its protocol (sample size, reference set and '
        "split, backbone and weights, checkpoint, EMA): compare numbers only under equal "
        "protocols.</p>"
    )
    for name, rec in evals.items():
        if isinstance(rec, Mapping) and rec.get("protocol"):
            parts.append(_protocol_html(name, rec["protocol"]))
    png = _history_png(history)
    if png is not None:
        parts.append("<h3>Evaluations over checkpoints</h3>")
        parts.append(_img(png, "evaluation metrics against the checkpoint step"))
    return parts


# ----------------------------------------------------------------------------- report


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_history(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return rows


def _fmt_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def write_report(
    run_dir: str | Path,
    *,
    quality_maps_n: int = 4,
    max_grids: int = 8,
    device: str = "cpu",
    title: str | None = None,
) -> Path:
    """Write ``RUN_DIR/report.html`` (module docstring) and return its path.

    ``quality_maps_n`` samples get quality maps (0: no maps section; it needs a checkpoint and
    the run's dataset); ``max_grids`` sample grids are shown at most (evenly spaced over the
    run, the first and the newest included); ``device`` is used for sampling.
    """
    from qagen.train.checkpoint import list_checkpoints

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    cfg_path = run_dir / "config.toml"
    cfg: dict = {}
    cfg_text = ""
    if cfg_path.is_file():
        from qagen.train.config import load_toml

        cfg_text = cfg_path.read_text()
        try:
            cfg = load_toml(cfg_path)
        except Exception as err:  # a report should still be written
            cfg_text += f"\n# (could not be parsed: {err})"
    recipe = cfg.get("recipe", "?")
    data = cfg.get("data", {}) or {}
    train = cfg.get("train", {}) or {}
    title = title or f"qagen run report: {recipe} on {data.get('spec') or '?'}"

    table = MetricsTable()
    if (run_dir / "metrics.csv").is_file():
        table = read_metrics_csv(run_dir / "metrics.csv")
    steps, cols, elapsed = table.steps, table.cols, table.elapsed
    ckpts = list_checkpoints(run_dir / "checkpoints")
    grids = _sample_grids(run_dir)
    evals = _read_json(run_dir / "eval.json")
    history = _read_history(run_dir / "eval_history.jsonl")

    # -- summary
    summary: list[tuple[str, object]] = [
        ("recipe", recipe),
        (
            "data",
            f"{data.get('spec', '?')} ({data.get('resolution', '?')}x"
            f"{data.get('resolution', '?')}, split {data.get('split', '?')})",
        ),  # fmt: skip
        ("run directory", str(run_dir.resolve())),
        ("batch size (global)", train.get("batch_size", "?")),
        ("max steps", train.get("max_steps", "?")),
        ("seed", train.get("seed", "?")),
        ("EMA decay", train.get("ema_decay", "?")),
    ]
    if steps:
        summary.append(("last logged step", steps[-1]))
        wall = elapsed[-1] if elapsed and math.isfinite(elapsed[-1]) else None
        if wall is not None and wall > 0:
            summary.append(
                ("training time", f"{_fmt_duration(wall)} ({steps[-1] / wall:.3g} steps/s)")
            )
    summary.append(("checkpoints", ", ".join(f"step {s}" for s, _ in ckpts) if ckpts else "none"))
    bad = sorted(table.nonfinite)
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">written {now} by qagen.eval.report from {_esc(run_dir.name)}/</p>',
        '<nav><a href="#summary">Summary</a><a href="#evaluation">Evaluation</a>'
        '<a href="#curves">Training curves</a><a href="#samples">Samples</a>'
        '<a href="#maps">Quality maps</a><a href="#config">Configuration</a></nav>',
        '<h2 id="summary">Run summary</h2><div class="cols">',
        "<div>" + _kv_table(summary) + "</div>",
    ]
    hp = _flatten(cfg.get("hparams", {}) or {})
    if hp:
        cells = [(k, json.dumps(v) if isinstance(v, list) else v) for k, v in hp]
        half = math.ceil(len(cells) / 2)
        rows = []
        for a, b in zip(cells[:half], cells[half:] + [("", "")], strict=False):
            rows.append(
                f"<tr><th>{_esc(a[0])}</th><td>{_esc(a[1])}</td>"
                f"<th>{_esc(b[0])}</th><td>{_esc(b[1])}</td></tr>"
            )
        parts.append("<div><b>Hyper-parameters</b><table>" + "".join(rows) + "</table></div>")
    parts.append("</div>")
    if steps:
        last = [(n, v[-1]) for n, v in cols.items() if v]
        parts.append(f"<h3>Last logged values (row of step {steps[-1]})</h3>")
        parts.append(_table([n for n, _ in last], [[_num(v) for _, v in last]]))
        parts.append(
            '<p class="note">NaN / Inf logged: '
            + (
                '<span class="ok">none</span>'
                if not bad
                else f'<span class="bad">{_esc(", ".join(bad))}</span>'
            )
            + "</p>"
        )

    # -- evaluation
    parts += _eval_section(evals, history)

    # -- curves
    parts.append('<h2 id="curves">Training curves (metrics.csv)</h2>')
    plotted = {n: v for n, v in cols.items() if any(math.isfinite(x) for x in v)}
    if steps and plotted:
        parts.append(
            '<p class="note">One panel per logged quantity against the generator step. Each '
            "row of metrics.csv is the mean over the steps since the previous row"
            + (
                "; thin: the rows, thick: an exponential moving average with a time constant "
                "of 1/20 of the run"
                if len(steps) >= 40
                else ""
            )
            + ". Dashed red lines mark non-finite values. Critic losses include the weighted "
            "penalties; the penalty terms are logged unweighted.</p>"
        )
        parts.append(_img(_curves_png(steps, plotted, table.nonfinite), "training curves"))
    else:
        parts.append('<p class="note">No metrics.csv rows.</p>')

    # -- samples
    parts.append('<h2 id="samples">Samples over training (fixed inputs)</h2>')
    if grids:
        parts.append(
            '<p class="note">The grids the trainer wrote during the run, always from the same '
            "inputs (fixed z), with the EMA generator when the run keeps one"
            + (
                f"; {max_grids} of them, evenly spaced, first and newest included"
                if any(len(g) > max_grids for g in grids.values())
                else ""
            )
            + ".</p>"
        )
        for name, items in grids.items():
            if name:
                parts.append(f"<h3>grid “{_esc(name)}”</h3>")
            step, newest = items[-1]
            parts.append(
                '<figure style="display:inline-block">'
                f"{_img(newest.read_bytes(), f'samples at step {step}', width=512, pixelated=True)}"
                f"<figcaption>newest: step {step}</figcaption></figure>"
            )
            earlier = select_grids(items, max_grids)[:-1]
            if earlier:
                parts.append('<div class="grids">')
                for s, p in earlier:
                    img = _img(p.read_bytes(), f"samples at step {s}", width=208, pixelated=True)
                    parts.append(f"<figure>{img}<figcaption>step {s}</figcaption></figure>")
                parts.append("</div>")
    else:
        parts.append('<p class="note">No sample grids in samples/.</p>')

    # -- quality maps
    parts.append('<h2 id="maps">Quality maps of samples</h2>')
    if quality_maps_n > 0 and ckpts:
        try:
            png, rows = quality_maps(run_dir, n_maps=quality_maps_n, device=device)
        except Exception as err:  # missing dataset, foreign recipe, ...: say why, keep the rest
            parts.append(
                f'<p class="skip">Quality maps not available: {_esc(type(err).__name__)}: '
                f"{_esc(err)}</p>"
            )
        else:
            r0 = rows[0]
            parts.append(
                '<p class="note">Each generated sample (newest checkpoint, step '
                f"{r0['checkpoint_step']}, {r0['generator']} generator) next to its nearest "
                f"neighbour by pixel distance among {r0['pool']} images of the training split "
                f"({_esc(r0['pool_split'])}), with two full-reference maps of the sample "
                "against that neighbour (1 = identical; yellow = similar, dark = different): "
                "the <b>SSIM map</b> (local luminance, contrast and structure, 11x11 Gaussian "
                "window) and the <b>GMS map</b> (gradient-magnitude similarity: where edges "
                "agree; the one-pixel border is left out). Maps close to 1 everywhere would "
                "mean the generator reproduces a training image (memorisation); for a "
                "generator that generalises they are high "
                "only in flat regions and low on the edges and textures it invented. Low "
                "RMSE with low SSIM means similar colours but different structure.</p>"
            )
            parts.append(_img(png, "quality maps of generated samples against nearest real"))
            parts.append(
                _table(
                    ["sample", "RMSE to nearest", "mean SSIM", "mean GMS", "std GMS"],
                    [
                        [
                            str(i),
                            _num(r["rmse"], 4),
                            _num(r["ssim"], 4),
                            _num(r["gms_mean"], 4),
                            _num(r["gmsd_full_res"], 4),
                        ]  # fmt: skip
                        for i, r in enumerate(rows)
                    ],
                )
            )
    else:
        parts.append('<p class="note">No checkpoint: nothing to sample.</p>')

    # -- configuration
    parts.append('<h2 id="config">Configuration (config.toml)</h2>')
    if cfg_text:
        parts.append(f"<details><summary>show</summary><pre>{_esc(cfg_text)}</pre></details>")
    else:
        parts.append('<p class="note">No config.toml.</p>')
    parts.append("</body></html>")

    out = run_dir / "report.html"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    return out


def report_command(
    run_dir: str | Path, *, device: str = "cpu", stream: TextIO | None = None
) -> int:
    """CLI entry of ``qagen report RUN_DIR``: write ``RUN_DIR/report.html``, print its path,
    return 0 (a missing run directory raises ``FileNotFoundError``)."""
    stream = stream if stream is not None else sys.stdout
    path = write_report(run_dir, device=device)
    stream.write(f"wrote {path}\n")
    return 0
