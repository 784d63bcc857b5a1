"""MATLAB's ``imresize`` and the box downsamplings of ``ssim.m``, FSIM, MDSI and GMSD.

All of them run on the separable-filter engine of :mod:`qagen.filters` (this module imports it;
the engine never imports this module).

* ``imresize(X, s)``, bicubic, antialiased when shrinking (MATLAB ``imresize.m``): along each
  axis ``out[i] = sum_p w[i, p] x[idx[i, p]]`` with output centre mapped to
  ``u_i = i / s + (1 - 1 / s) / 2`` (1-based), weights ``h(u_i - j)`` of the Keys cubic
  (a = -0.5), stretched by 1/s when s < 1 (``h(t) = s * cubic(s t)``), normalised per output,
  indices reflected symmetrically at the borders. :func:`imresize`, :func:`imresize_op`,
  :func:`imresize_matrix`, :class:`ResizeOp`. At s = 1/m (m dividing the length) the operator is
  a uniform m-strided filter with symmetric padding (an :class:`~qagen.filters.AxisOp`: NIQE's
  ``imresize(I, 0.5)``); at other scales a :class:`ResizeOp` (gather path).
* ``conv2(X, ones(F)/F^2, 'same')`` then ``X(1:F:end, 1:F:end)`` with
  ``F = max(1, round(min(H, W) / 256))`` (FeatureSIM.m, MDSI.m, GMSD.m):
  :func:`matlab_scale_factor`, :func:`matlab_downsample`.
* ``imfilter(X, ones(f)/f^2, 'symmetric', 'same')`` then subsampling (``ssim.m``'s automatic
  downsampling, ``msssim.m`` between scales): :func:`box_downsample_symmetric`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from qagen.errors import InputError
from qagen.filters import AxisOp, _operator_matrix, apply_axis, pad2d, taps

__all__ = [
    "ResizeOp",
    "box_downsample_symmetric",
    "imresize",
    "imresize_matrix",
    "imresize_op",
    "matlab_downsample",
    "matlab_scale_factor",
]


def _cubic(t: np.ndarray) -> np.ndarray:
    """Keys cubic kernel with a = -0.5 (MATLAB imresize 'bicubic')."""
    a = np.abs(t)
    a2, a3 = a * a, a * a * a
    return (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1) + (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * (
        (a > 1) & (a <= 2)
    )


@lru_cache(maxsize=64)
def _imresize_weights(in_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imresize`` along one dimension: (0-based indices, weights), each out_len x P.

    ``u = x / scale + 0.5 (1 - 1 / scale)``, P = ceil(kernel width) + 2 candidate inputs from
    floor(u - width / 2), weights normalised per row, indices reflected symmetrically
    (``aux = [1..n, n..1]``), as ``imresize.m``'s ``contributions``.
    """
    out_len = int(math.ceil(in_len * scale))
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width = kernel_width / scale

        def h(t: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * t)
    else:
        h = _cubic
    xo = np.arange(1, out_len + 1, dtype=np.float64)
    u = xo / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    p = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(p, dtype=np.float64)[None, :]  # 1-based input indices
    wts = h(u[:, None] - idx)
    wts = wts / wts.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    idx0 = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    return idx0, wts


@dataclass(frozen=True)
class ResizeOp:
    """MATLAB ``imresize`` along one axis (bicubic, antialiased when shrinking) at any scale."""

    n_in: int
    scale: float
    antialias: bool = True

    uniform = False

    @property
    def n_out(self) -> int:
        return int(math.ceil(self.n_in * self.scale))

    @property
    def n_taps(self) -> int:
        return _imresize_weights(self.n_in, self.scale, self.antialias)[0].shape[1]

    def gather_np(self) -> tuple[np.ndarray, np.ndarray]:
        return _imresize_weights(self.n_in, self.scale, self.antialias)


