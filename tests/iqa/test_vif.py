"""VIFp against the authors' MATLAB values, an independent NumPy/SciPy port, piq and closed forms.

The generic properties (identical images, batch independence, data_range, finite gradients,
input errors, float32) are in test_common.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import MATLAB
from scipy.signal import correlate2d

from qagen.color import to_gray
from qagen.filters import filter_path
from qagen.iqa.vif import vif_p

# Required: 1e-4 absolute in float64. Measured ~1e-14 on both pairs, asserted 1e-9 so that a
# regression in the emulation of vifp_mscale.m shows.
MATLAB_ATOL = 1e-9


def test_matches_matlab(tid_pair, goldhill_pair):
    dist, ref = tid_pair
    assert abs(vif_p(dist, ref, 255).item() - MATLAB["tid"]["vifp_y"]) < MATLAB_ATOL
    gd, gr = goldhill_pair
    assert abs(vif_p(gd, gr, 255).item() - MATLAB["goldhill"]["vifp"]) < MATLAB_ATOL


def test_float32_matches_matlab(tid_pair, goldhill_pair):
    # Recommended float32 bound 1e-3; measured 7e-8 (TID) and 1.5e-7 (goldhill) thanks to the
    # per-image centring (piq, without it: 1.1e-6 and 6.9e-6).
    for (dist, ref), want in (
        (tid_pair, MATLAB["tid"]["vifp_y"]),
        (goldhill_pair, MATLAB["goldhill"]["vifp"]),
    ):
        assert abs(vif_p(dist.float(), ref.float(), 255).item() - want) < 1e-5


def _fspecial_gaussian(n: int, sigma: float) -> np.ndarray:
    t = np.arange(n) - (n - 1) / 2
    xx, yy = np.meshgrid(t, t)
    h = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


def _vifp_numpy(dist: np.ndarray, ref: np.ndarray, sigma_nsq: float = 2.0) -> float:
    """Independent port of vifp_mscale.m (REFERENCE.md 1.7) with 2-D SciPy correlations."""
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = _fspecial_gaussian(n, n / 5)
        if scale > 1:
            ref = correlate2d(ref, win, "valid")[::2, ::2]
            dist = correlate2d(dist, win, "valid")[::2, ::2]
        mu1, mu2 = correlate2d(ref, win, "valid"), correlate2d(dist, win, "valid")
        s1 = correlate2d(ref * ref, win, "valid") - mu1 * mu1
        s2 = correlate2d(dist * dist, win, "valid") - mu2 * mu2
        s12 = correlate2d(ref * dist, win, "valid") - mu1 * mu2
        s1[s1 < 0] = 0
        s2[s2 < 0] = 0
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        g[s1 < 1e-10] = 0
        sv[s1 < 1e-10] = s2[s1 < 1e-10]
        s1[s1 < 1e-10] = 0
        g[s2 < 1e-10] = 0
        sv[s2 < 1e-10] = 0
        sv[g < 0] = s2[g < 0]
        g[g < 0] = 0
        sv[sv <= 1e-10] = 1e-10
        num += np.sum(np.log10(1 + g**2 * s1 / (sv + sigma_nsq)))
        den += np.sum(np.log10(1 + s1 / sigma_nsq))
    return num / den


def _hard_pair(h=72, w=88, seed=0):
    """Reference with flat patches, distorted with a flat, an inverted and a noisy region:
    every correction branch of step 5 (sigma_r^2 ~ 0, sigma_d^2 ~ 0, g < 0) is taken."""
    rng = np.random.default_rng(seed)
    ref = rng.uniform(0, 255, (h, w))
    ref[:30, :30] = 77.0  # flat reference: sigma_r^2 = 0
    dist = ref + rng.normal(0, 20, (h, w))
    dist[40:, :40] = 140.0  # flat distorted: sigma_d^2 = 0
    dist[:, 50:] = 255.0 - ref[:, 50:]  # inverted contrast: g < 0
    return np.clip(dist, 0, 255), ref


def test_matches_independent_numpy_port_on_every_branch():
    dist, ref = _hard_pair()
    want = _vifp_numpy(dist, ref)
    got = vif_p(torch.from_numpy(dist)[None, None], torch.from_numpy(ref)[None, None], 255).item()
    assert abs(got - want) < 1e-12
    # sigma_n^2 is a parameter of the same formula.
    got = vif_p(
        torch.from_numpy(dist)[None, None], torch.from_numpy(ref)[None, None], 255, sigma_n_sq=0.5
    )
    assert abs(got.item() - _vifp_numpy(dist, ref, 0.5)) < 1e-12


@pytest.mark.parametrize("path", ["matrix", "slices", "conv"])
def test_every_filter_path_matches_the_numpy_port(path):
    # The engine picks a path by cost; each must give vifp_mscale.m's value.
    d, r = _hard_pair(61, 97, seed=3)
    want = _vifp_numpy(d, r)
    with filter_path(path):
        got = vif_p(torch.from_numpy(d)[None, None], torch.from_numpy(r)[None, None], 255)
    assert abs(got.item() - want) < 1e-12


def test_matches_piq():
    piq = pytest.importorskip("piq")
    g = torch.Generator().manual_seed(0)
    y = torch.rand(3, 3, 64, 72, generator=g, dtype=torch.float64)
    x = (0.8 * y + 0.1 + 0.1 * torch.randn(3, 3, 64, 72, generator=g, dtype=torch.float64)).clamp(
        0, 1
    )
    # Same Y, windows and corrections; piq's constant in g's denominator and its thresholds
    # are 1e-8 instead of vifp_mscale.m's 1e-10: that moves the value by ~1e-10 relative here.
    torch.testing.assert_close(vif_p(x, y), piq.vif_p(x, y, reduction="none"), rtol=1e-8, atol=0)


def test_matches_piq_on_reference_images(tid_pair):
    piq = pytest.importorskip("piq")
    # piq's 1e-8 constants (vs MATLAB's 1e-10) move its value by 1.2e-10 here.
    dist, ref = tid_pair
    assert abs(vif_p(dist, ref, 255).item() - piq.vif_p(dist, ref, data_range=255).item()) < 1e-8


def test_asymmetric():
    g = torch.Generator().manual_seed(1)
    y = torch.rand(2, 1, 48, 48, generator=g, dtype=torch.float64)
    x = (0.5 * y + 0.2 * torch.rand(2, 1, 48, 48, generator=g, dtype=torch.float64)).clamp(0, 1)
    a, b = vif_p(x, y), vif_p(y, x)
    assert (a - b).abs().min() > 1e-3


def test_closed_forms():
    g = torch.Generator().manual_seed(2)
    y = torch.rand(2, 1, 50, 60, generator=g, dtype=torch.float64) * 0.5
    # A brightness shift keeps every (co)variance: VIFp = 1 up to the 1e-10 constants.
    torch.testing.assert_close(
        vif_p(y + 0.3, y), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-9
    )
    # Contrast stretch x = k y: g = k, sigma_v^2 = 0 -> 1e-10, so every num term is
    # log(1 + k^2 s/(2 + 1e-10)) against den's log(1 + s/2): VIFp > 1 (REFERENCE.md 1.7).
    assert (vif_p(2.0 * y, y) > 1.2).all()
    # Reference with no variance anywhere: num = den = 0, and (0 + 1e-8)/(0 + 1e-8) = 1.
    flat = torch.full((1, 1, 41, 41), 0.4, dtype=torch.float64)
    assert vif_p(
        torch.rand(1, 1, 41, 41, generator=g, dtype=torch.float64), flat
    ).item() == pytest.approx(1.0)
    # Distorted image with no variance: every g is 0, num = 0.
    assert vif_p(flat, torch.rand(1, 1, 41, 41, generator=g, dtype=torch.float64)).item() < 1e-6


def test_gray_options():
    g = torch.Generator().manual_seed(3)
    y = torch.rand(2, 3, 45, 50, generator=g, dtype=torch.float64)
    x = (y + 0.1 * torch.randn(2, 3, 45, 50, generator=g, dtype=torch.float64)).clamp(0, 1)
    # RGB is scored on its grey conversion; grey input is used as given.
    for gray in ("y", "rgb2gray", "tf"):
        want = vif_p(to_gray(x, gray, 1.0), to_gray(y, gray, 1.0))
        torch.testing.assert_close(vif_p(x, y, gray=gray), want, rtol=1e-12, atol=0)
    # MATLAB's rounded rgb2gray is a different number.
    assert (vif_p(x, y, gray="rgb2gray") - vif_p(x, y)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="gray"):
        vif_p(x, y, gray="luma")


def test_minimum_size_is_41():
    g = torch.Generator().manual_seed(4)
    ok = torch.rand(1, 1, 41, 41, generator=g, dtype=torch.float64)
    assert vif_p(ok, ok.flip(-1)).shape == (1,)
    for shape in ((1, 1, 40, 64), (1, 1, 64, 40)):
        small = torch.rand(*shape, generator=g, dtype=torch.float64)
        with pytest.raises(ValueError, match="at least 41 x 41"):
            vif_p(small, small)
    with pytest.raises(ValueError, match="sigma_n_sq"):
        vif_p(ok, ok, sigma_n_sq=0.0)
    with pytest.raises(ValueError, match="reduction"):
        vif_p(ok, ok, reduction="max")


def test_half_precision_and_autocast_compute_in_float32():
    g = torch.Generator().manual_seed(5)
    y = torch.rand(2, 1, 48, 48, generator=g)
    x = (y + 0.1 * torch.randn(2, 1, 48, 48, generator=g)).clamp(0, 1)
    want = vif_p(x.double(), y.double())
    got = vif_p(x.bfloat16(), y.bfloat16())
    assert got.dtype == torch.float32
    # bfloat16 inputs carry 8 bits of mantissa: the images themselves differ by ~0.4%.
    torch.testing.assert_close(got.double(), want, rtol=0.05, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = vif_p(x, y)
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside.double(), want, rtol=1e-5, atol=0)


def test_gradcheck():
    # 41 x 41 is the smallest valid size (one pixel at scale 4). The corrections are hard
    # selections; random images stay away from their thresholds, so central differences
    # (eps 1e-6) see a smooth function and the default tolerances hold. fast_mode (a random
    # projection of the Jacobian) because the full check takes ~100 s for 1681 inputs.
    g = torch.Generator().manual_seed(6)
    y = torch.rand(1, 1, 41, 41, generator=g, dtype=torch.float64)
    x = (0.7 * y + 0.3 * torch.rand(1, 1, 41, 41, generator=g, dtype=torch.float64)).requires_grad_(
        True
    )
    assert torch.autograd.gradcheck(lambda t: vif_p(t, y), (x,), fast_mode=True)
    yy = y.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: vif_p(x.detach(), t), (yy,), fast_mode=True)
