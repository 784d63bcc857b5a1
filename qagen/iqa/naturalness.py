"""NIQE (Mittal, Soundararajan, Bovik, IEEE SPL 2013), faithful to the LIVE release.

Reproduces ``computequality.m`` / ``computefeature.m`` / ``estimateaggdparam.m`` /
``estimatemodelparam.m`` of the LIVE NIQE release (Mittal, Soundararajan, Bovik, "Making a
"completely blind" image quality analyzer", IEEE Signal Processing Letters 20(3), 2013), batched and
differentiable (first order) with respect to the input image. The counts of negative and
positive values in each AGGD fit are piecewise constant, so NIQE jumps where an MSCN value or
product crosses 0 exactly; gradients ignore those jumps, as any autograd derivative would.

Pipeline (per image, all images of a batch at once):

1. Grey: RGB goes through MATLAB ``rgb2gray`` on the 8-bit scale (coefficients
   0.298936021293775, 0.587043074451121, 0.114020904255103, rounded half away from zero as MATLAB
   returns uint8; the rounding is straight-through so gradients flow). Grey input is used as is.
   Values are rescaled to 0-255 by ``255 / data_range`` (NIQE's constant C = 1 is for 8-bit data).
2. Crop to a multiple of ``block_size`` from the top-left.
3. Two scales; the second is MATLAB ``imresize(I, 0.5)`` (bicubic, antialiased, symmetric
   borders; :func:`imresize_half`, equal to :func:`qagen.matlab_resize.imresize`). At each scale:
   MSCN = (I - mu) / (sigma + C) with mu = imfilter(I, w, 'replicate'),
   sigma = sqrt(|imfilter(I^2, w, 'replicate') - mu^2|), w the 7x7 Gaussian of sigma 7/6; 18 AGGD
   features per non-overlapping block (``block_size`` at scale 1, ``block_size / 2`` at scale 2):
   [alpha, (beta_l + beta_r) / 2] of the MSCN values and [alpha, eta, beta_l, beta_r] of the
   products with the 4 circularly shifted neighbours (shifts (0,1), (1,0), (1,1), (-1,1),
   wrapping inside the block). Blocks are listed in row-major order (MATLAB's ``blkproc`` is
   column-major; the order does not enter any result).
4. Test model: per-column mean over the valid entries (MATLAB ``nanmean``) and covariance over the
   complete rows (MATLAB ``nancov``); NIQE = sqrt(d' pinv((S_P + S_T) / 2) d), d = mu_P - mu_T.

MATLAB's NaN semantics are kept exactly, with a validity mask instead of NaN values: an AGGD fit
whose values have no negative (or no positive) entry has an undefined left (right) sigma; MATLAB's
``min`` over an all-NaN error vector then returns the first grid value, so alpha = 0.2 (a real
number that ``nanmean`` keeps), while beta of the empty side and eta are NaN (masked here; their
stored value is 0). ``nanmean`` ignores masked entries per column; ``nancov`` drops every row with a
masked entry.

Deliberate, documented deviations (none of them touches the MATLAB value of an image without
flat or symmetric 7x7 neighbourhoods):

* Rounding-noise MSCN values. Where the 7x7 neighbourhood of a pixel is exactly flat (or
  symmetric, with the centre equal to the weighted mean), I - mu is 0 in exact arithmetic but
  floating-point noise (~1e-14) in MATLAB, and the signs of that noise decide how many values each
  side of the AGGD fit counts, so implementations disagree (LIVE ``image3.bmp``, 70,916 flat
  pixels: MATLAB and Octave differ by ~0.13). Here |I - mu| <= 1e-12 M (M = the image's max |I|)
  is set to exactly 0 (:func:`mscn`): the value MATLAB would compute in exact arithmetic,
  independent of grey level, orientation, batch and dtype. Exact zeros count in neither side of
  the AGGD fit (MATLAB's own rule for zeros). On 8-bit images genuine values are >= ~4e-9, far
  above the threshold, so images without such neighbourhoods are unaffected. The
  straight-through form keeps the gradient of the unmodified formula.
* Precision: the computation runs in float64 whatever the input dtype (``compute_dtype``), so
  float32 input gives the float64 value, and the grid value of alpha (quantised to 0.001) cannot
  flip between dtypes.
* Fallbacks instead of NaN: a feature column with no valid entry at all (e.g. a completely flat
  image) takes the stored fallback value (alpha 0.2, beta and eta 0); fewer than 2 complete rows
  give S_T = 0 (MATLAB also gives 0 for exactly one row). The score is then finite (and large).

Shape parameter: ``shape_estimator="grid"`` (default) returns exactly the LIVE grid value
(0.2:0.001:10, first minimiser of (rho(alpha) - R)^2); its gradient is that of the continuous
inversion. ``"continuous"`` solves rho(alpha) = R (Newton from the grid bracket, float64, machine
precision) and is differentiable in the usual sense (use it for ``gradcheck``). In both the
gradient is attached by the implicit-function theorem, d alpha / d R = 1 / rho'(alpha), and R is
clamped to [rho(0.2), rho(10)] (zero gradient outside). rho(alpha) = G(2/a)^2 / (G(1/a) G(3/a)).

Epsilons (gradient only): every square root is evaluated exactly in the forward pass and
differentiated as sqrt(v + 1e-12) (:data:`SQRT_EPS`), so the forward value is the MATLAB value
bit for bit and the gradients stay finite at v = 0 (flat images, empty AGGD sides, NIQE = 0).
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from qagen._checks import (
    HALF_DTYPES,
    check_choice,
    check_data_range,
    check_tensor,
    no_autocast,
    reduce,
)
from qagen.color import GRAY_WEIGHTS, rgb_to_gray
from qagen.errors import InputError, InputTypeError
from qagen.files import atomic_path
from qagen.filters import _cached, gaussian_taps, separable_filter
from qagen.matlab_resize import imresize

__all__ = [
    "FEATURE_DIM",
    "NIQEFeatures",
    "NIQEModel",
    "aggd_fit",
    "aggd_shape",
    "fit_niqe_model",
    "imresize_half",
    "mscn",
    "mvg_distance",
    "mvg_fit",
    "niqe",
    "niqe_distance",
    "niqe_features",
]

#: Number of NIQE features per block (18 per scale, 2 scales).
FEATURE_DIM = 36
#: Feature variant produced by :func:`niqe_features` (stored in model files).
VARIANT = "live"
#: Epsilon inside square roots, gradient only (the forward value is the exact square root).
SQRT_EPS = 1e-12
#: Relative rounding-noise level below which MSCN numerators |I - mu| are snapped to 0.
SNAP_REL = 1e-12
#: The LIVE grid of ``estimateaggdparam.m``: 0.2:0.001:10.
GRID_START, GRID_STEP, GRID_STOP = 0.2, 0.001, 10.0
SHAPE_ESTIMATORS = ("grid", "continuous")
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))  # computefeature.m, circshift order


# --------------------------------------------------------------------------------------------
# small differentiable helpers


class _SqrtEps(torch.autograd.Function):
    """sqrt(v) for v >= 0 (entries where ``zero`` is True set to 0), differentiated as
    sqrt(v + SQRT_EPS): the forward value is exact, the gradient finite at v = 0."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, zero: torch.Tensor | None):  # type: ignore[override]
        ctx.save_for_backward(v)
        out = torch.sqrt(v)
        return out if zero is None else out.masked_fill_(zero, 0.0)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        (v,) = ctx.saved_tensors
        return g / (2.0 * torch.sqrt(v + SQRT_EPS)), None


