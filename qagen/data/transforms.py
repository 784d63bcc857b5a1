"""Shared image preprocessing for the datasets: uint8 decoding, resizing, centre crops and the
QAGAN-style output transform (flip, dequantisation, value range)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from qagen.errors import InputError, InputTypeError

__all__ = [
    "MAX_UPSCALE",
    "ImagePostprocess",
    "to_uint8_chw",
    "resize_uint8",
    "center_crop",
    "resize_shorter_center_crop",
    "INTERPOLATIONS",
    "warn_if_all_upscaled",
]

INTERPOLATIONS = ("bilinear", "bicubic", "area", "nearest")

#: Beyond this upscaling factor an image holds little of the detail a run should learn from.
MAX_UPSCALE = 4.0

_log = logging.getLogger("qagen.data")
_warned: set[str] = set()


def warn_if_all_upscaled(
    sizes: Sequence[tuple[int, int]], side: int, what: str, setting: str = "data.resolution"
) -> str | None:
    """Warn once (logger ``qagen.data``) when *every* image, ``(H, W)`` in ``sizes``, is
    upscaled by more than :data:`MAX_UPSCALE` to bring its shorter side to ``side`` px (two 1 x
    1 PNGs trained at 256 px): the run would learn interpolation. ``what`` names the data,
    ``setting`` the option that sets ``side``. Returns the message, or ``None`` (no warning)."""
    shorter = [min(h, w) for h, w in sizes if min(h, w) > 0]
    if not side or not shorter or max(shorter) * MAX_UPSCALE >= side:
        return None
    message = (
        f"{what}: every image is upscaled more than {MAX_UPSCALE:g}x to reach {side} px (the "
        f"largest shorter side is {max(shorter)} px), so the run learns interpolation; use "
        f"images of at least {math.ceil(side / MAX_UPSCALE)} px or a smaller {setting}"
    )
    if message not in _warned:
        _warned.add(message)
        _log.warning(message)
    return message


def to_uint8_chw(array: np.ndarray) -> torch.Tensor:
    """``H x W (x C)`` uint8 array (grey, RGB or RGBA) -> ``3 x H x W`` uint8 tensor (alpha dropped)."""
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise InputTypeError(f"image array must be uint8, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise InputError(f"image array must be H x W, H x W x 1, 3 or 4, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[:, :, :3]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def resize_uint8(
    img: torch.Tensor, size: int | tuple[int, int], interpolation: str = "bicubic"
) -> torch.Tensor:
    """Resize a ``C x H x W`` uint8 image to ``size`` and round back to uint8.

    Downsampling is antialiased (``torch.nn.functional.interpolate(antialias=True)``, the
    triangle/cubic filters of PIL's ``BILINEAR``/``BICUBIC``); bicubic overshoot is clamped.
    Returns the input unchanged when it already has the requested size.
    """
    if interpolation not in INTERPOLATIONS:
        raise InputError(
            f"interpolation must be one of {list(INTERPOLATIONS)}, got {interpolation!r}"
        )
    if isinstance(size, int):
        size = (size, size)
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    x = img.unsqueeze(0).float()
    if interpolation in ("bilinear", "bicubic"):
        x = F.interpolate(x, size=size, mode=interpolation, align_corners=False, antialias=True)
    else:
        x = F.interpolate(x, size=size, mode=interpolation)
    return x.squeeze(0).round_().clamp_(0, 255).to(torch.uint8)


def center_crop(img: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Centre crop ``C x H x W`` to ``size``: top = (H - h) // 2, left = (W - w) // 2."""
    if isinstance(size, int):
        size = (size, size)
    h, w = img.shape[-2:]
    ch, cw = size
    if ch > h or cw > w:
        raise InputError(f"crop size {size} is larger than the image {(h, w)}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[..., top : top + ch, left : left + cw]


def resize_shorter_center_crop(
    img: torch.Tensor, size: int, interpolation: str = "bicubic"
) -> torch.Tensor:
    """Resize so the shorter side equals ``size`` (aspect kept), then centre crop ``size x size``."""
    h, w = img.shape[-2:]
    if min(h, w) != size:
        scale = size / min(h, w)
        new = (max(size, round(h * scale)), max(size, round(w * scale)))
        img = resize_uint8(img, new, interpolation)
    return center_crop(img, size)


class ImagePostprocess:
    """uint8 ``C x H x W`` -> float32 in ``value_range``, with optional QAGAN augmentations.

    - ``flip``: random horizontal flip with probability 1/2;
    - ``dequantize``: ``x = (k + u) / 256``, ``u ~ U[0, 1)`` (QAGAN/BWGAN code: uniform
      dequantisation noise ``U[0, 1/256)`` on ``k / 256``), giving ``x`` in ``[0, 1)``; otherwise
      ``x = k / 255`` in ``[0, 1]``;
    - then ``lo + (hi - lo) * x`` for ``value_range = (lo, hi)``: ``(-1, 1)`` is QAGAN's
      ``(x - 0.5) * 2``, ``(0, 1)`` the metrics' ``data_range=1`` convention.

    The random draws use the global torch RNG (seeded per DataLoader worker by PyTorch).
    """

    def __init__(
        self,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
    ) -> None:
        lo, hi = (float(v) for v in value_range)
        if not lo < hi:
            raise InputError(f"value_range must be (low, high) with low < high, got {value_range}")
        self.value_range = (lo, hi)
        self.flip = bool(flip)
        self.dequantize = bool(dequantize)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.dtype != torch.uint8:
            raise InputTypeError(f"img must be uint8, got {img.dtype}")
        if self.flip and torch.rand(()) < 0.5:
            img = img.flip(-1)
        x = img.to(torch.float32)
        if self.dequantize:
            x = (x + torch.rand(x.shape)) / 256.0
        else:
            x = x / 255.0
        lo, hi = self.value_range
        if (lo, hi) != (0.0, 1.0):
            x = x * (hi - lo) + lo
        return x

    def __repr__(self) -> str:
        return (
            f"ImagePostprocess(value_range={self.value_range}, flip={self.flip}, "
            f"dequantize={self.dequantize})"
        )
