"""FSIM / FSIMc / phase congruency (qagen.iqa.feature_similarity).

Independent numbers used here:

* the authors' MATLAB values (``tests/conftest.py`` ``MATLAB``, from ``FeatureSIM.m``);
* a direct NumPy transcription of ``FeatureSIM.m`` / ``phasecong2`` written from REFERENCE.md 1.5
  (loops over scales and orientations, ``np.median``, conv2 'same' built from a full convolution),
  which shares no code with the implementation;
* piq 0.8.0 (test-only), which differs on purpose in a few details (see ``test_piq_*``);
* closed forms (the chromatic factor of two flat colours).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from conftest import MATLAB
from scipy.signal import convolve2d

from qagen._checks import input_checks
from qagen.filters import _CACHE
from qagen.iqa.feature_similarity import fsim, fsim_map, fsimc, phase_congruency

# qagen.iqa exports a function named fsim, so `import qagen.iqa.feature_similarity as m` would give the function.
fsim_module = importlib.import_module("qagen.iqa.feature_similarity")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one thread avoids OpenMP overhead on the shared 2-core machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _rand_pair(n=3, c=3, h=32, w=32, dtype=torch.float64, seed=0, noise=0.15):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, c, h, w, generator=g, dtype=torch.float64)
    x = (y + noise * torch.randn(n, c, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x.to(dtype), y.to(dtype)


def _smooth_pair(n=3, h=64, w=64, seed=0):
    """Smooth random colour fields (8x8 box of noise) and a noisy copy: closer to photographs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.nn.functional.avg_pool2d(
        torch.rand(n, 3, h + 7, w + 7, generator=g, dtype=torch.float64), 8, stride=1
    )
    x = (y + 0.05 * torch.randn(n, 3, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


# ------------------------------------------------------------------------------------------------
# NumPy transcription of FeatureSIM.m (REFERENCE.md 1.5, 0.3, 0.4), double precision
# ------------------------------------------------------------------------------------------------
def _np_conv2_same(x, k):
    kh, kw = k.shape
    full = convolve2d(x, k, mode="full")
    return full[kh // 2 : kh // 2 + x.shape[0], kw // 2 : kw // 2 + x.shape[1]]


def _np_axis(n):
    if n % 2:
        return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
    return np.arange(-n / 2, n / 2) / n


def _np_phasecong2(im):
    nscale, norient, min_wl, mult, sigma_onf, dtheta_on_sigma, k, eps = (
        4,
        4,
        6,
        2,
        0.55,
        1.2,
        2.0,
        1e-4,
    )
    rows, cols = im.shape
    imagefft = np.fft.fft2(im)
    x, y = np.meshgrid(_np_axis(cols), _np_axis(rows))
    radius = np.sqrt(x**2 + y**2)
    theta = np.arctan2(-y, x)
    lp = np.fft.ifftshift(1.0 / (1.0 + (radius / 0.45) ** 30))
    radius = np.fft.ifftshift(radius)
    theta = np.fft.ifftshift(theta)
    radius[0, 0] = 1
    sintheta, costheta = np.sin(theta), np.cos(theta)
    log_gabor = []
    for s in range(nscale):
        fo = 1.0 / (min_wl * mult**s)
        lg = np.exp(-(np.log(radius / fo) ** 2) / (2 * np.log(sigma_onf) ** 2)) * lp
        lg[0, 0] = 0
        log_gabor.append(lg)
    theta_sigma = np.pi / norient / dtheta_on_sigma
    energy_all = np.zeros((rows, cols))
    an_all = np.zeros((rows, cols))
    for o in range(norient):
        angl = o * np.pi / norient
        ds = sintheta * np.cos(angl) - costheta * np.sin(angl)
        dc = costheta * np.cos(angl) + sintheta * np.sin(angl)
        spread = np.exp(-(np.abs(np.arctan2(ds, dc)) ** 2) / (2 * theta_sigma**2))
        eo, ifft_filters = [], []
        sum_e = np.zeros((rows, cols))
        sum_o = np.zeros((rows, cols))
        sum_an = np.zeros((rows, cols))
        for s in range(nscale):
            filt = log_gabor[s] * spread
            ifft_filters.append(np.real(np.fft.ifft2(filt)) * np.sqrt(rows * cols))
            eo.append(np.fft.ifft2(imagefft * filt))
            sum_an += np.abs(eo[s])
            sum_e += np.real(eo[s])
            sum_o += np.imag(eo[s])
            if s == 0:
                em_n = np.sum(filt**2)
        x_energy = np.sqrt(sum_e**2 + sum_o**2) + eps
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = np.zeros((rows, cols))
        for s in range(nscale):
            e, od = np.real(eo[s]), np.imag(eo[s])
            energy += e * mean_e + od * mean_o - np.abs(e * mean_o - od * mean_e)
        mean_e2n = -np.median(np.abs(eo[0]) ** 2) / np.log(0.5)
        noise_power = mean_e2n / em_n
        est_sum_an2 = sum(f**2 for f in ifft_filters)
        est_sum_aiaj = sum(
            ifft_filters[i] * ifft_filters[j]
            for i in range(nscale - 1)
            for j in range(i + 1, nscale)
        )
        n2 = 2 * noise_power * np.sum(est_sum_an2) + 4 * noise_power * np.sum(est_sum_aiaj)
        tau = np.sqrt(n2 / 2)
        t = (tau * np.sqrt(np.pi / 2) + k * np.sqrt((2 - np.pi / 2) * tau**2)) / 1.7
        energy_all += np.maximum(energy - t, 0)
        an_all += sum_an
    return energy_all / an_all


def _np_featuresim(ref, dist):
    """(FSIM, FSIMc) of FeatureSIM.m on 0-255 arrays (H x W or H x W x 3)."""
    rows, cols = ref.shape[:2]
    if ref.ndim == 3:
        yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        y1, i1, q1 = np.moveaxis(ref @ yiq.T, -1, 0)
        y2, i2, q2 = np.moveaxis(dist @ yiq.T, -1, 0)
    else:
        y1, y2 = ref, dist
        i1 = i2 = q1 = q2 = np.ones((rows, cols))
    f = max(1, int(np.floor(min(rows, cols) / 256 + 0.5)))
    ave = np.ones((f, f)) / f**2

    def down(a):
        return _np_conv2_same(a, ave)[::f, ::f]

    y1, y2, i1, i2, q1, q2 = map(down, (y1, y2, i1, i2, q1, q2))
    pc1, pc2 = _np_phasecong2(y1), _np_phasecong2(y2)
    dx = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]]) / 16
    g1 = np.sqrt(_np_conv2_same(y1, dx) ** 2 + _np_conv2_same(y1, dx.T) ** 2)
    g2 = np.sqrt(_np_conv2_same(y2, dx) ** 2 + _np_conv2_same(y2, dx.T) ** 2)
    s_pc = (2 * pc1 * pc2 + 0.85) / (pc1**2 + pc2**2 + 0.85)
    s_g = (2 * g1 * g2 + 160) / (g1**2 + g2**2 + 160)
    pcm = np.maximum(pc1, pc2)
    s_i = (2 * i1 * i2 + 200) / (i1**2 + i2**2 + 200)
    s_q = (2 * q1 * q2 + 200) / (q1**2 + q2**2 + 200)
    chroma = np.real((s_i * s_q).astype(complex) ** 0.03)
    return np.sum(s_g * s_pc * pcm) / np.sum(pcm), np.sum(s_g * s_pc * chroma * pcm) / np.sum(pcm)


