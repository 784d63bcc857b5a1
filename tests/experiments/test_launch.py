"""``qagen reproduce --launcher local|submitit --jobs N --detach --status`` (issue 20): each run
is its own job; the table equals the sequential run's bit for bit; a job stopped by SIGTERM and
preempted by SIGUSR1 resumes to the same final checkpoint as an uninterrupted run; ``--status``
names a failed run and its error. The experiments are the tiny ones of ``launch_toys.py``."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
import torch
from launch_toys import Broken, Long, Tiny, weight_sum

from qagen.cli import main
from qagen.errors import InputError
from qagen.experiments import reproduce
from qagen.experiments.job import read_state, run_job, write_state
from qagen.experiments.launch import launch_options, local_slots, reproduce_jobs, run_states
from qagen.registry import EXPERIMENTS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


@pytest.fixture
def toys(monkeypatch):
    """Register the toy experiments; the jobs' processes find ``launch_toys`` and qagen on
    ``PYTHONPATH`` and use one CPU thread, as this process does."""
    for cls in (Tiny, Long, Broken):
        EXPERIMENTS.add(cls.name, cls)
    path = [str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    for cls in (Tiny, Long, Broken):
        EXPERIMENTS.remove(cls.name)


def test_local_jobs_give_the_sequential_table_bit_for_bit(toys, tmp_path):
    seq = reproduce("launch-toy", "smoke", tmp_path / "seq", progress=False)
    opts = launch_options("local", jobs=2, cpus=1)
    par = reproduce_jobs("launch-toy", "smoke", tmp_path / "par", opts)
    assert [r["ours"] for r in par["rows"]] == [r["ours"] for r in seq["rows"]]
    weights = [r["ours"]["weights"] for r in seq["rows"]]
    assert None not in weights and weights[0] != weights[1]  # two seeds, two trained runs
    # each run was its own process, and both reported back
    states = [read_state(tmp_path / "par", r) for r in ("m0", "m1")]
    assert all(s["state"] == "finished" for s in states)
    assert states[0]["pid"] != states[1]["pid"] != os.getpid()
    assert [r["state"] for r in run_states(tmp_path / "par")] == ["finished", "finished"]


def _wait_for(predicate, what: str, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _step(out: Path) -> int:
    from qagen.experiments.launch import _newest_step

    return _newest_step(out / "runs" / "m0") or 0


def _running_pid(out: Path, after: int) -> int | None:
    s = read_state(out, "m0") or {}
    return s.get("pid") if s.get("state") == "running" and s.get("pid") != after else None


@pytest.mark.slow
def test_submitit_job_survives_sigterm_and_sigusr1_bit_for_bit(toys, tmp_path, capsys):
    """SIGTERM mid-run: the job checkpoints and ends (interrupted); the next submission resumes
    it; SIGUSR1 (SLURM's warning) mid-run: it checkpoints and submitit requeues it; the final
    checkpoint equals an uninterrupted run's, and one final job writes the table."""
    pytest.importorskip("submitit")
    out = tmp_path / "rep"
    args = ["reproduce", "launch-toy-long", "--out", str(out), "--no-progress",
            "--launcher", "submitit", "--launcher-config", str(_local_config(tmp_path))]  # fmt: skip
    assert main([*args, "--detach"]) == 0
    pid = _wait_for(lambda: _step(out) >= 3 and _running_pid(out, -1), "the job's 3rd step")
    os.kill(pid, signal.SIGTERM)
    state = _wait_for(lambda: (s := read_state(out, "m0")) and s["state"] == "interrupted" and s,
                      "the interrupted state")  # fmt: skip
    first_stop = state["step"]
    assert 3 <= first_stop < Long.steps
    capsys.readouterr()
    assert main([*args, "--status"]) == 0
    assert "interrupted" in capsys.readouterr().out

    assert main([*args, "--detach"]) == 0  # submitted again: it continues from its checkpoint
    pid2 = _wait_for(lambda: _step(out) >= first_stop + 3 and _running_pid(out, pid),
                     "the resumed job")  # fmt: skip
    os.kill(pid2, signal.SIGUSR1)
    _wait_for(lambda: (read_state(out, "m0") or {}).get("state") in ("requeued", "running")
              and _running_pid(out, pid2), "the requeued job")  # fmt: skip
    capsys.readouterr()
    assert main(args) == 0  # waits for the requeued job, then one evaluation job
    err = capsys.readouterr().err
    assert "evaluating in job" in err
    log = (out / "runs" / "m0" / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in log[1:]] == list(range(1, Long.steps + 1))

    # the uninterrupted run, in this process
    from qagen.train import train_main

    spec = Long().runs(None)[0]
    ref = tmp_path / "ref"
    assert train_main(spec.recipe, data=spec.data, preset=spec.preset, out=str(ref),
                      max_steps=spec.max_steps, overrides=list(spec.overrides)) == 0  # fmt: skip
    _assert_same_checkpoint(ref, out / "runs" / "m0", Long.steps)
    table = json.loads((out / "table.json").read_text())
    assert table["rows"][0]["ours"]["weights"] == weight_sum(ref)


def _local_config(tmp_path: Path) -> Path:
    path = tmp_path / "launcher.toml"
    path.write_text('[launcher]\ncluster = "local"\ncpus = 1\ntime_min = 10\n')
    return path


def _assert_same_checkpoint(a: Path, b: Path, step: int) -> None:
    from qagen.train import load_checkpoint
    from qagen.train.checkpoint import checkpoint_path

    ca = load_checkpoint(checkpoint_path(a / "checkpoints", step))
    cb = load_checkpoint(checkpoint_path(b / "checkpoints", step))

    def same(x, y, path):
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), path
        elif isinstance(x, dict):
            assert set(x) == set(y), path
            for k in x:
                same(x[k], y[k], f"{path}/{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), path
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                same(u, v, f"{path}[{i}]")

    for key in ("modules", "optimizers", "recipe", "rng", "shared_rng", "data"):
        same(ca.get(key), cb.get(key), key)


def test_status_names_a_failed_run_and_its_error(toys, tmp_path, capsys):
    out = tmp_path / "rep"
    exp = Broken()
    from qagen.experiments.runner import _check_folder, prepare

    exp, ctx, specs = prepare("launch-toy-broken", "smoke", out)
    out.mkdir()
    _check_folder(out, exp, ctx, specs)
    with pytest.raises(Exception, match="nosuchsource"):
        run_job(out, "m0")  # what the job's process runs
    assert main(["reproduce", "launch-toy-broken", "--out", str(out), "--status"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.split()[:2] == ["m0", "failed"] and "nosuchsource" in line
    # a job that vanished without a word (killed): failed, with the last line of its log
    write_state(out, "m0", "running", pid=_dead_pid(), host=socket.gethostname())
    (out / "jobs" / "m0.log").write_text("step 2\nKilled by the OOM killer\n")
    row = run_states(out)[0]
    assert row["state"] == "failed" and "Killed by the OOM killer" in row["error"]
    # another experiment's name on this folder: refused
    assert main(["reproduce", "launch-toy", "--out", str(out), "--status"]) == 2
    assert "holds experiment 'launch-toy-broken', not 'launch-toy'" in capsys.readouterr().err


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def test_clear_errors(tmp_path, capsys, monkeypatch):
    # --status on a folder without an experiment
    assert main(["reproduce", "began-table2", "--out", str(tmp_path), "--status"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds no experiment (no experiment.json)" in err and len(err.splitlines()) == 1
    # submitit missing: one line naming the extra
    monkeypatch.setitem(sys.modules, "submitit", None)
    assert main(["reproduce", "began-table2", "--out", str(tmp_path / "x"),
                 "--launcher", "submitit"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "pip install 'qagen[cluster]'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
    with pytest.raises(InputError, match="--jobs must be an integer >= 1"):
        launch_options("local", jobs=0)
    bad = tmp_path / "l.toml"
    bad.write_text("[launcher]\ngpu = 2\n")
    with pytest.raises(InputError, match="unknown key"):
        launch_options(config=bad)


def test_launcher_table_and_flags(tmp_path):
    cfg = tmp_path / "l.toml"
    cfg.write_text('[launcher]\nlauncher = "local"\njobs = 3\ngpus = 1\npartition = "gpu"\n'
                   'time_min = 90\nsetup = ["module load cuda"]\n')  # fmt: skip
    opts = launch_options(None, None, False, cfg, time_min=30)
    assert opts.launcher == "local" and opts.jobs == 3
    res = opts.resources
    assert (res.gpus, res.partition, res.time_min, res.setup) == (
        1,
        "gpu",
        30,
        ("module load cuda",),
    )
    # local slots: one GPU each where there are GPUs, a share of the cores where there are none
    slots = local_slots(res, 3, gpus=["0", "1", "3", "5"])
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "1", "3"]
    two = local_slots(launch_options("local", gpus=2).resources, 4, gpus=["0", "1", "2", "3"])
    assert [s["CUDA_VISIBLE_DEVICES"] for s in two] == ["0,1", "2,3"]
    cpu = local_slots(launch_options("local", cpus=3).resources, 2, gpus=[])
    assert [(s["CUDA_VISIBLE_DEVICES"], s["OMP_NUM_THREADS"]) for s in cpu] == [("", "3")] * 2
    with pytest.raises(InputError, match="no GPU is visible"):
        local_slots(launch_options("local", gpus=1).resources, 2, gpus=[])


def test_a_sequential_run_is_refused_while_jobs_run(toys, tmp_path, capsys):
    from qagen.experiments.runner import _check_folder, prepare

    out = tmp_path / "rep"
    exp, ctx, specs = prepare("launch-toy", "smoke", out)
    out.mkdir()
    _check_folder(out, exp, ctx, specs)
    write_state(out, "m1", "queued", owner_pid=os.getpid(), owner_host=socket.gethostname())
    assert main(["reproduce", "launch-toy", "--out", str(out), "--no-progress"]) == 2
    assert "1 run(s) still have a job (m1)" in capsys.readouterr().err
    assert not (out / "runs").exists()  # nothing trained
    # the owner gone (a killed --detach driver): the run is no longer taken
    write_state(out, "m1", "queued", owner_pid=_dead_pid(), owner_host=socket.gethostname())
    assert run_states(out)[1]["state"] == "new"


def test_a_slurm_job_that_ended_without_a_word_is_failed(toys, tmp_path, monkeypatch):
    import qagen.experiments.launch as launch
    from qagen.experiments.runner import _check_folder, prepare

    out = tmp_path / "rep"
    exp, ctx, specs = prepare("launch-toy", "smoke", out)
    out.mkdir()
    _check_folder(out, exp, ctx, specs)
    write_state(out, "m0", "running", pid=1, host="node17", job_id="4242_0", slurm=True)
    asked = []

    def sacct(out_, job_id):
        asked.append(job_id)
        return "NODE_FAIL" if job_id == "4242_0" else None

    monkeypatch.setattr(launch, "slurm_state", sacct)
    row = run_states(out)[0]
    assert asked == ["4242_0"] and row["state"] == "failed"
    assert row["error"] == "the SLURM job ended as NODE_FAIL"
    monkeypatch.setattr(launch, "slurm_state", lambda o, j: None)  # still running on node17
    assert run_states(out)[0]["state"] == "running"


def test_the_local_pool_requeues_a_preempted_job_and_pins_each_slot(tmp_path, monkeypatch):
    """Stand-in jobs (no torch): each records its slot's environment; the first try of "a"
    exits with REQUEUE_EXIT (preempted) and is started again."""
    import io

    import qagen.experiments.launch as launch
    from qagen.experiments.job import REQUEUE_EXIT

    script = (
        "import os, sys, pathlib; d = pathlib.Path(sys.argv[1]); run = sys.argv[2]\n"
        "(d / f'{run}.env').write_text(os.environ['CUDA_VISIBLE_DEVICES'] + ' ' +"
        " os.environ['QAGEN_JOB_THREADS'])\n"
        f"first = d / f'{{run}}.tried'\n"
        f"if run == 'a' and not first.exists(): first.touch(); sys.exit({REQUEUE_EXIT})\n"
    )
    monkeypatch.setattr(launch, "_job_command",
                        lambda out, run, gpus: [sys.executable, "-c", script, str(out), run])  # fmt: skip
    (tmp_path / "jobs").mkdir()
    log = io.StringIO()
    slots = local_slots(launch_options("local", cpus=2).resources, 2, gpus=["3", "7"])
    codes = launch._run_pool(tmp_path, ["a", "b", "c"], slots, log)
    assert codes == {"a": 0, "b": 0, "c": 0}
    assert "a was preempted: starting it again" in log.getvalue()
    envs = {r: (tmp_path / f"{r}.env").read_text() for r in "abc"}
    assert set(envs.values()) <= {"3 2", "7 2"} and envs["a"] != envs["b"]
