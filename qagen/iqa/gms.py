"""Gradient magnitude similarity: GMS map, GMSM (mean) and GMSD (standard deviation).

Xue, Zhang, Mou, Bovik, "Gradient magnitude similarity deviation: a highly efficient perceptual
image quality index", IEEE TIP 23(2), 2014, and the authors' ``GMSD.m``: grey image on the
0-255 scale, 2 x 2 average pre-downsampling (``conv2(Y, ones(2)/4, 'same')`` then every second
pixel), Prewitt/3 gradients (``conv2 'same'``, zero padding), m = sqrt(gx^2 + gy^2),
GMS = (2 m_x m_y + c) / (m_x^2 + m_y^2 + c) with c = 170, GMSM = mean(GMS),
GMSD = std(GMS) (MATLAB ``std2``, N - 1 normaliser).

The Sobel variant (unnormalised Sobel, no downsampling) is the GMSM of the colour quality score as
used by BEGAN-IQA (see :mod:`qagen.iqa.chroma`).

Reproduces ``GMSD.m`` to 1e-7 absolute (tests: TID2013 I01 and goldhill, float64; measured
1e-14 and 1.3e-8).

Minimum size (:func:`gms_min_size`): the Prewitt operator is 3 x 3, so at least one pixel of the
image it sees must have its whole 3 x 3 neighbourhood inside the image, i.e. the (downsampled)
image must be at least 3 x 3: H, W >= 5 with the 2 x 2 pre-downsampling (ceil(5 / 2) = 3), >= 3
without. Below that every gradient involves the zero padding only (a 2 x 2 image gave a 1 x 1 map
and GMSD = 0/0 = NaN).
"""

from __future__ import annotations

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
from qagen.errors import InputTypeError
from qagen.filters import GRADIENT_OPERATORS, gradients
from qagen.matlab_resize import matlab_downsample

__all__ = ["gms_map", "gms_min_size", "gmsd", "gmsm", "gradient_magnitude", "similarity"]

#: Epsilon added to gx^2 + gy^2 (on the 0-255 scale) before the square root: finite gradients on
#: flat regions (piq issue #308). pyiqa's 1e-12 moves goldhill's GMSD by 1.3e-8 (it has exactly
#: flat areas); 1e-24 moves it by 1e-14 and keeps the float32 gradient finite.
GRAD_EPS = 1e-24

GMSD_C = 170.0  # on the 0-255 scale; 170 / 255^2 = 0.0026144 on [0, 1]
_REDUCTIONS = ("none", "mean", "sum")


def gms_min_size(downsample: bool = True) -> int:
    """Smallest height and width of the GMS metrics: 5 with the 2 x 2 pre-downsampling, else 3."""
    return 5 if downsample else 3


def gradient_magnitude(
    y: torch.Tensor, kernel: str = "prewitt", eps: float = GRAD_EPS
) -> torch.Tensor:
    """sqrt(gx^2 + gy^2 + eps) with MATLAB ``conv2(Y, h, 'same')`` gradients (zero padding).

    ``kernel`` in "prewitt" (/3), "sobel" (unnormalised), "scharr_fsim" (/16): the separable
    3 x 3 operators of :func:`qagen.filters.gradients` (the filter engine).
    """
    gx, gy = gradients(y, kernel)
    return torch.sqrt(torch.addcmul(gx * gx, gy, gy) + eps)


def similarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """The Dice-like similarity (2ab + c) / (a^2 + b^2 + c) shared by GMS, cQS, FSIM and MDSI."""
    return (2.0 * a * b + c) / (a * a + b * b + c)


def _gms_map(x, y, data_range, c, kernel, downsample, gray, eps, metric) -> torch.Tensor:
    data_range = check_pair(
        x, y, data_range=data_range, metric=metric, min_size=gms_min_size(downsample),
        hint="the 3 x 3 gradient operator needs a 3 x 3 image"
        + (" after the 2 x 2 downsampling" if downsample else ""),
    )  # fmt: skip
    check_positive(c, "c", metric)
    check_positive(eps, "eps", metric, allow_zero=True)
    check_choice(kernel, "kernel", tuple(GRADIENT_OPERATORS), metric)
    check_choice(gray, "gray", tuple(GRAY_WEIGHTS), metric)
    x, y = compute_dtype(x, y)
    scale = 255.0 / data_range
    x = to_gray(x, gray, data_range) * scale
    y = to_gray(y, gray, data_range) * scale
    both = torch.cat([x, y], dim=0)
    if downsample:
        both = matlab_downsample(both, 2)
    m = gradient_magnitude(both, kernel, eps)
    mx, my = m.chunk(2, dim=0)
    return similarity(mx, my, c)