# ------------------------------------------------------------------------------------------------
# MATLAB parity
# ------------------------------------------------------------------------------------------------
def test_matlab_goldhill(goldhill_pair):
    dist, ref = goldhill_pair
    v = fsim(dist, ref, data_range=255.0)
    # Required 1e-4; measured 7e-12 (GRAD_EPS = 1e-24; pyiqa's 1e-12 gave 8.7e-9 on flat areas).
    assert abs(v.item() - MATLAB["goldhill"]["fsim"]) < 1e-6
    # Grey input: FSIMc is FSIM (FeatureSIM sets I = Q = 1).
    assert fsimc(dist, ref, data_range=255.0).item() == v.item()


def test_matlab_tid(tid_pair):
    dist, ref = tid_pair
    # Required 1e-4; measured 7e-12 (FSIM) and 1e-12 (FSIMc).
    assert abs(fsim(dist, ref, data_range=255.0).item() - MATLAB["tid"]["fsim"]) < 1e-6
    assert abs(fsimc(dist, ref, data_range=255.0).item() - MATLAB["tid"]["fsimc"]) < 1e-6


def test_matlab_float32(tid_pair, goldhill_pair):
    # float32 FFTs: measured <= 2e-7 from the MATLAB values; REFERENCE.md 2.2 recommends 1e-3.
    dist, ref = tid_pair
    assert (
        abs(fsim(dist.float(), ref.float(), data_range=255.0).item() - MATLAB["tid"]["fsim"]) < 1e-5
    )
    assert (
        abs(fsimc(dist.float(), ref.float(), data_range=255.0).item() - MATLAB["tid"]["fsimc"])
        < 1e-5
    )
    dist, ref = goldhill_pair
    assert (
        abs(fsim(dist.float(), ref.float(), data_range=255.0).item() - MATLAB["goldhill"]["fsim"])
        < 1e-5
    )


