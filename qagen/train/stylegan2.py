"""The StyleGAN2 training loop (Karras et al., CVPR 2020), shared by the ``stylegan2`` recipe
(``qagen/methods/stylegan2``) and QMF's StyleGAN2 with PAM and M_F (``qagen/methods/qmf``).

One generator step (``step`` completed steps before it; docs/stylegan2.md):

1. D: ``L_D = E[softplus(D(G(z)))] + E[softplus(-D(x))]`` (the non-saturating logistic loss)
   ``+ ssim_weight * SSIM-GP + niqe_weight * NIQE(grad D(x_hat))`` (QAGAN's critic penalties,
   optional: ``qagen.gan.penalties``, ``qagen.gan.niqe_penalty``);
2. lazy R1, when ``step % d_reg_interval == 0``: ``d_reg_interval * r1_gamma / 2 * E[||grad
   D(x)||^2]``, a separate update of D;
3. G: ``L_G = E[softplus(-D(G(z)))]``;
4. lazy path length, when ``step % g_reg_interval == 0``: ``g_reg_interval * pl_weight *
   E[(||J_w^T y|| - a)^2]`` on ``batch / pl_batch_shrink`` images, a separate update of G.

Every ``G(z)`` mixes styles with probability ``style_mixing_prob`` (a second ``z`` from a
random layer ``1..num_ws-1`` on). With lazy regularisation the Adam learning rate and betas of a
network are ``lr * c`` and ``beta ** c``, ``c = k / (k + 1)`` (its reg interval ``k``), as the
official code does (it keeps this for an interval whose weight is 0, so the CIFAR configuration
trains G at ``0.0025 * 4/5``). All noise (``z``, the per-pixel noise, the mixing draws, the
path-length ``y``) comes from the trainer's shared generator. The generator EMA is the trainer's
(``train.ema_decay``; ``0.5 ** (batch / (ema_kimg * 1000))`` in the presets).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from qagen.errors import InputError
from qagen.gan.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from qagen.gan.niqe_penalty import NIQEGradientPenalty, sobel_magnitude
from qagen.gan.objectives import nonsaturating_critic_loss, nonsaturating_generator_loss
from qagen.gan.penalties import critic_gradient, ssim_gradient_penalty
from qagen.gan.regularizers import path_length_penalty, r1_penalty
from qagen.train.bases import NIQEPenaltyConfig, NIQEPenaltySchedule, augment_batch
from qagen.train.ema import unwrap
from qagen.train.recipe import Recipe, TrainContext

__all__ = ["StyleGAN2Config", "StyleGAN2Recipe", "lazy_adam_settings"]

_log = logging.getLogger("qagen.train")


@dataclass
class StyleGAN2Config:
    """Hyper-parameters (``[hparams]``); defaults: the paper's configuration F (8 mapping
    layers, residual D, R1 gamma 10, path length 2, mixing 0.9, lr 0.002). The presets hold the
    official CIFAR-10 (32 px) and 64 px configurations."""

    # networks (qagen.gan.nets.stylegan2)
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    d_architecture: Literal["resnet", "orig"] = "resnet"
    mbstd_group: int = 4
    #: activations clamped to +-clamp (the official code's conv_clamp 256); 0: no clamp
    clamp: float = 0.0
    # loss and regularisation
    r1_gamma: float = 10.0
    d_reg_interval: int = 16
    pl_weight: float = 2.0
    g_reg_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float = 0.9
    # optimisation: Adam(lr, betas, eps), constant
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    adam_eps: float = 1e-8
    #: random horizontal flips of the real images (the official --mirror)
    flip: bool = False
    # QAGAN's critic penalties (off by default)
    ssim_weight: float = 0.0
    ssim_variant: Literal["paper", "standard"] = "paper"
    niqe_weight: float = 0.0
    niqe: NIQEPenaltyConfig = field(default_factory=NIQEPenaltyConfig)


def lazy_adam_settings(
    lr: float, betas: tuple[float, float], interval: int
) -> tuple[float, tuple[float, float]]:
    """Adam's ``(lr, betas)`` under lazy regularisation every ``interval`` steps (StyleGAN2
    appendix B): ``lr * c`` and ``beta ** c`` with ``c = interval / (interval + 1)``; unchanged
    for ``interval = 0`` (no lazy regularisation)."""
    if interval <= 0:
        return lr, tuple(betas)
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)


def _validate(cfg: StyleGAN2Config, run: Any) -> None:
    ints = ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "mbstd_group",
            "pl_batch_shrink")  # fmt: skip
    for name in ints:
        v = getattr(cfg, name)
        if not (isinstance(v, int) and v >= 1):
            raise InputError(f"hparams.{name} must be a positive integer, got {v!r}")
    for name in ("d_reg_interval", "g_reg_interval"):
        v = getattr(cfg, name)
        if not (isinstance(v, int) and v >= 0):
            raise InputError(f"hparams.{name} must be an integer >= 0 (0: every step), got {v!r}")
    for name in ("r1_gamma", "pl_weight", "ssim_weight", "niqe_weight", "clamp"):
        v = getattr(cfg, name)
        if not v >= 0:
            raise InputError(f"hparams.{name} must be >= 0, got {v!r}")
    if not 0.0 <= cfg.style_mixing_prob <= 1.0:
        raise InputError(
            f"hparams.style_mixing_prob must lie in [0, 1], got {cfg.style_mixing_prob}"
        )
    if not 0.0 < cfg.pl_decay <= 1.0:
        raise InputError(f"hparams.pl_decay must lie in (0, 1], got {cfg.pl_decay}")
    if not (cfg.lr > 0 and cfg.mapping_lr_mul > 0):
        raise InputError(f"hparams.lr and hparams.mapping_lr_mul must be > 0, got {cfg.lr}, "
                         f"{cfg.mapping_lr_mul}")  # fmt: skip
    if not all(0.0 <= b < 1.0 for b in cfg.betas):
        raise InputError(f"hparams.betas must lie in [0, 1), got {cfg.betas}")
    res = int(run.data.resolution)
    if res < 8 or res & (res - 1):
        raise InputError(f"data.resolution must be a power of two >= 8 for StyleGAN2, got {res}")
    batch = int(run.train.batch_size)
    if cfg.pl_weight > 0 and batch // cfg.pl_batch_shrink < 1:
        raise InputError(f"hparams.pl_batch_shrink {cfg.pl_batch_shrink} leaves no image of "
                         f"train.batch_size {batch}")  # fmt: skip
    if cfg.niqe_weight > 0:
        nc = cfg.niqe
        if not nc.model_path and nc.warmup_steps < 1:
            raise InputError("hparams.niqe.warmup_steps must be >= 1 unless hparams.niqe."
                             f"model_path names a model file, got {nc.warmup_steps}")  # fmt: skip
        if nc.model_path and not Path(nc.model_path).expanduser().is_file():
            raise InputError(f"hparams.niqe.model_path: no such file: {nc.model_path}")
        if not nc.model_path and nc.pooling == "batch" and nc.warmup_steps < 2:
            raise InputError("the NIQE pristine model needs at least 2 feature rows (one per "
                             "step with pooling 'batch'): hparams.niqe.warmup_steps must be >= 2, "
                             f"got {nc.warmup_steps}")  # fmt: skip


class StyleGAN2Recipe(NIQEPenaltySchedule, Recipe):
    """The StyleGAN2 loop (module docstring); subclasses register it (``stylegan2``) or build
    another generator around :class:`StyleGAN2Generator` (:meth:`build_generator`)."""

    Config = StyleGAN2Config

    @classmethod
    def validate_config(cls, cfg: StyleGAN2Config, run: Any) -> None:
        _validate(cfg, run)

    def __init__(self, cfg: StyleGAN2Config, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        type(self).validate_config(cfg, ctx.run)
        res = int(ctx.run.data.resolution)
        clamp = cfg.clamp or None
        self.G = ctx.wrap(self.build_generator(cfg, res))
        d = StyleGAN2Discriminator(res, channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                                   architecture=cfg.d_architecture, mbstd_group=cfg.mbstd_group,
                                   clamp=clamp)  # fmt: skip
        self.D = ctx.wrap(d)
        self._opts: dict[str, torch.optim.Optimizer] = {}
        for name, net, k in (("G", self.G, cfg.g_reg_interval), ("D", self.D, cfg.d_reg_interval)):
            lr, betas = lazy_adam_settings(cfg.lr, tuple(cfg.betas), k)
            self._opts[name] = torch.optim.Adam(net.parameters(), lr=lr, betas=betas,
                                                eps=cfg.adam_eps)  # fmt: skip
        self.pl_mean = torch.zeros((), device=ctx.device)
        self.niqe: NIQEGradientPenalty | None = None
        if cfg.niqe_weight > 0:
            nc = cfg.niqe
            self.niqe = NIQEGradientPenalty(nc.variant, nc.pooling, nc.ridge, nc.res or None)
            if nc.model_path:
                model = self.niqe.load_model(str(Path(nc.model_path).expanduser()))
                _log.info("NIQE penalty: pristine model %s", model)

    def build_generator(self, cfg: StyleGAN2Config, resolution: int) -> nn.Module:
        """The generator (the core's :class:`StyleGAN2Generator`)."""
        return StyleGAN2Generator(
            resolution, cfg.z_dim, w_dim=cfg.w_dim, mapping_layers=cfg.mapping_layers,
            channel_base=cfg.channel_base, channel_max=cfg.channel_max,
            mapping_lr_mul=cfg.mapping_lr_mul, clamp=cfg.clamp or None,
        )  # fmt: skip

    @property
    def generator(self) -> StyleGAN2Generator:
        """The unwrapped :class:`StyleGAN2Generator` (inside any wrapper of a subclass)."""
        g = unwrap(self.G)
        return getattr(g, "stylegan", g)

    # -- declarations
    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._opts)

    def ema_modules(self) -> list[str]:
        return ["G"]

    # -- noise, all from the shared generator
    def noises(self, n: int) -> list[torch.Tensor]:
        """Per-pixel noise for each synthesis layer of ``n`` images (this rank's shard)."""
        return [self.ctx.randn(n, 1, r, r) for r in self.generator.noise_resolutions]

    def mixing(self, n: int) -> dict[str, Any]:
        """``{"z_mix", "cutoff"}`` with probability ``style_mixing_prob``, else ``{}``: the
        second latent and the first layer that reads it (uniform in ``1..num_ws-1``)."""
        p = self.cfg.style_mixing_prob
        if p <= 0:
            return {}
        u = torch.rand(2, generator=self.ctx.generator, device=self.ctx.device).tolist()
        num_ws = self.generator.num_ws
        z_mix = self.ctx.randn(n, self.cfg.z_dim)  # drawn every time: the stream stays in step
        if u[0] >= p:
            return {}
        return {"z_mix": z_mix, "cutoff": 1 + min(int(u[1] * (num_ws - 1)), num_ws - 2)}

    def generate_batch(
        self, n: int, real: torch.Tensor | None = None, return_ws: bool = False
    ) -> Any:
        """``G(z)`` for ``n`` images (global count) with fresh z, noise and style mixing;
        ``real``: the index-aligned real images (a subclass's X_ref)."""
        z = self.ctx.randn(n, self.cfg.z_dim)
        kw = self.generator_kwargs(real)
        return self.G(z, **self.mixing(n), noises=self.noises(n), return_ws=return_ws, **kw)

    def generator_kwargs(self, real: torch.Tensor | None) -> dict[str, Any]:
        """Extra keyword arguments of the generator call (none here)."""
        return {}

    def real_batch(self, batches: Iterator[Any]) -> torch.Tensor:
        x = next(batches)
        if isinstance(x, (list, tuple)):
            x = x[0]
        x = x.to(next(unwrap(self.D).parameters()).dtype)
        return augment_batch(x, self.ctx, flip=self.cfg.flip, dequantize=False)

    @staticmethod
    def _due(step: int, interval: int) -> bool:
        return interval <= 1 or step % interval == 0

    def _update(self, name: str, loss: torch.Tensor) -> None:
        opt = self._opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    # -- the losses
    @torch.no_grad()
    def _pristine_maps(self, real: torch.Tensor) -> torch.Tensor:
        if self.cfg.niqe.source == "image_gradients":
            return sobel_magnitude(real)
        with torch.enable_grad():
            return critic_gradient(unwrap(self.D), real, create_graph=False).grad

    def _reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if not self.ctx.distributed:
            return t
        return (self.ctx.all_reduce_mean(t.to(self.ctx.device)) * self.ctx.world_size).cpu()

    def d_loss(
        self, real: torch.Tensor, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's main loss (logistic, with the optional SSIM / NIQE penalties) and its terms."""
        cfg = self.cfg
        if self._collecting(step):
            assert self.niqe is not None
            self.niqe.accumulate(self._pristine_maps(real), self._reduce_sum)
        d_real, d_fake = self.D(real), self.D(fake)
        loss = nonsaturating_critic_loss(d_real, d_fake)
        terms = {"d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        if cfg.ssim_weight > 0:
            ssim = ssim_gradient_penalty(d_real, d_fake, real, fake, variant=cfg.ssim_variant)
            loss = loss + cfg.ssim_weight * ssim.to(loss.dtype)
            terms["ssim_gp"] = ssim.detach()
        if cfg.niqe_weight > 0 and self.niqe is not None and self.niqe.ready:
            eps = self.ctx.rand(real.shape[0], 1, 1, 1, dtype=real.dtype)
            x_hat = eps * fake + (1.0 - eps) * real
            grad = critic_gradient(self.D, x_hat).grad
            pen = self.niqe(grad)
            loss = loss + cfg.niqe_weight * pen.to(loss.dtype)
            terms["niqe_gp"] = pen.detach().to(loss.dtype)
        return loss, terms

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        cfg, ctx = self.cfg, self.ctx
        n = ctx.global_batch_size
        self.before_step(step)
        real = self.real_batch(batches)
        with torch.no_grad():
            fake = self.generate_batch(n, real)
        d_loss, out = self.d_loss(real, fake, step)
        self._update("D", d_loss)
        out["d_loss"] = d_loss.detach()
        if cfg.r1_gamma > 0 and self._due(step, cfg.d_reg_interval):
            r1, logits = r1_penalty(self.D, real)
            k = max(cfg.d_reg_interval, 1)
            # logits * 0 keeps D's last bias in the graph: R1 (a gradient w.r.t. the input) does
            # not depend on it, and DDP requires every parameter to get a gradient (the
            # official code adds real_logits * 0 for the same reason)
            self._update("D", (r1 * (cfg.r1_gamma / 2) + logits.reshape(-1) * 0).mean() * k)
            out["r1"] = r1.detach().mean()
        fake = self.generate_batch(n, real)
        g_loss = nonsaturating_generator_loss(self.D(fake))
        self._update("G", g_loss)
        out["g_loss"] = g_loss.detach()
        if cfg.pl_weight > 0 and self._due(step, cfg.g_reg_interval):
            m = n // cfg.pl_batch_shrink
            img, ws = self.generate_batch(m, real[: m // ctx.world_size], return_ws=True)
            pl = path_length_penalty(img, ws, self.pl_mean, ctx.randn(m, *img.shape[1:]),
                                     cfg.pl_decay)  # fmt: skip
            self.pl_mean = ctx.all_reduce_mean(pl.mean.clone()) if ctx.distributed else pl.mean
            k = max(cfg.g_reg_interval, 1)
            # img[:, 0, 0, 0] * 0 keeps every output in the graph (as the official code)
            self._update("G", (pl.penalty + img[:, 0, 0, 0] * 0).mean() * cfg.pl_weight * k)
            out["pl_penalty"] = pl.penalty.detach().mean()
            out["pl_mean"] = self.pl_mean.detach()
        return out

    # -- sample grids and evaluation
    def sample_inputs(self, n: int, generator: torch.Generator) -> dict[str, Any]:
        z = torch.randn(n, self.cfg.z_dim, generator=generator)
        noise = [torch.randn(n, 1, r, r, generator=generator)
                 for r in self.generator.noise_resolutions]  # fmt: skip
        return {"z": z, "noise": noise}

    def sample(self, inputs: Any, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        g = ema.get("G", unwrap(self.G))
        g.eval()
        p = next(g.parameters())
        z = inputs["z"].to(p.device, p.dtype)
        noise = [t.to(p.device, p.dtype) for t in inputs["noise"]]
        kw = self.sample_kwargs(inputs, p)
        return ((g(z, noises=noise, **kw) + 1.0) / 2.0).clamp(0.0, 1.0)

    def sample_kwargs(self, inputs: Any, p: torch.Tensor) -> dict[str, Any]:
        """Extra keyword arguments of the generator when sampling (none here)."""
        return {}

    # -- extra state
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"pl_mean": self.pl_mean.detach().cpu()}
        if self.niqe is not None:
            state["niqe"] = self.niqe.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "pl_mean" in state:
            self.pl_mean = state["pl_mean"].to(self.ctx.device)
        if self.niqe is not None:
            if "niqe" in state:
                self.niqe.load_state_dict(state["niqe"])
            elif not self.cfg.niqe.model_path:
                raise InputError("the checkpoint holds no NIQE penalty state "
                                 "(was hparams.niqe_weight 0 then?)")  # fmt: skip
