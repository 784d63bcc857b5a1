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
YCbCr (:func:`rgb_to_ycbcr`, :func:`ycbcr_to_rgb`): ITU-R BT.601 studio swing as MATLAB's
``rgb2ycbcr``/``ycbcr2rgb``, Y in [16, 235] and Cb, Cr in [16, 240] on the 0-255 scale; the
"Y channel" on which super-resolution is evaluated (SRCNN, Dong et al. TPAMI 2016).
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

#: MATLAB ``rgb2ycbcr``: ``[Y; Cb; Cr] = offset + M [R; G; B] / 255`` on the 0-255 scale
#: (``M`` multiplies R, G, B in [0, 1] and gives values on the 0-255 scale; ITU-R BT.601).
YCBCR_MATRIX = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
YCBCR_OFFSET = (16.0, 128.0, 128.0)

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


def _check_rgb(x: torch.Tensor, name: str) -> None:
    from qagen.errors import InputError, InputTypeError

    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputTypeError(f"{name}: expected a floating-point tensor, got {got}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise InputError(f"{name}: expected N x 3 x H x W, got shape {tuple(x.shape)}")


def rgb_to_ycbcr(
    x: torch.Tensor, data_range: float = 1.0, *, rounding: bool = False
) -> torch.Tensor:
    """RGB ``N x 3 x H x W`` -> YCbCr (BT.601 studio swing), MATLAB ``rgb2ycbcr``.

    With R, G, B in [0, 1]: ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``,
    ``Cb = (128 - 37.797 R - 74.203 G + 112 B) / 255``, ``Cr = (128 + 112 R - 93.786 G -
    18.214 B) / 255`` (MATLAB's matrix, ``rgb2ycbcr.m``). The output keeps the input's scale:
    ``data_range=255`` gives Y in [16, 235]. ``rounding=True`` emulates ``rgb2ycbcr`` on a uint8
    image (MATLAB rounds half away from zero and returns uint8), with a straight-through
    gradient.
    """
    _check_rgb(x, "rgb_to_ycbcr")
    m = torch.tensor(YCBCR_MATRIX, dtype=x.dtype, device=x.device) / 255.0
    off = torch.tensor(YCBCR_OFFSET, dtype=x.dtype, device=x.device) / 255.0
    out = torch.einsum("ij,njhw->nihw", m, x) + off.view(1, 3, 1, 1) * data_range
    if rounding:
        scale = 255.0 / data_range
        out = round_ste(out * scale).clamp(0.0, 255.0) / scale
    return out


def ycbcr_to_rgb(x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """YCbCr (BT.601 studio swing) ``N x 3 x H x W`` -> RGB, MATLAB ``ycbcr2rgb``: the exact
    inverse of :func:`rgb_to_ycbcr` (without rounding), ``RGB = M^-1 (255 YCbCr - offset)``
    on the input's scale. Not clamped: out-of-gamut values stay (clamp before writing)."""
    _check_rgb(x, "ycbcr_to_rgb")
    m = torch.tensor(YCBCR_MATRIX, dtype=torch.float64) / 255.0
    inv = torch.linalg.inv(m).to(dtype=x.dtype, device=x.device)
    off = torch.tensor(YCBCR_OFFSET, dtype=x.dtype, device=x.device) / 255.0
    return torch.einsum("ij,njhw->nihw", inv, x - off.view(1, 3, 1, 1) * data_range)


def rgb_to_y(x: torch.Tensor, data_range: float = 1.0, *, rounding: bool = False) -> torch.Tensor:
    """The Y channel ``N x 1 x H x W`` of :func:`rgb_to_ycbcr` (MATLAB ``rgb2ycbcr(...)(:,:,1)``);
    grey ``N x 1`` input is first repeated to RGB."""
    if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return rgb_to_ycbcr(x, data_range, rounding=rounding)[:, :1]
