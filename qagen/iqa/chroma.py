"""YIQ chrominance similarity and the colour quality score (cQS) as used by BEGAN-IQA.

Vertolli & Davies, "Image quality assessment techniques show improved training and evaluation of
autoencoder generative adversarial networks" (arXiv 1708.02237, 2017), following Gupta et al.,
"Objective color image quality assessment based on Sobel magnitude" (SIVP 2017):

* YIQ with the 2-decimal matrix of the BEGAN-IQA code (Y .30/.59/.11, I .60/-.28/-.32,
  Q .21/-.52/.31);
* Chrom map = S(I_x, I_y) * S(Q_x, Q_y) with S(a, b) = (2ab + c)/(a^2 + b^2 + c);
* GMSM on Y with the unnormalised Sobel operator, no downsampling, pooled over the whole image;
* cQS = GMSM + mean(Chrom), range [0, 2] (as described in BEGAN-IQA; Gupta et al.'s own pooling
  and constants are not in the available material, so this is the BEGAN-IQA reading).

The constant: the paper states c = 0.0026 (footnote 2, "following cQS"), i.e. 170/255^2, the
GMSD constant on [0, 1] data. ``c_scale="unit"`` (default) applies ``c`` to intensities scaled to
[0, 1], which is the paper's statement; ``c_scale="8bit"`` applies it to 0-255 intensities, which
is what the authors' code effectively does (c is then negligible). ``c`` must be > 0; useful values
are about 1e-4 to 1e-2 on the unit scale (larger values flatten the similarity towards 1).

Minimum size: the Sobel operator is 3 x 3, so :func:`cqs` and :func:`gms_sobel_map` need at
least one pixel with its whole neighbourhood inside the image: H, W >= 3 (a 1 x 1 image, all
padding, scored a "perfect" 2.0 for any pair of grey levels). The chrominance similarity is
pointwise and accepts 1 x 1. Half-precision input is computed in float32 (the YIQ values on the
0-255 scale square to more than float16's range) and the results are float32.
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
from qagen.color import rgb_to_yiq
from qagen.iqa.gms import gradient_magnitude, similarity

__all__ = ["chroma_similarity", "chroma_similarity_map", "cqs", "gms_sobel_map", "CQS_C"]

CQS_C = 0.0026
_REDUCTIONS = ("none", "mean", "sum")
#: Smallest side of the Sobel part (the 3 x 3 operator must fit once).
SOBEL_MIN_SIZE = 3


def _c_on_255(c: float, c_scale: str, metric: str) -> float:
    check_choice(c_scale, "c_scale", ("unit", "8bit"), metric)
    c = check_positive(c, "c", metric)
    return c * 255.0**2 if c_scale == "unit" else c


def _yiq255(
    x: torch.Tensor, y: torch.Tensor, data_range: float, metric: str, min_size: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    hint = "the 3 x 3 Sobel operator must fit the image" if min_size > 1 else ""
    data_range = check_pair(
        x, y, data_range=data_range, channels=(3,), metric=metric, min_size=min_size, hint=hint
    )
    x, y = compute_dtype(x, y)
    scale = 255.0 / data_range
    return rgb_to_yiq(x * scale, "began"), rgb_to_yiq(y * scale, "began")


def _chroma_of(a: torch.Tensor, b: torch.Tensor, c255: float) -> torch.Tensor:
    """S(I_a, I_b) S(Q_a, Q_b) of two YIQ images."""
    return similarity(a[:, 1:2], b[:, 1:2], c255) * similarity(a[:, 2:3], b[:, 2:3], c255)


def _sobel_of(a: torch.Tensor, b: torch.Tensor, c255: float) -> torch.Tensor:
    """GMS with the Sobel operator of the Y channels of two YIQ images."""
    m = gradient_magnitude(torch.cat([a[:, :1], b[:, :1]], dim=0), "sobel")
    ma, mb = m.chunk(2, dim=0)
    return similarity(ma, mb, c255)


def _chroma_map(x, y, data_range, c, c_scale, metric) -> torch.Tensor:
    c255 = _c_on_255(c, c_scale, metric)
    return _chroma_of(*_yiq255(x, y, data_range, metric), c255)


def _sobel_map(x, y, data_range, c, c_scale, metric) -> torch.Tensor:
    c255 = _c_on_255(c, c_scale, metric)
    return _sobel_of(*_yiq255(x, y, data_range, metric, SOBEL_MIN_SIZE), c255)


def chroma_similarity_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """Chrominance similarity map S(I_x, I_y) S(Q_x, Q_y) (BEGAN-IQA's reading of cQS).

    Args:
        x: distorted RGB images ``N x 3 x H x W`` in ``[0, data_range]`` (any size).
        y: reference RGB images, same shape, dtype and device.
        data_range: value of white.
        c: stabilising constant (0.0026, module docstring).
        c_scale: "unit" (c on [0, 1] intensities, the paper) or "8bit" (on 0-255, the code).

    Returns:
        ``N x 1 x H x W`` in [-1, 1] (>= 0 unless the chroma signs differ), 1 where the
        chrominances agree, higher is better. float32 for half-precision input.
    """
    with no_autocast(x):
        return _chroma_map(x, y, data_range, c, c_scale, "chroma_similarity_map")


def chroma_similarity(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """Mean chrominance similarity per image (the colour part of cQS, BEGAN-IQA).

    Args:
        x: distorted RGB images ``N x 3 x H x W`` in ``[0, data_range]`` (any size: pointwise).
        y: reference RGB images, same shape, dtype and device.
        data_range: value of white.
        reduction: "none" (one value per image), "mean" or "sum".
        c, c_scale: as :func:`chroma_similarity_map`.

    Returns:
        ``[N]`` (or reduced) in [-1, 1], 1 for identical images, higher is better.
    """
    check_choice(reduction, "reduction", _REDUCTIONS, "chroma_similarity")
    with no_autocast(x):
        m = _chroma_map(x, y, data_range, c, c_scale, "chroma_similarity")
    return reduce(m.mean(dim=(1, 2, 3)), reduction)


def gms_sobel_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """GMS map on the BEGAN-IQA Y channel with the unnormalised Sobel operator (no downsampling).

    Args:
        x: distorted RGB images ``N x 3 x H x W`` in ``[0, data_range]``, H and W at least 3.
        y: reference RGB images, same shape, dtype and device.
        data_range: value of white.
        c, c_scale: as :func:`chroma_similarity_map`.

    Returns:
        ``N x 1 x H x W`` in (0, 1], 1 where the gradient magnitudes agree, higher is better.
    """
    with no_autocast(x):
        return _sobel_map(x, y, data_range, c, c_scale, "gms_sobel_map")


def cqs(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """Colour quality score as described in BEGAN-IQA: Sobel GMSM on Y + mean chroma similarity.

    cQS = mean(GMS_Sobel(Y_x, Y_y)) + mean(S(I_x, I_y) S(Q_x, Q_y)) (module docstring).

    Args:
        x: distorted RGB images ``N x 3 x H x W`` in ``[0, data_range]``, H and W at least 3
            (the Sobel operator must fit once).
        y: reference RGB images, same shape, dtype and device.
        data_range: value of white.
        reduction: "none" (one value per image), "mean" or "sum".
        c, c_scale: as :func:`chroma_similarity_map`.

    Returns:
        ``[N]`` (or reduced) in [-1, 2], 2 for identical images, higher is better. float32 for
        half-precision input.
    """
    check_choice(reduction, "reduction", _REDUCTIONS, "cqs")
    c255 = _c_on_255(c, c_scale, "cqs")
    with no_autocast(x):
        a, b = _yiq255(x, y, data_range, "cqs", SOBEL_MIN_SIZE)
        g = _sobel_of(a, b, c255).mean(dim=(1, 2, 3))
        ch = _chroma_of(a, b, c255).mean(dim=(1, 2, 3))
    return reduce(g + ch, reduction)
