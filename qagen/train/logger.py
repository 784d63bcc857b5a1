"""``metrics.csv`` and TensorBoard scalars of a run (written by rank 0 only).

Each row holds ``step`` (completed generator steps), ``elapsed_s`` (training seconds, continued
across resumes) and, per logged quantity, its mean over the steps since the previous row (the
values are already averaged over ranks). A quantity that first appears later widens the header
(the file is rewritten once). On resume, rows beyond the resumed step (written after the
checkpoint by the interrupted run or by an abandoned branch) are dropped, so the file describes
one consistent history. The file is touched only by :meth:`MetricsLogger.start` (called by the
trainer once the run is set up, and by the first :meth:`MetricsLogger.flush` at the latest), so
building a logger for a run that then fails to start changes nothing on disk.
TensorBoard events go to ``DIR/tb`` when ``train.tensorboard`` is on and
``torch.utils.tensorboard`` (hence the ``tensorboard`` package: ``pip install
'qagen[tensorboard]'``) is importable; :func:`tensorboard_status` says which, and ``qagen
train`` prints it on its first lines.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qagen.files import write_atomic

__all__ = ["MetricsLogger", "tensorboard_status"]

#: How to get TensorBoard events (the optional dependency of ``pyproject.toml``).
TENSORBOARD_EXTRA = "pip install 'qagen[tensorboard]'"
_summary_writer: list[Any] = []  # [SummaryWriter class or the import error], once imported


def _writer_class() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``, or the exception its import raised."""
    if not _summary_writer:
        try:
            from torch.utils.tensorboard import SummaryWriter

            _summary_writer.append(SummaryWriter)
        except Exception as err:  # tensorboard not installed (or broken)
            _summary_writer.append(err)
    return _summary_writer[0]


def tensorboard_status(requested: bool, run_dir: str | Path | None) -> tuple[bool, str]:
    """Whether a run writes TensorBoard events, and a phrase for the user: the folder, or why
    not (``train.tensorboard = false``; the package not installed, with the command that
    installs it)."""
    if not requested:
        return False, "off (train.tensorboard = false)"
    cls = _writer_class()
    if isinstance(cls, Exception):
        return False, f"not written: the tensorboard package is not installed ({TENSORBOARD_EXTRA})"
    where = Path(run_dir) / "tb" if run_dir is not None else Path("tb")
    return True, f"{where} (tensorboard --logdir {where})"


def _fmt(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else str(value)


class MetricsLogger:
    """Window-averaged scalar logging to CSV (and TensorBoard when asked for and installed:
    :func:`tensorboard_status`)."""

    def __init__(
        self,
        run_dir: str | Path | None,
        *,
        start_step: int = 0,
        tensorboard: bool = True,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled and run_dir is not None
        self.path = Path(run_dir) / "metrics.csv" if run_dir is not None else None
        self._sums: dict[str, float] = {}
        self._count = 0
        self._header: list[str] = []
        self._writer: Any = None
        self.last: dict[str, float] = {}
        self._start_step = int(start_step)
        self._tensorboard = tensorboard
        self._started = False

    def start(self) -> None:
        """Drop the rows beyond the start step (all rows for a fresh run, ``start_step = 0``) and
        open TensorBoard. Idempotent; a disabled logger does nothing."""
        if self._started or not self.enabled:
            return
        self._started = True
        self._truncate(self._start_step)
        assert self.path is not None
        if tensorboard_status(self._tensorboard, self.path.parent)[0]:
            self._writer = _writer_class()(
                log_dir=str(self.path.parent / "tb"), purge_step=self._start_step + 1
            )

    # -- CSV
    def _read(self) -> tuple[list[str], list[dict[str, str]]]:
        assert self.path is not None
        if not self.path.is_file():
            return [], []
        with self.path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            return list(reader.fieldnames or []), rows

    def _rewrite(self, header: list[str], rows: list[Mapping[str, Any]]) -> None:
        assert self.path is not None
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(self.path, buf.getvalue())
        self._header = header

    def _truncate(self, start_step: int) -> None:
        header, rows = self._read()
        if not header:
            self._header = []
            self.path.unlink(missing_ok=True)
            return
        kept = []
        for row in rows:
            try:
                if int(row.get("step", "0")) <= start_step:
                    kept.append(row)
            except ValueError:
                continue
        if start_step == 0:
            kept = []
        self._rewrite(header, kept)

    # -- accumulation
    def add(self, values: Mapping[str, float]) -> None:
        """Accumulate one step's values."""
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v)
        self._count += 1

    def flush(self, step: int, elapsed: float, extra: Mapping[str, float] | None = None) -> None:
        """Write the mean of the accumulated window as the row of ``step``."""
        if self._count == 0:
            return
        means = {k: v / self._count for k, v in self._sums.items()}
        if extra:
            means.update(extra)
        self.last = means
        self._sums, self._count = {}, 0
        if not self.enabled:
            return
        self.start()
        row = {"step": str(step), "elapsed_s": f"{elapsed:.3f}"}
        row.update({k: _fmt(v) for k, v in means.items()})
        keys = ["step", "elapsed_s", *sorted(means)]
        if not self._header:
            self._rewrite(keys, [])
        elif any(k not in self._header for k in keys):
            header, rows = self._read()
            header = header + [k for k in keys if k not in header]
            self._rewrite(header, rows)
        assert self.path is not None
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self._header, restval="").writerow(row)
        if self._writer is not None:
            for k, v in means.items():
                self._writer.add_scalar(k, v, step)

    # -- checkpointed window
    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self._sums), "count": self._count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._sums = {str(k): float(v) for k, v in state.get("sums", {}).items()}
        self._count = int(state.get("count", 0))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
