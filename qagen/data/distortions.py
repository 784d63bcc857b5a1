"""The Waterloo Exploration Database's distortion generator (Ma et al., IEEE TIP 2017).

Four distortion types at five levels each, as the database's MATLAB ``distortion_generator.m``
applies them to a uint8 RGB image:

======== ==================================================== ==================================
type     parameter at levels 1..5                              MATLAB (``distortion_generator.m``)
======== ==================================================== ==================================
``gblur`` kernel size h = 7, 15, 39, 91, 199; sigma = h / 6     ``imfilter(img, fspecial('gaussian',
                                                               h, h/6), 'symmetric')``
``wn``    variance 2^-10, 2^-7.5, 2^-5.5, 2^-3.5, 2^0 (on [0,1]) ``imnoise(img, 'gaussian', 0, v)``
``jpeg``  quality 43, 12, 7, 4, 0                             ``imwrite(img, f, 'jpg', 'quality', q)``
``jp2k``  0.46, 0.16, 0.07, 0.04, 0.02 bits per pixel          ``imwrite(img, f, 'jp2',
                                                               'CompressionRatio', 24 / bpp)``
======== ==================================================== ==================================

How each is reproduced here (every image is first rounded to 8 bits, as the database's images are):

* **gblur**: the separable factor of ``fspecial('gaussian', h, h/6)`` (the 2-D kernel is its
  outer product, normalised; no entry falls under fspecial's eps cut at these sizes), correlated
  in float64 with MATLAB's 'symmetric' border (``padarray``'s periodic mirror, so kernels wider
  than the image work), then rounded half away from zero and saturated to uint8, as ``imfilter``
  returns for a uint8 image.
* **wn**: ``b = u / 255 + sqrt(v) * n`` with ``n`` standard normal from NumPy's PCG64 seeded
  with ``seed`` (one stream over the pixels of the batch in C order), clipped to [0, 1] as
  ``imnoise`` clips, and requantised ``round(255 b)`` (``im2uint8``).
* **jpeg**: Pillow's JPEG encoder (libjpeg-turbo: ``jpeg_set_quality(q)`` with the IJG tables,
  quality 0 clamped to 1 by libjpeg exactly as in MATLAB, 4:2:0 chroma subsampling and the
  islow DCT, libjpeg's defaults), decoded again by Pillow.
* **jp2k**: Pillow's JPEG 2000 encoder (OpenJPEG, irreversible 9/7 wavelet, one quality layer,
  ``quality_mode="rates"``) with the compression ratio ``8 C / bpp`` (``24 / bpp`` for RGB:
  OpenJPEG's rate is uncompressed bits over coded bits, the meaning of MATLAB's
  CompressionRatio), written as a raw codestream and decoded by Pillow. MATLAB uses another
  JPEG 2000 codec (Kakadu), so the rate control differs; the achieved bits per pixel (codestream
  bytes x 8 / pixels, headers included) are measured and returned. OpenJPEG meets the rate within
  a few per cent from about 256 x 256 pixels up; on small images its fixed headers (about 190
  bytes) exceed the budget, and a rate more than ``jp2k_tolerance`` (25 %) above the target is an
  error (:class:`qagen.errors.InputError`) rather than a silently milder distortion.

The codecs are deterministic; only ``wn`` uses ``seed``. See ``docs/quality-maps.md``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from qagen.errors import InputError, InputTypeError, UnknownNameError

__all__ = [
    "DISTORTION_TYPES",
    "LEVELS",
    "GBLUR_KERNEL_SIZES",
    "WN_LOG2_VARIANCES",
    "JPEG_QUALITIES",
    "JP2K_BPP",
    "DistortionResult",
    "distort",
    "distort_uint8",
    "distort_with_info",
    "distortion_parameter",
    "parse_levels",
    "parse_types",
]

#: The Waterloo Exploration types, in the database's order (1 = gblur ... 4 = jp2k).
DISTORTION_TYPES = ("gblur", "wn", "jpeg", "jp2k")
LEVELS = (1, 2, 3, 4, 5)
GBLUR_KERNEL_SIZES = (7, 15, 39, 91, 199)
WN_LOG2_VARIANCES = (-10.0, -7.5, -5.5, -3.5, 0.0)
JPEG_QUALITIES = (43, 12, 7, 4, 0)
JP2K_BPP = (0.46, 0.16, 0.07, 0.04, 0.02)

#: Largest accepted excess of the achieved JPEG 2000 rate over the target (relative).
JP2K_TOLERANCE = 0.25


@dataclass(frozen=True)
class DistortionResult:
    """A distorted batch and what was done: ``image`` (same shape and dtype as the input, 8-bit
    values), ``kind``, ``level``, ``seed``, ``parameter`` (the level's parameter in words) and
    ``bpp`` (achieved bits per pixel per image for ``jpeg``/``jp2k``, else ``None``)."""

    image: torch.Tensor
    kind: str
    level: int
    seed: int
    parameter: str
    bpp: tuple[float, ...] | None = None


def _check_kind_level(kind: str, level: int) -> tuple[str, int]:
    if not isinstance(kind, str) or kind not in DISTORTION_TYPES:
        raise UnknownNameError("distortion type", kind, DISTORTION_TYPES)
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level not in LEVELS:
        raise InputError(f"level must be an integer 1..5, got {level!r}")
    return kind, int(level)


def distortion_parameter(kind: str, level: int) -> str:
    """The parameter of ``kind`` at ``level`` in words (e.g. ``"hsize 39, sigma 6.5"``)."""
    kind, level = _check_kind_level(kind, level)
    i = level - 1
    if kind == "gblur":
        h = GBLUR_KERNEL_SIZES[i]
        return f"hsize {h}, sigma {h / 6:.4g}"
    if kind == "wn":
        return f"variance 2^{WN_LOG2_VARIANCES[i]:g}"
    if kind == "jpeg":
        return f"quality {JPEG_QUALITIES[i]}"
    return f"{JP2K_BPP[i]} bpp (compression ratio 24/{JP2K_BPP[i]} for RGB)"


# ----------------------------------------------------------------------------- the four types


def _blur_matrix(n: int, hsize: int) -> torch.Tensor:
    """``n x n`` matrix ``A`` with ``A @ v`` = the 'symmetric'-padded correlation of ``v`` with
    the Gaussian factor: MATLAB ``padarray(..., 'symmetric')`` mirrors periodically (period 2n),
    so kernels wider than the image work; taps that land on the same pixel add up."""
    t = torch.arange(hsize, dtype=torch.float64) - (hsize - 1) / 2.0
    g = torch.exp(-(t**2) / (2.0 * (hsize / 6.0) ** 2))
    g = g / g.sum()
    rows = torch.arange(n).repeat_interleave(hsize)
    taps = torch.arange(hsize).repeat(n)
    src = (rows + taps - hsize // 2) % (2 * n)
    src = torch.where(src < n, src, 2 * n - 1 - src)
    a = torch.zeros(n, n, dtype=torch.float64)
    a.index_put_((rows, src), g[taps], accumulate=True)
    return a


def _gblur(u8: np.ndarray, hsize: int) -> np.ndarray:
    """``imfilter(u8, fspecial('gaussian', hsize, hsize/6), 'symmetric')`` on ``H x W x C``
    uint8: the separable correlation as two matrix products (float64), then uint8 rounding."""
    x = torch.from_numpy(u8).to(torch.float64).permute(2, 0, 1)  # C x H x W
    h, w = x.shape[-2:]
    y = _blur_matrix(h, hsize) @ x @ _blur_matrix(w, hsize).T
    out = torch.floor(y + 0.5).clamp(0, 255)  # uint8 imfilter: round half away (values >= 0)
    return out.permute(1, 2, 0).to(torch.uint8).numpy()


def _wn(batch: np.ndarray, log2_var: float, seed: int) -> np.ndarray:
    """``imnoise(u8, 'gaussian', 0, 2^log2_var)`` on a ``N x H x W x C`` uint8 batch."""
    rng = np.random.default_rng(int(seed))
    noise = rng.standard_normal(batch.shape)
    b = batch.astype(np.float64) / 255.0 + math.sqrt(2.0**log2_var) * noise
    b = np.clip(b, 0.0, 1.0)
    return np.floor(b * 255.0 + 0.5).astype(np.uint8)  # im2uint8: round(255 b)


def _pil(u8: np.ndarray):
    from PIL import Image

    return Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8)


def _decode(data: bytes, channels: int) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    return arr[..., None] if arr.ndim == 2 else arr


def _jpeg(u8: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
    buf = io.BytesIO()
    _pil(u8).save(buf, "JPEG", quality=int(quality))
    data = buf.getvalue()
    return _decode(data, u8.shape[2]), 8.0 * len(data) / (u8.shape[0] * u8.shape[1])


def _jp2k(u8: np.ndarray, bpp: float, tolerance: float) -> tuple[np.ndarray, float]:
    h, w, c = u8.shape
    ratio = 8.0 * c / bpp  # 24 / bpp for RGB (MATLAB's CompressionRatio)
    n_res = max(1, min(6, int(math.floor(math.log2(min(h, w)))) + 1))
    buf = io.BytesIO()
    _pil(u8).save(
        buf,
        "JPEG2000",
        quality_mode="rates",
        quality_layers=[ratio],
        irreversible=True,
        no_jp2=True,
        num_resolutions=n_res,
    )
    data = buf.getvalue()
    achieved = 8.0 * len(data) / (h * w)
    if achieved > bpp * (1.0 + tolerance):
        raise InputError(
            f"jp2k: the JPEG 2000 encoder (OpenJPEG) cannot reach {bpp} bits per pixel on this "
            f"{h} x {w} image: the smallest codestream it writes is {len(data)} bytes = "
            f"{achieved:.4f} bpp (more than {tolerance:.0%} above the target); this rate needs "
            "a larger image"
        )
    return _decode(data, c), achieved


# ----------------------------------------------------------------------------- public API


def _as_uint8(x: torch.Tensor, data_range: float) -> tuple[np.ndarray, bool]:
    """``x`` (``C x H x W`` or ``N x C x H x W`` float in ``[0, data_range]``) as an
    ``N x H x W x C`` uint8 array (rounded), and whether the input was unbatched."""
    if not isinstance(x, torch.Tensor):
        raise InputTypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputTypeError(
            f"x must be a floating-point tensor in [0, data_range], got {x.dtype} (convert "
            "integer images first, e.g. x.float() / 255)"
        )
    single = x.dim() == 3
    if x.dim() not in (3, 4) or x.shape[-3] not in (1, 3):
        raise InputError(
            f"x must be C x H x W or N x C x H x W with C = 1 or 3, got shape {tuple(x.shape)}"
        )
    if not (isinstance(data_range, (int, float)) and data_range > 0):
        raise InputError(f"data_range must be a positive number, got {data_range!r}")
    xb = x.unsqueeze(0) if single else x
    if xb.numel() == 0:
        raise InputError(f"x is empty, shape {tuple(x.shape)}")
    v = xb.detach().to("cpu", torch.float64) / float(data_range)
    if not torch.isfinite(v).all():
        raise InputError("x contains NaN or infinite values")
    if v.min() < -1e-6 or v.max() > 1 + 1e-6:
        raise InputError(
            f"x must lie in [0, data_range={data_range}], got values in "
            f"[{float(v.min()) * data_range:.4g}, {float(v.max()) * data_range:.4g}]"
        )
    u8 = torch.floor(v.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return u8.permute(0, 2, 3, 1).contiguous().numpy(), single


def distort_uint8(
    images: np.ndarray,
    kind: str,
    level: int,
    seed: int = 0,
    *,
    jp2k_tolerance: float = JP2K_TOLERANCE,
) -> tuple[np.ndarray, list[float] | None]:
    """Distort an ``N x H x W x C`` (or ``H x W x C``) uint8 array; returns the distorted uint8
    array of the same shape and the achieved bits per pixel (``jpeg``/``jp2k``, else ``None``).
    The formulas are in the module docstring."""
    kind, level = _check_kind_level(kind, level)
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise InputTypeError(f"images must be a uint8 array, got {arr.dtype}")
    single = arr.ndim == 3
    batch = arr[None] if single else arr
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        raise InputError(
            f"images must be H x W x C or N x H x W x C with C = 1 or 3, got {arr.shape}"
        )
    i = level - 1
    bpp: list[float] | None = None
    if kind == "wn":
        out = _wn(batch, WN_LOG2_VARIANCES[i], seed)
    elif kind == "gblur":
        out = np.stack([_gblur(im, GBLUR_KERNEL_SIZES[i]) for im in batch])
    else:
        pairs = [
            _jpeg(im, JPEG_QUALITIES[i])
            if kind == "jpeg"
            else _jp2k(im, JP2K_BPP[i], jp2k_tolerance)
            for im in batch
        ]
        out = np.stack([p[0] for p in pairs])
        bpp = [p[1] for p in pairs]
    return (out[0] if single else out), bpp


def distort_with_info(
    x: torch.Tensor,
    kind: str,
    level: int,
    seed: int = 0,
    *,
    data_range: float = 1.0,
    jp2k_tolerance: float = JP2K_TOLERANCE,
) -> DistortionResult:
    """:func:`distort` that also returns the parameter and the achieved bits per pixel."""
    kind, level = _check_kind_level(kind, level)
    u8, single = _as_uint8(x, data_range)
    out, bpp = distort_uint8(u8, kind, level, seed, jp2k_tolerance=jp2k_tolerance)
    t = torch.from_numpy(np.ascontiguousarray(out)).permute(0, 3, 1, 2)
    t = (t.to(torch.float64) * (float(data_range) / 255.0)).to(dtype=x.dtype, device=x.device)
    return DistortionResult(
        image=t[0] if single else t,
        kind=kind,
        level=level,
        seed=int(seed),
        parameter=distortion_parameter(kind, level),
        bpp=tuple(bpp) if bpp is not None else None,
    )


def distort(
    x: torch.Tensor,
    kind: str,
    level: int,
    seed: int = 0,
    *,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Distort ``x`` with the Waterloo Exploration generator: ``kind`` in ``gblur``, ``wn``,
    ``jpeg``, ``jp2k`` at ``level`` 1 (mildest) .. 5.

    ``x``: ``C x H x W`` or ``N x C x H x W`` float tensor in ``[0, data_range]``, C = 1 or 3;
    it is rounded to 8 bits first (the generator works on uint8 images, as the database's
    ``distortion_generator.m`` does). Returns a tensor of the same shape, dtype and device
    holding 8-bit values (``k / 255 * data_range``). ``seed`` seeds the noise of ``wn`` (the
    other types are deterministic). Parameters and codecs: module docstring (Ma et al., "Waterloo
    Exploration Database: New Challenges for Image Quality Assessment Models", IEEE TIP 26(2),
    2017; ``distortion_generator.m``). Unknown types raise
    :class:`qagen.errors.UnknownNameError`; a JPEG 2000 rate the encoder cannot reach raises
    :class:`qagen.errors.InputError`.
    """
    return distort_with_info(x, kind, level, seed, data_range=data_range).image


def parse_types(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """Distortion types from a comma list (``"gblur,wn"``) or a sequence; ``None``/``"all"``:
    all four. Unknown names raise :class:`qagen.errors.UnknownNameError`."""
    if spec is None:
        return DISTORTION_TYPES
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(s).strip().lower() for s in items if str(s).strip()]
    if names == ["all"]:
        return DISTORTION_TYPES
    for n in names:
        if n not in DISTORTION_TYPES:
            raise UnknownNameError("distortion type", n, DISTORTION_TYPES)
    if not names:
        raise InputError("no distortion type given (choose from gblur, wn, jpeg, jp2k)")
    return tuple(dict.fromkeys(names))


def parse_levels(spec: str | Sequence[int] | None) -> tuple[int, ...]:
    """Levels from ``"1,3,5"``, ``"1-5"`` or a sequence; ``None``: 1..5."""
    if spec is None:
        return LEVELS
    if isinstance(spec, str):
        out: list[int] = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            try:
                rng = range(int(lo), int(hi) + 1) if sep else [int(lo)]
            except ValueError:
                raise InputError(
                    f"levels must be integers 1..5 such as '1,3' or '1-5', got {spec!r}"
                ) from None
            out.extend(rng)
    else:
        out = [int(v) for v in spec]
    for v in out:
        if v not in LEVELS:
            raise InputError(f"levels must lie in 1..5, got {v} in {spec!r}")
    if not out:
        raise InputError(f"no level given in {spec!r}")
    return tuple(dict.fromkeys(out))
