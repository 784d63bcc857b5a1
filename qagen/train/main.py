"""Entry point of ``qagen train``: resolve the configuration, build the data, run the trainer."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import checkpoint as ckpt
from .config import (
    DataConfig,
    RunConfig,
    apply_overrides,
    load_toml,
    preset_path,
    run_config_from_dict,
)
from .recipe import get_recipe
from .trainer import NonFiniteLossError, Trainer

__all__ = ["train_main", "resolve_run_config", "build_training_dataset", "default_run_dir"]


def _shipped_preset(name: str) -> Path | None:
    p = Path(__file__).resolve().parent / "presets" / f"{name}.toml"
    return p if p.is_file() else None


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
       ``preset`` (a TOML path or a shipped preset name; when ``preset`` is ``None`` the shipped
       preset named after the recipe, if any);
    2. ``data`` -> ``data.spec``;
    3. ``overrides`` (``key=value`` strings);
    4. ``max_steps`` -> ``train.max_steps``, ``max_minutes`` -> ``train.max_minutes``.

    The recipe comes from ``recipe`` or from the preset's / saved top-level ``recipe``; the two
    must agree when both are given.
    """
    if base is not None:
        name = base.get("recipe")
        if recipe is not None and recipe != name:
            raise ValueError(f"the checkpoint is from recipe {name!r}, not {recipe!r}")
        source: Mapping[str, Any] = base
    else:
        source = {}
        path = preset_path(preset) if preset is not None else None
        if path is None and recipe is not None:
            path = _shipped_preset(recipe)
        if path is not None:
            source = load_toml(path)
            named = source.get("recipe")
            if recipe is not None and named is not None and named != recipe:
                raise ValueError(f"preset {path} is for recipe {named!r}, not {recipe!r}")
        name = recipe if recipe is not None else source.get("recipe")
    if not name:
        raise ValueError("no recipe given: name one, or use a preset that sets 'recipe'")
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
        raise ValueError("no training data: pass --data SPEC (or set data.spec in the preset)")
    try:
        from qagen.data import build_dataset
    except ImportError as err:  # pragma: no cover - depends on the data package
        raise RuntimeError(f"qagen.data.build_dataset is not available: {err}") from err
    return build_dataset(data.spec, data.resolution, data.split)


def default_run_dir(run: RunConfig) -> Path:
    """``runs/<recipe>``."""
    return Path("runs") / run.recipe


def _run_dir_of(path: Path) -> Path:
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") in ("", "0")


def train_main(
    recipe: str | None,
    data: str | None = None,
    preset: str | None = None,
    out: str | None = None,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    overrides: Sequence[str] = (),
    resume: str | None = None,
) -> int:
    """Run ``qagen train``; returns the exit status (0 done, 1 stopped on a NaN/Inf loss).

    ``recipe`` a registered name (may be ``None`` when the preset or checkpoint names it);
    ``data`` the dataset spec for ``qagen.data.build_dataset``; ``preset`` a TOML path or a
    shipped preset name; ``out`` the run directory (default ``runs/<recipe>``); ``max_steps`` /
    ``max_minutes`` override the configuration; ``overrides`` are ``key=value`` strings
    (``--set``); ``resume`` a checkpoint file or run directory to continue from, or ``"auto"``:
    continue from ``out``'s newest checkpoint if there is one, else start fresh (the preset is
    then only used for a fresh start, so the same command line can be re-submitted after a
    preemption). Configuration errors raise ``ValueError`` with a message meant for the user.
    Under ``torchrun`` every rank calls this with the same arguments.
    """
    auto = resume == "auto"
    loaded: dict[str, Any] | None = None
    if resume is not None and not auto:
        path = ckpt.resolve_checkpoint(resume)
        if path is None:
            raise ValueError(f"--resume: no checkpoint found at {resume}")
        if preset is not None:
            raise ValueError(
                "--preset cannot be combined with --resume: the run continues with its saved "
                "configuration (change fields with --set)"
            )
        loaded = ckpt.load_checkpoint(path)
        if out is None:
            out = str(_run_dir_of(path))
    if auto and out is not None:
        path = ckpt.resolve_checkpoint(out)
        loaded = ckpt.load_checkpoint(path) if path is not None else None

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

    run = resolve(loaded["config"] if loaded else None)
    out_dir = Path(out) if out is not None else default_run_dir(run)
    if auto and out is None:
        path = ckpt.resolve_checkpoint(out_dir)
        if path is not None:
            loaded = ckpt.load_checkpoint(path)
            run = resolve(loaded["config"])
    if loaded is None:
        existing = ckpt.latest_checkpoint(out_dir / "checkpoints")
        if existing is not None:
            raise ValueError(
                f"{out_dir} already holds checkpoints (newest: {existing.name}); continue it with "
                f"--resume {out_dir} (or --resume auto), or choose another --out"
            )
    dataset = build_training_dataset(run.data)
    trainer = Trainer(run, dataset, out_dir, resume=loaded)
    try:
        result = trainer.fit()
    except NonFiniteLossError as err:
        if _is_main_process():
            print(f"qagen train: {err}", file=sys.stderr)
        return 1
    if _is_main_process():
        print(
            f"qagen train: stopped at step {result.step} ({result.reason}); "
            f"checkpoint: {result.checkpoint}; run directory: {out_dir}",
            file=sys.stderr,
        )
    return 0
