"""Verdicts on the orderings a paper claims, from our per-seed values.

For a :class:`~qagen.experiments.base.Claim` ("row A beats row B in column C") the two rows'
per-seed values (``Cell.values``, kept by :func:`~qagen.experiments.base.mean_std`) are compared
with Welch's t-test (unequal variances; ``scipy.stats.ttest_ind(equal_var=False)``), two-sided at
level :data:`ALPHA`:

- **reproduced**: the difference is significant and in the claimed direction;
- **not reproduced**: significant, in the opposite direction;
- **inconclusive**: not significant, or fewer than :data:`MIN_SEEDS` seeds on either side (then
  no test is run: a claim needs at least 3 seeds and their spread).

Each verdict records both means, standard deviations and seed counts, the difference, the
t statistic and the p-value. Nothing is tuned toward the paper: a claim that does not hold at our
scale is reported as such.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from qagen.experiments.base import Claim, Row

__all__ = ["ALPHA", "MIN_SEEDS", "verdict", "verdicts"]

ALPHA = 0.05
MIN_SEEDS = 3


def _stats(v: Sequence[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(v) if v else None,
        "std": statistics.stdev(v) if len(v) > 1 else None,
        "n": len(v),
    }


def verdict(claim: Claim, rows: Sequence[Row]) -> dict[str, Any]:
    """The verdict on ``claim`` (module docstring) as a JSON-ready dict."""
    by_label = {r.label: r for r in rows}
    out: dict[str, Any] = {"claim": claim.text, "column": claim.column, "better": claim.better,
                           "worse": claim.worse,
                           "direction": "higher" if claim.higher_is_better else "lower"}  # fmt: skip
    vals = []
    for label in (claim.better, claim.worse):
        row = by_label.get(label)
        cell = row.ours.get(claim.column) if row is not None else None
        v = [float(x) for x in (cell.values if cell is not None else ()) if math.isfinite(x)]
        if cell is not None and not v and isinstance(cell.value, (int, float)):
            v = [float(cell.value)]
        vals.append(v)
    out["better_stats"], out["worse_stats"] = _stats(vals[0]), _stats(vals[1])
    if min(len(vals[0]), len(vals[1])) < MIN_SEEDS:
        out.update(verdict="inconclusive", p_value=None, t=None,
                   reason=f"fewer than {MIN_SEEDS} seeds with a value on one side "
                   f"({len(vals[0])} and {len(vals[1])})")  # fmt: skip
        return out
    from scipy import stats

    t, p = stats.ttest_ind(vals[0], vals[1], equal_var=False)
    diff = statistics.fmean(vals[0]) - statistics.fmean(vals[1])
    claimed = diff > 0 if claim.higher_is_better else diff < 0
    p = float(p) if math.isfinite(float(p)) else 1.0
    if p < ALPHA:
        word = "reproduced" if claimed else "not reproduced"
    else:
        word = "inconclusive"
    out.update(verdict=word, p_value=p, t=float(t) if math.isfinite(float(t)) else None,
               difference=diff, test=f"Welch t-test, two-sided, alpha {ALPHA}")  # fmt: skip
    return out


def verdicts(claims: Sequence[Claim], rows: Sequence[Row]) -> list[dict[str, Any]]:
    """:func:`verdict` of every claim."""
    return [verdict(c, rows) for c in claims]


def verdict_line(v: dict[str, Any]) -> str:
    """One line for table.md: the claim, the verdict, the means and the p-value."""
    b, w = v["better_stats"], v["worse_stats"]

    def ms(s: dict) -> str:
        if s["mean"] is None:
            return "no value"
        sd = f" ± {s['std']:.3g}" if s["std"] is not None else ""
        return f"{s['mean']:.4g}{sd} (n={s['n']})"

    p = f", p = {v['p_value']:.3g}" if v.get("p_value") is not None else ""
    why = f" ({v['reason']})" if v.get("reason") else ""
    return (f"**{v['verdict']}**: {v['claim']} [{v['column']}, {v['direction']} is better: "
            f"{v['better']} {ms(b)} vs {v['worse']} {ms(w)}{p}]{why}")  # fmt: skip
