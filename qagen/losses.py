"""Layer 2a: IQA losses. Every loss returns a quantity to minimise: similarities become
``1 - similarity``, distances are returned unchanged.

All losses are ``torch.nn.Module``s taking ``(x, y)`` = (generated/distorted, reference) in
``[0, data_range]`` and returning the mean over the batch (``reduction="mean"``), or per-image
values with ``reduction="none"``. Input range checks can be switched off for training loops with
:func:`qagen.iqa.set_input_checks`. Under mixed precision (float16/bfloat16 inputs, or inside
``torch.autocast``) the losses compute in float32 and return float32, as their metrics do; the
gradient reaches the input in its own dtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from qagen._checks import check_choice, check_data_range, compute_dtype, no_autocast, reduce
from qagen.errors import InputError
from qagen.iqa.chroma import CQS_C, _sobel_map, chroma_similarity
from qagen.iqa.structural import ms_ssim, ssim, ssim_distance

_REDUCTIONS = ("none", "mean", "sum")


class _IQALoss(nn.Module):
    def __init__(self, data_range: float = 1.0, reduction: str = "mean", **kwargs) -> None:
        super().__init__()
        name = type(self).__name__
        self.data_range = check_data_range(data_range, name)
        self.reduction = check_choice(reduction, "reduction", _REDUCTIONS, name)
        self.kwargs = kwargs

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, reduction={self.reduction!r}, {self.kwargs}"


class SSIMLoss(_IQALoss):
    """1 - SSIM (:func:`qagen.iqa.ssim`); keyword arguments are passed to ``ssim``."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return reduce(1.0 - ssim(x, y, self.data_range, **self.kwargs), self.reduction)


class MSSSIMLoss(_IQALoss):
    """1 - MS-SSIM (:func:`qagen.iqa.ms_ssim`), by default with ``negative="clamp"`` (cs clamped at
    1e-4 before the powers so that the gradient never vanishes or becomes NaN; the MSSSIM-LOSS
    poster's loss is -sum MS-SSIM, the same minimiser)."""

    def __init__(self, data_range: float = 1.0, reduction: str = "mean", **kwargs) -> None:
        kwargs.setdefault("negative", "clamp")
        super().__init__(data_range, reduction, **kwargs)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return reduce(1.0 - ms_ssim(x, y, self.data_range, **self.kwargs), self.reduction)


class GMSMLoss(_IQALoss):
    """1 - GMSM. Default: the BEGAN-IQA form (unnormalised Sobel on the YIQ Y channel, no
    downsampling, c = 0.0026 on the unit scale, :func:`qagen.iqa.chroma.gms_sobel_map`) for RGB input;
    ``form="gmsd"`` uses Xue et al.'s Prewitt GMS (:func:`qagen.iqa.gmsm`) and accepts grey."""

    def __init__(
        self, data_range: float = 1.0, reduction: str = "mean", form: str = "began", **kwargs
    ) -> None:
        check_choice(form, "form", ("began", "gmsd"), "GMSMLoss")
        super().__init__(data_range, reduction, **kwargs)
        self.form = form

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.form == "gmsd":
            from qagen.iqa.gms import gmsm

            sim = gmsm(x, y, self.data_range, **self.kwargs)
        else:
            with no_autocast(x):
                sim = _sobel_map(x, y, self.data_range, metric="GMSMLoss", **self._sobel_options())
            sim = sim.mean(dim=(1, 2, 3))
        return reduce(1.0 - sim, self.reduction)

    def _sobel_options(self) -> dict:
        options = {"c": CQS_C, "c_scale": "unit"}
        unknown = set(self.kwargs) - set(options)
        if unknown:
            raise InputError(
                f"GMSMLoss(form='began'): unexpected option(s) {sorted(unknown)}; allowed: c, c_scale"
            )
        return {**options, **self.kwargs}


class ChromaLoss(_IQALoss):
    """1 - mean YIQ chrominance similarity (:func:`qagen.iqa.chroma_similarity`), RGB input."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return reduce(1.0 - chroma_similarity(x, y, self.data_range, **self.kwargs), self.reduction)


class SSIMDistance(_IQALoss):
    """The SSIM distance d_Q = sqrt(2 - L - CS) (:func:`qagen.iqa.ssim_distance`), a metric."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return reduce(ssim_distance(x, y, self.data_range, **self.kwargs), self.reduction)


