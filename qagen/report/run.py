"""The HTML report of a training run (``qagen report RUN_DIR``), built from the sections of
:data:`qagen.registry.REPORT_SECTIONS`.

:func:`write_report` reads the run directory into a :class:`RunReportData` (``config.toml``,
``metrics.csv``, ``checkpoints/``, ``samples/``, ``eval.json``, ``eval_history.jsonl``), asks
every registered section provider whose recipe patterns match the run for its sections, sorts
them by their ``order`` and renders one self-contained page with :func:`qagen.report.write_page`.

A method adds its sections without touching the page layout, by name in its package
(``qagen/methods/<name>/__init__.py``)::

    REPORT_SECTIONS.add("began", "qagen.methods.began.report:began_sections",
                        recipes="began", order=ORDER_RECIPE)

with ``began_sections(run: RunReportData) -> list[Section]``. The sections every run gets
(summary, evaluation, training curves, samples, configuration) are :mod:`qagen.report.sections`.
This module reads files and renders; a section that needs the trained networks restores them
itself (:func:`qagen.eval.restored.restored_run`), above this layer. See ``docs/evaluation.md`` ("The report").
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from qagen.errors import InputError, InputTypeError
from qagen.registry import (
    ORDER_CONFIG,
    ORDER_CURVES,
    ORDER_EVALUATION,
    ORDER_RECIPE,
    ORDER_SAMPLES,
    ORDER_SUMMARY,
    REPORT_SECTIONS,
)
from qagen.report.blocks import Paragraph, Section
from qagen.report.page import write_page
from qagen.report.runfiles import (
    MetricsTable,
    check_run_dir,
    list_checkpoints,
    read_config,
    read_json,
    read_jsonl,
    read_metrics_csv,
    sample_grids,
)

__all__ = [
    "ORDER_CONFIG",
    "ORDER_CURVES",
    "ORDER_EVALUATION",
    "ORDER_RECIPE",
    "ORDER_SAMPLES",
    "ORDER_SUMMARY",
    "RunReportData",
    "SectionProvider",
    "register_run_sections",
    "report_command",
    "run_sections",
    "write_report",
]


@dataclass
class RunReportData:
    """What a section provider is given: the files of a run directory, read once.

    ``config`` (parsed ``config.toml``; ``{}`` when missing or invalid, ``config_error`` then
    says why), ``config_text``, ``recipe`` and ``data`` (shortcuts into it), ``metrics``
    (``metrics.csv`` or ``None``), ``checkpoints`` (``[(step, path)]``), ``grids``
    (``{name: [(step, path)]}`` of ``samples/``), ``evaluation`` (``eval.json``), ``history``
    (``eval_history.jsonl`` rows), and the report settings ``device``, ``quality_maps`` (number
    of samples with quality maps, 0: none) and ``max_grids``.
    """

    run_dir: Path
    config: dict = field(default_factory=dict)
    config_text: str = ""
    config_error: str = ""
    metrics: MetricsTable | None = None
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    grids: dict[str, list[tuple[int, Path]]] = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    device: str = "cpu"
    quality_maps: int = 4
    max_grids: int = 8
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, run_dir: str | Path, **settings: Any) -> RunReportData:
        """Read ``run_dir`` (``FileNotFoundError`` when it does not exist, :class:`InputError`
        when it is not a run directory: :func:`~qagen.report.runfiles.check_run_dir`);
        ``settings`` are ``device``, ``quality_maps`` and ``max_grids``."""
        run_dir = check_run_dir(run_dir)
        data = cls(run_dir, **settings)
        cfg_path = run_dir / "config.toml"
        if cfg_path.is_file():
            data.config_text = cfg_path.read_text(encoding="utf-8")
            try:
                data.config = read_config(run_dir)
            except InputError as err:
                data.config_error = str(err)
        if (run_dir / "metrics.csv").is_file():
            data.metrics = read_metrics_csv(run_dir / "metrics.csv")
        data.checkpoints = list_checkpoints(run_dir / "checkpoints")
        data.grids = sample_grids(run_dir)
        data.evaluation = read_json(run_dir / "eval.json")
        data.history = read_jsonl(run_dir / "eval_history.jsonl")
        return data

    @property
    def recipe(self) -> str:
        return str(self.config.get("recipe") or "?")

    @property
    def data(self) -> dict:
        return dict(self.config.get("data") or {})

    @property
    def train(self) -> dict:
        return dict(self.config.get("train") or {})

    @property
    def title(self) -> str:
        """``<recipe> on <data spec> (<run folder>)``: names the run on the page and plots."""
        return f"{self.recipe} on {self.data.get('spec') or '?'} ({self.run_dir.name})"

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per report (for results several sections share)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


SectionProvider = Callable[[RunReportData], Sequence[Section]]


def register_run_sections(
    recipes: str | Sequence[str] | Callable[[str], bool],
    provider: SectionProvider | None = None,
    *,
    order: float = ORDER_RECIPE,
    name: str | None = None,
) -> Any:
    """Register ``provider(run: RunReportData) -> list[Section]`` in :data:`REPORT_SECTIONS`
    (eagerly: a plug-in's provider; qagen's own are named there as strings) for the runs whose recipe
    name matches ``recipes``: a name, a shell pattern (``"qagan-*"``; ``"*"`` = every recipe),
    a list of these, or a predicate ``f(name) -> bool``.

    The sections of all matching providers appear sorted by ``order`` (:data:`ORDER_SUMMARY`
    10, :data:`ORDER_EVALUATION` 20, :data:`ORDER_CURVES` 30, :data:`ORDER_SAMPLES` 40,
    :data:`ORDER_RECIPE` 50, :data:`ORDER_CONFIG` 90), in registration order when equal.
    Registering the same ``name`` again (default: the provider's qualified name) replaces the
    entry. Usable as a decorator: ``@register_run_sections("began-*")``.
    """

    def add(fn: SectionProvider) -> SectionProvider:
        if not callable(fn):
            raise InputTypeError(f"provider must be callable, got {type(fn).__name__}")
        if not (callable(recipes) or isinstance(recipes, str) or (
            isinstance(recipes, (list, tuple)) and recipes
            and all(isinstance(p, str) for p in recipes)
        )):  # fmt: skip
            raise InputTypeError(
                "recipes must be a recipe name or pattern ('qagan-*', '*'), a list of them, or a "
                f"predicate, got {recipes!r}"
            )
        key = name or f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
        REPORT_SECTIONS.add(key, fn, recipes=recipes, order=float(order), replace=True)
        return fn

    return add if provider is None else add(provider)


def run_sections(run: RunReportData) -> list[Section]:
    """The sections of ``run``'s report: every matching provider's (:data:`REPORT_SECTIONS`),
    sorted by order, in registration order among equals."""
    entries = sorted(REPORT_SECTIONS.matching(run.recipe), key=lambda e: e.meta.get("order", 50))
    out: list[Section] = []
    for e in entries:
        sections = list(REPORT_SECTIONS.get(e.name)(run) or [])
        bad = [type(s).__name__ for s in sections if not isinstance(s, Section)]
        if bad:
            raise InputTypeError(
                f"section provider {e.name} returned {', '.join(bad)}, not Section"
            )
        out.extend(sections)
    return out


def write_report(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    title: str | None = None,
    extra_sections: Sequence[Section] = (),
    device: str = "cpu",
    quality_maps: int = 4,
    max_grids: int = 8,
) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default ``RUN_DIR/report.html``) and the
    training curves to ``RUN_DIR/loss_curves.png``; returns the page's path.

    ``title`` defaults to the run's (:attr:`RunReportData.title`); ``extra_sections`` are put
    first (e.g. the IQA part of the demo page); ``device`` is used for sampling;
    ``quality_maps`` samples get quality maps (0: none); at most ``max_grids`` sample grids
    are shown. Sections whose inputs are missing say so; the page is always written.
    """
    from qagen._version import __version__

    run = RunReportData.load(run_dir, device=device, quality_maps=quality_maps,
                             max_grids=max_grids)  # fmt: skip
    sections = [*extra_sections, *run_sections(run)]
    curves = run._cache.get("curves_png")
    if curves:
        (run.run_dir / "loss_curves.png").write_bytes(curves)
    if not sections:
        sections = [Section("Run", [Paragraph("No section provider matched this run.")])]
    path = Path(out) if out is not None else run.run_dir / "report.html"
    last = run.metrics.steps[-1] if run.metrics and run.metrics.steps else None
    meta = [("run directory", str(run.run_dir.resolve())), ("recipe", run.recipe),
            ("last logged step", last if last is not None else "none"),
            ("report by", f"qagen {__version__} (qagen report)")]  # fmt: skip
    return write_page(path, title or f"Run report: {run.title}", sections, meta=meta)


def report_command(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    title: str | None = None,
    device: str = "cpu",
    stream: TextIO | None = None,
) -> int:
    """CLI entry of ``qagen report RUN_DIR [--out FILE] [--title TEXT]``: write the report
    (:func:`write_report`), print its path, return 0 (a missing run directory raises
    ``FileNotFoundError``)."""
    stream = stream if stream is not None else sys.stdout
    path = write_report(run_dir, out=out, title=title, device=device)
    stream.write(f"wrote {path}\n")
    return 0
