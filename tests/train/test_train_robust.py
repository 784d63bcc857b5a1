"""Training never loses or mixes up work: Ctrl-C, time-based checkpoints, clean forks on resume,
unreadable checkpoints, validation before any file is written, truthful progress.

The signal tests run ``qagen train`` (the real command line, with the toy recipe registered) in
a child process and signal it the way a terminal or a scheduler does.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_toys import RandomImages, assert_trees_equal, toy_run

import qagen.train.main as train_main_mod
from qagen.cli import main as cli_main
from qagen.errors import InputError, UnknownNameError
from qagen.train import Trainer, load_checkpoint, train_main
from qagen.train.checkpoint import list_checkpoints

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Fast toy settings: checkpoints every 3 steps (none by time), keep the last 2.
SETTINGS = [
    "train.batch_size=8",
    "train.seed=3",
    "train.device=cpu",
    "train.deterministic=true",
    "train.log_every=1",
    "train.sample_every=3",
    "train.n_samples=4",
    "train.checkpoint_every=3",
    "train.checkpoint_every_minutes=0",
    "train.keep_last=2",
    "train.ema_decay=0.9",
    "train.progress=false",
    "train.tensorboard=false",
    "data.num_workers=0",
    "hparams.decay_steps=20",
]


@pytest.fixture
def toy_data(monkeypatch):
    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: RandomImages(64))


def _steps(run_dir: Path) -> list[int]:
    return [k for k, _ in list_checkpoints(run_dir / "checkpoints")]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.pop("elapsed_s")
    return rows


def _train(out: Path, max_steps: int, **kw):
    return train_main(
        "toy-wgan-gp", "toy", out=str(out), max_steps=max_steps, overrides=SETTINGS, **kw
    )


# --------------------------------------------------------------------------- child processes


def _spawn(args: list[str], tmp_path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    env["OMP_NUM_THREADS"] = "1"
    code = "import sys, train_toys; train_toys.cli_child(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, "train", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the child exited ({proc.returncode}) before {what}:\n{err[-3000:]}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    out, err = proc.communicate()
    pytest.fail(f"timed out waiting for {what}:\n{err[-3000:]}")


def _logged_step(run_dir: Path) -> int:
    try:
        with open(run_dir / "metrics.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return 0
    return int(rows[-1]["step"]) if rows else 0


def _child_args(run_dir: Path, *extra: str) -> list[str]:
    return [
        "toy-wgan-gp",
        "--data",
        "toy",
        "--out",
        str(run_dir),
        "--no-report",
        "--max-steps",
        "1000000",
        *[x for s in SETTINGS for x in ("--set", s)],
        "--set",
        "train.checkpoint_every=0",
        "--set",
        "train.sample_every=0",
        *extra,
    ]


def test_ctrl_c_checkpoints_and_stops_cleanly(tmp_path):
    # Ctrl-C in a terminal signals the whole process group, DataLoader worker included.
    run_dir = tmp_path / "run"
    proc = _spawn(_child_args(run_dir, "--set", "data.num_workers=1"), tmp_path)
    _wait_for(lambda: _logged_step(run_dir) >= 3, proc, 120, "three logged steps")
    assert _steps(run_dir) == []  # no checkpoint yet: only the interrupt can write one
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err  # interrupted, checkpoint written (issue 19, item 11)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "SIGINT received: stopping after step" in err
    m = re.search(r"stopped at step (\d+) \(SIGINT\); checkpoint: (\S+);", err)
    assert m, err
    step = int(m.group(1))
    assert step >= 3 and _steps(run_dir) == [step]
    state = load_checkpoint(m.group(2))
    assert state["step"] == step and state["recipe"]["calls"] == step


def test_second_ctrl_c_aborts_at_once(tmp_path):
    run_dir = tmp_path / "run"
    # half a second per step: the second Ctrl-C arrives while the first one waits for the step
    proc = _spawn(_child_args(run_dir, "--set", "hparams.sleep_s=0.5"), tmp_path)
    _wait_for(lambda: _logged_step(run_dir) >= 1, proc, 120, "one logged step")
    os.killpg(proc.pid, signal.SIGINT)
    time.sleep(0.1)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 5.0
    assert proc.returncode == 130, err
    assert "aborted by Ctrl-C" in err and "Traceback" not in err, err
    assert _steps(run_dir) == []


def test_kill_9_after_the_time_interval_leaves_a_resumable_checkpoint(tmp_path, toy_data):
    # Steps never reach a step-based checkpoint; checkpoint_every_minutes = 0.005 (0.3 s) must.
    run_dir = tmp_path / "run"
    extra = ["--set", "train.checkpoint_every_minutes=0.005", "--set", "hparams.sleep_s=0.05"]
    proc = _spawn(_child_args(run_dir, *extra), tmp_path)
    _wait_for(lambda: len(_steps(run_dir)) >= 2, proc, 120, "two time-based checkpoints")
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9: no handler, no final checkpoint
    proc.communicate(timeout=60)
    saved = _steps(run_dir)
    assert saved and saved[-1] >= 1
    assert (
        load_checkpoint(run_dir / "checkpoints" / f"step_{saved[-1]:08d}.pt")["step"] == saved[-1]
    )
    # the re-submitted command line continues from the newest checkpoint
    status = _train(run_dir, saved[-1] + 2, resume="auto")
    assert status == 0 and status.result.step == saved[-1] + 2
    assert load_checkpoint(status.result.checkpoint)["recipe"]["calls"] == saved[-1] + 2


# --------------------------------------------------------------------------- resume and forks


def test_resuming_from_an_older_checkpoint_forks_cleanly(tmp_path, toy_data, caplog):
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert _train(straight, 8) == 0
    assert _train(run, 9) == 0
    assert _steps(run) == [6, 9]
    old_rows = _rows(run / "metrics.csv")
    assert [r["step"] for r in old_rows][-1] == "9"

    # --resume RUN/checkpoints/step_6 --max-steps 8: a new branch from step 6
    status = _train(run, 8, resume=str(run / "checkpoints" / "step_00000006.pt"))
    assert status == 0 and status.run_dir == run
    abandoned = sorted(run.glob("abandoned-*"))
    assert len(abandoned) == 1
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "resuming from step 6, older than the run's newest checkpoint" in said
    assert f"(step_00000009.pt) and 1 sample grid(s) were moved to {abandoned[0]}" in said
    # the abandoned branch's work is kept, as a run directory of its own
    assert [k for k, _ in list_checkpoints(abandoned[0] / "checkpoints")] == [9]
    assert sorted(p.name for p in (abandoned[0] / "samples").iterdir()) == ["step_00000009.png"]
    assert _rows(abandoned[0] / "metrics.csv") == old_rows
    # the run itself: the checkpoint resumed from is kept, step 9 is gone from the branch, and
    # metrics.csv is exactly the history of a straight run to step 8 (no rows 7..9 of the old one)
    assert _steps(run) == [6, 8]
    assert _rows(run / "metrics.csv") == _rows(straight / "metrics.csv")
    a = load_checkpoint(straight / "checkpoints" / "step_00000008.pt")
    b = load_checkpoint(run / "checkpoints" / "step_00000008.pt")
    for key in ("modules", "ema", "optimizers", "recipe", "rng", "shared_rng"):
        assert_trees_equal(a[key], b[key], key)
    # the next --resume RUN continues the new branch (step 8), not the abandoned step 9
    status = _train(run, 10, resume=str(run))
    assert status.result.step == 10 and _steps(run) == [9, 10]
    assert load_checkpoint(run / "checkpoints" / "step_00000009.pt")["recipe"]["calls"] == 9
    assert [r["step"] for r in _rows(run / "metrics.csv")] == [str(k) for k in range(1, 11)]


def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, toy_data, caplog):
    run = tmp_path / "run"
    assert _train(run, 6) == 0
    newest = run / "checkpoints" / "step_00000006.pt"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # the machine died while the file was flushed
    status = _train(run, 7, resume=str(run))
    assert status == 0 and status.result.step == 7
    msgs = " ".join(r.getMessage() for r in caplog.records)
    assert "step_00000006.pt cannot be read: it is truncated or corrupted" in msgs
    assert "falling back to the previous checkpoint step_00000003.pt" in msgs
    # never deleted: the unreadable file moved aside with the abandoned branch
    moved = list(run.glob("abandoned-*/checkpoints/step_00000006.pt"))
    assert len(moved) == 1 and moved[0].read_bytes() == data[: len(data) // 2]
    assert _steps(run) == [6, 7]  # step 6 written again by the continued run
    assert load_checkpoint(run / "checkpoints" / "step_00000006.pt")["recipe"]["calls"] == 6
    assert [r["step"] for r in _rows(run / "metrics.csv")] == [str(k) for k in range(1, 8)]


def test_resume_beyond_max_steps_says_so_and_touches_nothing(tmp_path, toy_data, capsys):
    run = tmp_path / "run"
    assert _train(run, 6) == 0
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    capsys.readouterr()
    for resume in (str(run), "auto", str(run / "checkpoints" / "step_00000003.pt")):
        status = _train(run, 3 if resume.endswith(".pt") else 4, resume=resume)
        assert status == 0 and status.result is None and status.run_dir == run
        err = capsys.readouterr().err
        assert "nothing to train: " in err and "pass a larger --max-steps" in err, err
        assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before
    assert "step_00000006.pt is at step 6 and train.max_steps is 4" in _say_last(
        lambda: _train(run, 4, resume="auto"), capsys
    )


def _say_last(fn, capsys) -> str:
    capsys.readouterr()
    fn()
    return capsys.readouterr().err


def test_fresh_start_never_overwrites_an_earlier_run(tmp_path, toy_data, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,elapsed_s,g_loss\n10,1.0,0.5\n")
    with pytest.raises(InputError, match=r"metrics.csv \(1 rows\).*--resume auto"):
        _train(run, 2)
    assert (run / "metrics.csv").read_text() == "step,elapsed_s,g_loss\n10,1.0,0.5\n"
    # --resume auto (the re-submitted job) restarts there, and says so
    assert _train(run, 2, resume="auto") == 0
    assert "starting fresh; the earlier attempt's metrics.csv (1 rows) are replaced" in (
        capsys.readouterr().err
    )
    assert [r["step"] for r in _rows(run / "metrics.csv")] == ["1", "2"]


def test_resume_into_another_runs_directory_is_refused(tmp_path, toy_data):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _train(a, 3) == 0 and _train(b, 3) == 0
    with pytest.raises(InputError, match="already holds checkpoints of another run"):
        _train(b, 5, resume=str(a / "checkpoints" / "step_00000003.pt"))


# --------------------------------------------------------------------------- bad input


def test_invalid_hyperparameter_creates_no_files(tmp_path, monkeypatch):
    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: RandomImages(64))
    out = tmp_path / "run"
    for bad in ("hparams.lr=-1", "hparams.n_critic=0", "train.checkpoint_every_minutes=-1"):
        with pytest.raises(InputError, match=bad.split("=")[0]):
            train_main("wgan-gp", "x", out=str(out), max_steps=1, overrides=[bad])
        assert not out.exists(), bad


def test_failure_during_setup_removes_the_directories_it_created(tmp_path):
    # the ResNet has no 20 px version: the network build fails after the run directory was made
    from qagen.train import resolve_run_config

    run = resolve_run_config("wgan-gp", data="x", overrides=["data.resolution=20"])
    out = tmp_path / "deep" / "run"
    with pytest.raises(ValueError, match="resolution"):
        Trainer(run, RandomImages(64), out).fit()
    assert not (tmp_path / "deep").exists()


def test_unreadable_resume_targets_never_advise_unsafe_loading(tmp_path):
    from PIL import Image

    png = tmp_path / "image.png"
    Image.new("RGB", (8, 8)).save(png)
    pickled = tmp_path / "model.pt"
    torch.save({"net": torch.nn.Linear(2, 2)}, pickled)  # a pickled module, not a state dict
    foreign = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, foreign)
    cases = [
        (png, "it is not a PyTorch file"),
        (pickled, "holds Python objects other than tensors"),
        (foreign, "a PyTorch file but not a qagen training checkpoint"),
    ]
    for path, why in cases:
        with pytest.raises(InputError) as info:
            train_main(None, resume=str(path))
        msg = str(info.value)
        assert why in msg and str(path) in msg and "weights_only" not in msg, msg


def test_cli_blames_a_misspelt_recipe_not_the_preset(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli_main(["train", "qagan-sim", "--preset", "demo", "--data", "builtin"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown recipe 'qagan-sim' (did you mean qagan-ssim" in err and "preset" not in err
    assert not (tmp_path / "runs").exists()
    with pytest.raises(UnknownNameError, match="unknown preset 'nope'"):
        train_main("toy-wgan-gp", "toy", preset="nope", out=str(tmp_path / "r"))


def test_cli_writes_the_report_in_the_run_directory_it_used(tmp_path, monkeypatch, toy_data):
    # The recipe comes from the preset (no RECIPE argument, no --out): the run directory is
    # runs/<recipe from the preset>, and the report must be written there.
    import qagen.report.run as report_mod

    written = []
    monkeypatch.setattr(report_mod, "write_report", lambda d: written.append(Path(d)) or d)
    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "toy.toml"
    preset.write_text('recipe = "toy-wgan-gp"\n')
    args = ["train", "--preset", str(preset), "--data", "toy", "--max-steps", "2"]
    assert cli_main(args + [x for s in SETTINGS for x in ("--set", s)]) == 0
    assert written == [Path("runs") / "toy-wgan-gp"]  # write_report also draws loss_curves.png


# --------------------------------------------------------------------------- progress


def test_progress_eta_follows_max_minutes(tmp_path, capsys):
    # max_steps 100,000 but a 3-second budget: the bar must count towards the step the run
    # will stop at, so that its ETA is the time left (seconds), not 100,000 steps' worth.
    run = toy_run(
        max_steps=100_000,
        max_minutes=0.05,
        progress=True,
        sample_every=0,
        log_every=1,
        deterministic=False,
    )
    result = Trainer(run, RandomImages(64), None).fit()
    assert result.reason == "max_minutes" and 0 < result.step < 100_000
    err = capsys.readouterr().err
    bars = [b for b in re.split(r"[\r\n]", err) if re.search(r"\d+/\d+ \[", b)]
    assert bars, err[-500:]
    last = bars[-1]
    n, total = (int(v) for v in re.search(r"(\d+)/(\d+) \[", last).groups())
    assert "/100000" not in last and total <= result.step * 1.5 + 5, last
    assert "(to 0.05 min)" in last, last
    mid = [b for b in bars if re.search(r"<00:0\d,", b)]
    assert mid, bars[-5:]  # some bar during the run showed an ETA of under 10 s


# --------------------------------------------------------------------------- logs


class _FakeWriter:
    """Stands in for ``torch.utils.tensorboard.SummaryWriter`` (the package is optional)."""

    made: list[dict] = []

    def __init__(self, log_dir: str, purge_step: int) -> None:
        self.scalars: list[tuple[str, float, int]] = []
        _FakeWriter.made.append({"log_dir": log_dir, "scalars": self.scalars})

    def add_scalar(self, key: str, value: float, step: int) -> None:
        self.scalars.append((key, value, step))

    def close(self) -> None:
        pass


@pytest.mark.parametrize("installed", [False, True])
def test_first_line_says_where_logs_go_and_whether_tensorboard_writes(
    tmp_path, toy_data, capsys, monkeypatch, installed
):
    # issue 19, item C19: TensorBoard events were written only when the package happened to be
    # installed, without a word either way
    import qagen.train.logger as logger_mod

    found = _FakeWriter if installed else ModuleNotFoundError("No module named 'tensorboard'")
    monkeypatch.setattr(logger_mod, "_summary_writer", [found])
    _FakeWriter.made.clear()
    out = tmp_path / "run"
    sets = [*SETTINGS, "train.tensorboard=true"]
    assert train_main("toy-wgan-gp", "toy", out=str(out), max_steps=2, overrides=sets) == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("qagen train: toy-wgan-gp: logs in ") and str(out) in first
    assert "metrics.csv" in first
    if installed:
        assert f"TensorBoard events: {out / 'tb'}" in first
        assert _FakeWriter.made[0]["log_dir"] == str(out / "tb")
        assert {s for k, _, s in _FakeWriter.made[0]["scalars"] if k == "g_loss"} == {1, 2}
    else:
        assert "TensorBoard events: not written" in first
        assert "pip install 'qagen[tensorboard]'" in first and _FakeWriter.made == []
    assert _train(tmp_path / "off", 1) == 0  # SETTINGS switch it off
    assert "TensorBoard events: off (train.tensorboard = false)" in capsys.readouterr().err


def test_tensorboard_is_an_extra_named_in_the_readme():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["tensorboard"] == ["tensorboard"]
    assert not any(d.startswith("tensorboard") for d in project["dependencies"])
    assert "pip install 'qagen[tensorboard]'" in (REPO / "README.md").read_text()
