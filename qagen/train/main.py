"""Entry point of ``qagen train``: resolve the configuration, build the data, run the trainer."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qagen.errors import InputError
from qagen.registry import PRESETS
from qagen.report.runfiles import check_new_run_dir

from . import checkpoint as ckpt
from .config import (
    DataConfig,
    RunConfig,
    apply_overrides,
    load_preset,
    preset_path,
    run_config_from_dict,
)
from .recipe import get_recipe
from .trainer import NonFiniteLossError, Trainer, TrainResult

__all__ = [
    "train_main",
    "TrainStatus",
    "resolve_run_config",
    "build_training_dataset",
    "check_one_batch",
    "default_run_dir",
]


def _shipped_preset(name: str) -> Path | None:
    """The shipped preset named ``name`` (:data:`qagen.registry.PRESETS`), or ``None``."""
    return Path(PRESETS.get(name)) if name in PRESETS else None


def resolve_run_config(
    recipe: str | None = None,
    *,
    preset: str | Path | None = None,
    data: str | None = None,
    overrides: Sequence[str] = (),
    max_steps: int | None = None,
    max_minutes: float | None = None,
    base: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Resolve a run configuration (later wins).

    1. ``base`` (a saved configuration, on resume) or else the dataclass defaults updated by
       ``preset`` (a TOML path or a shipped preset name, its own ``base = ...`` chain resolved by
       :func:`qagen.train.config.load_preset`; when ``preset`` is ``None`` the shipped preset
       named after the recipe, if any);
    2. ``data`` -> ``data.spec``;
    3. ``overrides`` (``key=value`` strings);
    4. ``max_steps`` -> ``train.max_steps``, ``max_minutes`` -> ``train.max_minutes``.

    The recipe comes from ``recipe`` or from the preset's / saved top-level ``recipe``; the two
    must agree when both are given. An unknown recipe name is reported first
    (:class:`qagen.errors.UnknownNameError`), before the preset is looked at; every error is a
    :class:`qagen.errors.InputError`.
    """
    if recipe is not None:
        get_recipe(recipe)  # a misspelt recipe is the error, not the preset it implies
    if base is not None:
        name = base.get("recipe")
        if recipe is not None and recipe != name:
            raise InputError(f"the checkpoint is from recipe {name!r}, not {recipe!r}")
        source: Mapping[str, Any] = base
    else:
        source = {}
        path = preset_path(preset) if preset is not None else None
        if path is None and recipe is not None:
            path = _shipped_preset(recipe)
        if path is not None:
            source = load_preset(path)  # the base chain resolved, no 'base' key
            named = source.get("recipe")
            if recipe is not None and named is not None and named != recipe:
                raise InputError(f"preset {path} is for recipe {named!r}, not {recipe!r}")
        name = recipe if recipe is not None else source.get("recipe")
    if not name:
        raise InputError("no recipe given: name one, or use a preset that sets 'recipe'")
    cls = get_recipe(name)
    run = run_config_from_dict({**source, "recipe": name}, cls.Config)
    if data is not None:
        run = dataclasses.replace(run, data=dataclasses.replace(run.data, spec=str(data)))
    run = apply_overrides(run, list(overrides))
    train = run.train
    if max_steps is not None:
        train = dataclasses.replace(train, max_steps=int(max_steps))
    if max_minutes is not None:
        train = dataclasses.replace(train, max_minutes=float(max_minutes))
    return dataclasses.replace(run, train=train)


def build_training_dataset(data: DataConfig) -> Any:
    """``qagen.data.build_dataset(data.spec, data.resolution, data.split)``."""
    if not data.spec:
        raise InputError("no training data: pass --data SPEC (or set data.spec in the preset)")
    from qagen.data import build_dataset

    return build_dataset(data.spec, data.resolution, data.split)


