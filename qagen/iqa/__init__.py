"""Layer 1: image-quality metrics.

Every full-reference metric is called ``metric(x, y, data_range=1.0, reduction="none")`` with ``x``
the distorted/generated image and ``y`` the reference, ``N x C x H x W`` float tensors in
``[0, data_range]``; it returns one value per image. ``available()`` and ``get(name)`` give the
registry with each metric's metadata. See ``docs/metrics.md``.

Importing ``qagen.iqa`` is cheap: it loads only the registry (no torch). Each metric function is
imported from its module on first use (``qagen.iqa.ssim`` imports :mod:`qagen.iqa.structural`),
so ``qagen metrics`` lists the registry without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qagen._lazy import lazy_exports
from qagen.iqa.registry import MetricInfo, available, get, register

#: public name -> module that defines it (loaded on first attribute access)
_LAZY = {
    "input_checks": "qagen._checks",
    "input_checks_enabled": "qagen._checks",
    "set_input_checks": "qagen._checks",
    "chroma_similarity": "qagen.iqa.chroma",
    "chroma_similarity_map": "qagen.iqa.chroma",
    "cqs": "qagen.iqa.chroma",
    "gms_sobel_map": "qagen.iqa.chroma",
    "fsim": "qagen.iqa.feature_similarity",
    "fsim_map": "qagen.iqa.feature_similarity",
    "fsimc": "qagen.iqa.feature_similarity",
    "phase_congruency": "qagen.iqa.feature_similarity",
    "gms_map": "qagen.iqa.gms",
    "gmsd": "qagen.iqa.gms",
    "gmsm": "qagen.iqa.gms",
    "mdsi": "qagen.iqa.mean_deviation",
    "mdsi_map": "qagen.iqa.mean_deviation",
    "NIQEModel": "qagen.iqa.naturalness",
    "fit_niqe_model": "qagen.iqa.naturalness",
    "niqe": "qagen.iqa.naturalness",
    "niqe_distance": "qagen.iqa.naturalness",
    "niqe_features": "qagen.iqa.naturalness",
    "psnr": "qagen.iqa.peak_snr",
    "ms_ssim": "qagen.iqa.structural",
    "ms_ssim_map": "qagen.iqa.structural",
    "ssim": "qagen.iqa.structural",
    "ssim_distance": "qagen.iqa.structural",
    "ssim_maps": "qagen.iqa.structural",
    "vif_p": "qagen.iqa.vif",
}

__all__ = [
    "MetricInfo", "NIQEModel", "available", "chroma_similarity", "chroma_similarity_map", "cqs",
    "fit_niqe_model", "fsim", "fsim_map", "fsimc", "get", "gms_map", "gms_sobel_map", "gmsd",
    "gmsm", "input_checks", "input_checks_enabled", "mdsi", "mdsi_map", "ms_ssim", "ms_ssim_map", "niqe",
    "niqe_distance", "niqe_features", "phase_congruency", "psnr", "register", "set_input_checks",
    "ssim", "ssim_distance", "ssim_maps", "vif_p",
]  # fmt: skip


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


if TYPE_CHECKING:  # static analysers and IDEs see the real objects
    from qagen._checks import input_checks, input_checks_enabled, set_input_checks  # noqa: F401
    from qagen.iqa.chroma import (  # noqa: F401
        chroma_similarity,
        chroma_similarity_map,
        cqs,
        gms_sobel_map,
    )
    from qagen.iqa.feature_similarity import fsim, fsim_map, fsimc, phase_congruency  # noqa: F401
    from qagen.iqa.gms import gms_map, gmsd, gmsm  # noqa: F401
    from qagen.iqa.mean_deviation import mdsi, mdsi_map  # noqa: F401
    from qagen.iqa.naturalness import (  # noqa: F401
        NIQEModel,
        fit_niqe_model,
        niqe,
        niqe_distance,
        niqe_features,
    )
    from qagen.iqa.peak_snr import psnr  # noqa: F401
    from qagen.iqa.structural import ms_ssim, ms_ssim_map, ssim, ssim_distance, ssim_maps  # noqa: F401
    from qagen.iqa.vif import vif_p  # noqa: F401