@pytest.mark.parametrize("size", [(31, 40), (32, 32), (17, 23)])
def test_phase_congruency_matches_transcription(size):
    g = torch.Generator().manual_seed(sum(size))
    # Blurred noise (natural-image-like spectrum) and white noise in one batch.
    a = torch.rand(1, 1, size[0] + 3, size[1] + 3, generator=g, dtype=torch.float64)
    a = torch.nn.functional.avg_pool2d(a, 4, stride=1) * 255
    b = torch.rand(1, 1, *size, generator=g, dtype=torch.float64) * 255
    pc = phase_congruency(torch.cat([a, b]))
    for i, img in enumerate((a, b)):
        ref = _np_phasecong2(img[0, 0].numpy())
        # Same formulas in another order; measured <= 7e-11, all from PC_EPS (1e-8 / sum An).
        np.testing.assert_allclose(pc[i, 0].numpy(), ref, rtol=0, atol=1e-9)


def test_fsim_matches_transcription_with_odd_downsampling():
    # 390 x 401: F = round(390 / 256) = 2 and an odd width (MATLAB's darkened last column).
    x, y = _smooth_pair(n=1, h=390, w=401, seed=3)
    ref_fsim, ref_fsimc = _np_featuresim(
        y[0].permute(1, 2, 0).numpy() * 255, x[0].permute(1, 2, 0).numpy() * 255
    )
    # Measured 5e-12 (the epsilons only).
    assert abs(fsim(x, y).item() - ref_fsim) < 1e-8
    assert abs(fsimc(x, y).item() - ref_fsimc) < 1e-8
    assert fsim_map(x, y).shape == (1, 1, 195, 201)


# ------------------------------------------------------------------------------------------------
# Cross-checks against piq 0.8.0
# ------------------------------------------------------------------------------------------------
# piq deviates from FeatureSIM.m in four documented ways: torch.median (lower middle value) in the
# noise estimate; a frequency grid whose orientations are mirrored (theta -> -theta), which is
# identical for real images except on the unpaired Nyquist row/column of an even size; the
# 4-decimal YIQ matrix; |p|^lambda for negative chroma products. Agreement is therefore approximate.
def test_piq_on_reference_images(tid_pair, goldhill_pair):
    piq = pytest.importorskip("piq")
    dist, ref = goldhill_pair
    p = piq.fsim(dist, ref, data_range=255.0, chromatic=False, reduction="none")
    # measured 4.1e-7
    torch.testing.assert_close(fsim(dist, ref, data_range=255.0), p, rtol=0, atol=5e-6)
    dist, ref = tid_pair
    p = piq.fsim(dist, ref, data_range=255.0, chromatic=False, reduction="none")
    # measured 1.4e-6
    torch.testing.assert_close(fsim(dist, ref, data_range=255.0), p, rtol=0, atol=1e-5)
    p = piq.fsim(dist, ref, data_range=255.0, chromatic=True, reduction="none")
    # measured 2.6e-5 ("matlab" rule: 2.0e-5 of it) and 5.6e-6 ("abs", piq's rule)
    torch.testing.assert_close(fsimc(dist, ref, data_range=255.0), p, rtol=0, atol=5e-5)
    torch.testing.assert_close(
        fsimc(dist, ref, data_range=255.0, negative_power="abs"), p, rtol=0, atol=2e-5
    )


