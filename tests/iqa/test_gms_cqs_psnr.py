"""GMS/GMSM/GMSD, cQS chrominance and PSNR against MATLAB, other libraries and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import MATLAB

from qagen.color import YIQ_MATRICES
from qagen.iqa import chroma_similarity, chroma_similarity_map, cqs, gms_map, gmsd, gmsm, psnr


def test_gmsd_matches_matlab(tid_pair, goldhill_pair):
    # Required 1e-4 absolute; measured <= 2e-8 (goldhill) and ~1e-14 (TID2013), asserted 1e-7.
    dist, ref = tid_pair
    assert abs(gmsd(dist, ref, 255).item() - MATLAB["tid"]["gmsd_y"]) < 1e-7
    assert abs(gmsd(dist, ref, 255, gray="rgb2gray").item() - MATLAB["tid"]["gmsd_rgb2gray"]) < 1e-7
    gd, gr = goldhill_pair
    assert abs(gmsd(gd, gr, 255).item() - MATLAB["goldhill"]["gmsd"]) < 1e-7


def test_gmsd_float32(tid_pair):
    dist, ref = tid_pair
    a = gmsd(dist, ref, 255).item()
    assert abs(gmsd(dist.float(), ref.float(), 255).item() - a) <= 1e-4 * a


def test_gmsd_and_gmsm_match_piq():
    piq = pytest.importorskip("piq")
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 3, 64, 96, generator=g, dtype=torch.float64)
    x = (y + 0.1 * torch.randn(2, 3, 64, 96, generator=g, dtype=torch.float64)).clamp(0, 1)
    # piq: YIQ Y with 0.299/0.587/0.114, c = 170/255^2 on [0, 1], population std (N): the N vs
    # N - 1 normaliser is a relative 1/(2N) = 3e-4 here (N = 1536), hence rtol 1e-3.
    ours = gmsd(x, y, 1.0)
    theirs = piq.gmsd(x, y, data_range=1.0, reduction="none")
    torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=0)
    n = 32 * 48
    torch.testing.assert_close(ours * np.sqrt((n - 1) / n), theirs, rtol=1e-6, atol=0)


def test_gms_closed_form():
    # A vertical step edge of height h: interior Prewitt/3 gradient magnitude is h/3 * 3 / 3...
    # compare both sides against a direct NumPy conv2 computation instead of a hand value.
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 10, 12, generator=g, dtype=torch.float64) * 255
    y = torch.rand(1, 1, 10, 12, generator=g, dtype=torch.float64) * 255
    from scipy.signal import convolve2d

    def mag(a):
        a = a[0, 0].numpy()
        a = convolve2d(a, np.ones((2, 2)) / 4, mode="full")[1:11, 1:13][::2, ::2]
        hx = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3
        gx = convolve2d(a, hx, mode="same")
        gy = convolve2d(a, hx.T, mode="same")
        return np.sqrt(gx**2 + gy**2)

    mx, my = mag(x), mag(y)
    expected = (2 * mx * my + 170) / (mx**2 + my**2 + 170)
    np.testing.assert_allclose(gms_map(x, y, 255)[0, 0].numpy(), expected, rtol=1e-9)
    assert abs(gmsm(x, y, 255).item() - expected.mean()) < 1e-12
    assert abs(gmsd(x, y, 255).item() - expected.std(ddof=1)) < 1e-9


def test_chroma_closed_form_for_constant_colours():
    a, b = (0.8, 0.2, 0.3), (0.1, 0.5, 0.9)
    x = torch.tensor(a, dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 5, 5).contiguous()
    y = torch.tensor(b, dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 5, 5).contiguous()
    m = np.array(YIQ_MATRICES["began"]) @ np.array([a, b]).T * 255  # columns: x, y
    c = 0.0026 * 255**2

    def s(u, v):
        return (2 * u * v + c) / (u * u + v * v + c)

    expected = s(m[1, 0], m[1, 1]) * s(m[2, 0], m[2, 1])
    assert abs(chroma_similarity(x, y).item() - expected) < 1e-12
    assert chroma_similarity_map(x, y).shape == (1, 1, 5, 5)
    c8 = 0.0026
    expected8 = ((2 * m[1, 0] * m[1, 1] + c8) / (m[1, 0] ** 2 + m[1, 1] ** 2 + c8)) * (
        (2 * m[2, 0] * m[2, 1] + c8) / (m[2, 0] ** 2 + m[2, 1] ** 2 + c8)
    )
    assert abs(chroma_similarity(x, y, c_scale="8bit").item() - expected8) < 1e-12


def test_cqs_range_and_grey_images():
    g = torch.Generator().manual_seed(2)
    grey = torch.rand(2, 1, 16, 16, generator=g, dtype=torch.float64).expand(2, 3, 16, 16)
    other = torch.rand(2, 1, 16, 16, generator=g, dtype=torch.float64).expand(2, 3, 16, 16)
    # Grey images have I = Q = 0 (rows of I and Q sum to 0), so the chroma term is exactly 1.
    torch.testing.assert_close(chroma_similarity(grey, other), torch.ones(2, dtype=torch.float64))
    v = cqs(grey, other)
    assert torch.all((v > 1) & (v < 2))
    with pytest.raises(ValueError, match="channels"):
        cqs(grey[:, :1], other[:, :1])
    with pytest.raises(ValueError, match="chroma_similarity: c must be finite and > 0"):
        chroma_similarity(grey, other, c=0.0)


def test_psnr_matches_matlab_and_skimage(tid_pair):
    skm = pytest.importorskip("skimage.metrics")
    dist, ref = tid_pair
    assert abs(psnr(dist, ref, 255).item() - MATLAB["tid"]["psnr_rgb"]) < 1e-10
    theirs = skm.peak_signal_noise_ratio(ref[0].numpy(), dist[0].numpy(), data_range=255)
    assert abs(psnr(dist, ref, 255).item() - theirs) < 1e-10


def test_psnr_identical_is_inf_and_y_channel():
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    assert torch.isinf(psnr(x, x)).all()
    assert torch.isfinite(psnr(x, x, eps=1e-10)).all()
    # Y channel of MATLAB rgb2ycbcr on [0, 1] images: 16/255 offset cancels in the error.
    y = x.clone()
    y[:, 0] = (y[:, 0] + 0.1).clamp(0, 1)
    d = (65.481 / 255) * (y[:, 0] - x[:, 0])
    expected = 10 * np.log10(1.0 / d.pow(2).mean().item())
    assert abs(psnr(y, x, channel="y").item() - expected) < 1e-9
    assert psnr(y, x, crop_border=2).shape == (1,)


def test_gradcheck_gms_cqs():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 10, 10, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 3, 10, 10, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: gmsd(t, y), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: gmsm(t, y), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: cqs(t, y), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: psnr(t, y), (x,), fast_mode=True)
