"""QAGAN SSIM gradient penalty against an independent NumPy version of the authors' formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qagen.gan.penalties import ssim_gradient_penalty


def _np_dq_paper(a: np.ndarray, b: np.ndarray) -> float:
    """d_Q of REFERENCE 3.2.2 for one RGB image pair in [-1, 1] (H x W x 3), written directly."""
    w = np.array([0.2989, 0.5870, 0.1140])
    ga, gb = a @ w, b @ w
    t = np.arange(-3, 5)
    g = np.exp(-(t**2) / (2 * 1.5**2))
    g /= g.sum()
    k = np.outer(g, g)
    h, wd = ga.shape

    def filt(img):  # TF 'SAME' correlation, zero padding 3 before / 4 after
        p = np.pad(img, ((3, 4), (3, 4)))
        out = np.zeros_like(img)
        for i in range(h):
            for j in range(wd):
                out[i, j] = (p[i : i + 8, j : j + 8] * k).sum()
        return out

    mu1, mu2 = filt(ga), filt(gb)
    s11, s22, s12 = filt(ga * ga) - mu1**2, filt(gb * gb) - mu2**2, filt(ga * gb) - mu1 * mu2
    c1, c2 = 4e-4, 3.6e-3
    l = (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1)
    cs = (2 * s12 + c2) / (s11 + s22 + c2 + 0.01)
    return float(np.sqrt(2 - l - cs + 1e-8).mean())


def test_paper_penalty_matches_numpy():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(3, 3, 12, 12, generator=g, dtype=torch.float64) * 2 - 1
    fake = torch.rand(3, 3, 12, 12, generator=g, dtype=torch.float64) * 2 - 1
    d_real = torch.randn(3, generator=g, dtype=torch.float64)
    d_fake = torch.randn(3, generator=g, dtype=torch.float64)
    dq = np.array(
        [
            _np_dq_paper(real[i].permute(1, 2, 0).numpy(), fake[i].permute(1, 2, 0).numpy())
            for i in range(3)
        ]
    )
    expected = (np.abs(d_real.numpy() - d_fake.numpy()) / dq - 1) ** 2
    got = ssim_gradient_penalty(d_real, d_fake, real, fake, reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    assert abs(ssim_gradient_penalty(d_real, d_fake, real, fake).item() - expected.mean()) < 1e-10


def test_penalty_zero_when_critic_is_dq_lipschitz_tight_and_gradients_flow():
    g = torch.Generator().manual_seed(1)
    real = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
    fake = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
    from qagen.iqa.structural import ssim_distance

    dq = ssim_distance(fake, real, data_range=2.0, variant="paper")
    d_fake = torch.zeros(4, requires_grad=True)
    d_real = (dq.detach()).clone().requires_grad_(True)  # |D(x) - D(x~)| = d_Q exactly
    pen = ssim_gradient_penalty(d_real, d_fake, real, fake)
    assert pen.item() < 1e-10
    (pen + (d_real * 2).sum()).backward()
    assert torch.isfinite(d_real.grad).all()
    # Identical pairs: d_Q ~ 1e-4 (eps) but never 0 or NaN.
    v = ssim_gradient_penalty(
        torch.zeros(4), torch.zeros(4), real, real.clone(), variant="standard"
    )
    assert torch.isfinite(v)


def test_penalty_errors():
    x = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match="one score per image"):
        ssim_gradient_penalty(torch.zeros(3), torch.zeros(2), x, x)
    with pytest.raises(ValueError, match="variant"):
        ssim_gradient_penalty(torch.zeros(2), torch.zeros(2), x, x, variant="tf")
