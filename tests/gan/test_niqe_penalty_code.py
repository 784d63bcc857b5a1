"""The 'qagan-code' NIQE penalty: the authors' feature code with its bugs (REFERENCE 3.2.3).

Every item is checked against an independent NumPy re-derivation of the buggy formula as
REFERENCE 3.2.3 states it (scipy's Gamma function, scipy.ndimage filtering, explicit loops for
the TF1 resize), on small inputs, and where possible against the property that makes it a bug
(what LIVE NIQE would give instead).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.special import gamma as G

from qagen.gan.niqe_penalty import (
    NIQEGradientPenalty,
    _code_aggd,
    _code_block_features,
    _code_mscn,
    gradient_map_features,
    model_variant_name,
    niqe_gradient_penalty,
    qagan_code_distance,
    qagan_code_features,
    regularized_covariance,
    tf1_resize_bilinear,
)
from qagen.iqa.naturalness import NIQEModel

TF_GREY = (0.2989, 0.5870, 0.1140)


# ------------------------------------------------------------------ NumPy re-derivations
def np_aggd_code(v: np.ndarray) -> tuple[float, float, float]:
    """REFERENCE 3.2.3 items 6a, 6b, 6d, 6g, 6h; returns (alpha, beta_r, beta_l) as the code."""
    v = np.asarray(v, np.float64).ravel()
    left, right = v[v < 0], v[v > 0]
    with np.errstate(divide="ignore"):
        s_l = np.sqrt(np.float64(1.0) / (left.size - 1)) * np.sum(left**2) if left.size else 0.001
        s_r = (
            np.sqrt(np.float64(1.0) / (right.size - 1)) * np.sum(right**2) if right.size else 0.001
        )
    r = np.mean(np.abs(v)) ** 2 / np.mean(v**2) if (left.size + right.size) else 0.5
    g = s_l / s_r
    with np.errstate(invalid="ignore"):  # inf / inf for a side with one value, as in TF
        big_r = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = 2 * np.log(27 / 16) / np.log(3 / (4 * big_r**2))
    ratio = G(3 / alpha) / G(1 / alpha)
    return alpha, s_r * ratio, s_l * ratio


def np_block_features(block: np.ndarray) -> list[float]:
    """Items 6c, 6e, 6f on a block N x h x w (axes 0, 1 = batch, height)."""
    a, bl, br = np_aggd_code(block)  # the code unpacks (alpha, beta_left, beta_right)
    f = [a, (bl + br) / 2]
    for shift in ((0, 1), (1, 1), (1, 0)):
        a, bl, br = np_aggd_code(block * np.roll(block, shift, axis=(0, 1)))
        f += [a, (br - bl) * G(3 / a) / G(1 / a), bl, br]
    eta = (br - bl) * G(3 / a) / G(1 / a)
    a, bl, br = np_aggd_code(block * np.roll(block, (1, -1), axis=(0, 1)))
    return f + [a, eta, bl, br]


def np_mscn_code(img: np.ndarray) -> np.ndarray:
    """Items 2-3: 3 x 3 Gaussian sigma 0.5 at offsets -1..1, zero padding, / (variance + 1)."""
    t = np.arange(-1, 2, dtype=np.float64)
    w = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 0.5**2))
    w /= w.sum()
    mu = ndimage.correlate(img, w, mode="constant", cval=0.0)
    e2 = ndimage.correlate(img * img, w, mode="constant", cval=0.0)
    return (img - mu) / (e2 - mu * mu + 1)


def np_tf1_bilinear(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Item 4: TF1 resize_bilinear, align_corners=False, legacy (no half-pixel) sampling."""
    big_h, big_w = img.shape
    out = np.zeros((h, w))
    for i in range(h):
        y = i * big_h / h
        y0 = int(np.floor(y))
        y1, dy = min(y0 + 1, big_h - 1), y - y0
        for j in range(w):
            x = j * big_w / w
            x0 = int(np.floor(x))
            x1, dx = min(x0 + 1, big_w - 1), x - x0
            top = img[y0, x0] * (1 - dx) + img[y0, x1] * dx
            bottom = img[y1, x0] * (1 - dx) + img[y1, x1] * dx
            out[i, j] = top * (1 - dy) + bottom * dy
    return out


