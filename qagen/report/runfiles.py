"""Readers of the files a training run writes: ``metrics.csv``, ``config.toml``, JSON records and
the sample grids of ``samples/``. One copy of each, shared by every report."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib  # type: ignore[no-redef]

from qagen.errors import InputError

__all__ = [
    "RUN_MARKERS",
    "MetricsTable",
    "check_new_run_dir",
    "check_run_dir",
    "foreign_entries",
    "is_run_dir",
    "read_config",
    "read_json",
    "read_jsonl",
    "read_metrics_csv",
    "sample_grids",
    "select_evenly",
    "some_names",
]

_NOT_QUANTITIES = ("step", "elapsed_s")
T = TypeVar("T")

#: What ``qagen train`` writes first into a run directory: a folder holding one of them is a run.
RUN_MARKERS = ("config.toml", "checkpoints", "metrics.csv", "samples")


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding one of :data:`RUN_MARKERS` (a training run's)."""
    p = Path(path)
    return p.is_dir() and any((p / m).exists() for m in RUN_MARKERS)


def foreign_entries(path: str | Path) -> list[str]:
    """The sorted names in folder ``path`` that are not hidden (``.DS_Store``, ``.lock``): what
    a run, or an experiment, would be written among. ``[]`` for a missing folder."""
    p = Path(path)
    if not p.is_dir():
        return []
    return sorted(e.name for e in p.iterdir() if not e.name.startswith("."))


def some_names(names: Sequence[str], k: int = 3) -> str:
    """The first ``k`` of ``names``, comma-separated, and how many there are in all."""
    more = f", ... ({len(names)} in all)" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def check_run_dir(path: str | Path, argument: str = "RUN_DIR") -> Path:
    """``path`` as a run directory, else ``FileNotFoundError`` (no such folder) or
    :class:`InputError` naming what it holds instead (a folder of photos is not a run)."""
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"run directory not found: {p}")
    if not is_run_dir(p):
        held = foreign_entries(p)
        what = f"it holds {some_names(held)}" if held else "it is empty"
        raise InputError(
            f"{argument} {p} is not a run directory (no {', '.join(RUN_MARKERS)}; {what}): "
            "give the folder qagen train wrote"
        )
    return p


def check_new_run_dir(path: str | Path, argument: str = "--out") -> None:
    """A fresh run may go into a new or empty folder or into a run directory (whose own checks
    follow), never among other files: else :class:`InputError` naming a few of them."""
    held = [] if is_run_dir(path) else foreign_entries(path)
    if held:
        raise InputError(
            f"{argument} {path} is not a run directory and holds {len(held)} other file(s) "
            f"({some_names(held)}); choose a new or empty folder for the run"
        )


@dataclass
class MetricsTable:
    """A run's ``metrics.csv``: ``steps`` (one per row), ``cols`` ({quantity: values}, NaN where
    a cell is empty, e.g. a penalty switched on later), ``elapsed`` (seconds since the run
    started, per row) and ``nonfinite`` ({quantity: steps whose logged value was NaN/Inf})."""

    steps: list[int] = field(default_factory=list)
    cols: dict[str, list[float]] = field(default_factory=dict)
    elapsed: list[float] = field(default_factory=list)
    nonfinite: dict[str, list[int]] = field(default_factory=dict)

    def last(self) -> dict[str, float]:
        """The newest finite value of every quantity."""
        out = {}
        for name, vals in self.cols.items():
            finite = [v for v in vals if math.isfinite(v)]
            if finite:
                out[name] = finite[-1]
        return out


def _float(text: object) -> float:
    try:
        return float(str(text).strip()) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def read_metrics_csv(path: str | Path) -> MetricsTable:
    """Read a run's ``metrics.csv`` (columns ``step``, ``elapsed_s`` and one per quantity, as
    :class:`qagen.train.logger.MetricsLogger` writes it) into a :class:`MetricsTable`. Rows
    without an integer step are skipped."""
    t = MetricsTable()
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        names = [n for n in (reader.fieldnames or []) if n not in _NOT_QUANTITIES]
        t.cols = {n: [] for n in names}
        for row in reader:
            try:
                step = int(row["step"])
            except (KeyError, TypeError, ValueError):
                continue
            t.steps.append(step)
            t.elapsed.append(_float(row.get("elapsed_s")))
            for n in names:
                text = (row.get(n) or "").strip()
                v = _float(text)
                if text and not math.isfinite(v):
                    t.nonfinite.setdefault(n, []).append(step)
                t.cols[n].append(v)
    return t


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """``run_dir/config.toml`` parsed with ``tomllib`` (``{}`` when there is none). Invalid
    TOML raises :class:`qagen.errors.InputError` naming the file."""
    path = Path(run_dir) / "config.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: invalid TOML: {err}") from None


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object from ``path``; ``{}`` when the file is missing, unreadable or not an
    object (a report must still be written)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (unparsable lines skipped; ``[]`` if missing)."""
    p = Path(path)
    if not p.is_file():
        return []
    rows = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


_CHECKPOINT = re.compile(r"^step_(\d+)\.pt$")


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every checkpoint (``step_<N>.pt``) in ``directory``, oldest first."""
    d = Path(directory)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _CHECKPOINT.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def sample_grids(run_dir: str | Path) -> dict[str, list[tuple[int, Path]]]:
    """``{grid name: [(step, path), ...]}`` (oldest first) from ``samples/step_XXXXXXXX.png``
    and ``samples/step_XXXXXXXX_<name>.png`` (the unnamed grid has the name ``""``)."""
    out: dict[str, list[tuple[int, Path]]] = {}
    for p in (Path(run_dir) / "samples").glob("step_*.png"):
        m = re.fullmatch(r"step_(\d+)(?:_(.+))?", p.stem)
        if m:
            out.setdefault(m.group(2) or "", []).append((int(m.group(1)), p))
    return {k: sorted(v) for k, v in sorted(out.items())}


def select_evenly(items: Sequence[T], k: int) -> list[T]:
    """At most ``k`` items, evenly spaced, always the first and the last."""
    items = list(items)
    if len(items) <= k:
        return items
    if k <= 1:
        return items[-1:]
    idx = sorted({round(i * (len(items) - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in idx]
