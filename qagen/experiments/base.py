"""The experiment interface, its data types and the experiment registry.

An :class:`Experiment` subclass describes one published table: its paper and table, its columns,
the paper's values per row, the runs it needs at each budget (:meth:`Experiment.runs`), and how
our values are computed from the finished runs (:meth:`Experiment.evaluate`). The runner
(:mod:`qagen.experiments.runner`) trains the runs through the ordinary trainer, calls
``evaluate`` and writes the tables and the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from qagen.errors import InputError, UnknownNameError
from qagen.registry import EXPERIMENTS

__all__ = [
    "BUDGETS",
    "Cell",
    "Claim",
    "Experiment",
    "PROTOCOL_KEYS",
    "ExperimentContext",
    "Row",
    "RunSpec",
    "available_experiments",
    "cell_from_record",
    "eval_protocol",
    "get_experiment",
    "mean_std",
    "record_is_reusable",
    "register_experiment",
    "seed_cells",
    "seed_run_names",
]

#: Budgets: ``smoke`` proves the pipeline (< 3 min on 2 CPU cores), ``cpu`` runs the CPU-sized
#: presets on the built-in data (< 30 min on 2 cores), ``paper`` uses the paper's settings and data.
BUDGETS: dict[str, str] = {
    "smoke": "a few steps per run on the built-in data: proves the pipeline, not the numbers "
    "(< 3 min on 2 CPU cores)",
    "cpu": "the CPU-sized -demo presets on the built-in data (< 30 min on 2 CPU cores)",
    "paper": "the paper's settings and data (GPU-scale)",
}


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment, trained by :func:`qagen.train.train_main`.

    ``name`` is its directory under ``DIR/runs``; ``recipe``, ``preset``, ``data`` (a dataset
    spec; ``None``: the experiment's ``--data``), ``overrides`` (``key=value`` as ``--set``),
    ``max_steps`` and ``max_minutes`` (training minutes in total, across resumes) are passed to
    the trainer. ``expected_seconds`` weighs the run in the progress bar's ETA.
    """

    name: str
    recipe: str
    preset: str | None = None
    data: str | None = None
    overrides: tuple[str, ...] = ()
    max_steps: int | None = None
    max_minutes: float | None = None
    expected_seconds: float = 60.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "recipe": self.recipe, "preset": self.preset, "data": self.data,
            "overrides": list(self.overrides), "max_steps": self.max_steps,
            "max_minutes": self.max_minutes,
        }  # fmt: skip


#: The keys of an evaluation protocol that every row of one table column must share.
PROTOCOL_KEYS = ("generator", "n", "reference_split")


