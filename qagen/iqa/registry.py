"""Metric registry: ``get(name)`` and ``available()`` with each metric's metadata.

Entries import their module lazily, so listing the registry is cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from qagen.errors import UnknownNameError


@dataclass(frozen=True)
class MetricInfo:
    """Metadata of one metric. ``fn(x, y, data_range=...)`` (full reference) or ``fn(x, data_range=...)``."""

    name: str
    module: str
    function: str
    full_reference: bool
    higher_is_better: bool
    differentiable: bool
    reproduces: str
    tolerance: str
    input: str  # "grey or RGB", "RGB", ...
    map_function: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fn(self) -> Callable:
        """The metric function (imported on first use)."""
        return getattr(importlib.import_module(self.module), self.function)

    @property
    def map_fn(self) -> Callable | None:
        """The map companion, or None when the metric has no map."""
        if self.map_function is None:
            return None
        return getattr(importlib.import_module(self.module), self.map_function)

    @property
    def has_map(self) -> bool:
        return self.map_function is not None


_M = "qagen.iqa."
_REGISTRY: dict[str, MetricInfo] = {}


def register(info: MetricInfo) -> MetricInfo:
    """Add a metric (its name and aliases must be new)."""
    for key in (info.name, *info.aliases):
        if key in _REGISTRY:
            raise ValueError(f"metric name {key!r} is already registered")
        _REGISTRY[key] = info
    return info


for _info in (
    MetricInfo("psnr", _M + "peak_snr", "psnr", True, True, True,
               "10 log10(L^2/MSE) over all channels (skimage peak_signal_noise_ratio)", "1e-10",
               "grey or RGB"),
    MetricInfo("ssim", _M + "structural", "ssim", True, True, True,
               "Wang et al. 2004 ssim_index.m (downsample=True: 2009 ssim.m)", "1e-4 abs (float64, L=255)",
               "grey; RGB -> Y (0.299/0.587/0.114)", map_function="ssim_maps"),
    MetricInfo("ms_ssim", _M + "structural", "ms_ssim", True, True, True,
               "Wang et al. 2003 msssim.m (5 scales)", "1e-4 abs", "grey; RGB -> Y",
               map_function="ms_ssim_map", aliases=("msssim",)),
    MetricInfo("ssim_distance", _M + "structural", "ssim_distance", True, False, True,
               "Brunet et al. 2012 d_Q = sqrt(2 - L - CS)", "closed form", "grey; RGB -> Y"),
    MetricInfo("gmsd", _M + "gms", "gmsd", True, False, True,
               "Xue et al. 2014 GMSD.m", "1e-4 abs", "grey; RGB -> Y", map_function="gms_map"),
    MetricInfo("gmsm", _M + "gms", "gmsm", True, True, True,
               "Xue et al. 2014 GMSD.m (mean pooling)", "1e-4 abs", "grey; RGB -> Y", map_function="gms_map"),
    MetricInfo("cqs", _M + "chroma", "cqs", True, True, True,
               "cQS as described in BEGAN-IQA (Sobel GMSM + YIQ chroma)", "closed form", "RGB",
               map_function="chroma_similarity_map"),
    MetricInfo("chroma", _M + "chroma", "chroma_similarity", True, True, True,
               "BEGAN-IQA YIQ chrominance similarity", "closed form", "RGB",
               map_function="chroma_similarity_map"),
    MetricInfo("fsim", _M + "feature_similarity", "fsim", True, True, True,
               "Zhang et al. 2011 FeatureSIM.m (FSIM)", "1e-4 abs", "grey or RGB (-> Y)", map_function="fsim_map"),
    MetricInfo("fsimc", _M + "feature_similarity", "fsimc", True, True, True,
               "Zhang et al. 2011 FeatureSIM.m (FSIMc)", "1e-4 abs", "RGB (grey: = FSIM)", map_function="fsim_map"),
    MetricInfo("mdsi", _M + "mean_deviation", "mdsi", True, False, True,
               "Nafchi et al. 2016 MDSI.m", "1e-4 abs", "RGB (grey replicated)", map_function="mdsi_map"),
    MetricInfo("vif_p", _M + "vif", "vif_p", True, True, True,
               "Sheikh & Bovik 2006 vifp_mscale.m", "1e-4 abs", "grey; RGB -> Y", aliases=("vifp",)),
    MetricInfo("niqe", _M + "naturalness", "niqe", False, False, True,
               "Mittal et al. 2013 LIVE computequality.m", "0.1% rel (target 1e-6)", "grey or RGB (rgb2gray)"),
):  # fmt: skip
    register(_info)


def get(name: str) -> MetricInfo:
    """Look up a metric by name or alias (case-insensitive, '-' and '_' equivalent)."""
    key = name.lower().replace("-", "_")
    if key not in _REGISTRY:
        raise UnknownNameError("metric", name, available())
    return _REGISTRY[key]


def available() -> list[str]:
    """Canonical names of all registered metrics, in registration order."""
    seen: list[str] = []
    for info in _REGISTRY.values():
        if info.name not in seen:
            seen.append(info.name)
    return seen