class _ZeroST(torch.autograd.Function):
    """Entries where ``mask`` is True set to 0 in the forward pass; identity gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor):  # type: ignore[override]
        return x.masked_fill(mask, 0.0)

    @staticmethod
    def backward(ctx, g: torch.Tensor):  # type: ignore[override]
        return g, None


def _sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt(v) for v >= 0: exact forward value, gradient of sqrt(v + SQRT_EPS) (finite at 0)."""
    return _SqrtEps.apply(v, None)


# --------------------------------------------------------------------------------------------
# AGGD shape parameter: grid (LIVE) and continuous inversion of rho


@lru_cache(maxsize=1)
def _grid_np() -> tuple[np.ndarray, np.ndarray]:
    """(alpha grid, rho on the grid) as MATLAB builds them: colon operator, then gamma()."""
    from scipy.special import gamma

    n = int(round((GRID_STOP - GRID_START) / GRID_STEP))  # 9800 intervals
    k = np.arange(n + 1, dtype=np.float64)
    # MATLAB's colon fills the first half from the start and the second half from the end.
    first = GRID_START + k * GRID_STEP
    second = GRID_STOP - (n - k) * GRID_STEP
    gam = np.where(k < n / 2.0, first, second)
    r = gamma(2.0 / gam) ** 2 / (gamma(1.0 / gam) * gamma(3.0 / gam))
    if not np.all(np.diff(r) > 0):
        raise RuntimeError("rho(alpha) is not increasing on the NIQE grid")
    return gam, r


def _grid(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gam, r = _grid_np()
    return (
        _cached(("niqe_gam", device), lambda: torch.from_numpy(gam).to(device)),
        _cached(("niqe_rho", device), lambda: torch.from_numpy(r).to(device)),
    )


def _log_rho(a: torch.Tensor) -> torch.Tensor:
    return 2.0 * torch.lgamma(2.0 / a) - torch.lgamma(1.0 / a) - torch.lgamma(3.0 / a)


def _dlog_rho(a: torch.Tensor) -> torch.Tensor:
    """d log rho / d alpha = (psi(1/a) + 3 psi(3/a) - 4 psi(2/a)) / a^2 (> 0)."""
    return (
        torch.digamma(1.0 / a) + 3.0 * torch.digamma(3.0 / a) - 4.0 * torch.digamma(2.0 / a)
    ) / (a * a)


def aggd_shape(r_hat: torch.Tensor, estimator: str = "grid") -> torch.Tensor:
    """Invert rho(alpha) = G(2/a)^2 / (G(1/a) G(3/a)) = R_hat for the (A)GGD shape alpha.

    ``estimator="grid"``: the value of ``estimateaggdparam.m`` exactly (grid 0.2:0.001:10, first
    minimiser of (rho - R)^2), gradient of the continuous solution. ``"continuous"``: the exact
    root (Newton in float64 from the grid bracket). R_hat is clamped to [rho(0.2), rho(10)]; the
    gradient is 1 / rho'(alpha) (implicit-function theorem), 0 where clamped. Float64 result.
    """
    check_choice(estimator, "shape_estimator", SHAPE_ESTIMATORS)
    r = r_hat.to(torch.float64)
    gam, rho = _grid(r.device)
    r_c = r.clamp(float(rho[0]), float(rho[-1]))
    with torch.no_grad():
        rv = r.detach()
        hi = torch.searchsorted(rho, rv).clamp(0, rho.numel() - 1)
        lo = (hi - 1).clamp(min=0)
        e_lo = (rho[lo] - rv) ** 2
        e_hi = (rho[hi] - rv) ** 2
        idx = torch.where(e_lo <= e_hi, lo, hi)  # ties -> first (lower) index, as MATLAB's min
        # continuous root: linear start inside the bracket, then Newton on log rho
        rc = r_c.detach()
        lo2 = (torch.searchsorted(rho, rc) - 1).clamp(0, rho.numel() - 2)
        g0, g1, r0, r1 = gam[lo2], gam[lo2 + 1], rho[lo2], rho[lo2 + 1]
        a = g0 + (g1 - g0) * (rc - r0) / (r1 - r0)
        target = torch.log(rc)
        for _ in range(4):
            a = (a - (_log_rho(a) - target) / _dlog_rho(a)).clamp(g0, g1)
        drho = torch.exp(_log_rho(a)) * _dlog_rho(a)
    value = gam[idx] if estimator == "grid" else a
    return value + (r_c - rc) / drho


# --------------------------------------------------------------------------------------------
# AGGD fit (estimateaggdparam.m), batched over the leading dimensions


class _AggdSums(torch.autograd.Function):
    """Per-row AGGD sums over the last dim in few passes, with an analytic backward:
    (n_neg, n_pos, sum v^2 | v<0, sum v^2 | v>0, sum |v|); d/dv = 2 v [v<0] g_neg +
    2 v [v>0] g_pos + sign(v) g_abs (0 at v = 0). Not twice differentiable."""

    @staticmethod
    def forward(ctx, v: torch.Tensor):  # type: ignore[override]
        vn = v.clamp(max=0.0)
        vp = v.clamp(min=0.0)
        out = (
            torch.count_nonzero(vn, -1).to(v.dtype),
            torch.count_nonzero(vp, -1).to(v.dtype),
            torch.linalg.vecdot(vn, vn),
            torch.linalg.vecdot(vp, vp),
            vp.sum(-1) - vn.sum(-1),
        )
        ctx.mark_non_differentiable(out[0], out[1])
        ctx.save_for_backward(v)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_nn, g_np, g_neg, g_pos, g_abs):  # type: ignore[override]
        (v,) = ctx.saved_tensors
        g = v.clamp(max=0.0).mul_((2.0 * g_neg).unsqueeze(-1))
        g.addcmul_(v.clamp(min=0.0), (2.0 * g_pos).unsqueeze(-1))
        return g.addcmul_(torch.sign(v), g_abs.unsqueeze(-1))


