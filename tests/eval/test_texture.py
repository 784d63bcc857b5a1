"""GLCM statistics and HOG similarity (qagen.eval.texture) on closed-form cases.

Hand-computed values: a one-pixel checkerboard and a constant image for the GLCM (8 levels,
offsets 0/45/90/135 at distance 1), stripes for HOG. scikit-image is the library under the
hood; the tests check the definitions and the protocol around it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qagen.eval.texture import (
    glcm_features,
    glcm_protocol,
    gray_entropy,
    hog_descriptor,
    hog_similarity,
    to_gray_uint8,
)

# 17 x 17 makes every offset's pair counts balanced, so the values are exact fractions
CHECKER = (np.indices((17, 17)).sum(0) % 2 * 255).astype(np.uint8)


def test_glcm_checkerboard_closed_form() -> None:
    f = {k: float(v[0]) for k, v in glcm_features(CHECKER).items()}
    # levels 0 and 7. 0 and 90 deg: all pairs (0,7)/(7,0), half each; 45 and 135 deg: all
    # pairs (0,0)/(7,7), half each. Averages over the four offsets:
    # contrast (49 + 0 + 49 + 0)/4; homogeneity MATLAB (1/8 + 1 + 1/8 + 1)/4,
    # scikit-image (1/50 + 1 + 1/50 + 1)/4; energy 0.5 everywhere; entropy 1 bit everywhere;
    # correlation (-1 + 1 - 1 + 1)/4. Tolerance 1e-12: exact arithmetic on fractions.
    expected = {
        "contrast": 24.5,
        "homogeneity_matlab": 0.5625,
        "homogeneity_skimage": 0.51,
        "energy_matlab": 0.5,
        "energy_skimage": np.sqrt(0.5),
        "entropy": 1.0,
        "correlation": 0.0,
    }
    for k, v in expected.items():
        assert f[k] == pytest.approx(v, abs=1e-12), k
    assert f["homogeneity"] == f["homogeneity_matlab"] and f["energy"] == f["energy_matlab"]
    g = glcm_features(CHECKER, definitions="skimage")
    assert float(g["homogeneity"][0]) == pytest.approx(0.51, abs=1e-12)
    assert float(g["energy"][0]) == pytest.approx(np.sqrt(0.5), abs=1e-12)


def test_glcm_single_offset_checkerboard() -> None:
    # offset 0 deg only: perfectly anti-correlated neighbours
    f = glcm_features(CHECKER, angles_deg=(0,))
    assert float(f["correlation"][0]) == pytest.approx(-1.0, abs=1e-12)
    assert float(f["contrast"][0]) == pytest.approx(49.0, abs=1e-12)


def test_glcm_constant_image() -> None:
    f = {k: float(v[0]) for k, v in glcm_features(np.full((9, 9), 100, np.uint8)).items()}
    # one GLCM cell holds everything: no contrast, full homogeneity and energy, zero entropy;
    # correlation is undefined (zero variance) and reported as 1 (scikit-image's convention)
    assert f["contrast"] == 0 and f["homogeneity"] == 1 and f["energy"] == 1 and f["entropy"] == 0
    assert f["correlation"] == 1


def test_matlab_quantisation_rounds_to_nearest_level() -> None:
    # graycomatrix NumLevels=8 on uint8: level = round(g * 7 / 255); 18 -> 0, 19 -> 1 (18.2 is
    # the boundary), 255 -> 7. A two-level vertical stripe gives contrast 1 only if 19 -> 1.
    img = np.zeros((4, 4), np.uint8)
    img[:, 1::2] = 19
    assert float(glcm_features(img, angles_deg=(0,))["contrast"][0]) == pytest.approx(1.0)
    img[:, 1::2] = 18
    assert float(glcm_features(img, angles_deg=(0,))["contrast"][0]) == 0.0
    # equal-width bins (floor(g * 8 / 256)) put 19 in level 0 as well
    img[:, 1::2] = 19
    assert float(glcm_features(img, angles_deg=(0,), quantization="floor")["contrast"][0]) == 0.0


def test_tensor_input_and_batch() -> None:
    x = torch.rand(3, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    f = glcm_features(x)
    assert all(v.shape == (3,) and v.dtype == torch.float64 for v in f.values())
    # batch independence: image 1 alone gives the same numbers (exact: same integer GLCM)
    g = glcm_features(x[1:2])
    assert all(float(f[k][1]) == float(g[k][0]) for k in f)
    # data_range: x * 255 with data_range=255 gives the same 8-bit image
    h = glcm_features(x * 255, data_range=255.0)
    assert all(torch.equal(f[k], h[k]) for k in f)


def test_rgb2gray_matches_matlab_weights() -> None:
    rgb = np.zeros((1, 1, 3), np.uint8)
    rgb[0, 0] = (200, 100, 50)
    # MATLAB rgb2gray(uint8([200 100 50])) = round(0.298936*200 + 0.587043*100 + 0.114021*50)
    #                                      = round(124.19) = 124
    assert int(to_gray_uint8(rgb)[0][0, 0]) == 124


def test_gray_entropy_closed_form() -> None:
    # two grey values in equal proportion: 1 bit; a constant image: 0 bits (MATLAB entropy(I))
    assert float(gray_entropy(CHECKER[:16, :16])[0]) == pytest.approx(1.0, abs=1e-12)
    assert float(gray_entropy(np.full((5, 5), 3, np.uint8))[0]) == 0.0


def _stripes(vertical: bool, period: int = 8) -> np.ndarray:
    img = np.zeros((64, 64), np.uint8)
    on = (np.arange(64) // (period // 2)) % 2 == 1
    if vertical:
        img[:, on] = 255
    else:
        img[on, :] = 255
    return img


def test_hog_similarity_closed_form() -> None:
    v, h = _stripes(True), _stripes(False)
    # identical -> 1; vertical stripes have only horizontal gradients (orientation 0 deg) and
    # horizontal stripes only vertical ones (90 deg): disjoint orientation bins -> cosine 0
    assert float(hog_similarity(v, v)[0]) == pytest.approx(1.0, abs=1e-12)
    assert float(hog_similarity(v, h)[0]) == pytest.approx(0.0, abs=1e-12)
    # symmetric
    x = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    y = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    assert torch.equal(hog_similarity(x, y), hog_similarity(y, x))
    s = hog_similarity(x, y)
    assert s.shape == (2,) and bool(((s > 0) & (s < 1)).all())


def test_hog_descriptor_uses_skimage_defaults() -> None:
    from skimage.feature import hog

    v = _stripes(True)
    d = hog_descriptor(v)[0]
    # 64 x 64 with 8 x 8 cells and 3 x 3 blocks: 6 x 6 blocks x 9 cells x 9 orientations
    assert d.shape == (6 * 6 * 9 * 9,)
    np.testing.assert_array_equal(d, hog(v / 255.0))


def test_hog_flat_images_and_sizes() -> None:
    flat = np.full((32, 32), 7, np.uint8)
    assert float(hog_similarity(flat, flat)[0]) == 1.0  # both descriptors zero
    assert float(hog_similarity(flat, _stripes(True)[:32, :32])[0]) == 0.0
    with pytest.raises(ValueError, match="size="):
        hog_similarity(np.zeros((32, 32), np.uint8), np.zeros((40, 40), np.uint8))
    # with a fixed size both are resized and compared
    assert hog_similarity(_stripes(True), _stripes(True)[:48, :48], size=(48, 48)).shape == (1,)
    with pytest.raises(ValueError, match="too small"):
        hog_similarity(np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8))


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="outside"):
        glcm_features(torch.full((1, 1, 8, 8), 2.0))
    with pytest.raises(ValueError, match="NaN"):
        glcm_features(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="C = 1 or 3"):
        glcm_features(torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="definitions"):
        glcm_features(CHECKER, definitions="opencv")


def test_protocol_record() -> None:
    p = glcm_protocol()
    assert p["levels"] == 8 and p["angles_deg"] == [0, 45, 90, 135] and p["distances"] == [1]
    assert p["symmetric"] is False and p["quantization"] == "matlab" and p["entropy_base"] == 2