def test_piq_on_random_images():
    piq = pytest.importorskip("piq")
    # Odd sizes: mirrored grid and medians coincide with MATLAB's; measured 1.3e-7 (piq's eps).
    x, y = _rand_pair(n=2, c=1, h=63, w=65, seed=1)
    p = piq.fsim(x, y, chromatic=False, reduction="none")
    torch.testing.assert_close(fsim(x, y), p, rtol=0, atol=2e-6)
    # Even sizes, white noise (much energy at the Nyquist row/column): measured 9.5e-6 (FSIM) and,
    # for FSIMc with piq's |p|^lambda rule, 9.5e-5 (the YIQ decimals matter more on noise).
    x, y = _rand_pair(n=2, c=3, h=64, w=64, seed=1)
    torch.testing.assert_close(
        fsim(x, y), piq.fsim(x, y, chromatic=False, reduction="none"), rtol=0, atol=1e-4
    )
    p = piq.fsim(x, y, chromatic=True, reduction="none")
    torch.testing.assert_close(fsimc(x, y, negative_power="abs"), p, rtol=0, atol=2e-4)
    # With MATLAB's cos(lambda pi) rule noise differs more (many negative S_I S_Q): 6.7e-4.
    torch.testing.assert_close(fsimc(x, y), p, rtol=0, atol=3e-3)
    # Smooth colour fields: measured 8.9e-6 (FSIM) and 3.9e-5 (FSIMc).
    x, y = _smooth_pair(n=2, seed=2)
    torch.testing.assert_close(
        fsim(x, y), piq.fsim(x, y, chromatic=False, reduction="none"), rtol=0, atol=1e-4
    )
    torch.testing.assert_close(
        fsimc(x, y), piq.fsim(x, y, chromatic=True, reduction="none"), rtol=0, atol=2e-4
    )


# ------------------------------------------------------------------------------------------------
# Closed forms and maps
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["matlab", "abs"])
def test_negative_chroma_product_rule(rule):
    # Flat red vs flat blue: I1 I2 < 0 and Q1 Q2 > 0, so S_I S_Q < 0. PC = 0 on flat images and
    # S_G is the same with and without colour, so the map ratio is the chroma factor itself.
    red = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    red[:, 0] = 1
    blue = torch.zeros(1, 3, 16, 16, dtype=torch.float64)
    blue[:, 2] = 1
    yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]]) * 255
    i1, q1, i2, q2 = yiq[1, 0], yiq[2, 0], yiq[1, 2], yiq[2, 2]
    p = (2 * i1 * i2 + 200) / (i1**2 + i2**2 + 200) * (2 * q1 * q2 + 200) / (q1**2 + q2**2 + 200)
    assert p < 0
    expected = abs(p) ** 0.03 * (math.cos(0.03 * math.pi) if rule == "matlab" else 1.0)
    if rule == "matlab":  # MATLAB's real((negative)^0.03), principal branch
        assert abs(expected - (complex(p) ** 0.03).real) < 1e-12
    chroma = fsim_map(red, blue, chromatic=True, negative_power=rule)
    plain = fsim_map(red, blue, chromatic=False)
    torch.testing.assert_close(chroma / plain, torch.full_like(plain, expected), rtol=1e-12, atol=0)
    # Flat images: PC_m = 0, pooling falls back to the plain mean (WEIGHT_EPS).
    torch.testing.assert_close(
        fsimc(red, blue, negative_power=rule),
        (plain * expected).mean(dim=(1, 2, 3)),
        rtol=1e-12,
        atol=0,
    )


