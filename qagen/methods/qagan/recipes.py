"""WGAN-GP and the QAGAN recipes (``wgan-gp``, ``qagan-ssim``, ``qagan-niqe``, ``qagan-ssim-niqe``).

One critic update (qagen's sign convention, critic scores real images high)::

    x_hat = eps * x_fake + (1 - eps) * x_real,   eps ~ U[0, 1] per sample   (ctx.rand)
    L_D = E[D(x_fake)] - E[D(x_real)]                        Wasserstein term
        + gp_weight   * E[(||grad D(x_hat)|| - 1)^2]          WGAN-GP (Gulrajani et al. 2017)
        + drift       * E[D(x_real)^2]                        drift (QAGAN/BWGAN code: 1e-5)
        + ssim_weight * E_i[(|D(x_i) - D(x~_i)| / d_Q(x_i, x~_i) - 1)^2]    QAGAN SSIM-GP
        + niqe_weight * NIQE(grad D(x_hat) | mu_P, S_P)                     QAGAN NIQE-GP

and one generator update ``L_G = -E[D(G(z))]`` over ``g_batch_mult * batch`` fresh z.

Presets and sources: WGAN-GP (Gulrajani et al.'s CIFAR-10 ResNet recipe, ``gan_cifar_resnet.py``:
lambda 10, Adam 2e-4 (0, 0.9) decayed linearly to 0 over 100k generator steps, n_critic 5,
batch 64, generator batch 2x), QAGAN (``lfovia/QAGANS``: lambda1 = 1.0 on the GP, lambda2 = 0.1
on the SSIM/NIQE penalty, drift 1e-5, one Adam 2e-4 (0, 0.9) with linear decay over MAX_ITERS = 1e6,
n_critic 5, EMA 0.99, flips and dequantisation, generator batch 2x). The networks are the
authors' ResNet (``qagen.gan.nets.resnet``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from qagen.errors import InputError
from qagen.gan.niqe_penalty import NIQEGradientPenalty, sobel_magnitude
from qagen.gan.objectives import drift_penalty, wasserstein_critic_loss
from qagen.gan.penalties import critic_gradient, gradient_penalty_terms, ssim_gradient_penalty
from qagen.train.bases import GANConfig, GANRecipe, NIQEPenaltyConfig, NIQEPenaltySchedule
from qagen.train.ema import unwrap
from qagen.train.recipe import TrainContext, register_recipe

__all__ = [
    "WGANGPConfig",
    "QAGANConfig",
    "QAGANSSIMConfig",
    "QAGANNIQEConfig",
    "QAGANSSIMNIQEConfig",
    "WGANGP",
    "QAGANSSIM",
    "QAGANNIQE",
    "QAGANSSIMNIQE",
    "wgan_critic_objective",
]

_log = logging.getLogger("qagen.train")


@dataclass
class WGANGPConfig(GANConfig):
    """WGAN-GP (Gulrajani et al., NeurIPS 2017) with optional QAGAN penalties."""

    gp_weight: float = 10.0
    gp_mode: Literal["two-sided", "one-sided"] = "two-sided"
    ssim_weight: float = 0.0
    ssim_variant: Literal["paper", "standard"] = "paper"
    niqe_weight: float = 0.0
    niqe: NIQEPenaltyConfig = field(default_factory=NIQEPenaltyConfig)


@dataclass
class QAGANConfig(WGANGPConfig):
    """QAGAN defaults (``lfovia/QAGANS``): the authors' hyper-parameters."""

    gp_weight: float = 1.0
    drift: float = 1e-5
    flip: bool = True
    dequantize: bool = True
    shared_optimizer: bool = True
    max_iters: int = 1_000_000


@dataclass
class QAGANSSIMConfig(QAGANConfig):
    ssim_weight: float = 0.1


@dataclass
class QAGANNIQEConfig(QAGANConfig):
    niqe_weight: float = 0.1


@dataclass
class QAGANSSIMNIQEConfig(QAGANConfig):
    ssim_weight: float = 0.1
    niqe_weight: float = 0.1


