"""Shared image maths: one separable-filter engine, MATLAB-faithful kernels, padding, gradients.

Every linear filter of the metrics is an **axis operator** applied along one dimension:
``out[j] = sum_t w[t] xp[stride * j + t]`` with ``xp`` the input padded by ``(before, after)``
in one of :data:`PAD_MODES` (:class:`AxisOp`), or any operator with per-output weights at
per-output source indices (``uniform = False``: :class:`qagen.matlab_resize.ResizeOp`, MATLAB
``imresize`` at a scale that is not 1/m). Operators are hashable specs (taps, length, stride,
padding, mode); their taps are Python floats computed on the host once, so applying an operator
never reads a tensor back from the device.

:func:`apply_axis` runs an operator by one of four paths, all exact to rounding:

* ``"matrix"``: one product with the cached dense ``n_out x n_in`` operator matrix (padding and
  stride folded in). Cost grows with n_out * n_in per line: only for short axes.
* ``"slices"``: a sum of shifted (strided) slices of the padded input, with a hand-written
  backward pass (the adjoint, itself differentiable). Cost linear in the pixel count.
* ``"gather"``: per-tap ``index_select`` sums, for non-uniform operators; linear cost.
* ``"conv"``: a one-channel ``conv2d``; what a GPU uses.

``path="auto"`` (default) follows a fixed rule (:func:`choose_path`): on the CPU the dense
matrix for short axes (at most :data:`MATRIX_SHORT_LEN` pixels, or :data:`MATRIX_MAX_LEN` in a
tensor of at most :data:`MATRIX_MAX_ELEMENTS` elements, or of at least
:data:`MATRIX_LARGE_ELEMENTS` elements for an operator of at least :data:`MATRIX_LARGE_TAPS`
taps: SSIM's 11-tap window at large batches), else the slices (uniform operators) or
the gather (non-uniform ones); on other devices the convolution (uniform) or the gather. The
rule was measured against the cost model it replaced and against every forced path
(``benchmarks/filter_paths.py``, docs/performance.md). :func:`filter_path` forces a path
(tests, benchmarks). Operator matrices, kernels and index tables live in one bounded LRU cache
(:func:`cache_info`, :func:`set_cache_limits`).

MATLAB behaviour reproduced (MATLAB documentation of each function):

* ``fspecial('gaussian', n, sigma)``: :func:`gaussian_taps` / :func:`gaussian_kernel_1d`.
* ``filter2(w, X, 'valid')``: :func:`separable_filter` with ``padding="valid"``.
* ``imfilter(X, w, mode, 'same')``: :func:`separable_filter` with ``padding="same"``, mode
  "replicate", "symmetric", "circular" or "zeros" (MATLAB's default 0); "reflect" is NumPy's
  and PyTorch's (edge not repeated).
* ``conv2(X, w, 'same')``: :func:`conv2_same`.
* 3 x 3 gradient operators (Prewitt, Sobel, FSIM's Scharr) with ``conv2 'same'``: :func:`gradients`.

``imresize`` and the box downsamplings of ``ssim.m`` / FSIM / MDSI / GMSD live in
:mod:`qagen.matlab_resize` (which imports this module, never the reverse).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from qagen.errors import InputError, InputTypeError

__all__ = [
    "PAD_MODES",
    "MATRIX_LARGE_ELEMENTS",
    "MATRIX_LARGE_TAPS",
    "MATRIX_MAX_ELEMENTS",
    "MATRIX_MAX_LEN",
    "MATRIX_SHORT_LEN",
    "PATHS",
    "AxisOp",
    "Taps",
    "apply_axis",
    "cache_info",
    "choose_path",
    "clear_cache",
    "conv2_same",
    "filter1d",
    "filter_path",
    "gaussian_filter",
    "gaussian_kernel_1d",
    "gaussian_taps",
    "gradients",
    "pad2d",
    "pad_symmetric",
    "separable_filter",
    "set_cache_limits",
    "taps",
]

PAD_MODES = ("zeros", "replicate", "symmetric", "reflect", "circular")
PATHS = ("auto", "matrix", "slices", "gather", "conv")


# ================================================================================================
# Taps: hashable 1-D kernels
# ================================================================================================
@dataclass(frozen=True)
class Taps:
    """A 1-D kernel identified by a hashable spec; its values are computed on the host once.

    ``kind="gaussian"``, ``params=(size, sigma)``: MATLAB ``fspecial('gaussian', size, sigma)``'s
    separable factor (sample points -(n-1)/2 .. (n-1)/2, half-integers for even n, sum 1).
    ``kind="values"``, ``params``: the taps themselves (floats). Build with :func:`gaussian_taps`
    and :func:`taps`.
    """

    kind: str
    params: tuple

    @property
    def values(self) -> tuple[float, ...]:
        """The taps as Python floats (cached)."""
        return _tap_values(self)

    def __len__(self) -> int:
        return len(self.values)


@lru_cache(maxsize=256)
def _tap_values(spec: Taps) -> tuple[float, ...]:
    if spec.kind == "values":
        return tuple(float(v) for v in spec.params)
    if spec.kind == "gaussian":
        return _gaussian_1d_np(*spec.params)
    raise InputError(f"Taps: kind must be 'gaussian' or 'values', got {spec.kind!r}")


@lru_cache(maxsize=64)
def _gaussian_1d_np(size: int, sigma: float) -> tuple[float, ...]:
    """fspecial's sample points -(n-1)/2..(n-1)/2 (half-integers for even n), normalised."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InputError(f"gaussian window size must be an integer >= 1, got {size!r}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise InputError(f"gaussian window sigma must be finite and > 0, got {sigma!r}")
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    # fspecial zeroes 2-D entries below eps*max: the smallest 2-D entry is g_min^2 (max 1).
    g2 = np.outer(g, g)
    g2[g2 < np.finfo(np.float64).eps * g2.max()] = 0.0
    g2 /= g2.sum()
    g /= g.sum()
    # The 2-D kernel stays separable when nothing was zeroed (all practical sizes here).
    if not np.allclose(np.outer(g, g), g2, rtol=0, atol=1e-15):
        raise InputError(
            f"gaussian window size={size} sigma={sigma} is not separable after fspecial's eps cut"
        )
    return tuple(g.tolist())


