"""MATLAB imresize and box downsamplings (qagen.matlab_resize) against SciPy/PIL computations."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import correlate
from scipy.signal import convolve2d

from qagen.filters import AxisOp, filter_path, pad_symmetric
from qagen.matlab_resize import (
    ResizeOp,
    box_downsample_symmetric,
    imresize,
    imresize_matrix,
    imresize_op,
    matlab_downsample,
    matlab_scale_factor,
)


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


def test_imresize_operator_is_uniform_at_one_half_and_equals_the_dense_matrix():
    # imresize(., 0.5) is an 8-tap stride-2 filter with symmetric borders: the slice path gives
    # the general (gather) result of imresize.m's contributions.
    op = imresize_op(40, 0.5)
    assert isinstance(op, AxisOp) and op.stride == 2 and len(op.taps) == 8
    assert (op.before, op.after, op.mode) == (3, 3, "symmetric")
    assert isinstance(imresize_op(41, 0.5), ResizeOp) and isinstance(
        imresize_op(40, 0.75), ResizeOp
    )
    x = torch.rand(2, 1, 40, 36, dtype=torch.float64)
    want = (
        imresize_matrix(40, 0.5, torch.float64, "cpu")
        @ x
        @ imresize_matrix(36, 0.5, torch.float64, "cpu").t()
    )
    for path in ("slices", "gather", "matrix"):
        with filter_path(path):
            torch.testing.assert_close(imresize(x, 0.5), want, rtol=0, atol=1e-13)
    # a non-uniform scale: the gather path against the dense matrix
    want = (
        imresize_matrix(40, 0.75, torch.float64, "cpu")
        @ x
        @ imresize_matrix(36, 0.75, torch.float64, "cpu").t()
    )
    with filter_path("gather"):
        torch.testing.assert_close(imresize(x, 0.75), want, rtol=0, atol=1e-13)
