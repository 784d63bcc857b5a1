"""Layer 3: the generic trainer and its recipes (see ``docs/training.md``).

- :class:`Recipe` / :func:`register_recipe`: the interface a training method implements.
- :class:`Trainer`: loop, resumable data order, LR schedule by step, EMA, checkpoints, DDP,
  logging, sample grids; :func:`train_main` is the ``qagen train`` entry point.
- :mod:`qagen.train.config`: run configuration, TOML presets, ``--set`` overrides.
- :func:`restore_run`: a trained run rebuilt from a checkpoint (recipe, weights, EMA, dataset,
  seeded generation), with the trainer's own construction code (:mod:`qagen.train.build`).
"""

from .checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from .config import DataConfig, RunConfig, TrainConfig, apply_overrides
from .ema import EMA, unwrap
from .main import resolve_run_config, train_main
from .recipe import Recipe, TrainContext, available_recipes, get_recipe, register_recipe
from .restore import RestoredRun, restore_run
from .schedules import apply_lr, linear_decay
from .trainer import NonFiniteLossError, Trainer, TrainResult

__all__ = [
    "Recipe",
    "TrainContext",
    "register_recipe",
    "get_recipe",
    "available_recipes",
    "Trainer",
    "TrainResult",
    "NonFiniteLossError",
    "train_main",
    "restore_run",
    "RestoredRun",
    "resolve_run_config",
    "RunConfig",
    "TrainConfig",
    "DataConfig",
    "apply_overrides",
    "linear_decay",
    "apply_lr",
    "EMA",
    "unwrap",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
]
