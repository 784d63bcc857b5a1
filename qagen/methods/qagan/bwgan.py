"""Banach Wasserstein GAN (Adler & Lunz, NeurIPS 2018; ``adler-j/bwgan``): recipe ``bwgan``.

The critic is asked to be gamma-Lipschitz in the Sobolev space ``W^{s,p}``, whose dual norm is
``||S_{-s} g||_q`` with ``q = p / (p - 1)`` and ``S_s`` the Fourier multiplier
``(1 + c |xi|^2)^(s/2)``. One critic update (qagen's sign convention)::

    lambda = mean_i ||S_s x_i||_p,  gamma = mean_i ||S_s x_i||_q     (per real batch, no grad)
    L_D = (E D(x~) - E D(x)) / gamma + lambda * E[(||S_{-s} grad D(x_hat)||_q / gamma - 1)^2]
          + drift * E[D(x)^2]
    L_G = -E[D(G(z))] / gamma      (gamma of the last critic update's real batch)

Defaults are the code's (``cifar10_sobolev.py``): s = 0, p = 2, c = 5, drift 1e-5, one Adam
2e-4 (0, 0.9) decayed linearly to 0 over MAX_ITERS = 100,000, n_critic 5, batch 64, EMA 0.99,
generator batch 2x. The paper's settings are ``s = -1.5, p = 2`` (W^{-3/2,2}) and ``s = 0,
p = 10`` (L^10): presets ``bwgan-sobolev`` and ``bwgan-l10``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from qagen.errors import InputError
from qagen.gan.penalties import banach_critic_loss, banach_penalty_terms, banach_scales
from qagen.train.bases import GANConfig, GANRecipe
from qagen.train.recipe import TrainContext, register_recipe

__all__ = ["BWGANConfig", "BWGAN"]


@dataclass
class BWGANConfig(GANConfig):
    """Banach-WGAN hyper-parameters (the defaults of ``cifar10_sobolev.py``)."""

    #: Sobolev smoothness s of the space W^{s,p} (the critic's gradient is measured in W^{-s,q})
    s: float = 0.0
    #: Lebesgue exponent p >= 1 (the dual exponent q = p / (p - 1))
    p: float = 2.0
    #: Sobolev constant c in (1 + c |xi|^2)^(s/2) (the code's SOBOLEV_C, "1 / pixel size")
    c: float = 5.0
    #: gamma from S_{+s} with exponent q (the code) or from S_{-s} ('dual_sobolev')
    gamma_from: Literal["primal_filter_dual_exponent", "dual_sobolev"] = (
        "primal_filter_dual_exponent"
    )
    drift: float = 1e-5
    flip: bool = True
    dequantize: bool = True
    shared_optimizer: bool = True
    max_iters: int = 100_000


@register_recipe("bwgan")
class BWGAN(GANRecipe):
    """Banach-WGAN recipe (Adler & Lunz, NeurIPS 2018)."""

    Config = BWGANConfig

    @classmethod
    def validate_config(cls, cfg: BWGANConfig, run: Any) -> None:
        super().validate_config(cfg, run)
        if not (cfg.p >= 1 or math.isinf(cfg.p)):
            raise InputError(f"hparams.p must be >= 1 (or inf), got {cfg.p}")
        if not cfg.c > 0:
            raise InputError(f"hparams.c must be > 0, got {cfg.c}")

    def __init__(self, cfg: BWGANConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        self._gamma = torch.ones((), device=ctx.device)

    def critic_step(self, real, fake, eps, step) -> tuple[torch.Tensor, dict[str, Any]]:
        cfg = self.cfg
        scales = banach_scales(real, s=cfg.s, p=cfg.p, c=cfg.c, gamma_from=cfg.gamma_from)
        if self.ctx.distributed:  # one lambda and gamma for the global batch on every rank
            packed = self.ctx.all_reduce_mean(torch.stack([scales.lam, scales.gamma]).clone())
            scales = type(scales)(packed[0], packed[1])
        n = real.shape[0]
        scores = self.D(torch.cat([real, fake], 0))
        d_real, d_fake = scores[:n], scores[n:]
        x_hat = eps * fake + (1.0 - eps) * real
        pen = banach_penalty_terms(
            self.D, real, fake, s=cfg.s, p=cfg.p, c=cfg.c, gamma=scales.gamma, interpolates=x_hat
        )
        loss = banach_critic_loss(d_real, d_fake, pen.penalty, scales, eps_drift=cfg.drift)
        self._gamma = scales.gamma.detach()
        terms = {
            "wdist": ((d_real.mean() - d_fake.mean()) / scales.gamma).detach(),
            "gp": pen.penalty.detach(),
            "dual_norm": pen.dual_norm.mean().detach(),
            "lambda": scales.lam.detach(),
            "gamma": scales.gamma.detach(),
        }
        return loss, terms

    def generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """``-E[D(G(z))] / gamma`` with the last critic update's gamma (code: ``E[D_q] / gamma``)."""
        return -d_fake.mean() / self._gamma