def _aggd_sums(v: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-row sums over the last dim: (n_neg, n_pos, sum v^2 | v<0, sum v^2 | v>0, sum |v|)."""
    return _AggdSums.apply(v)


def _aggd_from_sums(
    sums: Sequence[torch.Tensor], m: int, shape_estimator: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    n_neg, n_pos, s_neg, s_pos, s_abs = (t.to(torch.float64) for t in sums)
    valid_l, valid_r = n_neg > 0, n_pos > 0
    # both sides present and representable (squares of values below ~1e-160 underflow to 0)
    ok = valid_l & valid_r & (s_neg > 0) & (s_pos > 0)
    sig_l = _sqrt(s_neg / n_neg.clamp(min=1.0))
    sig_r = _sqrt(s_pos / n_pos.clamp(min=1.0))
    one = torch.ones_like(sig_l)
    g = sig_l / torch.where(ok, sig_r, one)
    mean_sq = torch.where(ok, s_neg + s_pos, one) / m
    r_hat = (s_abs / m) ** 2 / mean_sq
    r_norm = r_hat * (g**3 + 1.0) * (g + 1.0) / (g**2 + 1.0) ** 2
    r_norm = torch.where(ok, r_norm, torch.full_like(r_norm, 0.5))
    alpha = torch.where(
        ok, aggd_shape(r_norm, shape_estimator), torch.full_like(r_norm, GRID_START)
    )
    ratio = torch.exp(0.5 * (torch.lgamma(1.0 / alpha) - torch.lgamma(3.0 / alpha)))
    return alpha, sig_l * ratio, sig_r * ratio, valid_l, valid_r


def aggd_fit(
    v: torch.Tensor, shape_estimator: str = "grid"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """AGGD moment-matching fit of ``v`` over its last dimension (``estimateaggdparam.m``).

    sigma_l = sqrt(mean(v^2 | v < 0)), sigma_r = sqrt(mean(v^2 | v > 0)), g = sigma_l / sigma_r,
    r = mean|v|^2 / mean(v^2), R = r (g^3 + 1)(g + 1) / (g^2 + 1)^2, alpha = rho^-1(R)
    (:func:`aggd_shape`), beta_{l,r} = sigma_{l,r} sqrt(G(1/alpha) / G(3/alpha)).

    Returns float64 ``(alpha, beta_l, beta_r, valid_l, valid_r)``. ``valid_l`` (``valid_r``) is
    False where ``v`` has no negative (positive) value: MATLAB gives NaN for that beta and
    alpha = 0.2 (its ``min`` of an all-NaN vector returns the first grid value) whenever either
    side is empty; here the empty side's beta is 0 and alpha is 0.2, with finite gradients.
    Sums run in ``v``'s dtype, everything after them in float64.
    """
    return _aggd_from_sums(_aggd_sums(v), v.shape[-1], shape_estimator)


# --------------------------------------------------------------------------------------------
# MSCN and features


def _gauss_same_replicate(x: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """``imfilter(X, fspecial('gaussian', size, sigma), 'replicate')`` on N x C x H x W
    (separable, by the filter engine of :mod:`qagen.filters`)."""
    return separable_filter(x, gaussian_taps(size, sigma), "same", "replicate")


def imresize_half(x: torch.Tensor) -> torch.Tensor:
    """MATLAB ``imresize(X, 0.5)`` (bicubic, antialiased, symmetric borders) for even H and W.

    Output pixel j (0-based) = sum_t w[t] X[2j - 3 + t], t = 0..7 (indices reflected at the
    borders): :func:`qagen.matlab_resize.imresize`, whose operator at scale 1/2 is this uniform
    8-tap stride-2 filter (linear cost, cheap backward pass).
    """
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise InputError(f"imresize_half needs even height and width, got {tuple(x.shape[-2:])}")
    return imresize(x, 0.5)


def mscn(
    img: torch.Tensor,
    window_size: int = 7,
    window_sigma: float = 7.0 / 6.0,
    c: float = 1.0,
    snap: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-subtracted contrast-normalised coefficients (``computequality.m``).

    mu = imfilter(I, w, 'replicate'), sigma = sqrt(|imfilter(I.^2, w, 'replicate') - mu.^2|),
    MSCN = (I - mu) ./ (sigma + c), w = fspecial('gaussian', window_size, window_sigma).

    ``snap``: numerators with |I - mu| <= 1e-12 M (M = the image's max |I|; :data:`SNAP_REL`)
    are set to exactly 0 in the forward pass (identity gradient, so the gradient is that of the
    plain formula). They are 0 in exact arithmetic (flat neighbourhoods, symmetric
    neighbourhoods whose centre equals their weighted mean) and float64 rounding noise here and
    in MATLAB. In the 8 reference images (LIVE, TID2013 I01, goldhill; 0-255 scale) the noise is
    <= 8.5e-14 and the smallest genuine |I - mu| is 3.8e-9 (scale 2; 3.5e-6 at scale 1), so the
    threshold (~2.5e-10 for 8-bit data) separates them with margins of ~3000 and ~15. sigma is
    not snapped (its rounding noise, ~1e-6 on flat regions, only meets zero numerators). Meant
    for float64 ``img`` (float32 noise is ~1e-5 M and is not snapped). Returns
    ``(mscn, sigma)`` in ``img``'s dtype.
    """
    mu = _gauss_same_replicate(img, window_size, window_sigma)
    e2 = _gauss_same_replicate(img * img, window_size, window_sigma)
    num = img - mu
    var = (e2 - mu * mu).abs()
    sigma = _SqrtEps.apply(var, None)
    out = num / (sigma + c)
    if snap:
        with torch.no_grad():
            m = img.detach().abs().amax(dim=(-2, -1), keepdim=True)
            zero = num.detach().abs() <= SNAP_REL * m
        out = _ZeroST.apply(out, zero)
    return out, sigma


def _blocks(t: torch.Tensor, bs: int) -> torch.Tensor:
    """N x 1 x (bh*bs) x (bw*bs) -> N x (bh*bw) x bs x bs, blocks in row-major order."""
    n, _, h, w = t.shape
    bh, bw = h // bs, w // bs
    t = t.reshape(n, bh, bs, bw, bs).permute(0, 1, 3, 2, 4)
    return t.reshape(n, bh * bw, bs, bs)


def _scale_features(
    m: torch.Tensor, bs: int, shape_estimator: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """18 features (and their validity) per block of one scale (``computefeature.m``)."""
    blk = _blocks(m, bs)
    sums = [_aggd_sums(blk.flatten(-2))]
    for s in _SHIFTS:
        sums.append(_aggd_sums((blk * torch.roll(blk, shifts=s, dims=(-2, -1))).flatten(-2)))
    stacked = [torch.stack(parts, -1) for parts in zip(*sums, strict=True)]  # each N x B x 5
    alpha, bl, br, vl, vr = _aggd_from_sums(stacked, bs * bs, shape_estimator)
    ok = vl & vr
    zero = torch.zeros_like(alpha)
    eta = torch.where(
        ok, (br - bl) * torch.exp(torch.lgamma(2.0 / alpha) - torch.lgamma(1.0 / alpha)), zero
    )
    true = torch.ones_like(ok)
    feats = [alpha[..., 0], torch.where(ok[..., 0], (bl[..., 0] + br[..., 0]) / 2.0, zero[..., 0])]
    valid = [true[..., 0], ok[..., 0]]
    for i in range(1, 5):
        feats += [alpha[..., i], eta[..., i], bl[..., i], br[..., i]]
        valid += [true[..., i], ok[..., i], vl[..., i], vr[..., i]]
    return torch.stack(feats, -1), torch.stack(valid, -1)


class NIQEFeatures(NamedTuple):
    """Output of :func:`niqe_features` (all per block, blocks in row-major order)."""

    #: N x B x 36 float64 features; masked entries hold their fallback value (never NaN).
    features: torch.Tensor
    #: N x B x 36 bool: False where MATLAB's feature would be NaN.
    valid: torch.Tensor
    #: N x B mean of sigma over each scale-1 block (``computemean.m``), input dtype.
    sharpness: torch.Tensor


def _check_block_size(block_size: int) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, int):
        raise InputTypeError(f"block_size must be an int, got {type(block_size).__name__}")
    if block_size < 4 or block_size % 2:
        raise InputError(f"block_size must be an even integer >= 4, got {block_size}")
    return block_size


def niqe_min_size(block_size: int = 96) -> int:
    """Smallest height and width :func:`niqe` accepts: one ``block_size`` block.

    NIQE's features are statistics of whole blocks (``block_size`` at scale 1, half that at
    scale 2 after ``imresize(I, 0.5)``); the 7 x 7 MSCN window is padded ('replicate') and
    fits any block of the allowed sizes (even, >= 4).
    """
    return int(block_size)


def _too_small_hint(block_size: int) -> str:
    return (
        f"NIQE needs at least one {block_size}x{block_size} block; for small images (e.g. 32x32 "
        "or 64x64 GAN samples) pass a smaller block_size, e.g. block_size=32 (even, >= 4)"
    )


def niqe_features(
    img: torch.Tensor,
    block_size: int = 96,
    *,
    window_size: int = 7,
    window_sigma: float = 7.0 / 6.0,
    c: float = 1.0,
    shape_estimator: str = "grid",
    snap: bool = True,
    compute_dtype: torch.dtype | None = torch.float64,
) -> NIQEFeatures:
    """The 36 NIQE features of every non-overlapping block of grey images (LIVE release).

    Feature order per block: [a, (bl+br)/2] of the MSCN values, then [a, eta, bl, br] of the
    products with the (0,1), (1,0), (1,1), (-1,1) circular neighbours, for scale 1 then scale 2
    (``imresize(I, 0.5)``, ``block_size / 2`` blocks). Reproduces ``computequality.m``'s
    feature matrix to ~1e-13 on 8-bit images.

    Args:
        img: grey images ``N x 1 x H x W`` on the 0-255 scale (C = 1 is the 8-bit constant),
            cropped to a multiple of ``block_size`` from the top-left; H, W >= ``block_size``.
        block_size: block side at scale 1 (even, >= 4).
        window_size, window_sigma, c: the MSCN window and constant (7, 7/6, 1).
        shape_estimator: "grid" (LIVE) or "continuous" (:func:`aggd_shape`).
        snap: zero rounding-noise MSCN values (:func:`mscn`, module docstring).
        compute_dtype: precision of MSCN and block statistics, float64 by default (float32
            input then gives the float64 features, and the grid value of alpha cannot flip with
            float32 rounding); None = the input dtype (faster; alpha may move by one grid step
            and noise is not snapped). The fits always run in float64.

    Returns:
        :class:`NIQEFeatures`: ``features`` and ``valid`` (``N x B x 36``, float64 and bool,
        B blocks in row-major order) and ``sharpness`` (``N x B``, the input dtype).
    """
    _check_block_size(block_size)
    check_tensor(img, "img", channels=(1,), min_size=block_size, metric="niqe_features",
                 hint=_too_small_hint(block_size))  # fmt: skip
    check_choice(shape_estimator, "shape_estimator", SHAPE_ESTIMATORS, "niqe_features")
    h = img.shape[-2] // block_size * block_size
    w = img.shape[-1] // block_size * block_size
    dtype = img.dtype
    img = img[..., :h, :w].to(compute_dtype or dtype)
    m1, sigma = mscn(img, window_size, window_sigma, c, snap)
    f1, v1 = _scale_features(m1, block_size, shape_estimator)
    sharp = _blocks(sigma, block_size).mean(dim=(-2, -1)).to(dtype)
    m2, _ = mscn(imresize_half(img), window_size, window_sigma, c, snap)
    f2, v2 = _scale_features(m2, block_size // 2, shape_estimator)
    return NIQEFeatures(torch.cat([f1, f2], -1), torch.cat([v1, v2], -1), sharp)


# --------------------------------------------------------------------------------------------
# multivariate Gaussian model


def mvg_fit(
    features: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched MATLAB ``nanmean`` / ``nancov`` with a validity mask instead of NaNs.

    ``features``: N x B x D; ``mask``: N x B (row validity) or N x B x D (entry validity), True =
    valid; None = all valid. mu = per-column mean over valid entries (nanmean); cov = covariance
    (N - 1 normaliser) of the rows with every entry valid, centred on their own mean (nancov).
    Fallbacks: a column with no valid entry takes the plain mean of its stored values; fewer
    than 2 complete rows give cov = 0 (MATLAB's cov of one row is 0 too). Returns mu (N x D),
    cov (N x D x D) in the features' dtype.
    """
    if features.dim() != 3:
        raise InputError(f"features must be N x B x D, got shape {tuple(features.shape)}")
    if mask is None:
        mask = torch.ones(features.shape, dtype=torch.bool, device=features.device)
    if mask.dim() == 2:
        mask = mask.unsqueeze(-1).expand_as(features)
    if mask.shape != features.shape:
        raise InputError(
            f"mask must be N x B or N x B x D, got {tuple(mask.shape)} for {tuple(features.shape)}"
        )
    mf = mask.to(features.dtype)
    cnt = mf.sum(1)
    mu = torch.where(cnt > 0, (features * mf).sum(1) / cnt.clamp(min=1.0), features.mean(1))
    rows = mask.all(-1).to(features.dtype)  # N x B
    nr = rows.sum(1)  # N
    mu_r = (features * rows.unsqueeze(-1)).sum(1) / nr.clamp(min=1.0).unsqueeze(-1)
    xc = (features - mu_r.unsqueeze(1)) * rows.unsqueeze(-1)
    cov = xc.transpose(1, 2) @ xc / (nr - 1.0).clamp(min=1.0).view(-1, 1, 1)
    cov = torch.where((nr >= 2).view(-1, 1, 1), cov, torch.zeros_like(cov))
    return mu, cov


def mvg_distance(
    mu_a: torch.Tensor,
    cov_a: torch.Tensor,
    mu_b: torch.Tensor,
    cov_b: torch.Tensor,
    ridge: float = 0.0,
) -> torch.Tensor:
    """Distance between two multivariate Gaussians (NIQE; QMF paper eq. 6).

    D = sqrt((mu_a - mu_b)' pinv((cov_a + cov_b) / 2 + ridge I) (mu_a - mu_b)). ``pinv`` is
    ``torch.linalg.pinv`` (symmetric eigen-decomposition; eigenvalues below D * eps * max|lambda|
    are dropped, as MATLAB's ``pinv`` does with its SVD tolerance), so singular or ill-conditioned
    covariances (few blocks, degenerate features) are handled; ``ridge`` > 0 adds a Tikhonov term
    instead (not MATLAB). Broadcasts over leading dimensions; computed in float64. The square
    root is exact in the forward pass, sqrt(v + 1e-12) in the backward pass (finite at D = 0).
    """
    mu_a, mu_b = mu_a.to(torch.float64), mu_b.to(torch.float64)
    cov_a, cov_b = cov_a.to(torch.float64), cov_b.to(torch.float64)
    d = mu_a - mu_b
    a = (cov_a + cov_b) / 2.0
    if ridge:
        a = a + ridge * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    a = (a + a.transpose(-1, -2)) / 2.0
    q = (d.unsqueeze(-2) @ torch.linalg.pinv(a, hermitian=True) @ d.unsqueeze(-1))[..., 0, 0]
    return _sqrt(q.clamp(min=0.0))


# --------------------------------------------------------------------------------------------
# pristine model


@dataclass(frozen=True, eq=False)
class NIQEModel:
    """A pristine multivariate Gaussian model: ``mu`` (36,), ``cov`` (36, 36), float64.

    ``variant`` names the feature extractor it was fitted with (``"live"`` for
    :func:`niqe_features`) and ``block_size`` the block size; :func:`niqe` refuses a model of
    another variant. Validated on creation: shapes, finite, symmetric (to 1e-10 relative, then
    symmetrised), positive semi-definite (smallest eigenvalue >= -1e-10 max). ``save``/``load``
    use ``.npz`` (``load`` also reads LIVE/QAGAN ``.mat`` files with ``mu_prisparam`` and
    ``cov_prisparam``).
    """

    mu: torch.Tensor
    cov: torch.Tensor
    variant: str = VARIANT
    block_size: int = 96
    n_blocks: int = 0
    source: str = ""

    def __post_init__(self) -> None:
        mu = torch.as_tensor(self.mu, dtype=torch.float64).detach().to("cpu").reshape(-1)
        cov = torch.as_tensor(self.cov, dtype=torch.float64).detach().to("cpu")
        if mu.shape != (FEATURE_DIM,):
            raise InputError(
                f"NIQEModel: mu must have {FEATURE_DIM} values, got shape {tuple(mu.shape)}"
            )
        if cov.shape != (FEATURE_DIM, FEATURE_DIM):
            raise InputError(
                f"NIQEModel: cov must be {FEATURE_DIM}x{FEATURE_DIM}, got shape {tuple(cov.shape)}"
            )
        if not (torch.isfinite(mu).all() and torch.isfinite(cov).all()):
            raise InputError("NIQEModel: mu and cov must be finite (no NaN/Inf)")
        scale = float(cov.abs().max()) or 1.0
        if float((cov - cov.T).abs().max()) > 1e-10 * scale:
            raise InputError("NIQEModel: cov must be symmetric")
        cov = (cov + cov.T) / 2.0
        ev = torch.linalg.eigvalsh(cov)
        if float(ev[0]) < -1e-10 * max(float(ev[-1]), 1e-300):
            raise InputError(
                f"NIQEModel: cov must be positive semi-definite (smallest eigenvalue {float(ev[0]):.3g})"
            )
        if not isinstance(self.variant, str) or not self.variant:
            raise InputError(f"NIQEModel: variant must be a non-empty string, got {self.variant!r}")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "cov", cov)
        object.__setattr__(self, "block_size", int(self.block_size))
        object.__setattr__(self, "n_blocks", int(self.n_blocks))

    @property
    def condition_number(self) -> float:
        """lambda_max / lambda_min of ``cov`` (inf when singular)."""
        ev = torch.linalg.eigvalsh(self.cov)
        return float(ev[-1] / ev[0]) if float(ev[0]) > 0 else math.inf

    def __repr__(self) -> str:
        return (
            f"NIQEModel(variant={self.variant!r}, block_size={self.block_size}, "
            f"n_blocks={self.n_blocks}, condition_number={self.condition_number:.3g}, "
            f"source={self.source!r})"
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as ``.npz`` (mu, cov, variant, block_size, n_blocks, source), atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f, mu=self.mu.numpy(), cov=self.cov.numpy(), variant=np.str_(self.variant),
                block_size=np.int64(self.block_size), n_blocks=np.int64(self.n_blocks),
                source=np.str_(self.source), format_version=np.int64(1),
            )  # fmt: skip

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, variant: str = VARIANT, block_size: int = 96
    ) -> NIQEModel:
        """Read a model saved by :meth:`save` (``.npz``) or a MATLAB ``.mat`` file.

        ``variant`` and ``block_size`` are used only for ``.mat`` files, which do not record them.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"NIQE model file not found: {path}")
        if path.suffix.lower() == ".mat":
            from scipy.io import loadmat

            d = loadmat(path)
            if "mu_prisparam" not in d or "cov_prisparam" not in d:
                raise InputError(f"{path}: a NIQE .mat model needs mu_prisparam and cov_prisparam")
            return cls(d["mu_prisparam"], d["cov_prisparam"], variant, block_size, 0, path.name)
        if path.suffix.lower() != ".npz":
            raise InputError(
                f"{path}: not a NIQE model file; expected an .npz written by qagen niqe-fit "
                "(NIQEModel.save) or a MATLAB .mat with mu_prisparam and cov_prisparam"
            )
        try:
            with np.load(path, allow_pickle=False) as d:
                missing = {"mu", "cov", "variant", "block_size"} - set(d.files)
                if missing:
                    raise ValueError(f"{path}: not a NIQE model file (missing {sorted(missing)})")
                n_blocks = int(d["n_blocks"]) if "n_blocks" in d.files else 0
                source = str(d["source"]) if "source" in d.files else path.name
                return cls(
                    d["mu"], d["cov"], str(d["variant"]), int(d["block_size"]), n_blocks, source
                )
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
            # ValueError: numpy refuses object arrays (allow_pickle=False): not a model file
            raise InputError(
                f"cannot read NIQE model {path}: not an .npz written by NIQEModel.save ({exc})"
            ) from exc

    @classmethod
    def official(cls) -> NIQEModel:
        """The LIVE pristine model (``modelparameters.mat`` of the LIVE release; UT Austin notice
        in ``qagen/resources/NIQE_LICENSE.txt``)."""
        return _official_model()


@lru_cache(maxsize=1)
def _official_model() -> NIQEModel:
    ref = resources.files("qagen") / "resources" / "niqe_live.npz"
    with resources.as_file(ref) as p:
        return NIQEModel.load(p)


def _resolve_model(model: NIQEModel | str | os.PathLike | None) -> NIQEModel:
    if model is None:
        return _official_model()
    if isinstance(model, NIQEModel):
        return model
    if isinstance(model, (str, os.PathLike)):
        return NIQEModel.load(model)
    raise InputTypeError(
        f"model must be a NIQEModel, a path to a model file or None, got {type(model).__name__}"
    )


def _to_gray255(x: torch.Tensor, data_range: float, gray: str) -> torch.Tensor:
    """N x C x H x W on [0, data_range] -> N x 1 x H x W grey on 0-255."""
    if x.shape[1] == 3:
        x = rgb_to_gray(x, gray, data_range)
    return x * (255.0 / data_range)


def niqe(
    x: torch.Tensor,
    data_range: float = 1.0,
    model: NIQEModel | str | os.PathLike | None = None,
    block_size: int = 96,
    reduction: str = "none",
    *,
    shape_estimator: str = "grid",
    gray: str = "rgb2gray",
    compute_dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    """Naturalness Image Quality Evaluator per image (Mittal et al. 2013, LIVE ``computequality.m``).

    NIQE = sqrt((mu_P - mu_T)' pinv((S_P + S_T) / 2) (mu_P - mu_T)) between the pristine
    multivariate Gaussian (mu_P, S_P) and the one fitted to the image's block features
    (mu_T, S_T): ``computequality(im, bs, bs, 0, 0, mu, cov)`` of the LIVE release, to ~1e-12
    on 8-bit images (``data_range=255``). Pipeline, flat-region rule and epsilons: module
    docstring.

    Args:
        x: images ``N x C x H x W`` (C = 1 grey, or 3 RGB through MATLAB ``rgb2gray`` with uint8
            rounding, straight-through), values in ``[0, data_range]``, H and W at least
            ``block_size`` (:func:`niqe_min_size`): NIQE's statistics need one whole block.
        data_range: value of white (computed on the 0-255 scale).
        model: the official LIVE model (None, default), a :class:`NIQEModel` or a model file.
        block_size: block side at scale 1 (96 in the release; e.g. 32 for small GAN samples).
        reduction: "none" (one value per image), "mean" or "sum".
        shape_estimator: "grid" (LIVE, default) or "continuous" (:func:`aggd_shape`).
        gray: RGB to grey formula (:data:`qagen.color.GRAY_WEIGHTS`), MATLAB's "rgb2gray".
        compute_dtype: internal precision, float64 by default (also for float32 input); None
            means ``x``'s dtype (float32 for half precision).

    Returns:
        ``[N]`` (or reduced), >= 0, lower is better (more natural); in ``x``'s dtype, float32
        for half-precision input.
    """
    data_range = check_data_range(data_range, "niqe")
    _check_block_size(block_size)
    check_tensor(x, "x", data_range=data_range, min_size=niqe_min_size(block_size),
                 metric="niqe", hint=_too_small_hint(block_size))  # fmt: skip
    check_choice(gray, "gray", list(GRAY_WEIGHTS), "niqe")
    check_choice(reduction, "reduction", ("none", "mean", "sum"), "niqe")
    check_choice(shape_estimator, "shape_estimator", SHAPE_ESTIMATORS, "niqe")
    model = _resolve_model(model)
    if model.variant != VARIANT:
        raise InputError(
            f"niqe: model variant {model.variant!r} does not match the feature extractor "
            f"{VARIANT!r}; fit a model with fit_niqe_model or load a '{VARIANT}' model"
        )
    if model.block_size != block_size:
        warnings.warn(
            f"niqe: block_size={block_size} differs from the model's block size {model.block_size}; "
            "features depend on the block size (fit a model at this block size for comparable values)",
            UserWarning,
            stacklevel=2,
        )
    out_dtype = torch.float32 if x.dtype in HALF_DTYPES else x.dtype
    with no_autocast(x):
        img = _to_gray255(x.to(compute_dtype or out_dtype), data_range, gray)
        feats = niqe_features(
            img, block_size, shape_estimator=shape_estimator, compute_dtype=compute_dtype
        )
        mu_t, cov_t = mvg_fit(feats.features, feats.valid)
        mu_p, cov_p = model.mu.to(x.device), model.cov.to(x.device)
        value = mvg_distance(mu_p, cov_p, mu_t, cov_t).to(out_dtype)
    return reduce(value, reduction)


def niqe_distance(model_a: NIQEModel, model_b: NIQEModel, ridge: float = 0.0) -> torch.Tensor:
    """NIQE distance between two multivariate Gaussian models (Osahor & Nasrabadi, QMF, eq. 6).

    D = sqrt((mu_a - mu_b)' pinv((S_a + S_b) / 2 + ridge I) (mu_a - mu_b)) (:func:`mvg_distance`).

    Args:
        model_a, model_b: :class:`NIQEModel` of the same feature variant.
        ridge: Tikhonov term added to the mean covariance (0: MATLAB's pinv only).

    Returns:
        A float64 scalar tensor, >= 0: symmetric, 0 for equal models, lower is more alike.
    """
    for name, m in (("model_a", model_a), ("model_b", model_b)):
        if not isinstance(m, NIQEModel):
            raise InputTypeError(
                f"niqe_distance: {name} must be a NIQEModel, got {type(m).__name__}"
            )
    if model_a.variant != model_b.variant:
        raise InputError(
            f"niqe_distance: models of different feature variants ({model_a.variant!r} and "
            f"{model_b.variant!r}) cannot be compared"
        )
    return mvg_distance(model_a.mu, model_a.cov, model_b.mu, model_b.cov, ridge)


# --------------------------------------------------------------------------------------------
# fitting a pristine model (estimatemodelparam.m)


def _input_items(
    images: torch.Tensor | str | os.PathLike | Iterable[torch.Tensor | str | os.PathLike],
    data_range: float,
) -> list[tuple[str, Path | torch.Tensor, float]]:
    """(name, path or N x C x H x W tensor, its data_range) for each input item, in order."""
    from qagen.io import IMAGE_EXTENSIONS, list_images

    if isinstance(images, (str, os.PathLike)):
        p = Path(images)
        if p.is_dir():
            files = list_images(p, recursive=False)
            if not files:
                raise InputError(
                    f"fit_niqe_model: no image files ({', '.join(IMAGE_EXTENSIONS)}) in {p}"
                )
            return [(str(f), f, 255.0) for f in files]
        if not p.is_file():
            raise FileNotFoundError(f"fit_niqe_model: no such folder or file: {p}")
        return [(str(p), p, 255.0)]
    if isinstance(images, torch.Tensor):
        return [("images", images, data_range)]
    items = []
    for i, item in enumerate(images):
        if isinstance(item, (str, os.PathLike)):
            items.append((str(item), Path(item), 255.0))
        elif isinstance(item, torch.Tensor):
            items.append(
                (f"images[{i}]", item.unsqueeze(0) if item.dim() == 3 else item, data_range)
            )
        else:
            raise InputTypeError(
                f"fit_niqe_model: images[{i}] must be a tensor or a path, got {type(item).__name__}"
            )
    if not items:
        raise InputError("fit_niqe_model: no images given")
    return items


def fit_niqe_model(
    images_or_folder: torch.Tensor | str | os.PathLike | Sequence[torch.Tensor | str | os.PathLike],
    block_size: int = 96,
    sharpness: float | None = 0.75,
    *,
    data_range: float = 1.0,
    gray: str = "rgb2gray",
    shape_estimator: str = "grid",
    progress: bool = False,
) -> NIQEModel:
    """Fit a pristine NIQE model (Mittal et al. 2013, LIVE ``estimatemodelparam.m``).

    For every image: the :func:`niqe_features` of its blocks; keep the blocks whose sharpness
    (mean sigma at scale 1) is > ``sharpness`` * the image's maximum (``None``: keep all). The
    kept rows of all images are stacked; mu = nanmean, cov = nancov (:func:`mvg_fit`).
    Computed in float64 without gradients.

    Unreadable image files (corrupt, truncated, not 8-bit) are skipped with **one** warning
    that names them all, the policy of the training folders; only when no readable image is
    left is that an error.

    Args:
        images_or_folder: a folder (its image files, not recursive, in sorted order, read as
            8-bit values; ``data_range`` ignored), an image file, an ``N x C x H x W`` tensor in
            ``[0, data_range]``, or a sequence of tensors (``C x H x W`` or ``N x C x H x W``,
            any sizes) and/or paths. RGB goes through ``rgb2gray`` as in :func:`niqe`. Every
            image must hold at least one ``block_size`` block.
        block_size: block side at scale 1 (96 in the LIVE release); even, >= 4.
        sharpness: keep blocks sharper than this fraction of the image's sharpest (0.75 in
            the release), or None for all blocks.
        data_range: value of white of tensor inputs.
        gray: RGB to grey formula (:data:`qagen.color.GRAY_WEIGHTS`), MATLAB's "rgb2gray".
        shape_estimator: "grid" (LIVE) or "continuous" (:func:`aggd_shape`).
        progress: show a progress bar over the images (tqdm, on stderr).

    Returns:
        The :class:`NIQEModel` (variant "live"). Fewer than 2 complete blocks raise
        :class:`~qagen.errors.InputError`; 37 or fewer give a singular covariance (a warning;
        :func:`mvg_distance` uses its pseudo-inverse).
    """
    from tqdm.auto import tqdm

    from qagen.io import read_image

    _check_block_size(block_size)
    if sharpness is not None and not (0.0 <= float(sharpness) < 1.0):
        raise InputError(f"fit_niqe_model: sharpness must be in [0, 1) or None, got {sharpness}")
    data_range = check_data_range(data_range, "fit_niqe_model")
    check_choice(gray, "gray", list(GRAY_WEIGHTS), "fit_niqe_model")
    items = _input_items(images_or_folder, data_range)
    rows, masks, skipped = [], [], []
    with torch.no_grad():
        for name, item, dr in tqdm(
            items, desc="fit_niqe_model", unit="image", disable=not progress
        ):
            if isinstance(item, Path):
                try:
                    item = read_image(item)
                except (ValueError, OSError) as exc:
                    skipped.append(f"{name} ({exc})")
                    continue
            check_tensor(item, name, data_range=dr, min_size=block_size, metric="fit_niqe_model",
                         hint=_too_small_hint(block_size))  # fmt: skip
            img = _to_gray255(item.to(torch.float64), dr, gray)
            f = niqe_features(img, block_size, shape_estimator=shape_estimator)
            keep = torch.ones_like(f.sharpness, dtype=torch.bool)
            if sharpness is not None:  # per image: sharpness > threshold * that image's maximum
                keep = f.sharpness > float(sharpness) * f.sharpness.amax(dim=1, keepdim=True)
            rows.append(f.features[keep])
            masks.append(f.valid[keep])
    if skipped:
        warnings.warn(
            f"fit_niqe_model: skipped {len(skipped)} unreadable image file(s): "
            + "; ".join(skipped),
            UserWarning,
            stacklevel=2,
        )
    if not rows:
        raise InputError(
            f"fit_niqe_model: no readable image among the {len(items)} given "
            f"({len(skipped)} unreadable)"
        )
    feats, valid = torch.cat(rows), torch.cat(masks)
    complete = int(valid.all(-1).sum())
    if complete < 2:
        raise InputError(
            f"fit_niqe_model: only {complete} block(s) with complete features were kept; at least 2 "
            "are needed (use more or larger images, a smaller block_size or a lower sharpness)"
        )
    if complete <= FEATURE_DIM:
        warnings.warn(
            f"fit_niqe_model: {complete} complete blocks for {FEATURE_DIM} features: the covariance "
            "is singular (NIQE then uses its pseudo-inverse); use more images for a full-rank model",
            UserWarning,
            stacklevel=2,
        )
    mu, cov = mvg_fit(feats.unsqueeze(0), valid.unsqueeze(0))
    return NIQEModel(mu[0], cov[0], VARIANT, block_size, feats.shape[0], "fit_niqe_model")
