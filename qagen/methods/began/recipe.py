"""BEGAN and BEGAN-IQA (recipe ``began``): an autoencoder discriminator trained with the
equilibrium controller, its reconstruction distance the weighted IQA composite of eq. 6.

Berthelot, Schumm, Metz, "BEGAN: Boundary Equilibrium GANs" (arXiv 1703.10717), with the distance
of Vertolli & Davies, "Image Quality Assessment Techniques Show Improved Training and Evaluation
of Autoencoder GANs" (arXiv 1708.02237). One generator step (``update = "alternating"``, the
BEGAN paper's algorithm, z_D and z_G drawn separately)::

    L(v)      = (b_l1 l1(v, D(v)) + b_gmsm (1 - GMSM(v, D(v))) + b_chrom (1 - Chrom(v, D(v))))
                / (b_l1 + b_gmsm + b_chrom)                                   (BEGAN-IQA eq. 6)
    D update  : L_D = L(x) - k_t L(G(z_D))        (G(z_D) detached: D's parameters only)
    G update  : L_G = L(G(z_G))                   (the updated D; D's gradients are discarded,
                                                   so G's loss never flows into D)
    k_{t+1}   = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1)
    M_global  = L(x) + |gamma L(x) - L(G(z_G))|                               (BEGAN-IQA eq. 7)

``update = "simultaneous"`` is the authors' TensorFlow code instead (``models/cqs_cg``; also
``carpedm20/BEGAN-tensorflow``): one z for both losses and both gradients taken at the same
parameters before either optimiser steps.

The distances (:class:`qagen.losses.CompositeIQALoss` on ``x + 1`` with ``data_range = 2``):
``l1`` = mean |v - D(v)| on the [-1, 1] images; GMSM and the chrominance on the images mapped to
[0, 255] as (v + 1) / 2 * 255, with the 2-decimal YIQ, the unnormalised Sobel operator on Y, the
whole image as one window, c = 0.0026 (``c_scale = "8bit"``: applied to 0-255 values, as the
authors' ``models/friqa.py``; ``"unit"``: to [0, 1] values, i.e. 170 on 0-255, the paper's
"following cQS"). Reconstructions are not clamped (the decoder has no output activation), so
the metric range checks are off inside the loss. Every distance is logged for the real and the
generated images whatever its weight (zero-weight distances are computed without gradients).

Optimisation (BEGAN-IQA "Setup"): Adam (0.5, 0.999) for G and D separately (the code's TF default
(0.9, 0.999) via ``betas``), lr 8e-5 halved every 100,000 steps down to a floor of 2e-5 (the
code's), applied by the trainer to the existing optimisers (their Adam state is kept), batch 16,
lambda_k = 0.001, k_0 = 0. The controller state (k_t) is recipe state and is in every checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from qagen._checks import input_checks
from qagen.errors import InputError
from qagen.gan.objectives import BEGANController
from qagen.losses import CompositeIQALoss
from qagen.methods.began.nets import BEGANAutoencoder, BEGANGenerator, began_levels
from qagen.train.ema import unwrap
from qagen.train.recipe import Recipe, TrainContext, register_recipe

__all__ = ["BEGAN", "BEGANConfig", "HalvingSchedule", "DISTANCES", "began_distance"]

#: The three distances of eq. 6: (name in metrics.csv, name in CompositeIQALoss, config weight).
DISTANCES = (
    ("l1", "l1", "beta_l1"),
    ("gmsm", "gmsm", "beta_gmsm"),
    ("chrom", "chroma", "beta_chrom"),
)


@dataclass
class BEGANConfig:
    """Hyper-parameters of ``began`` (``[hparams]``); defaults are model 01 of BEGAN-IQA
    Table 1 (the original BEGAN distance) with the paper's set-up."""

    # networks (qagen.methods.began.nets); the image side is data.resolution (8 * 2^k)
    channels: int = 128  #: n, filters of the first level [AMBIG: BEGAN-IQA gives no n; 128 is
    #: the reference code's conv_hidden_num]
    z_dim: int = 128  #: N_z (BEGAN-IQA: 128 for models 1-11, 256 for model 12)
    h_dim: int = 128  #: N_h (BEGAN-IQA: always equal to N_z)
    output_activation: Literal["none", "tanh"] = "none"
    # eq. 6 weights (Table 1) and the constant of the similarities
    beta_l1: float = 1.0
    beta_gmsm: float = 0.0
    beta_chrom: float = 0.0
    c: float = 0.0026
    c_scale: Literal["8bit", "unit"] = "8bit"
    # equilibrium (eq. 2)
    gamma: float = 0.5
    lambda_k: float = 0.001
    k_init: float = 0.0
    # optimisation
    lr: float = 8e-5
    betas: tuple[float, float] = (0.5, 0.999)
    adam_eps: float = 1e-8
    lr_halve_every: int = 100_000  #: 0: constant learning rate
    lr_floor: float = 2e-5
    update: Literal["alternating", "simultaneous"] = "alternating"


