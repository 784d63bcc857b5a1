"""MATLAB emulation primitives against NumPy/SciPy/PIL computations."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import correlate
from scipy.signal import convolve2d

from qagen.color import matlab_round, rgb_to_gray, round_ste
from qagen.filters import (
    box_downsample_symmetric,
    conv2_same,
    gaussian_filter,
    gaussian_kernel_1d,
    imresize,
    matlab_downsample,
    matlab_scale_factor,
    pad_symmetric,
)


def test_fspecial_gaussian_half_integer_grid():
    k = gaussian_kernel_1d(8, 1.5, torch.float64).numpy()
    t = np.arange(8) - 3.5
    g = np.exp(-(t**2) / 4.5)
    np.testing.assert_allclose(k, g / g.sum(), rtol=1e-14)


def test_conv2_same_matches_scipy_for_odd_and_even_kernels():
    rng = np.random.default_rng(0)
    a = rng.random((7, 9))
    for k in (rng.random((3, 3)), np.ones((2, 2)) / 4, rng.random((4, 4))):
        # MATLAB conv2 'same' = central part of the full convolution starting at floor(k/2).
        full = convolve2d(a, k, mode="full")
        r0, c0 = k.shape[0] // 2, k.shape[1] // 2
        expected = full[r0 : r0 + 7, c0 : c0 + 9]
        got = conv2_same(torch.from_numpy(a)[None, None], torch.from_numpy(k))[0, 0].numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_downsampling_conventions():
    rng = np.random.default_rng(1)
    a = rng.random((7, 10))
    t = torch.from_numpy(a)[None, None]
    # conv2 'same' 2x2 box, then 1:2:end: an odd last row is averaged with zeros.
    full = convolve2d(a, np.ones((2, 2)) / 4, mode="full")[1:8, 1:11]
    np.testing.assert_allclose(matlab_downsample(t, 2)[0, 0].numpy(), full[::2, ::2], rtol=1e-12)
    full3 = convolve2d(a, np.ones((3, 3)) / 9, mode="full")[1:8, 1:11]
    np.testing.assert_allclose(matlab_downsample(t, 3)[0, 0].numpy(), full3[::3, ::3], rtol=1e-12)
    # imfilter 'symmetric' box (centre floor((f+1)/2)), then 1:f:end.
    padded = np.pad(a, ((0, 1), (0, 1)), mode="symmetric")
    sym = correlate(padded, np.ones((2, 2)) / 4, mode="constant", origin=(-1, -1))[:7, :10]
    np.testing.assert_allclose(
        box_downsample_symmetric(t, 2)[0, 0].numpy(), sym[::2, ::2], rtol=1e-12
    )
    np.testing.assert_allclose(
        pad_symmetric(t, (2, 1, 1, 3))[0, 0].numpy(), np.pad(a, ((1, 3), (2, 1)), mode="symmetric")
    )


def test_matlab_scale_factor_rounds_half_away():
    assert matlab_scale_factor(384, 512) == 2  # 1.5 -> 2
    assert matlab_scale_factor(640, 700) == 3  # 2.5 -> 3 (Python's round gives 2)
    assert matlab_scale_factor(100, 100) == 1


def test_gaussian_filter_same_replicate_matches_scipy():
    rng = np.random.default_rng(2)
    a = rng.random((12, 13))
    k = gaussian_kernel_1d(7, 7 / 6, torch.float64).numpy()
    expected = correlate(a, np.outer(k, k), mode="nearest")
    got = gaussian_filter(
        torch.from_numpy(a)[None, None], 7, 7 / 6, padding="same", pad_mode="replicate"
    )
    np.testing.assert_allclose(got[0, 0].numpy(), expected, rtol=1e-12)


def test_imresize_half_matches_pil_bicubic_in_the_interior():
    # PIL's antialiased bicubic uses the same a = -0.5 kernel and centres; it renormalises at the
    # borders instead of reflecting, so compare away from the border (float32 PIL: 1e-4).
    rng = np.random.default_rng(3)
    a = (rng.random((64, 80)) * 255).astype(np.float32)
    got = imresize(torch.from_numpy(a.astype(np.float64))[None, None], 0.5)[0, 0].numpy()
    ref = np.asarray(Image.fromarray(a, mode="F").resize((40, 32), Image.BICUBIC))
    assert got.shape == (32, 40)
    np.testing.assert_allclose(got[3:-3, 3:-3], ref[3:-3, 3:-3], atol=1e-3)
    # Constant images stay constant (weights sum to 1, reflection at the borders).
    c = imresize(torch.full((1, 1, 9, 7), 3.0, dtype=torch.float64), 0.5)
    assert c.shape == (1, 1, 5, 4) and torch.allclose(c, torch.full_like(c, 3.0))


def test_rgb2gray_rounds_half_away_and_passes_gradients():
    v = torch.tensor([0.5, 1.5, 2.5, -0.5])
    assert matlab_round(v).tolist() == [1.0, 2.0, 3.0, -1.0]
    x = torch.tensor([[[[10.0]], [[20.0]], [[30.0]]]], requires_grad=True)
    g = rgb_to_gray(x, "rgb2gray", 255.0)
    exact = 0.298936021293775 * 10 + 0.587043074451121 * 20 + 0.114020904255103 * 30
    assert g.item() == float(np.floor(exact + 0.5))
    g.sum().backward()
    assert torch.allclose(
        x.grad.flatten(), torch.tensor([0.298936021293775, 0.587043074451121, 0.114020904255103])
    )
    assert round_ste(torch.tensor(2.4)).item() == 2.0
