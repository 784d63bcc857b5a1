"""Atomic checkpoint writes, keep-last-K, weights-only loading, RNG state round trips."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from train_toys import RandomImages, assert_trees_equal, toy_run

import qagen.train.checkpoint as ck
from qagen.train import Trainer


def _failing_save(real_save, fail_on):
    """torch.save replacement that writes a partial file and raises on the calls in fail_on."""
    calls = {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] in fail_on:
            f.write(b"PK\x03\x04 partial garbage")
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    return save


def test_failed_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "step_00000001.pt"
    good = {"format": ck.FORMAT, "version": ck.VERSION, "w": torch.arange(5.0)}
    ck.save_atomic(good, path)
    before = path.read_bytes()
    monkeypatch.setattr(ck.torch, "save", _failing_save(torch.save, fail_on={1, 2}))
    # overwriting the same name fails: the old file is byte-identical and still loads
    with pytest.raises(OSError, match="No space left"):
        ck.save_atomic({**good, "w": torch.zeros(5)}, path)
    assert path.read_bytes() == before
    assert torch.equal(ck.load_checkpoint(path)["w"], torch.arange(5.0))
    # a new name that fails never appears, and no temporary file is left behind
    with pytest.raises(OSError):
        ck.save_atomic(good, tmp_path / "step_00000002.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000001.pt"]


def test_failure_during_training_save_keeps_earlier_checkpoints(tmp_path, monkeypatch):
    run = toy_run(max_steps=6, checkpoint_every=2, keep_last=2, deterministic=False)
    # the 1st save (step 2) works, the 2nd (step 4) fails half-way
    monkeypatch.setattr(ck.torch, "save", _failing_save(torch.save, fail_on={2}))
    with pytest.raises(OSError):
        Trainer(run, RandomImages(), tmp_path).fit()
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["step_00000002.pt"]
    assert ck.load_checkpoint(tmp_path / "checkpoints" / files[0])["step"] == 2


def test_keep_last_k(tmp_path):
    run = toy_run(max_steps=5, checkpoint_every=1, keep_last=2, sample_every=0, deterministic=False)
    result = Trainer(run, RandomImages(), tmp_path).fit()
    assert [s for s, _ in ck.list_checkpoints(tmp_path / "checkpoints")] == [4, 5]
    assert result.checkpoint == ck.checkpoint_path(tmp_path / "checkpoints", 5)
    assert ck.resolve_checkpoint(tmp_path) == result.checkpoint
    assert not (tmp_path / "samples").exists() or not any((tmp_path / "samples").iterdir())
    # keep_last=0 keeps everything
    assert ck.prune_checkpoints(tmp_path / "checkpoints", 0) == []


def test_checkpoint_is_weights_only_and_corruption_is_reported(tmp_path):
    run = toy_run(max_steps=1, deterministic=False, sample_every=0)
    result = Trainer(run, RandomImages(), tmp_path).fit()
    # plain torch.load with weights_only=True: only tensors and primitive containers inside
    state = torch.load(result.checkpoint, weights_only=True)
    assert state["format"] == ck.FORMAT and state["step"] == 1 and len(state["rng"]) == 1
    bad = tmp_path / "checkpoints" / "step_00000002.pt"
    bad.write_bytes(result.checkpoint.read_bytes()[:200])  # truncated copy
    with pytest.raises(ValueError, match="step_00000002.pt cannot be read"):
        ck.load_checkpoint(bad)


def test_rng_state_round_trip():
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.randn()  # a cached gaussian in numpy's state
    state = ck.capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    ck.restore_rng_state(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert [random.random() for _ in range(3)] == expected[2]


def test_snapshot_is_a_detached_copy_and_reuses_buffers():
    w = torch.ones(3)
    snap = ck.StateSnapshot()
    first = snap.capture({"a": {"w": w}, "n": 1, "l": [w * 2]})
    w.add_(1)
    assert_trees_equal(first, {"a": {"w": torch.ones(3)}, "n": 1, "l": [torch.full((3,), 2.0)]})
    buf = first["a"]["w"]
    second = snap.capture({"a": {"w": w}, "n": 2, "l": [w * 2]})
    assert second["a"]["w"] is buf and torch.equal(buf, torch.full((3,), 2.0))
    assert second["n"] == 2
