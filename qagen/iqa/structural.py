"""SSIM, its component maps, the SSIM distance d_Q, and MS-SSIM.

References
----------
* Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural
  similarity", IEEE TIP 13(4), 2004, and the authors' ``ssim_index.m``: 11 x 11 Gaussian window
  sigma 1.5, K1 = 0.01, K2 = 0.03, L = data_range, 'valid' filtering, mean pooling (the
  defaults). ``downsample=True`` reproduces the authors' 2009 ``ssim.m``:
  f = max(1, round(min(H, W) / 256)), 'symmetric' f x f box filter, then every f-th pixel.
* Wang, Simoncelli, Bovik, "Multi-scale structural similarity for image quality assessment",
  Asilomar 2003, and ``msssim.m``: 5 scales, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333],
  2 x 2 'symmetric' box downsampling between scales.
* Brunet, Vrscay, Wang, "On the mathematical properties of the structural similarity index",
  IEEE TIP 21(4), 2012: d_Q = sqrt(2 - L - CS) (with C3 = C2 / 2) is a normalised metric.

Maps: L = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), CS = (2 s_xy + C2) / (s_x^2 + s_y^2 + C2),
SSIM = L * CS, with Gaussian-weighted (biased) local moments, C1 = (K1 L)^2, C2 = (K2 L)^2.

Parity (tests/iqa/test_ssim.py, float64, ``data_range=255``, the images of
``tests/reference_data``): 1e-9 absolute against the MATLAB values (measured ~1e-14); also
checked against pytorch-msssim, torchmetrics and scikit-image.

Minimum size: the window must fit the image once ('valid' output of at least 1 x 1), so H and W
must be at least ``win_size`` (:func:`ssim_min_size`); MS-SSIM needs the window to fit the
coarsest of its scales (:func:`ms_ssim_min_size`). Half-precision input (float16, bfloat16) is
computed in float32 and the results are float32.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from qagen._checks import (
    check_choice,
    check_pair,
    check_positive,
    compute_dtype,
    no_autocast,
    reduce,
)
from qagen.color import GRAY_WEIGHTS, to_gray
from qagen.errors import InputError, InputTypeError
from qagen.filters import (
    PAD_MODES,
    Taps,
    gaussian_taps,
    separable_filter,
    taps,
)
from qagen.matlab_resize import box_downsample_symmetric, matlab_scale_factor

__all__ = [
    "MS_SSIM_WEIGHTS",
    "ms_ssim",
    "ms_ssim_min_size",
    "ssim",
    "ssim_distance",
    "ssim_distance_min_size",
    "ssim_maps",
    "ssim_min_size",
]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
GRAY_OPTIONS = (*GRAY_WEIGHTS, "per_channel")
_REDUCTIONS = ("none", "mean", "sum")

#: Epsilon inside the square root of d_Q (and clamp of 2 - L - CS at 0): keeps the gradient
#: finite for identical images, where 2 - L - CS = 0 exactly. Moves d_Q by at most 1e-4.
DQ_EPS = 1e-8

#: Window size of the QAGAN code's SSIM (``variant="paper"`` of :func:`ssim_distance`).
QAGAN_WIN_SIZE = 8


def _qagan_taps() -> Taps:
    """QAGAN code's 8-tap Gaussian (sigma 1.5) sampled at integer offsets -3..+4, normalised."""
    g = [math.exp(-(t * t) / (2 * 1.5**2)) for t in range(-3, 5)]
    return taps([v / sum(g) for v in g])


QAGAN_TAPS = _qagan_taps()


def ssim_min_size(win_size: int = 11) -> int:
    """Smallest height and width :func:`ssim` accepts: ``win_size`` (the window fits once)."""
    return int(win_size)


def ms_ssim_min_size(scales: int = 5, win_size: int = 11) -> int:
    """Smallest side for which the coarsest of ``scales`` scales still fits the window.

    Each 2 x 2 downsampling halves the side (rounding up), so the side must be at least
    (win_size - 1) 2^(scales - 1) + 1: 161 for the defaults.
    """
    return (int(win_size) - 1) * 2 ** (int(scales) - 1) + 1


