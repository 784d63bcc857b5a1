"""BEGAN-IQA's Table 2 for one run: the mean and standard deviation of each distance of D's
reconstructions over the whole training and over its last 10 % (``RUN/began_stats.json``).

Vertolli & Davies (arXiv 1708.02237, "Evaluations"): "we compared the mean and standard deviation
of the error scores ... for each distance function over all epochs", with the distance
``1 - similarity`` for GMSM and chrominance. The ``began`` recipe logs every distance of D's
reconstruction of the real batch (``l1_real``, ``gmsm_real``, ``chrom_real``) and of the
generated batch (``*_fake``) at every step, whatever the weights of eq. 6; this module reads them
from ``metrics.csv``. Table 2 is the ``*_real`` statistics (its header is "Discriminator loss
statistics": D's reconstruction error of real images); the ``*_fake`` ones are given beside.

With ``train.log_every = 1`` (the shipped presets) each row of ``metrics.csv`` is one step and the
statistics are over steps. With ``log_every = K > 1`` each row is the mean of ``K`` steps: the
means are still exact (rows weighted by the steps they cover) but the standard deviations are
those of ``K``-step means (smaller); the file says so (``"per_step": false``).

Standard deviations are population ones (``ddof = 0``); the paper does not say which it used.
The convergence summary (``m_global`` over the first and last 10 % of steps, the range of ``k_t``
and how often it sat at 0 in the second half) is what BEGAN's convergence claims are checked on.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from qagen.files import json_safe, write_json_atomic
from qagen.report import MetricsTable, read_config, read_metrics_csv

__all__ = ["STATS_FILE", "DISTANCE_NAMES", "began_stats", "write_began_stats", "read_began_stats"]

STATS_FILE = "began_stats.json"
#: Distance names in metrics.csv (suffixed _real / _fake) and in Table 2's columns.
DISTANCE_NAMES = ("l1", "gmsm", "chrom")


def _spans(steps: list[int]) -> np.ndarray:
    """Steps covered by each row (row k covers the steps after the previous row, up to k)."""
    s = np.asarray(steps, dtype=np.int64)
    prev = np.concatenate([[0], s[:-1]])
    return np.maximum(s - prev, 1)


def _moments(values: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(values)
    v, w = values[ok], weights[ok]
    if v.size == 0:
        return {"mean": None, "std": None, "n_rows": 0, "n_steps": 0}
    mean = float(np.average(v, weights=w))
    var = float(np.average((v - mean) ** 2, weights=w))
    return {"mean": mean, "std": math.sqrt(var), "n_rows": int(v.size), "n_steps": int(w.sum())}


def began_stats(metrics: MetricsTable, tail_fraction: float = 0.1) -> dict[str, Any]:
    """The statistics of a ``began`` run's ``metrics.csv`` (module docstring): ``{"last_step",
    "rows", "per_step", "tail_fraction", "distances": {"l1_real": {"all": {mean, std, ...},
    "last": {...}}, ...}, "table2": {"l1_M", "l1_sigma", ...}, "table2_last": {...},
    "convergence": {...}}``. Missing columns give ``None`` entries."""
    if not metrics.steps:
        raise ValueError("metrics.csv has no rows")
    steps = np.asarray(metrics.steps, dtype=np.int64)
    spans = _spans(metrics.steps)
    last = int(steps[-1])
    tail = steps > last - tail_fraction * last
    tail[-1] = True  # at least the last row
    head = steps <= max(tail_fraction * last, steps[0])
    out: dict[str, Any] = {
        "last_step": last,
        "rows": int(steps.size),
        "per_step": bool(np.all(spans == 1)),
        "row_steps": int(np.median(spans)),
        "tail_fraction": tail_fraction,
        "tail_first_step": int(steps[tail][0]),
        "ddof": 0,
        "distances": {},
    }
    for name in DISTANCE_NAMES:
        for side in ("real", "fake"):
            key = f"{name}_{side}"
            col = metrics.cols.get(key)
            if col is None:
                out["distances"][key] = None
                continue
            v = np.asarray(col, dtype=np.float64)
            out["distances"][key] = {
                "all": _moments(v, spans),
                "last": _moments(v[tail], spans[tail]),
            }
    for which, part in (("table2", "all"), ("table2_last", "last")):
        row: dict[str, float | None] = {}
        for name in DISTANCE_NAMES:
            d = out["distances"].get(f"{name}_real")
            row[f"{name}_M"] = d[part]["mean"] if d else None
            row[f"{name}_sigma"] = d[part]["std"] if d else None
        out[which] = row
    conv: dict[str, Any] = {}
    if "m_global" in metrics.cols:
        m = np.asarray(metrics.cols["m_global"], dtype=np.float64)
        conv["m_global_first"] = _moments(m[head], spans[head])["mean"]
        conv["m_global_last"] = _moments(m[tail], spans[tail])["mean"]
        conv["m_global_decreased"] = (
            conv["m_global_first"] is not None
            and conv["m_global_last"] is not None
            and conv["m_global_last"] < conv["m_global_first"]
        )
    if "k_t" in metrics.cols:
        k = np.asarray(metrics.cols["k_t"], dtype=np.float64)
        finite = k[np.isfinite(k)]
        second = k[steps > last / 2]
        second = second[np.isfinite(second)]
        conv["k_min"] = float(finite.min()) if finite.size else None
        conv["k_max"] = float(finite.max()) if finite.size else None
        conv["k_last"] = float(finite[-1]) if finite.size else None
        conv["k_zero_fraction_second_half"] = float(np.mean(second <= 0.0)) if second.size else None
    nonfinite = sorted(metrics.nonfinite)
    conv["nonfinite_columns"] = nonfinite
    out["convergence"] = conv
    return out


def write_began_stats(run_dir: str | Path, tail_fraction: float = 0.1) -> dict[str, Any]:
    """Compute :func:`began_stats` from ``run_dir/metrics.csv``, add the run's eq. 6 weights and
    gamma, and write ``run_dir/began_stats.json`` (atomically); returns the content.
    ``FileNotFoundError`` when the run has no ``metrics.csv``."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.csv in {run_dir}")
    stats = began_stats(read_metrics_csv(path), tail_fraction)
    hp = dict(read_config(run_dir).get("hparams") or {})
    stats = {
        "run": str(run_dir),
        "weights": {k: hp.get(f"beta_{k}") for k in DISTANCE_NAMES},
        "gamma": hp.get("gamma"),
        "what": "mean and std of each distance of D's reconstruction of the real (Table 2) and "
        "generated images, over all logged steps ('all') and over the last "
        f"{tail_fraction:.0%} of steps ('last'); distances are 1 - similarity for GMSM and Chrom",
        **stats,
    }
    stats = json_safe(stats)  # non-finite numbers: null and "<key>_reason" (qagen.files)
    write_json_atomic(run_dir / STATS_FILE, stats, indent=2)
    return stats


def read_began_stats(run_dir: str | Path) -> dict[str, Any] | None:
    """``run_dir/began_stats.json`` or ``None`` when missing or unreadable."""
    try:
        data = json.loads((Path(run_dir) / STATS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
