"""Shared image maths: MATLAB-faithful kernels, filtering, downsampling and ``imresize``.

REFERENCE.md section 0.4 describes the MATLAB behaviour reproduced here:

* ``fspecial('gaussian', n, sigma)``: :func:`gaussian_kernel_1d` (separable, normalised).
* ``filter2(w, X, 'valid')``: :func:`separable_filter` with ``padding="valid"``.
* ``imfilter(X, w, 'same', mode)``: :func:`separable_filter` with ``padding="same"`` and
  ``pad_mode`` in {"zeros", "replicate", "symmetric", "reflect", "circular"}.
* ``conv2(X, w, 'same')``: :func:`conv2_same` (true convolution, zero padding).
* ``conv2(X, ones(F)/F^2, 'same')`` then ``X(1:F:end, 1:F:end)``: :func:`matlab_downsample`.
* ``imfilter(X, ones(f)/f^2, 'symmetric', 'same')`` then subsampling: :func:`box_downsample_symmetric`
  (``ssim.m`` and ``msssim.m``).
* ``imresize(X, scale)`` (bicubic, antialiased when shrinking): :func:`imresize`.

Kernels are built once per (parameters, dtype, device) and cached.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

PAD_MODES = ("zeros", "replicate", "symmetric", "reflect", "circular")


@lru_cache(maxsize=64)
def _gaussian_1d_np(size: int, sigma: float) -> tuple[float, ...]:
    """fspecial's sample points -(n-1)/2..(n-1)/2 (half-integers for even n), normalised."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    # fspecial zeroes 2-D entries below eps*max: the smallest 2-D entry is g_min^2 (max 1).
    g2 = np.outer(g, g)
    g2[g2 < np.finfo(np.float64).eps * g2.max()] = 0.0
    g2 /= g2.sum()
    # The 2-D kernel stays separable when nothing was zeroed (all practical sizes here).
    g /= g.sum()
    if not np.allclose(np.outer(g, g), g2, rtol=0, atol=1e-15):
        raise ValueError(
            f"gaussian kernel size={size} sigma={sigma} is not separable after fspecial's eps cut"
        )
    return tuple(g.tolist())


_KERNEL_CACHE: dict[tuple, torch.Tensor] = {}


def _cached(key: tuple, build) -> torch.Tensor:
    k = _KERNEL_CACHE.get(key)
    if k is None:
        k = build()
        _KERNEL_CACHE[key] = k
    return k


