"""MATLAB emulation primitives against NumPy/SciPy/PIL computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import correlate, correlate1d
from scipy.signal import convolve2d

from qagen.color import matlab_round, rgb_to_gray, round_ste
from qagen.filters import (
    MATRIX_LARGE_ELEMENTS,
    MATRIX_MAX_ELEMENTS,
    MATRIX_MAX_LEN,
    MATRIX_SHORT_LEN,
    PAD_MODES,
    AxisOp,
    apply_axis,
    cache_info,
    choose_path,
    clear_cache,
    conv2_same,
    filter_path,
    gaussian_filter,
    gaussian_kernel_1d,
    gaussian_taps,
    separable_filter,
    set_cache_limits,
    taps,
)
from qagen.matlab_resize import imresize


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


def test_gaussian_filter_same_replicate_matches_scipy():
    rng = np.random.default_rng(2)
    a = rng.random((12, 13))
    k = gaussian_kernel_1d(7, 7 / 6, torch.float64).numpy()
    expected = correlate(a, np.outer(k, k), mode="nearest")
    got = gaussian_filter(
        torch.from_numpy(a)[None, None], 7, 7 / 6, padding="same", pad_mode="replicate"
    )
    np.testing.assert_allclose(got[0, 0].numpy(), expected, rtol=1e-12)


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


# ----------------------------------------------------------------------------- filter engine
# scipy.ndimage's names for qagen's (MATLAB's) padding modes.
SCIPY_MODES = {
    "zeros": "constant",
    "replicate": "nearest",
    "symmetric": "reflect",
    "reflect": "mirror",
    "circular": "wrap",
}


@pytest.mark.parametrize("path", ["matrix", "slices", "gather", "conv"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("mode", PAD_MODES)
def test_axis_filter_matches_scipy_correlate1d(mode, stride, path):
    # out[j] = sum_t w[t] xp[stride j + t]: scipy's correlate1d with origin before - k // 2,
    # every stride-th sample. Long axes, and axes shorter than the padding (tiny images).
    rng = np.random.default_rng(stride)
    for n, k, before, after in ((37, 11, 5, 5), (37, 8, 3, 4), (20, 7, 0, 0), (3, 11, 5, 5),
                                (2, 8, 3, 3), (16, 4, 3, 0)):  # fmt: skip
        w = rng.random(k)
        a = rng.random((2, n, 3))
        want = correlate1d(a, w, axis=1, mode=SCIPY_MODES[mode], origin=before - k // 2)
        op = AxisOp(taps(w.tolist()), n, stride, before, after, mode)
        want = want[:, ::stride][:, : op.n_out]
        got = apply_axis(torch.from_numpy(a), op, dim=1, path=path)
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", ["matrix", "slices", "gather", "conv"])
def test_axis_filter_gradients_are_the_adjoint(path):
    # gradcheck compares the backward pass with finite differences; the slice path's backward is
    # hand-written (and its own backward too: second order).
    g = torch.Generator().manual_seed(0)
    # (the padding code is shared by the paths; conv's gradcheck is slow on CPU: two modes)
    for mode in PAD_MODES if path != "conv" else ("zeros", "symmetric"):
        op = AxisOp(taps([0.2, -0.5, 1.0, 0.3]), 6, 2, 3, 2, mode)
        x = torch.rand(2, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t, op=op: apply_axis(t, op, 1, path), (x,))
        if path == "slices":  # the others are autograd's own operations
            assert torch.autograd.gradgradcheck(
                lambda t, op=op: apply_axis(t, op, 1, path) ** 2, (x,)
            )


def test_separable_filter_paths_agree_and_match_scipy_2d():
    rng = np.random.default_rng(4)
    a = rng.random((2, 3, 40, 29))
    k = gaussian_kernel_1d(11, 1.5, torch.float64).numpy()
    want = correlate(a, np.outer(k, k)[None, None], mode="reflect")  # MATLAB 'symmetric'
    for path in ("matrix", "slices", "conv"):
        with filter_path(path):
            got = separable_filter(torch.from_numpy(a), gaussian_taps(11, 1.5), "same", "symmetric")
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
    # a tensor kernel still works (compatibility), with the same values
    legacy = separable_filter(torch.from_numpy(a), torch.from_numpy(k), "same", "symmetric")
    np.testing.assert_allclose(legacy.numpy(), want, rtol=0, atol=1e-12)


def test_kernel_cache_is_bounded():
    clear_cache()
    set_cache_limits(max_bytes=2 * 2**20, max_entries=16)
    try:
        with filter_path("matrix"):  # one operator matrix per image size
            for n in range(20, 60):
                gaussian_filter(torch.rand(1, 1, n, n), 11, 1.5)
        info = cache_info()
        assert info["entries"] <= 16 and info["bytes"] <= 2 * 2**20
    finally:
        set_cache_limits(max_bytes=128 * 2**20, max_entries=256)
        clear_cache()


def test_filters_never_read_tensors_back_to_the_host():
    # Meta tensors have no values: any .tolist()/.item()/.cpu() in the hot path would raise.
    from qagen._checks import input_checks
    from qagen.iqa import ms_ssim, ssim, vif_p

    x = torch.empty(2, 1, 200, 200, device="meta")
    with input_checks(False):
        for path in ("matrix", "slices", "conv"):
            with filter_path(path):
                assert ssim(x, x).shape == (2,)
                assert ms_ssim(x, x).shape == (2,)
                assert vif_p(x, x).shape == (2,)
                assert imresize(x, 0.5).shape == (2, 1, 100, 100)


def test_fixed_rule_picks_the_dense_matrix_only_for_short_axes_on_the_cpu():
    # The rule of docs/performance.md: on the CPU the dense product for short axes (its cost per
    # pixel grows with the side), the linear-cost slices beyond, the gather for non-uniform
    # operators; elsewhere the convolution (uniform) or the gather.
    from qagen.matlab_resize import imresize_op

    spec = gaussian_taps(11, 1.5)
    for n in (16, MATRIX_SHORT_LEN):
        assert choose_path(AxisOp(spec, n), rest=5 * 64 * n) == "matrix"
    for n in (MATRIX_SHORT_LEN + 1, MATRIX_MAX_LEN):  # single images: the matrix; batches: slices
        assert choose_path(AxisOp(spec, n), rest=5 * n) == "matrix"
        assert choose_path(AxisOp(spec, n), rest=MATRIX_MAX_ELEMENTS // n) == "matrix"
        assert choose_path(AxisOp(spec, n), rest=MATRIX_MAX_ELEMENTS // n + 1) == "slices"
        # large tensors: the matrix again for long operators (11 taps), not for short ones
        big = -(-MATRIX_LARGE_ELEMENTS // n)
        assert choose_path(AxisOp(spec, n), rest=big) == "matrix"
        assert choose_path(AxisOp(spec, n), rest=big - 1) == "slices"
        assert choose_path(AxisOp(gaussian_taps(7, 1.0), n), rest=big) == "slices"
    for n in (MATRIX_MAX_LEN + 1, 256, 1024, 16384):
        for rest in (1, 64 * n):
            assert choose_path(AxisOp(spec, n), rest=rest, device="cpu") == "slices"
    resize = imresize_op(301, 0.75)
    assert not resize.uniform and choose_path(resize, rest=301) == "gather"
    assert choose_path(imresize_op(40, 0.75), rest=40) == "matrix"
    for dev in ("meta", torch.device("meta")):
        assert choose_path(AxisOp(spec, 1024), rest=1, device=dev) == "conv"
        assert choose_path(AxisOp(spec, 16), rest=1, device=dev) == "conv"
        assert choose_path(resize, rest=1, device=dev) == "gather"
    with filter_path("slices"):
        assert choose_path(AxisOp(spec, 16), rest=16) == "slices"
        assert choose_path(resize, rest=1) == "gather"
    with filter_path("auto"):
        assert choose_path(AxisOp(spec, 16), rest=16) == "matrix"


def test_filter_path_rejects_unknown_paths():
    with pytest.raises(ValueError, match="path must be one of"):
        with filter_path("fastest"):
            pass
