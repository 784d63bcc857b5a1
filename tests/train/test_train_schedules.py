"""Linear LR decay by global step (QAGAN: lr = 2e-4 * max(0, 1 - step / MAX_ITERS), REFERENCE 3.2.1).

Closed-form values; tolerance 1e-15 relative (one float division and multiplication).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn
from train_toys import RandomImages, toy_run

from qagen.train import Recipe, Trainer, apply_lr, linear_decay
from qagen.train.config import RunConfig


@pytest.mark.parametrize(
    ("kwargs", "step", "factor"),
    [
        ({"total": 100}, 0, 1.0),
        ({"total": 100}, 1, 0.99),
        ({"total": 100}, 25, 0.75),
        ({"total": 100}, 99, 0.01),
        ({"total": 100}, 100, 0.0),
        ({"total": 100}, 150, 0.0),  # never negative
        ({"total": 1_000_000}, 100_000, 0.9),  # QAGAN: MAX_ITERS 1e6, after 100k G steps
        ({"total": 200, "start": 100}, 50, 1.0),  # pix2pix: constant, then linear to 0
        ({"total": 200, "start": 100}, 100, 1.0),
        ({"total": 200, "start": 100}, 150, 0.5),
        ({"total": 200, "start": 100}, 200, 0.0),
        ({"total": 100, "floor": 0.1}, 95, 0.1),  # LR floor (BEGAN robustness, REFERENCE 7.11)
        ({"total": 100, "floor": 0.1}, 50, 0.5),
    ],
)
def test_linear_decay_values(kwargs, step, factor):
    assert linear_decay(**kwargs)(step) == pytest.approx(factor, rel=1e-15, abs=1e-15)


def test_linear_decay_rejects_bad_arguments():
    with pytest.raises(ValueError, match="total"):
        linear_decay(0)
    with pytest.raises(ValueError, match="start"):
        linear_decay(10, start=10)
    with pytest.raises(ValueError, match="floor"):
        linear_decay(10, floor=2.0)


def test_apply_lr_uses_initial_lr():
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=2e-4, betas=(0.0, 0.9))
    apply_lr(opt, 0.5)
    apply_lr(opt, 0.25)  # relative to the initial rate, not compounding
    assert opt.param_groups[0]["lr"] == pytest.approx(5e-5, rel=1e-15)
    assert opt.param_groups[0]["initial_lr"] == 2e-4


@dataclass
class RecCfg:
    lr: float = 2e-4
    total: int = 10


class LRRecorder(Recipe):
    """Records the LR each train_step sees; the trainer sets it from the global step."""

    Config = RecCfg

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.p = nn.Parameter(torch.zeros(1))
        self.opt = torch.optim.Adam([self.p], lr=cfg.lr, betas=(0.0, 0.9))
        self.seen: list[tuple[int, float]] = []

    def optimizers(self):
        return {"all": self.opt}

    def lr_schedules(self):
        return {"all": linear_decay(self.cfg.total)}

    def train_step(self, batches, step):
        next(batches)
        self.seen.append((step, self.opt.param_groups[0]["lr"]))
        return {"lr": self.opt.param_groups[0]["lr"]}


def test_trainer_sets_lr_from_global_step(tmp_path):
    base = toy_run(max_steps=12, sample_every=0, deterministic=False, log_every=1)
    run = RunConfig("lr-recorder", base.train, base.data, RecCfg())
    trainer = Trainer(run, RandomImages(), tmp_path, recipe_cls=LRRecorder)
    trainer.fit()
    seen = trainer.recipe.seen
    assert [s for s, _ in seen] == list(range(12))
    for step, lr in seen:
        assert lr == pytest.approx(2e-4 * max(0.0, 1 - step / 10), rel=1e-15, abs=1e-20)
    # the logged lr/all column is the rate of the step that ends the row
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",") == ["step", "elapsed_s", "lr", "lr/all"]
    assert float(rows[5].split(",")[3]) == pytest.approx(2e-4 * (1 - 4 / 10), rel=1e-15)
