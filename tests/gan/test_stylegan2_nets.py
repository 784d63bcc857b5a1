"""The StyleGAN2 networks (qagen.gan.nets.stylegan2): parameter counts of the official
configurations, shapes, modulation / demodulation against their closed form, the resampling
filters, the minibatch standard deviation and style mixing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from qagen.gan.nets import build_networks
from qagen.gan.nets.stylegan2 import (
    CONFIGS,
    MinibatchStd,
    StyleGAN2Discriminator,
    StyleGAN2Generator,
    demodulated_weight,
    downsample2x,
    modulated_conv2d,
    upsample2x,
)

#: Parameter counts of NVIDIA's stylegan2-ada-pytorch for its configurations (unconditional,
#: 3 channels), derived by reading training/networks.py and train.py (docs/stylegan2.md gives
#: the sums layer by layer): (G, D).
OFFICIAL = {"cifar": (19_947_539, 20_720_641), "auto-64": (22_243_608, 23_407_361)}


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _pair(cfg: dict) -> tuple[StyleGAN2Generator, StyleGAN2Discriminator]:
    g = StyleGAN2Generator(cfg["resolution"], cfg["z_dim"], w_dim=cfg["w_dim"],
                           mapping_layers=cfg["mapping_layers"], channel_base=cfg["channel_base"],
                           channel_max=cfg["channel_max"])  # fmt: skip
    d = StyleGAN2Discriminator(cfg["resolution"], channel_base=cfg["channel_base"],
                               channel_max=cfg["channel_max"], architecture=cfg["d_architecture"],
                               mbstd_group=cfg["mbstd_group"])  # fmt: skip
    return g, d


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_parameter_counts_of_the_official_configurations(name, monkeypatch):
    # uninitialised weights: no time spent drawing 40 million normal numbers
    monkeypatch.setattr(torch, "randn", lambda *size, **kw: torch.empty(*size, **kw))
    g, d = _pair(CONFIGS[name])
    assert (_count(g), _count(d)) == OFFICIAL[name]
    # the mapping network: 2 layers of 512 x 512 + 512
    assert _count(g.mapping) == 2 * (512 * 512 + 512)
    assert g.num_ws == {"cifar": 8, "auto-64": 10}[name]


def _tiny(res: int = 16, **kw) -> tuple[StyleGAN2Generator, StyleGAN2Discriminator]:
    torch.manual_seed(0)
    g = StyleGAN2Generator(res, 16, w_dim=16, mapping_layers=2, channel_base=64, channel_max=16)
    d = StyleGAN2Discriminator(res, channel_base=64, channel_max=16, **kw)
    return g, d


def test_shapes_and_the_network_registry():
    g, d = _tiny(32, architecture="orig")
    z = torch.randn(3, 16)
    x, ws = g(z, return_ws=True)
    assert x.shape == (3, 3, 32, 32) and ws.shape == (3, 8, 16) and d(x).shape == (3,)
    assert g.noise_resolutions == [4, 8, 8, 16, 16, 32, 32]
    assert g.sample_latent(5).shape == (5, 16)
    g2, d2 = build_networks("stylegan2", 16, 16, {"w_dim": 16, "mapping_layers": 1,
                                                  "channel_base": 32, "channel_max": 8})  # fmt: skip
    assert g2(torch.randn(2, 16)).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Generator(48)


def test_demodulated_weights_have_unit_norm_and_the_conv_matches_them():
    torch.manual_seed(1)
    w, s = torch.randn(5, 4, 3, 3), torch.rand(2, 4) + 0.5
    wd = demodulated_weight(w, s)
    norms = wd.flatten(2).norm(dim=2)  # N x O: one norm per output channel and sample
    assert torch.allclose(norms, torch.ones(2, 5), atol=1e-5)
    # eq. 1: w' = s_i w_ijk before the demodulation
    assert torch.allclose(demodulated_weight(w, s, demodulate=False)[1, 2, 3], w[2, 3] * s[1, 3])
    x = torch.randn(2, 4, 6, 6)
    y = modulated_conv2d(x, w, s)
    ref = torch.stack([F.conv2d(x[i : i + 1], wd[i], padding=1)[0] for i in range(2)])
    assert torch.allclose(y, ref, atol=1e-5)
    y0 = modulated_conv2d(x, w, s, demodulate=False)
    ref0 = torch.stack([F.conv2d(x[i : i + 1], w * s[i, None, :, None, None], padding=1)[0]
                        for i in range(2)])  # fmt: skip
    assert torch.allclose(y0, ref0, atol=1e-5)
    # demodulation removes the scale of the style: y(c s) = y(s)
    assert torch.allclose(modulated_conv2d(x, w, 7.0 * s), y, atol=1e-5)


def test_binomial_resampling():
    x = torch.ones(1, 2, 8, 8)
    up, down = upsample2x(x), downsample2x(x)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    # a constant stays constant away from the zero-padded border; the kernel sums to 1
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.ones(1, 2, 2, 2))
    # away from the border it is bilinear interpolation (align_corners=False)
    r = torch.randn(1, 1, 8, 8)
    bilinear = F.interpolate(r, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(upsample2x(r)[..., 2:-2, 2:-2], bilinear[..., 2:-2, 2:-2], atol=1e-6)


def test_minibatch_std_channel():
    x = torch.randn(8, 3, 4, 4)
    y = MinibatchStd(group_size=4)(x)
    assert y.shape == (8, 4, 4, 4)
    # image i is in group i mod 2: the std over {0, 2, 4, 6} (population), mean over C, H, W
    grp = x[0::2]
    expect = (grp.var(0, unbiased=False) + 1e-8).sqrt().mean()
    assert torch.allclose(y[0, 3], expect.expand(4, 4), atol=1e-6)
    assert torch.allclose(y[6, 3], expect.expand(4, 4), atol=1e-6)
    assert MinibatchStd(4)(torch.randn(6, 3, 4, 4)).shape == (6, 4, 4, 4)  # G lowered to 3


def test_style_mixing_mixes():
    g, _ = _tiny(16)
    z1, z2 = torch.randn(2, 16), torch.randn(2, 16)
    g.eval()
    _, ws = g(z1, z2, cutoff=3, return_ws=True)
    w1, w2 = g.mapping(z1), g.mapping(z2)
    assert torch.allclose(ws[:, :3], w1[:, None].expand(-1, 3, -1))
    assert torch.allclose(ws[:, 3:], w2[:, None].expand(-1, g.num_ws - 3, -1))
    noise = [torch.zeros(2, 1, r, r) for r in g.noise_resolutions]
    a, b = g(z1, noises=noise), g(z1, z2, cutoff=3, noises=noise)
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="cutoff"):
        g(z1, z2, cutoff=g.num_ws)


def test_resnet_discriminator_has_skips_and_noise_is_used():
    _, d_res = _tiny(16, architecture="resnet")
    _, d_orig = _tiny(16, architecture="orig")
    skips = sum(p.numel() for n, p in d_res.named_parameters() if "skip" in n)
    # channels 4 (16 px), 8 (8 px), 16 (4 px): 1 x 1 skips 4 -> 8 and 8 -> 16, no bias
    assert skips == _count(d_res) - _count(d_orig) == 4 * 8 + 8 * 16
    g, _ = _tiny(16)
    for m in g.modules():
        if hasattr(m, "noise_strength"):
            torch.nn.init.constant_(m.noise_strength, 1.0)
    z = torch.randn(1, 16)
    n0 = [torch.zeros(1, 1, r, r) for r in g.noise_resolutions]
    n1 = [torch.randn(1, 1, r, r) for r in g.noise_resolutions]
    assert not torch.allclose(g(z, noises=n0), g(z, noises=n1))
