"""The networks of the quality-map paper's Table I: parameter counts (segmentation-models-pytorch
0.6.0 models equal the paper's numbers; the GAN equals pix2pix's unet_128 + PatchGAN), output
shapes, padding, and the score regressor."""

from __future__ import annotations

import pytest
import torch

from qagen.gan.nets.patchgan import PatchGAN
from qagen.gan.nets.regressor import ScoreRegressor
from qagen.gan.nets.unet import Pix2PixUNet, UNet, pad_to_multiple
from qagen.methods.qmap.fcn import FCN
from qagen.methods.qmap.recipes import PAPER_TABLE1, build_map_network
from qagen.methods.qmap.smp import smp_model


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "name, expected",
    [("resnet18-unet", 14_328_209), ("resnet50-unet", 32_521_105),
     ("densenet121-unet", 13_607_633)],
)  # fmt: skip
def test_encoder_unets_have_the_papers_counts(name, expected):
    assert _count(smp_model(name)) == expected == PAPER_TABLE1[name][1]


def test_dcnn_is_deeplabv3_resnet50_22_below_the_paper():
    n = _count(smp_model("dcnn"))
    assert n == 39_633_729
    assert PAPER_TABLE1["dcnn"][1] - n == 22


def test_gan_count_is_pix2pix_unet128_rgb_plus_patchgan():
    g = Pix2PixUNet(3, 3, num_downs=7)
    d = PatchGAN(6)
    total = _count(g) + _count(d)
    assert total == 44_597_700
    assert round(total, -3) == PAPER_TABLE1["gan"][1]  # the paper prints 44,598,000
    # pix2pix's published unet_256 / basic D on RGB pairs: 54.414 M and 2.769 M
    assert round(_count(Pix2PixUNet(3, 3, num_downs=8)) / 1e6, 3) == 54.414
    assert round(_count(PatchGAN(6)) / 1e6, 3) == 2.769


def _conv(cin: int, cout: int, k: int, bias: bool) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def _bn_conv(cin: int, cout: int, k: int = 3) -> int:
    """A bias-free convolution followed by batch norm (scale and shift)."""
    return _conv(cin, cout, k, False) + 2 * cout


def _unet_closed_form(base: int, levels: int) -> int:
    ch = [base * 2**k for k in range(levels)]
    n = _bn_conv(3, ch[0]) + _bn_conv(ch[0], ch[0])
    for k in range(1, levels):
        n += _bn_conv(ch[k - 1], ch[k]) + _bn_conv(ch[k], ch[k])  # encoder level
        n += _conv(ch[k], ch[k - 1], 2, True)  # 2x2 transposed convolution
        n += _bn_conv(2 * ch[k - 1], ch[k - 1]) + _bn_conv(ch[k - 1], ch[k - 1])  # decoder
    return n + _conv(ch[0], 1, 1, True)


def test_hand_written_networks_counts_equal_their_closed_forms():
    assert _count(UNet(3, 1, base_channels=16, levels=4)) == _unet_closed_form(16, 4) == 482_737
    assert _count(UNet(3, 1, base_channels=32, levels=5)) == _unet_closed_form(32, 5) == 7_763_041
    # FCN: VGG-16 layout at half width, five 4x4 transposed convolutions halving the channels
    enc, c = 0, 3
    for n, ch in ((2, 32), (2, 64), (3, 128), (3, 256), (3, 256)):
        for _ in range(n):
            enc, c = enc + _bn_conv(c, ch), ch
    dec = sum(_bn_conv(256 // 2**i, 128 // 2**i, 4) for i in range(5))
    assert _count(FCN()) == enc + dec + _conv(8, 1, 1, True) == 4_381_145
    # regressor: five stages of two convolutions, global average pooling, linear
    chans, reg, c = (32, 64, 128, 256, 256), 0, 3
    for ch in chans:
        reg, c = reg + _bn_conv(c, ch) + _bn_conv(ch, ch), ch
    assert _count(ScoreRegressor("cnn", 32)) == reg + 256 + 1


@pytest.mark.parametrize("model", ["fcn", "unet", "unet32", "resnet18-unet"])
def test_map_networks_keep_the_input_size(model):
    net = build_map_network(model, unet_base=32 if model == "unet32" else 16,
                            unet_levels=5 if model == "unet32" else 4)  # fmt: skip
    net.eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 96))
    assert out.shape == (2, 1, 64, 96)


def test_pix2pix_patchgan_shapes_and_tanh():
    g = Pix2PixUNet(3, 1, num_downs=7, ngf=8).eval()
    with torch.no_grad():
        y = g(torch.rand(1, 3, 128, 256) * 2 - 1)
    assert y.shape == (1, 1, 128, 256) and y.abs().max() <= 1
    d = PatchGAN(4, ndf=8)
    assert d(torch.rand(2, 4, 256, 256)).shape == (2, 1, 30, 30)  # 70 x 70 receptive fields


def test_pad_to_multiple_round_trip():
    x = torch.rand(1, 3, 50, 70)
    xp, (h, w) = pad_to_multiple(x, 32)
    assert xp.shape[-2:] == (64, 96) and (h, w) == (50, 70)
    assert torch.equal(xp[..., :50, :70], x)
    assert torch.equal(xp[..., 50, :70], x[..., 48, :])  # reflection, not zeros
    tiny, _ = pad_to_multiple(torch.rand(1, 3, 5, 5), 32)  # too small to reflect: replicate
    assert tiny.shape[-2:] == (32, 32)


def test_regressor_is_size_agnostic():
    r = ScoreRegressor("cnn", 8).eval()
    with torch.no_grad():
        assert r(torch.rand(3, 3, 64, 64)).shape == (3,)
        assert r(torch.rand(1, 3, 96, 160)).shape == (1,)


def test_encoder_weights_from_a_local_file(tmp_path):
    import torchvision

    from qagen.errors import InputError

    resnet = torchvision.models.resnet18(weights=None)  # stands in for an ImageNet file
    path = tmp_path / "resnet18.pth"
    torch.save(resnet.state_dict(), path)
    model = smp_model("resnet18-unet", encoder_weights=str(path))
    assert torch.equal(model.encoder.conv1.weight, resnet.conv1.weight)
    assert torch.equal(model.encoder.layer4[1].bn2.running_var, resnet.layer4[1].bn2.running_var)
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="does not fit the encoder"):
        smp_model("resnet18-unet", encoder_weights=str(tmp_path / "bad.pth"))
    with pytest.raises(FileNotFoundError):
        smp_model("resnet18-unet", encoder_weights=str(tmp_path / "missing.pth"))


def test_densenet_weights_in_torchvisions_file_layout(tmp_path):
    """torchvision's densenet121 file names a dense layer's parts ``norm.1``, ``conv.2`` (its
    loader renames them); such a file fits ``qmap-densenet121-unet``'s encoder."""
    import re

    donor = smp_model("densenet121-unet").encoder
    torch.nn.init.constant_(donor.features.denseblock4.denselayer16.conv2.weight, 0.5)
    old = {re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
           for k, v in donor.state_dict().items()}  # fmt: skip
    assert "features.denseblock4.denselayer16.conv.2.weight" in old
    old["classifier.weight"] = torch.zeros(1000, 1024)  # the ImageNet head: ignored
    torch.save(old, tmp_path / "densenet121.pth")
    model = smp_model("densenet121-unet", encoder_weights=str(tmp_path / "densenet121.pth"))
    got = model.encoder.features.denseblock4.denselayer16.conv2.weight
    assert torch.equal(got, torch.full_like(got, 0.5))
    assert torch.equal(model.encoder.features.conv0.weight, donor.features.conv0.weight)
