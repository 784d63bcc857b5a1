"""The dcgan and sngan recipes: spectral normalisation against SVDs, the hinge and
non-saturating losses against closed forms, the recipes' critic losses against those formulas,
the SNGAN CIFAR ResNet's parameter counts against the paper's architecture, and a few training
steps of each recipe."""

from __future__ import annotations

import math

import pytest
import torch
from test_recipes_wgan import TINY, EightBitImages
from torch import nn

from qagen.errors import InputError
from qagen.gan.nets import ResNetCritic
from qagen.gan.objectives import (
    hinge_critic_loss,
    hinge_generator_loss,
    nonsaturating_critic_loss,
    nonsaturating_generator_loss,
)
from qagen.gan.spectral import normalized_layers, sigma_estimate, spectral_normalize, weight_matrix
from qagen.train import TrainContext, Trainer, get_recipe, resolve_run_config


def _power_sigma(w: torch.Tensor, iters: int = 300) -> float:
    """The largest singular value of ``w`` by plain power iteration on ``w^T w`` (float64)."""
    w = w.double()
    v = torch.ones(w.shape[1], dtype=torch.float64)
    for _ in range(iters):
        v = w.T @ (w @ v)
        v = v / v.norm()
    return float((w @ v).norm())


def test_spectral_norm_bounds_every_critic_layer():
    torch.manual_seed(0)
    # 20 power iterations per forward pass (SNGAN: 1 per training step, converging over the
    # steps as the weights move slowly) to converge in a few passes
    d = ResNetCritic(32, channels=8, spectral_norm=True, pooling="sum", fc_bias=False,
                     power_iterations=20)  # fmt: skip
    layers = normalized_layers(d)
    # SNGAN normalises every layer: 3 convs of the optimised block, 3 of the down block,
    # 2 x 2 of the plain blocks and the dense layer
    n_weighted = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in d.modules())
    assert len(layers) == n_weighted == 11
    opt = torch.optim.SGD(d.parameters(), lr=0.05)
    x = torch.randn(1, 3, 8, 8)
    for step in range(2):
        for _ in range(5):  # training forward passes: 20 power iterations each
            d(x)
        for name, layer in layers.items():
            w_sn = weight_matrix(layer)
            top = float(torch.linalg.svdvals(w_sn.double())[0])
            assert top == pytest.approx(1.0, abs=2e-3), (step, name)
            assert _power_sigma(w_sn) == pytest.approx(top, rel=1e-6), name
            raw = weight_matrix(layer, normalized=False).double()
            sigma = float(torch.linalg.svdvals(raw)[0])
            assert float(sigma_estimate(layer)) == pytest.approx(sigma, rel=2e-3), name
        # the dense layer is 1-Lipschitz: ||W_SN h|| <= ||h||
        h = torch.randn(16, 8)
        assert bool((d.fc(h).abs().squeeze(1) <= h.norm(dim=1) * (1 + 2e-3)).all())
        # move the raw weights: the estimate must follow them
        opt.zero_grad()
        d(x).sum().backward()
        opt.step()
    assert d(torch.randn(4, 3, 32, 32)).shape == (4,)


def test_spectral_normalize_rejects_bad_iterations():
    with pytest.raises(InputError, match="n_power_iterations"):
        spectral_normalize(nn.Linear(2, 2), 0)


def test_hinge_loss_closed_form():
    d_real = torch.tensor([2.0, 0.5, -1.0])
    d_fake = torch.tensor([-2.0, 0.5, 1.5])
    # mean(relu(1 - [2, .5, -1])) + mean(relu(1 + [-2, .5, 1.5])) = (0 + .5 + 2)/3 + (0 + 1.5 + 2.5)/3
    assert float(hinge_critic_loss(d_real, d_fake)) == pytest.approx(6.5 / 3)
    assert float(hinge_generator_loss(d_fake)) == pytest.approx(0.0, abs=1e-7)
    assert float(hinge_generator_loss(d_real)) == pytest.approx(-0.5)


def test_nonsaturating_loss_closed_form():
    # sigmoid(0) = 1/2 and sigmoid(log 3) = 3/4:
    # -log(1/2) = log 2, -log(3/4) = log(4/3), -log(1 - sigmoid(-log 3)) = -log(3/4)
    d_real = torch.tensor([0.0, math.log(3.0)])
    d_fake = torch.tensor([0.0, -math.log(3.0)])
    assert float(nonsaturating_critic_loss(d_real, d_fake)) == pytest.approx(math.log(8.0 / 3.0))
    assert float(nonsaturating_generator_loss(d_real)) == pytest.approx(0.5 * math.log(8.0 / 3.0))


