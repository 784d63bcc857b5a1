"""SSIM / MS-SSIM / d_Q against the authors' MATLAB values, other libraries and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import MATLAB

from qagen.iqa import ms_ssim, ssim, ssim_distance, ssim_maps
from qagen.iqa.structural import ms_ssim_min_size

# The issue asks for 1e-4 absolute against MATLAB; the float64 implementation reaches ~1e-14,
# so a tighter 1e-9 is asserted to catch any regression in the MATLAB emulation.
MATLAB_ATOL = 1e-9


def test_ssim_index_2004_matches_matlab(tid_pair):
    dist, ref = tid_pair
    assert abs(ssim(dist, ref, 255).item() - MATLAB["tid"]["ssim_index_y"]) < MATLAB_ATOL
    got = ssim(dist, ref, 255, gray="rgb2gray").item()
    assert abs(got - MATLAB["tid"]["ssim_index_rgb2gray"]) < MATLAB_ATOL


def test_ssim_2009_downsampling_matches_matlab(tid_pair, goldhill_pair):
    dist, ref = tid_pair
    got = ssim(dist, ref, 255, gray="rgb2gray", downsample=True).item()
    assert abs(got - MATLAB["tid"]["ssim_rgb2gray"]) < MATLAB_ATOL
    gd, gr = goldhill_pair
    assert (
        abs(ssim(gd, gr, 255, downsample=True).item() - MATLAB["goldhill"]["ssim_2009"])
        < MATLAB_ATOL
    )


def test_ms_ssim_matches_matlab(tid_pair):
    dist, ref = tid_pair
    assert abs(ms_ssim(dist, ref, 255).item() - MATLAB["tid"]["msssim_y"]) < MATLAB_ATOL


def test_float32_agrees_with_float64(tid_pair):
    # float32 local moments on 0-255 data lose ~1e-6 relative; the bound is 1e-4.
    dist, ref = tid_pair
    for fn in (ssim, ms_ssim, ssim_distance):
        a = fn(dist, ref, 255).item()
        b = fn(dist.float(), ref.float(), 255).item()
        assert abs(a - b) <= 1e-4 * abs(a), fn.__name__


def test_ssim_matches_pytorch_msssim_and_torchmetrics_and_skimage():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    tm = pytest.importorskip("torchmetrics.functional.image")
    skm = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    y = torch.rand(3, 1, 64, 80, generator=g, dtype=torch.float64)
    x = (y + 0.2 * torch.randn(3, 1, 64, 80, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = ssim(x, y, 1.0)
    # Same Gaussian window, constants and 'valid' region; pytorch-msssim builds its window in
    # float32, which alone moves SSIM by ~3e-8: tolerance 1e-6.
    theirs = pytorch_msssim.ssim(x, y, data_range=1.0, size_average=False)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    # torchmetrics 1.9 averages the 'same'-size map with reflect padding: equal to our
    # padding="same", pad_mode="reflect" (and its interior equals our 'valid' map).
    tmv, tmap = tm.structural_similarity_index_measure(
        x, y, data_range=1.0, reduction="none", return_full_image=True
    )
    same = ssim_maps(x, y, padding="same", pad_mode="reflect")[0]
    torch.testing.assert_close(same.mean(dim=(1, 2, 3)), tmv, rtol=0, atol=1e-10)
    torch.testing.assert_close(tmap[..., 5:-5, 5:-5], ssim_maps(x, y)[0], rtol=0, atol=1e-10)
    for i in range(3):
        ski = skm.structural_similarity(
            x[i, 0].numpy(), y[i, 0].numpy(), data_range=1.0, gaussian_weights=True,
            sigma=1.5, use_sample_covariance=False,
        )  # fmt: skip
        # scikit-image truncates its Gaussian at 3.5 sigma (11 taps) like fspecial: 1e-10.
        assert abs(ours[i].item() - ski) < 1e-10


def test_ms_ssim_matches_pytorch_msssim_and_torchmetrics():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    tm = pytest.importorskip("torchmetrics.functional.image")
    g = torch.Generator().manual_seed(1)
    # 192x256: every scale has even size, where all 2x2 downsampling conventions coincide.
    y = torch.rand(2, 1, 192, 256, generator=g, dtype=torch.float64)
    x = (y + 0.1 * torch.randn(2, 1, 192, 256, generator=g, dtype=torch.float64)).clamp(0, 1)
    ours = ms_ssim(x, y, 1.0)
    theirs = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)  # float32 window, as above
    tmv = tm.multiscale_structural_similarity_index_measure(x, y, data_range=1.0, reduction="none")
    # torchmetrics pools 'same'-size reflect-padded maps at every scale (a different border
    # convention, see the SSIM test): the values agree to ~1e-3 only.
    torch.testing.assert_close(ours, tmv, rtol=0, atol=3e-3)


def test_ssim_maps_product_and_closed_form():
    g = torch.Generator().manual_seed(2)
    y = torch.rand(2, 1, 20, 20, generator=g, dtype=torch.float64)
    x = torch.rand(2, 1, 20, 20, generator=g, dtype=torch.float64)
    s, lum, cs = ssim_maps(x, y)
    assert s.shape == (2, 1, 10, 10)
    torch.testing.assert_close(s, lum * cs)
    # Two constant images a, b: CS = 1 and L = (2ab + C1)/(a^2 + b^2 + C1) exactly.
    a, b = 0.2, 0.7
    c1 = (0.01 * 1.0) ** 2
    s, lum, cs = ssim_maps(
        torch.full((1, 1, 11, 11), a, dtype=torch.float64),
        torch.full((1, 1, 11, 11), b, dtype=torch.float64),
    )
    assert torch.allclose(cs, torch.ones_like(cs))
    assert abs(lum.item() - (2 * a * b + c1) / (a * a + b * b + c1)) < 1e-12
    # 'same' padding keeps the input size.
    assert ssim_maps(x, y, padding="same")[0].shape == (2, 1, 20, 20)


def test_ssim_distance_closed_form_and_metric_properties():
    a, b = 0.2, 0.7
    c1 = 1e-4
    x = torch.full((1, 1, 11, 11), a, dtype=torch.float64)
    y = torch.full((1, 1, 11, 11), b, dtype=torch.float64)
    lum = (2 * a * b + c1) / (a * a + b * b + c1)
    expected = np.sqrt(2 - lum - 1 + 1e-8)
    assert abs(ssim_distance(x, y).item() - expected) < 1e-12
    g = torch.Generator().manual_seed(3)
    u, v, w = (torch.rand(4, 1, 16, 16, generator=g, dtype=torch.float64) for _ in range(3))
    duv, dvu = (
        ssim_distance(u, v, pooling="sqrt_of_mean", eps=0),
        ssim_distance(v, u, pooling="sqrt_of_mean", eps=0),
    )
    torch.testing.assert_close(duv, dvu)
    # Triangle inequality of the l2-pooled d_Q (Brunet et al. 2012).
    assert torch.all(
        duv
        <= ssim_distance(u, w, pooling="sqrt_of_mean", eps=0)
        + ssim_distance(w, v, pooling="sqrt_of_mean", eps=0)
        + 1e-12
    )
    assert ssim_distance(u, u, eps=0).abs().max() < 1e-7
    vals, dmap = ssim_distance(u, v, return_map=True)
    torch.testing.assert_close(vals, dmap.mean(dim=(1, 2, 3)))


def test_ssim_distance_paper_variant():
    # QAGAN code form on [-1, 1] data: constant images a, b give L = (2ab + C1)/(a^2+b^2+C1) in
    # the interior, CS = C2/(C2 + 0.01), and zero padding darkens the borders.
    a, b = 0.3, -0.4
    x = torch.full((2, 3, 32, 32), a, dtype=torch.float64)
    y = torch.full((2, 3, 32, 32), b, dtype=torch.float64)
    vals, dmap = ssim_distance(x, y, data_range=2.0, variant="paper", return_map=True)
    c1, c2 = 4e-4, 3.6e-3
    ga, gb = a * (0.2989 + 0.5870 + 0.1140), b * (0.2989 + 0.5870 + 0.1140)
    lum = (2 * ga * gb + c1) / (ga * ga + gb * gb + c1)
    cs = c2 / (c2 + 0.01)
    assert abs(dmap[0, 0, 16, 16].item() - np.sqrt(2 - lum - cs + 1e-8)) < 1e-10
    assert dmap.shape == (2, 1, 32, 32)
    with pytest.raises(ValueError, match="data_range=2"):
        ssim_distance(x, y, data_range=1.0, variant="paper")


def test_ms_ssim_size_error_names_minimum():
    x = torch.rand(1, 1, 160, 200)
    with pytest.raises(ValueError, match="161 x 161"):
        ms_ssim(x, x)
    assert ms_ssim_min_size(3) == 41
    v = ms_ssim(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64), scales=3)
    assert v.shape == (1,)


def test_ms_ssim_scales_weights_renormalised():
    g = torch.Generator().manual_seed(4)
    y = torch.rand(1, 1, 48, 48, generator=g, dtype=torch.float64)
    x = (y + 0.05 * torch.randn(1, 1, 48, 48, generator=g, dtype=torch.float64)).clamp(0, 1)
    # One scale with weight renormalised to 1 is plain SSIM (mean of L*CS).
    torch.testing.assert_close(ms_ssim(x, y, scales=1), ssim(x, y))


def test_gradcheck_ssim_family():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 1, 14, 14, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 1, 14, 14, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: ssim(t, y), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: ssim_distance(t, y), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(
        lambda t: ssim_distance(t * 2 - 1, y * 2 - 1, 2.0, variant="paper"), (x,), fast_mode=True
    )
    x2 = torch.rand(1, 1, 22, 22, generator=g, dtype=torch.float64, requires_grad=True)
    y2 = torch.rand(1, 1, 22, 22, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda t: ms_ssim(t, y2, scales=2, negative="normalize"), (x2,), fast_mode=True
    )