def check_one_batch(dataset: Any, run: RunConfig) -> None:
    """Refuse data smaller than one global batch (``train.batch_size``), before any file is
    written: an :class:`InputError` naming the data spec, the count and the batch size."""
    n, batch = len(dataset), int(run.train.batch_size)
    if n < batch:
        raise InputError(
            f"--data {run.data.spec}: {n} training sample(s), fewer than one batch of {batch} "
            f"(train.batch_size); add data or lower the batch with --set train.batch_size={n}"
        )


def default_run_dir(run: RunConfig) -> Path:
    """``runs/<recipe>``."""
    return Path("runs") / run.recipe


#: Exit status of a run stopped by a signal (128 + the signal's number, as a shell reports it).
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGUSR1": 138, "SIGUSR2": 140}


class TrainStatus(int):
    """What :func:`train_main` returns: the exit status (an ``int``: 0 done, 1 stopped on a
    NaN/Inf loss, 130 stopped by SIGINT / Ctrl-C, 143 by SIGTERM, 138 / 140 by a scheduler's
    SIGUSR1 / SIGUSR2 warning, after the checkpoint of
    the step in progress: :data:`SIGNAL_EXIT`) that also carries ``run_dir`` (the run directory actually used) and ``result``
    (the :class:`~qagen.train.trainer.TrainResult`, ``None`` when nothing was trained)."""

    run_dir: Path
    result: TrainResult | None

    def __new__(cls, status: int, run_dir: str | Path, result: TrainResult | None = None):
        obj = super().__new__(cls, int(status))
        obj.run_dir = Path(run_dir)
        obj.result = result
        return obj


def _run_dir_of(path: Path) -> Path:
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


def _say(message: str) -> None:
    if _is_main_process():
        print(f"qagen train: {message}", file=sys.stderr)


def _earlier_work(run_dir: Path) -> list[str]:
    """What an earlier run without checkpoints left in ``run_dir`` (logged rows, sample grids)."""
    found = []
    metrics = run_dir / "metrics.csv"
    if metrics.is_file():
        with metrics.open() as fh:
            rows = sum(1 for line in fh if line.strip()) - 1
        if rows > 0:
            found.append(f"metrics.csv ({rows} rows)")
    samples = run_dir / "samples"
    if samples.is_dir():
        grids = [p for p in samples.iterdir() if p.suffix == ".png"]
        if grids:
            found.append(f"samples/ ({len(grids)} grids)")
    return found


def _say_where_logs_go(run: RunConfig, out_dir: Path) -> None:
    """The first line of a run: its folder, its log files and whether TensorBoard events are
    written (where, or why not)."""
    from .logger import tensorboard_status

    _, tb = tensorboard_status(run.train.tensorboard, out_dir)
    _say(f"{run.recipe}: logs in {out_dir} (metrics.csv, samples/, checkpoints/); "
         f"TensorBoard events: {tb}")  # fmt: skip


