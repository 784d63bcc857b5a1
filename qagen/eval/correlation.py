"""Correlation of objective scores with subjective scores (VQEG; Sheikh et al. 2006;
docs/evaluation.md).

* SROCC: Pearson correlation of the ranks (average ranks for ties), ``scipy.stats.spearmanr``.
* KROCC: Kendall's tau-b (tie corrected), ``scipy.stats.kendalltau``.
* PLCC and RMSE: after a monotonic mapping of the objective score onto the subjective scale,
  fitted by least squares (Sheikh, Sabir, Bovik, IEEE TIP 15(11) 2006; VQEG FR-TV phase II):

  - ``logistic5`` (default): Q(x) = b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5
  - ``logistic4``: Q(x) = (b1 - b2) / (1 + exp(-(x - b3)/|b4|)) + b2
  - ``linear``: Q(x) = a x + b (PLCC then equals |Pearson r| of the raw scores)

**Fitting.** There is no standard initialisation. Here x and y are standardised and the fit
runs ``scipy.optimize.curve_fit`` (Levenberg-Marquardt, analytic Jacobian, ``maxfev=10000`` per
start) from up to six starts: the reference initialisation of docs/evaluation.md (b1 = range of
y, b2 = +-1/std(x) with the expected sign, b3 = mean(x), b4 = 0, b5 = mean(y)), slopes 3 and 1/3
times that, centres at the 25 % and 75 % quantiles of x, and the opposite sign. It stops once
two starts reach the same monotonic optimum (SSE within 0.1 %). Among the converged starts the
one with the smallest sum of squared errors whose curve is monotonic over the data wins
(VQEG's requirement; the best non-monotonic fit only when none is). The fitted betas are
returned in the original units (logistic5 with b1 >= 0: (b1, b2) and (-b1, -b2) give the same
curve) with the convergence record: starts tried, starts converged, starts agreeing with the
chosen optimum, monotonicity. When no start converges (or there are too few points) the
mapping falls back to the linear one, a ``RuntimeWarning`` says so and the record names it.

**Direction.** Distance metrics (GMSD, MDSI, NIQE, ...) fall as quality rises, and DMOS
(LIVE, CSIQ) rises as quality falls. :func:`correlations` takes both directions and multiplies
SROCC and KROCC by the expected sign (+1 when the metric and the subjective score point the same
way, -1 otherwise), so a good metric always gets positive values; the raw values are kept as
``srocc_raw`` / ``krocc_raw`` / ``pearson_raw``. With ``pred_higher_is_better=None`` the absolute
values are reported instead. PLCC and RMSE come after the fitted mapping, which absorbs the
direction, so they are never flipped.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit

from qagen.errors import InputError

__all__ = [
    "CorrelationResult",
    "FitResult",
    "correlations",
    "fit_logistic",
    "krocc",
    "logistic4",
    "logistic5",
    "pearson",
    "plcc",
    "rmse",
    "srocc",
]

FIT_MODELS = ("logistic5", "logistic4", "linear")
_N_PARAMS = {"logistic5": 5, "logistic4": 4, "linear": 2}


def _as_vector(v: object, name: str) -> np.ndarray:
    """Convert a sequence, numpy array or torch tensor to a finite float64 vector."""
    if hasattr(v, "detach"):  # torch tensor
        v = v.detach().cpu().double().numpy()
    a = np.asarray(v, dtype=np.float64)
    if a.ndim > 1 and a.size == max(a.shape):  # N x 1, 1 x N, ...: one non-singleton axis
        a = a.reshape(-1)
    if a.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a)))
        raise InputError(f"{name} contains {bad} NaN/Inf value(s)")
    return a


def _pair(pred: object, target: object, min_n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = _as_vector(pred, "pred")
    y = _as_vector(target, "target")
    if x.shape != y.shape:
        raise InputError(f"pred and target must have the same length, got {x.size} and {y.size}")
    if x.size < min_n:
        raise InputError(f"need at least {min_n} (pred, target) pairs, got {x.size}")
    return x, y


def _scipy_statistic(fn: Any, a: np.ndarray, b: np.ndarray, **kw: Any) -> float:
    """``fn(a, b).statistic`` with NaN (no warning) when either input is constant."""
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(fn(a, b, **kw).statistic)


def pearson(x: object, y: object) -> float:
    """Pearson linear correlation of the raw values (``scipy.stats.pearsonr``; NaN when either
    input is constant)."""
    a, b = _pair(x, y, min_n=2)
    return _scipy_statistic(stats.pearsonr, a, b)


def srocc(pred: object, target: object) -> float:
    """Spearman rank-order correlation (``scipy.stats.spearmanr``): Pearson r of the average
    ranks, 1 - 6 sum(d^2) / (n (n^2 - 1)) without ties. NaN when either input is constant."""
    x, y = _pair(pred, target)
    return _scipy_statistic(stats.spearmanr, x, y)


def krocc(pred: object, target: object) -> float:
    """Kendall rank-order correlation tau-b (``scipy.stats.kendalltau``, O(n log n)):
    (n_c - n_d) / sqrt((n0 - n1)(n0 - n2)) with n0 = n(n-1)/2 pairs and n1 / n2 the pairs tied
    in pred / target. NaN when either input is constant."""
    x, y = _pair(pred, target)
    return _scipy_statistic(stats.kendalltau, x, y, variant="b")


def logistic5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    """Q(x) = b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5 (Sheikh et al. 2006, VQEG).

    1/(1 + exp(t)) is evaluated as ``expit(-t)`` so large |t| cannot overflow.
    """
    x = np.asarray(x, dtype=np.float64)
    return b1 * (0.5 - expit(-b2 * (x - b3))) + b4 * x + b5


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """Q(x) = (b1 - b2) / (1 + exp(-(x - b3)/|b4|)) + b2 (4-parameter VQEG variant)."""
    x = np.asarray(x, dtype=np.float64)
    return (b1 - b2) * expit((x - b3) / abs(b4)) + b2


def _linear(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return a * np.asarray(x, dtype=np.float64) + b


_FUNCS = {"logistic5": logistic5, "logistic4": logistic4, "linear": _linear}


@dataclass
class FitResult:
    """A fitted mapping Q(x) of objective scores onto the subjective scale.

    ``model`` is the mapping actually used ("linear" after a fallback, which ``requested`` and
    ``message`` record); ``betas`` are in the original units of x and y; ``converged`` tells
    whether the requested model converged from at least one start.
    """

    model: str
    betas: tuple[float, ...]
    requested: str
    converged: bool
    n_starts: int  # starts tried (up to 6; stops once two agree on a monotonic optimum)
    n_converged: int
    sse: float
    n_agree: int  # converged starts whose SSE is within 0.1 % of the chosen fit's (robustness)
    monotonic: bool
    message: str = ""

    def predict(self, x: object) -> np.ndarray:
        """Apply the fitted mapping to objective scores ``x``."""
        return _FUNCS[self.model](_as_vector(x, "x"), *self.betas)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = [float(b) for b in self.betas]
        return d


def _starts(model: str, sign: float, z: np.ndarray, v: np.ndarray) -> list[tuple[float, ...]]:
    """Initial parameters in standardised coordinates (z = standardised x, v = standardised y).

    The first start is the reference initialisation (docs/evaluation.md); the others vary the
    slope and the centre, and the last one tries the opposite direction.
    """
    q25, q75 = (float(q) for q in np.quantile(z, [0.25, 0.75]))
    vrange = float(v.max() - v.min()) or 1.0
    hi, lo = float(v.max()), float(v.min())
    grid = [(1.0, 0.0), (3.0, 0.0), (1.0 / 3.0, 0.0), (1.0, q25), (1.0, q75), (-1.0, 0.0)]
    starts: list[tuple[float, ...]] = []
    for slope, centre in grid:
        s = sign * slope
        if model == "logistic5":
            starts.append((vrange, s, centre, 0.0, 0.0))
        else:  # logistic4: the upper/lower asymptotes swap with the direction
            b1, b2 = (hi, lo) if s > 0 else (lo, hi)
            starts.append((b1, b2, centre, 1.0 / abs(slope)))
    return starts


def _jac5(x: np.ndarray, b1: float, b2: float, b3: float, b4: float, b5: float) -> np.ndarray:
    s = expit(-b2 * (x - b3))  # 1 / (1 + exp(b2 (x - b3)))
    ds = s * (1.0 - s)  # derivative of expit at -b2 (x - b3)
    return np.stack([0.5 - s, b1 * ds * (x - b3), -b1 * ds * b2, x, np.ones_like(x)], axis=1)


def _jac4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    a = abs(b4)
    s = expit((x - b3) / a)
    ds = s * (1.0 - s)
    return np.stack(
        [s, 1.0 - s, -(b1 - b2) * ds / a, -(b1 - b2) * ds * (x - b3) / (a * a) * np.sign(b4)],
        axis=1,
    )


_JACS = {"logistic5": _jac5, "logistic4": _jac4}


def _to_original(model: str, c: np.ndarray, mx: float, sx: float, my: float, sy: float) -> tuple:
    """Convert betas fitted on z = (x - mx)/sx, v = (y - my)/sy back to x, y units."""
    if model == "logistic5":
        c1, c2, c3, c4, c5 = (float(t) for t in c)
        if c1 < 0:  # (b1, b2) and (-b1, -b2) give the same curve: report b1 >= 0
            c1, c2 = -c1, -c2
        return (sy * c1, c2 / sx, mx + sx * c3, sy * c4 / sx, my + sy * c5 - sy * c4 * mx / sx)
    if model == "logistic4":
        c1, c2, c3, c4 = (float(t) for t in c)
        return (my + sy * c1, my + sy * c2, mx + sx * c3, sx * abs(c4))
    a, b = (float(t) for t in c)
    return (sy * a / sx, my + sy * b - sy * a * mx / sx)


def _is_monotonic(model: str, betas: tuple, x: np.ndarray) -> bool:
    grid = np.linspace(float(x.min()), float(x.max()), 512)
    d = np.diff(_FUNCS[model](grid, *betas))
    return bool(np.all(d >= -1e-12) or np.all(d <= 1e-12))


def _linear_fit(
    x: np.ndarray, y: np.ndarray, requested: str, message: str, n_starts: int
) -> FitResult:
    if np.ptp(x) == 0.0:
        betas = (0.0, float(y.mean()))
    else:
        a, b = np.polyfit(x, y, 1)
        betas = (float(a), float(b))
    sse = float(np.sum((_linear(x, *betas) - y) ** 2))
    return FitResult(
        "linear", betas, requested, requested == "linear", n_starts, 0, sse, 0, True, message
    )


def _two_agree(fits: list, model: str, x: np.ndarray, scale: tuple, n: int) -> bool:
    mono = sorted(f[0] for f in fits if _is_monotonic(model, _to_original(model, f[1], *scale), x))
    return len(mono) >= 2 and mono[1] - mono[0] <= mono[0] * 1e-3 + 1e-12 * n


def fit_logistic(
    pred: object,
    target: object,
    model: str = "logistic5",
    direction: int | None = None,
    maxfev: int = 10000,
    warn: bool = True,
) -> FitResult:
    """Least-squares fit of ``target ~ Q(pred)`` with several starts (module docstring).

    ``direction`` is the expected sign of the relation (+1: target rises with pred, -1: falls);
    ``None`` takes the sign of the rank correlation. Falls back to the linear mapping, with a
    ``RuntimeWarning`` (unless ``warn=False``), when no start converges or when there are not
    more points than parameters.
    """
    if model not in FIT_MODELS:
        raise InputError(f"model must be one of {list(FIT_MODELS)}, got {model!r}")
    x, y = _pair(pred, target, min_n=2)
    if model == "linear":
        return _linear_fit(x, y, "linear", "", 0)
    n_par = _N_PARAMS[model]
    if x.size <= n_par or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        why = (
            f"too few points for {model} ({x.size} <= {n_par} parameters)"
            if x.size <= n_par
            else "constant pred or target"
        )
        msg = f"{why}: fell back to a linear mapping"
        if warn:
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return _linear_fit(x, y, model, msg, 0)
    if direction is None:
        r = srocc(x, y) if x.size >= 3 else 1.0
        sign = 1.0 if (math.isnan(r) or r >= 0) else -1.0
    else:
        if direction not in (1, -1):
            raise InputError(f"direction must be +1, -1 or None, got {direction!r}")
        sign = float(direction)
    mx, sx = float(x.mean()), float(x.std())
    my, sy = float(y.mean()), float(y.std())
    z, v = (x - mx) / sx, (y - my) / sy
    func = _FUNCS[model]
    starts = _starts(model, sign, z, v)
    fits: list[tuple[float, np.ndarray]] = []
    errors: list[str] = []
    tried = 0
    for p0 in starts:
        if _two_agree(fits, model, x, (mx, sx, my, sy), v.size):
            break  # two starts reached the same monotonic optimum: enough evidence
        tried += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                c, _ = curve_fit(func, z, v, p0=p0, jac=_JACS[model], maxfev=maxfev)
        except (RuntimeError, ValueError, FloatingPointError) as exc:
            errors.append(str(exc).splitlines()[0])
            continue
        if not np.all(np.isfinite(c)) or (model == "logistic4" and c[3] == 0.0):
            errors.append("non-finite parameters")
            continue
        sse_v = float(np.sum((func(z, *c) - v) ** 2))
        if math.isfinite(sse_v):
            fits.append((sse_v, c))
    if not fits:
        msg = f"{model} fit did not converge from {tried} starts ({errors[0] if errors else ''}); fell back to a linear mapping"
        if warn:
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        return _linear_fit(x, y, model, msg, tried)
    fits.sort(key=lambda t: t[0])
    # VQEG asks for a monotonic mapping: the best monotonic fit wins, else the best fit
    mono = [f for f in fits if _is_monotonic(model, _to_original(model, f[1], mx, sx, my, sy), x)]
    best_sse_v, best = (mono or fits)[0]
    n_agree = sum(1 for f in fits if abs(f[0] - best_sse_v) <= best_sse_v * 1e-3 + 1e-12 * v.size)
    betas = _to_original(model, best, mx, sx, my, sy)
    sse = float(np.sum((func(x, *betas) - y) ** 2))
    return FitResult(
        model,
        betas,
        model,
        True,
        tried,
        len(fits),
        sse,
        n_agree,
        _is_monotonic(model, betas, x),
        "",
    )


def plcc(
    pred: object, target: object, fit: str = "logistic5", direction: int | None = None
) -> float:
    """Pearson correlation between the fitted mapping Q(pred) and ``target`` (see :func:`fit_logistic`)."""
    x, y = _pair(pred, target)
    res = fit_logistic(x, y, fit, direction)
    return pearson(res.predict(x), y)


def rmse(
    pred: object, target: object, fit: str = "logistic5", direction: int | None = None
) -> float:
    """Root mean squared error between Q(pred) and ``target`` after the fitted mapping."""
    x, y = _pair(pred, target)
    res = fit_logistic(x, y, fit, direction)
    return float(np.sqrt(np.mean((res.predict(x) - y) ** 2)))


@dataclass
class CorrelationResult:
    """SROCC / KROCC (direction-corrected), PLCC / RMSE after the fitted mapping, and the fit."""

    n: int
    srocc: float
    krocc: float
    plcc: float
    rmse: float
    srocc_raw: float
    krocc_raw: float
    pearson_raw: float
    sign: int
    direction: str
    fit: FitResult = field(repr=False)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "fit"}
        d["fit"] = self.fit.to_dict()
        return d


def correlations(
    pred: object,
    target: object,
    *,
    pred_higher_is_better: bool | None = True,
    target_higher_is_better: bool = True,
    fit: str = "logistic5",
    maxfev: int = 10000,
    warn: bool = True,
) -> CorrelationResult:
    """All four criteria of one metric against subjective scores.

    ``pred`` are objective scores, ``target`` MOS or DMOS. ``pred_higher_is_better`` is the
    metric's direction (False for distances such as GMSD or NIQE; None: unknown, report |rho|);
    ``target_higher_is_better`` is False for DMOS where lower is better (LIVE, CSIQ) and True
    for MOS (TID) and KADID-10k's DMOS. SROCC and KROCC are multiplied by the expected sign
    (module docstring); PLCC and RMSE are computed after the ``fit`` mapping.
    """
    x, y = _pair(pred, target)
    s_raw, k_raw, r_raw = srocc(x, y), krocc(x, y), pearson(x, y)
    if pred_higher_is_better is None:
        sign = -1 if (not math.isnan(s_raw) and s_raw < 0) else 1
        direction = "metric direction unknown: |SROCC| and |KROCC| reported"
    else:
        sign = 1 if bool(pred_higher_is_better) == bool(target_higher_is_better) else -1
        direction = (
            f"metric {'higher' if pred_higher_is_better else 'lower'} = better, subjective score "
            f"{'higher' if target_higher_is_better else 'lower'} = better: "
            + ("SROCC/KROCC as computed" if sign == 1 else "SROCC/KROCC multiplied by -1")
        )
    res = fit_logistic(x, y, fit, direction=sign, maxfev=maxfev, warn=warn)
    q = res.predict(x)
    return CorrelationResult(
        n=int(x.size),
        srocc=sign * s_raw,
        krocc=sign * k_raw,
        plcc=pearson(q, y),
        rmse=float(np.sqrt(np.mean((q - y) ** 2))),
        srocc_raw=s_raw,
        krocc_raw=k_raw,
        pearson_raw=r_raw,
        sign=sign,
        direction=direction,
        fit=res,
    )


def correlation_table(
    results: dict[str, CorrelationResult], keys: Sequence[str] = ("srocc", "krocc", "plcc", "rmse")
) -> list[dict]:
    """Flatten ``{name: CorrelationResult}`` into rows (for CSV writers)."""
    rows = []
    for name, r in results.items():
        row = {"name": name, "n": r.n}
        row.update({k: getattr(r, k) for k in keys})
        row.update({"fit_model": r.fit.model, "fit_converged": r.fit.converged})
        rows.append(row)
    return rows