def ssim_distance_min_size(variant: str = "standard", win_size: int = 11) -> int:
    """Smallest side :func:`ssim_distance` accepts: ``win_size``, or 8 for ``variant="paper"``."""
    return QAGAN_WIN_SIZE if variant == "paper" else int(win_size)


def _prepare(x: torch.Tensor, gray: str, data_range: float) -> torch.Tensor:
    if gray == "per_channel":
        return x
    return to_gray(x, gray=gray, data_range=data_range)


def _lcs_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    kernel: Taps,
    c1: float,
    c2: float,
    padding: str = "valid",
    pad_mode: str = "replicate",
    cs_extra: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps with one grouped filtering of [x, y, x^2, y^2, xy]."""
    c = x.shape[1]
    stats = separable_filter(
        torch.cat([x, y, x * x, y * y, x * y], dim=1), kernel, padding, pad_mode
    )
    mu_x, mu_y, exx, eyy, exy = stats.split(c, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    s_xx, s_yy, s_xy = exx - mu_xx, eyy - mu_yy, exy - mu_xy
    lum = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1)
    cs = (2 * s_xy + c2) / (s_xx + s_yy + c2 + cs_extra)
    return lum, cs


def _check_window(win_size: int, sigma: float, k1: float, k2: float, metric: str) -> None:
    if isinstance(win_size, bool) or not isinstance(win_size, numbers.Integral):
        raise InputTypeError(f"{metric}: win_size must be an integer, got {win_size!r}")
    if win_size < 1 or win_size % 2 == 0:
        raise InputError(f"{metric}: win_size must be a positive odd integer, got {win_size}")
    check_positive(sigma, "sigma", metric)
    check_positive(k1, "k1", metric, allow_zero=True)
    check_positive(k2, "k2", metric, allow_zero=True)


@dataclass(frozen=True, kw_only=True)
class _SSIMSetup:
    """The window and preprocessing of the SSIM family (Wang et al. 2004, ``ssim_index.m``):
    the ``win_size`` x ``win_size`` Gaussian window of standard deviation ``sigma``, the
    constants ``k1``, ``k2`` (:meth:`constants`), RGB to grey (``gray``), the 2009 ``ssim.m``
    ``downsample``, and the map ``padding`` / ``pad_mode``; the public functions' defaults."""

    win_size: int = 11
    sigma: float = 1.5
    k1: float = 0.01
    k2: float = 0.03
    gray: str = "y"
    downsample: bool = False
    padding: str = "valid"
    pad_mode: str = "replicate"

    def kernel(self) -> Taps:
        """The 1-D Gaussian taps of the separable window (``fspecial('gaussian')``)."""
        return gaussian_taps(self.win_size, self.sigma)

    def constants(self, data_range: float) -> tuple[float, float]:
        """``C1 = (k1 L)^2`` and ``C2 = (k2 L)^2`` with ``L = data_range`` (Wang et al. 2004)."""
        return (self.k1 * data_range) ** 2, (self.k2 * data_range) ** 2