def gaussian_taps(size: int, sigma: float) -> Taps:
    """:class:`Taps` of MATLAB ``fspecial('gaussian', size, sigma)`` (separable factor, sum 1)."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise InputError(f"gaussian window size must be an integer >= 1, got {size!r}")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise InputTypeError(f"gaussian window sigma must be a number, got {type(sigma).__name__}")
    spec = Taps("gaussian", (int(size), float(sigma)))
    spec.values  # noqa: B018 - validate sigma now, not at the first use
    return spec


def taps(values) -> Taps:
    """:class:`Taps` holding the given values (a sequence of numbers, not a tensor)."""
    if isinstance(values, torch.Tensor):
        raise InputTypeError(
            "taps: values must be a sequence of Python numbers, got a tensor (reading it back "
            "would synchronise the device; build the taps from numbers)"
        )
    vals = tuple(float(v) for v in values)
    if not vals or not all(math.isfinite(v) for v in vals):
        raise InputError(f"taps: values must be a non-empty sequence of finite numbers, got {vals}")
    return Taps("values", vals)


# ================================================================================================
# Axis operators
# ================================================================================================
def _pad_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of every position of a padded axis; -1 marks a zero ("zeros" mode)."""
    idx = np.arange(-before, n + after)
    if mode == "zeros":
        return np.where((idx >= 0) & (idx < n), idx, -1)
    if mode == "replicate":
        return np.clip(idx, 0, n - 1)
    if mode == "symmetric":  # ... b a | a b c ... (edge repeated), period 2n
        idx = np.mod(idx, 2 * n)
        return np.where(idx < n, idx, 2 * n - 1 - idx)
    if mode == "reflect":  # ... c b | a b c ... (edge not repeated), period 2n - 2
        if n == 1:
            return np.zeros_like(idx)
        idx = np.mod(idx, 2 * n - 2)
        return np.where(idx < n, idx, 2 * n - 2 - idx)
    if mode == "circular":
        return np.mod(idx, n)
    raise InputError(f"pad_mode must be one of {list(PAD_MODES)}, got {mode!r}")


