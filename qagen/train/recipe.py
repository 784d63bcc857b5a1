"""The recipe interface, the recipe registry and the context a recipe is built with.

A recipe owns its networks, optimisers, schedulers and any extra state, and performs one
*generator step* per :meth:`Recipe.train_step` call, pulling as many batches as it needs. The
trainer owns everything around it (loop, data order, LR values, EMA, checkpoints, logging, DDP,
sample grids), so adversarial (WGAN-GP, QAGAN, BEGAN, QMF), paired (pix2pix) and plain
(super-resolution, autoencoder) training all run in the same loop. See ``docs/training.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data._utils.collate import default_collate

from qagen.errors import InputError
from qagen.registry import RECIPES

from .config import EmptyConfig, RunConfig
from .distributed import all_gather_cat, all_reduce_mean
from .loader import BatchStream, to_device
from .schedules import linear_decay

__all__ = [
    "Recipe",
    "TrainContext",
    "register_recipe",
    "get_recipe",
    "available_recipes",
]


class TrainContext:
    """What a recipe is given at construction: device, rank layout, batch sizes, data, RNG.

    Attributes: ``run`` (the resolved :class:`RunConfig`), ``device``, ``rank``, ``world_size``,
    ``local_rank``, ``is_main``, ``distributed``, ``global_batch_size`` and ``local_batch_size``
    (``global / world_size``: what one ``next(batches)`` returns on this rank), ``dataset`` (the
    training dataset, unsharded), ``batches_per_epoch`` (global batches per epoch), ``max_steps``,
    ``seed``, and ``generator``: a generator on ``device`` in the same state on every rank, for
    noise that is drawn per *global* batch (see :meth:`randn`). Its state is checkpointed.
    """

    def __init__(
        self,
        run: RunConfig,
        *,
        device: torch.device,
        rank: int,
        world_size: int,
        local_rank: int,
        dataset: Any,
        generator: torch.Generator,
        batches_per_epoch: int,
        stream_factory: Callable[..., BatchStream] | None = None,
    ) -> None:
        self.run = run
        self.device = device
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.dataset = dataset
        self.generator = generator
        self.global_batch_size = run.train.batch_size
        self.local_batch_size = run.train.batch_size // world_size
        self.batches_per_epoch = batches_per_epoch
        self.max_steps = run.train.max_steps
        self.seed = run.train.seed
        self._stream_factory = stream_factory

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    # -- modules
    def wrap(self, module: nn.Module, **ddp_kwargs: Any) -> nn.Module:
        """Move ``module`` to the device and, under DDP, wrap it in DistributedDataParallel.

        Keep the returned object for training; the trainer unwraps it for checkpoints and EMA.
        Gradient penalties (``autograd.grad(..., create_graph=True)`` then ``backward``) work
        through the wrapper. Do not toggle ``requires_grad`` of a wrapped module between steps
        (DDP expects the same set of gradients every backward); zero the unused gradients instead.
        """
        module = module.to(self.device)
        if not self.distributed or not any(p.requires_grad for p in module.parameters()):
            return module
        if self.device.type == "cuda":
            ddp_kwargs.setdefault("device_ids", [self.device.index])
            ddp_kwargs.setdefault("output_device", self.device.index)
        return nn.parallel.DistributedDataParallel(module, **ddp_kwargs)

    # -- noise drawn per global batch
    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a tensor whose first dimension is a global batch."""
        n = tensor.shape[0]
        if n % self.world_size:
            raise ValueError(f"global size {n} is not divisible by {self.world_size} ranks")
        k = n // self.world_size
        return tensor[self.rank * k : (self.rank + 1) * k]

    def randn(self, n_global: int, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """This rank's shard of ``randn(n_global, *shape)`` drawn from :attr:`generator`.

        Every rank draws the full global tensor, so a DDP run sees exactly the noise of the
        single-process run with the same global batch (and the shared stream stays in step).
        """
        full = torch.randn(
            (n_global, *shape), generator=self.generator, device=self.device, dtype=dtype
        )
        return self.shard(full)

    def rand(self, n_global: int, *shape: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """This rank's shard of ``rand(n_global, *shape)`` (uniform [0, 1)); see :meth:`randn`."""
        full = torch.rand(
            (n_global, *shape), generator=self.generator, device=self.device, dtype=dtype
        )
        return self.shard(full)

    # -- collectives
    def unshard(self, tensor: torch.Tensor) -> torch.Tensor:
        """The global batch whose shard on this rank is ``tensor`` (every rank's shard,
        concatenated in rank order; no gradient): the inverse of :meth:`shard`, for a rule
        that pairs images across the whole batch."""
        return all_gather_cat(tensor.detach())

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """In-place mean over ranks (no-op single-process); e.g. for controller inputs."""
        return all_reduce_mean(tensor)

    # -- data
    def fixed_batch(self, n: int, generator: torch.Generator | None = None) -> Any:
        """``n`` dataset items collated and moved to the device, for fixed sample grids of
        conditional recipes: a random but fixed choice with ``generator``, else the first ``n``."""
        n = min(n, len(self.dataset))
        if generator is not None:
            idx = torch.randperm(len(self.dataset), generator=generator)[:n].tolist()
        else:
            idx = list(range(n))
        return to_device(default_collate([self.dataset[i] for i in idx]), self.device)

    def data_stream(self, name: str, dataset: Any, global_batch: int, **kwargs: Any) -> BatchStream:
        """A second resumable, sharded batch stream (e.g. an IQA database for a score
        regressor); its position is checkpointed under ``name``."""
        if self._stream_factory is None:
            raise RuntimeError("data streams can only be created while the trainer builds a recipe")
        return self._stream_factory(name, dataset, global_batch, **kwargs)

    # -- schedules
    @staticmethod
    def linear_decay(total: int, start: int = 0, floor: float = 0.0) -> Callable[[int], float]:
        """Shortcut for :func:`qagen.train.schedules.linear_decay`."""
        return linear_decay(total, start, floor)


class Recipe:
    """Base class of a training recipe.

    Subclasses set ``Config`` (a dataclass of hyper-parameters; ``[hparams]`` in TOML), build
    their networks in ``__init__(cfg, ctx)`` (wrapping trained ones with ``ctx.wrap``) and
    implement :meth:`train_step` and, for sample grids, :meth:`sample_inputs` and :meth:`sample`.
    Everything the trainer saves is declared by :meth:`modules`, :meth:`optimizers`,
    :meth:`schedulers` and :meth:`state_dict`.
    """

    Config: ClassVar[type] = EmptyConfig
    #: Registered name (set by :func:`register_recipe`).
    name: ClassVar[str] = ""

    def __init__(self, cfg: Any, ctx: TrainContext) -> None:
        self.cfg = cfg
        self.ctx = ctx

    @classmethod
    def build_dataset(cls, run: RunConfig, split: str | None = None, **kwargs: Any) -> Any:
        """The run's dataset for ``split`` (default ``run.data.split``). Default: the images of
        ``qagen.data.build_dataset(data.spec, data.resolution, split, **kwargs)``. A recipe that
        trains on something else (paired images, images with target maps or scores) overrides
        it; the trainer, :func:`qagen.train.restore_run` and ``RestoredRun.dataset`` call it."""
        from qagen.data import build_dataset

        if not run.data.spec:
            raise InputError("no training data: pass --data SPEC (or set data.spec in the preset)")
        return build_dataset(run.data.spec, run.data.resolution, split or run.data.split, **kwargs)

    @classmethod
    def has_own_dataset(cls) -> bool:
        """Whether the recipe overrides :meth:`build_dataset`."""
        return cls.build_dataset.__func__ is not Recipe.build_dataset.__func__

    @classmethod
    def validate_config(cls, cfg: Any, run: Any) -> None:
        """Check the hyper-parameters ``cfg`` (an instance of ``Config``) of the run ``run``
        before anything is built or written; raise :class:`qagen.errors.InputError` naming the
        key. The trainer calls it first, so a bad value leaves no files behind. Default: no
        check."""

    # -- declarations (what is checkpointed)
    def modules(self) -> dict[str, nn.Module]:
        """Named networks (DDP wrappers allowed; the trainer unwraps them)."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers (one may serve several networks)."""
        return {}

    def schedulers(self) -> dict[str, Any]:
        """Named objects with ``state_dict``/``load_state_dict``: LR schedulers the recipe steps
        itself, ``torch.amp.GradScaler`` instances, ... (checkpointed, never stepped by the
        trainer)."""
        return {}

    def lr_schedules(self) -> dict[str, Callable[[int], float]]:
        """``{optimizer name: f}``: before the step with ``step`` completed steps the trainer
        sets ``lr = initial_lr * f(step)`` on every group of that optimiser."""
        return {}

    def ema_modules(self) -> list[str]:
        """Names (keys of :meth:`modules`) to keep an exponential moving average of."""
        return []

    # -- training
    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, float | torch.Tensor]:
        """One generator step. ``batches`` yields this rank's shard of successive global batches
        (already on the device); pull as many as needed (e.g. ``n_critic + 1``). ``step`` is the
        number of generator steps completed before this one (0 at the first call).

        Return scalar loss terms and diagnostics (floats or 0-d tensors; the same keys on every
        rank). The trainer averages them over ranks, logs them and stops the run if any is NaN
        or infinite.
        """
        raise NotImplementedError

    # -- sample grids
    def sample_inputs(self, n: int, generator: torch.Generator) -> Any:
        """Fixed inputs of the sample grids (e.g. ``torch.randn(n, z_dim, generator=generator)``
        or ``self.ctx.fixed_batch(n, generator)``), created once; ``None`` disables the grids.
        ``generator`` is a CPU generator seeded from the run seed."""
        return None

    def sample(
        self, inputs: Any, ema: Mapping[str, nn.Module]
    ) -> torch.Tensor | Mapping[str, torch.Tensor]:
        """Images for a grid, ``N x C x H x W`` in ``[0, 1]`` (or ``{name: images}``).

        ``ema`` maps the names of :meth:`ema_modules` to their EMA copies (empty when the EMA is
        off). Runs under ``torch.no_grad`` on every rank; RNG states, module buffers and
        train/eval flags are restored afterwards, so sampling never changes the training.
        """
        raise NotImplementedError

    # -- extra state
    def state_dict(self) -> dict[str, Any]:
        """Extra state beyond modules/optimisers/schedulers (controllers such as BEGAN's k_t,
        running statistics): tensors and primitive containers only (``weights_only`` loading)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if state:
            raise NotImplementedError(
                f"recipe {type(self).__name__} has extra state in the checkpoint but does not "
                "implement load_state_dict"
            )


def register_recipe(name: str) -> Callable[[type[Recipe]], type[Recipe]]:
    """Class decorator: register a :class:`Recipe` subclass under ``name`` in
    :data:`qagen.registry.RECIPES` (a plug-in's recipe; qagen's own are named there as
    ``"module:Class"`` strings and imported on first use)."""

    def deco(cls: type[Recipe]) -> type[Recipe]:
        if not (isinstance(cls, type) and issubclass(cls, Recipe)):
            raise TypeError(f"{cls!r} is not a Recipe subclass")
        RECIPES.add(name, cls)
        cls.name = name
        return cls

    return deco


def available_recipes() -> list[str]:
    """Registered recipe names, sorted (nothing is imported)."""
    return sorted(RECIPES.available())


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class registered under ``name``, imported on first use;
    :class:`qagen.errors.UnknownNameError` (one line listing the registered names) otherwise."""
    cls = RECIPES.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise TypeError(f"recipe {name!r} is registered as {cls!r}, not a Recipe subclass")
    if cls.name != name:
        cls.name = name
    return cls