def eval_protocol(proto: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The :data:`PROTOCOL_KEYS` of an evaluation record's ``protocol``: ``generator`` (``raw``
    or ``ema``), ``n`` (``n_fake``, else ``n``: how many images were scored) and
    ``reference_split`` (else ``split``); ``None`` without a protocol."""
    if not isinstance(proto, Mapping):
        return None
    n = proto.get("n_fake", proto.get("n"))
    return {
        "generator": proto.get("generator"),
        "n": int(n) if isinstance(n, (int, float)) else n,
        "reference_split": proto.get("reference_split", proto.get("split")),
    }


@dataclass(frozen=True)
class Cell:
    """Our value of one cell: ``value`` (``None`` when it could not be computed, with
    ``reason``; a string for a descriptive column such as a model's type), an optional ``std``
    (over seeds or splits), ``n`` (how many) and ``protocol``: the :func:`eval_protocol` of the
    evaluation record the value came from (every measured cell carries one; the runner states
    a column's protocol once, read from its cells, and flags a column whose rows differ)."""

    value: float | str | None
    std: float | None = None
    n: int | None = None
    reason: str | None = None
    protocol: Mapping[str, Any] | None = field(default=None, compare=False)
    #: the per-seed values behind a mean (:func:`mean_std`), for the claims' tests
    values: tuple[float, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.value is None and not self.reason:
            raise InputError("a Cell without a value needs a reason")
        if isinstance(self.value, str):
            return
        if self.value is not None and not math.isfinite(float(self.value)):
            object.__setattr__(self, "reason", self.reason or f"not finite: {self.value}")
            object.__setattr__(self, "value", None)


@dataclass
class Row:
    """One row of a table: its ``label``, our cells, the paper's values (``None``: the paper
    has no value) and their published spread, the run(s) behind it, and a ``note``."""

    label: str
    ours: dict[str, Cell] = field(default_factory=dict)
    paper: dict[str, float | str | None] = field(default_factory=dict)
    paper_std: dict[str, float | None] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class ExperimentContext:
    """What an experiment is given: the output folder, the budget and the user's options.

    ``run_dir(name)`` is a run's directory; ``evaluate(name, metrics, ...)`` evaluates a finished
    run with the ordinary evaluation (cached in its ``eval.json``); ``status[name]`` is how each
    run ended (``"finished"`` or ``"failed: ..."``). ``eval_data`` maps names to the extra
    evaluation data the user gave (``--eval-data NAME=PATH``, e.g. SR test sets); it only
    changes the evaluation, never the runs.
    """

    out: Path
    budget: str
    data: str | None = None
    inception_weights: str | None = None
    device: str = "cpu"
    status: dict[str, str] = field(default_factory=dict)
    evaluator: Callable[..., dict] | None = None
    eval_data: dict[str, str] = field(default_factory=dict)

    def run_dir(self, name: str) -> Path:
        return self.out / "runs" / name

    def newest_step(self, name: str) -> int | None:
        """The step of run ``name``'s newest checkpoint (``None``: it has none)."""
        from qagen.train.checkpoint import list_checkpoints

        ckpts = list_checkpoints(self.run_dir(name) / "checkpoints")
        return ckpts[-1][0] if ckpts else None

    def cached_record(
        self,
        name: str,
        section: str,
        expect: Mapping[str, Any] | None = None,
        require: Sequence[str] = (),
    ) -> dict | None:
        """The ``section`` record of run ``name``'s ``eval.json`` when
        :func:`record_is_reusable` accepts it for the run's newest checkpoint and ``expect`` /
        ``require``; else ``None`` (evaluate again)."""
        import json

        try:
            cached = json.loads((self.run_dir(name) / "eval.json").read_text())
        except (OSError, ValueError):
            return None
        rec = cached.get(section) if isinstance(cached, dict) else None
        if record_is_reusable(rec, self.newest_step(name), expect, require):
            return rec
        return None

    def evaluate(self, name: str, metrics: Sequence[str], **options: Any) -> dict:
        """``{metric: record}`` of the run ``name`` (see :func:`qagen.experiments.runner.evaluate_run`)."""
        if self.evaluator is None:
            raise RuntimeError("evaluate() is only available while the runner evaluates")
        return self.evaluator(self, name, metrics, **options)


def record_is_reusable(
    rec: Any,
    step: int | None,
    expect: Mapping[str, Any] | None = None,
    require: Sequence[str] = (),
) -> bool:
    """The one cache rule of ``eval.json``: may the evaluation record ``rec`` stand for an
    evaluation of the run's newest checkpoint ``step`` now?

    Yes iff (1) ``rec`` is a dict that was not ``skipped`` (a skipped metric is tried again: the
    Inception weights may be given now); (2) the run has a checkpoint and
    ``rec["protocol"]["checkpoint_step"] == step``; (3) for every ``key: value`` of ``expect``
    the record's protocol holds ``key`` with an equal value (a missing key is a mismatch, so a
    record of an older protocol is evaluated again); (4) every key of ``require`` is present in
    the record (a requested part, e.g. the SWD ``real_vs_real`` scale). What the request pins
    (sample count, generator, seeds, metric options) is the caller's ``expect``; see
    ``docs/experiments.md`` ("Re-running").
    """
    if not isinstance(rec, Mapping) or rec.get("skipped"):
        return False
    proto = rec.get("protocol")
    if not isinstance(proto, Mapping) or step is None or proto.get("checkpoint_step") != step:
        return False
    if any(k not in proto or proto[k] != v for k, v in (expect or {}).items()):
        return False
    return all(k in rec for k in require)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def cell_from_record(
    rec: Mapping[str, Any] | None, keys: Sequence[str] = ("value",), scale: float = 1.0
) -> Cell:
    """A :class:`Cell` from an evaluation record: the first of ``keys`` that holds a finite
    number, times ``scale`` (its ``std`` too); ``Cell(None, reason=...)`` when the record is
    missing, was skipped (its reason) or holds no finite value."""
    if rec is None:
        return Cell(None, reason="not evaluated")
    if rec.get("skipped"):
        return Cell(None, reason=str(rec.get("reason", "skipped")))
    value = next((v for v in (_finite(rec.get(k)) for k in keys) if v is not None), None)
    if value is None:
        return Cell(None, reason=f"no finite {'/'.join(keys)} in the evaluation record")
    std = _finite(rec.get("std"))
    return Cell(value * scale, std=None if std is None else std * scale,
                protocol=eval_protocol(rec.get("protocol")))  # fmt: skip


def mean_std(cells: Sequence[Cell]) -> Cell:
    """Mean and sample standard deviation (n - 1) of the cells' values over seeds, keeping the
    values (``Cell.values``) and their common protocol (a mark that the seeds differ when they
    do, which the table then names); the reason of the first missing value when none is
    finite."""
    import statistics

    vals = [float(c.value) for c in cells if isinstance(c.value, (int, float))]
    if not vals:
        reason = next((c.reason for c in cells if c.reason), "no finished run")
        return Cell(None, reason=reason)
    std = statistics.stdev(vals) if len(vals) > 1 else None
    protos = {repr(sorted((c.protocol or {}).items())): c.protocol
              for c in cells if c.value is not None}  # fmt: skip
    proto = next(iter(protos.values())) if len(protos) == 1 else {"seeds_differ": list(protos)}
    return Cell(statistics.fmean(vals), std=std, n=len(vals), protocol=proto, values=tuple(vals))


def seed_run_names(name: str, seeds: Sequence[int]) -> list[str]:
    """The run names of ``name`` over ``seeds``: ``[name]`` for the single seed 0 (the runs of
    a one-seed budget keep their plain names), else ``name-s<seed>`` for each seed."""
    seeds = tuple(seeds)
    return [name] if seeds == (0,) else [f"{name}-s{s}" for s in seeds]


def seed_cells(
    ctx: ExperimentContext,
    runs: Sequence[str],
    columns: Sequence[str],
    run_cells: Callable[[str], tuple[dict[str, Cell], str]],
) -> tuple[dict[str, Cell], list[tuple[str, str]], list[str]]:
    """One row's cells from its runs (one per seed): ``run_cells(name)`` gives a finished run's
    cells and note; one run keeps its cells, several give each column's :func:`mean_std`.
    Returns the cells, ``(name, note)`` of every finished run and ``"name: status"`` of every
    run that did not finish (where no run finished, every cell is null with those reasons)."""
    per_seed: list[dict[str, Cell]] = []
    notes: list[tuple[str, str]] = []
    failed: list[str] = []
    for name in runs:
        status = ctx.status.get(name, "finished")
        if status != "finished":
            failed.append(f"{name}: {status}" if len(runs) > 1 else status)
            continue
        cells, note = run_cells(name)
        per_seed.append(cells)
        notes.append((name, note))
    if not per_seed:
        why = "; ".join(failed) or "no finished run"
        return {c: Cell(None, reason=why) for c in columns}, notes, failed
    if len(runs) == 1:
        return per_seed[0], notes, failed
    return {c: mean_std([p[c] for p in per_seed]) for c in columns}, notes, failed


@dataclass(frozen=True)
class Claim:
    """An ordering a paper claims: row ``better`` beats row ``worse`` in ``column`` (lower is
    better unless ``higher_is_better``). ``text`` says it in the paper's words."""

    text: str
    column: str
    better: str
    worse: str
    higher_is_better: bool = False


class Experiment:
    """Base class of a published table.

    Class attributes: ``name`` (set by :func:`register_experiment`), ``paper`` (citation),
    ``table`` (which table or figure), ``description`` (one paragraph: what is compared and
    how), ``columns`` (column keys of ``table.json``), ``column_notes`` (what each column is and
    which way is better). Subclasses implement :meth:`protocol`, :meth:`runs`, :meth:`rows`
    (the labels and the paper's values) and :meth:`evaluate`; :meth:`report_sections` may add
    figures to ``report.html``.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    table: ClassVar[str] = ""
    description: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()
    column_notes: ClassVar[Mapping[str, str]] = {}
    #: Columns that describe a row (a model's type, its parameter count) rather than measure
    #: it: their cells carry no evaluation protocol.
    descriptive_columns: ClassVar[tuple[str, ...]] = ()
    #: The ``--eval-data NAME=PATH`` names the experiment takes, each with what its folder
    #: holds; empty: it takes none.
    eval_data_names: ClassVar[Mapping[str, str]] = {}

    def check_eval_data(self, ctx: ExperimentContext) -> None:
        """Refuse ``ctx.eval_data`` before any run is trained: a name not in
        :attr:`eval_data_names` (:class:`UnknownNameError` listing them), a path that is not a
        folder, a folder without image files. Subclasses that read more than image files
        check it too (calling this first)."""
        from qagen.io import list_images

        for key, path in ctx.eval_data.items():
            if not self.eval_data_names:
                raise InputError(f"--eval-data {key}=...: {self.name} takes no evaluation data")
            if key not in self.eval_data_names:
                raise UnknownNameError(f"--eval-data name of {self.name}", key,
                                       self.eval_data_names)  # fmt: skip
            root = Path(path).expanduser()
            if not root.is_dir():
                raise FileNotFoundError(
                    f"--eval-data {key}={path}: no such folder (expected "
                    f"{self.eval_data_names[key]})"
                )
            if not list_images(root):
                raise InputError(
                    f"--eval-data {key}={path}: the folder holds no image file (expected "
                    f"{self.eval_data_names[key]})"
                )

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        """How our numbers are made at this budget (data, steps, samples, metric settings)."""
        return {}

    def heading(self, ctx: ExperimentContext) -> str:
        """The table's title for the data of ``ctx`` (default :attr:`table`): where the data
        is a stand-in for the paper's, the title names what it is."""
        return self.table

    def describe(self, ctx: ExperimentContext) -> str:
        """The paragraph above the table for ``ctx`` (default :attr:`description`)."""
        return self.description

    def notes(self, ctx: ExperimentContext) -> Mapping[str, str]:
        """What each column is for ``ctx`` (default :attr:`column_notes`)."""
        return self.column_notes

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        """The runs this experiment needs at ``ctx.budget``."""
        raise NotImplementedError

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        """The table's rows at ``ctx`` (budget, ``--data``) with the paper's values (our cells
        empty)."""
        raise NotImplementedError

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        """Fill ``row.ours`` for every row from the finished runs; return the rows."""
        raise NotImplementedError

    def report_sections(self, ctx: ExperimentContext, rows: list[Row]) -> list[Any]:
        """Extra sections (``qagen.report.Section``) for ``report.html``."""
        return []

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """The orderings the paper claims, tested on our per-seed values
        (:mod:`qagen.experiments.claims`); none by default."""
        return []


def register_experiment(name: str) -> Callable[[type[Experiment]], type[Experiment]]:
    """Class decorator: register an :class:`Experiment` under ``name`` in
    :data:`qagen.registry.EXPERIMENTS` (the methods name theirs there as ``"module:Class"``)."""

    def deco(cls: type[Experiment]) -> type[Experiment]:
        if not (isinstance(cls, type) and issubclass(cls, Experiment)):
            raise TypeError(f"{cls!r} is not an Experiment subclass")
        EXPERIMENTS.add(name, cls)
        cls.name = name
        return cls

    return deco


def available_experiments() -> list[str]:
    """Registered experiment names, sorted (nothing is imported)."""
    return sorted(EXPERIMENTS.available())


def get_experiment(name: str) -> type[Experiment]:
    """The experiment class registered under ``name``, imported on first use;
    :class:`UnknownNameError` otherwise."""
    cls = EXPERIMENTS.get(name)
    if cls.name != name:
        cls.name = name
    return cls


def check_budget(budget: str) -> str:
    """``budget`` if it is one of :data:`BUDGETS`, else :class:`UnknownNameError`."""
    if budget not in BUDGETS:
        raise UnknownNameError("budget", budget, BUDGETS)
    return budget
