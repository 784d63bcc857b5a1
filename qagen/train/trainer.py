"""The generic training loop (see ``docs/training.md``).

One iteration = one generator step = one call of ``recipe.train_step(batches, step)``::

    snapshot the state (rollback copy)          if train.rollback
    set lr = initial_lr * f(step)               for every optimiser in recipe.lr_schedules()
    values = recipe.train_step(batches, step)   the recipe pulls the batches it needs
    average values over ranks, agree on NaN/Inf and on stopping (one all_reduce)
    NaN/Inf -> save the snapshot as checkpoint step, raise NonFiniteLossError
    step += 1; EMA update; log; sample grid every sample_every; checkpoint every checkpoint_every
    steps and whenever checkpoint_every_minutes have passed since the last checkpoint

Stopping: at ``max_steps``, after ``max_minutes``, or on SIGTERM / SIGINT (Ctrl-C) / SIGUSR1 /
SIGUSR2 (a scheduler's warning before a time limit or a preemption: SLURM's ``--signal``,
submitit's checkpoint signal; :data:`STOP_SIGNALS`): the step in progress completes, a checkpoint is written and ``fit`` returns (a second Ctrl-C aborts at once
with ``KeyboardInterrupt``). Resuming from a checkpoint older than the run's newest starts a new
branch: the newer checkpoints are moved aside (``checkpoint.abandon_after``) and metrics.csv
continues from the resumed step. Nothing is written before the configuration is validated and
the recipe is built; directories created by a start that fails are removed again.

``step`` counts completed generator steps: ``train_step`` receives the number completed before
it (0 first), a checkpoint ``step_k.pt`` holds the state after k steps, a ``metrics.csv`` row
``k`` describes steps up to the k-th, and "at step k" in messages means the k-th call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qagen.errors import InputError, InputTypeError

from . import checkpoint as ckpt
from .build import build_ema, build_recipe, fixed_sample_inputs, sample_isolated
from .build import seed_all as _seed_all
from .config import RunConfig, TrainConfig, config_from_dict, run_config_to_dict, write_toml
from .distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    gather_to_main,
    init_distributed,
    resolve_device,
    shutdown_distributed,
)
from .ema import EMA, unwrap
from .loader import BatchStream, derive_seed
from .logger import MetricsLogger
from .recipe import Recipe, get_recipe
from .schedules import apply_lr, current_lrs

__all__ = ["Trainer", "TrainResult", "NonFiniteLossError", "config_header", "STOP_SIGNALS"]

#: The signals after which a run finishes its step, checkpoints and stops: Ctrl-C, a scheduler's
#: SIGTERM, and the warnings SLURM (``--signal=USR1@SECONDS``) and submitit (SIGUSR2 by default)
#: send before a time limit or a preemption.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)  # fmt: skip

_log = logging.getLogger("qagen.train")


def config_header(run_dir: Path, torch_version: str) -> str:
    """The comment at the top of ``RUN_DIR/config.toml``: how to train a new run with this
    configuration (into a new folder: ``--out`` is named, else a command typed inside the run
    folder would nest a new run in it) and how to continue this one."""
    here = Path(run_dir).resolve()
    return (
        f"Resolved configuration of this run, written by qagen.train (torch {torch_version}).\n"
        f"A new run with it: qagen train --preset {here / 'config.toml'} --out NEW_RUN_DIR\n"
        f"Continue this run: qagen train --resume {here}"
    )


class NonFiniteLossError(FloatingPointError):
    """A loss term was NaN or infinite; the last good state was checkpointed.

    Attributes: ``terms`` (names of the non-finite values), ``step`` (the 1-based step that
    produced them), ``checkpoint`` (path of the last good checkpoint, step ``step - 1``, or
    ``None`` when nothing could be saved).
    """

    def __init__(self, message: str, terms: list[str], step: int, checkpoint: Path | None):
        super().__init__(message)
        self.terms, self.step, self.checkpoint = terms, step, checkpoint


@dataclass
class TrainResult:
    """Outcome of :meth:`Trainer.fit`."""

    run_dir: Path | None
    step: int
    reason: str  # "max_steps", "max_minutes" or "signal"
    checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    #: the signal that stopped the run ("SIGINT" or "SIGTERM") when ``reason == "signal"``
    signal: str | None = None


def _validate_train(cfg: TrainConfig) -> None:
    checks = [
        ("max_steps", cfg.max_steps >= 0, "must be >= 0"),
        ("batch_size", cfg.batch_size > 0, "must be > 0"),
        ("ema_decay", 0.0 <= cfg.ema_decay < 1.0, "must lie in [0, 1)"),
        ("log_every", cfg.log_every >= 0, "must be >= 0"),
        ("sample_every", cfg.sample_every >= 0, "must be >= 0"),
        ("n_samples", cfg.n_samples > 0, "must be > 0"),
        ("checkpoint_every", cfg.checkpoint_every >= 0, "must be >= 0"),
        (
            "checkpoint_every_minutes",
            cfg.checkpoint_every_minutes >= 0 and math.isfinite(cfg.checkpoint_every_minutes),
            "must be >= 0 (0: by steps only)",
        ),
        ("keep_last", cfg.keep_last >= 0, "must be >= 0 (0 keeps all)"),
        ("max_minutes", cfg.max_minutes >= 0, "must be >= 0 (0: no limit)"),
    ]
    for name, ok, why in checks:
        if not ok:
            raise InputError(f"train.{name} {why}, got {getattr(cfg, name)!r}")


@contextlib.contextmanager
def _determinism(enabled: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the duration of the run, then restored."""
    if not enabled:
        yield
        return
    prev = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.benchmark = prev[2]
        torch.backends.cudnn.deterministic = prev[3]