@dataclass(frozen=True)
class AxisOp:
    """``out[j] = sum_t taps[t] xp[stride j + t]``, xp = the axis padded by (before, after) in ``mode``.

    Output length ``(n_in + before + after - len(taps)) // stride + 1``.
    """

    taps: Taps
    n_in: int
    stride: int = 1
    before: int = 0
    after: int = 0
    mode: str = "zeros"

    uniform = True

    def __post_init__(self) -> None:
        if self.mode not in PAD_MODES:
            raise InputError(f"pad_mode must be one of {list(PAD_MODES)}, got {self.mode!r}")
        if self.stride < 1 or self.before < 0 or self.after < 0:
            raise InputError(
                f"stride must be >= 1 and padding >= 0, got stride={self.stride}, "
                f"padding=({self.before}, {self.after})"
            )
        if self.n_in < 1 or self.n_in + self.before + self.after < len(self.taps):
            raise InputError(
                f"an axis of {self.n_in} pixels padded by ({self.before}, {self.after}) is shorter "
                f"than the {len(self.taps)}-tap filter"
            )

    @property
    def n_out(self) -> int:
        return (self.n_in + self.before + self.after - len(self.taps)) // self.stride + 1

    @property
    def n_taps(self) -> int:
        """Non-zero taps: what the slice path pays for."""
        return sum(1 for v in self.taps.values if v != 0.0)

    def gather_np(self) -> tuple[np.ndarray, np.ndarray]:
        """(source indices, weights), each ``n_out x k``; index -1 reads a zero."""
        k = len(self.taps)
        pos = self.stride * np.arange(self.n_out)[:, None] + np.arange(k)[None, :]
        idx = _pad_index(self.n_in, self.before, self.after, self.mode)[pos]
        w = np.broadcast_to(np.asarray(self.taps.values), idx.shape)
        return idx, np.where(idx >= 0, w, 0.0)


# ================================================================================================
# One bounded LRU cache for kernels, operator matrices, index tables and filter banks
# ================================================================================================
class _LRU:
    """Least-recently-used cache of tensors bounded by entry count and total bytes (thread-safe)."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self._d: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(v) -> int:
        if isinstance(v, torch.Tensor):
            return v.numel() * v.element_size()
        if isinstance(v, (tuple, list)):
            return sum(_LRU._size(t) for t in v)
        return 0

    def get(self, key, build: Callable):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key][0]
        value = build()  # outside the lock: builds may use the cache themselves
        size = self._size(value)
        with self._lock:
            if key not in self._d and size <= self.max_bytes:
                self._d[key] = (value, size)
                self._bytes += size
                self._evict()
        return value

    def _evict(self) -> None:
        while self._d and (len(self._d) > self.max_entries or self._bytes > self.max_bytes):
            _, (_, size) = self._d.popitem(last=False)
            self._bytes -= size

    def info(self) -> dict:
        with self._lock:
            return {
                "entries": len(self._d),
                "bytes": self._bytes,
                "max_entries": self.max_entries,
                "max_bytes": self.max_bytes,
            }

    def keys(self) -> list:
        with self._lock:
            return list(self._d)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self._bytes = 0


_CACHE = _LRU(max_bytes=128 * 2**20, max_entries=256)


def _cached(key: tuple, build: Callable):
    """The cached value of ``key`` (built by ``build()`` on a miss); one bounded LRU cache."""
    return _CACHE.get(key, build)


def cache_info() -> dict:
    """Entries and bytes held by the kernel/operator cache, and its limits."""
    return _CACHE.info()


def clear_cache() -> None:
    """Drop every cached kernel, operator matrix, index table and filter bank."""
    _CACHE.clear()


def set_cache_limits(max_bytes: int | None = None, max_entries: int | None = None) -> None:
    """Bound the cache (defaults 128 MiB and 256 entries); least recently used entries go first."""
    if max_bytes is not None:
        if max_bytes < 0:
            raise InputError(f"max_bytes must be >= 0, got {max_bytes}")
        _CACHE.max_bytes = int(max_bytes)
    if max_entries is not None:
        if max_entries < 0:
            raise InputError(f"max_entries must be >= 0, got {max_entries}")
        _CACHE.max_entries = int(max_entries)
    with _CACHE._lock:
        _CACHE._evict()


# ================================================================================================
# Padding along one axis (forward and adjoint)
# ================================================================================================
def _index_tensor(n: int, before: int, after: int, mode: str, device: torch.device):
    return _cached(
        ("pad_index", n, before, after, mode, device),
        lambda: torch.from_numpy(_pad_index(n, before, after, mode)).to(device),
    )


def _pad_axis(x: torch.Tensor, dim: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Pad one axis of ``x`` (differentiable torch operations)."""
    if not (before or after):
        return x
    n = x.shape[dim]
    if mode == "zeros":
        parts = []
        if before:
            s = list(x.shape)
            s[dim] = before
            parts.append(x.new_zeros(s))
        parts.append(x)
        if after:
            s = list(x.shape)
            s[dim] = after
            parts.append(x.new_zeros(s))
        return torch.cat(parts, dim)
    if mode == "replicate":
        head = x.narrow(dim, 0, 1)
        tail = x.narrow(dim, n - 1, 1)
        parts = (
            [head.expand(*[before if d == dim else -1 for d in range(x.dim())])] if before else []
        )
        parts.append(x)
        if after:
            parts.append(tail.expand(*[after if d == dim else -1 for d in range(x.dim())]))
        return torch.cat(parts, dim)
    if mode == "symmetric" and max(before, after) <= n:
        parts = [x.narrow(dim, 0, before).flip(dim)] if before else []
        parts.append(x)
        if after:
            parts.append(x.narrow(dim, n - after, after).flip(dim))
        return torch.cat(parts, dim)
    if mode == "reflect" and max(before, after) < n:
        parts = [x.narrow(dim, 1, before).flip(dim)] if before else []
        parts.append(x)
        if after:
            parts.append(x.narrow(dim, n - 1 - after, after).flip(dim))
        return torch.cat(parts, dim)
    if mode == "circular" and max(before, after) <= n:
        parts = [x.narrow(dim, n - before, before)] if before else []
        parts.append(x)
        if after:
            parts.append(x.narrow(dim, 0, after))
        return torch.cat(parts, dim)
    # Pads longer than the axis (tiny images): a gather by the padded index table.
    return x.index_select(dim, _index_tensor(n, before, after, mode, x.device))


