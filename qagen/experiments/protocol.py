"""One evaluation protocol per table column, read from the evaluation records, and the
training settings of the runs, read from what ran.

Every measured cell of a table (:class:`~qagen.experiments.base.Cell`) carries the
:func:`~qagen.experiments.base.eval_protocol` of the record it came from: the generator kind
(``raw`` or ``ema``), the number of images scored and the reference split. The table states the
protocol once, as these records give it (never written beside them by hand), and names any column
whose rows were evaluated differently: a comparison across such rows would be tilted (issue 23:
an EMA generator against a raw one).

The training side likewise (issue 19): :func:`run_configs` reads each run's ``config.toml`` (its
resolved configuration; a run that has none yet is resolved from its spec, as the trainer would),
:func:`settings` groups the runs by one configuration value, and :func:`runs_protocol` states the
data, crop size, batch and training budget of every group of runs, so a protocol never repeats
by hand what the specs' overrides set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from qagen.errors import InputError
from qagen.experiments.base import Experiment, ExperimentContext, Row, RunSpec

__all__ = ["evaluation_protocol", "run_configs", "runs_protocol", "settings"]


def _key(proto: Any) -> str:
    return json.dumps(proto, sort_keys=True, default=str)


def evaluation_protocol(exp: Experiment, rows: Sequence[Row]) -> tuple[dict[str, Any], list[str]]:
    """``(evaluation, problems)`` of a table.

    ``evaluation``: the protocol every measured cell shares (``{"generator", "n",
    "reference_split"}``), or, when columns differ from each other (e.g. the raw generator in the
    paper's columns and its EMA copy in others), ``{"COL, COL": protocol, ...}``; ``{}`` when no
    cell was measured. ``problems``: one line per column whose rows differ, and per measured cell
    without a protocol; empty when the table has one protocol per column.
    """
    per_col: dict[str, dict[str, tuple[Any, list[str]]]] = {}
    problems: list[str] = []
    for col in exp.columns:
        if col in exp.descriptive_columns:
            continue
        for row in rows:
            cell = row.ours.get(col)
            if cell is None or cell.value is None or isinstance(cell.value, str):
                continue
            if cell.protocol is None:
                problems.append(f"{col} / {row.label}: a value without an evaluation protocol")
                continue
            entry = per_col.setdefault(col, {}).setdefault(
                _key(cell.protocol), (dict(cell.protocol), [])
            )
            entry[1].append(row.label)
    groups: dict[str, tuple[dict, list[str]]] = {}
    for col, protos in per_col.items():
        if len(protos) > 1:
            parts = [f"{', '.join(labels)}: {_key(p)}" for p, labels in protos.values()]
            problems.append(f"{col}: the rows were evaluated differently ({'; '.join(parts)})")
            continue
        proto = next(iter(protos.values()))[0]
        groups.setdefault(_key(proto), (proto, []))[1].append(col)
    if len(groups) == 1:
        return next(iter(groups.values()))[0], problems
    return {", ".join(cols): proto for proto, cols in groups.values()}, problems


def run_configs(ctx: ExperimentContext, specs: Sequence[RunSpec]) -> dict[str, dict[str, Any]]:
    """``{run name: configuration}``: the run's ``config.toml`` (what ran), or, for a run not
    started, its spec resolved as the trainer resolves it (preset, data, overrides, budget)."""
    from qagen.report.runfiles import read_config
    from qagen.train.config import run_config_to_dict
    from qagen.train.main import resolve_run_config

    out = {}
    for spec in specs:
        cfg = read_config(ctx.run_dir(spec.name))
        if not cfg:
            try:
                run = resolve_run_config(
                    spec.recipe, preset=spec.preset, data=spec.data or ctx.data,
                    overrides=list(spec.overrides), max_steps=spec.max_steps,
                    max_minutes=spec.max_minutes,
                )  # fmt: skip
            except InputError as err:  # stated as such, never guessed
                cfg = {"unresolved": str(err)}
            else:
                cfg = run_config_to_dict(run)
        out[spec.name] = cfg
    return out


def _get(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(cfg, dict) or part not in cfg:
            return None
        cfg = cfg[part]
    return cfg


def settings(configs: dict[str, dict[str, Any]], key: str, unit: str = "") -> str:
    """The value of configuration ``key`` (``"data.resolution"``) the runs used: one value
    (``"32 px"``), or each value with its runs (``"32 px: a, b; 128 px: c"``)."""
    groups: dict[str, list[str]] = {}
    for name, cfg in configs.items():
        groups.setdefault(f"{_get(cfg, key)}{unit}", []).append(name)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{value}: {', '.join(names)}" for value, names in groups.items())


def _budget(cfg: dict[str, Any]) -> str:
    steps, minutes = _get(cfg, "train.max_steps"), _get(cfg, "train.max_minutes")
    parts = [
        f"{steps} step{'s' * (steps != 1)}" if steps else "",
        f"{minutes:g} minutes" if minutes else "",
    ]
    return " or ".join(p for p in parts if p) or "no step or time limit"


def runs_protocol(ctx: ExperimentContext, specs: Sequence[RunSpec]) -> str:
    """The training settings of the runs, read by :func:`run_configs`: data spec, crop size
    (``data.resolution``), batch size and budget, each group of runs with equal settings named
    (every run's full configuration is its ``config.toml``)."""
    groups: dict[str, list[str]] = {}
    for name, cfg in run_configs(ctx, specs).items():
        if "unresolved" in cfg:
            groups.setdefault(f"no configuration ({cfg['unresolved']})", []).append(name)
            continue
        text = (f"data {_get(cfg, 'data.spec')} at {_get(cfg, 'data.resolution')} px, batch "
                f"{_get(cfg, 'train.batch_size')}, {_budget(cfg)}")  # fmt: skip
        groups.setdefault(text, []).append(name)
    if len(groups) == 1:
        return f"every run: {next(iter(groups))}"
    return "; ".join(f"{', '.join(names)}: {text}" for text, names in groups.items())
