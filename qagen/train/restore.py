"""Restoring a trained run from a checkpoint: the recipe with its weights, its EMA copies, its
dataset and a seeded way to generate images (``qagen.train.restore_run``).

The recipe is built by the trainer's own construction code (:mod:`qagen.train.build`: the same
seeds, context and EMA), then the checkpoint's module, EMA and extra recipe state are loaded
(``torch.load(weights_only=True)``). Optimisers, schedulers and data positions are not
restored: a restored run is for sampling and evaluation; to continue training use
``qagen train --resume``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qagen.errors import InputError

from . import checkpoint as ckpt
from .build import build_ema, build_recipe, fixed_sample_inputs, preserved_rng, sample_isolated
from .config import RunConfig, load_toml, run_config_from_dict
from .distributed import resolve_device
from .ema import unwrap
from .loader import BatchStream, to_device
from .recipe import Recipe, get_recipe

__all__ = ["RestoredRun", "resolve_run_checkpoint", "restore_run"]


def resolve_run_checkpoint(run_dir: str | Path, checkpoint: str | int | Path = "last") -> Path:
    """The checkpoint file of ``run_dir``: ``"last"`` (the newest ``checkpoints/step_*.pt``), a
    step number (``30`` or ``"30"``) or a path. ``FileNotFoundError`` says what is missing (and
    which steps exist)."""
    run_dir = Path(run_dir)
    ckdir = run_dir / "checkpoints"
    if isinstance(checkpoint, str) and checkpoint == "last":
        path = ckpt.latest_checkpoint(ckdir)
        if path is None:
            raise FileNotFoundError(
                f"no checkpoint in {ckdir} (expected step_XXXXXXXX.pt files written by qagen train)"
            )
        return path
    if isinstance(checkpoint, int) or (isinstance(checkpoint, str) and checkpoint.isdigit()):
        path = ckpt.checkpoint_path(ckdir, int(checkpoint))
        if not path.is_file():
            have = ", ".join(str(s) for s, _ in ckpt.list_checkpoints(ckdir)) or "none"
            raise FileNotFoundError(
                f"no checkpoint {path.name} in {ckdir}; steps available: {have}"
            )
        return path
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return path


class _LazyDataset(torch.utils.data.Dataset):
    """The run's training dataset, built on first use (sampling an unconditional generator never
    touches it, so a run can be restored where its data is not available)."""

    def __init__(self, run: RunConfig, recipe_cls: type[Recipe]) -> None:
        self._run, self._cls = run, recipe_cls
        self._ds: Any = None

    def _get(self) -> Any:
        if self._ds is None:
            if self._cls.has_own_dataset():
                self._ds = self._cls.build_dataset(self._run)
            else:
                from .main import build_training_dataset

                self._ds = build_training_dataset(self._run.data)
        return self._ds

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, i: int) -> Any:
        return self._get()[i]

    @property
    def grey(self) -> bool:
        """The built dataset's ``grey`` flag (:func:`qagen.data.build.dataset_is_grey`)."""
        from qagen.data.build import dataset_is_grey

        return dataset_is_grey(self._get())


def _slice(inputs: Any, lo: int, hi: int) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs[lo:hi]
    if isinstance(inputs, Mapping):
        return {k: _slice(v, lo, hi) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_slice(v, lo, hi) for v in inputs)
    return inputs


def _count(inputs: Any) -> int | None:
    """The batch size of (nested) sample inputs: the first dimension of the first tensor."""
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    items = inputs.values() if isinstance(inputs, Mapping) else inputs
    if isinstance(inputs, (Mapping, list, tuple)):
        for v in items:
            n = _count(v)
            if n is not None:
                return n
    return None


