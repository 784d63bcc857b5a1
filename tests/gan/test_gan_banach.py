"""Banach / Sobolev WGAN pieces (Adler & Lunz 2018; REFERENCE 3.3) against direct numpy DFTs,
eigenfunctions of the multiplier and special cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from qagen.gan.penalties import (
    BanachScales,
    banach_critic_loss,
    banach_generator_loss,
    banach_gradient_penalty,
    banach_penalty_terms,
    banach_scales,
    dual_exponent,
    gradient_penalty,
    lp_norm,
    sobolev_filter,
    sobolev_frequencies,
    sobolev_norm,
)

C = 5.0


def _np_sobolev(x: np.ndarray, s: float, c: float = C) -> np.ndarray:
    """Direct computation with explicit DFT matrices (no FFT): Re(F_H^-1 (m * F_H X F_W) F_W^-1)."""
    h, w = x.shape[-2:]

    def dft(n):
        j = np.arange(n)
        return np.exp(-2j * np.pi * np.outer(j, j) / n)

    def xi(n):
        k = np.arange(n)
        return np.minimum(k, n - k) / (n // 2)

    m = (1 + c * (xi(h)[:, None] ** 2 + xi(w)[None, :] ** 2)) ** (s / 2)
    fh, fw = dft(h), dft(w)
    spec = fh @ x @ fw
    return np.real(np.conj(fh) @ (m * spec) @ np.conj(fw)) / (h * w)


def test_frequency_grid():
    # xi_k = min(k, N - k) / (N // 2): even and odd lengths.
    assert torch.allclose(
        sobolev_frequencies(8), torch.tensor([0, 1, 2, 3, 4, 3, 2, 1], dtype=torch.float64) / 4
    )
    assert torch.allclose(
        sobolev_frequencies(7), torch.tensor([0, 1, 2, 3, 3, 2, 1], dtype=torch.float64) / 3
    )
    assert torch.equal(sobolev_frequencies(1), torch.zeros(1, dtype=torch.float64))


@pytest.mark.parametrize("s", [-1.5, 0.7, 2.0])
def test_sobolev_filter_matches_direct_dft(s):
    # float64 throughout; FFT vs explicit DFT matrices agree to ~1e-14, tolerance 1e-11.
    x = torch.randn(2, 3, 6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    got = sobolev_filter(x, s).numpy()
    ref = _np_sobolev(x.numpy(), s)
    assert np.abs(got - ref).max() < 1e-11


def test_s_zero_is_identity_and_inverse_pair():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert sobolev_filter(x, 0.0) is x
    # S_s S_{-s} = identity (multipliers are reciprocal); 1e-12 in float64
    assert torch.allclose(sobolev_filter(sobolev_filter(x, 1.3), -1.3), x, atol=1e-12)
    # a constant image is only the DC term, m(0) = 1: unchanged for every s
    const = torch.full((1, 1, 8, 8), 0.3, dtype=torch.float64)
    assert torch.allclose(sobolev_filter(const, -2.5), const, atol=1e-14)


@pytest.mark.parametrize("ky,kx", [(1, 0), (2, 3), (4, 1)])
def test_fourier_mode_is_eigenfunction(ky, kx):
    # cos(2 pi (ky y / H + kx x / W)) is an eigenfunction with eigenvalue
    # (1 + c (xi_ky^2 + xi_kx^2))^(s/2), xi_k = min(k, N-k)/(N//2). Closed form, 1e-12.
    h, w, s = 8, 10, -1.5
    y, x = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    f = torch.cos(2 * math.pi * (ky * y / h + kx * x / w))[None, None]
    xi_y = min(ky, h - ky) / (h // 2)
    xi_x = min(kx, w - kx) / (w // 2)
    lam = (1 + C * (xi_y**2 + xi_x**2)) ** (s / 2)
    assert torch.allclose(sobolev_filter(f, s), lam * f, atol=1e-12)


def test_dual_exponent():
    assert dual_exponent(2) == 2
    assert dual_exponent(10) == pytest.approx(10 / 9)
    assert dual_exponent(1) == math.inf
    assert dual_exponent(math.inf) == 1
    with pytest.raises(ValueError, match="p must be >= 1"):
        dual_exponent(0.5)


def test_lp_norm_special_cases():
    x = torch.randn(3, 2, 4, 5, generator=torch.Generator().manual_seed(1))
    plain = x.flatten(1).norm(dim=1)
    # p = q = 2: the stable norm equals the plain L2 norm (float32 rounding, 1e-6 relative)
    assert torch.allclose(lp_norm(x, 2), plain, rtol=1e-6)
    assert torch.allclose(sobolev_norm(x, 0.0, 2.0), plain, rtol=1e-6)
    assert torch.allclose(lp_norm(x, math.inf), x.flatten(1).abs().amax(1))
    assert torch.allclose(lp_norm(x, 1), x.flatten(1).abs().sum(1), rtol=1e-6)
    # p = 3 against numpy in float64 (1e-5 relative: float32 input)
    ref = (np.abs(x.flatten(1).double().numpy()) ** 3).sum(1) ** (1 / 3)
    assert np.allclose(lp_norm(x, 3).numpy(), ref, rtol=1e-5)


def test_stable_norm_large_p_no_overflow():
    # |x|^1000 overflows float32 for |x| > 1.09; the stable form alpha ||x/alpha||_p does not.
    # Reference: log-sum-exp in float64, ||x||_p = exp(logsumexp(p log|x|) / p); 1e-5 relative.
    x = torch.randn(2, 50, generator=torch.Generator().manual_seed(2)) * 30
    p = 1000.0
    assert not torch.isfinite(lp_norm(x, p, stable=False)).all()
    got = lp_norm(x, p)
    a = np.log(np.abs(x.double().numpy()))
    ref = np.exp((np.log(np.exp(p * (a - a.max(1, keepdims=True))).sum(1)) + p * a.max(1)) / p)
    assert torch.isfinite(got).all()
    assert np.allclose(got.numpy(), ref, rtol=1e-5)


class LinearCritic(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


def test_banach_reduces_to_wgan_gp():
    # s = 0, p = 2, gamma = 1: E[(||grad||_2 - 1)^2], equal to the two-sided GP at the same
    # interpolates (only the 1e-12 epsilon differs: 1e-6 tolerance in float32).
    torch.manual_seed(0)
    critic = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 36, 1)
    )
    real, fake = torch.rand(3, 3, 6, 6), torch.rand(3, 3, 6, 6)
    xh = torch.rand(3, 3, 6, 6)
    a = banach_gradient_penalty(critic, real, fake, interpolates=xh)
    b = gradient_penalty(critic, real, fake, interpolates=xh)
    assert a.item() == pytest.approx(b.item(), abs=1e-6)


@pytest.mark.parametrize("s,p", [(0.0, 10.0), (-1.5, 2.0), (1.0, 4.0)])
def test_banach_penalty_linear_critic_closed_form(s, p):
    # Linear critic: grad = w for every sample, so ddx = ||S_{-s} w||_q with q = p/(p-1)
    # (numpy DFT reference) and the penalty is (ddx / gamma - 1)^2; float64, 1e-10.
    w = torch.randn(3, 6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    real = torch.rand(2, 3, 6, 8, dtype=torch.float64)
    fake = torch.rand(2, 3, 6, 8, dtype=torch.float64)
    q = p / (p - 1)
    ref = (np.abs(_np_sobolev(w.numpy(), -s)) ** q).sum() ** (1 / q)
    gamma = 0.7
    t = banach_penalty_terms(LinearCritic(w), real, fake, s=s, p=p, gamma=gamma)
    assert np.allclose(t.dual_norm.detach().numpy(), ref, rtol=1e-10)
    assert t.penalty.item() == pytest.approx((ref / gamma - 1) ** 2, rel=1e-10)


def test_banach_scales():
    x = torch.randn(4, 3, 6, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    flat = x.flatten(1).numpy()
    # s = 0, p = 2: lambda = gamma = mean_i ||x_i||_2
    sc = banach_scales(x)
    l2 = np.linalg.norm(flat, axis=1).mean()
    assert sc.lam.item() == pytest.approx(l2, rel=1e-12) and sc.gamma.item() == pytest.approx(
        l2, rel=1e-12
    )
    # s = 0, p = 10: lambda = mean ||x||_10, gamma = mean ||x||_{10/9}
    sc = banach_scales(x, p=10.0)
    q = 10 / 9
    assert sc.lam.item() == pytest.approx(
        (np.abs(flat) ** 10).sum(1).__pow__(0.1).mean(), rel=1e-10
    )
    assert sc.gamma.item() == pytest.approx(
        (np.abs(flat) ** q).sum(1).__pow__(1 / q).mean(), rel=1e-10
    )
    # s != 0: the code's gamma filters with +s, 'dual_sobolev' with -s (numpy DFT reference)
    s = -1.5
    plus = _np_sobolev(x.numpy(), s).reshape(4, -1)
    minus = _np_sobolev(x.numpy(), -s).reshape(4, -1)
    sc = banach_scales(x, s=s, p=2.0)
    assert sc.lam.item() == pytest.approx(np.linalg.norm(plus, axis=1).mean(), rel=1e-10)
    assert sc.gamma.item() == pytest.approx(np.linalg.norm(plus, axis=1).mean(), rel=1e-10)
    sd = banach_scales(x, s=s, p=2.0, gamma_from="dual_sobolev")
    assert sd.gamma.item() == pytest.approx(np.linalg.norm(minus, axis=1).mean(), rel=1e-10)
    assert not sc.lam.requires_grad
    with pytest.raises(ValueError, match="gamma_from"):
        banach_scales(x, gamma_from="x")


def test_banach_losses_by_hand():
    d_real, d_fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    sc = BanachScales(lam=torch.tensor(2.0), gamma=torch.tensor(4.0))
    reg = torch.tensor(0.25)
    # (E D(fake) - E D(real)) / gamma + lam * reg + 1e-5 E D(real)^2 = (-1 - 2)/4 + 0.5 + 5e-5
    assert banach_critic_loss(d_real, d_fake, reg, sc).item() == pytest.approx(
        -0.25 + 5e-5, abs=1e-7
    )
    assert banach_generator_loss(d_fake, sc).item() == pytest.approx(0.25, abs=1e-7)


def test_banach_penalty_zero_gradient_finite():
    # zero critic gradient: dual norm 0, penalty 1, parameter gradient finite (no NaN)
    critic = LinearCritic(torch.zeros(3, 4, 4))
    pen = banach_gradient_penalty(
        critic, torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), s=-1.0, p=3.0
    )
    pen.backward()
    assert pen.item() == pytest.approx(1.0)
    assert torch.isfinite(critic.w.grad).all()
