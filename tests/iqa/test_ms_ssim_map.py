"""The per-pixel MS-SSIM map (QMF's m2): an independent NumPy/SciPy re-derivation, identical
images, finite gradients, small images, and how its mean relates to MS-SSIM."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from conftest import MATLAB

from qagen.iqa import get, ms_ssim, ms_ssim_map

W = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gauss(win=11, sigma=1.5):
    t = np.arange(win) - (win - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _filt(a, g):
    # 'same' correlation with replicate borders (scipy 'nearest')
    return ndi.correlate1d(ndi.correlate1d(a, g, axis=0, mode="nearest"), g, axis=1, mode="nearest")


def _lcs(x, y, c1, c2):
    g = _gauss()
    mx, my = _filt(x, g), _filt(y, g)
    sxx = _filt(x * x, g) - mx * mx
    syy = _filt(y * y, g) - my * my
    sxy = _filt(x * y, g) - mx * my
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return lum, cs


def _down(a):
    # msssim.m: imfilter(X, ones(2)/4, 'symmetric', 'same'), keep 1:2:end
    p = np.pad(a, ((0, 1), (0, 1)), mode="symmetric")
    return ((p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) / 4.0)[::2, ::2]


def _up(a, shape):
    # bilinear, half-pixel centres, clamped at the borders
    fy, fx = shape[0] / a.shape[0], shape[1] / a.shape[1]
    yy = np.clip((np.arange(shape[0]) + 0.5) / fy - 0.5, 0, a.shape[0] - 1)
    xx = np.clip((np.arange(shape[1]) + 0.5) / fx - 0.5, 0, a.shape[1] - 1)
    y0, x0 = np.floor(yy).astype(int), np.floor(xx).astype(int)
    y1, x1 = np.minimum(y0 + 1, a.shape[0] - 1), np.minimum(x0 + 1, a.shape[1] - 1)
    dy, dx = (yy - y0)[:, None], (xx - x0)[None, :]
    top = a[y0][:, x0] * (1 - dx) + a[y0][:, x1] * dx
    bot = a[y1][:, x0] * (1 - dx) + a[y1][:, x1] * dx
    return top * (1 - dy) + bot * dy


def _numpy_map(x, y, data_range=255.0):
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    out, shape = 1.0, x.shape
    scale_means = []
    for j, w in enumerate(W):
        lum, cs = _lcs(x, y, c1, c2)
        m = cs if j < 4 else lum * cs
        scale_means.append(m.mean())
        out = out * np.maximum(_up(m, shape), 0) ** w
        x, y = _down(x), _down(y)
    hoelder = np.prod([max(v, 0) ** w for v, w in zip(scale_means, W, strict=True)])
    return out, hoelder


def _y(t):
    w = torch.tensor([0.299, 0.587, 0.114], dtype=t.dtype).view(1, 3, 1, 1)
    return (t * w).sum(1)[0].numpy() if t.shape[1] == 3 else t[0, 0].numpy()


def test_matches_an_independent_numpy_derivation(tid_pair, goldhill_pair):
    # every step re-derived with scipy.ndimage (filters, replicate borders), NumPy box
    # downsampling and bilinear upsampling; float64 on 0-255: agreement to 1e-10
    for dist, ref in (tid_pair, goldhill_pair):
        for crop in ((slice(None), slice(None)), (slice(100, 164), slice(200, 264))):
            d, r = dist[..., crop[0], crop[1]], ref[..., crop[0], crop[1]]
            ours = ms_ssim_map(d, r, 255.0)[0, 0].numpy()
            theirs, _ = _numpy_map(_y(d), _y(r))
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_mean_relates_to_ms_ssim(tid_pair, goldhill_pair):
    # Hoelder (weights sum to 1): mean(map) <= MS-SSIM of the same 'same'-padded scale maps;
    # and, found on these images, mean(map) lies 0.2-1.6 % below msssim.m's value (MATLAB
    # TID2013 I01: 0.92853 against 0.93543)
    dist, ref = tid_pair
    m = float(ms_ssim_map(dist, ref, 255.0).mean())
    assert m <= MATLAB["tid"]["msssim_y"] and m > MATLAB["tid"]["msssim_y"] - 0.01
    g = torch.Generator().manual_seed(0)
    gd, gr = goldhill_pair
    noisy = (gr + 20 * torch.randn(gr.shape, generator=g, dtype=gr.dtype)).clamp(0, 255)
    blur = torch.nn.functional.avg_pool2d(gr, 5, 1, 2, count_include_pad=False)
    for x, y in ((dist, ref), (gd, gr), (noisy, gr), (blur, gr)):
        mean_map = float(ms_ssim_map(x, y, 255.0).mean())
        _, hoelder = _numpy_map(_y(x), _y(y))
        assert mean_map <= hoelder + 1e-12
        valid = float(ms_ssim(x, y, 255.0))
        assert valid - 0.02 < mean_map < valid


@pytest.mark.parametrize("size", [32, 64])
def test_identical_images_give_ones_and_small_images_work(size):
    g = torch.Generator().manual_seed(1)
    for c in (1, 3):
        x = torch.rand(2, c, size, size, generator=g)
        m = ms_ssim_map(x, x)
        assert m.shape == (2, 1, size, size)
        torch.testing.assert_close(m, torch.ones_like(m), rtol=0, atol=1e-6)
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    m = ms_ssim_map(y, x)
    assert bool((m >= 0).all() and (m <= 1 + 1e-6).all()) and float(m.mean()) < 0.95


def test_finite_gradients_and_gradcheck():
    g = torch.Generator().manual_seed(2)
    cases = {
        "random": (torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)),
        "constant": (torch.full((1, 3, 32, 32), 0.5), torch.full((1, 3, 32, 32), 0.2)),
        "zeros": (torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)),
    }
    x = torch.rand(1, 3, 32, 32, generator=g)
    cases["identical"] = (x, x.clone())
    for name, (a, b) in cases.items():
        a = a.clone().requires_grad_(True)
        ms_ssim_map(a, b).sum().backward()
        assert torch.isfinite(a.grad).all(), name
    x2 = torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64, requires_grad=True)
    y2 = torch.rand(1, 1, 16, 16, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda t: ms_ssim_map(t, y2, scales=3, negative="normalize"), (x2,), fast_mode=True
    )


def test_errors_and_registry():
    with pytest.raises(ValueError, match="at least 16 x 16"):
        ms_ssim_map(torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12))
    assert ms_ssim_map(torch.rand(1, 1, 12, 12), torch.rand(1, 1, 12, 12), scales=3).shape[-1] == 12
    with pytest.raises(ValueError, match="scales"):
        ms_ssim_map(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), scales=6)
    assert get("ms_ssim").map_fn is ms_ssim_map
