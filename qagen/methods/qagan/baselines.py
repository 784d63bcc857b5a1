"""The baselines of QAGAN's tables that qagen trains: ``dcgan`` and ``sngan``.

``dcgan``: the original non-saturating GAN (Goodfellow et al. 2014) with the DCGAN networks
(Radford, Metz, Chintala, ICLR 2016; :mod:`qagen.gan.nets.dcgan`). One discriminator update and
one generator update per step::

    L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))]     (= -E log s(D(x)) - E log(1 - s(D(G(z)))))
    L_G = E[softplus(-D(G(z)))]                          (the non-saturating -E log s(D(G(z))))

with ``z ~ U(-1, 1)^100``, batch norm in both networks (the discriminator sees the real and the
fake batch in two passes, each normalised by its own statistics, as in the DCGAN code), Adam
2e-4 with beta1 = 0.5, batch 128, weights N(0, 0.02).

``sngan``: spectral normalisation (Miyato, Kataoka, Koyama, Yoshida, ICLR 2018) of every layer
of the critic of the CIFAR-10 ResNet (the paper's Table 4: generator 4 x 4 x 256 and three
up-blocks of 256 channels; critic of 128 channels with global sum pooling and a dense layer
without bias) and the hinge loss (Lim & Ye 2017; the authors' ``sngan_projection`` code)::

    L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],      L_G = -E[D(G(z))]

with n_dis = 5, Adam 2e-4 (0, 0.9) decayed linearly to 0 over 50,000 generator updates, batch
64 and 128 fresh z per generator update (``n_gen_samples``). See ``docs/gan.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from qagen.errors import InputError
from qagen.gan.nets import build_networks
from qagen.gan.objectives import LOSSES, critic_loss, generator_loss
from qagen.train.bases import GANConfig, GANRecipe
from qagen.train.recipe import register_recipe

__all__ = ["DCGANConfig", "SNGANConfig", "DCGAN", "SNGAN"]

_Loss = Literal["nonsaturating", "hinge", "wasserstein"]


@dataclass
class DCGANConfig(GANConfig):
    """DCGAN (Radford et al. 2016): the paper's optimiser, latent and batch-norm choices."""

    arch: Literal["resnet", "dcgan"] = "dcgan"
    z_dim: int = 100
    g_channels: int = 128
    d_channels: int = 128
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    max_iters: int = 0
    n_critic: int = 1
    g_batch_mult: int = 1
    loss: _Loss = "nonsaturating"
    #: normalisation of the discriminator's inner layers (the paper: batch norm)
    d_norm: Literal["batch", "layer", "none"] = "batch"
    #: the latent distribution: U(-1, 1) (the paper) or N(0, I)
    latent_dist: Literal["uniform", "normal"] = "uniform"


@dataclass
class SNGANConfig(GANConfig):
    """SNGAN (Miyato et al. 2018), the CIFAR-10 ResNet setting of ``sngan_projection``."""

    g_channels: int = 256
    d_channels: int = 128
    #: the generator's batch norm uses its running statistics when sampling (Chainer's
    #: ``train=False`` in the authors' evaluation)
    g_batch_stats: bool = False
    lr: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)
    max_iters: int = 50_000
    n_critic: int = 5
    g_batch_mult: int = 2
    loss: _Loss = "hinge"
    #: power iterations of the spectral norm per training forward pass of the critic
    power_iterations: int = 1


class _LossGAN(GANRecipe):
    """A GAN trained with one of :data:`qagen.gan.objectives.LOSSES` (``cfg.loss``) and no
    penalty; ``_separate_passes``: the critic scores the real and the fake batch in two passes
    (batch norm), else in one pass over both."""

    _separate_passes = False

    @classmethod
    def validate_config(cls, cfg: Any, run: Any) -> None:
        super().validate_config(cfg, run)
        if cfg.loss not in LOSSES:
            raise InputError(f"hparams.loss must be one of {sorted(LOSSES)}, got {cfg.loss!r}")

    def critic_step(self, real, fake, eps, step):
        if self._separate_passes:
            d_real, d_fake = self.D(real), self.D(fake)
        else:
            scores = self.D(torch.cat([real, fake], 0))
            d_real, d_fake = scores[: real.shape[0]], scores[real.shape[0] :]
        loss = critic_loss(self.cfg.loss, d_real, d_fake)
        terms = {"d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        return loss, terms

    def generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        return generator_loss(self.cfg.loss, d_fake)


@register_recipe("dcgan")
class DCGAN(_LossGAN):
    """The non-saturating GAN with the DCGAN networks (Radford, Metz, Chintala 2016)."""

    Config = DCGANConfig
    _separate_passes = True

    @classmethod
    def validate_config(cls, cfg: DCGANConfig, run: Any) -> None:
        super().validate_config(cfg, run)
        if cfg.arch != "dcgan":
            raise InputError(f"hparams.arch must be 'dcgan' for the dcgan recipe, got {cfg.arch!r}")
        if run.data.resolution not in (32, 64):
            raise InputError(
                f"data.resolution must be 32 or 64 for the DCGAN networks, got {run.data.resolution}"
            )

    def build_pair(self, resolution: int) -> tuple[nn.Module, nn.Module]:
        cfg = self.cfg
        return build_networks("dcgan", resolution, cfg.z_dim, {"ngf": cfg.g_channels},
                              {"ndf": cfg.d_channels, "norm": cfg.d_norm})  # fmt: skip

    def latent(self, n_global: int) -> torch.Tensor:
        if self.cfg.latent_dist == "normal":
            return self.ctx.randn(n_global, self.cfg.z_dim)
        return self.ctx.rand(n_global, self.cfg.z_dim) * 2.0 - 1.0

    def sample_inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        if self.cfg.latent_dist == "normal":
            return torch.randn(n, self.cfg.z_dim, generator=generator)
        return torch.rand(n, self.cfg.z_dim, generator=generator) * 2.0 - 1.0


@register_recipe("sngan")
class SNGAN(_LossGAN):
    """Spectrally normalised critic with the hinge loss (Miyato et al. 2018), CIFAR ResNet."""

    Config = SNGANConfig

    @classmethod
    def validate_config(cls, cfg: SNGANConfig, run: Any) -> None:
        super().validate_config(cfg, run)
        if cfg.arch != "resnet":
            raise InputError(
                f"hparams.arch must be 'resnet' for the sngan recipe, got {cfg.arch!r}"
            )
        if isinstance(cfg.power_iterations, bool) or cfg.power_iterations < 1:
            raise InputError(f"hparams.power_iterations must be >= 1, got {cfg.power_iterations!r}")

    def build_pair(self, resolution: int) -> tuple[nn.Module, nn.Module]:
        cfg = self.cfg
        g_kw = {"channels": cfg.g_channels, "always_batch_stats": cfg.g_batch_stats}
        d_kw = {"channels": cfg.d_channels, "spectral_norm": True, "pooling": "sum",
                "fc_bias": False, "power_iterations": cfg.power_iterations}  # fmt: skip
        return build_networks("resnet", resolution, cfg.z_dim, g_kw, d_kw)
