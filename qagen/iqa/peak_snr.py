"""Peak signal-to-noise ratio.

PSNR = 10 log10(data_range^2 / MSE), MSE over all pixels and channels of one image (the
convention of scikit-image's ``peak_signal_noise_ratio`` on RGB). ``channel="y"`` computes on
the BT.601 luma of MATLAB ``rgb2ycbcr`` (Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in
[0, 1]), the super-resolution convention; ``crop_border`` shaves that many pixels first.

Identical images give MSE = 0 and PSNR = +inf (documented; never NaN). For a loss use
``eps > 0``, which caps PSNR at 10 log10(data_range^2 / eps). Half-precision input is computed
in float32 (its squared errors underflow in float16) and the result is float32.
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
from qagen.errors import InputError


def _ycbcr_y(x: torch.Tensor, data_range: float) -> torch.Tensor:
    u = x / data_range
    y = 16.0 + 65.481 * u[:, 0:1] + 128.553 * u[:, 1:2] + 24.966 * u[:, 2:3]
    return y / 255.0 * data_range


def psnr_min_size(crop_border: int = 0) -> int:
    """Smallest height and width :func:`psnr` accepts: one pixel left after the crop."""
    return 2 * int(crop_border) + 1


def psnr(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    channel: str = "all",
    crop_border: int = 0,
    eps: float = 0.0,
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: 10 log10(data_range^2 / MSE).

    MSE over all pixels and channels of one image (scikit-image's ``peak_signal_noise_ratio``
    convention); with ``channel="y"`` on the BT.601 luma of MATLAB ``rgb2ycbcr``.

    Args:
        x: distorted images ``N x C x H x W`` in ``[0, data_range]``, H and W at least
            2 ``crop_border`` + 1.
        y: reference images, same shape, dtype and device.
        data_range: value of white (the peak).
        reduction: "none" (one value per image), "mean" or "sum".
        channel: "all" (every channel) or "y" (BT.601 Y of RGB input, the super-resolution
            convention; grey input is used as is).
        crop_border: pixels shaved off every border first.
        eps: added to the MSE; > 0 caps PSNR at 10 log10(data_range^2 / eps) (for losses).

    Returns:
        ``[N]`` (or reduced) in dB, higher is better; +inf for identical images when
        ``eps = 0`` (never NaN, with a zero gradient there). float32 for half-precision input.
    """
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise InputError(f"psnr: crop_border must be an integer >= 0, got {crop_border!r}")
    check_choice(channel, "channel", ("all", "y"), "psnr")
    check_choice(reduction, "reduction", ("none", "mean", "sum"), "psnr")
    check_positive(eps, "eps", "psnr", allow_zero=True)
    data_range = check_pair(
        x, y, data_range=data_range, metric="psnr", min_size=psnr_min_size(crop_border)
    )
    with no_autocast(x):
        x, y = compute_dtype(x, y)
        if channel == "y" and x.shape[1] == 3:
            x, y = _ycbcr_y(x, data_range), _ycbcr_y(y, data_range)
        if crop_border:
            b = crop_border
            x, y = x[..., b:-b, b:-b], y[..., b:-b, b:-b]
        mse = (x - y).pow(2).mean(dim=(1, 2, 3)) + eps
        # where() twice: +inf for mse == 0 with a zero (not NaN) gradient there.
        pos = mse > 0
        safe = torch.where(pos, mse, torch.ones_like(mse))
        value = torch.where(
            pos, 10.0 * torch.log10(data_range**2 / safe), torch.full_like(mse, float("inf"))
        )
    return reduce(value, reduction)
