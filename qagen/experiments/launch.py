"""An experiment's runs as jobs: ``qagen reproduce NAME --launcher local|submitit --jobs N``.

Each run of the experiment becomes one job (:mod:`qagen.experiments.job`), with per-run
resources (:class:`Resources`: GPUs, CPU threads, time limit, partition, account, nodes) from the
command line or a ``[launcher]`` table of a TOML file (:func:`launch_options`).

- ``local``: up to ``--jobs N`` runs at once on this machine, each its own process
  (``python -m qagen.experiments.job DIR RUN``), pinned to its GPU(s) with ``CUDA_VISIBLE_DEVICES``
  where there are GPUs (a run of G > 1 GPUs is started by ``torchrun --standalone``) and to a
  share of the CPU threads (``OMP_NUM_THREADS``, ``torch.set_num_threads``) where there are none.
- ``submitit``: one submitit job per run (SLURM where ``sbatch`` is found, else submitit's local
  executor), with ``--jobs N`` as the array's parallelism; then one final job evaluates the runs
  and writes the table, so the login node does no GPU work.

``--detach`` submits and returns (the local launcher leaves a driver process,
``python -m qagen.experiments.launch drive DIR``, that runs the jobs);
``--status`` lists each run's state (:func:`run_states`); the same command without ``--detach``
waits for the jobs, evaluates what finished and writes the table. Jobs report their state in
``DIR/jobs/<run>.json``; their logs are ``DIR/jobs/<run>.log`` (local) or
``DIR/jobs/submitit/`` (submitit). The folder keeps one ``experiment.json``, checked as for the
sequential runner: a second submission with other settings is refused, and a run whose job is
still queued or running is never submitted twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from qagen.errors import InputError
from qagen.experiments.job import (
    REQUEUE_EXIT,
    jobs_dir,
    last_line,
    read_state,
    write_state,
)

__all__ = [
    "LAUNCHERS", "Resources", "LaunchOptions", "launch_options", "reproduce_jobs", "launch_runs",
    "run_states", "format_states", "status_of", "drive",
]  # fmt: skip

LAUNCHERS = ("local", "submitit")
#: How many times a preempted local job is started again.
MAX_REQUEUES = 20
#: Seconds between two looks at the jobs while waiting.
POLL_S = 0.25


@dataclass(frozen=True)
class Resources:
    """What each run's job gets.

    ``gpus`` GPUs per run (local: pinned with ``CUDA_VISIBLE_DEVICES``; submitit:
    ``gpus_per_node``, one task per GPU), ``cpus`` CPU threads per run (local default: the
    machine's cores shared by the ``--jobs``; submitit: ``cpus_per_task``), ``time_min`` the
    job's time limit in minutes (submitit ``timeout_min``, default 24 h), ``partition`` and
    ``account`` (SLURM), ``nodes`` per run (multi-node DDP through submitit), ``signal_delay_s``
    (how long before the limit SLURM sends the warning signal), ``cluster`` (submitit:
    ``None`` = SLURM where available, else local; ``"slurm"``, ``"local"``), ``setup`` (shell
    lines run before each SLURM job, e.g. ``module load cuda``).
    """

    gpus: int = 0
    cpus: int | None = None
    time_min: int | None = None
    partition: str | None = None
    account: str | None = None
    nodes: int = 1
    signal_delay_s: int = 120
    cluster: str | None = None
    setup: tuple[str, ...] = ()


@dataclass(frozen=True)
class LaunchOptions:
    """``launcher`` (:data:`LAUNCHERS`), ``jobs`` (runs at once; ``None``: local 1, submitit
    all), ``detach`` (submit and return) and the per-run :class:`Resources`."""

    launcher: str = "local"
    jobs: int | None = None
    detach: bool = False
    resources: Resources = field(default_factory=Resources)


_RESOURCE_KEYS = {f.name for f in dataclasses.fields(Resources)}
_TOML_KEYS = {"launcher", "jobs"} | _RESOURCE_KEYS


def _read_launcher_table(path: str | Path) -> dict[str, Any]:
    import tomllib

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"--launcher-config {path}: no such file")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"--launcher-config {path}: not valid TOML ({err})") from None
    table = data.get("launcher")
    if not isinstance(table, dict):
        raise InputError(f"--launcher-config {path}: no [launcher] table")
    unknown = sorted(set(table) - _TOML_KEYS)
    if unknown:
        raise InputError(f"--launcher-config {path}: unknown key(s) {', '.join(unknown)} in "
                         f"[launcher] (known: {', '.join(sorted(_TOML_KEYS))})")  # fmt: skip
    return dict(table)


def _positive(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def launch_options(
    launcher: str | None = None,
    jobs: int | None = None,
    detach: bool = False,
    config: str | Path | None = None,
    **resources: Any,
) -> LaunchOptions:
    """The launch options: the ``[launcher]`` table of the TOML file ``config`` (keys
    ``launcher``, ``jobs`` and the :class:`Resources` fields), then the given arguments
    (``None`` keeps the file's value). Bad values are an :class:`InputError`; ``submitit``
    without the package installed is one line naming the extra (``pip install
    'qagen[cluster]'``)."""
    table = _read_launcher_table(config) if config is not None else {}
    given = {k: v for k, v in resources.items() if v is not None}
    unknown = sorted(set(given) - _RESOURCE_KEYS)
    if unknown:
        raise InputError(f"unknown launcher resource(s): {', '.join(unknown)}")
    launcher = launcher or table.pop("launcher", None) or "local"
    table.pop("launcher", None)
    jobs = jobs if jobs is not None else table.pop("jobs", None)
    table.pop("jobs", None)
    if launcher not in LAUNCHERS:
        raise InputError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    if jobs is not None:
        _positive("--jobs", jobs)
    merged = {**table, **given}
    for key in ("gpus",):
        if key in merged:
            _positive(f"--{key}-per-run", merged[key], 0)
    for key, flag in (("cpus", "--cpus-per-run"), ("time_min", "--time-limit"),
                      ("nodes", "--nodes"), ("signal_delay_s", "signal_delay_s")):  # fmt: skip
        if key in merged:
            _positive(flag, merged[key])
    if "setup" in merged:
        setup = merged["setup"]
        if isinstance(setup, str):
            setup = [setup]
        if not all(isinstance(x, str) for x in setup):
            raise InputError(f"[launcher] setup must be a list of shell lines, got {setup!r}")
        merged["setup"] = tuple(setup)
    if merged.get("cluster") not in (None, "slurm", "local"):
        raise InputError(f"[launcher] cluster must be slurm or local, got {merged['cluster']!r}")
    res = Resources(**merged)
    if launcher == "submitit":
        _require_submitit()
    elif res.nodes > 1:
        raise InputError("--nodes > 1 needs --launcher submitit (or torchrun on each node: "
                         "docs/scaling.md)")  # fmt: skip
    return LaunchOptions(launcher=launcher, jobs=jobs, detach=bool(detach), resources=res)


def _require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise InputError("--launcher submitit needs the submitit package: pip install "
                         "'qagen[cluster]' (or pip install submitit)") from None  # fmt: skip
    return submitit


# ----------------------------------------------------------------------------- states
def _pid_alive(pid: Any) -> bool:
    from qagen.experiments.runner import _pid_alive as alive

    return isinstance(pid, int) and alive(pid)


def _log_tail(out: Path, run: str, state: Mapping[str, Any]) -> str:
    """The last line of the job's log (local ``DIR/jobs/<run>.log``, or submitit's)."""
    paths = [jobs_dir(out) / f"{run}.log"]
    job_id = state.get("job_id")
    if job_id:
        paths += sorted((jobs_dir(out) / "submitit").glob(f"{job_id}_*_log.err"))
    for p in paths:
        with contextlib.suppress(OSError):
            line = last_line(p.read_text(errors="replace")[-4000:])
            if line:
                return line
    return ""


def status_of(out: Path, spec: Any) -> dict[str, Any]:
    """One run's state: ``{"run", "state", "step", "max_steps", "job_id", "error"}``.

    ``state`` is ``queued``, ``running`` (its job is alive), ``finished``, ``failed`` (with
    ``error``: the last line of the job's error or log), ``interrupted`` (checkpointed, not
    finished: the next command continues it), ``new`` or ``partial`` (no job: not started, or
    stopped with a checkpoint). A job that vanished without a word (killed, a node lost) is
    ``failed`` with the last line of its log.
    """
    from qagen.experiments.runner import run_status

    run_dir = out / "runs" / spec.name
    job = read_state(out, spec.name) or {}
    marker = run_status(run_dir, spec)
    job_id = job.get("job_id") or (f"pid {job['pid']}" if job.get("pid") else None)
    row: dict[str, Any] = {"run": spec.name, "step": _newest_step(run_dir),
                           "max_steps": spec.max_steps, "job_id": job_id,
                           "error": None}  # fmt: skip
    state = job.get("state")
    if marker == "finished":
        state = "finished"
    elif marker.startswith("failed"):
        state, row["error"] = "failed", marker.removeprefix("failed: ")
    elif state in ("running", "queued", "requeued"):
        owner = job.get("pid") if state == "running" else job.get("owner_pid")
        local = job.get("host", job.get("owner_host")) == socket.gethostname()
        ended = slurm_state(out, job.get("job_id")) if job.get("slurm") else None
        if ended is not None:  # SLURM says the job is over, the job never said so
            state = "failed"
            tail = _log_tail(out, spec.name, job)
            row["error"] = f"the SLURM job ended as {ended}" + (f"; its log ends: {tail}"
                                                                if tail else "")  # fmt: skip
        elif local and owner is not None and not _pid_alive(owner):
            if state == "running":
                state = "failed"
                row["error"] = ("the job ended without reporting (killed?)"
                                + (f"; its log ends: {_log_tail(out, spec.name, job)}"
                                   if _log_tail(out, spec.name, job) else ""))  # fmt: skip
            else:
                state = marker  # its launcher is gone: nothing will start it
        elif state == "requeued":
            state = "queued"
    elif state == "failed":
        row["error"] = job.get("error") or _log_tail(out, spec.name, job) or "unknown error"
    elif state != "interrupted":
        state = marker
    row["state"] = state
    return row


#: SLURM job states after which the job runs no more.
_SLURM_ENDED = ("BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
                "OUT_OF_MEMORY", "TIMEOUT")  # fmt: skip


def slurm_state(out: Path, job_id: Any) -> str | None:
    """The state SLURM reports (``sacct``, through submitit) for a job that is over, else
    ``None`` (running, pending, requeued, or no SLURM to ask)."""
    import shutil

    if not job_id or shutil.which("sacct") is None:
        return None
    try:
        import submitit

        state = str(submitit.SlurmJob(folder=jobs_dir(out) / "submitit", job_id=str(job_id)).state)
    except Exception:  # noqa: BLE001 (no answer: assume it runs)
        return None
    return state if state.split()[0] in _SLURM_ENDED else None


def _newest_step(run_dir: Path) -> int | None:
    """The step of the newest ``metrics.csv`` row (else the newest checkpoint's)."""
    path = run_dir / "metrics.csv"
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = [x for x in path.read_text().splitlines() if x.strip()]
        if len(lines) > 1:
            header = lines[0].split(",")
            return int(float(lines[-1].split(",")[header.index("step")]))
    from qagen.train.checkpoint import list_checkpoints

    ckpts = list_checkpoints(run_dir / "checkpoints")
    return ckpts[-1][0] if ckpts else None


def run_states(out: str | Path, specs: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """:func:`status_of` for every run of the experiment in ``out`` (its ``experiment.json``
    when ``specs`` is ``None``); an :class:`InputError` when ``out`` holds no experiment."""
    out = Path(out)
    if specs is None:
        specs = recorded_specs(out)
    return [status_of(out, s) for s in specs]


def _recorded(out: Path) -> dict[str, Any]:
    path = Path(out) / "experiment.json"
    if not path.is_file():
        raise InputError(f"--status: {out} holds no experiment (no experiment.json): start one "
                         "with qagen reproduce NAME --out DIR")  # fmt: skip
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data["runs"], list):
            raise ValueError("no list of runs")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"--status: {path} is not readable ({err})") from None
    return data


def recorded_experiment(out: str | Path) -> str | None:
    """The experiment name ``DIR/experiment.json`` records."""
    return _recorded(Path(out)).get("experiment")


def recorded_specs(out: Path) -> list[Any]:
    """The run specs of ``DIR/experiment.json``."""
    from qagen.experiments.base import RunSpec

    runs = _recorded(out)["runs"]
    return [RunSpec(**dict(r, overrides=tuple(r.get("overrides") or ()))) for r in runs]


def format_states(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ``--status`` table: one line a run (run, state, step / steps, job, error)."""
    lines = [f"{'run':<24} {'state':<12} {'step':>13}  job"]
    for r in rows:
        step = "-" if r["step"] is None else str(r["step"])
        if r.get("max_steps"):
            step += f"/{r['max_steps']}"
        line = f"{r['run']:<24} {r['state']:<12} {step:>13}  {r.get('job_id') or '-'}"
        if r.get("error"):
            line += f"  {r['error']}"
        lines.append(line)
    return "\n".join(lines)


_ACTIVE = ("queued", "running")


# ----------------------------------------------------------------------------- local
def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _visible_gpus() -> list[str]:
    """The GPUs this process may give out: ``CUDA_VISIBLE_DEVICES`` when set, else every
    device torch counts (without initialising CUDA)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g for g in (x.strip() for x in env.split(",")) if g and g != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def local_slots(res: Resources, jobs: int, gpus: Sequence[str] | None = None) -> list[dict]:
    """The environment of each of the local launcher's slots (at most ``jobs``): its GPUs
    (``CUDA_VISIBLE_DEVICES``, ``res.gpus`` each, default 1 where GPUs exist) and its CPU
    threads (``OMP_NUM_THREADS``, ``QAGEN_JOB_THREADS``: ``res.cpus``, default the cores
    divided among the slots)."""
    gpus = list(_visible_gpus() if gpus is None else gpus)
    if gpus:
        per = res.gpus or 1
        n = min(jobs, len(gpus) // per)
        if n == 0:
            raise InputError(f"--gpus-per-run {per}: only {len(gpus)} GPU(s) visible here")
        threads = res.cpus or max(1, _cores() // n)
        return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[i * per:(i + 1) * per]),
                 "OMP_NUM_THREADS": str(threads), "QAGEN_JOB_THREADS": str(threads),
                 "QAGEN_JOB_GPUS": str(per)} for i in range(n)]  # fmt: skip
    if res.gpus:
        raise InputError(f"--gpus-per-run {res.gpus}: no GPU is visible on this machine")
    threads = res.cpus or max(1, _cores() // jobs)
    return [{"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(threads),
             "QAGEN_JOB_THREADS": str(threads), "QAGEN_JOB_GPUS": "0"}
            for _ in range(jobs)]  # fmt: skip


def _job_command(out: Path, run: str, gpus: int) -> list[str]:
    module = ["-m", "qagen.experiments.job", str(out), run]
    if gpus > 1:  # one process per GPU of the run: torchrun on this machine
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={gpus}", *module]  # fmt: skip
    return [sys.executable, *module]


def _start_local(out: Path, run: str, slot: Mapping[str, str]) -> subprocess.Popen:
    log = (jobs_dir(out) / f"{run}.log").open("a")
    env = {**os.environ, **slot}
    try:
        return subprocess.Popen(
            _job_command(out, run, int(slot.get("QAGEN_JOB_GPUS", "0"))), env=env,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a terminal's Ctrl-C is forwarded
        )  # fmt: skip
    finally:
        log.close()


def _run_pool(out: Path, runs: Sequence[str], slots: Sequence[Mapping[str, str]],
              log: TextIO) -> dict[str, int]:  # fmt: skip
    """Run the jobs of ``runs``, at most one per slot; a job that exits with
    :data:`REQUEUE_EXIT` is started again. SIGINT / SIGTERM to this process are forwarded to
    the running jobs (which checkpoint) and no further job starts. Returns each run's exit
    status."""
    pending, active = deque(runs), {}
    codes: dict[str, int] = {}
    requeues: dict[str, int] = {}
    stop: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stop.append(signum)
        for _run, proc in active.values():
            with contextlib.suppress(OSError):
                proc.send_signal(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while active or (pending and not stop):
            for i, slot in enumerate(slots):
                if i not in active and pending and not stop:
                    run = pending.popleft()
                    print(f"qagen reproduce: starting {run} (slot {i})", file=log)
                    active[i] = (run, _start_local(out, run, slot))
            for i, (run, proc) in list(active.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                del active[i]
                if rc == REQUEUE_EXIT and not stop and requeues.get(run, 0) < MAX_REQUEUES:
                    requeues[run] = requeues.get(run, 0) + 1
                    print(f"qagen reproduce: {run} was preempted: starting it again", file=log)
                    pending.appendleft(run)
                else:
                    codes[run] = rc
            time.sleep(POLL_S)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if stop:
        raise _Stopped(stop[0])
    return codes


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def _owner(state_extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"owner_pid": os.getpid(), "owner_host": socket.gethostname(), **(state_extra or {})}


def drive(out: Path) -> int:
    """The detached local driver: run the jobs of ``DIR/jobs/launch.json``."""
    plan = json.loads((jobs_dir(out) / "launch.json").read_text())
    res = Resources(**dict(plan["resources"], setup=tuple(plan["resources"].get("setup", ()))))
    for run in plan["runs"]:
        write_state(out, run, "queued", **_owner({"launcher": "local"}))
    slots = local_slots(res, int(plan["jobs"]))
    try:
        _run_pool(out, plan["runs"], slots, sys.stderr)
    except _Stopped as stopped:
        return 128 + stopped.signum
    return 0


# ----------------------------------------------------------------------------- submitit
def _executor(out: Path, opts: LaunchOptions, *, evaluation: bool = False) -> Any:
    submitit = _require_submitit()
    res = opts.resources
    folder = jobs_dir(out) / "submitit"
    executor = submitit.AutoExecutor(folder=str(folder), cluster=res.cluster)
    gpus = min(res.gpus, 1) if evaluation else res.gpus
    tasks = max(1, gpus)  # one task per GPU: the DDP ranks (qagen.experiments.job)
    params: dict[str, Any] = {
        "timeout_min": res.time_min or 24 * 60, "nodes": 1 if evaluation else res.nodes,
        "tasks_per_node": 1 if evaluation else tasks, "gpus_per_node": gpus,
        "name": f"qagen-{out.name}",
    }  # fmt: skip
    if res.cpus:
        params["cpus_per_task"] = res.cpus
    if executor.cluster == "slurm":
        params.update(slurm_signal_delay_s=res.signal_delay_s, slurm_setup=list(res.setup))
        if res.partition:
            params["slurm_partition"] = res.partition
        if res.account:
            params["slurm_account"] = res.account
        if opts.jobs and not evaluation:
            params["slurm_array_parallelism"] = opts.jobs
    executor.update_parameters(**params)
    return executor


def _submit_submitit(out: Path, runs: Sequence[str], opts: LaunchOptions, log: TextIO) -> None:
    """Submit one job per run (an array on SLURM, ``--jobs`` of them at once). Submitit's local
    executor runs every job at once: there the launcher submits ``--jobs`` at a time."""
    from qagen.experiments.job import RunJob

    executor = _executor(out, opts)
    if executor.cluster == "slurm" or not opts.jobs or opts.detach:
        with executor.batch():
            jobs = [executor.submit(RunJob(out, run)) for run in runs]
        for run, job in zip(runs, jobs, strict=True):
            _queued(out, run, job.job_id, opts, log)
        return
    pending = deque(runs)
    active: list[tuple[str, Any]] = []
    while pending or active:
        while pending and len(active) < opts.jobs:
            run = pending.popleft()
            job = executor.submit(RunJob(out, run))
            _queued(out, run, job.job_id, opts, log)
            active.append((run, job))
        time.sleep(POLL_S)
        active = [(r, j) for r, j in active if j.state == "RUNNING"]  # the local executor's


def _executor_cluster(out: Path, opts: LaunchOptions) -> str:
    return "slurm" if opts.resources.cluster == "slurm" or (
        opts.resources.cluster is None and _has_sbatch()) else "local"  # fmt: skip


def _has_sbatch() -> bool:
    import shutil

    return shutil.which("sbatch") is not None


def _queued(out: Path, run: str, job_id: str, opts: LaunchOptions, log: TextIO) -> None:
    state = read_state(out, run) or {}
    if state.get("state") not in ("running", "finished", "failed"):  # the job may be quicker
        slurm = _executor_cluster(out, opts) == "slurm"
        write_state(out, run, "queued", job_id=str(job_id), launcher=opts.launcher, slurm=slurm)
    print(f"qagen reproduce: submitted {run} as job {job_id}", file=log)


# ----------------------------------------------------------------------------- the command
def _wait(out: Path, specs: Sequence[Any], log: TextIO) -> list[dict[str, Any]]:
    """Wait until no run is queued or running; returns the states."""
    said = False
    while True:
        rows = run_states(out, specs)
        busy = [r["run"] for r in rows if r["state"] in _ACTIVE]
        if not busy:
            return rows
        if not said:
            print(f"qagen reproduce: waiting for {len(busy)} job(s): {', '.join(busy)}",
                  file=log)  # fmt: skip
            said = True
        time.sleep(POLL_S)


def _to_launch(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The runs that need a job: not finished, not failed, no job queued or running."""
    return [r["run"] for r in rows if r["state"] in ("new", "partial", "interrupted")]


def reproduce_jobs(
    name: str,
    budget: str,
    out: str | Path,
    launch: LaunchOptions,
    *,
    log: TextIO | None = None,
    **options: Any,
) -> dict:
    """:func:`qagen.experiments.runner.reproduce` with each run as a job (``launch``): the
    same inputs (``options``: ``data``, ``inception_weights``, ``device``, ``eval_data``),
    checked before anything is submitted; returns the ``table.json`` content (``{}`` with
    ``launch.detach``)."""
    from qagen.experiments.runner import prepare

    options.pop("progress", None)  # the jobs log to their own files
    out = Path(out)
    exp, ctx, specs = prepare(name, budget, out, **options)
    out.mkdir(parents=True, exist_ok=True)
    return launch_runs(exp, ctx, specs, launch, log=log if log is not None else sys.stderr)


def launch_runs(
    exp: Any, ctx: Any, specs: Sequence[Any], opts: LaunchOptions, *, log: TextIO
) -> dict:
    """Train ``specs`` as jobs (:class:`LaunchOptions`), wait for them, evaluate and write the
    table; ``{}`` with ``opts.detach`` (the jobs are submitted, nothing waits)."""
    from qagen.experiments.runner import ExperimentInterrupted, _check_folder, _lock, write_table

    out = ctx.out
    with _lock(out):
        _check_folder(out, exp, ctx, list(specs))
        jobs_dir(out).mkdir(parents=True, exist_ok=True)
        rows = run_states(out, specs)
        todo = _to_launch(rows)
        busy = [r["run"] for r in rows if r["state"] in _ACTIVE]
        if busy:
            print(f"qagen reproduce: {len(busy)} run(s) already have a job: "
                  f"{', '.join(busy)}", file=log)  # fmt: skip
        if todo:
            _write_plan(out, todo, opts)
            if opts.launcher == "submitit":
                _submit_submitit(out, todo, opts, log)
            elif opts.detach:
                for run in todo:  # queued until the driver starts them
                    write_state(out, run, "queued", **_owner({"launcher": "local"}))
                _spawn_driver(out, log)
            else:
                for run in todo:
                    write_state(out, run, "queued", **_owner({"launcher": "local"}))
                slots = local_slots(opts.resources, opts.jobs or 1)
                try:
                    _run_pool(out, todo, slots, log)
                except _Stopped as stopped:
                    name = signal.Signals(stopped.signum).name
                    raise ExperimentInterrupted(", ".join(todo), 128 + stopped.signum, None,
                                                out, name) from None  # fmt: skip
    if opts.detach:
        print(f"qagen reproduce: {len(todo)} job(s) submitted; follow them with qagen reproduce "
              f"{exp.name} --out {out} --status, collect the table by running the command "
              "again without --detach", file=log)  # fmt: skip
        return {}
    rows = _wait(out, specs, log)
    unfinished = [r for r in rows if r["state"] not in ("finished", "failed")]
    if unfinished:
        r = unfinished[0]
        raise ExperimentInterrupted(r["run"], 130 if r["state"] == "interrupted" else 1,
                                    r["step"], out)  # fmt: skip
    for r in rows:
        ctx.status[r["run"]] = "finished" if r["state"] == "finished" else f"failed: {r['error']}"
    if opts.launcher == "submitit":
        return _evaluate_in_a_job(exp, ctx, specs, opts, log)
    return write_table(exp, ctx, specs, log)


def _write_plan(out: Path, runs: Sequence[str], opts: LaunchOptions) -> None:
    from qagen.files import write_json_atomic

    res = dataclasses.asdict(opts.resources)
    write_json_atomic(jobs_dir(out) / "launch.json", {"launcher": opts.launcher,
                      "jobs": opts.jobs or 1, "runs": list(runs), "resources": res},
                      indent=2)  # fmt: skip


def _spawn_driver(out: Path, log: TextIO) -> None:
    with (jobs_dir(out) / "driver.log").open("a") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qagen.experiments.launch", "drive", str(out)],
            stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    print(f"qagen reproduce: the local jobs run under driver pid {proc.pid} "
          f"(log {jobs_dir(out) / 'driver.log'})", file=log)  # fmt: skip


def _evaluate_in_a_job(exp: Any, ctx: Any, specs: Sequence[Any], opts: LaunchOptions,
                       log: TextIO) -> dict:  # fmt: skip
    from qagen.experiments.job import evaluate_job

    executor = _executor(ctx.out, opts, evaluation=True)
    job = executor.submit(evaluate_job, exp, ctx, list(specs))
    print(f"qagen reproduce: evaluating in job {job.job_id}", file=log)
    return job.result()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qagen.experiments.launch drive DIR``: the detached local driver."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "drive":
        print("usage: python -m qagen.experiments.launch drive DIR", file=sys.stderr)
        return 2
    return drive(Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