class CompositeIQALoss(nn.Module):
    """BEGAN-IQA weighted distance (Vertolli & Davies, eq. 6): sum_d beta_d d(x, y) / sum_d beta_d.

    Distances: ``"l1"`` = mean |x - y| on [-1, 1]-scaled images (the authors' code; equals
    2 mean|x - y| / data_range, range [0, 2]), ``"gmsm"`` = 1 - GMSM (unnormalised Sobel on the
    2-decimal YIQ Y of the 0-255 images, the whole image as one window), ``"chroma"`` = 1 - mean
    chrominance similarity S(I) S(Q) (:mod:`qagen.iqa.chroma`). ``c`` and ``c_scale`` as
    :func:`qagen.iqa.chroma.gms_sobel_map`: ``c_scale="unit"`` applies c = 0.0026 to [0, 1]
    intensities (the paper's statement), ``"8bit"`` to 0-255 intensities (the authors' code,
    ``models/friqa.py``). Default weights ``{"l1": 2, "gmsm": 1, "chroma": 0}`` are the paper's
    best model (06/10/12, "scaled_began_gmsm"). Zero-weight terms are not computed by
    :meth:`forward`; :meth:`terms` can compute any of them (for logging). Returns per-image
    values with ``reduction="none"``. Bad weights raise :class:`qagen.errors.InputError`.
    """

    TERMS = ("l1", "gmsm", "chroma")

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        data_range: float = 1.0,
        reduction: str = "mean",
        c: float = CQS_C,
        c_scale: str = "unit",
    ) -> None:
        super().__init__()
        weights = dict({"l1": 2.0, "gmsm": 1.0, "chroma": 0.0} if weights is None else weights)
        unknown = set(weights) - set(self.TERMS)
        if unknown:
            raise InputError(
                f"CompositeIQALoss: weights has unknown terms {sorted(unknown)}; "
                f"allowed: {list(self.TERMS)}"
            )
        if any(not w >= 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise InputError(
                f"CompositeIQALoss: weights must be >= 0 with a positive sum, got {weights}"
            )
        self.weights = weights
        self.data_range = check_data_range(data_range, "CompositeIQALoss")
        self.reduction = check_choice(reduction, "reduction", _REDUCTIONS, "CompositeIQALoss")
        self.c, self.c_scale = c, c_scale

    def terms(
        self, x: torch.Tensor, y: torch.Tensor, names: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Each distance per image (``[N]``, unweighted): the terms with a non-zero weight, or
        the terms ``names`` (any of :attr:`TERMS`, whatever their weight)."""
        if names is None:
            names = [t for t in self.TERMS if self.weights.get(t, 0)]
        unknown = set(names) - set(self.TERMS)
        if unknown:
            raise InputError(
                f"names has unknown terms {sorted(unknown)}; allowed: {list(self.TERMS)}"
            )
        out: dict[str, torch.Tensor] = {}
        with no_autocast(x):
            if "gmsm" in names:
                g = _sobel_map(x, y, self.data_range, self.c, self.c_scale, "CompositeIQALoss")
                out["gmsm"] = 1.0 - g.mean(dim=(1, 2, 3))
            if "chroma" in names:
                out["chroma"] = 1.0 - chroma_similarity(
                    x, y, self.data_range, c=self.c, c_scale=self.c_scale
                )
            if "l1" in names:
                xf, yf = compute_dtype(x, y)
                out["l1"] = 2.0 * (xf - yf).abs().mean(dim=(1, 2, 3)) / self.data_range
        return {k: out[k] for k in self.TERMS if k in out}

    def combine(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. 6 from per-image terms: ``sum_d beta_d terms[d] / sum_d beta_d`` over the terms with
        a non-zero weight (each must be in ``terms``), reduced by ``reduction``."""
        used = [t for t in self.TERMS if self.weights.get(t, 0)]
        missing = [t for t in used if t not in terms]
        if missing:
            raise InputError(f"combine: terms {missing} have a non-zero weight but were not given")
        total = sum(self.weights[k] * terms[k] for k in used)
        return reduce(total / sum(self.weights.values()), self.reduction)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.combine(self.terms(x, y))
