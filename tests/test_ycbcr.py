"""YCbCr conversions against MATLAB's published ``rgb2ycbcr`` matrix and scikit-image."""

import numpy as np
import pytest
import torch

from qagen.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from qagen.errors import InputError, InputTypeError


def _pixels(rgb):
    return torch.tensor(rgb, dtype=torch.float64).view(-1, 3, 1, 1)


@pytest.mark.parametrize(
    "rgb, expected",
    [
        # MATLAB rgb2ycbcr on uint8 pixels: offset [16 128 128] + T * rgb / 255, rounded,
        # T = [65.481 128.553 24.966; -37.797 -74.203 112; 112 -93.786 -18.214]
        ((0, 0, 0), (16, 128, 128)),
        ((255, 255, 255), (235, 128, 128)),
        ((255, 0, 0), (81, 90, 240)),  # 81.481, 90.203, 240
        ((0, 255, 0), (145, 54, 34)),  # 144.553, 53.797, 34.214
        ((0, 0, 255), (41, 240, 110)),  # 40.966, 240, 109.786
        ((10, 200, 90), (128, 108, 52)),  # 128.205, 107.849, 52.406
    ],
)
def test_uint8_values_match_matlab_matrix(rgb, expected):
    out = rgb_to_ycbcr(_pixels([rgb]), data_range=255.0, rounding=True)
    assert out.flatten().tolist() == [float(v) for v in expected]


def test_double_values_match_matlab_matrix_and_skimage():
    from skimage.color import rgb2ycbcr

    rng = np.random.default_rng(0)
    img = rng.random((7, 9, 3))
    ref = rgb2ycbcr(img)  # skimage: Y in [16, 235] for float input in [0, 1]
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    ours = rgb_to_ycbcr(x, data_range=1.0) * 255.0
    np.testing.assert_allclose(ours[0].permute(1, 2, 0).numpy(), ref, atol=1e-10)
    # closed form of the first row on one pixel
    r, g, b = img[3, 4]
    y = (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255
    assert abs(rgb_to_y(x)[0, 0, 3, 4].item() - y) < 1e-12


def test_inverse_and_scale():
    x = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    back = ycbcr_to_rgb(rgb_to_ycbcr(x))
    assert torch.allclose(back, x, atol=1e-12)
    assert torch.allclose(rgb_to_ycbcr(x * 255, 255.0), rgb_to_ycbcr(x) * 255, atol=1e-10)
    # MATLAB ycbcr2rgb of [16 128 128] and [235 128 128] (0-255 scale): black and white
    ends = ycbcr_to_rgb(_pixels([(16, 128, 128), (235, 128, 128)]), 255.0).flatten()
    assert torch.allclose(ends, torch.tensor([0.0] * 3 + [255.0] * 3, dtype=torch.float64))


def test_grey_input_and_gradient():
    g = torch.rand(1, 1, 4, 4, requires_grad=True)
    y = rgb_to_y(g, rounding=True)
    assert y.shape == (1, 1, 4, 4)
    y.sum().backward()
    assert torch.allclose(g.grad, torch.full_like(g, 219.0 / 255.0))


def test_bad_input():
    with pytest.raises(InputError, match="N x 3 x H x W"):
        rgb_to_ycbcr(torch.rand(1, 2, 4, 4))
    with pytest.raises(InputTypeError, match="floating-point"):
        rgb_to_ycbcr(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
