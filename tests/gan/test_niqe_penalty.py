"""NIQE penalty on critic gradient maps (qagen.gan.niqe_penalty) against independent NumPy/SciPy
computations of the formulas in REFERENCE 1.9 and 3.2.3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.special import gammaln

from qagen.gan.niqe_penalty import (
    NIQEGradientPenalty,
    PristineAccumulator,
    gradient_map_features,
    model_variant_name,
    niqe_gradient_penalty,
    regularized_covariance,
    sobel_magnitude,
)
from qagen.gan.penalties import gradient_penalty_terms
from qagen.iqa.naturalness import NIQEModel

TF_GRAY = np.array([0.2989, 0.5870, 0.1140])
SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


# ------------------------------------------------------------------ independent NumPy version
def _np_mscn_qagan(img: np.ndarray) -> np.ndarray:
    """3x3 Gaussian (sigma 0.5) with zero padding, MSCN = (I - mu) / (sqrt(|var| + 1e-12) + 1)."""
    t = np.array([-1.0, 0.0, 1.0])
    g = np.exp(-(t**2) / (2 * 0.5**2))
    k = np.outer(g, g) / np.outer(g, g).sum()
    h, w = img.shape

    def filt(a):
        p = np.pad(a, 1)
        return sum(k[i, j] * p[i : i + h, j : j + w] for i in range(3) for j in range(3))

    mu = filt(img)
    var = filt(img * img) - mu * mu
    return (img - mu) / (np.sqrt(np.abs(var) + 1e-12) + 1.0)


def _np_aggd(v: np.ndarray) -> tuple[float, float, float]:
    """LIVE estimateaggdparam.m with the exact (continuous) inversion of rho."""
    sl = np.sqrt(np.mean(v[v < 0] ** 2))
    sr = np.sqrt(np.mean(v[v > 0] ** 2))
    gam = sl / sr
    r = np.mean(np.abs(v)) ** 2 / np.mean(v**2)
    rn = r * (gam**3 + 1) * (gam + 1) / (gam**2 + 1) ** 2

    def rho(a):
        return np.exp(2 * gammaln(2 / a) - gammaln(1 / a) - gammaln(3 / a))

    alpha = brentq(lambda a: rho(a) - rn, 0.2, 10.0, xtol=1e-14, rtol=1e-14)
    c = np.exp(0.5 * (gammaln(1 / alpha) - gammaln(3 / alpha)))
    return alpha, sl * c, sr * c


def _np_features(grads: np.ndarray, pooled: bool) -> np.ndarray:
    """36 features per batch (pooled) or per image of N x 3 x H x W gradient maps."""
    gray = np.einsum("nchw,c->nhw", grads, TF_GRAY)
    rows_per_scale = []
    for scale in (1, 2):
        if scale == 2:
            n, h, w = gray.shape
            gray = gray.reshape(n, h // 2, 2, w // 2, 2).mean((2, 4))
        m = np.stack([_np_mscn_qagan(im) for im in gray])
        prods = [m] + [m * np.roll(m, s, axis=(1, 2)) for s in SHIFTS]
        groups = [slice(None)] if pooled else [slice(i, i + 1) for i in range(len(m))]
        scale_rows = []
        for sel in groups:
            f = []
            a, bl, br = _np_aggd(prods[0][sel].ravel())
            f += [a, (bl + br) / 2]
            for p in prods[1:]:
                a, bl, br = _np_aggd(p[sel].ravel())
                eta = (br - bl) * np.exp(gammaln(2 / a) - gammaln(1 / a))
                f += [a, eta, bl, br]
            scale_rows.append(f)
        rows_per_scale.append(np.array(scale_rows))
    return np.concatenate(rows_per_scale, 1)


def _grads(n=3, size=12, seed=0, scale=0.02):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g, dtype=torch.float64) * scale


# ------------------------------------------------------------------ features
@pytest.mark.parametrize("pooling", ["batch", "image"])
def test_features_match_numpy(pooling):
    grad = _grads()
    ours = gradient_map_features(grad, "qagan", pooling).features.numpy()
    ref = _np_features(grad.numpy(), pooled=pooling == "batch")
    assert ours.shape == ref.shape == ((1, 36) if pooling == "batch" else (3, 36))
    # float64 throughout; alpha from Newton (ours) vs brentq (NumPy), both to ~1e-13:
    # 1e-9 relative leaves room for the lgamma evaluations only
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-15)


def test_batch_pooling_of_one_image_is_per_image():
    grad = _grads(n=1)
    a = gradient_map_features(grad, "qagan", "batch").features
    b = gradient_map_features(grad, "qagan", "image").features
    assert torch.equal(a, b)


def test_shifts_stay_inside_each_image():
    # the authors rolled over the batch axis; here a permutation of the batch must not change
    # the pooled features (up to summation order: 1e-12 relative)
    grad = _grads(n=4, size=8)
    a = gradient_map_features(grad, "qagan", "batch").features
    b = gradient_map_features(grad[[2, 0, 3, 1]], "qagan", "batch").features
    torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


def test_live_variant_and_sobel_run():
    grad = _grads(n=2, size=16)
    f = gradient_map_features(grad, "live", "image")
    assert f.features.shape == (2, 36) and bool(f.valid.all())
    assert torch.isfinite(f.features).all()
    # Sobel magnitude of a horizontal ramp: |Gx| = 8 * slope (kernel row sums 1+2+1 times 2)
    ramp = torch.arange(8.0, dtype=torch.float64).expand(1, 1, 8, 8)
    mag = sobel_magnitude(ramp)
    assert torch.allclose(mag[..., 1:-1, 1:-1], torch.full((6, 6), 8.0, dtype=torch.float64))


def test_bad_inputs():
    with pytest.raises(ValueError, match="variant"):
        gradient_map_features(_grads(), "nope")
    with pytest.raises(ValueError, match="pooling"):
        gradient_map_features(_grads(), "qagan", "pixels")
    with pytest.raises(ValueError, match="even"):
        gradient_map_features(_grads(size=9), "qagan")
    with pytest.raises(ValueError, match="grad"):
        gradient_map_features(torch.zeros(2, 2, 8, 8), "qagan")


# ------------------------------------------------------------------ pristine model
def test_accumulator_equals_direct_mean_and_cov():
    g = torch.Generator().manual_seed(1)
    rows = torch.randn(50, 36, generator=g, dtype=torch.float64) * 1e-3 + 3.0  # large offset
    acc = PristineAccumulator()
    for chunk in rows.split(7):
        acc.update(chunk)
    mu, cov = acc.mean_cov()
    # float64 sums of 50 rows: 1e-12 relative to the (small) covariance entries
    torch.testing.assert_close(mu, rows.mean(0), rtol=1e-13, atol=0)
    torch.testing.assert_close(cov, torch.cov(rows.T), rtol=1e-9, atol=1e-18)
    # invalid rows are skipped; the state survives a round trip
    acc2 = PristineAccumulator()
    valid = torch.ones(50, 36, dtype=torch.bool)
    valid[3, 5] = False
    acc2.update(rows, valid)
    acc3 = PristineAccumulator()
    acc3.load_state_dict(acc2.state_dict())
    keep = torch.arange(50) != 3
    torch.testing.assert_close(acc3.mean_cov()[1], torch.cov(rows[keep].T), rtol=1e-9, atol=1e-18)
    assert acc3.n == 49


def test_accumulated_model_of_gradient_maps():
    pen = NIQEGradientPenalty("qagan", "image")
    maps = [_grads(n=4, size=8, seed=s) for s in range(3)]
    for m in maps:
        pen.accumulate(m)
    model = pen.fit()
    stacked = torch.cat([gradient_map_features(m, "qagan", "image").features for m in maps])
    torch.testing.assert_close(model.mu, stacked.mean(0), rtol=1e-12, atol=1e-18)
    torch.testing.assert_close(model.cov, torch.cov(stacked.T), rtol=1e-8, atol=1e-20)
    assert model.variant == "grad-qagan-image" and model.n_blocks == 12
    assert pen.accumulator.n == 0  # restarted for a refit


# ------------------------------------------------------------------ penalty
def _model(variant="grad-qagan-batch", seed=3):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(36, 60, generator=g, dtype=torch.float64)
    feats = gradient_map_features(_grads(n=2, size=8), "qagan", "batch").features[0]
    return NIQEModel(feats + 0.01, a @ a.T / 60 * 1e-4, variant, 8)


def test_penalty_equals_formula():
    grad = _grads(n=2, size=8)
    model = _model()
    val = niqe_gradient_penalty(grad, model, ridge=0.05)
    f = gradient_map_features(grad, "qagan", "batch").features[0].numpy()
    cov = model.cov.numpy()
    cov_r = cov + 0.05 * np.diag(np.diag(cov))
    d = model.mu.numpy() - f
    ref = np.sqrt(d @ np.linalg.pinv(cov_r / 2) @ d)  # S_T = 0 for a single row
    # pinv of a well-conditioned 36x36 matrix: 1e-9 relative
    assert float(val) == pytest.approx(float(ref), rel=1e-9)
    assert torch.equal(regularized_covariance(model.cov, 0.0), model.cov)


def test_variant_mismatch_is_refused(tmp_path):
    model = _model("grad-qagan-image")
    with pytest.raises(ValueError, match="variant"):
        niqe_gradient_penalty(_grads(n=2, size=8), model, pooling="batch")
    pen = NIQEGradientPenalty("qagan", "batch")
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="grad-qagan-batch"):
        pen.load_model(str(tmp_path / "m.npz"))
    assert model_variant_name("live", "image") == "grad-live-image"


def test_state_dict_round_trip():
    pen = NIQEGradientPenalty("qagan", "batch", ridge=0.02)
    for s in range(3):
        pen.accumulate(_grads(n=2, size=8, seed=s))
    pen.fit(reset=False)
    other = NIQEGradientPenalty("qagan", "batch", ridge=0.02)
    other.load_state_dict(pen.state_dict())
    grad = _grads(n=2, size=8, seed=9)
    assert torch.equal(pen(grad), other(grad))
    assert other.accumulator.n == 3
    with pytest.raises(ValueError, match="grad-live-batch"):
        NIQEGradientPenalty("live", "batch").load_state_dict(pen.state_dict())


class _Critic(torch.nn.Module):
    """A tiny conv critic (float64): conv -> softplus -> linear."""

    def __init__(self, zero: bool = False):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1).double()
        self.fc = torch.nn.Linear(4 * 8 * 8, 1).double()
        if zero:
            torch.nn.init.zeros_(self.fc.weight)

    def forward(self, x):
        return self.fc(torch.nn.functional.softplus(self.conv(x)).flatten(1)).squeeze(1)


@pytest.mark.parametrize("pooling", ["batch", "image"])
@pytest.mark.parametrize("zero", [False, True])
def test_gradients_reach_the_critic_and_are_finite(pooling, zero):
    critic = _Critic(zero)
    g = torch.Generator().manual_seed(5)
    real = torch.rand(3, 3, 8, 8, generator=g, dtype=torch.float64) * 2 - 1
    fake = torch.rand(3, 3, 8, 8, generator=g, dtype=torch.float64) * 2 - 1
    pen = NIQEGradientPenalty("qagan", pooling)
    pen.set_model(_model(model_variant_name("qagan", pooling)))
    terms = gradient_penalty_terms(critic, real, fake, generator=torch.Generator().manual_seed(0))
    value = pen(terms.grad)
    value.backward()
    assert torch.isfinite(value)
    # the input gradient does not depend on the last bias: every other parameter gets a gradient
    grads = [p.grad for n, p in critic.named_parameters() if n != "fc.bias"]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    if not zero:  # the penalty really depends on the critic's parameters
        assert sum(float(gr.abs().sum()) for gr in grads) > 0


@pytest.mark.parametrize("scale", [0.02, 1e-4])
def test_gradcheck_wrt_gradient_map(scale):
    # d penalty / d grad against finite differences (float64, one 8x8 map, fast mode: random
    # projections). The continuous shape estimator makes the features smooth; 1e-4 is the scale
    # of a nearly flat critic, where an absolute epsilon in the AGGD square roots would bias the
    # gradient (the fits run on unit-RMS values). Tolerances are gradcheck's defaults scaled to
    # the penalty's derivative (~1e2 / scale).
    pen = NIQEGradientPenalty("qagan", "batch")
    pen.set_model(_model())
    grad = _grads(n=1, size=8, scale=scale).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda g: pen(g), (grad,), eps=1e-3 * scale, atol=1e-4, rtol=1e-4, fast_mode=True
    )
