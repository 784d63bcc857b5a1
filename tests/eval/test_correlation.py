"""SROCC / KROCC / PLCC / RMSE and the logistic fit (qagen.eval.correlation).

Reference values: scipy.stats (spearmanr, kendalltau tau-b, pearsonr) on random data with ties,
and known logistic parameters for the fit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from qagen.errors import InputError
from qagen.eval.correlation import (
    correlations,
    fit_logistic,
    krocc,
    logistic4,
    logistic5,
    pearson,
    plcc,
    rmse,
    srocc,
)


def _data(n: int, seed: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.7 * x + rng.normal(size=n)
    if ties:  # coarse rounding creates many ties in both variables
        x, y = np.round(x, 1), np.round(y)
    return x, y


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n", [5, 97, 1000])
def test_rank_and_linear_correlations_match_scipy(n: int, ties: bool) -> None:
    x, y = _data(n, seed=n, ties=ties)
    # 1e-12: both are exact float64 computations of the same formula (rank ties averaged)
    assert srocc(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert krocc(x, y) == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)  # tau-b
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)


def _tau_b_by_pairs(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall tau-b written out over all i < j pairs (Kendall 1945): independent of scipy."""
    n = len(x)
    s = n1 = n2 = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            s += dx * dy
            n1 += dx == 0
            n2 += dy == 0
    n0 = n * (n - 1) // 2
    return s / np.sqrt((n0 - n1) * (n0 - n2))


def test_krocc_is_tau_b_with_ties() -> None:
    # exact integer pair counts on both sides: equal to rounding (1e-12)
    x, y = _data(120, seed=3, ties=True)
    assert krocc(x, y) == pytest.approx(_tau_b_by_pairs(x, y), abs=1e-12)
    # a hand-counted case: pair (1,3) is tied in x, pair (2,3) is discordant, the other four
    # are concordant: S = 4 - 1 = 3, n0 = 6 pairs, n1 = 1, n2 = 0 -> 3 / sqrt(5 * 6)
    assert krocc([1.0, 2.0, 1.0, 3.0], [1.0, 3.0, 4.0, 5.0]) == pytest.approx(
        3 / np.sqrt(30), abs=1e-15
    )


def test_inputs_accept_tensors_and_column_vectors() -> None:
    x, y = _data(50, seed=1, ties=False)
    ref = srocc(x, y)
    assert srocc(torch.from_numpy(x), torch.from_numpy(y)[:, None]) == pytest.approx(ref, abs=1e-15)


@pytest.mark.parametrize(
    "bad, msg",
    [
        (([1.0, 2.0, 3.0], [1.0, 2.0]), "same length"),
        (([1.0, np.nan, 3.0], [1.0, 2.0, 3.0]), "NaN"),
        (([1.0, 2.0], [1.0, 2.0]), "at least 3"),
        ((np.ones((3, 2)), np.ones((3, 2))), "one-dimensional"),
    ],
)
def test_bad_inputs_raise(bad, msg) -> None:
    with pytest.raises(InputError, match=msg):
        srocc(*bad)


def test_constant_input_gives_nan() -> None:
    assert np.isnan(srocc([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]))
    assert np.isnan(krocc([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]))


BETA5 = (8.0, 10.0, 0.5, 0.5, 3.0)


def test_logistic5_recovers_exact_parameters() -> None:
    x = np.random.default_rng(0).uniform(0.0, 1.0, 400)
    fit = fit_logistic(x, logistic5(x, *BETA5))
    assert fit.converged and fit.model == "logistic5" and fit.monotonic
    # noise-free data: the least-squares optimum is the generating curve; 1e-6 relative
    # leaves room for the optimiser's stopping tolerance
    np.testing.assert_allclose(fit.betas, BETA5, rtol=1e-6, atol=1e-6)
    assert fit.n_agree >= 1


def test_logistic5_recovers_parameters_from_noisy_data() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 1.0, 2000)
    y = logistic5(x, *BETA5) + rng.normal(0.0, 0.05, x.size)
    fit = fit_logistic(x, y)
    # sigma = 0.05 on a range of ~8.5 with n = 2000: the betas' standard errors are below
    # 2 % (b4 and b1 trade off most); 5 % is about 3 standard errors
    np.testing.assert_allclose(fit.betas, BETA5, rtol=0.05, atol=0.05)
    # the residual RMSE after the fit is the noise level
    assert np.sqrt(fit.sse / x.size) == pytest.approx(0.05, rel=0.05)


