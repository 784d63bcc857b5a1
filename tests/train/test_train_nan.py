"""A NaN loss at step k stops the run, names the term and the step, and leaves step k-1's state.

Tolerance: none. The checkpoint written on the NaN must equal (``torch.equal``) the final
checkpoint of a clean run of k-1 steps: same configuration except the NaN switch, which only acts
at step k.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from train_toys import RandomImages, assert_trees_equal, toy_run

import qagen.train.main as train_main_mod
from qagen.train import NonFiniteLossError, Trainer, load_checkpoint, train_main
from qagen.train.checkpoint import checkpoint_path, list_checkpoints

K = 5  # the 5th step (train_step called with step=4) produces the NaN
STATE_KEYS = ("modules", "ema", "optimizers", "schedulers", "recipe", "rng", "shared_rng", "data")


def test_nan_stops_and_keeps_the_last_good_state(tmp_path):
    run = toy_run(max_steps=10, checkpoint_every=3, hp_nan_at=K - 1)
    with pytest.raises(NonFiniteLossError) as info:
        Trainer(run, RandomImages(), tmp_path / "nan").fit()
    err = info.value
    msg = str(err)
    assert "'g_loss' = nan" in msg and f"at step {K}" in msg, msg
    assert err.terms == ["g_loss"] and err.step == K
    ckdir = tmp_path / "nan" / "checkpoints"
    # periodic checkpoint 3, then the rollback copy of step 4; nothing of the bad step 5
    assert [s for s, _ in list_checkpoints(ckdir)] == [3, K - 1]
    assert err.checkpoint == checkpoint_path(ckdir, K - 1)
    assert f"last good state (step {K - 1})" in msg

    bad = load_checkpoint(err.checkpoint)
    assert bad["step"] == K - 1
    for p in bad["modules"]["G"].values():
        assert torch.isfinite(p).all()

    clean_run = toy_run(max_steps=K - 1, checkpoint_every=3)
    Trainer(clean_run, RandomImages(), tmp_path / "clean").fit()
    good = load_checkpoint(checkpoint_path(tmp_path / "clean" / "checkpoints", K - 1))
    for key in STATE_KEYS:
        assert_trees_equal(bad[key], good[key], key)


def test_nan_does_not_overwrite_an_existing_checkpoint(tmp_path):
    # checkpoint_every=4 already wrote step 4; the NaN at step 5 must leave that file as it was
    run = toy_run(max_steps=10, checkpoint_every=K - 1, hp_nan_at=K - 1)
    trainer = Trainer(run, RandomImages(), tmp_path)
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit()
    path = checkpoint_path(tmp_path / "checkpoints", K - 1)
    assert info.value.checkpoint == path
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [K - 1]
    assert math.isfinite(float(load_checkpoint(path)["modules"]["G"]["0.weight"].sum()))


def test_nan_without_rollback_points_to_the_newest_checkpoint(tmp_path):
    run = toy_run(max_steps=10, checkpoint_every=3, hp_nan_at=K - 1, rollback=False)
    with pytest.raises(NonFiniteLossError, match="rollback is off; the newest checkpoint") as info:
        Trainer(run, RandomImages(), tmp_path).fit()
    assert info.value.checkpoint == checkpoint_path(tmp_path / "checkpoints", 3)


def test_train_main_reports_nan_with_exit_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: RandomImages())
    run = toy_run(hp_nan_at=1)
    overrides = [
        f"{section}.{f.name}={getattr(getattr(run, section), f.name)}"
        for section in ("train", "hparams")
        for f in dataclasses.fields(getattr(run, section))
        if f.name not in ("betas",)
    ]
    code = train_main("toy-wgan-gp", "toy", out=str(tmp_path), overrides=overrides)
    assert code == 1
    err = capsys.readouterr().err
    assert "non-finite loss term 'g_loss' = nan at step 2" in err
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [1]
