"""SRCNN shapes and parameter count, the SR data (patches, test sets, modcrop, LR/bicubic),
border shaving and the PSNR/SSIM protocol against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.data import build_dataset
from qagen.errors import InputError
from qagen.matlab_resize import imresize
from qagen.methods.msssim.data_sr import (
    PatchDataset,
    bicubic_upscale,
    builtin_sr_test_set,
    load_sr_test_set,
    make_lr,
    modcrop,
    resize,
)
from qagen.methods.msssim.srcnn import SRCNN
from qagen.methods.msssim.super_resolution import evaluate_sr, shave, sr_image_rgb, y_psnr_ssim


def test_srcnn_parameter_count_and_shapes():
    net = SRCNN()
    # 9x9x1x64 + 64, 5x5x64x32 + 32, 5x5x32x1 + 1 (Dong et al. TPAMI 2016, 9-5-5)
    assert (
        sum(p.numel() for p in net.parameters()) == 81 * 64 + 64 + 25 * 64 * 32 + 32 + 25 * 32 + 1
    )
    assert sum(p.numel() for p in net.parameters()) == 57281
    assert [c.out_channels for c in (net.conv1, net.conv2, net.conv3)] == [64, 32, 1]
    assert [c.kernel_size[0] for c in (net.conv1, net.conv2, net.conv3)] == [9, 5, 5]
    x = torch.rand(2, 1, 33, 40)
    assert net(x).shape == (2, 1, 33, 40)
    valid = SRCNN(padding="valid")
    assert valid.border == 4 + 2 + 2
    assert valid(x).shape == (2, 1, 33 - 16, 40 - 16)
    assert valid.upscale(x).shape == (2, 1, 33, 40)
    with pytest.raises(InputError):
        SRCNN(kernels=(9, 4, 5))
    with pytest.raises(InputError):
        SRCNN(padding="reflect")


def test_identity_init_reproduces_the_input():
    net = SRCNN(init="identity")
    x = torch.rand(3, 1, 20, 20)
    assert torch.allclose(net(x), x, atol=1e-6)
    assert torch.allclose(net.upscale(x), x, atol=1e-6)


def test_resize_matches_imresize_and_modcrop():
    x = torch.rand(2, 1, 24, 36, dtype=torch.float64)
    assert torch.allclose(resize(x, 0.25), imresize(x, 0.25), atol=1e-12)
    assert torch.allclose(resize(x, 4.0), imresize(x, 4.0), atol=1e-12)
    lr = make_lr(x, 4)
    assert lr.shape == (2, 1, 6, 9)
    assert bicubic_upscale(lr, 4).shape == x.shape
    # a constant image stays constant through MATLAB's normalised bicubic weights
    c = torch.full((1, 1, 16, 16), 0.3, dtype=torch.float64)
    assert torch.allclose(bicubic_upscale(make_lr(c, 4), 4), c, atol=1e-12)
    assert modcrop(torch.zeros(3, 27, 30), 4).shape == (3, 24, 28)
    with pytest.raises(InputError, match="multiple of 4"):
        make_lr(torch.zeros(1, 1, 10, 12), 4)


def test_shave_and_psnr_ssim_against_skimage():
    from skimage.metrics import peak_signal_noise_ratio

    assert shave(torch.zeros(1, 1, 20, 30), 4).shape == (1, 1, 12, 22)
    assert torch.equal(
        shave(torch.arange(36.0).view(1, 1, 6, 6), 1)[0, 0, 0], torch.tensor([7.0, 8, 9, 10])
    )
    with pytest.raises(InputError):
        shave(torch.zeros(1, 1, 8, 8), 4)
    g = torch.Generator().manual_seed(0)
    y = torch.floor(torch.rand(1, 1, 40, 40, generator=g) * 255) / 255
    x = (y + 0.05 * torch.randn(y.shape, generator=g)).clamp(0, 1)
    x = torch.floor(x * 255 + 0.5) / 255
    p, s = y_psnr_ssim(x, y, 4)
    a = (x[0, 0, 4:-4, 4:-4].double() * 255).numpy()
    b = (y[0, 0, 4:-4, 4:-4].double() * 255).numpy()
    assert p == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=1e-9)
    # the shaved border is ignored: a change there leaves both numbers as they were
    x2 = x.clone()
    x2[..., :4, :] = 0
    assert y_psnr_ssim(x2, y, 4) == (p, s)
    assert y_psnr_ssim(x2, y, 0)[0] < p


def _write_set(root, names, size=(30, 26)):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in names:
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / n)


def test_test_set_layouts(tmp_path):
    _write_set(tmp_path / "Set5", ["baby_GT.bmp", "bird_GT.bmp"])
    s = load_sr_test_set(tmp_path / "Set5", 4)
    assert [i.name for i in s] == ["baby", "bird"]
    assert all(i.hr.shape == (3, 28, 24) and i.hr.dtype == torch.uint8 for i in s)
    srf = tmp_path / "Set14"
    _write_set(srf / "image_SRF_4", ["img_001_SRF_4_HR.png", "img_001_SRF_4_LR.png",
                                     "img_001_SRF_4_bicubic.png"])  # fmt: skip
    _write_set(srf / "image_SRF_2", ["img_001_SRF_2_HR.png"])
    s = load_sr_test_set(srf, 4)
    assert [i.name for i in s] == ["image_SRF_4/img_001_SRF_4"]
    with pytest.raises(FileNotFoundError):
        load_sr_test_set(tmp_path / "nope")


def test_patches_native_and_deterministic(tmp_path):
    _write_set(tmp_path / "imgs", ["a.png", "b.png"], size=(60, 50))
    ds = build_dataset(f"patches:{tmp_path / 'imgs'}", 16, "train")
    assert isinstance(ds, PatchDataset) and len(ds) == 128
    p = ds.raw(5)
    assert p.shape == (3, 16, 16) and torch.equal(p, ds.raw(5))
    # native pixels: the patch occurs verbatim in one of the images
    imgs = [torch.from_numpy(np.array(Image.open(tmp_path / "imgs" / n))).permute(2, 0, 1)
            for n in ("a.png", "b.png")]  # fmt: skip
    found = any(torch.equal(im[:, y : y + 16, x : x + 16], p)
                for im in imgs for y in range(45) for x in range(35))  # fmt: skip
    assert found
    b = build_dataset("patches:builtin", 24, "test")
    assert b[0].shape == (3, 24, 24) and b.raw(3).dtype == torch.uint8
    with pytest.raises(InputError, match="subfolder"):
        build_dataset(f"patches:{tmp_path / 'imgs'}", 16, "test")


def test_builtin_test_set_and_bicubic_baseline():
    images = builtin_sr_test_set(4, max_side=64)
    assert len(images) >= 5
    assert all(i.hr.shape[-1] % 4 == 0 and i.hr.shape[-2] % 4 == 0 for i in images)
    res = evaluate_sr(images[:2], {"identity": SRCNN(init="identity").double()})
    # a network that returns its input is the bicubic baseline
    assert res.psnr["identity"] == pytest.approx(res.psnr["Bicubic"], abs=1e-6)
    assert res.ssim["identity"] == pytest.approx(res.ssim["Bicubic"], abs=1e-6)
    assert 15 < res.psnr["Bicubic"] < 60 and 0 < res.ssim["Bicubic"] < 1


def test_sr_image_colour_and_grey():
    net = SRCNN(init="identity").double()
    rgb = torch.rand(1, 3, 8, 10, dtype=torch.float64)
    out = sr_image_rgb(net, rgb, 4)
    assert out.shape == (1, 3, 32, 40)
    # identity network: the result is bicubic upscaling of YCbCr, back in RGB
    from qagen.color import rgb_to_ycbcr, ycbcr_to_rgb

    ref = ycbcr_to_rgb(bicubic_upscale(rgb_to_ycbcr(rgb), 4)).clamp(0, 1)
    assert torch.allclose(out, ref, atol=1e-6)
    grey = sr_image_rgb(net, rgb[:, :1], 4)
    assert grey.shape == (1, 1, 32, 40)