def test_maps_are_consistent():
    x, y = _smooth_pair(n=2, seed=4)
    for chromatic, metric in ((False, fsim), (True, fsimc)):
        sim = fsim_map(x, y, chromatic=chromatic)
        weight = fsim_map(x, y, chromatic=chromatic, kind="weight")
        weighted = fsim_map(x, y, chromatic=chromatic, kind="weighted")
        assert sim.shape == weight.shape == weighted.shape == (2, 1, 64, 64)
        torch.testing.assert_close(
            weighted.mean(dim=(1, 2, 3)), metric(x, y), rtol=1e-12, atol=1e-12
        )
        torch.testing.assert_close(
            weighted, sim * weight / weight.mean(dim=(1, 2, 3), keepdim=True)
        )
        assert ((sim > 0) & (sim <= 1 + 1e-12)).all()
    # PC_m is the larger of the two images' phase congruency (of Y on 0-255).
    lum = lambda t: (0.299 * t[:, :1] + 0.587 * t[:, 1:2] + 0.114 * t[:, 2:]) * 255  # noqa: E731
    pcm = torch.maximum(phase_congruency(lum(x)), phase_congruency(lum(y)))
    torch.testing.assert_close(weight, pcm, rtol=0, atol=1e-12)
    assert ((pcm >= 0) & (pcm <= 1)).all()
    # Grey input: chromatic is ignored (FSIMc = FSIM).
    xg, yg = lum(x) / 255, lum(y) / 255
    torch.testing.assert_close(fsim_map(xg, yg, chromatic=True), fsim_map(xg, yg), rtol=0, atol=0)
    torch.testing.assert_close(fsimc(xg, yg), fsim(xg, yg), rtol=0, atol=0)
    # RGB fsim uses Y = 0.299 R + 0.587 G + 0.114 B, as FeatureSIM does.
    torch.testing.assert_close(fsim(x, y), fsim(xg, yg), rtol=0, atol=1e-12)


def test_phase_congruency_of_a_step_edge():
    # Kovesi: phase congruency peaks on a step edge (all scales in phase) and decays away from it.
    # The FFT is periodic, so the image also has an edge where it wraps (columns 127 | 0).
    img = torch.zeros(1, 1, 32, 128, dtype=torch.float64)
    img[..., 64:] = 200.0
    pc = phase_congruency(img)[0, 0, 16]
    assert pc.argmax().item() in (0, 63, 64, 127)
    assert pc[63] > 0.8 and pc[64] > 0.8  # measured 0.818
    assert pc[20:44].max() < 0.3  # measured 0.231, 20+ pixels from both edges


def test_filter_bank_is_cached():
    fsim(*_rand_pair(n=1, h=20, w=21))
    assert any(k[:3] == ("fsim_loggabor", 20, 21) for k in _CACHE.keys())
    a, consts = fsim_module._filter_bank(20, 21, torch.float64, torch.device("cpu"))
    b, _ = fsim_module._filter_bank(20, 21, torch.float64, torch.device("cpu"))
    assert a.data_ptr() == b.data_ptr() and a.shape == (16, 20, 21) and consts.shape == (4,)
    assert (a[:, 0, 0] == 0).all()  # every log-Gabor is 0 at DC


def test_matlab_median_convention():
    v = torch.tensor([[4.0, 1.0, 3.0, 2.0], [1.0, 1.0, 5.0, 5.0]])
    torch.testing.assert_close(fsim_module._matlab_median(v), torch.tensor([2.5, 3.0]))
    torch.testing.assert_close(fsim_module._matlab_median(v[:, :3]), torch.tensor([3.0, 1.0]))