class Trainer:
    """Runs a recipe: ``Trainer(run, dataset, out).fit()``.

    ``run`` is the resolved :class:`RunConfig` (``run.hparams`` an instance of the recipe's
    ``Config``, or a dict converted to it); ``dataset`` a map-style dataset whose items
    ``default_collate`` can batch; ``out`` the run directory (``None``: write nothing);
    ``resume`` a checkpoint path, a run directory (its newest checkpoint) or an already loaded
    checkpoint dict; ``recipe_cls`` overrides the registry lookup of ``run.recipe``.
    Under ``torchrun`` every rank constructs the same Trainer; only rank 0 writes files.
    """

    def __init__(
        self,
        run: RunConfig,
        dataset: Any,
        out: str | Path | None = None,
        *,
        resume: str | Path | Mapping[str, Any] | None = None,
        recipe_cls: type[Recipe] | None = None,
    ) -> None:
        self.recipe_cls = recipe_cls or get_recipe(run.recipe)
        cfg_cls = self.recipe_cls.Config
        if isinstance(run.hparams, Mapping):
            run = dataclasses.replace(
                run, hparams=config_from_dict(cfg_cls, run.hparams, "hparams")
            )
        elif not isinstance(run.hparams, cfg_cls):
            raise InputTypeError(
                f"run.hparams is a {type(run.hparams).__name__}; recipe {run.recipe!r} expects "
                f"{cfg_cls.__name__}"
            )
        _validate_train(run.train)
        self.recipe_cls.validate_config(run.hparams, run)
        self.run = run
        self.cfg = run.train
        self.dataset = dataset
        self.out = Path(out) if out is not None else None
        self.resume = resume
        self.step = 0
        self.recipe: Recipe | None = None
        self.ema: EMA | None = None
        self.streams: dict[str, BatchStream] = {}

    # ------------------------------------------------------------------ public
    @property
    def checkpoint_dir(self) -> Path | None:
        return self.out / "checkpoints" if self.out is not None else None

    def fit(self) -> TrainResult:
        """Train until ``max_steps``, ``max_minutes``, SIGTERM or SIGINT; return how it ended.

        Raises :class:`NonFiniteLossError` (on every rank) when a returned value is NaN/Inf, and
        ``KeyboardInterrupt`` on a second Ctrl-C (the first one stops after the current step
        with a checkpoint).
        """
        self.dist = init_distributed(self.cfg.device)
        self._old_handlers: dict[int, Any] = {}
        self._stop_signal: str | None = None
        missing = self._missing_dirs()
        try:
            with _determinism(self.cfg.deterministic):
                try:
                    self._setup()
                except BaseException:
                    self._remove_created(missing)
                    raise
                self._begin_branch()
                self._install_signal()
                return self._loop()
        finally:
            self._teardown()

    def _missing_dirs(self) -> list[Path]:
        """The run directories that do not exist yet (removed again if the start fails)."""
        if self.out is None or not self.dist.is_main:
            return []
        missing = [p for p in (self.out / "checkpoints", self.out / "samples") if not p.exists()]
        p = self.out
        while not p.exists() and p != p.parent:
            missing.append(p)  # the run directory and any parent mkdir(parents=True) makes
            p = p.parent
        return missing

    @staticmethod
    def _remove_created(paths: list[Path]) -> None:
        for p in paths:  # children first; only directories this start created and left empty
            with contextlib.suppress(OSError):
                if p.is_dir() and not any(p.iterdir()):
                    p.rmdir()

    def _begin_branch(self) -> None:
        """Rank 0: move aside the work of an abandoned branch (checkpoints newer than the one
        resumed from, unreadable newer ones), then let the logger cut metrics.csv."""
        if self.write and getattr(self, "_resumed_from", None) is not None:
            unreadable = [p for p, _ in getattr(self, "_unreadable", [])]
            ckpt.abandon_after(self.out, self.step, extra=unreadable)
        self.logger.start()
        barrier()

    # ------------------------------------------------------------------ set-up
    def _setup(self) -> None:
        cfg, dist = self.cfg, self.dist
        self.device = resolve_device(cfg.device, dist.local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.is_main = dist.is_main
        self.write = self.is_main and self.out is not None
        if self.write:
            for sub in ("checkpoints", "samples"):
                (self.out / sub).mkdir(parents=True, exist_ok=True)
        self._sigterm = False
        self._last_saved = -1
        self._last_sampled = -1
        self._elapsed0 = 0.0
        self._last_means: dict[str, float] = {}

        loaded = self._read_resume()
        if loaded is not None:
            saved_recipe = loaded.get("config", {}).get("recipe")
            if saved_recipe is not None and saved_recipe != self.run.recipe:
                raise ValueError(
                    f"the checkpoint was written by recipe {saved_recipe!r}, this run is "
                    f"{self.run.recipe!r}"
                )

        self.streams = {}
        main = self._make_stream("main", self.dataset, cfg.batch_size, num_workers=None)

        # The construction code shared with qagen.train.restore_run (qagen/train/build.py):
        # identical initialisation on every rank (DDP would broadcast rank 0's anyway).
        built = build_recipe(
            self.run,
            self.recipe_cls,
            device=self.device,
            dataset=self.dataset,
            batches_per_epoch=main.batches_per_epoch,
            stream_factory=self._make_stream,
            rank=dist.rank,
            world_size=dist.world_size,
            local_rank=dist.local_rank,
        )
        self.generator, self.ctx, self.recipe = built.generator, built.ctx, built.recipe
        self.ema = build_ema(self.recipe, cfg)
        self.lr_schedules = dict(self.recipe.lr_schedules())
        optimizers = self.recipe.optimizers()
        for name in self.lr_schedules:
            if name not in optimizers:
                raise ValueError(f"lr_schedules() names optimiser {name!r}, not in optimizers()")

        self.fixed_inputs = fixed_sample_inputs(self.recipe, cfg, self.device)

        # Independent training streams per rank.
        _seed_all(derive_seed(cfg.seed, "rank", dist.rank))
        self.logger = MetricsLogger(
            self.out,
            start_step=int(loaded["step"]) if loaded else 0,
            tensorboard=cfg.tensorboard,
            enabled=self.write,
        )
        if loaded is not None:
            self._load_state(loaded)
        self.snapshot = ckpt.StateSnapshot() if cfg.rollback else None
        if self.write:
            write_toml(
                self.out / "config.toml",
                run_config_to_dict(self.run),
                header=config_header(self.out, torch.__version__),
            )
        self._t0 = time.monotonic()
        from tqdm import tqdm

        self.pbar = tqdm(
            total=cfg.max_steps,
            initial=self.step,
            disable=not (self.is_main and cfg.progress),
            unit="step",
            dynamic_ncols=True,
            desc=self.run.recipe,
        )

    def _read_resume(self) -> dict[str, Any] | None:
        self._resumed_from: Path | str | None = None
        self._unreadable: list[tuple[Path, str]] = []
        if self.resume is None:
            return None
        if isinstance(self.resume, ckpt.ResumePoint):
            point = self.resume
        elif isinstance(self.resume, Mapping):
            self._resumed_from = "<state>"
            return dict(self.resume)
        else:
            point = ckpt.load_resume_point(self.resume)
            if point is None:
                raise FileNotFoundError(f"no checkpoint found at {self.resume}")
        self._resumed_from, self._unreadable = point.path, list(point.unreadable)
        return dict(point.state)

    def _make_stream(
        self,
        name: str,
        dataset: Any,
        global_batch: int,
        *,
        num_workers: int | None = None,
        shuffle: bool = True,
        collate_fn: Any = None,
    ) -> BatchStream:
        if name in self.streams:
            raise ValueError(f"data stream {name!r} already exists")
        stream = BatchStream(
            dataset,
            global_batch,
            seed=self.cfg.seed,
            device=self.device,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            num_workers=self.run.data.num_workers if num_workers is None else num_workers,
            stream=name,
            shuffle=shuffle,
            collate_fn=collate_fn,
        )
        self.streams[name] = stream
        return stream

    def _install_signal(self) -> None:
        """:data:`STOP_SIGNALS`: finish the step, checkpoint, stop; a second SIGINT aborts."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: Any) -> None:
            name = signal.Signals(signum).name
            if self._sigterm:
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                return
            self._sigterm = True
            self._stop_signal = name
            if self.is_main:
                with contextlib.suppress(OSError):
                    os.write(
                        2,
                        (
                            f"\nqagen train: {name} received: stopping after step "
                            f"{self.step + 1} with a checkpoint (Ctrl-C again aborts at once, "
                            "without saving)\n"
                        ).encode(),
                    )

        for sig in STOP_SIGNALS:
            try:
                self._old_handlers[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):  # pragma: no cover
                pass

    def _teardown(self) -> None:
        for s in self.streams.values():
            s.close()
        if getattr(self, "pbar", None) is not None:
            self.pbar.close()
        if getattr(self, "logger", None) is not None:
            self.logger.close()
        for sig, old in getattr(self, "_old_handlers", {}).items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)
        shutdown_distributed(getattr(self, "dist", DistInfo()))

    # ------------------------------------------------------------------ state
    def _elapsed(self) -> float:
        return self._elapsed0 + (time.monotonic() - self._t0)

    def _state(self, step: int) -> dict[str, Any]:
        """This rank's complete training state (live references, not copies)."""
        assert self.recipe is not None
        return {
            "step": step,
            "modules": {n: unwrap(m).state_dict() for n, m in self.recipe.modules().items()},
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "optimizers": {n: o.state_dict() for n, o in self.recipe.optimizers().items()},
            "schedulers": {n: s.state_dict() for n, s in self.recipe.schedulers().items()},
            "recipe": self.recipe.state_dict(),
            "rng": ckpt.capture_rng_state(self.device),
            "shared_rng": self.generator.get_state(),
            "data": {
                "batch_size": self.cfg.batch_size,
                "streams": {n: s.consumed for n, s in self.streams.items()},
            },
            "logger": self.logger.state_dict(),
            "elapsed": self._elapsed(),
        }

    def _save(self, step: int, state: Mapping[str, Any] | None = None) -> Path | None:
        """Collective: gather every rank's RNG state, rank 0 writes ``step_XXXXXXXX.pt``."""
        state = self._state(step) if state is None else state
        rngs = gather_to_main(state["rng"])
        path = ckpt.checkpoint_path(self.checkpoint_dir, step) if self.out is not None else None
        if self.write:
            body = {k: v for k, v in state.items() if k != "rng"}
            data = {
                "format": ckpt.FORMAT,
                "version": ckpt.VERSION,
                "torch_version": str(torch.__version__),
                "world_size": self.dist.world_size,
                "config": run_config_to_dict(self.run),
                **body,
                "rng": rngs,
            }
            ckpt.save_atomic(data, path)
            ckpt.prune_checkpoints(self.checkpoint_dir, self.cfg.keep_last)
        barrier()
        self._last_saved = step
        self._last_save_time = time.monotonic()
        return path

    def _load_state(self, state: Mapping[str, Any]) -> None:
        assert self.recipe is not None
        step = int(state["step"])

        def load_group(kind: str, objs: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
            missing = [n for n in objs if n not in saved]
            if missing:
                raise InputError(
                    f"the checkpoint has no {kind} state for {missing} (it has {list(saved)}); "
                    "was it written by another recipe?"
                )
            for n, obj in objs.items():
                if isinstance(obj, nn.Module):
                    unwrap(obj).load_state_dict(saved[n])
                elif saved[n] or not isinstance(saved[n], Mapping):
                    # an empty state (e.g. a disabled GradScaler) has nothing to restore
                    obj.load_state_dict(saved[n])

        load_group("module", self.recipe.modules(), state["modules"])
        if self.ema is not None:
            if all(n in state.get("ema", {}) for n in self.ema.modules):
                self.ema.load_state_dict(state["ema"])
            else:
                _log.warning("the checkpoint has no EMA state; the EMA restarts from the weights")
                self.ema = EMA(
                    {n: self.recipe.modules()[n] for n in self.ema.modules},
                    self.cfg.ema_decay,
                    self.cfg.ema_start,
                )
        load_group("optimizer", self.recipe.optimizers(), state["optimizers"])
        load_group("scheduler", self.recipe.schedulers(), state["schedulers"])
        self.recipe.load_state_dict(state.get("recipe", {}))

        rngs = state["rng"]
        if isinstance(rngs, Mapping):  # a single rank's state (e.g. an in-memory snapshot)
            rngs = [rngs]
        if len(rngs) == self.dist.world_size:
            ckpt.restore_rng_state(rngs[self.dist.rank], self.device)
        else:
            _log.warning(
                "the checkpoint was written by %d rank(s), this run has %d: the per-rank random "
                "streams are re-seeded (the shared noise and the data order continue exactly)",
                len(rngs),
                self.dist.world_size,
            )
            _seed_all(derive_seed(self.cfg.seed, "resume", step, self.dist.rank))
        self.generator.set_state(state["shared_rng"].cpu())

        data = state["data"]
        old_batch = int(data["batch_size"])
        for name, stream in self.streams.items():
            consumed = int(data["streams"].get(name, 0))
            if name == "main" and old_batch != self.cfg.batch_size:
                _log.warning(
                    "train.batch_size changed from %d to %d: the data order restarts near the "
                    "same sample position, not exactly",
                    old_batch,
                    self.cfg.batch_size,
                )
                consumed = consumed * old_batch // self.cfg.batch_size
            stream.seek(consumed)
        self.logger.load_state_dict(state.get("logger", {}))
        self.step = step
        self._last_saved = step
        self._elapsed0 = float(state.get("elapsed", 0.0))

    # ------------------------------------------------------------------ loop
    def _reduce(
        self, values: Mapping[str, Any], stop_local: bool, save_local: bool = False
    ) -> tuple[dict[str, float], dict[str, int], bool, bool]:
        """Average the step's values over ranks and agree on non-finite terms, stopping and a
        time-based checkpoint (rank 0's clock decides; one all_reduce)."""
        if not isinstance(values, Mapping):
            raise TypeError(
                f"train_step must return a dict of scalars, got {type(values).__name__}"
            )
        names = sorted(values)
        parts = []
        for n in names:
            v = values[n]
            if isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    raise ValueError(
                        f"train_step returned a tensor of shape {tuple(v.shape)} for {n!r}; "
                        "return scalars"
                    )
                parts.append(v.detach().reshape(()).to(self.device, torch.float64))
            else:
                parts.append(torch.tensor(float(v), dtype=torch.float64, device=self.device))
        vals = torch.stack(parts) if parts else torch.zeros(0, dtype=torch.float64)
        vals = vals.to(self.device)
        bad = (~torch.isfinite(vals)).to(torch.float64)
        flags = [float(stop_local), float(save_local)]
        stop = torch.tensor(flags, dtype=torch.float64, device=self.device)
        vec = torch.cat([vals, bad, stop])
        world = self.dist.world_size
        if world > 1:
            all_reduce_sum(vec)
        host = vec.tolist()
        k = len(names)
        means = {n: host[i] / world for i, n in enumerate(names)}
        bad_terms = {n: int(round(host[k + i])) for i, n in enumerate(names) if host[k + i] > 0}
        return means, bad_terms, host[2 * k] > 0, host[2 * k + 1] > 0

    def _stop_requested(self) -> str | None:
        if self._sigterm:
            return "signal"
        if self.is_main and self.cfg.max_minutes > 0:
            if time.monotonic() - self._t0 >= self.cfg.max_minutes * 60.0:
                return "max_minutes"
        return None

    def _save_due(self) -> bool:
        """Rank 0: ``checkpoint_every_minutes`` have passed since the last checkpoint (or the
        start of this process)."""
        minutes = self.cfg.checkpoint_every_minutes
        if not (self.is_main and minutes > 0):
            return False
        return time.monotonic() - self._last_save_time >= minutes * 60.0

    def _loop(self) -> TrainResult:
        assert self.recipe is not None
        cfg = self.cfg
        batches = self.streams["main"]
        reason = "max_steps"
        self._last_save_time = time.monotonic()
        self._loop_t0, self._loop_step0 = time.monotonic(), self.step
        while self.step < cfg.max_steps:
            step = self.step
            if self.snapshot is not None:
                self.snapshot.capture(self._state(step))
            optimizers = self.recipe.optimizers()
            for name, fn in self.lr_schedules.items():
                apply_lr(optimizers[name], float(fn(step)))
            values = self.recipe.train_step(batches, step)
            local_stop = self._stop_requested()
            means, bad, stop, save_due = self._reduce(
                values, local_stop is not None, self._save_due()
            )
            if bad:
                self._non_finite(step, means, bad)
            self.step = step + 1
            if self.ema is not None:
                modules = self.recipe.modules()
                self.ema.update({n: modules[n] for n in self.ema.modules}, self.step)
            self._log(means, optimizers)
            if cfg.sample_every and self.step % cfg.sample_every == 0:
                self._sample(self.step)
            if (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0) or save_due:
                self._save(self.step)
            if stop:
                reason = local_stop or ("signal" if self._sigterm else "max_minutes")
                break
        if cfg.sample_every and self._last_sampled != self.step:
            self._sample(self.step)
        path = self._save(self.step) if self._last_saved != self.step else None
        if path is None and self.checkpoint_dir is not None:
            path = ckpt.checkpoint_path(self.checkpoint_dir, self.step)
        self.pbar.close()
        if self.is_main:
            _log.info("stopped at step %d (%s)", self.step, reason)
        sig = self._stop_signal if reason == "signal" else None
        return TrainResult(self.out, self.step, reason, path, dict(self._last_means), sig)

    def _log(self, means: Mapping[str, float], optimizers: Mapping[str, Any]) -> None:
        self._last_means = dict(means)
        self.logger.add(means)
        every = self.cfg.log_every
        if every and self.step % every == 0:
            lrs = {}
            for name, opt in optimizers.items():
                rates = current_lrs(opt)
                if rates:
                    lrs[f"lr/{name}"] = rates[0]
            self.logger.flush(self.step, self._elapsed(), lrs)
            if not self.pbar.disable:
                shown = {k: f"{v:.4g}" for k, v in list(self.logger.last.items())[:4]}
                self.pbar.set_postfix(shown, refresh=False)
        if not self.pbar.disable:
            self._project_progress()
        self.pbar.update(1)

    def _project_progress(self) -> None:
        """Make the bar's total (hence its ETA) the step the run will actually stop at.

        With ``max_minutes`` the run usually stops long before ``max_steps``; the bar then
        counts towards ``step + rate * minutes left`` (``rate`` measured in this process), so
        its ETA is the time left, not the time ``max_steps`` would take.
        """
        cfg = self.cfg
        if cfg.max_minutes <= 0:
            return
        now = time.monotonic()
        done = self.step - self._loop_step0
        spent = now - self._loop_t0
        left = cfg.max_minutes * 60.0 - (now - self._t0)
        if done <= 0 or spent <= 0:
            return
        projected = self.step + max(left, 0.0) * done / spent
        total = int(min(cfg.max_steps, max(math.ceil(projected), self.step)))
        if total != self.pbar.total:
            self.pbar.total = total
            limit = "max_steps" if total >= cfg.max_steps else f"{cfg.max_minutes:g} min"
            self.pbar.set_description_str(f"{self.run.recipe} (to {limit})", refresh=False)

    def _non_finite(self, step: int, means: Mapping[str, float], bad: Mapping[str, int]) -> None:
        """Save the last good state (before the step that failed) and raise on every rank."""
        k = step + 1
        world = self.dist.world_size
        terms = sorted(bad)
        desc = ", ".join(
            f"'{t}' = {means[t]}"
            + (f" (non-finite on {bad[t]} of {world} ranks)" if world > 1 else "")
            for t in terms
        )
        path: Path | None = None
        if self.snapshot is not None and self.snapshot.state is not None:
            if self._last_saved == step:
                path = ckpt.checkpoint_path(self.checkpoint_dir, step) if self.out else None
            elif self.out is not None:
                path = self._save(step, self.snapshot.state)
            where = (
                f"the last good state (step {step}) is saved in {path}"
                if path
                else ("no run directory, nothing was saved")
            )
        else:
            last = ckpt.latest_checkpoint(self.checkpoint_dir) if self.out is not None else None
            path = last
            where = (
                f"train.rollback is off; the newest checkpoint is {last}"
                if last
                else "train.rollback is off and no checkpoint exists"
            )
        msg = f"non-finite loss term {desc} at step {k}; training stopped, {where}"
        if self.is_main:
            _log.error(msg)
        raise NonFiniteLossError(msg, terms, k, path)

    @torch.no_grad()
    def _sample(self, step: int) -> None:
        """Write the sample grid(s) of ``step``; side-effect free for the training state."""
        self._last_sampled = step
        if self.fixed_inputs is None:
            return
        assert self.recipe is not None
        ema = dict(self.ema.modules) if self.ema is not None else {}
        images = sample_isolated(
            self.recipe, self.fixed_inputs, ema, device=self.device, shared_generator=self.generator
        )
        if not self.write:
            return
        from torchvision.utils import save_image

        grids = images if isinstance(images, Mapping) else {"": images}
        for key, img in grids.items():
            img = img.detach().float().clamp(0, 1).cpu()
            nrow = max(1, math.ceil(math.sqrt(img.shape[0])))
            suffix = f"_{key}" if key else ""
            save_image(img, self.out / "samples" / f"step_{step:08d}{suffix}.png", nrow=nrow)
