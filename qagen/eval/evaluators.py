"""Recipe families whose runs are not generators: their own ``qagen eval RUN`` evaluation.

``qagen eval RUN_DIR`` samples a generator and compares it with real images; a run that predicts
something else (a quality map, a quality score) registers its own evaluation here, by recipe
pattern, and :func:`qagen.eval.run.eval_command` hands the run to it. An evaluator is
``fn(run_dir, options: EvalOptions, stream) -> int`` (it writes its record into ``eval.json``
under its own key and prints a summary); it is named by ``"module:function"`` and imported
only when a matching run is evaluated.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable
from pathlib import Path

__all__ = ["register_run_evaluator", "run_evaluator"]

#: (recipe pattern, "module:function"), first match wins.
_EVALUATORS: list[tuple[str, str]] = [
    ("qmap-*", "qagen.eval.qmap:qmap_eval_command"),
    ("nr-iqa*", "qagen.eval.nr_iqa:nr_iqa_eval_command"),
]


def register_run_evaluator(pattern: str, target: str) -> None:
    """Evaluate runs whose recipe matches ``pattern`` (``fnmatch``) with ``target``
    (``"module:function"``)."""
    _EVALUATORS.insert(0, (pattern, target))


def _recipe_of(run_dir: Path) -> str | None:
    try:
        from qagen.report import read_config

        return str(read_config(run_dir).get("recipe") or "") or None
    except Exception:  # no or unreadable config.toml: the ordinary evaluation reports it
        return None


def run_evaluator(run_dir: str | Path) -> Callable | None:
    """The registered evaluation of ``run_dir``'s recipe, or ``None`` (a generator run)."""
    recipe = _recipe_of(Path(run_dir))
    if recipe is None:
        return None
    for pattern, target in _EVALUATORS:
        if fnmatch.fnmatchcase(recipe, pattern):
            module, _, name = target.partition(":")
            return getattr(importlib.import_module(module), name)
    return None
