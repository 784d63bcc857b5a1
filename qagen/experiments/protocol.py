"""One evaluation protocol per table column, read from the evaluation records.

Every measured cell of a table (:class:`~qagen.experiments.base.Cell`) carries the
:func:`~qagen.experiments.base.eval_protocol` of the record it came from: the generator kind
(``raw`` or ``ema``), the number of images scored and the reference split. The table states the
protocol once, as these records give it (never written beside them by hand), and names any column
whose rows were evaluated differently: a comparison across such rows would be tilted (issue 23:
an EMA generator against a raw one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from qagen.experiments.base import Experiment, Row

__all__ = ["evaluation_protocol"]


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