def _fold_axis(gp: torch.Tensor, dim: int, n: int, before: int, after: int, mode: str):
    """Adjoint of :func:`_pad_axis`: add the padding's gradient back onto its source pixels."""
    if not (before or after):
        return gp
    if mode == "zeros":
        return gp.narrow(dim, before, n)
    simple = (
        mode == "replicate"
        or (mode in ("symmetric", "circular") and max(before, after) <= n)
        or (mode == "reflect" and max(before, after) < n)
    )
    if not simple:
        idx = _index_tensor(n, before, after, mode, gp.device)
        shape = list(gp.shape)
        shape[dim] = n
        return gp.new_zeros(shape).index_add_(dim, idx, gp)
    gx = gp.narrow(dim, before, n).clone()
    head = gp.narrow(dim, 0, before)
    tail = gp.narrow(dim, before + n, after)
    if mode == "replicate":
        if before:
            gx.narrow(dim, 0, 1).add_(head.sum(dim, keepdim=True))
        if after:
            gx.narrow(dim, n - 1, 1).add_(tail.sum(dim, keepdim=True))
    elif mode == "symmetric":
        if before:
            gx.narrow(dim, 0, before).add_(head.flip(dim))
        if after:
            gx.narrow(dim, n - after, after).add_(tail.flip(dim))
    elif mode == "reflect":
        if before:
            gx.narrow(dim, 1, before).add_(head.flip(dim))
        if after:
            gx.narrow(dim, n - 1 - after, after).add_(tail.flip(dim))
    else:  # circular
        if before:
            gx.narrow(dim, n - before, before).add_(head)
        if after:
            gx.narrow(dim, 0, after).add_(tail)
    return gx


