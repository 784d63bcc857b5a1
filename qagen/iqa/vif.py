"""Visual Information Fidelity in the pixel domain (VIFp).

Sheikh & Bovik, "Image information and visual quality", IEEE TIP 15(2), 2006, and the authors'
pixel-domain MATLAB release ``vifp_mscale.m`` (LIVE). With ``data_range=255`` and float64 input
:func:`vif_p` reproduces that code: TID2013 I01 / i01_01_5 on Y = 0.299 R + 0.587 G + 0.114 B
gives 0.3146867, goldhill / goldhill_jpeg 0.2664683 (``tests/iqa/test_vif.py``).

Algorithm (r = reference ``y``, d = distorted ``x``, both on the 0-255 scale), for the scales
j = 1..4 with a Gaussian window of N_j = 2^(5-j) + 1 = 17, 9, 5, 3 taps and sigma N_j / 5
(MATLAB ``fspecial('gaussian', N, N/5)``):

1. if j > 1: filter r and d with the window ('valid') and keep every second pixel;
2. local statistics with the window ('valid'): mu_r, mu_d, sigma_r^2, sigma_d^2, sigma_rd;
3. sigma_r^2, sigma_d^2 <- max(., 0);
4. g = sigma_rd / (sigma_r^2 + 1e-10), sigma_v^2 = sigma_d^2 - g sigma_rd;
5. in this order: where sigma_r^2 < 1e-10: g = 0, sigma_v^2 = sigma_d^2, sigma_r^2 = 0; where
   sigma_d^2 < 1e-10: g = 0, sigma_v^2 = 0; where g < 0: sigma_v^2 = sigma_d^2, g = 0;
   sigma_v^2 <- max(sigma_v^2, 1e-10);
6. num += sum log10(1 + g^2 sigma_r^2 / (sigma_v^2 + sigma_n^2)),
   den += sum log10(1 + sigma_r^2 / sigma_n^2).

VIFp = (num + 1e-8) / (den + 1e-8). The 1e-8 is piq's: it makes two images without any
reference variance (constant or all-zero references) score 1 instead of 0/0, and keeps the
gradient finite there. Everywhere else it changes the value by less than 1e-8 relative.

Implementation notes:

* The five local statistics of a scale (r, d, r^2, d^2, r d) are filtered together by the
  separable-filter engine (:func:`qagen.filters.separable_filter`); the subsampling of step 1
  is the engine's stride, so only the kept pixels are computed.
* Every image is shifted by its own global mean first. Variances and covariances do not depend
  on the shift (the Gaussian windows sum to 1), but the float32 cancellation error of
  E[r^2] - mu_r^2 shrinks (values around 0 instead of around 128 on the 0-255 scale): float32
  is 1.5e-7 or less off float64 on the reference pairs (1e-6 without the shift).
* log10(1 + t) is computed as log1p(t) / ln(10) (exact for the many tiny terms in float32).
* The hard corrections of step 5 are ``torch.where`` selections; every branch is finite
  (the 1e-10 in g's denominator, sigma_v^2 + sigma_n^2 >= sigma_n^2 > 0 in the logarithm), so
  gradients are finite everywhere, identical, constant and all-zero images included.
"""

from __future__ import annotations

import math

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
from qagen.filters import gaussian_taps, separable_filter

__all__ = ["vif_p", "VIF_MIN_SIZE"]

#: Smallest image side accepted by :func:`vif_p`: after the three 'valid' filter-and-subsample
#: steps and the 'valid' 3x3 statistics of scale 4 at least one pixel must remain: scale 4's
#: 3-tap statistics need n4 >= 3; n4 = (n3 - 3) // 2 + 1 gives n3 >= 7; likewise
#: n2 >= 2 * 6 + 5 = 17 and n1 >= 2 * 16 + 9 = 41.
VIF_MIN_SIZE = 41

#: Window sizes of the four scales (N_j = 2^(5-j) + 1), each with sigma N_j / 5.
_SCALES = (17, 9, 5, 3)

_EPS_VAR = 1e-10  # vifp_mscale.m's thresholds and the constant in g's denominator
_EPS_RATIO = 1e-8  # added to num and den (piq), see the module docstring
_INV_LN10 = 1.0 / math.log(10.0)


def _filter_valid(x: torch.Tensor, size: int, step: int) -> torch.Tensor:
    """``filter2(fspecial('gaussian', size, size/5), X, 'valid')(1:step:end, 1:step:end)`` per channel."""
    return separable_filter(x, gaussian_taps(size, size / 5.0), "valid", stride=step)


