"""BEGAN networks: shapes, parameter counts computed by hand, the layer layout, bad sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qagen.errors import InputError
from qagen.gan.nets import build_networks
from qagen.methods.began.nets import (
    BEGANAutoencoder,
    BEGANDecoder,
    BEGANEncoder,
    BEGANGenerator,
    began_levels,
)


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _conv(c_in: int, c_out: int) -> int:  # 3x3 weights + bias
    return 9 * c_in * c_out + c_out


@pytest.mark.parametrize("res, levels", [(8, 0), (16, 1), (32, 2), (64, 3), (128, 4), (256, 5)])
def test_levels_and_shapes(res, levels):
    assert began_levels(res) == levels
    d = BEGANAutoencoder(res, h_dim=5, channels=4)
    g = BEGANGenerator(res, z_dim=6, channels=4)
    x = torch.rand(2, 3, res, res) * 2 - 1
    assert d.encode(x).shape == (2, 5)
    assert d(x).shape == (2, 3, res, res)
    assert g(torch.rand(2, 6) * 2 - 1).shape == (2, 3, res, res)
    # L stride-2 convolutions in the encoder, L nearest x2 up-samplings in each decoder
    strided = [m for m in d.encoder.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == levels
    ups = [m for m in g.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == levels and all(u.mode == "nearest" and u.scale_factor == 2 for u in ups)
    # 3x3 convolutions only, each followed by an ELU except the output one
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.ELU) for m in g.modules()) == len(convs) - 1


def test_parameter_counts_by_hand_16px():
    # R = 16 (L = 1), n = 4, N_h = 5, N_z = 6.
    # encoder: conv 3->4 (9*3*4 + 4 = 112); level 1 (4 ch): two 4->4 convs and the stride-2 one
    # (3 x 148); level 2 (8 ch): 4->8 (296) and 8->8 (584); linear 8*8*8 -> 5 (2560 + 5)
    assert _count(BEGANEncoder(16, 5, 4)) == 112 + 3 * 148 + 296 + 584 + 2565 == 4001
    # decoder: linear 5 -> 8*8*4 (1280 + 256), two levels of two 4->4 convs (4 x 148),
    # output conv 4->3 (108 + 3)
    assert _count(BEGANDecoder(16, 5, 4)) == 1536 + 4 * 148 + 111 == 2239
    assert _count(BEGANGenerator(16, 6, 4)) == (6 * 256 + 256) + 4 * 148 + 111 == 2495
    assert _count(BEGANAutoencoder(16, 5, 4)) == 4001 + 2239


def test_parameter_counts_by_hand_paper_64px():
    # 64 px, n = 128, N_h = N_z = 128 (the models 1-11 set-up; 3 down-samplings, 4 levels)
    n = 128
    enc = _conv(3, n)
    prev = n
    for i in range(1, 5):
        ch = i * n
        enc += _conv(prev, ch) + _conv(ch, ch) + (_conv(ch, ch) if i <= 3 else 0)
        prev = ch
    enc += 8 * 8 * 4 * n * 128 + 128  # the 8 x 8 x 512 map -> h
    dec = (128 * 8 * 8 * n + 8 * 8 * n) + 8 * _conv(n, n) + _conv(n, 3)
    assert enc == 13_785_984 and dec == 2_240_899  # the same sums written out
    assert _count(BEGANEncoder(64, 128, n)) == enc
    assert _count(BEGANGenerator(64, 128, n)) == dec
    assert _count(BEGANAutoencoder(64, 128, n)) == 16_026_883


def test_initialisation_output_and_latent():
    g = BEGANGenerator(16, 6, 4)
    for m in g.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert torch.count_nonzero(m.bias) == 0  # TF-slim: zero biases
            fan_in = m.weight[0].numel()
            fan_out = m.weight.shape[0] * (m.weight[0, 0].numel() if m.weight.dim() > 2 else 1)
            bound = (6.0 / (fan_in + fan_out)) ** 0.5  # Glorot uniform
            assert float(m.weight.detach().abs().max()) <= bound
    z = g.sample_latent(1000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (1000, 6) and float(z.min()) >= -1 and float(z.max()) < 1
    assert float(z.min()) < -0.99 and float(z.max()) > 0.99  # U(-1, 1), not N(0, 1)
    # no output activation by default: large inputs leave [-1, 1]; tanh keeps them inside
    big = torch.full((2, 6), 50.0)
    assert float(g(big).detach().abs().max()) > 1.0
    t = BEGANGenerator(16, 6, 4, output_activation="tanh")
    assert float(t(big).detach().abs().max()) <= 1.0


@pytest.mark.parametrize("res", [0, 7, 12, 24, 48, 96, 100])
def test_bad_sizes_are_input_errors(res):
    with pytest.raises(InputError, match=r"8 \* 2\^k"):
        began_levels(res)
    with pytest.raises(InputError, match="resolution"):
        BEGANAutoencoder(res)


def test_bad_arguments_name_the_option():
    with pytest.raises(InputError, match="z_dim"):
        BEGANGenerator(16, 0, 4)
    with pytest.raises(InputError, match="channels"):
        BEGANAutoencoder(16, 5, 0)
    with pytest.raises(InputError, match="output_activation"):
        BEGANGenerator(16, 6, 4, output_activation="sigmoid")


def test_build_networks_began():
    g, d = build_networks("began", 32, 6, {"channels": 4}, {"channels": 4, "h_dim": 5})
    assert isinstance(g, BEGANGenerator) and isinstance(d, BEGANAutoencoder)
    assert g.z_dim == 6 and d.h_dim == 5 and g.resolution == d.resolution == 32