def test_logistic5_decreasing_relation_is_canonical() -> None:
    # (b1, b2) and (-b1, -b2) are the same curve; the fit reports b1 >= 0
    x = np.random.default_rng(2).uniform(0.0, 1.0, 300)
    fit = fit_logistic(x, logistic5(x, -8.0, 10.0, 0.5, 0.5, 3.0), direction=-1)
    np.testing.assert_allclose(fit.betas, (8.0, -10.0, 0.5, 0.5, 3.0), rtol=1e-6, atol=1e-6)


def test_logistic4_recovers_parameters_in_original_units() -> None:
    # x on a metric-like scale (SSIM ~0.6-1.0): the internal standardisation must be undone
    x = np.random.default_rng(3).uniform(0.6, 1.0, 300)
    beta = (9.0, 1.0, 0.85, 0.03)
    fit = fit_logistic(x, logistic4(x, *beta), model="logistic4")
    np.testing.assert_allclose(fit.betas, beta, rtol=1e-6, atol=1e-8)


def test_fit_falls_back_to_linear_with_too_few_points() -> None:
    with pytest.warns(RuntimeWarning, match="too few points"):
        fit = fit_logistic([0.1, 0.2, 0.3, 0.5], [1.0, 2.0, 2.5, 4.0])
    assert fit.model == "linear" and fit.requested == "logistic5" and not fit.converged
    # with the linear mapping PLCC equals |Pearson r| (1e-12: same formula)
    x, y = np.array([0.1, 0.2, 0.3, 0.5]), np.array([1.0, 2.0, 2.5, 4.0])
    assert pearson(fit.predict(x), y) == pytest.approx(abs(stats.pearsonr(x, y)[0]), abs=1e-12)


def test_plcc_and_rmse_after_fit_on_a_nonlinear_monotone_relation() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(0.0, 1.0, 500)
    y = logistic5(x, *BETA5) + rng.normal(0.0, 0.1, 500)
    # the fitted mapping linearises the relation: PLCC after the fit beats the raw Pearson r,
    # and RMSE is the noise level (5 % tolerance: sampling error of the std with n = 500)
    assert plcc(x, y) > stats.pearsonr(x, y)[0]
    assert rmse(x, y) == pytest.approx(0.1, rel=0.08)
    # independent check of PLCC: Pearson of scipy's own curve_fit predictions from the true start
    from scipy.optimize import curve_fit

    p, _ = curve_fit(logistic5, x, y, p0=BETA5, maxfev=20000)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(logistic5(x, *p), y)[0], abs=1e-6)


def test_direction_handling_for_distance_metrics_and_dmos() -> None:
    rng = np.random.default_rng(5)
    quality = rng.uniform(0, 1, 200)
    mos = logistic5(quality, *BETA5) + rng.normal(0, 0.3, 200)
    dmos = 100 - 10 * mos
    distance = 1.0 - quality + rng.normal(0, 0.05, 200)  # e.g. GMSD: lower = better
    similarity = quality + rng.normal(0, 0.05, 200)
    a = correlations(distance, mos, pred_higher_is_better=False, target_higher_is_better=True)
    b = correlations(similarity, dmos, pred_higher_is_better=True, target_higher_is_better=False)
    c = correlations(similarity, mos)
    for r in (a, b):
        assert r.sign == -1 and r.srocc > 0.8 and r.krocc > 0.6 and r.srocc_raw == -r.srocc
        assert "multiplied by -1" in r.direction
    assert c.sign == 1 and c.srocc == c.srocc_raw
    # PLCC after the fit is positive whatever the direction (the mapping absorbs it)
    assert min(a.plcc, b.plcc, c.plcc) > 0.8
    # unknown direction: absolute values
    d = correlations(distance, mos, pred_higher_is_better=None)
    assert d.srocc == pytest.approx(abs(d.srocc_raw), abs=0)


def test_correlations_record_is_serialisable() -> None:
    import json

    x = np.random.default_rng(6).uniform(0, 1, 60)
    y = logistic5(x, *BETA5) + np.random.default_rng(7).normal(0, 0.2, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-posed fit must not warn
        r = correlations(x, y)
    d = r.to_dict()
    json.dumps(d)
    assert (
        d["fit"]["model"] == "logistic5" and len(d["fit"]["betas"]) == 5 and d["fit"]["converged"]
    )
