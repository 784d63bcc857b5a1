"""Shared pieces of the adversarial recipes: configuration base, optimiser, batch augmentation,
the critic/generator loop and sample grids (see ``docs/training.md``, "Recipes and presets").

Sign convention: qagen's usual one (the critic scores real images high; ``docs/gan.md``). The
QAGAN and Banach-WGAN TensorFlow code uses ``D_q = -D``; every loss value is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from qagen.errors import InputError
from qagen.gan.nets import build_networks
from qagen.gan.objectives import wasserstein_generator_loss
from qagen.train.ema import unwrap
from qagen.train.recipe import Recipe, TrainContext

__all__ = [
    "GANConfig",
    "GANRecipe",
    "NIQEPenaltyConfig",
    "NIQEPenaltySchedule",
    "SharedStepAdam",
    "SingleNetworkRecipe",
    "augment_batch",
]

_log = logging.getLogger("qagen.train")


try:  # the dtype torch.optim.Adam gives its CPU step counters (float32 unless default is f64)
    from torch.optim.optimizer import _get_scalar_dtype
except ImportError:  # pragma: no cover - older/newer torch

    def _get_scalar_dtype() -> torch.dtype:
        return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class SharedStepAdam(torch.optim.Adam):
    """Adam with one bias-correction step counter shared by every parameter.

    The QAGAN and Banach-WGAN code trains G and D with **one** TF1 ``AdamOptimizer`` instance
    (two ``minimize`` calls). Its first/second-moment slots are per variable, but its
    ``beta1_power``/``beta2_power`` accumulators belong to the optimiser: every update of either
    network advances them. With ``n_critic = 5`` the generator's k-th update is therefore
    bias-corrected with ``t = 6k`` rather than ``k``. ``torch.optim.Adam`` counts per parameter;
    this subclass sets every updated parameter's ``step`` to the shared counter (the largest step
    in the state) before each update, so ``t`` counts the calls of :meth:`step`, whichever
    parameters they update. The state is that of ``torch.optim.Adam`` (checkpoints and resume
    are unchanged). The remaining difference from TF1 is the epsilon placement: TF adds
    ``eps`` to ``sqrt(v)`` before the bias correction (``eps_torch = eps_tf / sqrt(1 - beta2^t)``),
    negligible at ``eps = 1e-8``. Not for ``fused`` or ``capturable`` Adam.
    """

    def __init__(self, params: Any, **kwargs: Any) -> None:
        if kwargs.get("fused") or kwargs.get("capturable"):
            raise ValueError("SharedStepAdam does not support fused or capturable Adam")
        super().__init__(params, **kwargs)

    def shared_step(self) -> int:
        """Number of :meth:`step` calls so far (the shared bias-correction counter)."""
        t = 0
        for state in self.state.values():
            s = state.get("step")
            if s is not None:
                t = max(t, int(float(s)))
        return t

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        t = self.shared_step()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:  # the lazy initialisation of Adam, at the shared count
                    state["step"] = torch.tensor(float(t), dtype=_get_scalar_dtype())
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(
                            p, memory_format=torch.preserve_format
                        )
                else:
                    state["step"].fill_(float(t))
        return super().step(closure)


def augment_batch(
    x: torch.Tensor, ctx: TrainContext, *, flip: bool, dequantize: bool
) -> torch.Tensor:
    """QAGAN's data augmentation of a real batch in [-1, 1] (``lfovia/QAGANS``).

    ``flip``: horizontal flip with probability 1/2 per image. ``dequantize``: the 8-bit values
    ``k = round((x + 1) * 127.5)`` become ``(k + u) / 256`` with ``u ~ U[0, 1)`` per pixel, mapped
    to [-1, 1] by ``(. - 0.5) * 2``, i.e. ``x = (k + u) / 128 - 1`` (the authors'
    ``k / 256 + U[0, 1/256)``). The noise is drawn for the whole global batch from the shared
    generator (``ctx.rand``), so DDP and single-process runs see the same batch and resume is
    exact. The datasets deliver ``k / 255`` values, which is why ``k`` is recovered by rounding.
    """
    n = ctx.global_batch_size
    if flip:
        m = ctx.rand(n, dtype=x.dtype) < 0.5
        x = torch.where(m.view(-1, 1, 1, 1), x.flip(-1), x)
    if dequantize:
        k = torch.round((x + 1.0) * 127.5)
        u = ctx.rand(n, *x.shape[1:], dtype=x.dtype)
        x = (k + u) / 128.0 - 1.0
    return x


@dataclass
class GANConfig:
    """Hyper-parameters shared by the adversarial recipes (``[hparams]``)."""

    # networks (lfovia/QAGANS): 'resnet' (QAGAN/BWGAN/WGAN-GP CIFAR ResNet) or 'dcgan'
    arch: Literal["resnet", "dcgan"] = "resnet"
    z_dim: int = 128
    g_channels: int = 128
    d_channels: int = 128
    #: generator batch norm uses batch statistics also when sampling (TF ``is_training=True``)
    g_batch_stats: bool = True
    # augmentation of each real batch (augment_batch)
    flip: bool = False
    dequantize: bool = False
    # optimisation: Adam(lr, betas, eps), LR = lr * max(0, 1 - step / max_iters) (0: constant)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)
    adam_eps: float = 1e-8
    #: one Adam for G and D with a shared bias-correction counter (SharedStepAdam), as the
    #: QAGAN/BWGAN code; False: two independent Adams
    shared_optimizer: bool = False
    max_iters: int = 100_000
    n_critic: int = 5
    #: the generator loss is taken over g_batch_mult * batch fresh z (2 in WGAN-GP/QAGAN code)
    g_batch_mult: int = 2
    #: weight of the drift term E[D(x_real)^2] (QAGAN/BWGAN: 1e-5)
    drift: float = 0.0


def _validate(cfg: GANConfig) -> None:
    checks = [
        ("z_dim", cfg.z_dim > 0, "> 0"),
        ("g_channels", cfg.g_channels > 0, "> 0"),
        ("d_channels", cfg.d_channels > 0, "> 0"),
        ("lr", cfg.lr > 0, "> 0"),
        ("max_iters", cfg.max_iters >= 0, ">= 0 (0: constant learning rate)"),
        ("n_critic", cfg.n_critic >= 1, ">= 1"),
        ("g_batch_mult", cfg.g_batch_mult >= 1, ">= 1"),
        ("drift", cfg.drift >= 0, ">= 0"),
        ("adam_eps", cfg.adam_eps > 0, "> 0"),
    ]
    for name, ok, expected in checks:
        if not ok:
            raise InputError(f"hparams.{name} must be {expected}, got {getattr(cfg, name)!r}")
    if not all(0.0 <= b < 1.0 for b in cfg.betas):
        raise InputError(f"hparams.betas must lie in [0, 1), got {cfg.betas}")


class GANRecipe(Recipe):
    """Base of the adversarial recipes: networks, optimisers, the n_critic loop, the generator
    step, EMA and sample grids. Subclasses implement :meth:`critic_step` (one critic update's
    loss and logged terms) and may override :meth:`generator_loss`, :meth:`build_pair` (other
    networks) and :meth:`latent` / :meth:`sample_inputs` (another latent distribution)."""

    Config = GANConfig

    @classmethod
    def validate_config(cls, cfg: GANConfig, run: Any) -> None:
        _validate(cfg)

    def __init__(self, cfg: GANConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        type(self).validate_config(cfg, ctx.run)
        g, d = self.build_pair(ctx.run.data.resolution)
        self.G = ctx.wrap(g)
        self.D = ctx.wrap(d)
        adam = {"lr": cfg.lr, "betas": tuple(cfg.betas), "eps": cfg.adam_eps}
        if cfg.shared_optimizer:
            self.opt = SharedStepAdam(
                [{"params": list(self.G.parameters())}, {"params": list(self.D.parameters())}],
                **adam,
            )
            self._opts = {"GD": self.opt}
        else:
            self.opt_g = torch.optim.Adam(self.G.parameters(), **adam)
            self.opt_d = torch.optim.Adam(self.D.parameters(), **adam)
            self._opts = {"G": self.opt_g, "D": self.opt_d}

    def build_pair(self, resolution: int) -> tuple[nn.Module, nn.Module]:
        """The ``(generator, critic)`` of the run, before wrapping: ``cfg.arch`` with
        ``g_channels`` / ``d_channels`` (the DCGAN critic with layer norm, as no batch norm may
        sit under a gradient penalty). A recipe with other networks overrides this."""
        cfg = self.cfg
        if cfg.arch == "resnet":
            g_kw = {"channels": cfg.g_channels, "always_batch_stats": cfg.g_batch_stats}
            d_kw = {"channels": cfg.d_channels}
        else:  # dcgan: layer norm in the critic (no batch norm under a gradient penalty)
            g_kw, d_kw = {"ngf": cfg.g_channels}, {"ndf": cfg.d_channels, "norm": "layer"}
        return build_networks(cfg.arch, resolution, cfg.z_dim, g_kw, d_kw)

    # -- declarations
    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._opts)

    def lr_schedules(self) -> dict[str, Any]:
        if self.cfg.max_iters <= 0:
            return {}
        decay = self.ctx.linear_decay(self.cfg.max_iters)
        return {name: decay for name in self._opts}

    def ema_modules(self) -> list[str]:
        return ["G"]

    # -- pieces
    def real_batch(self, batches: Iterator[Any]) -> torch.Tensor:
        """The next real batch (this rank's shard), augmented as configured."""
        x = next(batches)
        if isinstance(x, (list, tuple)):
            x = x[0]
        x = x.to(next(unwrap(self.D).parameters()).dtype)  # float64 networks get float64 data
        return augment_batch(x, self.ctx, flip=self.cfg.flip, dequantize=self.cfg.dequantize)

    def latent(self, n_global: int) -> torch.Tensor:
        return self.ctx.randn(n_global, self.cfg.z_dim)

    def _zero_grad(self, which: str) -> None:
        if self.cfg.shared_optimizer:
            self.opt.zero_grad(set_to_none=True)
        else:
            (self.opt_d if which == "D" else self.opt_g).zero_grad(set_to_none=True)

    def _update(self, which: str) -> None:
        if self.cfg.shared_optimizer:
            if which == "G":  # the G loss also reached D's parameters: leave D untouched
                for p in self.D.parameters():
                    p.grad = None
            self.opt.step()
        else:
            (self.opt_d if which == "D" else self.opt_g).step()

    def critic_step(
        self, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The critic loss of one critic update and the terms to log (detached scalars)."""
        raise NotImplementedError

    def generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """``-E[D(G(z))]`` (QAGAN/WGAN-GP code: ``E[D_q(G(z))]`` with ``D_q = -D``)."""
        return wasserstein_generator_loss(d_fake)

    def before_step(self, step: int) -> None:
        """Hook called at the start of every generator step (schedules of recipe state)."""

    # -- the generator step
    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        cfg, ctx = self.cfg, self.ctx
        n = ctx.global_batch_size
        self.before_step(step)
        sums: dict[str, torch.Tensor] = {}
        for _ in range(cfg.n_critic):
            real = self.real_batch(batches)
            with torch.no_grad():
                fake = self.G(self.latent(n))
            eps = ctx.rand(n, 1, 1, 1, dtype=real.dtype)
            loss, terms = self.critic_step(real, fake, eps, step)
            self._zero_grad("D")
            loss.backward()
            self._update("D")
            terms = {"d_loss": loss.detach(), **terms}
            for k, v in terms.items():
                sums[k] = sums[k] + v if k in sums else v
        out = {k: v / cfg.n_critic for k, v in sums.items()}
        fake = self.G(self.latent(cfg.g_batch_mult * n))
        g_loss = self.generator_loss(self.D(fake))
        self._zero_grad("G")
        g_loss.backward()
        self._update("G")
        out["g_loss"] = g_loss.detach()
        return out

    # -- sample grids
    def sample_inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=generator)

    def sample(self, inputs: torch.Tensor, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        g = ema.get("G", unwrap(self.G))
        g.eval()  # with g_batch_stats the batch norm still uses the batch statistics
        return ((g(inputs) + 1.0) / 2.0).clamp(0.0, 1.0)


class SingleNetworkRecipe(Recipe):
    """A recipe that trains one network ``self.net`` with one optimiser ``self.opt`` (SRCNN, the
    autoencoders): checkpointed as ``net``, EMA over ``net``, and a linear learning-rate decay to
    0 over ``cfg.max_iters`` steps when that is > 0."""

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def lr_schedules(self) -> dict[str, Any]:
        if self.cfg.max_iters <= 0:
            return {}
        return {"net": self.ctx.linear_decay(self.cfg.max_iters)}

    def ema_modules(self) -> list[str]:
        return ["net"]


@dataclass
class NIQEPenaltyConfig:
    """The NIQE penalty on critic gradient maps (``[hparams.niqe]``; ``qagen.gan.niqe_penalty``).

    ``variant``/``pooling``: the feature extractor ('qagan' batch-pooled = the authors' code with
    its bugs fixed; 'qagan-code' = the authors' code as written, bugs included, batch pooling
    only; with ``ridge = 0`` it also scores with their plain matrix inverse). ``res``:
    'qagan-code' only, the crop size of the authors' ``niqe(img, res)`` (0: the whole map; their
    64 px CelebA script passes 32). ``source``: pristine statistics from ``grad_x D(x_real)``
    ('critic_gradients', the authors' Python route) or the Sobel magnitude of the real images
    ('image_gradients', their MATLAB route). The statistics of every critic update's real batch
    are accumulated during the first ``warmup_steps`` generator steps (the penalty is off
    meanwhile), then the model is fitted and the penalty switched on; with ``refit_every`` > 0
    they keep being accumulated and the model is refitted every ``refit_every`` steps.
    ``model_path``: a ``NIQEModel`` file (``.npz`` written by ``NIQEModel.save``) of the same
    variant instead of the warm-up. ``ridge``: the pristine covariance used is
    ``S_P + ridge * diag(S_P)``.
    """

    variant: Literal["qagan", "qagan-decimate", "qagan-code", "live"] = "qagan"
    pooling: Literal["batch", "image"] = "batch"
    source: Literal["critic_gradients", "image_gradients"] = "critic_gradients"
    warmup_steps: int = 200
    refit_every: int = 0
    ridge: float = 0.01
    model_path: str = ""
    res: int = 0


class NIQEPenaltySchedule:
    """When the NIQE term collects pristine statistics and when it (re)fits its model, shared by
    the QAGAN-NIQE recipes and QMF: with ``niqe.model_path`` the model is fixed; otherwise the
    term collects during the first ``niqe.warmup_steps`` steps, fits at that step and, with
    ``niqe.refit_every > 0``, refits every that many steps after it. Needs ``self.niqe`` (the
    penalty or None), ``self.cfg.niqe`` (:class:`NIQEPenaltyConfig`) and ``self.ctx``."""

    _niqe_source = "qagen"
    _niqe_message = "NIQE penalty on from step %d: %s"

    def _collecting(self, step: int) -> bool:
        nc = self.cfg.niqe
        if self.niqe is None or nc.model_path:
            return False
        return step < nc.warmup_steps or nc.refit_every > 0

    def before_step(self, step: int) -> None:
        nq, nc = self.niqe, self.cfg.niqe
        if nq is None or nc.model_path:
            return
        due = not nq.ready and step >= nc.warmup_steps
        if nq.ready and nc.refit_every > 0 and step > nc.warmup_steps:
            due = (step - nc.warmup_steps) % nc.refit_every == 0
        if due:
            model = nq.fit(source=f"{nc.source} ({self._niqe_source}, up to step {step})")
            if self.ctx.is_main:
                _log.info(self._niqe_message, step, model)
