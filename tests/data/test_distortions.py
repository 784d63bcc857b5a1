"""The Waterloo Exploration distortion generator, level by level, against independent computations:
scipy's correlation for the blur, NumPy's imnoise formula and the noise statistics, Pillow's
codecs called directly, and the direction of PSNR and bits per pixel over the levels."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from PIL import Image

from qagen.data.distortions import (
    DISTORTION_TYPES,
    GBLUR_KERNEL_SIZES,
    JP2K_BPP,
    JPEG_QUALITIES,
    LEVELS,
    WN_LOG2_VARIANCES,
    distort,
    distort_uint8,
    distort_with_info,
    parse_levels,
    parse_types,
)
from qagen.errors import InputError, InputTypeError, UnknownNameError


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 256 x 320 RGB crop of a natural photograph (uint8)."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[100:356, 80:400])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


def test_parameters_are_the_databases():
    # distortion_generator.m of the Waterloo Exploration Database
    assert GBLUR_KERNEL_SIZES == (7, 15, 39, 91, 199)
    assert WN_LOG2_VARIANCES == (-10, -7.5, -5.5, -3.5, 0)
    assert JPEG_QUALITIES == (43, 12, 7, 4, 0)
    assert JP2K_BPP == (0.46, 0.16, 0.07, 0.04, 0.02)
    assert DISTORTION_TYPES == ("gblur", "wn", "jpeg", "jp2k")


@pytest.mark.parametrize("level", LEVELS)
def test_gblur_matches_scipy_symmetric_correlation(level):
    """fspecial('gaussian', h, h/6) with imfilter 'symmetric' == scipy's 2-D correlation with
    mode 'reflect' (d c b a | a b c d, repeated for kernels wider than the image), rounded."""
    rng = np.random.default_rng(level)
    img = rng.integers(0, 256, size=(37, 45, 3), dtype=np.uint8)  # smaller than h = 91, 199
    h = GBLUR_KERNEL_SIZES[level - 1]
    ax = np.arange(h) - (h - 1) / 2
    xx, yy = np.meshgrid(ax, ax)
    k = np.exp(-(xx**2 + yy**2) / (2 * (h / 6) ** 2))
    k /= k.sum()
    ref = np.stack(
        [ndi.correlate(img[..., c].astype(np.float64), k, mode="reflect") for c in range(3)], -1
    )
    ref = np.clip(np.floor(ref + 0.5), 0, 255)
    out, bpp = distort_uint8(img, "gblur", level)
    assert bpp is None and out.dtype == np.uint8 and out.shape == img.shape
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1  # only exact .5 ties may round differently in floating point
    assert (diff == 0).mean() > 0.999


@pytest.mark.parametrize("level", LEVELS)
def test_white_noise_is_imnoise(level, photo):
    """imnoise(I, 'gaussian', 0, v): I/255 + sqrt(v) N(0, 1), clipped to [0, 1], round(255 b)."""
    seed = 7 + level
    out, _ = distort_uint8(photo, "wn", level, seed)
    v = 2.0 ** WN_LOG2_VARIANCES[level - 1]
    n = np.random.default_rng(seed).standard_normal((1, *photo.shape))[0]
    expect = np.round(np.clip(photo / 255.0 + math.sqrt(v) * n, 0, 1) * 255)
    assert np.array_equal(out, expect.astype(np.uint8))


@pytest.mark.parametrize("level", [1, 2, 3])
def test_white_noise_variance_on_mid_grey(level):
    """Away from clipping, the added noise has the database's variance (statistics, not code)."""
    grey = np.full((200, 200, 3), 128, np.uint8)
    out, _ = distort_uint8(grey, "wn", level, seed=3)
    noise = (out.astype(np.float64) - 128) / 255
    var = 2.0 ** WN_LOG2_VARIANCES[level - 1]
    assert abs(noise.mean()) < 0.01
    assert noise.var() == pytest.approx(var + 1 / (12 * 255**2), rel=0.05)  # + quantisation


def test_white_noise_is_seeded(photo):
    x = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    a, b = distort(x, "wn", 3, seed=1), distort(x, "wn", 3, seed=1)
    c = distort(x, "wn", 3, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("level", LEVELS)
def test_jpeg_is_pillows_codec_at_the_quality(level, photo):
    out, bpp = distort_uint8(photo, "jpeg", level)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=JPEG_QUALITIES[level - 1])
    expect = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal(out, expect)
    assert bpp[0] == pytest.approx(8 * len(buf.getvalue()) / (256 * 320))


@pytest.mark.parametrize("level", LEVELS)
def test_jp2k_reaches_the_rate(level, photo):
    target = JP2K_BPP[level - 1]
    out, bpp = distort_uint8(photo, "jp2k", level)
    assert out.shape == photo.shape
    assert bpp[0] == pytest.approx(target, rel=0.12)  # OpenJPEG's rate control at 256 x 320


@pytest.mark.parametrize("kind", DISTORTION_TYPES)
def test_quality_falls_with_the_level(kind, photo):
    psnrs, rates = [], []
    for level in LEVELS:
        out, bpp = distort_uint8(photo, kind, level, seed=0)
        psnrs.append(_psnr(out, photo))
        rates.append(bpp[0] if bpp else None)
    assert all(a > b for a, b in zip(psnrs, psnrs[1:], strict=False)), psnrs
    if kind in ("jpeg", "jp2k"):
        assert all(a > b for a, b in zip(rates, rates[1:], strict=False)), rates


def test_tensor_api_shapes_dtypes_and_range(photo):
    x = torch.from_numpy(photo).permute(2, 0, 1).double() / 255 * 2.0  # data_range 2
    r = distort_with_info(torch.stack([x, x]), "jpeg", 2, data_range=2.0)
    assert r.image.shape == (2, 3, 256, 320) and r.image.dtype == torch.float64
    assert float(r.image.max()) <= 2.0 and len(r.bpp) == 2 and r.parameter == "quality 12"
    u8 = torch.round(r.image / 2.0 * 255)
    assert torch.allclose(u8, r.image / 2.0 * 255, atol=1e-9)  # 8-bit values
    grey = distort(x[:1] / 2, "gblur", 1)
    assert grey.shape == (1, 256, 320)


def test_bad_input():
    x = torch.rand(3, 64, 64)
    with pytest.raises(UnknownNameError, match="distortion type 'blur'"):
        distort(x, "blur", 1)
    with pytest.raises(InputError, match="level must be an integer 1..5"):
        distort(x, "wn", 6)
    with pytest.raises(InputTypeError, match="floating-point"):
        distort((x * 255).to(torch.uint8), "wn", 1)
    with pytest.raises(InputError, match=r"\[0, data_range=1"):
        distort(x * 2, "wn", 1)
    with pytest.raises(InputError, match="C = 1 or 3"):
        distort(torch.rand(2, 64, 64), "wn", 1)
    with pytest.raises(InputError, match="cannot reach 0.02 bits per pixel on this 64 x 64"):
        distort(x, "jp2k", 5)
    with pytest.raises(UnknownNameError):
        parse_types("gblur,noise")
    assert parse_types("wn, jpeg") == ("wn", "jpeg") and parse_types(None) == DISTORTION_TYPES
    assert parse_levels("1-3,5") == (1, 2, 3, 5)
    with pytest.raises(InputError, match="1..5"):
        parse_levels("0-2")