def wgan_critic_objective(
    critic: Any,
    real: torch.Tensor,
    fake: torch.Tensor,
    eps: torch.Tensor,
    *,
    gp_weight: float = 10.0,
    gp_mode: str = "two-sided",
    drift: float = 0.0,
    ssim_weight: float = 0.0,
    ssim_variant: str = "paper",
    niqe_weight: float = 0.0,
    niqe: NIQEGradientPenalty | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The critic loss of one update (module docstring) and its terms (detached, unweighted).

    ``eps`` (N x 1 x 1 x 1) gives the interpolates ``eps * fake + (1 - eps) * real`` (the
    authors' orientation). The critic is evaluated once on ``[real; fake]`` (it has no batch
    norm, so this equals two evaluations) and once, with its input gradient, at the
    interpolates. The NIQE term is added when ``niqe_weight > 0`` and ``niqe`` has a model.
    Terms: ``wdist`` = E D(x) - E D(x~), ``gp``, ``grad_norm`` (mean ||grad||), ``drift``
    (E[D(x)^2]), ``ssim_gp``, ``niqe_gp``.
    """
    n = real.shape[0]
    scores = critic(torch.cat([real, fake], 0))
    d_real, d_fake = scores[:n], scores[n:]
    x_hat = eps * fake.detach() + (1.0 - eps) * real.detach()
    gp = gradient_penalty_terms(critic, real, fake, mode=gp_mode, interpolates=x_hat)
    loss = wasserstein_critic_loss(d_real, d_fake) + gp_weight * gp.penalty
    terms = {
        "wdist": (d_real.mean() - d_fake.mean()).detach(),
        "gp": gp.penalty.detach(),
        "grad_norm": gp.norm.mean().detach(),
    }
    if drift:
        loss = loss + drift_penalty(d_real, drift)
        terms["drift"] = d_real.detach().pow(2).mean()
    if ssim_weight:
        ssim = ssim_gradient_penalty(d_real, d_fake, real, fake, variant=ssim_variant)
        loss = loss + ssim_weight * ssim.to(loss.dtype)
        terms["ssim_gp"] = ssim.detach()
    if niqe_weight and niqe is not None and niqe.ready:
        pen = niqe(gp.grad)
        loss = loss + niqe_weight * pen.to(loss.dtype)
        terms["niqe_gp"] = pen.detach().to(loss.dtype)
    return loss, terms


@register_recipe("wgan-gp")
class WGANGP(NIQEPenaltySchedule, GANRecipe):
    """WGAN-GP (Gulrajani et al. 2017) on the QAGAN/BWGAN ResNet; base of the QAGAN recipes."""

    Config = WGANGPConfig

    @classmethod
    def validate_config(cls, cfg: WGANGPConfig, run: Any) -> None:
        super().validate_config(cfg, run)
        for name in ("gp_weight", "ssim_weight", "niqe_weight"):
            value = getattr(cfg, name)
            if not value >= 0:
                raise InputError(f"hparams.{name} must be >= 0, got {value!r}")
        if cfg.niqe_weight > 0:
            nc = cfg.niqe
            if not nc.model_path and nc.warmup_steps < 1:
                raise InputError(
                    "hparams.niqe.warmup_steps must be >= 1 (the pristine model is estimated "
                    "during the warm-up) unless hparams.niqe.model_path names a model file, "
                    f"got {nc.warmup_steps}"
                )
            if nc.refit_every < 0:
                raise InputError(f"hparams.niqe.refit_every must be >= 0, got {nc.refit_every}")
            if not nc.ridge >= 0:
                raise InputError(f"hparams.niqe.ridge must be >= 0, got {nc.ridge!r}")
            if nc.variant == "qagan-code" and nc.pooling != "batch":
                raise InputError(
                    "hparams.niqe.pooling must be 'batch' with variant 'qagan-code' (the authors' "
                    f"code pools the minibatch), got {nc.pooling!r}"
                )
            if nc.res < 0 or (nc.res and nc.variant != "qagan-code"):
                raise InputError(
                    "hparams.niqe.res must be 0, or the crop size with variant 'qagan-code', "
                    f"got {nc.res} with variant {nc.variant!r}"
                )
            if nc.model_path and not Path(nc.model_path).expanduser().is_file():
                raise InputError(f"hparams.niqe.model_path: no such file: {nc.model_path}")

    def __init__(self, cfg: WGANGPConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        self.niqe: NIQEGradientPenalty | None = None
        if cfg.niqe_weight > 0:
            nc = cfg.niqe
            self.niqe = NIQEGradientPenalty(nc.variant, nc.pooling, nc.ridge, nc.res or None)
            if nc.model_path:
                model = self.niqe.load_model(str(Path(nc.model_path).expanduser()))
                _log.info("NIQE penalty: pristine model %s", model)

    # -- NIQE pristine statistics
    def _reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if not self.ctx.distributed:
            return t
        dev = t.to(self.ctx.device)
        return (self.ctx.all_reduce_mean(dev) * self.ctx.world_size).cpu()

    @torch.no_grad()
    def _pristine_maps(self, real: torch.Tensor) -> torch.Tensor:
        if self.cfg.niqe.source == "image_gradients":
            return sobel_magnitude(real)
        with torch.enable_grad():  # input gradient only, no parameter gradient, no DDP hooks
            return critic_gradient(unwrap(self.D), real, create_graph=False).grad

    def critic_step(self, real, fake, eps, step):
        cfg = self.cfg
        if self._collecting(step):
            assert self.niqe is not None
            self.niqe.accumulate(self._pristine_maps(real), self._reduce_sum)
        return wgan_critic_objective(
            self.D,
            real,
            fake,
            eps,
            gp_weight=cfg.gp_weight,
            gp_mode=cfg.gp_mode,
            drift=cfg.drift,
            ssim_weight=cfg.ssim_weight,
            ssim_variant=cfg.ssim_variant,
            niqe_weight=cfg.niqe_weight,
            niqe=self.niqe,
        )

    # -- extra state: the NIQE pristine model and its running statistics
    def state_dict(self) -> dict[str, Any]:
        return {"niqe": self.niqe.state_dict()} if self.niqe is not None else {}

    def load_state_dict(self, state: Any) -> None:
        if self.niqe is not None and "niqe" in state:
            self.niqe.load_state_dict(state["niqe"])
        elif self.niqe is not None and not self.cfg.niqe.model_path:
            raise InputError(
                "the checkpoint holds no NIQE penalty state (was hparams.niqe_weight 0 then?)"
            )


@register_recipe("qagan-ssim")
class QAGANSSIM(WGANGP):
    """QAGAN with the SSIM gradient penalty (Kancharla & Channappayya, NeurIPS 2019)."""

    Config = QAGANSSIMConfig


@register_recipe("qagan-niqe")
class QAGANNIQE(WGANGP):
    """QAGAN with the NIQE penalty on critic gradient maps (Kancharla & Channappayya 2019)."""

    Config = QAGANNIQEConfig


@register_recipe("qagan-ssim-niqe")
class QAGANSSIMNIQE(WGANGP):
    """QAGAN with both quality-aware penalties (lambda2 = 0.1 each)."""

    Config = QAGANSSIMNIQEConfig