def train_main(
    recipe: str | None,
    data: str | None = None,
    preset: str | None = None,
    out: str | None = None,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    overrides: Sequence[str] = (),
    resume: str | None = None,
) -> TrainStatus:
    """Run ``qagen train``; returns a :class:`TrainStatus`: the exit status (0 done, 1 stopped
    on a NaN/Inf loss) with the run directory used (``.run_dir``) and the result.

    ``recipe`` a registered name (may be ``None`` when the preset or checkpoint names it);
    ``data`` the dataset spec for ``qagen.data.build_dataset``; ``preset`` a TOML path or a
    shipped preset name; ``out`` the run directory (default ``runs/<recipe>``); ``max_steps`` /
    ``max_minutes`` override the configuration; ``overrides`` are ``key=value`` strings
    (``--set``); ``resume`` a checkpoint file or run directory to continue from, or ``"auto"``:
    continue from ``out``'s newest checkpoint if there is one, else start fresh (the preset is
    then only used for a fresh start, so the same command line can be re-submitted after a
    preemption).

    Work is never lost or mixed up: a fresh start into a directory that holds checkpoints, logged
    rows or sample grids is refused, and so is one into a folder that is not a run directory
    but holds other files (a folder of photos); data smaller than one batch is refused; resuming from a checkpoint older than the run's newest moves
    the newer ones aside (``RUN/abandoned-<timestamp>/``) and continues metrics.csv from the
    resumed step; an unreadable newest checkpoint falls back to the previous good one; a run
    already at or beyond ``max_steps`` is left untouched, with a message. Bad input raises
    :class:`qagen.errors.InputError` (or ``FileNotFoundError``) before anything is written.
    Under ``torchrun`` every rank calls this with the same arguments.
    """
    if recipe is not None:
        get_recipe(recipe)  # UnknownNameError first, before presets and paths are looked at
    auto = resume == "auto"
    point: ckpt.ResumePoint | None = None
    if resume is not None and not auto:
        if preset is not None:
            raise InputError(
                "--preset cannot be combined with --resume: the run continues with its saved "
                "configuration (change fields with --set)"
            )
        point = ckpt.load_resume_point(resume)
        if point is None:
            raise InputError(f"--resume: no checkpoint found at {resume}")
        home = _run_dir_of(point.path)
        if out is None:
            out = str(home)
        elif Path(out).resolve() != home.resolve():
            theirs = ckpt.latest_checkpoint(Path(out) / "checkpoints")
            if theirs is not None:
                raise InputError(
                    f"--out {out} already holds checkpoints of another run (newest: "
                    f"{theirs.name}); resume {point.path} into its own run directory {home} "
                    "or into an empty --out"
                )
    if auto and out is not None:
        point = ckpt.load_resume_point(out)

    def resolve(base: Mapping[str, Any] | None) -> RunConfig:
        return resolve_run_config(
            recipe,
            preset=None if base is not None else preset,
            data=data,
            overrides=overrides,
            max_steps=max_steps,
            max_minutes=max_minutes,
            base=base,
        )

    run = resolve(point.state["config"] if point else None)
    out_dir = Path(out) if out is not None else default_run_dir(run)
    if auto and out is None:
        point = ckpt.load_resume_point(out_dir)
        if point is not None:
            run = resolve(point.state["config"])
    if point is None:
        check_new_run_dir(out_dir)  # never among a user's photos
        existing = ckpt.latest_checkpoint(out_dir / "checkpoints")
        if existing is not None:
            raise InputError(
                f"{out_dir} already holds checkpoints (newest: {existing.name}); continue it with "
                f"--resume {out_dir} (or --resume auto), or choose another --out"
            )
        earlier = _earlier_work(out_dir)
        if earlier and not auto:
            raise InputError(
                f"{out_dir} holds the output of an earlier run that wrote no checkpoint "
                f"({', '.join(earlier)}); choose another --out, remove them, or start again in "
                "that directory with --resume auto (which replaces them)"
            )
        if earlier:
            _say(
                f"no checkpoint in {out_dir}: starting fresh; the earlier attempt's "
                f"{', '.join(earlier)} are replaced"
            )
    else:
        step = int(point.state["step"])
        if step >= run.train.max_steps:
            _say(
                f"nothing to train: {point.path} is at step {step} and train.max_steps is "
                f"{run.train.max_steps}; pass a larger --max-steps to continue the run"
            )
            return TrainStatus(0, out_dir)
    cls = get_recipe(run.recipe)
    cls.validate_config(run.hparams, run)  # bad values before data is read
    dataset = cls.build_dataset(run) if cls.has_own_dataset() else build_training_dataset(run.data)
    check_one_batch(dataset, run)
    _say_where_logs_go(run, out_dir)  # after the input checks: an error stays one line
    trainer = Trainer(run, dataset, out_dir, resume=point)
    try:
        result = trainer.fit()
    except NonFiniteLossError as err:
        _say(str(err))
        return TrainStatus(1, out_dir)
    how = result.reason if result.reason != "signal" else (result.signal or "signal")
    _say(
        f"stopped at step {result.step} ({how}); checkpoint: {result.checkpoint}; "
        f"run directory: {out_dir}"
    )
    rc = SIGNAL_EXIT.get(result.signal or "", 130) if result.reason == "signal" else 0
    return TrainStatus(rc, out_dir, result)