class HalvingSchedule:
    """``f(step) = max(0.5 ** (step // every), floor / lr)``: the learning rate halved every
    ``every`` steps, never below ``floor`` (``every = 0``: constant)."""

    def __init__(self, every: int, lr: float, floor: float) -> None:
        self.every, self.min_factor = int(every), float(floor) / float(lr)

    def __call__(self, step: int) -> float:
        if self.every <= 0:
            return 1.0
        return max(0.5 ** (step // self.every), self.min_factor)

    def __repr__(self) -> str:
        return f"HalvingSchedule(every={self.every}, min_factor={self.min_factor})"


def _validate(cfg: BEGANConfig, run: Any) -> None:
    res = getattr(getattr(run, "data", None), "resolution", None)
    if res is not None:
        began_levels(res, "data.resolution")
    for name in ("channels", "z_dim", "h_dim"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"hparams.{name} must be a positive integer, got {v!r}")
    for _, _, key in DISTANCES:
        w = getattr(cfg, key)
        if not (w >= 0 and math.isfinite(w)):
            raise InputError(f"hparams.{key} must be a finite number >= 0, got {w!r}")
    if sum(getattr(cfg, key) for _, _, key in DISTANCES) <= 0:
        raise InputError(
            "hparams.beta_l1, hparams.beta_gmsm and hparams.beta_chrom are all 0: eq. 6 needs at "
            "least one positive weight"
        )
    if not 0.0 <= cfg.gamma <= 1.0:
        raise InputError(f"hparams.gamma must lie in [0, 1], got {cfg.gamma!r}")
    checks = [
        ("lambda_k", cfg.lambda_k >= 0, ">= 0"),
        ("k_init", 0.0 <= cfg.k_init <= 1.0, "in [0, 1]"),
        ("c", cfg.c > 0 and math.isfinite(cfg.c), "> 0"),
        ("lr", cfg.lr > 0, "> 0"),
        ("adam_eps", cfg.adam_eps > 0, "> 0"),
        ("lr_halve_every", cfg.lr_halve_every >= 0, ">= 0 (0: constant learning rate)"),
        ("lr_floor", 0 <= cfg.lr_floor <= cfg.lr, "in [0, hparams.lr]"),
    ]
    for name, ok, expected in checks:
        if not ok:
            raise InputError(f"hparams.{name} must be {expected}, got {getattr(cfg, name)!r}")
    if not all(0.0 <= b < 1.0 for b in cfg.betas):
        raise InputError(f"hparams.betas must lie in [0, 1), got {cfg.betas}")


def began_distance(cfg: BEGANConfig) -> CompositeIQALoss:
    """The eq. 6 distance of ``cfg`` on images shifted to [0, 2] (``x + 1``, ``data_range = 2``):
    per-image values (``reduction = "none"``)."""
    weights = {loss_name: float(getattr(cfg, key)) for _, loss_name, key in DISTANCES}
    return CompositeIQALoss(weights, data_range=2.0, reduction="none", c=cfg.c, c_scale=cfg.c_scale)


@register_recipe("began")
class BEGAN(Recipe):
    """BEGAN with the BEGAN-IQA composite distance (module docstring)."""

    Config = BEGANConfig

    @classmethod
    def validate_config(cls, cfg: BEGANConfig, run: Any) -> None:
        _validate(cfg, run)

    def __init__(self, cfg: BEGANConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        _validate(cfg, ctx.run)
        res = ctx.run.data.resolution
        act = cfg.output_activation
        self.G = ctx.wrap(BEGANGenerator(res, cfg.z_dim, cfg.channels, act))
        self.D = ctx.wrap(BEGANAutoencoder(res, cfg.h_dim, cfg.channels, act))
        adam = {"lr": cfg.lr, "betas": tuple(cfg.betas), "eps": cfg.adam_eps}
        self.opt_g = torch.optim.Adam(self.G.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.D.parameters(), **adam)
        self.distance = began_distance(cfg)
        self.controller = BEGANController(
            cfg.gamma, cfg.lambda_k, cfg.k_init, stuck_warn_steps=1000
        )

    # -- declarations
    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def lr_schedules(self) -> dict[str, Any]:
        if self.cfg.lr_halve_every <= 0:
            return {}
        f = HalvingSchedule(self.cfg.lr_halve_every, self.cfg.lr, self.cfg.lr_floor)
        return {"G": f, "D": f}

    # -- pieces
    def latent(self, n_global: int) -> torch.Tensor:
        """This rank's shard of ``z ~ U(-1, 1)^{N_z}`` for a global batch (shared generator)."""
        return self.ctx.rand(n_global, self.cfg.z_dim) * 2.0 - 1.0

    def real_batch(self, batches: Iterator[Any]) -> torch.Tensor:
        x = next(batches)
        if isinstance(x, (list, tuple)):
            x = x[0]
        return x.to(next(unwrap(self.D).parameters()).dtype)

    def distances(
        self, v: torch.Tensor, rec: torch.Tensor, log: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(L(v) per image, {"l1", "gmsm", "chrom": distance per image, detached})`` for
        images ``v`` and their reconstructions ``rec`` = D(v), both in [-1, 1] (eq. 6). With
        ``log=False`` the zero-weight distances are not computed and the dict is empty."""
        a, b = rec + 1.0, v + 1.0  # (distorted, reference) on [0, 2]
        with input_checks(False):  # reconstructions may leave [-1, 1]
            weighted = self.distance.terms(a, b)
            loss = self.distance.combine(weighted)
            if not log:
                return loss, {}
            rest = [t for t in CompositeIQALoss.TERMS if t not in weighted]
            with torch.no_grad():
                extra = self.distance.terms(a.detach(), b.detach(), rest) if rest else {}
        every = {**{k: t.detach() for k, t in weighted.items()}, **extra}
        return loss, {name: every[term] for name, term, _ in DISTANCES}

    # -- the generator step
    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        n = self.ctx.global_batch_size
        x = self.real_batch(batches)
        b = x.shape[0]
        k = self.controller.k
        if self.cfg.update == "simultaneous":
            fake = self.G(self.latent(n))
            rec = self.D(torch.cat([x, fake.detach()]))
            loss_x, d_x = self.distances(x, rec[:b])
            loss_zd, _ = self.distances(fake.detach(), rec[b:], log=False)
            loss_d = loss_x.mean() - k * loss_zd.mean()
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            d_grads = [p.grad for p in self.D.parameters()]
            for p in self.D.parameters():
                p.grad = None  # G's backward must not accumulate into the kept gradients
            loss_g_img, d_g = self.distances(fake, self.D(fake))
            loss_g = loss_g_img.mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            for p, g in zip(self.D.parameters(), d_grads, strict=True):
                p.grad = g  # D's gradient is L_D's alone (the code's d_optim)
            self.opt_d.step()
            self.opt_g.step()
        else:
            with torch.no_grad():
                fake_d = self.G(self.latent(n))
            rec = self.D(torch.cat([x, fake_d]))
            loss_x, d_x = self.distances(x, rec[:b])
            loss_zd, _ = self.distances(fake_d, rec[b:], log=False)
            loss_d = loss_x.mean() - k * loss_zd.mean()
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            fake = self.G(self.latent(n))
            loss_g_img, d_g = self.distances(fake, self.D(fake))
            loss_g = loss_g_img.mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            self.opt_d.zero_grad(set_to_none=True)  # G's loss never reaches D's update
        loss_real, loss_fake = loss_x.detach().mean(), loss_g.detach()
        k_new = self.controller.update(loss_real, loss_fake)  # averaged over ranks (sync)
        out: dict[str, Any] = {
            "k_t": k_new,
            "m_global": self.controller.last_m_global,
            "loss_real": loss_real,
            "loss_fake": loss_fake,
            "loss_d": loss_d.detach(),
        }
        for name, _, _ in DISTANCES:
            out[f"{name}_real"] = d_x[name].mean()
            out[f"{name}_fake"] = d_g[name].mean()
        return out

    # -- sample grids
    def sample_inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(n, self.cfg.z_dim, generator=generator) * 2.0 - 1.0

    def sample(self, inputs: torch.Tensor, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        g = ema.get("G", unwrap(self.G))
        return ((g(inputs) + 1.0) / 2.0).clamp(0.0, 1.0)

    # -- extra state: the equilibrium controller
    def state_dict(self) -> dict[str, Any]:
        return {"controller": self.controller.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "controller" not in state:
            raise InputError("the checkpoint holds no BEGAN controller state (k_t)")
        self.controller.load_state_dict(state["controller"])
        # gamma and lambda_k come from the configuration (a resume may change them)
        self.controller.gamma, self.controller.lambda_k = self.cfg.gamma, self.cfg.lambda_k
