"""The trained run behind a report: restored once per report and shared by its sections."""

from __future__ import annotations

from typing import Any

from qagen.report.run import RunReportData

__all__ = ["restored_run"]


def restored_run(run: RunReportData, checkpoint: str | int = "last") -> Any:
    """The run of the report ``run`` restored from ``checkpoint``
    (:func:`qagen.train.restore_run`, on ``run.device``), cached for the report's sections."""
    from qagen.train import restore_run

    return run.cached(
        f"restore:{checkpoint}",
        lambda: restore_run(run.run_dir, checkpoint, device=run.device),
    )