@lru_cache(maxsize=256)
def imresize_op(n_in: int, scale: float, antialias: bool = True) -> AxisOp | ResizeOp:
    """The operator of MATLAB ``imresize`` along an axis of ``n_in`` pixels.

    At scale 1/m with m an integer dividing ``n_in``, every output has the same taps at a
    stride of m with symmetric borders: an :class:`AxisOp`, so the linear-cost slice path
    applies (NIQE's ``imresize(I, 0.5)``). It is used only when its (index, weight) table is
    exactly MATLAB's. Otherwise a :class:`ResizeOp`.
    """
    idx, w = _imresize_weights(n_in, float(scale), antialias)
    m = round(1.0 / scale)
    if m >= 1 and 1.0 / scale == m and n_in % m == 0 and np.all(w == w[:1]):
        cols = np.flatnonzero(np.any(w != 0.0, axis=0))
        k, n_out = len(cols), n_in // m
        spec = taps(w[0, cols].tolist())
        for before in range(k):
            after = m * (n_out - 1) + k - before - n_in
            if after < 0:
                continue
            op = AxisOp(spec, n_in, m, before, after, "symmetric")
            i2, w2 = op.gather_np()
            if i2.shape == idx[:, cols].shape and np.array_equal(i2, idx[:, cols]):
                if np.array_equal(w2, w[:, cols]):
                    return op
    return ResizeOp(n_in, float(scale), antialias)


def matlab_scale_factor(h: int, w: int) -> int:
    """F = max(1, round(min(H, W) / 256)) with MATLAB's half-away-from-zero rounding."""
    return max(1, int(math.floor(min(h, w) / 256.0 + 0.5)))


def matlab_downsample(x: torch.Tensor, f: int) -> torch.Tensor:
    """``conv2(X, ones(f)/f^2, 'same')`` then ``X(1:f:end, 1:f:end)`` (FSIM, MDSI, GMSD).

    Zero padding (f-1)//2 before and f//2 after, counted in the divisor f^2: an odd last row
    or column is darkened, exactly as MATLAB does. A strided box filter: ``avg_pool2d`` (the
    native strided box, linear cost) over the zero-padded image.
    """
    if f <= 1:
        return x
    x = F.pad(x, ((f - 1) // 2, f // 2, (f - 1) // 2, f // 2))
    return F.avg_pool2d(x, f, stride=f)


def box_downsample_symmetric(x: torch.Tensor, f: int) -> torch.Tensor:
    """``imfilter(X, ones(f)/f^2, 'symmetric', 'same')`` then ``X(1:f:end, 1:f:end)``.

    ``ssim.m`` (automatic downsampling) and ``msssim.m`` (f = 2 between scales). Output size
    ceil(H/f) x ceil(W/f). ``avg_pool2d`` over the symmetrically padded image.
    """
    if f <= 1:
        return x
    x = pad2d(x, ((f - 1) // 2, f // 2, (f - 1) // 2, f // 2), "symmetric")
    return F.avg_pool2d(x, f, stride=f)


def imresize_matrix(
    in_len: int, scale: float, dtype: torch.dtype, device: torch.device, antialias: bool = True
) -> torch.Tensor:
    """Dense ``ceil(scale n) x n`` weight matrix of MATLAB ``imresize`` along one dimension."""
    return _operator_matrix(
        imresize_op(in_len, float(scale), antialias), dtype, torch.device(device)
    )


def imresize(x: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """MATLAB ``imresize(X, scale)`` with the bicubic kernel (a = -0.5), on ... x H x W.

    Shrinking stretches the kernel (antialiasing, as MATLAB's default); borders use symmetric
    index reflection; the output is ceil(scale * size). Not rounded (double-input behaviour).
    Rows first, then columns, as MATLAB does for equal scales. Each dimension is one axis
    operator of the engine (:func:`imresize_op`).
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise InputError(f"imresize: scale must be a finite number > 0, got {scale!r}")
    d = x.dim()
    x = apply_axis(x, imresize_op(x.shape[-2], float(scale), antialias), d - 2)
    return apply_axis(x, imresize_op(x.shape[-1], float(scale), antialias), d - 1)