def pad2d(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """Pad the last two dims by ``(left, right, top, bottom)``; ``mode`` in :data:`PAD_MODES`.

    Pads longer than the image repeat the mode's pattern (MATLAB ``padarray`` behaviour).
    """
    if mode not in PAD_MODES:
        raise InputError(f"pad_mode must be one of {list(PAD_MODES)}, got {mode!r}")
    left, right, top, bottom = pad
    x = _pad_axis(x, x.dim() - 1, left, right, mode)
    return _pad_axis(x, x.dim() - 2, top, bottom, mode)


def pad_symmetric(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad the last two dims with MATLAB/NumPy 'symmetric' reflection (edge pixel repeated).

    ``pad`` = (left, right, top, bottom).
    """
    return pad2d(x, pad, "symmetric")


# ================================================================================================
# The four paths
# ================================================================================================
def _strided(x: torch.Tensor, dim: int, start: int, count: int, stride: int) -> torch.Tensor:
    if stride == 1:
        return x.narrow(dim, start, count)
    sl = [slice(None)] * x.dim()
    sl[dim] = slice(start, start + stride * (count - 1) + 1, stride)
    return x[tuple(sl)]


def _slices_forward(x: torch.Tensor, op: AxisOp, dim: int) -> torch.Tensor:
    xp = _pad_axis(x, dim, op.before, op.after, op.mode)
    out = None
    for t, w in enumerate(op.taps.values):
        if w == 0.0:
            continue
        part = _strided(xp, dim, t, op.n_out, op.stride)
        if out is None:
            out = torch.mul(part, w)
        else:
            out.add_(part, alpha=w)
    if out is None:
        shape = list(x.shape)
        shape[dim] = op.n_out
        out = x.new_zeros(shape)
    return out


def _slices_adjoint(g: torch.Tensor, op: AxisOp, dim: int) -> torch.Tensor:
    shape = list(g.shape)
    shape[dim] = op.n_in + op.before + op.after
    gp = g.new_zeros(shape)
    for t, w in enumerate(op.taps.values):
        if w != 0.0:
            _strided(gp, dim, t, op.n_out, op.stride).add_(g, alpha=w)
    return _fold_axis(gp, dim, op.n_in, op.before, op.after, op.mode)


class _Slices(torch.autograd.Function):
    """The slice path; backward is :class:`_SlicesT` (the adjoint), so any order differentiates."""

    @staticmethod
    def forward(ctx, x, op, dim):  # type: ignore[override]
        ctx.op, ctx.dim = op, dim
        return _slices_forward(x, op, dim)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return _SlicesT.apply(g, ctx.op, ctx.dim), None, None


class _SlicesT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g, op, dim):  # type: ignore[override]
        ctx.op, ctx.dim = op, dim
        return _slices_adjoint(g, op, dim)

    @staticmethod
    def backward(ctx, gg):  # type: ignore[override]
        return _Slices.apply(gg, ctx.op, ctx.dim), None, None


def _operator_matrix(op, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Dense ``n_out x n_in`` matrix of an operator (padding and stride folded in), cached."""

    def build() -> torch.Tensor:
        idx, w = op.gather_np()
        m = np.zeros((op.n_out, op.n_in), dtype=np.float64)
        rows = np.broadcast_to(np.arange(op.n_out)[:, None], idx.shape)
        ok = idx >= 0
        np.add.at(m, (rows[ok], idx[ok]), w[ok])
        return torch.from_numpy(m).to(dtype=dtype, device=device)

    return _cached(("matrix", op, dtype, device), build)


def _matrix_apply(x: torch.Tensor, op, dim: int) -> torch.Tensor:
    m = _operator_matrix(op, x.dtype, x.device)
    if dim == x.dim() - 1:
        return torch.matmul(x, m.t())
    if dim == x.dim() - 2:
        return torch.matmul(m, x)
    return torch.matmul(x.movedim(dim, -1), m.t()).movedim(-1, dim)


def _gather_apply(x: torch.Tensor, op, dim: int) -> torch.Tensor:
    def build():
        idx, w = op.gather_np()
        ok = idx >= 0
        return (
            torch.from_numpy(np.where(ok, idx, 0)).to(device=x.device),
            torch.from_numpy(np.where(ok, w, 0.0)).to(dtype=x.dtype, device=x.device),
        )

    idx, w = _cached(("gather", op, x.dtype, x.device), build)
    shape = [1] * x.dim()
    shape[dim] = op.n_out
    out = None
    for t in range(idx.shape[1]):
        term = x.index_select(dim, idx[:, t]) * w[:, t].view(shape)
        out = term if out is None else out + term
    return out


def _conv_apply(x: torch.Tensor, op: AxisOp, dim: int) -> torch.Tensor:
    xp = _pad_axis(x, dim, op.before, op.after, op.mode)
    k = len(op.taps)
    w = _cached(
        ("conv_taps", op.taps, x.dtype, x.device),
        lambda: torch.tensor(op.taps.values, dtype=x.dtype, device=x.device),
    )
    if dim == x.dim() - 2:
        shape = xp.shape
        y = F.conv2d(
            xp.reshape(-1, 1, shape[-2], shape[-1]), w.view(1, 1, k, 1), stride=(op.stride, 1)
        )
        return y.reshape(*shape[:-2], *y.shape[-2:])
    moved = xp.movedim(dim, -1)
    shape = moved.shape
    y = F.conv2d(moved.reshape(-1, 1, 1, shape[-1]), w.view(1, 1, 1, k), stride=(1, op.stride))
    return y.reshape(*shape[:-1], y.shape[-1]).movedim(-1, dim)


def _run(path: str, x: torch.Tensor, op, dim: int) -> torch.Tensor:
    if path == "matrix":
        return _matrix_apply(x, op, dim)
    if path == "gather" or not op.uniform:
        return _gather_apply(x, op, dim)
    if path == "slices":
        return _Slices.apply(x, op, dim)
    return _conv_apply(x, op, dim)


# ================================================================================================
# Dispatch by a fixed rule
# ================================================================================================
#: The CPU filters an axis by the dense matrix when it has at most MATRIX_SHORT_LEN input pixels,
#: or at most MATRIX_MAX_LEN pixels in a tensor of at most MATRIX_MAX_ELEMENTS elements (single
#: images); otherwise by the slices (linear cost; they won at 64 px in batches of 64). Measured
#: inside the metrics: benchmarks/filter_paths.py, docs/performance.md.
MATRIX_SHORT_LEN = 32
MATRIX_MAX_LEN = 64
MATRIX_MAX_ELEMENTS = 2**18
#: at MATRIX_MAX_LEN, long operators (SSIM's 11-tap window, VIFp's 17) on large tensors (batch
#: >= 256 of 64 px images) also take the matrix: the slices pass over the tensor once per tap,
#: which stops fitting in the cache (SSIM 64 px x1000 fwd+bwd: 394 ms matrix, 485 ms slices)
MATRIX_LARGE_ELEMENTS = 2**22
MATRIX_LARGE_TAPS = 11

_FORCED: list[str] = []  # stack of filter_path() blocks


def choose_path(op, rest: int, device: torch.device | str = "cpu", last: bool = True) -> str:
    """The path :func:`apply_axis` takes for ``op`` on ``device`` (a fixed rule).

    Inside a :func:`filter_path` block, the forced path ("gather" for non-uniform operators
    when "slices" or "conv" is forced). Otherwise, on the CPU: "matrix" for short axes
    (``n_in <= MATRIX_SHORT_LEN``, or ``n_in <= MATRIX_MAX_LEN`` when the tensor has
    ``rest * n_in <= MATRIX_MAX_ELEMENTS`` elements, or at least ``MATRIX_LARGE_ELEMENTS`` with
    ``n_taps >= MATRIX_LARGE_TAPS``), else "slices" for uniform operators and
    "gather" for non-uniform ones; on other devices: "conv" (uniform) or "gather". ``rest`` is
    the number of lines filtered (the product of the other dims); ``last`` (along the last dim)
    is accepted and unused.
    """
    if _FORCED and _FORCED[-1] != "auto":
        forced = _FORCED[-1]
        return "gather" if forced in ("slices", "conv") and not op.uniform else forced
    if torch.device(device).type == "cpu":
        n, elements = op.n_in, rest * op.n_in
        if n <= MATRIX_SHORT_LEN or (n <= MATRIX_MAX_LEN and elements <= MATRIX_MAX_ELEMENTS):
            return "matrix"
        if (
            n <= MATRIX_MAX_LEN
            and op.n_taps >= MATRIX_LARGE_TAPS
            and elements >= MATRIX_LARGE_ELEMENTS
        ):
            return "matrix"
        return "slices" if op.uniform else "gather"
    return "conv" if op.uniform else "gather"


@contextlib.contextmanager
def filter_path(path: str) -> Iterator[None]:
    """Force every axis filter in the block onto one path ("auto": the fixed rule decides).

    Non-uniform operators (imresize at scales other than 1/m) cannot use "slices" or "conv"
    and take "gather" instead. For tests and benchmarks; results agree to rounding.
    """
    if path not in PATHS:
        raise InputError(f"path must be one of {list(PATHS)}, got {path!r}")
    _FORCED.append(path)
    try:
        yield
    finally:
        _FORCED.pop()


def apply_axis(x: torch.Tensor, op, dim: int = -1, path: str | None = None) -> torch.Tensor:
    """Apply an axis operator along ``dim`` of ``x``.

    ``op``: an :class:`AxisOp`, or any operator with the same interface (``n_in``, ``n_out``,
    ``uniform``, ``n_taps``, ``gather_np()``), such as :class:`qagen.matlab_resize.ResizeOp`.
    ``path`` None or "auto": :func:`choose_path`. The shape of ``x`` along ``dim`` must be
    ``op.n_in``. Differentiable (any order).
    """
    dim = dim % x.dim()
    if x.shape[dim] != op.n_in:
        raise InputError(
            f"the operator is for an axis of {op.n_in} pixels, the tensor has {x.shape[dim]} "
            f"along dim {dim} (shape {tuple(x.shape)})"
        )
    if path is None or path == "auto":
        rest = x.numel() // max(op.n_in, 1)
        path = choose_path(op, rest, x.device, dim == x.dim() - 1)
    elif path not in PATHS:
        raise InputError(f"path must be one of {list(PATHS)}, got {path!r}")
    return _run(path, x, op, dim)


# ================================================================================================
# Filtering entry points
# ================================================================================================
def _as_taps(kernel) -> Taps:
    if isinstance(kernel, Taps):
        return kernel
    if isinstance(kernel, torch.Tensor):
        # Legacy: a tensor kernel is read back once (a host synchronisation on a GPU); internal
        # callers pass Taps.
        return taps(kernel.detach().to("cpu", torch.float64).reshape(-1).tolist())
    return taps(kernel)


def filter1d(
    x: torch.Tensor,
    kernel: Taps | tuple[float, ...],
    dim: int = -1,
    *,
    stride: int = 1,
    pad: tuple[int, int] = (0, 0),
    mode: str = "zeros",
    path: str | None = None,
) -> torch.Tensor:
    """Correlate ``x`` with ``kernel`` along ``dim``: ``out[j] = sum_t w[t] xp[stride j + t]``.

    ``xp`` is ``x`` padded by ``pad = (before, after)`` in ``mode`` (:data:`PAD_MODES`). With
    ``pad=(0, 0)`` this is MATLAB ``filter2``'s 'valid' region (then every stride-th output).
    """
    spec = _as_taps(kernel)
    dim = dim % x.dim()
    return apply_axis(x, AxisOp(spec, x.shape[dim], stride, pad[0], pad[1], mode), dim, path)


def separable_filter(
    x: torch.Tensor,
    kernel: Taps | torch.Tensor | tuple[float, ...],
    padding: str = "valid",
    pad_mode: str = "replicate",
    stride: int = 1,
    path: str | None = None,
) -> torch.Tensor:
    """Correlate every channel of ``x`` (... x H x W) with ``kernel`` along H, then W.

    ``padding="valid"`` is ``filter2(w, X, 'valid')``; ``"same"`` pads with ``pad_mode`` around
    MATLAB's centre (index floor((n+1)/2)): (n-1)//2 before and n//2 after. ``stride`` keeps
    every stride-th output (``X(1:s:end, 1:s:end)`` of the filtered image). ``kernel``: a
    :class:`Taps` (preferred) or, for compatibility, a 1-D tensor (read back once).
    """
    spec = _as_taps(kernel)
    k = len(spec)
    if padding == "same":
        before, after = (k - 1) // 2, k // 2
    elif padding == "valid":
        before = after = 0
    else:
        raise InputError(f"padding must be 'valid' or 'same', got {padding!r}")
    if pad_mode not in PAD_MODES:
        raise InputError(f"pad_mode must be one of {list(PAD_MODES)}, got {pad_mode!r}")
    d = x.dim()
    h, w = x.shape[-2:]
    x = apply_axis(x, AxisOp(spec, h, stride, before, after, pad_mode), d - 2, path)
    return apply_axis(x, AxisOp(spec, w, stride, before, after, pad_mode), d - 1, path)


def gaussian_kernel_1d(
    size: int, sigma: float, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (sums to 1) as a tensor, cached."""
    spec = gaussian_taps(size, sigma)
    device = torch.device(device)
    return _cached(
        ("gauss", spec, dtype, device),
        lambda: torch.tensor(spec.values, dtype=dtype, device=device),
    )


def gaussian_filter(
    x: torch.Tensor,
    size: int,
    sigma: float,
    padding: str = "valid",
    pad_mode: str = "replicate",
) -> torch.Tensor:
    """Separable Gaussian filtering with an ``fspecial('gaussian', size, sigma)`` window."""
    return separable_filter(x, gaussian_taps(size, sigma), padding, pad_mode)


def conv2_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """MATLAB ``conv2(X, k, 'same')`` per channel: true convolution with zero padding.

    ``kernel`` is a 2-D tensor (kh x kw), not necessarily separable. The output is the centre of
    the full convolution, starting at index floor(k/2) (0-based).
    """
    c = x.shape[1]
    kh, kw = kernel.shape
    flipped = kernel.flip(0).flip(1).to(dtype=x.dtype, device=x.device)
    # 'same' keeps rows floor(kh/2) .. floor(kh/2)+H-1 of the full convolution: a correlation
    # with the flipped kernel over X padded (kh-1-kh//2) before, kh//2 after.
    pad = (kw - 1 - kw // 2, kw // 2, kh - 1 - kh // 2, kh // 2)
    x = F.pad(x, pad)
    return F.conv2d(x, flipped.view(1, 1, kh, kw).expand(c, 1, kh, kw), groups=c)


#: (smoothing across the derivative, normaliser) of the 3 x 3 gradient operators; each is the
#: outer product of the smoothing (a, b, a) / norm and the central difference.
GRADIENT_OPERATORS = {
    "prewitt": ((1.0, 1.0), 3.0),  # [1 0 -1; 1 0 -1; 1 0 -1] / 3 (GMSD.m, MDSI.m)
    "sobel": ((1.0, 2.0), 1.0),  # [-1 0 1; -2 0 2; -1 0 1] (cQS)
    "scharr_fsim": ((3.0, 10.0), 16.0),  # [3 0 -3; 10 0 -10; 3 0 -3] / 16 (FeatureSIM.m)
}
_DIFF = Taps("values", (-1.0, 0.0, 1.0))


def gradients(y: torch.Tensor, operator: str = "prewitt") -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical gradients of ``y`` (... x H x W) by MATLAB ``conv2(Y, h, 'same')``.

    ``operator`` in :data:`GRADIENT_OPERATORS`; zero padding (``conv2``). Each operator is
    separable (smoothing across, central difference along), so this is four 3-tap axis
    filters of the engine. The sign is that of a correlation with [-1 0 1] (MATLAB's
    convolution gives the opposite sign; magnitudes are equal).
    """
    if operator not in GRADIENT_OPERATORS:
        raise InputError(
            f"gradient operator must be one of {list(GRADIENT_OPERATORS)}, got {operator!r}"
        )
    (a, b), norm = GRADIENT_OPERATORS[operator]
    smooth = Taps("values", (a / norm, b / norm, a / norm))
    d = y.dim()
    h, w = y.shape[-2:]
    gx = apply_axis(y, AxisOp(smooth, h, 1, 1, 1, "zeros"), d - 2)
    gx = apply_axis(gx, AxisOp(_DIFF, w, 1, 1, 1, "zeros"), d - 1)
    gy = apply_axis(y, AxisOp(smooth, w, 1, 1, 1, "zeros"), d - 1)
    gy = apply_axis(gy, AxisOp(_DIFF, h, 1, 1, 1, "zeros"), d - 2)
    return gx, gy
