"""Published tables as experiments: ``qagen reproduce NAME --budget smoke|cpu|paper --out DIR``.

An experiment (one module per published table) names the runs it needs (ordinary recipe presets,
trained by the ordinary trainer), evaluates them with the ordinary evaluation, and writes our value
beside the paper's for every cell: ``DIR/table.md``, ``DIR/table.csv``, ``DIR/table.json`` and
``DIR/report.html``. A cell we cannot compute is ``null`` with the reason in the row's ``note``;
re-running the command continues unfinished runs and reuses finished ones. See
``docs/experiments.md``.
"""

from __future__ import annotations

from qagen.experiments.base import (
    BUDGETS,
    Cell,
    Experiment,
    ExperimentContext,
    Row,
    RunSpec,
    available_experiments,
    get_experiment,
    register_experiment,
)
from qagen.experiments.runner import reproduce

__all__ = [
    "BUDGETS",
    "Cell",
    "Experiment",
    "ExperimentContext",
    "Row",
    "RunSpec",
    "available_experiments",
    "get_experiment",
    "register_experiment",
    "reproduce",
]
