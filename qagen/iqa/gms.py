"""Gradient magnitude similarity: GMS map, GMSM (mean) and GMSD (standard deviation).

Xue, Zhang, Mou, Bovik, "Gradient magnitude similarity deviation", IEEE TIP 2014 (``GMSD.m``):
grey image on the 0-255 scale, 2x2 average pre-downsampling (``conv2(Y, ones(2)/4, 'same')`` then
every second pixel), Prewitt/3 gradients (``conv2 'same'``, zero padding), m = sqrt(gx^2 + gy^2),
GMS = (2 m_x m_y + c) / (m_x^2 + m_y^2 + c) with c = 170, GMSM = mean(GMS),
GMSD = std(GMS) (MATLAB ``std2``, N - 1 normaliser).

The Sobel variant (unnormalised Sobel, no downsampling) is the GMSM of the colour quality score as
used by BEGAN-IQA (see :mod:`qagen.iqa.chroma`).

Reproduces ``GMSD.m`` within 1e-4 absolute (tests: TID2013 I01 and goldhill, float64).
"""

from __future__ import annotations

import torch

from qagen._checks import check_pair, reduce
from qagen.color import to_gray
from qagen.filters import gradients, matlab_downsample

#: Epsilon added to gx^2 + gy^2 (on the 0-255 scale) before the square root: finite gradients on
#: flat regions (piq issue #308). pyiqa's 1e-12 moves goldhill's GMSD by 1.3e-8 (it has exactly
#: flat areas); 1e-24 moves it by 1e-14 and keeps the float32 gradient finite.
GRAD_EPS = 1e-24

GMSD_C = 170.0  # on the 0-255 scale; 170 / 255^2 = 0.0026144 on [0, 1]


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
    """GMS map ``N x 1 x H' x W'`` (Xue et al. 2014); ``c`` is on the 0-255 scale (default 170).

    Grey input as given; RGB converted with ``gray`` (default "y": 0.299/0.587/0.114 unrounded;
    "rgb2gray": MATLAB's rounded rgb2gray). Computed on the 0-255 scale (x * 255 / data_range).
    ``downsample`` is GMSD's 2x2 average pre-downsampling (H' = ceil(H/2)).
    """
    data_range = check_pair(
        x, y, data_range=data_range, metric="gms_map", min_size=2 if downsample else 1
    )
    if c <= 0:
        raise ValueError(f"gms_map: c must be > 0, got {c}")
    scale = 255.0 / data_range
    x = to_gray(x, gray, data_range) * scale
    y = to_gray(y, gray, data_range) * scale
    both = torch.cat([x, y], dim=0)
    if downsample:
        both = matlab_downsample(both, 2)
    m = gradient_magnitude(both, kernel, eps)
    mx, my = m.chunk(2, dim=0)
    return similarity(mx, my, c)


def gmsm(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none", **kwargs
) -> torch.Tensor:
    """Gradient magnitude similarity mean (higher is better, 1 for identical images).

    Keyword arguments as :func:`gms_map`.
    """
    return reduce(gms_map(x, y, data_range, **kwargs).mean(dim=(1, 2, 3)), reduction)


def gmsd(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none", **kwargs
) -> torch.Tensor:
    """Gradient magnitude similarity deviation (lower is better, 0 for identical images).

    std of the GMS map with MATLAB ``std2``'s N - 1 normaliser; reproduces ``GMSD.m``. For
    identical images the map is constant and the std has an infinite-slope square root at 0:
    an epsilon of 1e-20 inside it keeps the gradient finite (changes GMSD by < 1e-10).
    Keyword arguments as :func:`gms_map`.
    """
    g = gms_map(x, y, data_range, **kwargs).flatten(1)
    var = g.var(dim=1, correction=1)
    return reduce(torch.sqrt(var + 1e-20), reduction)
