"""Seeded, resumable, rank-sharded data order (qagen.train.loader).

Tolerance: none; batches are compared with torch.equal (the same samples with the same
augmentation draws).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from train_toys import RandomImages, toy_run

from qagen.train import Recipe, RunConfig, Trainer, load_checkpoint
from qagen.train.config import EmptyConfig
from qagen.train.loader import BatchStream, ResumableBatchSampler, derive_seed


def _take(stream, n):
    return [next(stream) for _ in range(n)]


def test_order_is_a_permutation_per_epoch_and_seeded():
    s = ResumableBatchSampler(20, 4, seed=3)
    it = iter(s)
    epoch0 = [i for _ in range(5) for i, _ in next(it)]
    assert sorted(epoch0) == list(range(20)) and epoch0 != list(range(20))
    epoch1 = [i for _ in range(5) for i, _ in next(it)]
    assert sorted(epoch1) == list(range(20)) and epoch1 != epoch0
    assert [i for i, _ in next(iter(ResumableBatchSampler(20, 4, seed=3)))] == epoch0[:4]
    assert [i for i, _ in next(iter(ResumableBatchSampler(20, 4, seed=4)))] != epoch0[:4]
    assert derive_seed(1, "a", 2) == derive_seed(1, "a", 2) != derive_seed(1, "a", 3)


def test_rank_shards_make_up_the_global_batch():
    whole = ResumableBatchSampler(30, 6, seed=0)
    shards = [iter(ResumableBatchSampler(30, 6, seed=0, rank=r, world_size=3)) for r in range(3)]
    for b, full in zip(range(12), whole, strict=False):  # 12 global batches: 2.4 epochs
        assert [x for it in shards for x in next(it)] == full, b


def test_stream_resume_workers_and_rng_isolation():
    ds = RandomImages(24)
    kw = dict(seed=5, device=torch.device("cpu"))
    ref = _take(BatchStream(ds, 8, **kw), 7)  # 3 batches per epoch: crosses two boundaries
    # resume after 4 global batches: the same continuation
    resumed = BatchStream(ds, 8, start_batch=4, **kw)
    assert all(torch.equal(a, b) for a, b in zip(ref[4:], _take(resumed, 3), strict=True))
    assert resumed.consumed == 7
    # the flip augmentation is drawn per sample position: identical with worker processes
    workers = BatchStream(ds, 8, num_workers=2, **kw)
    try:
        assert all(torch.equal(a, b) for a, b in zip(ref, _take(workers, 7), strict=True))
    finally:
        workers.close()
    # and the augmentation really varies (some images flipped, some not)
    idx = [i for i, _ in next(iter(ResumableBatchSampler(24, 8, seed=5)))]
    flipped = [torch.equal(x, ds.data[i].flip(-1)) for x, i in zip(ref[0], idx, strict=True)]
    kept = [torch.equal(x, ds.data[i]) for x, i in zip(ref[0], idx, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)
    # loading in the training process leaves the global RNG streams where they were
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    expected = (torch.rand(2), np.random.rand(), random.random())
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    _take(BatchStream(ds, 8, **kw), 2)
    assert torch.equal(torch.rand(2), expected[0])
    assert np.random.rand() == expected[1] and random.random() == expected[2]


class TwoStreams(Recipe):
    """Pulls one main batch and two batches of a second stream per step (QMF-style)."""

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.aux = ctx.data_stream("aux", RandomImages(10, seed=1), 2)

    def train_step(self, batches, step):
        x = next(batches)
        y = next(self.aux) + next(self.aux)
        return {"m": float(x.mean()), "a": float(y.sum())}


def test_second_stream_is_checkpointed_and_resumed(tmp_path):
    def run(max_steps):
        base = toy_run(max_steps=max_steps, sample_every=0, deterministic=False, log_every=1)
        return RunConfig("two-streams", base.train, base.data, EmptyConfig())

    Trainer(run(5), RandomImages(), tmp_path / "a", recipe_cls=TwoStreams).fit()
    Trainer(run(3), RandomImages(), tmp_path / "b", recipe_cls=TwoStreams).fit()
    ck = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_00000003.pt")
    assert ck["data"]["streams"] == {"main": 3, "aux": 6}
    Trainer(
        run(5), RandomImages(), tmp_path / "b", recipe_cls=TwoStreams, resume=tmp_path / "b"
    ).fit()
    strip = lambda p: [line.split(",", 2)[::2] for line in p.read_text().splitlines()]  # noqa: E731
    assert strip(tmp_path / "a" / "metrics.csv") == strip(tmp_path / "b" / "metrics.csv")