def vif_p(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    sigma_n_sq: float = 2.0,
    gray: str = "y",
) -> torch.Tensor:
    """Pixel-domain Visual Information Fidelity of distorted ``x`` against reference ``y``.

    Sheikh & Bovik (IEEE TIP 2006), ``vifp_mscale.m``; algorithm and constants in the module
    docstring. Higher is better: 1 for identical images, 0 when
    all information is lost, above 1 under contrast enhancement. Not symmetric: ``x`` is the
    distorted (or generated) image, ``y`` the reference.

    Args:
        x: distorted images, ``N x C x H x W`` with C = 1 (grey) or 3 (RGB), values in
            ``[0, data_range]``, H and W at least 41 (:data:`VIF_MIN_SIZE`).
        y: reference images, same shape, dtype and device.
        data_range: value of white; computed internally on the 0-255 scale (sigma_n^2 = 2 is
            tuned for 8-bit data).
        reduction: ``"none"`` (one value per image, shape ``[N]``), ``"mean"`` or ``"sum"``.
        sigma_n_sq: variance of the visual noise (HVS model), 2 in the original code.
        gray: how RGB input becomes grey (:func:`qagen.color.to_gray`): ``"y"`` (default,
            0.299/0.587/0.114 unrounded, the MATLAB reference value's input), ``"rgb2gray"``
            (MATLAB's rounded ``rgb2gray``), ``"rgb2gray_double"`` or ``"tf"``. Grey input is
            used as given.

    Returns:
        VIFp per image (``[N]``) or reduced; float16/bfloat16 input is computed and returned
        in float32.
    """
    data_range = check_pair(
        x,
        y,
        data_range=data_range,
        min_size=VIF_MIN_SIZE,
        metric="vif_p",
        hint="VIFp filters 'valid' over 4 scales (17, 9, 5, 3-tap windows, 2x subsampling)",
    )
    check_choice(gray, "gray", tuple(GRAY_WEIGHTS), "vif_p")
    check_choice(reduction, "reduction", ("none", "mean", "sum"), "vif_p")
    check_positive(sigma_n_sq, "sigma_n_sq", "vif_p")

    with no_autocast(x.device):
        x, y = compute_dtype(x, y)
        scale = 255.0 / data_range
        # (N, 2, H, W): channel 0 reference, channel 1 distorted, on the 0-255 scale.
        rd = torch.cat([to_gray(y, gray, data_range), to_gray(x, gray, data_range)], dim=1)
        if scale != 1.0:
            rd = rd * scale
        # Shift-invariance of the (co)variances: centre each image (see the module docstring).
        rd = rd - rd.detach().mean(dim=(-2, -1), keepdim=True)

        num = rd.new_zeros(rd.shape[0])
        den = rd.new_zeros(rd.shape[0])
        for j, size in enumerate(_SCALES):
            if j > 0:
                rd = _filter_valid(rd, size, 2)
            r, d = rd.split(1, dim=1)
            stats = _filter_valid(torch.cat([rd, rd * rd, r * d], dim=1), size, 1)
            mu, m2, m_rd = stats.split((2, 2, 1), dim=1)
            mu_r, mu_d = mu.split(1, dim=1)
            s_r, s_d = torch.relu(m2 - mu * mu).split(1, dim=1)
            s_rd = m_rd - mu_r * mu_d

            g = s_rd / (s_r + _EPS_VAR)
            s_v = (s_d - g * s_rd).clamp_min(_EPS_VAR)
            # The corrections of step 5 leave g > 0 (and sigma_v^2 = max(s_v, 1e-10)) only
            # where sigma_r^2 >= 1e-10, sigma_d^2 >= 1e-10 and g > 0; elsewhere g = 0 and the
            # num term is log(1) = 0 whatever sigma_v^2 is. sigma_r^2 < 1e-10 counts as 0 in den.
            big_r = s_r >= _EPS_VAR
            keep = big_r & (s_d >= _EPS_VAR) & (g > 0)
            # log10(1 + t) = log1p(t) / ln(10), the division applied to the sums. Both branches
            # of each where are finite (s_v + sigma_n^2 > 0).
            t_num = torch.log1p(g * g * s_r / (s_v + sigma_n_sq))
            t_den = torch.log1p(s_r * (1.0 / sigma_n_sq))
            num = num + torch.where(keep, t_num, 0.0).sum(dim=(1, 2, 3))
            den = den + torch.where(big_r, t_den, 0.0).sum(dim=(1, 2, 3))

        score = (num * _INV_LN10 + _EPS_RATIO) / (den * _INV_LN10 + _EPS_RATIO)
    return reduce(score, reduction)