@dataclass
class RestoredRun:
    """A trained run rebuilt from one of its checkpoints (:func:`restore_run`).

    Attributes: ``run_dir``, ``run`` (the resolved :class:`RunConfig` that made the weights),
    ``recipe`` (the recipe instance, weights loaded), ``ema`` (``{name: EMA copy}`` of the
    recipe's ``ema_modules()``; empty when the run kept none), ``step`` (completed generator
    steps), ``checkpoint`` (the file), ``device`` and ``config`` (the plain configuration dict).
    """

    run_dir: Path
    run: RunConfig
    recipe: Recipe
    ema: dict[str, nn.Module]
    step: int
    checkpoint: Path
    device: torch.device
    config: dict = field(default_factory=dict)

    @property
    def has_ema(self) -> bool:
        """Whether the checkpoint holds EMA copies of the generator."""
        return bool(self.ema)

    def dataset(self, split: str | None = None, **kwargs: Any) -> Any:
        """The run's dataset (``data.spec`` at ``data.resolution``) for ``split`` (default the
        training split, ``data.split``); ``kwargs`` go to ``qagen.data.build_dataset``
        (``value_range=(0, 1)``, ``flip=False``, ...)."""
        if not self.run.data.spec:
            raise InputError("the run's configuration names no dataset (data.spec)")
        return type(self.recipe).build_dataset(self.run, split or self.run.data.split, **kwargs)

    def sample_inputs(self, n: int, seed: int | None = None) -> Any:
        """Inputs of ``n`` samples on the device: ``recipe.sample_inputs(n, Generator(seed))``;
        ``seed=None`` gives the trainer's fixed grid inputs (``train.n_samples`` of them; ``n``
        is then ignored)."""
        if seed is None:
            return fixed_sample_inputs(self.recipe, self.run.train, self.device)
        inputs = self.recipe.sample_inputs(int(n), torch.Generator().manual_seed(int(seed)))
        return to_device(inputs, self.device)

    @torch.no_grad()
    def generate(
        self,
        n: int,
        *,
        seed: int | None = 0,
        ema: bool | None = None,
        batch_size: int = 64,
        key: str | None = None,
        inputs: Any = None,
        progress: bool = False,
        allow_fewer: bool = False,
    ) -> torch.Tensor:
        """``n`` images ``N x C x H x W`` (float32, CPU, clamped to [0, 1]) from the generator.

        * ``ema``: ``True`` the EMA copies (an :class:`InputError` naming the run when it keeps
          none: never a silent fallback); ``False`` the raw weights; ``None`` (default) as the
          trainer's sample grids: the EMA copies when the run keeps them, else the raw weights
          (for pictures; evaluations name the generator they want).
        * Inputs: ``inputs`` when given, else :meth:`sample_inputs` ``(n, seed)``
          (``seed=None``: the trainer's fixed grid inputs, so ``generate(train.n_samples,
          seed=None)`` reproduces the newest sample grid).
        * The images come in batches of ``batch_size`` through the recipe's ``sample``, with
          the trainer's side-effect-free sampling; the global RNG is seeded with ``seed``
          meanwhile (for recipes that draw noise inside ``sample``). A generator whose batch
          norm uses batch statistics depends on ``batch_size``.
        * A recipe returning several grids (``{name: images}``) needs ``key`` (default: the
          first). ``progress`` shows a bar over the batches on stderr.
        * A conditional recipe draws its inputs from its data and may give fewer than ``n``
          (the SR recipes at most 16 strips, a small dataset its size): an
          :class:`InputError` saying how many it gives, never a silent cap; with
          ``allow_fewer=True`` (pictures: report sections) the images it gives are returned.
        """
        if n < 1:
            raise InputError(f"n must be >= 1, got {n}")
        if inputs is None:
            inputs = self.sample_inputs(n, seed)
        if inputs is None:
            raise InputError(
                f"recipe {self.run.recipe!r} has no sample inputs (sample_inputs returned None), "
                "so it cannot be sampled"
            )
        inputs = to_device(inputs, self.device)
        given = _count(inputs)
        if given is not None and given < n and not allow_fewer:
            raise InputError(
                f"run {self.run_dir} (recipe {self.run.recipe!r}) gives at most {given} samples "
                f"(its samples are conditional on its data), not {n}: ask for {given} or fewer"
            )
        total = min(given or n, n)
        if ema and not self.has_ema:
            raise InputError(
                f"run {self.run_dir}: the checkpoint holds no EMA of the generator "
                f"(train.ema_decay = {self.run.train.ema_decay}); use the raw generator "
                "(qagen eval --generator raw)"
            )
        modules = self.ema if (ema or (ema is None and self.has_ema)) else {}
        out = []
        starts = range(0, total, batch_size)
        if progress:
            import sys

            from tqdm import tqdm

            desc = f"sampling the {'EMA' if modules else 'raw'} generator"
            starts = tqdm(starts, desc=desc, unit="batch", file=sys.stderr, dynamic_ncols=True)
        with preserved_rng(self.device):
            torch.manual_seed(int(seed or 0))
            for lo in starts:
                part = _slice(inputs, lo, min(lo + batch_size, total))
                img = sample_isolated(self.recipe, part, modules, device=self.device)
                if isinstance(img, Mapping):
                    name = key if key is not None else next(iter(img))
                    if name not in img:
                        raise InputError(f"the recipe's samples have no grid {name!r}: {list(img)}")
                    img = img[name]
                out.append(img.detach().float().clamp(0.0, 1.0).cpu())
        return torch.cat(out)


