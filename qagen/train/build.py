"""Building a recipe the way the trainer does: the one construction code shared by
:class:`qagen.train.Trainer` (training, resuming) and :func:`qagen.train.restore_run` (sampling a
trained run for evaluation and reports).

Seeds (all derived from ``train.seed`` with :func:`qagen.train.loader.derive_seed`):

* ``"shared"``: the device generator of :class:`TrainContext` (noise drawn per global batch);
* ``"init"``: the global torch/numpy/random seed while the recipe builds its networks, so the
  initial weights are the same on every rank and in every restore;
* ``"samples"``: the CPU generator of the fixed inputs of the sample grids.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from .config import RunConfig, TrainConfig
from .ema import EMA, unwrap
from .loader import BatchStream, derive_seed, to_device
from .recipe import Recipe, TrainContext

__all__ = [
    "BuiltRecipe",
    "build_ema",
    "build_recipe",
    "fixed_sample_inputs",
    "preserved_rng",
    "sample_isolated",
    "seed_all",
]


def seed_all(seed: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy and ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


@contextlib.contextmanager
def preserved_rng(device: torch.device | None = None) -> Iterator[None]:
    """Restore the torch (CPU and ``device``), numpy and ``random`` RNG states on exit."""
    state = ckpt.capture_rng_state(device)
    try:
        yield
    finally:
        ckpt.restore_rng_state(state, device)


@dataclass
class BuiltRecipe:
    """A recipe instance with its context and the shared noise generator."""

    recipe: Recipe
    ctx: TrainContext
    generator: torch.Generator


def build_recipe(
    run: RunConfig,
    recipe_cls: type[Recipe],
    *,
    device: torch.device,
    dataset: Any,
    batches_per_epoch: int,
    stream_factory: Callable[..., BatchStream] | None,
    rank: int = 0,
    world_size: int = 1,
    local_rank: int = 0,
) -> BuiltRecipe:
    """Construct ``recipe_cls(run.hparams, ctx)`` exactly as the trainer does.

    The shared generator is seeded from ``derive_seed(seed, "shared")``; the global RNGs are
    seeded from ``derive_seed(seed, "init")`` (they are left in that state, as the trainer
    expects; wrap the call in :func:`preserved_rng` to keep the caller's state). Data streams can
    be created (``ctx.data_stream``) only during construction. Raises ``ValueError`` when
    ``ema_modules()`` names a module that ``modules()`` does not have.
    """
    seed = run.train.seed
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, "shared"))
    seed_all(derive_seed(seed, "init"))  # identical initialisation on every rank
    ctx = TrainContext(
        run,
        device=device,
        rank=rank,
        world_size=world_size,
        local_rank=local_rank,
        dataset=dataset,
        generator=generator,
        batches_per_epoch=batches_per_epoch,
        stream_factory=stream_factory,
    )
    recipe = recipe_cls(run.hparams, ctx)
    ctx._stream_factory = None
    modules = recipe.modules()
    unknown = [n for n in recipe.ema_modules() if n not in modules]
    if unknown:
        raise ValueError(f"ema_modules() names {unknown}, not in modules() {list(modules)}")
    return BuiltRecipe(recipe, ctx, generator)


def build_ema(recipe: Recipe, cfg: TrainConfig) -> EMA | None:
    """The EMA of the recipe's ``ema_modules()`` (``None`` when it names none or
    ``cfg.ema_decay`` is 0)."""
    names = list(recipe.ema_modules())
    if not names or cfg.ema_decay <= 0:
        return None
    modules = recipe.modules()
    return EMA({n: modules[n] for n in names}, cfg.ema_decay, cfg.ema_start)


def fixed_sample_inputs(recipe: Recipe, cfg: TrainConfig, device: torch.device) -> Any:
    """The fixed inputs of the run's sample grids: ``recipe.sample_inputs(cfg.n_samples, g)``
    with a CPU generator seeded from ``derive_seed(cfg.seed, "samples")``, on ``device``
    (``None`` when the recipe draws no grids)."""
    gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "samples"))
    return to_device(recipe.sample_inputs(cfg.n_samples, gen), device)


@torch.no_grad()
def sample_isolated(
    recipe: Recipe,
    inputs: Any,
    ema: Mapping[str, nn.Module],
    *,
    device: torch.device,
    shared_generator: torch.Generator | None = None,
) -> torch.Tensor | Mapping[str, torch.Tensor]:
    """``recipe.sample(inputs, ema)`` without side effects: the train/eval flags and buffers of
    every module (EMA copies included), the global RNG states and the shared generator's state
    are restored afterwards, so sampling never changes training (or a later sample)."""
    mods = [unwrap(m) for m in recipe.modules().values()] + list(ema.values())
    flags = [(sub, sub.training) for m in mods for sub in m.modules()]
    bufs = [(b, b.detach().clone()) for m in mods for b in m.buffers()]
    shared = shared_generator.get_state() if shared_generator is not None else None
    try:
        with preserved_rng(device):
            return recipe.sample(inputs, ema)
    finally:
        for sub, training in flags:
            sub.training = training
        for b, saved in bufs:
            b.copy_(saved)
        if shared_generator is not None:
            shared_generator.set_state(shared)