# ------------------------------------------------------------------------------------------------
# Generic properties
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", [fsim, fsimc])
def test_identical_symmetric_batch_range(metric):
    x, y = _rand_pair()
    # Identical images: S_PC = S_G = S_I = S_Q = 1 exactly (tolerance: rounding only).
    torch.testing.assert_close(
        metric(y, y.clone()), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12
    )
    v = metric(x, y)
    assert ((v > 0) & (v < 1)).all()
    # Symmetric (2 a b vs 2 b a rounding only).
    torch.testing.assert_close(metric(y, x), v, rtol=0, atol=1e-12)
    # Batch independence.
    single = torch.cat([metric(x[i : i + 1], y[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(v, single, rtol=0, atol=1e-12)
    # data_range invariance (x / 255 vs x on 0-255: rounding only).
    torch.testing.assert_close(metric(x * 255, y * 255, data_range=255.0), v, rtol=0, atol=1e-12)
    torch.testing.assert_close(metric(x, y, reduction="mean"), v.mean())
    torch.testing.assert_close(metric(x, y, reduction="sum"), v.sum())
    # float32 vs float64: required 1e-4 relative.
    torch.testing.assert_close(metric(x.float(), y.float()).double(), v, rtol=1e-4, atol=0)


def test_half_precision_input_is_computed_in_float32():
    x, y = _rand_pair(n=1, dtype=torch.float32)
    v = fsimc(x.half(), y.half())
    assert v.dtype == torch.float32  # the float32 result is returned, not rounded to half
    torch.testing.assert_close(v, fsimc(x.half().float(), y.half().float()), rtol=1e-6, atol=0)


def test_gradcheck():
    g = torch.Generator().manual_seed(5)
    # Full gradcheck of the filter bank and its hand-written backward (noise threshold included).
    img = (torch.rand(2, 1, 9, 12, generator=g, dtype=torch.float64) * 255).requires_grad_(True)
    assert torch.autograd.gradcheck(phase_congruency, (img,), eps=1e-6, atol=1e-6, rtol=1e-4)
    # Whole metrics on 24 x 24 (fast mode: random directional derivatives, a few seconds).
    x, y = _rand_pair(n=1, h=24, w=24, seed=6)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a: fsim(a, y), (x,), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True
    )
    assert torch.autograd.gradcheck(
        lambda a: fsimc(a, y), (x,), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True
    )
    assert torch.autograd.gradcheck(
        lambda a: fsim_map(a, y, chromatic=True, kind="weighted"),
        (x,),
        eps=1e-6,
        atol=1e-6,
        rtol=1e-4,
        fast_mode=True,
    )


def test_second_order_gradient_raises():
    x, y = _rand_pair(n=1, h=16, w=16)
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(fsim(x, y).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


@pytest.mark.parametrize(
    "case", ["identical", "constant", "zeros", "max", "noise", "zeros_vs_noise"]
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_gradients(case, dtype):
    g = torch.Generator().manual_seed(7)
    shape = (2, 3, 24, 24)
    noise = torch.rand(shape, generator=g, dtype=torch.float64)
    x, y = {
        "identical": (noise, noise.clone()),
        "constant": (
            torch.full(shape, 0.3, dtype=torch.float64),
            torch.full(shape, 0.6, dtype=torch.float64),
        ),
        "zeros": (torch.zeros(shape, dtype=torch.float64), torch.zeros(shape, dtype=torch.float64)),
        "max": (torch.ones(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64)),
        "noise": (noise, torch.rand(shape, generator=g, dtype=torch.float64)),
        "zeros_vs_noise": (torch.zeros(shape, dtype=torch.float64), noise),
    }[case]
    for fn in (
        fsim,
        fsimc,
        lambda a, b: fsim_map(a, b, chromatic=True, kind="weighted").mean((1, 2, 3)),
    ):
        xx = x.to(dtype).clone().requires_grad_(True)
        v = fn(xx, y.to(dtype))
        assert torch.isfinite(v).all() and ((v >= 0) & (v <= 1 + 1e-6)).all()
        if case in ("identical", "zeros", "max"):
            torch.testing.assert_close(v, torch.ones_like(v), rtol=0, atol=1e-6)
        v.sum().backward()
        assert torch.isfinite(xx.grad).all()


def test_bad_input():
    x, y = _rand_pair(n=1)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        fsim(x[0], y)
    with pytest.raises(ValueError, match="same shape"):
        fsimc(x, y[..., :-1])
    with pytest.raises(ValueError, match="x must have 1 or 3 channels"):
        fsim(x[:, :2], y[:, :2])
    with pytest.raises(TypeError, match="x must be a floating-point"):
        fsim((x * 255).to(torch.uint8), y)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x contains NaN"):
        fsimc(bad, y)
    with pytest.raises(ValueError, match="y has values .* outside"):
        fsim_map(x, y * 255)
    with input_checks(False):  # switched off for training loops: no error
        fsim(x, y * 1.01)
    with pytest.raises(ValueError, match="x is too small"):
        fsim(x[..., :7, :], y[..., :7, :])
    with pytest.raises(ValueError, match="data_range"):
        fsim(x, y, data_range=0.0)
    with pytest.raises(ValueError, match="reduction"):
        fsim(x, y, reduction="max")
    with pytest.raises(ValueError, match="negative_power"):
        fsimc(x, y, negative_power="real")
    with pytest.raises(ValueError, match="lambda_"):
        fsimc(x, y, lambda_=-1.0)
    with pytest.raises(ValueError, match="kind"):
        fsim_map(x, y, kind="pc")
    with pytest.raises(ValueError, match="phase_congruency: y must have 1 channel"):
        phase_congruency(x)
    with pytest.raises(TypeError, match="floating-point"):
        phase_congruency(torch.zeros(1, 1, 16, 16, dtype=torch.int64))
