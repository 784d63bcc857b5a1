"""Exact resume: 2n steps straight == n steps + resume + n steps, through ``train_main``.

Tolerance: none. Every parameter, EMA weight, optimiser moment and step count, recipe extra
state, RNG state and data position must be bit-identical (``torch.equal``): the run is on CPU with
deterministic algorithms, and the checkpoint holds everything the continuation depends on.
"""

from __future__ import annotations

import csv

import pytest
from train_toys import RandomImages, ToyConfig, assert_trees_equal

import qagen.train.main as train_main_mod
from qagen.train import load_checkpoint, train_main
from qagen.train.checkpoint import list_checkpoints
from qagen.train.config import load_toml, run_config_from_dict

# 64 images, global batch 8: 8 batches per epoch; 3 batches per step (n_critic 2 + 1 unused by G
# but pulled by the critic loop twice) -> the 8 steps cross two epoch boundaries. log_every 3 and
# resuming at step 4 leave a partially accumulated logging window in the checkpoint.
SETTINGS = [
    "train.batch_size=8",
    "train.seed=7",
    "train.device=cpu",
    "train.deterministic=true",
    "train.log_every=3",
    "train.sample_every=3",
    "train.n_samples=4",
    "train.checkpoint_every=3",
    "train.keep_last=2",
    "train.ema_decay=0.9",
    "train.progress=false",
    "train.tensorboard=false",
    "data.num_workers=0",
    "hparams.decay_steps=20",  # the LR horizon must not depend on max_steps (it changes on resume)
    "lr=0.002",  # bare key, resolved to hparams.lr
]


@pytest.fixture
def toy_data(monkeypatch):
    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: RandomImages(60))


def _rows(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.pop("elapsed_s")
    return rows


def test_resume_is_bit_exact(tmp_path, toy_data, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    kw = dict(recipe="toy-wgan-gp", data="toy", overrides=SETTINGS)
    assert train_main(out=str(straight), max_steps=8, **kw) == 0
    assert train_main(out=str(split), max_steps=4, **kw) == 0
    assert [s for s, _ in list_checkpoints(split / "checkpoints")] == [3, 4]
    # continue the interrupted run: same command line plus --resume, a longer max_steps
    assert train_main(out=str(split), max_steps=8, resume=str(split), **kw) == 0
    assert "stopped at step 8 (max_steps)" in capsys.readouterr().err

    a = load_checkpoint(straight / "checkpoints" / "step_00000008.pt")
    b = load_checkpoint(split / "checkpoints" / "step_00000008.pt")
    assert a["step"] == b["step"] == 8
    for key in ("modules", "ema", "optimizers", "schedulers", "recipe", "rng", "shared_rng"):
        assert_trees_equal(a[key], b[key], key)
    assert a["data"] == b["data"] == {"batch_size": 8, "streams": {"main": 16}}
    assert a["recipe"]["calls"] == 8
    # the optimiser really carries Adam state (moments and step counts) and the decayed LR
    g_state = a["optimizers"]["G"]
    assert len(g_state["state"]) == 4 and float(g_state["state"][0]["step"]) == 8
    assert g_state["param_groups"][0]["lr"] == pytest.approx(0.002 * (1 - 7 / 20), rel=1e-15)

    # same logged history (the partial window survived the resume), same sample grids
    assert _rows(straight / "metrics.csv") == _rows(split / "metrics.csv")
    assert [r["step"] for r in _rows(split / "metrics.csv")] == ["3", "6"]
    assert sorted(p.name for p in (split / "samples").iterdir()) == [
        "step_00000003.png",
        "step_00000004.png",
        "step_00000006.png",
        "step_00000008.png",
    ]
    # the resolved configuration beside the run reads back into the same configuration
    saved = load_toml(split / "config.toml")
    run = run_config_from_dict(saved, ToyConfig)
    assert run.train.max_steps == 8 and run.hparams.lr == 0.002 and run.hparams.betas == (0.0, 0.9)
    assert saved == b["config"]


def test_train_main_refuses_to_overwrite_a_run(tmp_path, toy_data):
    kw = dict(recipe="toy-wgan-gp", data="toy", overrides=SETTINGS, out=str(tmp_path / "r"))
    assert train_main(max_steps=1, **kw) == 0
    with pytest.raises(ValueError, match="already holds checkpoints"):
        train_main(max_steps=2, **kw)
    # --resume auto continues it; the same command on an empty directory starts fresh
    assert train_main(max_steps=2, resume="auto", **kw) == 0
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "step_00000002.pt")["step"] == 2
    with pytest.raises(ValueError, match="no checkpoint found"):
        train_main(max_steps=2, resume=str(tmp_path / "missing"), recipe="toy-wgan-gp")


def test_config_header_starts_a_new_run_elsewhere(tmp_path, toy_data, monkeypatch):
    kw = dict(recipe="toy-wgan-gp", data="toy", overrides=SETTINGS)
    run = tmp_path / "r"
    assert train_main(max_steps=1, out=str(run), **kw) == 0
    header = [line for line in (run / "config.toml").read_text().splitlines() if line[:1] == "#"]
    new = f"qagen train --preset {run.resolve() / 'config.toml'} --out NEW_RUN_DIR"
    assert any(line.endswith(new) for line in header)
    assert any(line.endswith(f"qagen train --resume {run.resolve()}") for line in header)
    # the command it gives, typed inside the run folder, trains into the folder it names
    monkeypatch.chdir(run)
    other = tmp_path / "again"
    assert train_main(None, preset=str(run.resolve() / "config.toml"), out=str(other),
                      max_steps=1, data="toy") == 0  # fmt: skip
    assert (other / "config.toml").is_file() and not (run / "runs").exists()
