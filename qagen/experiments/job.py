"""One run of an experiment as one job: what a process started by ``qagen reproduce --launcher
local|submitit`` does (:mod:`qagen.experiments.launch` starts it).

A job reads the run's :class:`~qagen.experiments.base.RunSpec` from ``DIR/experiment.json``,
trains (or continues) the run with the ordinary runner (:func:`qagen.experiments.runner._train`,
the same code as the sequential ``qagen reproduce``) and reports its state in
``DIR/jobs/<run>.json``:

``queued`` (written by the submitter), ``running`` (pid, host, start time), ``finished``,
``failed`` (the last line of the error), ``interrupted`` (SIGINT / SIGTERM: checkpointed, not
finished; the next ``qagen reproduce`` starts it again) and ``requeued`` (a scheduler's warning,
SIGUSR1 or SIGUSR2: checkpointed and put back in the queue, where it resumes bit for bit from that
checkpoint, as ``qagen train --resume`` does).

Requeueing: under submitit the job calls submitit's own signal handler, which calls
:meth:`RunJob.checkpoint` (the same job again: the checkpoint is already on disk) and requeues
the job (``scontrol requeue`` on SLURM; the local executor starts the task again); a job of the
local launcher exits with :data:`REQUEUE_EXIT` and the launcher starts it again.

``python -m qagen.experiments.job DIR RUN`` runs one job (the local launcher's command).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qagen.files import write_json_atomic

__all__ = [
    "REQUEUE_EXIT", "PREEMPT_SIGNALS", "RunJob", "run_job", "write_state", "read_state",
    "jobs_dir", "last_line",
]  # fmt: skip

#: Exit status of a local job that asks to be started again (preempted: SIGUSR1 / SIGUSR2).
REQUEUE_EXIT = 75
#: The signals that mean "you will be stopped soon, come back later": checkpoint and requeue.
PREEMPT_SIGNALS = ("SIGUSR1", "SIGUSR2")


def jobs_dir(out: Path) -> Path:
    """``DIR/jobs``: the jobs' state files and logs."""
    return Path(out) / "jobs"


def write_state(out: Path, run: str, state: str, **fields: Any) -> None:
    """Write ``DIR/jobs/<run>.json``: ``{"state": state, "time": now, **fields}``."""
    folder = jobs_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / f"{run}.json", {"state": state, "time": time.time(), **fields},
                      indent=2)  # fmt: skip


def read_state(out: Path, run: str) -> dict | None:
    """``DIR/jobs/<run>.json`` (``None``: no job was ever launched for the run)."""
    try:
        data = json.loads((jobs_dir(out) / f"{run}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (an error's message, a log's last word)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _spec(out: Path, run: str) -> tuple[Any, Any]:
    """The run's spec and a context for training it, from ``DIR/experiment.json``."""
    from qagen.errors import InputError
    from qagen.experiments.base import ExperimentContext, RunSpec

    try:
        recorded = json.loads((out / "experiment.json").read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{out}: no readable experiment.json ({err})") from None
    for item in recorded.get("runs", []):
        if item.get("name") == run:
            item = dict(item, overrides=tuple(item.get("overrides") or ()))
            spec = RunSpec(**item)
            ctx = ExperimentContext(out=out, budget=recorded["budget"], data=recorded["data"])
            return spec, ctx
    raise InputError(f"{out}/experiment.json has no run {run!r}")


def _export_torch_env() -> None:
    """Under a submitit job of several tasks (nodes x GPUs), set ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` from submitit's job environment, so the
    trainer joins one process group (:func:`qagen.train.distributed.init_distributed`)."""
    if "SUBMITIT_FOLDER" not in os.environ or "RANK" in os.environ:
        return
    import submitit

    env = submitit.JobEnvironment()
    if env.num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def _requeue_under_submitit(sig: str) -> None:
    """Hand the preemption to submitit: its handler calls :meth:`RunJob.checkpoint` and requeues
    the job (then exits). Returns only when submitit's handler is not installed."""
    import submitit

    usr = submitit.JobEnvironment._usr_sig()
    handler = signal.getsignal(usr)
    if callable(handler):
        handler(usr, None)


def run_job(out: str | Path, run: str) -> dict:
    """Train run ``run`` of the experiment in ``out`` in this process; returns its final state.

    ``QAGEN_JOB_THREADS`` (set by the local launcher) is the number of intra-op CPU threads.
    A preemption warning (SIGUSR1 / SIGUSR2) checkpoints and requeues the job: under submitit
    through submitit's handler, else by exiting with :data:`REQUEUE_EXIT`. SIGINT / SIGTERM
    checkpoint and exit with 130 / 143 (state ``interrupted``).
    """
    from qagen.experiments.runner import ExperimentInterrupted, _train

    out = Path(out)
    threads = os.environ.get("QAGEN_JOB_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    _export_torch_env()
    main = os.environ.get("RANK", "0") in ("", "0")
    spec, ctx = _spec(out, run)

    who = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "job_id": os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID"),
        "slurm": "SLURM_JOB_ID" in os.environ,
    }

    def report(state: str, **fields: Any) -> dict:
        if main:
            write_state(out, run, state, **who, **fields)
        return {"state": state, **who, **fields}

    report("running")
    try:
        status = _train(spec, ctx, sys.stderr)
    except ExperimentInterrupted as stop:
        if stop.signal in PREEMPT_SIGNALS:
            report("requeued", step=stop.step, signal=stop.signal)
            if "SUBMITIT_FOLDER" in os.environ:
                _requeue_under_submitit(stop.signal)
            raise SystemExit(REQUEUE_EXIT) from None
        report("interrupted", step=stop.step, signal=stop.signal)
        raise SystemExit(stop.exit_code) from None
    except BaseException as err:
        message = last_line(f"{type(err).__name__}: {err}") or type(err).__name__
        report("failed", error=message, traceback=traceback.format_exc(limit=8))
        raise
    if status == "finished":
        return report("finished")
    return report("failed", error=status.removeprefix("failed: "))


class RunJob:
    """The callable submitted to submitit for one run: ``RunJob(out, run)()`` is
    :func:`run_job`; :meth:`checkpoint` (submitit's checkpoint call on a preemption or time-out)
    returns the same job, which resumes from the checkpoint the trainer wrote."""

    def __init__(self, out: str | Path, run: str) -> None:
        self.out, self.run = str(out), run

    def __call__(self) -> dict:
        return run_job(self.out, self.run)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(RunJob(self.out, self.run))

    def __repr__(self) -> str:
        return f"RunJob({self.out!r}, {self.run!r})"


def evaluate_job(exp: Any, ctx: Any, specs: Sequence[Any]) -> dict:
    """The final job of ``--launcher submitit``: evaluate the finished runs and write the table
    (the GPU work of the evaluation runs in a job, never on the login node)."""
    from qagen.experiments.runner import run_status, write_table

    for spec in specs:
        ctx.status[spec.name] = run_status(ctx.run_dir(spec.name), spec)
    return write_table(exp, ctx, specs, sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qagen.experiments.job DIR RUN``: run one job; 0 when the run finished."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m qagen.experiments.job DIR RUN", file=sys.stderr)
        return 2
    return 0 if run_job(args[0], args[1])["state"] == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