def gaussian_kernel_1d(
    size: int, sigma: float, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (sums to 1), cached."""
    device = torch.device(device)
    return _cached(
        ("gauss", size, float(sigma), dtype, device),
        lambda: torch.tensor(_gaussian_1d_np(size, float(sigma)), dtype=dtype, device=device),
    )


def pad_symmetric(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad the last two dims with MATLAB/numpy 'symmetric' reflection (edge pixel repeated).

    ``pad`` = (left, right, top, bottom); each must not exceed the corresponding size.
    """
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    if max(left, right) > w or max(top, bottom) > h:
        raise ValueError(f"symmetric pad {pad} larger than the image {h}x{w}")
    if left or right:
        x = torch.cat([x[..., :left].flip(-1), x, x[..., w - right :].flip(-1)], dim=-1)
    if top or bottom:
        x = torch.cat([x[..., :top, :].flip(-2), x, x[..., h - bottom :, :].flip(-2)], dim=-2)
    return x


def pad2d(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """Pad the last two dims; ``mode`` in :data:`PAD_MODES` (MATLAB names)."""
    if not any(pad):
        return x
    if mode == "symmetric":
        return pad_symmetric(x, pad)
    if mode == "zeros":
        return F.pad(x, pad)
    if mode in ("replicate", "reflect", "circular"):
        return F.pad(x, pad, mode=mode)
    raise ValueError(f"pad_mode must be one of {list(PAD_MODES)}, got {mode!r}")


def _band_matrix(kernel: torch.Tensor, n_in: int) -> torch.Tensor:
    """(n_in - k + 1) x n_in banded matrix M with M[i, i + j] = kernel[j] ('valid' correlation)."""
    k = kernel.numel()
    key = (
        "band",
        tuple(kernel.detach().cpu().double().tolist()),
        n_in,
        kernel.dtype,
        kernel.device,
    )

    def build() -> torch.Tensor:
        n_out = n_in - k + 1
        m = torch.zeros(n_out, n_in, dtype=torch.float64)
        idx = torch.arange(n_out)
        kd = kernel.detach().cpu().double()
        for j in range(k):
            m[idx, idx + j] = kd[j]
        return m.to(dtype=kernel.dtype, device=kernel.device)

    return _cached(key, build)


#: Largest side filtered with banded matrix products; larger images use shifted-slice sums.
#: On CPU, BLAS matrix products beat PyTorch's depthwise convolution (and its backward) by
#: 3-5x for images up to a few hundred pixels; their cost grows with the side, slices' do not.
BAND_MATMUL_MAX = 640


def _valid_filter_1d(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    k = kernel.numel()
    if n <= BAND_MATMUL_MAX:
        m = _band_matrix(kernel, n)
        return torch.matmul(m, x) if dim == -2 else torch.matmul(x, m.t())
    n_out = n - k + 1
    out = x.narrow(dim, 0, n_out) * kernel[0]
    for j in range(1, k):
        out = out + x.narrow(dim, j, n_out) * kernel[j]
    return out


def separable_filter(
    x: torch.Tensor,
    kernel: torch.Tensor,
    padding: str = "valid",
    pad_mode: str = "replicate",
) -> torch.Tensor:
    """Correlate every channel of ``x`` (N x C x H x W) with ``kernel`` along H then W.

    ``padding="valid"`` is ``filter2(w, X, 'valid')``; ``"same"`` pads with ``pad_mode`` using
    MATLAB's centre (index floor((n+1)/2)), i.e. (n-1)//2 before and n//2 after. Implemented as
    banded matrix products (small images) or shifted-slice sums (large images): both exact.
    """
    k = kernel.numel()
    if padding == "same":
        before, after = (k - 1) // 2, k // 2
        x = pad2d(x, (before, after, before, after), pad_mode)
    elif padding != "valid":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    kernel = kernel.to(dtype=x.dtype, device=x.device)
    x = _valid_filter_1d(x, kernel, -2)
    return _valid_filter_1d(x, kernel, -1)


def gaussian_filter(
    x: torch.Tensor,
    size: int,
    sigma: float,
    padding: str = "valid",
    pad_mode: str = "replicate",
) -> torch.Tensor:
    """Separable Gaussian filtering with an ``fspecial('gaussian', size, sigma)`` window."""
    return separable_filter(
        x, gaussian_kernel_1d(size, sigma, x.dtype, x.device), padding, pad_mode
    )


def conv2_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """MATLAB ``conv2(X, k, 'same')`` per channel: true convolution with zero padding.

    ``kernel`` is a 2-D tensor (kh x kw). The output is the centre of the full convolution,
    starting at index floor(k/2) (0-based).
    """
    c = x.shape[1]
    kh, kw = kernel.shape
    flipped = kernel.flip(0).flip(1).to(dtype=x.dtype, device=x.device)
    # full result row i = sum_k X[i-k] w[k]; 'same' keeps rows floor(kh/2) .. floor(kh/2)+H-1,
    # which is a correlation with the flipped kernel over X padded (kh-1-kh//2) before, kh//2 after.
    pad = (kw - 1 - kw // 2, kw // 2, kh - 1 - kh // 2, kh // 2)
    x = F.pad(x, pad)
    return F.conv2d(x, flipped.view(1, 1, kh, kw).expand(c, 1, kh, kw), groups=c)


def matlab_scale_factor(h: int, w: int) -> int:
    """F = max(1, round(min(H, W) / 256)) with MATLAB's half-away-from-zero rounding."""
    return max(1, int(math.floor(min(h, w) / 256.0 + 0.5)))


def matlab_downsample(x: torch.Tensor, f: int) -> torch.Tensor:
    """``conv2(X, ones(f)/f^2, 'same')`` then ``X(1:f:end, 1:f:end)`` (FSIM, MDSI, GMSD).

    Zero padding (f-1)//2 before and f//2 after, counted in the divisor f^2: an odd last row
    or column is darkened, exactly as MATLAB does.
    """
    if f <= 1:
        return x
    x = F.pad(x, ((f - 1) // 2, f // 2, (f - 1) // 2, f // 2))
    return F.avg_pool2d(x, f, stride=f)


def box_downsample_symmetric(x: torch.Tensor, f: int) -> torch.Tensor:
    """``imfilter(X, ones(f)/f^2, 'symmetric', 'same')`` then ``X(1:f:end, 1:f:end)``.

    ``ssim.m`` (automatic downsampling) and ``msssim.m`` (f = 2 between scales). Output size
    ceil(H/f) x ceil(W/f).
    """
    if f <= 1:
        return x
    x = pad_symmetric(x, ((f - 1) // 2, f // 2, (f - 1) // 2, f // 2))
    return F.avg_pool2d(x, f, stride=f)


def _cubic(t: np.ndarray) -> np.ndarray:
    """Keys cubic kernel with a = -0.5 (MATLAB imresize 'bicubic')."""
    a = np.abs(t)
    a2, a3 = a * a, a * a * a
    return (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1) + (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * (
        (a > 1) & (a <= 2)
    )


@lru_cache(maxsize=64)
def _imresize_matrix_np(in_len: int, scale: float, antialias: bool) -> np.ndarray:
    """Dense (out_len x in_len) weight matrix of MATLAB ``imresize`` along one dimension."""
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
    # Symmetric index reflection: aux = [1..n, n..1]
    aux = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    idx0 = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), p)
    np.add.at(mat, (rows, idx0.ravel()), wts.ravel())
    return mat


def imresize_matrix(
    in_len: int, scale: float, dtype: torch.dtype, device: torch.device, antialias: bool = True
) -> torch.Tensor:
    """Cached torch version of the MATLAB ``imresize`` weight matrix for one dimension."""
    return _cached(
        ("imresize", in_len, float(scale), antialias, dtype, device),
        lambda: torch.from_numpy(_imresize_matrix_np(in_len, float(scale), antialias)).to(
            dtype=dtype, device=device
        ),
    )


def imresize(x: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """MATLAB ``imresize(X, scale)`` with the bicubic kernel (a = -0.5), on N x C x H x W.

    Shrinking stretches the kernel (antialiasing, as MATLAB's default); borders use symmetric
    index reflection; the output is ceil(scale * size). Not rounded (double-input behaviour).
    Implemented as two dense matrix products (rows first, as MATLAB does for equal scales).
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    h, w = x.shape[-2:]
    mh = imresize_matrix(h, scale, x.dtype, x.device, antialias)
    mw = imresize_matrix(w, scale, x.dtype, x.device, antialias)
    x = torch.matmul(mh, x)
    return torch.matmul(x, mw.t())