def np_code_features(grad: np.ndarray, res: int) -> np.ndarray:
    """Items 1, 4, 5: grey (TF weights), MSCN of the whole map then its top-left res x res,
    the whole map resized to res/2 for scale 2, the batch pooled into each fit."""
    grey = np.tensordot(np.asarray(TF_GREY), grad, axes=([0], [1]))  # N x H x W
    s1 = np.stack([np_mscn_code(g)[:res, :res] for g in grey])
    s2 = np.stack([np_mscn_code(np_tf1_bilinear(g, res // 2, res // 2)) for g in grey])
    return np.array(np_block_features(s1) + np_block_features(s2))


def np_code_distance(mu_p: np.ndarray, cov_p: np.ndarray, x: np.ndarray) -> float:
    """Item 7: NaN -> 0 for the mean, S_T = X'X/n - mu'mu of the raw rows, plain inverse."""
    x = np.atleast_2d(x)
    mu_t = np.nan_to_num(x, nan=0.0).mean(0, keepdims=True)
    cov_t = x.T @ x / x.shape[0] - mu_t.T @ mu_t
    d = mu_p.reshape(1, -1) - mu_t
    return float(np.sqrt(d @ np.linalg.inv((cov_t + cov_p) / 2) @ d.T)[0, 0])


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, np.float64))


def _aggd(v) -> np.ndarray:
    return np.array([float(t) for t in _code_aggd(_t(v))])


# ------------------------------------------------------------------ the AGGD fit (6a, b, d, g, h)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aggd_fit_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    v = rng.laplace(size=(3, 5, 5)) * np.where(rng.random((3, 5, 5)) < 0.5, 0.3, 1.7)
    np.testing.assert_allclose(_aggd(v), np_aggd_code(v), rtol=1e-12)


SMALL = np.array([-1.0, -2.0, -3.0, 4.0, 5.0])  # n_l = 3, n_r = 2


def test_6a_sigma_is_sqrt_of_1_over_n_minus_1_times_the_sum_of_squares():
    alpha, b_first, b_second = _aggd(SMALL)
    ratio = G(3 / alpha) / G(1 / alpha)
    assert b_first / ratio == pytest.approx(math.sqrt(1 / 1) * (16 + 25), rel=1e-12)
    assert b_second / ratio == pytest.approx(math.sqrt(1 / 2) * (1 + 4 + 9), rel=1e-12)
    live_ratio = math.sqrt((16 + 25) / 2) / math.sqrt((1 + 4 + 9) / 3)  # sqrt(mean v^2) per side
    assert b_first / b_second != pytest.approx(live_ratio, rel=0.1)


def test_6b_beta_is_sigma_times_gamma3_over_gamma1():
    alpha, b_first, _ = _aggd(SMALL)
    sigma_r = 41.0
    assert b_first == pytest.approx(sigma_r * G(3 / alpha) / G(1 / alpha), rel=1e-12)
    assert b_first != pytest.approx(sigma_r * math.sqrt(G(1 / alpha) / G(3 / alpha)), rel=0.1)


def test_6d_the_fit_returns_beta_right_first():
    # The first beta returned (which the code's callers name beta_left) is the right side's.
    pos_heavy = np.array([-0.1, -0.2, 3.0, 4.0, 5.0])
    _, b_first, b_second = _aggd(pos_heavy)
    assert b_first > 10 * b_second
    _, b_first_m, b_second_m = _aggd(-pos_heavy)  # mirrored: the roles exchange
    assert b_first_m == pytest.approx(b_second, rel=1e-12)
    assert b_second_m == pytest.approx(b_first, rel=1e-12)


def test_6g_alpha_is_the_closed_form_small_k_branch():
    alpha = _aggd(SMALL)[0]
    s_l, s_r = math.sqrt(1 / 2) * 14, 41.0
    r = np.mean(np.abs(SMALL)) ** 2 / np.mean(SMALL**2)
    g = s_l / s_r
    big_r = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    assert alpha == pytest.approx(2 * math.log(27 / 16) / math.log(3 / (4 * big_r**2)), rel=1e-12)
    # a Laplacian sample: the exact inversion of rho gives ~1, the branch ~0.95 (R = 0.5 -> ln 3)
    lap = np.random.default_rng(5).laplace(size=200_000)
    assert _aggd(lap)[0] == pytest.approx(2 * math.log(27 / 16) / math.log(3.0), rel=0.03)


def test_6h_empty_sides_and_the_all_zero_block():
    alpha, b_first, b_second = _aggd(np.array([0.0, 1.0, 2.0]))  # no negative value
    assert b_second == pytest.approx(0.001 * G(3 / alpha) / G(1 / alpha), rel=1e-12)
    alpha, b_first, b_second = _aggd(np.zeros(6))  # nothing on either side: r = 0.5
    assert alpha == pytest.approx(2 * math.log(27 / 16) / math.log(3.0), rel=1e-12)
    assert b_first == b_second == pytest.approx(0.001 * G(3 / alpha) / G(1 / alpha), rel=1e-12)
    _, _, b_second = _aggd(np.array([-1.0, 1.0, 2.0]))  # one negative value: sqrt(1/0) = inf
    assert math.isinf(b_second) or math.isnan(b_second)
    ref = np_aggd_code(np.array([-1.0, 1.0, 2.0]))
    assert math.isinf(ref[2]) or math.isnan(ref[2])


# ------------------------------------------------------------------ block features (6c, e, f)
@pytest.mark.parametrize("n", [1, 3])
def test_block_features_match_numpy(n):
    block = np.random.default_rng(n).normal(size=(n, 6, 6)) * 0.1
    got = np.array([float(t) for t in _code_block_features(_t(block))])
    np.testing.assert_allclose(got, np_block_features(block), rtol=1e-11)


def test_6c_eta_uses_gamma3_over_gamma1():
    block = np.random.default_rng(7).normal(size=(2, 6, 6))
    f = np.array([float(t) for t in _code_block_features(_t(block))])
    for k in (2, 6, 10):  # the first three products: (alpha, eta, beta_l, beta_r)
        a, eta, bl, br = f[k : k + 4]
        assert eta == pytest.approx((br - bl) * G(3 / a) / G(1 / a), rel=1e-12)
        assert eta != pytest.approx((br - bl) * G(2 / a) / G(1 / a), rel=0.05)


def test_6e_shifts_roll_over_batch_and_height():
    x = np.random.default_rng(8).normal(size=(1, 6, 6))
    f = np.array([float(t) for t in _code_block_features(_t(x))])
    # one image: rolling the batch axis is the identity, so shift (1,1) repeats shift (0,1)
    np.testing.assert_allclose(f[6:10], f[2:6], rtol=1e-12)
    # ... and shift (1,0) multiplies the image by itself
    a, b1, b2 = np_aggd_code(x * x)
    np.testing.assert_allclose(f[[10, 12, 13]], [a, b1, b2], rtol=1e-11)
    # several images: shift (1,0) multiplies each image by ANOTHER image of the batch
    y = np.random.default_rng(9).normal(size=(3, 6, 6))
    g = np.array([float(t) for t in _code_block_features(_t(y))])
    a, b1, b2 = np_aggd_code(y * y[[2, 0, 1]])
    np.testing.assert_allclose(g[[10, 12, 13]], [a, b1, b2], rtol=1e-11)
    # only shift (0,1) is a spatial neighbour inside each image (vertical, circular)
    a, b1, b2 = np_aggd_code(y * np.roll(y, 1, axis=1))
    np.testing.assert_allclose(g[[2, 4, 5]], [a, b1, b2], rtol=1e-11)


def test_6f_fourth_eta_comes_from_the_third_fit():
    y = np.random.default_rng(10).normal(size=(3, 6, 6))
    f = np.array([float(t) for t in _code_block_features(_t(y))])
    a3, bl3, br3 = f[10], f[12], f[13]
    assert f[15] == pytest.approx((br3 - bl3) * G(3 / a3) / G(1 / a3), rel=1e-12)
    a4, bl4, br4 = f[14], f[16], f[17]
    assert f[15] != pytest.approx((br4 - bl4) * G(3 / a4) / G(1 / a4), rel=0.01)


# ------------------------------------------------------------------ pipeline (items 1-5, 7)
def test_mscn_and_resize_match_numpy():
    img = np.random.default_rng(11).normal(size=(10, 10))
    got = _code_mscn(_t(img)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(got, np_mscn_code(img), rtol=1e-12, atol=1e-14)
    for h, w in ((5, 5), (4, 6), (3, 7)):
        got = tf1_resize_bilinear(_t(img), (h, w)).numpy()
        np.testing.assert_allclose(got, np_tf1_bilinear(img, h, w), rtol=1e-12, atol=1e-14)
    # factor 2 is plain decimation (aliased), not an average
    np.testing.assert_array_equal(tf1_resize_bilinear(_t(img), (5, 5)).numpy(), img[::2, ::2])


@pytest.mark.parametrize(("size", "res"), [(12, 12), (16, 8)])
def test_features_match_numpy(size, res):
    # (16, 8): the CelebA case, a larger map cropped to res at scale 1 and resized to res/2
    grad = np.random.default_rng(size).normal(size=(3, 3, size, size)) * 0.02
    got = qagan_code_features(_t(grad), res)
    assert got.shape == (1, 36) and got.dtype == torch.float64
    np.testing.assert_allclose(got[0].numpy(), np_code_features(grad, res), rtol=1e-10)
    if res == size:  # the default res is the map size, and the variant name dispatches here
        via = gradient_map_features(_t(grad), "qagan-code", "batch").features
        np.testing.assert_array_equal(via.numpy(), got.numpy())


def test_distance_matches_numpy_and_keeps_the_code_semantics():
    rng = np.random.default_rng(12)
    a = rng.normal(size=(36, 50))
    cov_p, mu_p, x = a @ a.T / 50, rng.normal(size=36), rng.normal(size=(1, 36))
    got = float(qagan_code_distance(_t(mu_p), _t(cov_p), _t(x)))
    assert got == pytest.approx(np_code_distance(mu_p, cov_p, x), rel=1e-10)
    # one row: S_T = 0, so the score is the Mahalanobis distance under S_P / 2
    d = mu_p - x[0]
    assert got == pytest.approx(math.sqrt(d @ np.linalg.inv(cov_p / 2) @ d), rel=1e-10)
    # a NaN feature: set to 0 for the mean, but it poisons S_T, hence the score (as in TF)
    x[0, 3] = np.nan
    assert math.isnan(float(qagan_code_distance(_t(mu_p), _t(cov_p), _t(x))))


def test_penalty_is_differentiable_and_fits_its_own_model():
    torch.manual_seed(0)
    # ridge 0.01 as in the qagan-niqe-code preset: a model estimated from gradient maps has
    # feature scales from 1e-8 (betas) to 1 (alphas), and the plain inverse of its raw
    # covariance is numerically singular (the authors' "NaNs while training")
    pen = NIQEGradientPenalty("qagan-code", "batch", ridge=0.01)
    assert pen.key == model_variant_name("qagan-code", "batch") == "grad-qagan-code-batch"
    for _ in range(60):
        pen.accumulate(torch.randn(4, 3, 8, 8, dtype=torch.float64) * 0.02)
    model = pen.fit()
    assert model.variant == "grad-qagan-code-batch" and model.n_blocks == 60
    grad = (torch.randn(4, 3, 8, 8, dtype=torch.float64) * 0.02).requires_grad_(True)
    value = pen(grad)
    cov = regularized_covariance(model.cov, 0.01)
    ref = qagan_code_distance(model.mu, cov, qagan_code_features(grad.detach()))
    assert value.item() == pytest.approx(ref.item(), rel=1e-12)
    (g,) = torch.autograd.grad(value, grad)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    direct = niqe_gradient_penalty(grad.detach(), model, variant="qagan-code", ridge=0.01)
    assert direct.item() == pytest.approx(value.item(), rel=1e-12)


def test_code_variant_is_batch_pooled_only():
    with pytest.raises(ValueError, match="pooling must be 'batch'"):
        NIQEGradientPenalty("qagan-code", "image")
    with pytest.raises(ValueError, match="res must lie"):
        qagan_code_features(torch.zeros(2, 1, 8, 8), res=16)
    other = NIQEModel(torch.zeros(36), torch.eye(36), "grad-qagan-batch", 8)
    with pytest.raises(ValueError, match="grad-qagan-code-batch"):
        NIQEGradientPenalty("qagan-code").set_model(other)
