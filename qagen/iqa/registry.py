"""Metric registry: ``get(name)`` and ``available()`` with each metric's metadata, the entries
of :data:`qagen.registry.METRICS` (learned metrics are added by their method: ``qmap`` by
``qagen/methods/qmap/__init__.py``).

This module imports only the standard library (and :mod:`qagen.errors`): listing the registry,
reading a metric's direction, reference or minimum size never imports torch or a metric
module. ``MetricInfo.fn`` / ``map_fn`` / ``min_size_for(**options)`` import the metric's
module on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from qagen.registry import METRICS

__all__ = ["MetricInfo", "available", "get", "register"]


@dataclass(frozen=True)
class MetricInfo:
    """Metadata of one metric.

    Call ``fn(x, y, data_range=...)`` (full reference) or ``fn(x, data_range=...)`` (no
    reference). ``min_size`` is the smallest height and width the metric accepts with its
    default options (derived from its filters, see each function's docstring);
    ``min_size_for(**options)`` gives it for other options (window size, scales, block size).
    ``tolerance`` is the agreement with the reproduced code that the tests assert (float64,
    ``data_range=255``, the reference images shipped in ``tests/reference_data``).
    """

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
    min_size: int = 1
    min_size_function: str | None = None
    #: what the metric's ``model`` argument is (``--model`` on the command line, ``NAME:MODEL``
    #: in ``bench-iqa --metrics``); "" when it takes none
    model_argument: str = ""
    #: whether the metric needs a model (a learned metric) rather than having a default one
    model_required: bool = False

    @property
    def fn(self) -> Callable:
        """The metric function (its module is imported on first use)."""
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

    def min_size_for(self, **options: object) -> int:
        """Smallest accepted height and width with the given options of the metric.

        Options that do not change the minimum are ignored; without options (or for a metric
        whose minimum does not depend on them) this is :attr:`min_size`, without any import.
        """
        if self.min_size_function is None or not options:
            return self.min_size
        import inspect

        fn = getattr(importlib.import_module(self.module), self.min_size_function)
        accepted = inspect.signature(fn).parameters
        return int(fn(**{k: v for k, v in options.items() if k in accepted}))


_M = "qagen.iqa."


def register(info: MetricInfo) -> MetricInfo:
    """Add a metric to :data:`qagen.registry.METRICS` (its name and aliases must be new)."""
    METRICS.add(info.name, info, aliases=info.aliases)
    return info


for _info in (
    MetricInfo("psnr", _M + "peak_snr", "psnr", True, True, True,
               "10 log10(L^2/MSE) over all channels (skimage peak_signal_noise_ratio)", "1e-10",
               "grey or RGB", min_size=1, min_size_function="psnr_min_size"),
    MetricInfo("ssim", _M + "structural", "ssim", True, True, True,
               "Wang et al. 2004 ssim_index.m (downsample=True: 2009 ssim.m)", "1e-9",
               "grey; RGB -> Y (0.299/0.587/0.114)", map_function="ssim_maps",
               min_size=11, min_size_function="ssim_min_size"),
    MetricInfo("ms_ssim", _M + "structural", "ms_ssim", True, True, True,
               "Wang et al. 2003 msssim.m (5 scales)", "1e-9", "grey; RGB -> Y",
               map_function="ms_ssim_map", aliases=("msssim",), min_size=161,
               min_size_function="ms_ssim_min_size"),
    MetricInfo("ssim_distance", _M + "structural", "ssim_distance", True, False, True,
               "Brunet et al. 2012 d_Q = sqrt(2 - L - CS)", "closed form", "grey; RGB -> Y",
               min_size=11, min_size_function="ssim_distance_min_size"),
    MetricInfo("gmsd", _M + "gms", "gmsd", True, False, True,
               "Xue et al. 2014 GMSD.m", "1e-7", "grey; RGB -> Y", map_function="gms_map",
               min_size=5, min_size_function="gms_min_size"),
    MetricInfo("gmsm", _M + "gms", "gmsm", True, True, True,
               "Xue et al. 2014 GMSD.m (mean pooling)", "1e-7", "grey; RGB -> Y",
               map_function="gms_map", min_size=5, min_size_function="gms_min_size"),
    MetricInfo("cqs", _M + "chroma", "cqs", True, True, True,
               "cQS as described in BEGAN-IQA (Sobel GMSM + YIQ chroma)", "closed form", "RGB",
               map_function="chroma_similarity_map", min_size=3),
    MetricInfo("chroma", _M + "chroma", "chroma_similarity", True, True, True,
               "BEGAN-IQA YIQ chrominance similarity", "closed form", "RGB",
               map_function="chroma_similarity_map", min_size=1),
    MetricInfo("fsim", _M + "feature_similarity", "fsim", True, True, True,
               "Zhang et al. 2011 FeatureSIM.m (FSIM)", "1e-6", "grey or RGB (-> Y)",
               map_function="fsim_map", min_size=8),
    MetricInfo("fsimc", _M + "feature_similarity", "fsimc", True, True, True,
               "Zhang et al. 2011 FeatureSIM.m (FSIMc)", "1e-6", "RGB (grey: = FSIM)",
               map_function="fsim_map", min_size=8),
    MetricInfo("mdsi", _M + "mean_deviation", "mdsi", True, False, True,
               "Nafchi et al. 2016 MDSI.m", "1e-9", "RGB (grey replicated)",
               map_function="mdsi_map", min_size=3),
    MetricInfo("vif_p", _M + "vif", "vif_p", True, True, True,
               "Sheikh & Bovik 2006 vifp_mscale.m", "1e-9", "grey; RGB -> Y", aliases=("vifp",),
               min_size=41),
    MetricInfo("niqe", _M + "naturalness", "niqe", False, False, True,
               "Mittal et al. 2013 LIVE computequality.m", "1e-9", "grey or RGB (rgb2gray)",
               min_size=96, min_size_function="niqe_min_size",
               model_argument="a NIQE pristine model file (.npz from qagen niqe-fit, or .mat); "
               "default: the LIVE model"),
):  # fmt: skip
    register(_info)


def get(name: str) -> MetricInfo:
    """Look up a metric by name or alias (case-insensitive, '-' and '_' equivalent).

    Raises:
        UnknownNameError: ``name`` is not registered (the message lists the metrics).
    """
    return METRICS.get(name)


def available() -> list[str]:
    """Canonical names of all registered metrics, in registration order."""
    return METRICS.available()