def gms_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    c: float = GMSD_C,
    kernel: str = "prewitt",
    downsample: bool = True,
    gray: str = "y",
    eps: float = GRAD_EPS,
) -> torch.Tensor:
    """Gradient magnitude similarity map (Xue et al. 2014, ``GMSD.m``).

    GMS = (2 m_x m_y + c) / (m_x^2 + m_y^2 + c), m the gradient magnitude on the 0-255 scale
    (module docstring).

    Args:
        x: distorted images ``N x C x H x W`` (grey, or RGB converted with ``gray``), values in
            ``[0, data_range]``, H and W at least 5 (3 without ``downsample``).
        y: reference images, same shape, dtype and device.
        data_range: value of white (computed on x * 255 / data_range).
        c: stabilising constant on the 0-255 scale, 170 in ``GMSD.m``.
        kernel: "prewitt" (``GMSD.m``), "sobel" or "scharr_fsim".
        downsample: ``GMSD.m``'s 2 x 2 average pre-downsampling.
        gray: RGB to grey: "y" (0.299/0.587/0.114 unrounded), "rgb2gray" (MATLAB's, rounded),
            "rgb2gray_double" or "tf".
        eps: added to gx^2 + gy^2 before the square root (finite gradients), 1e-24.

    Returns:
        ``N x 1 x H' x W'`` (H' = ceil(H / 2) with ``downsample``) in (0, 1], 1 where the
        gradients agree, higher is better. float32 for half-precision input.
    """
    with no_autocast(x):
        return _gms_map(x, y, data_range, c, kernel, downsample, gray, eps, "gms_map")


def gmsm(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none", **kwargs
) -> torch.Tensor:
    """Gradient magnitude similarity mean (Xue et al. 2014): the mean of :func:`gms_map`.

    Args:
        x: distorted images ``N x C x H x W`` in ``[0, data_range]``, H and W at least 5.
        y: reference images, same shape, dtype and device.
        data_range: value of white.
        reduction: "none" (one value per image), "mean" or "sum".
        **kwargs: ``c``, ``kernel``, ``downsample``, ``gray``, ``eps`` of :func:`gms_map`.

    Returns:
        ``[N]`` (or reduced) in (0, 1], 1 for identical images, higher is better.
    """
    check_choice(reduction, "reduction", _REDUCTIONS, "gmsm")
    with no_autocast(x):
        g = _gms_map(x, y, data_range, **_gms_options(kwargs, "gmsm"), metric="gmsm")
    return reduce(g.mean(dim=(1, 2, 3)), reduction)


def gmsd(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none", **kwargs
) -> torch.Tensor:
    """Gradient magnitude similarity deviation (Xue et al. 2014, ``GMSD.m``).

    GMSD = std of the GMS map with MATLAB ``std2``'s N - 1 normaliser. For identical images the
    map is constant and the std has an infinite-slope square root at 0: an epsilon of 1e-20
    inside it keeps the gradient finite (changes GMSD by < 1e-10).

    Args:
        x: distorted images ``N x C x H x W`` in ``[0, data_range]``, H and W at least 5
            (3 without ``downsample``; see the module docstring).
        y: reference images, same shape, dtype and device.
        data_range: value of white.
        reduction: "none" (one value per image), "mean" or "sum".
        **kwargs: ``c``, ``kernel``, ``downsample``, ``gray``, ``eps`` of :func:`gms_map`.

    Returns:
        ``[N]`` (or reduced), >= 0: 0 (1e-10) for identical images, lower is better; at most
        about 0.5 for the default constant. float32 for half-precision input.
    """
    check_choice(reduction, "reduction", _REDUCTIONS, "gmsd")
    with no_autocast(x):
        g = _gms_map(x, y, data_range, **_gms_options(kwargs, "gmsd"), metric="gmsd").flatten(1)
        var = g.var(dim=1, correction=1)
        return reduce(torch.sqrt(var + 1e-20), reduction)


def _gms_options(kwargs: dict, metric: str) -> dict:
    allowed = {"c": GMSD_C, "kernel": "prewitt", "downsample": True, "gray": "y", "eps": GRAD_EPS}
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise InputTypeError(
            f"{metric}: unexpected keyword argument(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return {**allowed, **kwargs}
