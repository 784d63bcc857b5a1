"""Layer 1: image-quality metrics.

Every full-reference metric is called ``metric(x, y, data_range=1.0, reduction="none")`` with ``x``
the distorted/generated image and ``y`` the reference, ``N x C x H x W`` float tensors in
``[0, data_range]``; it returns one value per image. ``available()`` and ``get(name)`` give the
registry with each metric's metadata. See ``docs/metrics.md``.
"""

from qagen._checks import input_checks, input_checks_enabled, set_input_checks
from qagen.iqa.chroma import chroma_similarity, chroma_similarity_map, cqs, gms_sobel_map
from qagen.iqa.feature_similarity import fsim, fsim_map, fsimc, phase_congruency
from qagen.iqa.gms import gms_map, gmsd, gmsm
from qagen.iqa.mean_deviation import mdsi, mdsi_map
from qagen.iqa.naturalness import NIQEModel, fit_niqe_model, niqe, niqe_distance, niqe_features
from qagen.iqa.peak_snr import psnr
from qagen.iqa.registry import MetricInfo, available, get, register
from qagen.iqa.structural import ms_ssim, ms_ssim_map, ssim, ssim_distance, ssim_maps
from qagen.iqa.vif import vif_p

__all__ = [
    "MetricInfo", "NIQEModel", "available", "chroma_similarity", "chroma_similarity_map", "cqs",
    "fit_niqe_model", "fsim", "fsim_map", "fsimc", "get", "gms_map", "gms_sobel_map", "gmsd",
    "gmsm", "input_checks", "input_checks_enabled", "mdsi", "mdsi_map", "ms_ssim", "ms_ssim_map", "niqe",
    "niqe_distance", "niqe_features", "phase_congruency", "psnr", "register", "set_input_checks",
    "ssim", "ssim_distance", "ssim_maps", "vif_p",
]  # fmt: skip
