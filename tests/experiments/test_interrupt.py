"""Ctrl-C / SIGTERM in `qagen reproduce` (issue 19, item A1): the first signal stops the whole
experiment after the running run checkpoints, with exit 130 (143 for SIGTERM); an interrupted run
is never "finished", never reused as finished, and no table is written from it; a re-run
continues it to its budget."""

from __future__ import annotations

import csv
import json

import pytest

from qagen.cli import main
from qagen.experiments.base import ExperimentContext, RunSpec, get_experiment
from qagen.experiments.runner import run_status


def _two_rows(monkeypatch):
    from qagen.methods.qagan.experiments import QAGANCifar10

    rows = {r.label: r for r in QAGANCifar10.ROWS}
    monkeypatch.setattr(QAGANCifar10, "ROWS", (rows["WGAN-GP"], rows["QAGAN (SSIM)"]))


def _interrupt_first_run(monkeypatch, code: int, signame: str):
    """The first run trains one step, then reports a signal, as the trainer does on Ctrl-C."""
    import qagen.train as train_pkg
    from qagen.train.main import TrainStatus

    real = train_pkg.train_main
    calls = []

    def fake(recipe, **kw):
        calls.append(kw.get("out") or kw.get("resume"))
        if len(calls) > 1:
            raise AssertionError("a run started after the interrupted one")
        kw["max_steps"] = 1
        status = real(recipe, **kw)
        res = status.result
        res.reason, res.signal = "signal", signame
        return TrainStatus(code, status.run_dir, res)

    monkeypatch.setattr(train_pkg, "train_main", fake)
    return calls


@pytest.mark.slow
def test_a_signal_stops_the_experiment_and_the_rerun_continues(tmp_path, monkeypatch, capsys):
    """SIGINT (Ctrl-C, exit 130); SIGTERM takes the same path with exit 143 (SIGNAL_EXIT)."""
    code, signame = 130, "SIGINT"
    _two_rows(monkeypatch)
    out = tmp_path / "rep"
    calls = _interrupt_first_run(monkeypatch, code, signame)
    args = ["reproduce", "qagan-cifar10", "--budget", "smoke", "--out", str(out), "--no-progress"]
    assert main(args) == code
    err = capsys.readouterr().err
    assert "interrupted during run wgan-gp at step 1" in err and "no table was written" in err
    assert len(calls) == 1 and not (out / "table.json").exists()
    run = out / "runs" / "wgan-gp"
    assert not (run / "experiment_run.json").exists()  # never marked finished
    assert run_status(run) == "partial"
    monkeypatch.undo()
    _two_rows(monkeypatch)
    assert main(args) == 0  # the re-run continues the run to its budget (3 steps)
    steps = [int(r["step"]) for r in csv.DictReader((run / "metrics.csv").open())]
    assert steps == [1, 2, 3]
    marker = json.loads((run / "experiment_run.json").read_text())
    assert marker["status"] == "finished" and marker["reason"] == "max_steps"
    assert marker["step"] == 3
    table = json.loads((out / "table.json").read_text())
    assert all(r["ours"]["SWD"] is not None for r in table["rows"])


def test_an_old_finished_marker_short_of_its_budget_is_not_believed(tmp_path, monkeypatch):
    """A marker written by an older qagen for a run stopped early (26 of 30 steps) is re-checked
    against the budget: the run is partial and continues."""
    from qagen.train import train_main

    _two_rows(monkeypatch)
    exp = get_experiment("qagan-cifar10")()
    spec = exp.runs(ExperimentContext(out=tmp_path, budget="smoke"))[0]
    run = tmp_path / "runs" / spec.name
    assert train_main(spec.recipe, data=spec.data, preset=spec.preset, out=str(run), max_steps=2,
                      overrides=list(spec.overrides)) == 0  # fmt: skip
    (run / "experiment_run.json").write_text(json.dumps({"status": "finished"}))  # no reason
    assert run_status(run) == "finished"  # the marker alone
    assert run_status(run, spec) == "partial"  # 2 < 3 steps: not finished
    done = RunSpec(spec.name, spec.recipe, max_steps=2)
    assert run_status(run, done) == "finished"
    minutes = RunSpec(spec.name, spec.recipe, max_minutes=60.0)
    assert run_status(run, minutes) == "partial"  # seconds of training, not an hour
    (run / "experiment_run.json").write_text(json.dumps({"status": "finished", "reason": "signal"}))
    assert run_status(run, minutes) == "partial"