def _ssim_setup(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float,
    *,
    setup: _SSIMSetup,
    metric: str,
    min_size: int | None = None,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Validate (messages name ``metric``), upcast half precision, convert to grey, downsample;
    returns the checked ``data_range`` and the prepared ``x``, ``y``."""
    o = setup
    _check_window(o.win_size, o.sigma, o.k1, o.k2, metric)
    data_range = check_pair(
        x,
        y,
        data_range=data_range,
        metric=metric,
        min_size=ssim_min_size(o.win_size) if min_size is None else min_size,
        hint=f"the {o.win_size} x {o.win_size} window must fit the image",
    )
    check_choice(o.gray, "gray", GRAY_OPTIONS, metric)
    check_choice(o.padding, "padding", ("valid", "same"), metric)
    check_choice(o.pad_mode, "pad_mode", PAD_MODES, metric)
    x, y = compute_dtype(x, y)
    x, y = _prepare(x, o.gray, data_range), _prepare(y, o.gray, data_range)
    if o.downsample:
        f = matlab_scale_factor(*x.shape[-2:])
        x, y = box_downsample_symmetric(x, f), box_downsample_symmetric(y, f)
        if o.padding == "valid" and min(x.shape[-2:]) < o.win_size:
            raise InputError(
                f"{metric}: after downsampling by {f} the image is {tuple(x.shape[-2:])}, smaller "
                f"than win_size={o.win_size}"
            )
    return data_range, x, y


def _ssim_maps(
    x: torch.Tensor, y: torch.Tensor, data_range: float, *, setup: _SSIMSetup, metric: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SSIM, luminance and contrast-structure maps (:func:`ssim_maps`) for ``setup``."""
    data_range, x, y = _ssim_setup(x, y, data_range, setup=setup, metric=metric)
    lum, cs = _lcs_maps(
        x, y, setup.kernel(), *setup.constants(data_range), setup.padding, setup.pad_mode
    )
    return lum * cs, lum, cs


def ssim_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    downsample: bool = False,
    padding: str = "valid",
    pad_mode: str = "replicate",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The SSIM, luminance and contrast-structure maps (Wang et al. 2004, ``ssim_index.m``).

    SSIM = L * CS with L = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) and
    CS = (2 s_xy + C2) / (s_x^2 + s_y^2 + C2) (module docstring).

    Args:
        x: distorted images, ``N x C x H x W`` (C = 1 grey, or 3 RGB converted with ``gray``),
            values in ``[0, data_range]``, H and W at least ``win_size``.
        y: reference images, same shape, dtype and device.
        data_range: value of white (L of the constants C1 = (k1 L)^2, C2 = (k2 L)^2).
        win_size: side of the Gaussian window (odd), 11 in ``ssim_index.m``.
        sigma: standard deviation of the window, 1.5.
        k1: constant of C1, 0.01.
        k2: constant of C2, 0.03.
        gray: RGB to grey (:mod:`qagen.color`): "y" (0.299 R + 0.587 G + 0.114 B, default),
            "rgb2gray" (MATLAB, rounded), "rgb2gray_double", "tf", or "per_channel" (the three
            channels separately, piq's convention).
        downsample: the 2009 ``ssim.m`` automatic downsampling by max(1, round(min(H, W)/256)).
        padding: "valid" (maps of (H - win + 1) x (W - win + 1), MATLAB parity) or "same"
            (maps of H x W, padded with ``pad_mode``).
        pad_mode: "replicate", "symmetric", "reflect", "circular" or "zeros" (``padding="same"``).

    Returns:
        ``(ssim_map, luminance_map, cs_map)``, each ``N x C' x H' x W'``. SSIM and CS lie in
        [-1, 1] and L in [0, 1] for non-negative images; 1 everywhere for identical images,
        higher is better. float32 for half-precision input.
    """
    with no_autocast(x):
        setup = _SSIMSetup(win_size=win_size, sigma=sigma, k1=k1, k2=k2, gray=gray,
                           downsample=downsample, padding=padding, pad_mode=pad_mode)  # fmt: skip
        return _ssim_maps(x, y, data_range, setup=setup, metric="ssim_maps")


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    downsample: bool = False,
    padding: str = "valid",
    pad_mode: str = "replicate",
) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004, ``ssim_index.m``).

    SSIM = mean over the map of L * CS (:func:`ssim_maps`). The defaults reproduce the 2004
    ``ssim_index.m``; ``downsample=True`` the 2009 ``ssim.m``. Parity with MATLAB: 1e-9 in
    float64 (tests); float32 is within 1e-4 relative of float64.

    Args:
        x: distorted images, ``N x C x H x W`` (grey, or RGB converted with ``gray``), values in
            ``[0, data_range]``, H and W at least ``win_size`` (11): the window must fit once.
        y: reference images, same shape, dtype and device.
        data_range: value of white.
        reduction: "none" (one value per image), "mean" or "sum".
        win_size, sigma, k1, k2, gray, downsample, padding, pad_mode: as :func:`ssim_maps`.

    Returns:
        ``[N]`` (or a scalar when reduced): in [-1, 1], 1 for identical images, higher is
        better. float32 for half-precision input.
    """
    check_choice(reduction, "reduction", _REDUCTIONS, "ssim")
    with no_autocast(x):
        setup = _SSIMSetup(win_size=win_size, sigma=sigma, k1=k1, k2=k2, gray=gray,
                           downsample=downsample, padding=padding, pad_mode=pad_mode)  # fmt: skip
        s, _, _ = _ssim_maps(x, y, data_range, setup=setup, metric="ssim")
    return reduce(s.mean(dim=(1, 2, 3)), reduction)


def _dq_pool(
    dmap_sq: torch.Tensor, pooling: str, eps: float, clamp: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if clamp:
        dmap_sq = dmap_sq.clamp_min(0.0)
    dmap = torch.sqrt(dmap_sq + eps)
    if pooling == "mean_of_sqrt_map":
        return dmap.mean(dim=(1, 2, 3)), dmap
    return torch.sqrt(dmap_sq.mean(dim=(1, 2, 3)) + eps), dmap


def ssim_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    variant: str = "standard",
    pooling: str = "mean_of_sqrt_map",
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    padding: str = "valid",
    pad_mode: str = "replicate",
    eps: float = DQ_EPS,
    return_map: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """SSIM distance d_Q = sqrt(2 - L - CS) (Brunet, Vrscay, Wang 2012), pooled per image.

    ``variant="standard"``: the window and constants of :func:`ssim`, 2 - L - CS clamped at 0
    and ``eps`` inside the square root (finite gradients for identical images); a distance:
    d_Q(x, x) = sqrt(eps) = 1e-4.

    ``variant="paper"``: the QAGAN authors' TensorFlow code (Kancharla & Channappayya,
    NeurIPS 2019): inputs in [-1, 1] (``data_range`` must be 2), grey with TensorFlow's
    weights (0.2989, 0.5870, 0.1140), an 8-tap Gaussian (sigma 1.5) at integer offsets -3..+4
    with zero 'same' padding (3 before, 4 after), C1 = (0.01 * 2)^2, C2 = (0.03 * 2)^2,
    **+0.01 in the CS denominator** and no clamp; ``eps`` is still added inside the square
    root (the code has none) so that the gradient stays finite. The +0.01 makes CS < 1 even
    for identical images, so d_Q(x, x) is **not 0**: sqrt(1 - (2 s^2 + C2) / (2 s^2 + C2 +
    0.01)) per window, i.e. 0.8575 on flat regions (s = 0) and, pooled with the default
    ``mean_of_sqrt_map``, 0.4894 for TID2013 I01, 0.6229 for goldhill and 0.6359 for the LIVE
    NIQE ``image1.bmp`` (each compared with itself). It is a training signal, not a metric.

    Args:
        x: distorted/generated images ``N x C x H x W`` (grey, or RGB converted to grey), values
            in ``[0, data_range]`` (``[-1, 1]`` for the paper variant), H and W at least
            ``win_size`` (11; 8 for the paper variant).
        y: reference images, same shape, dtype and device.
        data_range: value range (2 for the paper variant).
        reduction: "none" (one value per image), "mean" or "sum".
        variant: "standard" or "paper" (above).
        pooling: "mean_of_sqrt_map" (the QAGAN code: spatial mean of the per-window distance)
            or "sqrt_of_mean" (sqrt(mean(2 - L - CS)), Brunet et al.'s l2 pooling, which keeps
            the triangle inequality).
        win_size, sigma, k1, k2, gray, padding, pad_mode: as :func:`ssim_maps` (standard only).
        eps: added inside the square root, 1e-8.
        return_map: also return the per-window distance map.

    Returns:
        ``[N]`` (or reduced) in [0, sqrt(2 + eps)]: 0 (up to sqrt(eps)) for identical images in
        the standard variant, lower is better; with ``return_map`` also the map
        ``N x 1 x H' x W'``. float32 for half-precision input.
    """
    check_choice(variant, "variant", ("standard", "paper"), "ssim_distance")
    check_choice(pooling, "pooling", ("mean_of_sqrt_map", "sqrt_of_mean"), "ssim_distance")
    check_choice(reduction, "reduction", _REDUCTIONS, "ssim_distance")
    check_positive(eps, "eps", "ssim_distance", allow_zero=True)
    with no_autocast(x):
        if variant == "paper":
            if isinstance(data_range, bool) or data_range != 2.0:
                raise InputError(
                    "ssim_distance(variant='paper') expects images in [-1, 1] with "
                    f"data_range=2, got {data_range!r}"
                )
            check_pair(x, y, data_range=2.0, metric="ssim_distance", min_size=QAGAN_WIN_SIZE,
                       low=-1.0, hint="the 8-tap window of the QAGAN code must fit the image")  # fmt: skip
            x, y = compute_dtype(x, y)
            if x.shape[1] == 3:
                x, y = to_gray(x, "tf"), to_gray(y, "tf")
            lum, cs = _lcs_maps(
                x, y, QAGAN_TAPS, (0.01 * 2) ** 2, (0.03 * 2) ** 2, "same", "zeros", cs_extra=0.01
            )
            values, dmap = _dq_pool(2.0 - lum - cs, pooling, eps, clamp=False)
        else:
            setup = _SSIMSetup(win_size=win_size, sigma=sigma, k1=k1, k2=k2, gray=gray,
                               padding=padding, pad_mode=pad_mode)  # fmt: skip
            data_range, x, y = _ssim_setup(x, y, data_range, setup=setup, metric="ssim_distance")
            lum, cs = _lcs_maps(
                x, y, setup.kernel(), *setup.constants(data_range), padding, pad_mode
            )
            values, dmap = _dq_pool(2.0 - lum - cs, pooling, eps, clamp=True)
    values = reduce(values, reduction)
    return (values, dmap) if return_map else values


def _safe_pow(v: torch.Tensor, w: float, negative: str) -> torch.Tensor:
    """v ** w for the MS-SSIM product with the chosen handling of v <= 0.

    "relu": max(v, 0) ** w (piq/pytorch-msssim parity) computed with a double ``where`` so that the
    gradient at v <= 0 is 0 instead of NaN; "clamp": max(v, 1e-4) ** w (loss form of
    jorge-pessoa/pytorch-msssim #2); "normalize": ((v + 1) / 2) ** w.
    """
    if negative == "normalize":
        return ((v + 1.0) / 2.0) ** w
    if negative == "clamp":
        return v.clamp_min(1e-4) ** w
    pos = v > 0
    safe = torch.where(pos, v, torch.ones_like(v))
    return torch.where(pos, safe**w, torch.zeros_like(v))


def _ms_ssim_weights(scales, weights, metric: str = "ms_ssim") -> tuple[float, ...]:
    if isinstance(scales, bool) or not isinstance(scales, numbers.Integral):
        raise InputTypeError(f"{metric}: scales must be an integer, got {scales!r}")
    if scales < 1:
        raise InputError(f"{metric}: scales must be >= 1, got {scales}")
    if weights is None:
        if scales > len(MS_SSIM_WEIGHTS):
            raise InputError(
                f"{metric}: msssim.m has 5 scale weights; scales={scales} needs explicit weights"
            )
        w = MS_SSIM_WEIGHTS[:scales]
        return tuple(v / sum(w) for v in w) if scales < len(MS_SSIM_WEIGHTS) else w
    try:
        w = tuple(float(v) for v in weights)
    except (TypeError, ValueError):
        raise InputTypeError(
            f"{metric}: weights must be a sequence of numbers, got {weights!r}"
        ) from None
    if len(w) != scales:
        raise InputError(
            f"{metric}: weights must have {scales} entries (one per scale), got {len(w)}"
        )
    if not all(math.isfinite(v) and v >= 0 for v in w) or sum(w) <= 0:
        raise InputError(f"{metric}: weights must be finite, >= 0 and not all 0, got {w}")
    return w


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    scales: int = 5,
    weights: tuple[float, ...] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    negative: str = "relu",
) -> torch.Tensor:
    """Multi-scale SSIM (Wang, Simoncelli, Bovik 2003, ``msssim.m``).

    MS-SSIM = ssim_M^{w_M} prod_{j<M} cs_j^{w_j}: cs_j is the mean CS map at scale j, ssim_M
    the mean SSIM map at the coarsest scale (not mean(L) * mean(CS)); between scales a 2 x 2
    'symmetric' box filter keeps every second pixel. Reproduces ``msssim.m`` to 1e-9 (tests,
    float64, ``data_range=255``).

    Args:
        x: distorted images, ``N x C x H x W`` (grey, or RGB converted with ``gray``), values in
            ``[0, data_range]``; H and W at least (win_size - 1) 2^(scales - 1) + 1 (161 for the
            defaults, :func:`ms_ssim_min_size`): the window must fit the coarsest scale.
        y: reference images, same shape, dtype and device.
        data_range: value of white.
        reduction: "none" (one value per image), "mean" or "sum".
        scales: number of scales, >= 1. Fewer than 5 use the first ``scales`` weights of
            ``msssim.m`` renormalised to sum 1 (not the original algorithm); more need
            ``weights``.
        weights: one exponent per scale (finite, >= 0, not all 0); default ``msssim.m``'s.
        win_size, sigma, k1, k2, gray: as :func:`ssim_maps`.
        negative: handling of cs <= 0 before the fractional powers: "relu" (max(cs, 0), the
            parity setting of piq and pytorch-msssim), "clamp" (max(cs, 1e-4), for losses) or
            "normalize" ((cs + 1) / 2).

    Returns:
        ``[N]`` (or reduced) in [0, 1] ("relu"), 1 for identical images, higher is better.
        float32 for half-precision input.
    """
    w = _ms_ssim_weights(scales, weights)
    check_choice(negative, "negative", ("relu", "clamp", "normalize"), "ms_ssim")
    check_choice(reduction, "reduction", _REDUCTIONS, "ms_ssim")
    _check_window(win_size, sigma, k1, k2, "ms_ssim")
    min_size = ms_ssim_min_size(scales, win_size)
    with no_autocast(x):
        setup = _SSIMSetup(win_size=win_size, sigma=sigma, k1=k1, k2=k2, gray=gray)
        data_range, x, y = _ssim_setup(
            x, y, data_range, setup=setup, metric="ms_ssim", min_size=min_size
        )
        kernel = setup.kernel()
        c1, c2 = setup.constants(data_range)
        out = None
        for j in range(scales):
            lum, cs = _lcs_maps(x, y, kernel, c1, c2)
            if j < scales - 1:
                v = cs.mean(dim=(1, 2, 3))
                x, y = box_downsample_symmetric(x, 2), box_downsample_symmetric(y, 2)
            else:
                v = (lum * cs).mean(dim=(1, 2, 3))
            term = _safe_pow(v, w[j], negative)
            out = term if out is None else out * term
    return reduce(out, reduction)


#: Below this value a map pixel's power v^w is replaced by its chord through 0 and eps^w (the
#: slope of v^w is unbounded at 0; the chord keeps the gradient finite). Moves no value >= eps.
MAP_POW_EPS = 1e-6


def _map_pow(v: torch.Tensor, w: float, negative: str) -> torch.Tensor:
    """Per-pixel ``v ** w`` for :func:`ms_ssim_map`: ``"relu"`` maps v <= 0 to 0 (values in
    (0, MAP_POW_EPS) follow the chord from 0 to MAP_POW_EPS^w, so the gradient stays finite);
    ``"clamp"`` and ``"normalize"`` as in :func:`ms_ssim`."""
    if negative != "relu":
        return _safe_pow(v, w, negative)
    eps = MAP_POW_EPS
    above = v.clamp_min(eps) ** w
    ramp = v.clamp(0.0, eps) * (eps ** (w - 1.0))
    return torch.where(v > eps, above, ramp)


def ms_ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    scales: int = 5,
    weights: tuple[float, ...] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    pad_mode: str = "replicate",
    negative: str = "relu",
) -> torch.Tensor:
    """Per-pixel multi-scale SSIM map, ``N x C' x H x W`` (not part of Wang et al.'s algorithm).

    ``map(p) = [up(L_M CS_M)](p)^{w_M} * prod_{j<M} [up(CS_j)](p)^{w_j}`` (qagen's per-pixel form of
    ``msssim.m``, Wang, Simoncelli, Bovik 2003; docs/qmf.md): at scale j the luminance L_j and
    contrast-structure CS_j maps of :func:`ssim_maps` are computed with **'same' padding**
    (``pad_mode``, replicate by default; 11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03)), so
    every scale keeps a map however small the image; between scales the images go through
    ``msssim.m``'s 2x2 'symmetric' box filter keeping every second pixel; each scale's map is
    brought back to H x W by bilinear interpolation (half-pixel centres), then raised to its
    exponent, the MS-SSIM weights ``w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)`` (``scales < 5``:
    the first ``scales`` weights renormalised to sum 1, as :func:`ms_ssim`). ``negative`` handles
    values <= 0 before the powers: ``"relu"`` (default) gives 0 there (see :data:`MAP_POW_EPS`),
    ``"clamp"`` uses max(v, 1e-4), ``"normalize"`` (v + 1) / 2.

    Identical images give a map of ones (L = CS = 1 at every scale). Because of the 'same'
    padding this works for 32 and 64 px images (the 'valid' MS-SSIM needs 161 px); the image
    must have at least ``2^(scales-1)`` pixels per side so that the coarsest scale has one.
    Relation to :func:`ms_ssim`: by Hoelder's inequality (the weights sum to 1) the mean of the
    map is at most the MS-SSIM computed from the same 'same'-padded scale maps,
    ``mean(map) <= (mean L_M CS_M)^{w_M} prod_j (mean CS_j)^{w_j}`` (equality for constant
    maps); see ``docs/metrics.md`` for how far it lies from ``msssim.m``'s value.
    Differentiable (finite gradients, identical images included).
    """
    w = _ms_ssim_weights(scales, weights, "ms_ssim_map")
    check_choice(negative, "negative", ("relu", "clamp", "normalize"), "ms_ssim_map")
    with no_autocast(x):
        setup = _SSIMSetup(win_size=win_size, sigma=sigma, k1=k1, k2=k2, gray=gray,
                           padding="same", pad_mode=pad_mode)  # fmt: skip
        data_range, x, y = _ssim_setup(
            x, y, data_range, setup=setup, metric="ms_ssim_map", min_size=2 ** (scales - 1)
        )
        size = tuple(x.shape[-2:])
        kernel = setup.kernel()
        c1, c2 = setup.constants(data_range)
        out = None
        for j in range(scales):
            lum, cs = _lcs_maps(x, y, kernel, c1, c2, "same", pad_mode)
            m = cs if j < scales - 1 else lum * cs
            if tuple(m.shape[-2:]) != size:
                m = torch.nn.functional.interpolate(
                    m, size=size, mode="bilinear", align_corners=False
                )
            term = _map_pow(m, w[j], negative)
            out = term if out is None else out * term
            if j < scales - 1:
                x, y = box_downsample_symmetric(x, 2), box_downsample_symmetric(y, 2)
    return out
