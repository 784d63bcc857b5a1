"""Networks: shapes, hand-computed parameter counts, initialisation statistics, no normalisation
in the ResNet critic, TF-equivalent resampling, and a gradient penalty through every critic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from qagen.gan.nets import build_networks, resnet_layout
from qagen.gan.nets.resnet import ResNetCritic, ResNetGenerator, _pool2, _up2
from qagen.gan.penalties import gradient_penalty


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


BN128 = 2 * 128
CONV3 = conv(128, 128, 3)  # 147,584
CONV1 = conv(128, 128, 1)  # 16,512
UP_BLOCK = 2 * BN128 + 2 * CONV3 + CONV1


@pytest.mark.parametrize("res,start,n_up", [(32, 4, 3), (48, 6, 3), (64, 4, 4)])
def test_resnet_generator_layout_shape_and_count(res, start, n_up):
    assert resnet_layout(res) == (start, n_up)
    g, d = build_networks("resnet", res)
    dense = 128 * (start * start * 128) + start * start * 128
    expected = dense + n_up * UP_BLOCK + BN128 + conv(128, 3, 3)
    assert n_params(g) == expected
    # 32 px: 264,192 + 3 * 312,192 + 256 + 3,459 = 1,204,483
    if res == 32:
        assert expected == 1_204_483
    # shapes with a narrower copy of the same architecture (CPU time on the shared runner)
    g, d = build_networks("resnet", res, g_kwargs={"channels": 32}, d_kwargs={"channels": 32})
    with torch.no_grad():
        x = g(g.sample_latent(2, generator=torch.Generator().manual_seed(0)))
        s = d(x)
    assert x.shape == (2, 3, res, res) and s.shape == (2,)
    assert x.abs().max() <= 1.0  # tanh output


def test_resnet_critic_count():
    # optimised block + down block + 2 plain blocks + dense(128 -> 1); the same at every size
    expected = (conv(3, 128, 3) + CONV3 + conv(3, 128, 1)) + (2 * CONV3 + CONV1) + 4 * CONV3 + 129
    assert expected == 1_053_825
    for res in (32, 48, 64):
        assert n_params(build_networks("resnet", res)[1]) == expected


def test_bad_resolutions():
    with pytest.raises(ValueError, match="resolution"):
        resnet_layout(40)
    with pytest.raises(ValueError, match="resolution"):
        build_networks("dcgan", 48)
    with pytest.raises(ValueError, match="network name"):
        build_networks("stylegan", 32)


def _check_uniform(w: torch.Tensor, bound: float, std_tol: float):
    # U(-b, b): max |w| <= b and close to b; std = b / sqrt(3) within the sampling tolerance.
    assert w.abs().max().item() <= bound * (1 + 1e-6)
    assert w.abs().max().item() >= 0.99 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=std_tol)


def test_resnet_initialisation_statistics():
    torch.manual_seed(0)
    g = ResNetGenerator(32)
    d = ResNetCritic(32)
    # He-uniform 3x3: b = sqrt(6 / fan_in), fan_in = 128 * 9 (147k samples: std tol 1%)
    _check_uniform(g.blocks[0].conv1.weight, math.sqrt(6 / 1152), 0.01)
    _check_uniform(d.blocks[1].conv2.weight, math.sqrt(6 / 1152), 0.01)
    _check_uniform(d.blocks[0].conv1.weight, math.sqrt(6 / 27), 0.05)  # 3 -> 128, fan_in 27
    # Xavier-uniform: b = sqrt(6 / (fan_in + fan_out))
    _check_uniform(g.blocks[0].shortcut.weight, math.sqrt(6 / 256), 0.03)  # 1x1 128 -> 128
    _check_uniform(g.conv_out.weight, math.sqrt(6 / (1152 + 27)), 0.05)  # last G conv
    _check_uniform(g.dense.weight, math.sqrt(6 / (128 + 2048)), 0.01)
    # biases 0, BN scale 1 / shift 0, momentum 0.1 (= TF decay 0.9), eps 1e-5
    for m in list(g.modules()) + list(d.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert m.bias.abs().max() == 0
        if isinstance(m, nn.BatchNorm2d):
            assert m.momentum == 0.1 and m.eps == 1e-5
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_resnet_critic_has_no_normalisation():
    norm_types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
    d = ResNetCritic(64)
    assert not any(isinstance(m, norm_types) for m in d.modules())
    assert not any("weight_orig" in n for n, _ in d.named_parameters())  # no spectral norm
    # ... whereas the generator has BN in each up block and before the output conv (2*3 + 1)
    g = ResNetGenerator(32)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 7


def test_upsample_equals_tf_tiling_depth_to_space():
    # TF code: concat([x, x, x, x], channels) then depth_to_space(2), emulated in numpy NHWC:
    # out[n, 2y + by, 2x + bx, c] = tiled[n, y, x, (2 by + bx) C + c]
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    nhwc = x.transpose(0, 2, 3, 1)
    tiled = np.concatenate([nhwc] * 4, axis=-1)
    n, h, w, c4 = tiled.shape
    c = c4 // 4
    out = np.zeros((n, 2 * h, 2 * w, c), np.float32)
    for by in range(2):
        for bx in range(2):
            out[:, by::2, bx::2, :] = tiled[..., (2 * by + bx) * c : (2 * by + bx + 1) * c]
    assert np.array_equal(_up2(torch.from_numpy(x)).numpy(), out.transpose(0, 3, 1, 2))
    # TF downsample: mean of the four phases x[::2, ::2], x[1::2, ::2], x[::2, 1::2], x[1::2, 1::2]
    x4 = x[:, :, :4, :4]
    ref = (
        x4[:, :, ::2, ::2] + x4[:, :, 1::2, ::2] + x4[:, :, ::2, 1::2] + x4[:, :, 1::2, 1::2]
    ) / 4
    assert np.allclose(_pool2(torch.from_numpy(x4.copy())).numpy(), ref, atol=1e-6)


def test_always_batch_stats():
    torch.manual_seed(0)
    g = ResNetGenerator(32, channels=16, always_batch_stats=True)
    z = torch.randn(4, 128)
    with torch.no_grad():
        train_out = g.train()(z)
        before = g.bn.running_mean.clone()
        eval_out = g.eval()(z)
    assert torch.allclose(train_out, eval_out, atol=1e-6)  # batch statistics in eval too
    assert torch.equal(before, g.bn.running_mean)  # and running stats untouched in eval
    g2 = ResNetGenerator(32, channels=16)
    g2.load_state_dict(g.state_dict())
    with torch.no_grad():
        assert not torch.allclose(g2.eval()(z), eval_out, atol=1e-3)  # standard eval differs


@pytest.mark.parametrize("res", [32, 64])
def test_dcgan_shapes_counts_init(res):
    torch.manual_seed(0)
    g, d = build_networks("dcgan", res)
    L = int(math.log2(res)) - 2
    chans = [64 * 2**i for i in reversed(range(L))]  # 64 px: 512, 256, 128, 64
    g_expected = 128 * chans[0] * 16 + 2 * chans[0]
    for a, b in zip(chans[:-1], chans[1:], strict=True):
        g_expected += a * b * 16 + 2 * b
    g_expected += chans[-1] * 3 * 16
    assert n_params(g) == g_expected
    dch = list(reversed(chans))  # 64, 128, ...
    d_expected = 3 * dch[0] * 16
    for a, b in zip(dch[:-1], dch[1:], strict=True):
        d_expected += a * b * 16 + 2 * b
    d_expected += dch[-1] * 16
    assert n_params(d) == d_expected
    if res == 64:
        assert (g_expected, d_expected) == (3_806_080, 2_765_568)
    with torch.no_grad():
        x = g(g.sample_latent(2))
    assert x.shape == (2, 3, res, res) and d(x).shape == (2,)
    # N(0, 0.02) conv weights (>= 130k samples: std tol 2%); BN scales N(1, 0.02)
    w = g.net[3].weight
    assert w.std().item() == pytest.approx(0.02, rel=0.02) and abs(w.mean().item()) < 1e-3
    bn = g.net[1].weight
    assert bn.mean().item() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    "name,res,kwargs",
    [
        ("resnet", 32, {"channels": 8}),
        ("resnet", 48, {"channels": 8}),
        ("resnet", 64, {"channels": 8}),
        ("dcgan", 32, {"ndf": 4, "norm": "layer"}),
        ("dcgan", 64, {"ndf": 4, "norm": "none"}),
        ("dcgan", 32, {"ndf": 4}),  # batch norm (Radford); coupled samples, still differentiable
    ],
)
def test_gradient_penalty_backward_through_critic(name, res, kwargs):
    torch.manual_seed(0)
    _, d = build_networks(name, res, d_kwargs=kwargs)
    real = torch.rand(2, 3, res, res) * 2 - 1
    fake = torch.rand(2, 3, res, res) * 2 - 1
    loss = d(fake).mean() - d(real).mean() + gradient_penalty(d, real, fake)
    loss.backward()
    grads = [p.grad for p in d.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert sum(gr.abs().sum().item() for gr in grads) > 0
