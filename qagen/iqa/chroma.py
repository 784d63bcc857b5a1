"""YIQ chrominance similarity and the colour quality score (cQS) as used by BEGAN-IQA.

Vertolli & Davies, "Image quality assessment techniques show improved training and evaluation of
autoencoder GANs" (arXiv 1708.02237), following Gupta et al., "Objective color image quality
assessment based on Sobel magnitude" (SIVP 2017):

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
"""

from __future__ import annotations

import torch

from qagen._checks import check_choice, check_pair, reduce
from qagen.color import rgb_to_yiq
from qagen.iqa.gms import gradient_magnitude, similarity

CQS_C = 0.0026


def _c_on_255(c: float, c_scale: str) -> float:
    check_choice(c_scale, "c_scale", ("unit", "8bit"))
    if c <= 0:
        raise ValueError(f"c must be > 0, got {c}")
    return c * 255.0**2 if c_scale == "unit" else c


def _yiq255(
    x: torch.Tensor, y: torch.Tensor, data_range: float, metric: str
) -> tuple[torch.Tensor, torch.Tensor]:
    data_range = check_pair(x, y, data_range=data_range, channels=(3,), metric=metric)
    scale = 255.0 / data_range
    return rgb_to_yiq(x * scale, "began"), rgb_to_yiq(y * scale, "began")


def chroma_similarity_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """Chrominance similarity map S(I_x, I_y) * S(Q_x, Q_y), ``N x 1 x H x W`` (RGB input)."""
    c255 = _c_on_255(c, c_scale)
    a, b = _yiq255(x, y, data_range, "chroma_similarity_map")
    return similarity(a[:, 1:2], b[:, 1:2], c255) * similarity(a[:, 2:3], b[:, 2:3], c255)


def chroma_similarity(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """Mean chrominance similarity per image (1 for identical images; higher is better)."""
    m = chroma_similarity_map(x, y, data_range, c=c, c_scale=c_scale)
    return reduce(m.mean(dim=(1, 2, 3)), reduction)


def gms_sobel_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """GMS map on the BEGAN-IQA Y channel with the unnormalised Sobel operator (no downsampling)."""
    c255 = _c_on_255(c, c_scale)
    a, b = _yiq255(x, y, data_range, "gms_sobel_map")
    m = gradient_magnitude(torch.cat([a[:, :1], b[:, :1]], dim=0), "sobel")
    ma, mb = m.chunk(2, dim=0)
    return similarity(ma, mb, c255)


def cqs(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    c: float = CQS_C,
    c_scale: str = "unit",
) -> torch.Tensor:
    """cQS as described in BEGAN-IQA: Sobel GMSM on Y + mean chrominance similarity, in [0, 2]."""
    g = gms_sobel_map(x, y, data_range, c=c, c_scale=c_scale).mean(dim=(1, 2, 3))
    ch = chroma_similarity(x, y, data_range, c=c, c_scale=c_scale)
    return reduce(g + ch, reduction)