def restore_run(
    run_dir: str | Path,
    checkpoint: str | int | Path = "last",
    *,
    device: str | torch.device = "cpu",
    recipe_cls: type[Recipe] | None = None,
) -> RestoredRun:
    """Rebuild the recipe of ``run_dir`` and load a checkpoint into it.

    ``checkpoint``: ``"last"``, a step number or a file (:func:`resolve_run_checkpoint`), or
    ``"init"``: the weights at initialisation, rebuilt by the trainer's construction code with
    the run's seed (the configuration of the newest checkpoint, no weights loaded, no EMA, step
    0): the untrained generator a learning curve starts from. The
    configuration is the one stored in the checkpoint (it made those weights; ``config.toml``
    holds the same unless the run was resumed with changed settings), else ``config.toml``.
    The recipe class comes from the registry (or ``recipe_cls``) and is built by
    :func:`qagen.train.build.build_recipe`, the trainer's own construction code, with the
    training dataset loaded lazily (``ctx.batches_per_epoch`` is 1: not known without the
    data). The global RNG states are left as they were. ``device``: ``"cpu"``, ``"cuda"``,
    ``"auto"``, ... Errors: ``FileNotFoundError`` (no run directory or checkpoint),
    :class:`qagen.errors.InputError` (no configuration, weights that do not fit the recipe).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    init = isinstance(checkpoint, str) and checkpoint == "init"
    path = resolve_run_checkpoint(run_dir, "last" if init else checkpoint)
    state = ckpt.load_checkpoint(path, map_location="cpu")
    if init:  # the configuration only: the modules keep the weights build_recipe gives them
        state = {"config": state.get("config"), "modules": None, "step": 0}
    cfg = state.get("config")
    if not cfg and (run_dir / "config.toml").is_file():
        cfg = load_toml(run_dir / "config.toml")
    if not cfg:
        raise InputError(f"{path} holds no configuration and {run_dir}/config.toml is missing")
    cls = recipe_cls or get_recipe(cfg["recipe"])
    run = run_config_from_dict(cfg, cls.Config)
    dev = resolve_device(str(device))

    def stream_factory(name: str, dataset: Any, global_batch: int, **kw: Any) -> BatchStream:
        return BatchStream(
            dataset,
            global_batch,
            seed=run.train.seed,
            device=dev,
            num_workers=0,
            stream=name,
            shuffle=kw.get("shuffle", True),
            collate_fn=kw.get("collate_fn"),
        )

    with preserved_rng(dev):
        built = build_recipe(
            run,
            cls,
            device=dev,
            dataset=_LazyDataset(run, cls),
            batches_per_epoch=1,
            stream_factory=stream_factory,
        )
    recipe = built.recipe
    modules = recipe.modules()
    if init:
        return RestoredRun(run_dir=run_dir, run=run, recipe=recipe, ema={}, step=0,
                           checkpoint=path, device=dev, config=dict(cfg))  # fmt: skip
    saved = state.get("modules", {})
    missing = [n for n in modules if n not in saved]
    if missing:
        raise InputError(f"{path} has no weights for {missing} of recipe {run.recipe!r}")
    try:
        for name, m in modules.items():
            unwrap(m).load_state_dict(saved[name])
        recipe.load_state_dict(state.get("recipe", {}))
    except (RuntimeError, KeyError) as err:
        raise InputError(f"{path} does not fit recipe {run.recipe!r} as configured: {err}") from err
    ema: dict[str, nn.Module] = {}
    shadow = build_ema(recipe, run.train)
    if shadow is not None and all(n in (state.get("ema") or {}) for n in shadow.modules):
        shadow.load_state_dict(state["ema"])
        ema = dict(shadow.modules)
    return RestoredRun(
        run_dir=run_dir,
        run=run,
        recipe=recipe,
        ema=ema,
        step=int(state.get("step", -1)),
        checkpoint=path,
        device=dev,
        config=dict(cfg),
    )
