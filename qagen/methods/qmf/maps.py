"""The three quality maps of Quality Map Fusion (Osahor & Nasrabadi 2021, section 3.2) and the
full-reference score its regressor learns, computed in one pass.

``m1``: FSIM's local similarity ``S_L = S_PC * S_G`` (Zhang et al. 2011, ``FeatureSIM.m``;
:func:`qagen.iqa.fsim_map`, ``kind='similarity'``; qagen's reading of "the FSIM map",
docs/qmf.md); ``m2``: the per-pixel MS-SSIM map (:func:`qagen.iqa.ms_ssim_map`, 'same' padding);
``m3``: MDSI's gradient-chromaticity similarity GCS (Nafchi et al. 2016, ``MDSI.m``;
:func:`qagen.iqa.mdsi_map`, ``'sum'``). Each compares the generated image ``x`` with the
reference ``ref``; 1 means identical, lower means different (GCS can leave [0, 1]). The FSIM
score ``sum(S_L PC_m) / sum(PC_m)`` comes from the same phase congruency as ``m1``.

Images are in [-1, 1] (the generator's range) and are mapped to [0, 1]; the maps run in at
least float32 with autocast and the metric range checks off (training loops).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from qagen._checks import input_checks
from qagen.filters import gaussian_filter
from qagen.iqa.feature_similarity import MIN_SIZE as FSIM_MIN_SIZE
from qagen.iqa.feature_similarity import _local_maps, _pool
from qagen.iqa.mean_deviation import mdsi_map
from qagen.iqa.structural import ms_ssim_map

__all__ = ["MAP_NAMES", "QualityMaps", "maps_min_size", "perturb_level1", "quality_maps"]

#: The maps' names, in channel order.
MAP_NAMES = ("fsim", "ms_ssim", "mdsi")


class QualityMaps(NamedTuple):
    """``maps``: ``N x 3 x H' x W'`` (m1, m2, m3); ``fsim``: the FSIM score per image ``[N]``."""

    maps: torch.Tensor
    fsim: torch.Tensor


def maps_min_size(ms_ssim_scales: int = 5) -> int:
    """Smallest image side the maps accept: FSIM's 8 px and the ``2^(scales - 1)`` px of the
    per-pixel MS-SSIM map."""
    return max(FSIM_MIN_SIZE, 2 ** (int(ms_ssim_scales) - 1))


def quality_maps(x: torch.Tensor, ref: torch.Tensor, ms_ssim_scales: int = 5) -> QualityMaps:
    """The QMF maps of generated ``x`` against reference ``ref`` (both ``N x 3 x H x W`` in
    [-1, 1]) and the FSIM score (module docstring). Differentiable with respect to ``x``. The
    maps share the FSIM map's size (``H`` for images up to 383 px; FSIM and MDSI downsample
    larger ones by ``round(min(H, W) / 256)``, and the MS-SSIM map is then average-pooled to
    match)."""
    dtype = torch.promote_types(x.dtype, torch.float32)
    xs = ((x.to(dtype) + 1.0) / 2.0).clamp(0.0, 1.0)
    rs = ((ref.to(dtype) + 1.0) / 2.0).clamp(0.0, 1.0)
    try:
        ctx = torch.autocast(device_type=x.device.type, enabled=False)
    except RuntimeError:  # pragma: no cover - device without autocast
        import contextlib

        ctx = contextlib.nullcontext()
    with ctx, input_checks(False):
        sim, weight = _local_maps(xs, rs, 1.0, False, 0.03, "matlab")
        m2 = ms_ssim_map(xs, rs, 1.0, scales=ms_ssim_scales)
        m3 = mdsi_map(xs, rs, 1.0)
    size = tuple(sim.shape[-2:])
    if tuple(m2.shape[-2:]) != size:
        m2 = F.adaptive_avg_pool2d(m2, size)
    if tuple(m3.shape[-2:]) != size:
        m3 = F.adaptive_avg_pool2d(m3, size)
    return QualityMaps(torch.cat([sim, m2, m3], 1), _pool(sim, weight))


#: The Waterloo Exploration Database's level-1 Gaussian blur (``fspecial('gaussian', 7, 7/6)``,
#: 'symmetric' border) and level-1 white noise (variance 2^-10 on [0, 1]), qagen.data.distortions.
LEVEL1_BLUR = (7, 7.0 / 6.0)
LEVEL1_NOISE_STD = 2.0**-5  # sqrt(2^-10), on [0, 1]


def perturb_level1(x: torch.Tensor, u: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``x`` (``N x C x H x W`` in [-1, 1]) under a mild, Waterloo level-1 distortion: image
    ``i`` is blurred (level-1 ``gblur``) where ``u[i] < 0.5``, else gets white noise of standard
    deviation 2^-5 on [0, 1] (level-1 ``wn``: ``noise`` is standard normal, shaped like ``x``),
    clipped to [-1, 1]. No 8-bit rounding (the training images are not 8-bit). These are the
    "real" maps of d2 in the image-to-image modes (:class:`qagen.methods.qmf.recipe.QMFConfig`
    ``d2_real``): the maps of an image that stays close to its reference, docs/qmf.md."""
    if x.dim() != 4:
        raise ValueError(f"x must be N x C x H x W, got shape {tuple(x.shape)}")
    if u.shape != (x.shape[0],) or noise.shape != x.shape:
        raise ValueError(
            f"u must have shape ({x.shape[0]},) and noise {tuple(x.shape)}, got "
            f"{tuple(u.shape)} and {tuple(noise.shape)}"
        )
    size, sigma = LEVEL1_BLUR
    blurred = gaussian_filter(x, size, sigma, padding="same", pad_mode="symmetric")
    noisy = (x + 2.0 * LEVEL1_NOISE_STD * noise.to(x.dtype)).clamp(-1.0, 1.0)
    return torch.where((u < 0.5).view(-1, 1, 1, 1), blurred, noisy)
