"""Colour conversions used by the metrics.

All functions take ``N x 3 x H x W`` tensors and keep the value scale of their input (a
conversion on [0, 1] data returns [0, 1]-scaled luma). ``to_gray`` accepts grey input and returns
it unchanged.

Grey conversions (``gray=`` option of the grey metrics):

* ``"y"``: BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B, not rounded (the Y of YIQ used by
  FSIM.m, GMSD and piq). Default of ``ssim``, ``ms_ssim``, ``gmsd``, ``gmsm`` and ``vif_p``.
* ``"rgb2gray"``: MATLAB ``rgb2gray`` on uint8 data: Y = 0.298936021293775 R +
  0.587043074451121 G + 0.114020904255103 B on the 0-255 scale, rounded half away from zero
  (MATLAB returns uint8). The rounding is a straight-through estimator so gradients flow.
* ``"rgb2gray_double"``: the same coefficients without rounding (``rgb2gray`` on double input).
* ``"tf"``: TensorFlow ``rgb_to_grayscale`` (0.2989, 0.5870, 0.1140), used by QAGAN's code.

Sources: ITU-R BT.601 (Y), MATLAB's ``rgb2gray`` documentation (its coefficients are the first
row of the inverse of the NTSC YIQ-to-RGB matrix), ``FeatureSIM.m`` (Zhang et al. 2011) for the
3-decimal YIQ, the BEGAN-IQA code (Vertolli & Davies 2017) for the 2-decimal YIQ, and Nafchi et
al. 2016 (``MDSI.m``) for LHM.
"""

from __future__ import annotations

import torch

from qagen.errors import InputError

GRAY_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "y": (0.299, 0.587, 0.114),
    "rgb2gray": (0.298936021293775, 0.587043074451121, 0.114020904255103),
    "rgb2gray_double": (0.298936021293775, 0.587043074451121, 0.114020904255103),
    "tf": (0.2989, 0.5870, 0.1140),
}

#: YIQ matrices (rows Y, I, Q). "fsim": FSIM.m's 3 decimals; "piq": 4 decimals; "began": the
#: 2 decimals of the BEGAN-IQA code (models/friqa.py).
YIQ_MATRICES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "fsim": ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312)),
    "piq": ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112)),
    "began": ((0.30, 0.59, 0.11), (0.60, -0.28, -0.32), (0.21, -0.52, 0.31)),
}

#: LHM colour space of MDSI (Nafchi et al. 2016).
LHM_MATRIX = ((0.2989, 0.587, 0.114), (0.30, 0.04, -0.35), (0.34, -0.60, 0.17))


def matlab_round(v: torch.Tensor) -> torch.Tensor:
    """Round half away from zero, as MATLAB's ``round`` (torch.round rounds half to even)."""
    return torch.sign(v) * torch.floor(v.abs() + 0.5)


def round_ste(v: torch.Tensor) -> torch.Tensor:
    """MATLAB rounding in the forward pass, identity gradient (straight-through estimator)."""
    return v + (matlab_round(v) - v).detach()


def _mix(x: torch.Tensor, matrix: tuple[tuple[float, float, float], ...]) -> torch.Tensor:
    """Apply a 3x3 (or k x 3) colour matrix over the channel axis of ``x`` (N x 3 x H x W)."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise InputError(f"expected an RGB tensor N x 3 x H x W, got shape {tuple(x.shape)}")
    m = torch.tensor(matrix, dtype=x.dtype, device=x.device)
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.cat([m[i, 0] * r + m[i, 1] * g + m[i, 2] * b for i in range(m.shape[0])], dim=1)


def rgb_to_gray(x: torch.Tensor, gray: str = "y", data_range: float = 1.0) -> torch.Tensor:
    """Convert RGB ``N x 3 x H x W`` to grey ``N x 1 x H x W`` with the named formula (module doc)."""
    if gray not in GRAY_WEIGHTS:
        raise InputError(f"gray must be one of {list(GRAY_WEIGHTS)}, got {gray!r}")
    y = _mix(x, (GRAY_WEIGHTS[gray],))
    if gray == "rgb2gray":
        scale = 255.0 / data_range
        y = round_ste(y * scale).clamp(0.0, 255.0) / scale
    return y


def to_gray(x: torch.Tensor, gray: str = "y", data_range: float = 1.0) -> torch.Tensor:
    """Grey input is returned as is; RGB is converted with :func:`rgb_to_gray`."""
    if x.shape[1] == 1:
        return x
    return rgb_to_gray(x, gray=gray, data_range=data_range)


def rgb_to_yiq(x: torch.Tensor, matrix: str = "fsim") -> torch.Tensor:
    """RGB -> YIQ with one of :data:`YIQ_MATRICES` (same value scale as the input)."""
    if matrix not in YIQ_MATRICES:
        raise InputError(f"matrix must be one of {list(YIQ_MATRICES)}, got {matrix!r}")
    return _mix(x, YIQ_MATRICES[matrix])


def rgb_to_lhm(x: torch.Tensor) -> torch.Tensor:
    """RGB -> LHM (MDSI's opponent colour space), same value scale as the input."""
    return _mix(x, LHM_MATRIX)
