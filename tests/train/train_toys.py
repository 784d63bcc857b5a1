"""Toy recipes and data for the trainer tests (imported by the tests and by DDP child processes).

``ToyWGANGP`` is a complete, tiny WGAN-GP (Gulrajani et al. 2017; REFERENCE 3.1): an MLP
generator, a conv critic, ``n_critic`` critic updates with a two-sided gradient penalty
(``autograd.grad(..., create_graph=True)`` then ``backward``: double backward through DDP), one
generator update, two Adam optimisers with ``betas = (0, 0.9)`` and a linear LR decay by step,
EMA of the generator, and a piece of extra recipe state. All noise is drawn per global batch
from ``ctx.randn`` / ``ctx.rand``, so a DDP run sees the noise of the single-process run.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from qagen.train import NonFiniteLossError, Recipe, Trainer, register_recipe
from qagen.train.config import DataConfig, RunConfig, TrainConfig

C, H, W = 1, 8, 8


class RandomImages(Dataset):
    """``n`` fixed random images in [0, 1] with a random horizontal flip (global torch RNG)."""

    def __init__(self, n: int = 64, seed: int = 123) -> None:
        g = torch.Generator().manual_seed(seed)
        self.data = torch.rand(n, C, H, W, generator=g)

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self.data[i]
        if torch.rand(()) < 0.5:  # augmentation drawn from the global RNG
            x = x.flip(-1)
        return x


@dataclass
class ToyConfig:
    z_dim: int = 8
    lr: float = 1e-3
    betas: tuple[float, float] = (0.0, 0.9)
    n_critic: int = 2
    gp_weight: float = 10.0
    decay_steps: int = 0  # 0: decay over train.max_steps
    dtype: str = "float32"
    nan_at: int = -1  # inject a NaN into g_loss when train_step gets this step
    nan_rank: int = -1  # ... on this rank only (-1: every rank)
    sleep_s: float = 0.0  # wall-clock seconds added to every step (signal and timing tests)


@register_recipe("toy-wgan-gp")
class ToyWGANGP(Recipe):
    Config = ToyConfig

    def __init__(self, cfg: ToyConfig, ctx: Any) -> None:
        super().__init__(cfg, ctx)
        self.dtype = getattr(torch, cfg.dtype)
        g = nn.Sequential(
            nn.Linear(cfg.z_dim, 32), nn.ReLU(), nn.Linear(32, C * H * W), nn.Tanh()
        ).to(self.dtype)
        d = nn.Sequential(
            nn.Conv2d(C, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * H * W, 1)
        ).to(self.dtype)
        self.G, self.D = ctx.wrap(g), ctx.wrap(d)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=cfg.betas)
        self.decay = ctx.linear_decay(cfg.decay_steps or max(ctx.max_steps, 1))
        # extra state: a running mean of the Wasserstein estimate and a call counter
        self.w_avg = torch.zeros((), dtype=torch.float64)
        self.calls = 0

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def lr_schedules(self):
        return {"G": self.decay, "D": self.decay}

    def ema_modules(self) -> list[str]:
        return ["G"]

    def _real(self, batches: Iterator[Any]) -> torch.Tensor:
        return next(batches).to(self.dtype) * 2 - 1

    def _fake(self, n_global: int) -> torch.Tensor:
        z = self.ctx.randn(n_global, self.cfg.z_dim, dtype=self.dtype)
        return self.G(z).view(-1, C, H, W)

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        cfg, ctx = self.cfg, self.ctx
        n = ctx.global_batch_size
        for _ in range(cfg.n_critic):
            real = self._real(batches)
            with torch.no_grad():
                fake = self._fake(n)
            eps = ctx.rand(n, 1, 1, 1, dtype=self.dtype)
            x_hat = (eps * fake + (1 - eps) * real).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
            norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + 1e-12)
            gp = (norm - 1).pow(2).mean()
            wdist = self.D(real).mean() - self.D(fake).mean()
            d_loss = -wdist + cfg.gp_weight * gp
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        g_loss = -self.D(self._fake(n)).mean()
        if step == cfg.nan_at and cfg.nan_rank in (-1, ctx.rank):
            g_loss = g_loss * math.nan
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.calls += 1
        if cfg.sleep_s > 0:
            time.sleep(cfg.sleep_s)
        # extra state from values averaged over ranks, so that every rank holds the same
        w_mean = ctx.all_reduce_mean(wdist.detach().double().clone()).cpu()
        self.w_avg.mul_(0.9).add_(0.1 * w_mean)
        return {"d_loss": d_loss, "g_loss": g_loss, "gp": gp, "wdist": wdist}

    def sample_inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=generator, dtype=self.dtype)

    def sample(self, inputs: torch.Tensor, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        g = ema.get("G", self.G)
        return g(inputs).view(-1, C, H, W) * 0.5 + 0.5

    def state_dict(self) -> dict[str, Any]:
        return {"w_avg": self.w_avg, "calls": self.calls}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.w_avg.copy_(state["w_avg"])
        self.calls = int(state["calls"])


def toy_run(**train: Any) -> RunConfig:
    """A small run configuration of the toy recipe; ``hp_*`` keys go to the hyper-parameters."""
    hp = {"decay_steps": 20}  # an LR horizon independent of max_steps
    hp.update({k[3:]: train.pop(k) for k in list(train) if k.startswith("hp_")})
    base = dict(
        max_steps=6,
        batch_size=8,
        seed=0,
        device="cpu",
        deterministic=True,
        log_every=2,
        sample_every=3,
        n_samples=4,
        checkpoint_every=0,
        keep_last=0,
        ema_decay=0.9,
        progress=False,
        tensorboard=False,
    )
    base.update(train)
    return RunConfig(
        recipe="toy-wgan-gp",
        train=TrainConfig(**base),
        data=DataConfig(spec="toy", resolution=H, num_workers=0),
        hparams=ToyConfig(**hp),
    )


def assert_trees_equal(a: Any, b: Any, path: str = "", atol: float = 0.0, rtol: float = 0.0):
    """Recursive comparison; tensors with torch.equal (or allclose when a tolerance is given)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), path
        assert a.shape == b.shape and a.dtype == b.dtype, path
        if atol == 0 and rtol == 0:
            assert torch.equal(a, b), f"{path} differs"
        else:
            assert torch.allclose(a, b, atol=atol, rtol=rtol), (
                f"{path}: max |diff| {(a.double() - b.double()).abs().max().item():.3e}"
            )
    elif isinstance(a, Mapping):
        assert isinstance(b, Mapping) and set(a) == set(b), f"{path}: keys {set(a) ^ set(b)}"
        for k in a:
            assert_trees_equal(a[k], b[k], f"{path}/{k}", atol, rtol)
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_trees_equal(x, y, f"{path}[{i}]", atol, rtol)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest absolute difference over the tensors of two equally shaped trees."""
    if isinstance(a, torch.Tensor):
        if a.is_floating_point():
            return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0
        return 0.0 if torch.equal(a, b) else math.inf
    if isinstance(a, Mapping):
        return max((max_abs_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (list, tuple)):
        return max((max_abs_diff(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    return 0.0


def ddp_run(**kw: Any) -> RunConfig:
    """The configuration of the DDP test: float64 (see test_train_ddp.py), global batch 8."""
    base = dict(max_steps=4, hp_dtype="float64", deterministic=False, sample_every=2, log_every=1)
    base.update(kw)
    return toy_run(**base)


def ddp_worker(rank: int, world: int, ports: tuple[int, int], root: str) -> None:
    """One rank of the DDP test, set up exactly as ``torchrun`` would set it up."""
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_PORT=str(ports[0]),
    )
    report: dict[str, Any] = {}
    result = Trainer(ddp_run(), RandomImages(), os.path.join(root, "ddp")).fit()
    report["step"] = result.step
    os.environ["MASTER_PORT"] = str(ports[1])  # a fresh process group for the second run
    try:  # rank 1 alone produces a NaN at the 3rd step: both ranks must stop together
        Trainer(
            ddp_run(hp_nan_at=2, hp_nan_rank=1), RandomImages(), os.path.join(root, "nan")
        ).fit()
        report["nan"] = None
    except NonFiniteLossError as err:
        report["nan"] = str(err)
        report["nan_step"] = err.step
    report["initialized_after"] = torch.distributed.is_initialized()
    with open(os.path.join(root, f"rank{rank}.json"), "w") as fh:
        json.dump(report, fh)


def cli_child(argv: list[str]) -> None:
    """``qagen`` command line of a child process for the signal tests: the toy recipe is
    registered (by importing this module) and ``--data`` gives ``RandomImages(64)``."""
    import qagen.train.main as train_main_mod
    from qagen.cli import main

    torch.set_num_threads(1)
    train_main_mod.build_training_dataset = lambda data: RandomImages(64)
    sys.exit(main(argv))