def _recipe(name: str, *overrides: str):
    run = resolve_run_config(name, data="x", overrides=[*TINY, *overrides])
    ctx = TrainContext(
        run, device=torch.device("cpu"), rank=0, world_size=1, local_rank=0,
        dataset=EightBitImages(), generator=torch.Generator().manual_seed(0), batches_per_epoch=8,
    )  # fmt: skip
    return get_recipe(name)(run.hparams, ctx)


def test_recipes_use_the_papers_losses_and_networks():
    torch.manual_seed(0)
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    eps = torch.rand(4, 1, 1, 1)

    sn = _recipe("sngan")
    assert len(normalized_layers(sn.D)) == 11 and not normalized_layers(sn.G)
    assert {m.parametrizations.weight[0].n_power_iterations
            for m in normalized_layers(sn.D).values()} == {1}  # fmt: skip
    assert sn.D.pooling == "sum" and sn.D.fc.bias is None
    loss, terms = sn.critic_step(real, fake, eps, 0)
    loss = loss.detach()
    sn.D.eval()  # the same u, v: no power iteration
    d_r, d_f = sn.D(real).detach(), sn.D(fake).detach()
    assert float(loss) == pytest.approx(float(hinge_critic_loss(d_r, d_f)), rel=1e-5)
    assert float(sn.generator_loss(d_f)) == pytest.approx(float(-d_f.mean()), rel=1e-6)

    dc = _recipe("dcgan")
    assert isinstance(dc.D.net[3], nn.BatchNorm2d)  # the paper's batch norm in D
    z = dc.latent(1000)
    assert z.shape == (1000, 100) and float(z.min()) >= -1 and float(z.max()) < 1
    assert float(z.mean().abs()) < 0.05 and float(z.var()) == pytest.approx(1 / 3, rel=0.05)
    loss = dc.critic_step(real, fake, eps, 0)[0].detach()
    # two passes: each batch normalised with its own statistics (train mode, as in training)
    expect = nonsaturating_critic_loss(dc.D(real), dc.D(fake)).detach()
    assert float(loss) == pytest.approx(float(expect), rel=1e-5)
    joint = dc.D(torch.cat([real, fake])).detach()
    assert float(nonsaturating_critic_loss(joint[:4], joint[4:])) != pytest.approx(float(loss))


def test_recipes_reject_other_networks():
    with pytest.raises(InputError, match="hparams.arch must be 'dcgan'"):
        _recipe("dcgan", "hparams.arch=resnet")
    with pytest.raises(InputError, match="hparams.power_iterations"):
        _recipe("sngan", "hparams.power_iterations=0")


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_sngan_cifar_resnet_parameter_counts():
    """Counts from the layer list of Miyato et al. 2018, Table 4 (CIFAR-10 ResNet), worked out
    by hand, with conv biases and no bias in the critic's dense layer (the authors'
    snresnet_32.py: SNLinear(ch, 1, nobias=True))."""
    sn = _recipe("sngan", "g_channels=256", "d_channels=128")
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    # generator: dense(128 -> 4*4*256), 3 x [BN, conv3, BN, conv3, conv1 shortcut], BN, conv3(3)
    up = 2 * 256 + conv(256, 256, 3) + 2 * 256 + conv(256, 256, 3) + conv(256, 256, 1)
    g = (128 * 16 * 256 + 16 * 256) + 3 * up + 2 * 256 + conv(256, 3, 3)
    # critic: optimised block (conv3 3->128, conv3, conv1 3->128), down block (2 conv3 +
    # conv1), 2 plain blocks (2 conv3 each), dense 128 -> 1 without bias
    c3 = conv(128, 128, 3)
    d = (conv(3, 128, 3) + c3 + conv(3, 128, 1)) + (2 * c3 + conv(128, 128, 1)) + 4 * c3 + 128
    assert (g, d) == (4_276_739, 1_053_824)
    assert (_count(sn.G), _count(sn.D)) == (g, d)


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
def test_recipe_trains_a_few_steps(tmp_path, name):
    run = resolve_run_config(name, data="x", overrides=TINY, max_steps=3)
    result = Trainer(run, EightBitImages(), tmp_path).fit()
    assert result.step == 3
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(result.metrics)
    assert all(math.isfinite(v) for v in result.metrics.values())
