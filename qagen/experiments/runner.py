"""Running an experiment: train its runs (resumably), evaluate them, write the table and report.

Layout of ``DIR`` (``--out``)::

    DIR/experiment.json        name, budget, data and the run specs (checked on re-runs)
    DIR/runs/<run>/            an ordinary run directory per run (config.toml, checkpoints/, ...)
    DIR/runs/<run>/experiment_run.json   written when the run is finished (or failed)
    DIR/table.md, table.csv, table.json, report.html

Re-running the same command reuses finished runs, continues unfinished ones from their newest
checkpoint (a ``max_minutes`` budget counts the training time already spent, from the run's
``metrics.csv``) and re-evaluates only what is missing.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from qagen.errors import InputError
from qagen.experiments.base import (
    Experiment,
    ExperimentContext,
    RunSpec,
    check_budget,
    get_experiment,
)
from qagen.files import write_json_atomic

__all__ = [
    "ExperimentInterrupted", "reproduce", "prepare", "write_table", "evaluate_run",
    "expected_protocol", "run_status",
]  # fmt: skip


class ExperimentInterrupted(Exception):
    """A run of the experiment was stopped by a signal (SIGINT / Ctrl-C, SIGTERM, or a
    scheduler's SIGUSR1 / SIGUSR2 warning): it checkpointed, no run after it started, nothing was
    evaluated and no table was written. ``exit_code`` is 130 (SIGINT), 143 (SIGTERM), 138 / 140
    (SIGUSR1 / SIGUSR2); ``signal`` names the signal (``None``: unknown)."""

    def __init__(
        self, run: str, exit_code: int, step: int | None, out: Path, signal: str | None = None
    ) -> None:
        self.run, self.exit_code, self.step, self.signal = run, int(exit_code), step, signal
        at = f" at step {step}" if step is not None else ""
        super().__init__(
            f"interrupted during run {run}{at} (its checkpoint is kept); nothing was evaluated "
            f"and no table was written: run the same command again to continue it ({out})"
        )


_MARKER = "experiment_run.json"


# ----------------------------------------------------------------------------- small helpers
def _write_json(path: Path, data: Any) -> None:
    write_json_atomic(path, data, indent=2)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _elapsed_minutes(run_dir: Path) -> float:
    """Training minutes already spent (``elapsed_s`` of the last row of ``metrics.csv``)."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return 0.0
    last = None
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            last = row
    try:
        return float(last["elapsed_s"]) / 60.0 if last else 0.0
    except (KeyError, TypeError, ValueError):
        return 0.0


def run_status(run_dir: Path, spec: RunSpec | None = None) -> str:
    """``"finished"``, ``"failed: <reason>"``, ``"partial"`` (checkpoints, budget not reached)
    or ``"new"``. A run is ``"finished"`` only when it reached its budget: its marker says so
    and, with ``spec``, the budget is checked again (a marker written by an older qagen for a
    run stopped early by a signal is not believed: the run is ``"partial"`` and continues)."""
    from qagen.train.checkpoint import latest_checkpoint

    marker = _read_json(run_dir / _MARKER)
    has_ckpt = latest_checkpoint(run_dir / "checkpoints") is not None
    if marker is not None:
        status = str(marker.get("status", "finished"))
        if status != "finished" or spec is None or _budget_reached(run_dir, spec, marker):
            return status
        return "partial" if has_ckpt else "new"
    return "partial" if has_ckpt else "new"


def _budget_reached(run_dir: Path, spec: RunSpec, marker: dict) -> bool:
    """Whether the run reached ``spec``'s budget: the trainer's stop reason in the marker
    (``max_steps`` / ``max_minutes``: never ``signal``) and, for a step budget, a checkpoint
    at or past it. Markers of older qagen versions carry no reason: the newest checkpoint's
    step (step budgets) or the logged training time (minute budgets, 2 % slack for the last
    unlogged steps) decides."""
    from qagen.train.checkpoint import list_checkpoints

    reason = marker.get("reason")
    if reason == "signal":
        return False
    if spec.max_steps is not None:
        steps = [s for s, _ in list_checkpoints(run_dir / "checkpoints")]
        return bool(steps) and max(steps) >= spec.max_steps
    if reason is not None:
        return reason in ("max_steps", "max_minutes", "nothing to train")
    if spec.max_minutes is not None:
        return _elapsed_minutes(run_dir) >= 0.98 * spec.max_minutes
    return True


def _fmt_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class _Progress:
    """The experiment's progress: runs done / total and a truthful ETA.

    The ETA is the expected time of what is left, scaled by how the runs trained in this session
    compared with their expected time (``RunSpec.expected_seconds``).
    """

    def __init__(self, specs: Sequence[RunSpec], enabled: bool, log: TextIO) -> None:
        from tqdm.auto import tqdm

        self.expected = {s.name: float(s.expected_seconds) for s in specs}
        self.eval_expected = max(10.0, 0.1 * sum(self.expected.values()))
        self.left = dict(self.expected)
        self.spent_actual = 0.0
        self.spent_expected = 0.0
        self.bar = tqdm(total=len(specs) + 1, unit="step", disable=not enabled, file=log,
                        bar_format="{desc} {n_fmt}/{total_fmt} |{bar}| {postfix}",
                        dynamic_ncols=True)  # fmt: skip
        self.bar.set_description_str("qagen reproduce")
        self._post()

    def _post(self, current: str = "") -> None:
        remaining = sum(self.left.values()) + self.eval_expected
        ratio = self.spent_actual / self.spent_expected if self.spent_expected > 0 else 1.0
        text = f"ETA {_fmt_eta(remaining * ratio)}"
        self.bar.set_postfix_str(f"{current}  {text}" if current else text)

    def start(self, name: str, verb: str) -> None:
        self._post(f"{verb} {name}")

    def done(self, name: str, seconds: float | None) -> None:
        expected = self.left.pop(name, 0.0)
        if seconds is not None and expected > 0:
            self.spent_actual += seconds
            self.spent_expected += expected
        self.bar.update(1)
        self._post()

    def evaluated(self) -> None:
        self.eval_expected = 0.0
        self.bar.update(1)
        self._post()

    def close(self) -> None:
        self.bar.close()


# ----------------------------------------------------------------------------- training
def _train(spec: RunSpec, ctx: ExperimentContext, log: TextIO) -> str:
    """Train (or continue) one run; returns its status."""
    from qagen.train import train_main

    run_dir = ctx.run_dir(spec.name)
    status = run_status(run_dir, spec)
    if status == "finished" or status.startswith("failed"):
        return status
    data = spec.data or ctx.data
    max_minutes = spec.max_minutes
    if status == "partial":
        if max_minutes is not None:
            max_minutes = max_minutes - _elapsed_minutes(run_dir)
        if max_minutes is not None and max_minutes <= 0:
            rc = 0
        else:
            rc = train_main(
                None, resume=str(run_dir), max_steps=spec.max_steps, max_minutes=max_minutes
            )
    else:
        rc = train_main(
            spec.recipe, data=data, preset=spec.preset, out=str(run_dir),
            max_steps=spec.max_steps, max_minutes=max_minutes, overrides=list(spec.overrides),
        )  # fmt: skip
    result = getattr(rc, "result", None)
    if rc in (130, 143) or (result is not None and result.reason == "signal"):
        # stopped by a signal after its checkpoint: not finished, nothing after it runs
        raise ExperimentInterrupted(spec.name, int(rc) or 130, result.step if result else None,
                                    ctx.out, result.signal if result else None)  # fmt: skip
    reason = result.reason if result is not None else "nothing to train"
    status = "finished" if rc == 0 else "failed: the loss became NaN or infinite (see metrics.csv)"
    _write_json(run_dir / _MARKER, {"status": status, "reason": reason,
                                    "step": result.step if result is not None else None,
                                    "spec": spec.as_dict()})  # fmt: skip
    return status


# ----------------------------------------------------------------------------- evaluation
def evaluate_run(
    ctx: ExperimentContext, name: str, metrics: Sequence[str], *, n_samples: int, **options: Any
) -> dict:
    """``{metric: record}`` for run ``name`` by the ordinary evaluation (``qagen eval``).

    ``options`` are :class:`qagen.eval.options.EvalOptions` fields (``generator="ema"`` for the EMA
    copy: its records are ``METRIC@ema`` in ``eval.json``). Records already in the run's
    ``eval.json`` that :func:`qagen.experiments.base.record_is_reusable` accepts for this request
    (:func:`expected_protocol`) are reused; the others are computed (and merged into
    ``eval.json``). FID, KID and IS need ``ctx.inception_weights``: without them their records
    are ``{"skipped": True, "reason": ...}``.
    """
    from qagen.eval.options import EvalOptions
    from qagen.eval.run import evaluate_run as _evaluate
    from qagen.eval.run import record_key

    options.setdefault("progress", ctx.budget != "smoke")
    opts = EvalOptions(n_samples=n_samples, inception_weights=ctx.inception_weights,
                       device=ctx.device, **options)  # fmt: skip
    out: dict = {}
    todo = []
    for m in metrics:
        expect, require = expected_protocol(opts, m)
        key = record_key(m, opts.generator)
        rec = None if opts.real is not None else ctx.cached_record(name, key, expect, require)
        if rec is not None:
            out[m] = rec
        else:
            todo.append(m)
    inception = [m for m in todo if m in ("fid", "kid", "is")]
    if inception and not ctx.inception_weights and not os.environ.get("QAGEN_INCEPTION_WEIGHTS"):
        for m in inception:
            out[m] = {"metric": m, "skipped": True, "reason": "no Inception weights given "
                      "(--inception-weights pt_inception-2015-12-05-6726825d.pth)"}  # fmt: skip
        todo = [m for m in todo if m not in inception]
    if todo:
        with contextlib.redirect_stdout(sys.stderr):
            res = _evaluate(ctx.run_dir(name), opts, metrics=",".join(todo))
        out.update({m: res[m] for m in todo if m in res})
    return out


def expected_protocol(opts: Any, metric: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """What an ``eval.json`` record of ``metric`` must hold to stand for an evaluation with
    :class:`~qagen.eval.options.EvalOptions` ``opts``: ``(expect, require)`` for
    :func:`~qagen.experiments.base.record_is_reusable`.

    ``expect`` (protocol fields, as :func:`qagen.eval.run.evaluate_run` records them): the
    sample count ``n_fake``, the ``checkpoint`` asked for, ``generator_requested`` (ema / raw),
    ``sample_seed``, ``sample_batch_size``, the ``reference_split`` when one is asked for, and
    the metric's options: ``fid_method`` (FID), ``kid_subsets`` and a given
    ``kid_subset_size`` (KID), a given ``isc_splits`` (IS), a given ``niqe_block`` (NIQE's
    ``block_size``). ``require``: ``real_vs_real`` in the SWD record when ``swd_baseline``.
    """
    expect: dict[str, Any] = {
        "n_fake": opts.n_samples,
        "checkpoint": str(opts.checkpoint),
        "generator_requested": opts.generator,
        "sample_seed": opts.seed,
        "sample_batch_size": opts.batch_size,
    }
    if opts.reference_split is not None:
        expect["reference_split"] = opts.reference_split
    given = {
        "fid": {"fid_method": opts.fid_method},
        "kid": {"kid_subsets": opts.kid_subsets, "kid_subset_size": opts.kid_subset_size},
        "is": {"isc_splits": opts.isc_splits},
        "niqe": {"block_size": opts.niqe_block},
    }.get(metric, {})
    expect.update({k: v for k, v in given.items() if v is not None})
    require = ("real_vs_real",) if metric == "swd" and opts.swd_baseline else ()
    return expect, require


# ----------------------------------------------------------------------------- the command
@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One ``qagen reproduce`` per output folder at a time."""
    lock = out / ".lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        pid = lock.read_text().strip() if lock.is_file() else "?"
        alive = pid.isdigit() and _pid_alive(int(pid))
        if alive:
            raise InputError(f"{out} is in use by another qagen reproduce (pid {pid})") from None
        lock.unlink(missing_ok=True)  # a stale lock of a killed process
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_not_foreign(out: Path) -> None:
    """``--out`` is new, empty or an earlier output of ``qagen reproduce`` (it holds
    ``experiment.json`` or ``runs/``); a folder of other files (photos) is refused."""
    from qagen.report.runfiles import foreign_entries, some_names

    ours = (out / "experiment.json").is_file() or (out / "runs").is_dir()
    held = [] if ours else foreign_entries(out)
    if held:
        raise InputError(
            f"--out {out} is not a qagen reproduce folder (no experiment.json or runs/) and holds "
            f"{len(held)} other file(s) ({some_names(held)}); choose a new or empty folder"
        )


def _check_folder(out: Path, exp: Experiment, ctx: ExperimentContext, specs: list[RunSpec]) -> None:
    """``DIR/experiment.json`` records what the folder holds; a different budget, data or set
    of runs in the same folder would mix two experiments, so it is refused."""
    path = out / "experiment.json"
    want = {
        "experiment": exp.name, "budget": ctx.budget, "data": ctx.data,
        "runs": [s.as_dict() for s in specs],
    }  # fmt: skip
    have = _read_json(path)
    if have is not None:
        for key in ("experiment", "budget", "data"):
            if have.get(key) != want[key]:
                raise InputError(
                    f"{out} holds experiment {have.get('experiment')!r} with budget "
                    f"{have.get('budget')!r} and data {have.get('data')!r}; this command asks for "
                    f"{exp.name!r}, {ctx.budget!r}, {ctx.data!r}: choose another --out"
                )
        if have.get("runs") != want["runs"]:
            raise InputError(
                f"{out} was made with other run settings (a different qagen version?); "
                "choose another --out to start afresh"
            )
    _write_json(path, want)


def prepare(
    name: str,
    budget: str,
    out: Path,
    *,
    data: str | None = None,
    inception_weights: str | None = None,
    device: str = "cpu",
    eval_data: dict[str, str] | None = None,
) -> tuple[Experiment, ExperimentContext, list[RunSpec]]:
    """The experiment ``name``, its context and its runs, with every input checked (the
    budget, ``--out``, the evaluation data, the Inception weights, unique run names) before
    anything is written or trained."""
    exp = get_experiment(name)()
    check_budget(budget)
    _check_not_foreign(out)
    ctx = ExperimentContext(out=out, budget=budget, data=data, device=device,
                            inception_weights=inception_weights, evaluator=evaluate_run,
                            eval_data=dict(eval_data or {}))  # fmt: skip
    # everything the evaluation will read is checked before any run trains (or a file is written)
    exp.check_eval_data(ctx)
    if inception_weights and not Path(inception_weights).expanduser().is_file():
        raise FileNotFoundError(f"--inception-weights {inception_weights}: no such file")
    specs = exp.runs(ctx)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"experiment {name!r} names a run twice: {names}")
    return exp, ctx, specs


def write_table(
    exp: Experiment,
    ctx: ExperimentContext,
    specs: Sequence[RunSpec],
    log: TextIO,
    bar: _Progress | None = None,
) -> dict:
    """Evaluate the runs of ``ctx.status`` and write ``table.md``, ``table.csv``,
    ``table.json`` and ``report.html``; returns the ``table.json`` content."""
    from qagen.experiments.tables import write_outputs

    if bar is not None:
        bar.start("the runs", "evaluating")
    rows = exp.evaluate(ctx, exp.rows(ctx))
    if bar is not None:
        bar.evaluated()
        bar.close()
    table = write_outputs(exp, ctx, rows, list(specs))
    for problem in table["protocol"].get("evaluation_mixed", []):
        print(f"qagen reproduce: warning: {problem}", file=log)
    print(
        f"qagen reproduce: wrote {ctx.out / 'table.md'}, table.csv, table.json, report.html",
        file=log,
    )
    return table


def reproduce(
    name: str,
    budget: str = "smoke",
    out: str | Path = "runs/reproduce",
    *,
    data: str | None = None,
    inception_weights: str | None = None,
    device: str = "cpu",
    progress: bool = True,
    log: TextIO | None = None,
    eval_data: dict[str, str] | None = None,
) -> dict:
    """Run experiment ``name`` at ``budget`` into ``out``; returns the ``table.json`` content.

    ``data`` overrides the data of the runs (e.g. ``cifar10:ROOT`` for ``--budget paper``);
    ``inception_weights`` is a local FID Inception file (FID/KID/IS are null without it);
    ``eval_data`` names extra evaluation data (``{"set5": "/data/Set5"}``: ``--eval-data``).
    The runs train one after the other in this process;
    :func:`qagen.experiments.launch.reproduce_jobs` trains them as jobs.
    """
    log = log if log is not None else sys.stderr
    out = Path(out)
    exp, ctx, specs = prepare(name, budget, out, data=data, inception_weights=inception_weights,
                              device=device, eval_data=eval_data)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        _check_folder(out, exp, ctx, specs)
        bar = _Progress(specs, progress, log)
        try:
            for spec in specs:
                before = run_status(ctx.run_dir(spec.name), spec)
                verb = {"new": "training", "partial": "continuing"}.get(before, "reusing")
                bar.start(spec.name, verb)
                t0 = time.monotonic()
                ctx.status[spec.name] = _train(spec, ctx, log)
                trained = before in ("new", "partial")
                bar.done(spec.name, time.monotonic() - t0 if trained else None)
            return write_table(exp, ctx, specs, log, bar)
        finally:
            bar.close()
