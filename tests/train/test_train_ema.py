"""EMA numerics against closed forms.

After the updates with weights ``w_1 .. w_T`` (shadow initialised to ``w_0``) the TensorFlow EMA
``e_t = d e_{t-1} + (1 - d) w_t`` is ``e_T = d^T w_0 + (1 - d) sum_t d^(T-t) w_t``; for the ramp
``w_t = t`` (``w_0 = 0``) that sum is ``T - d (1 - d^T) / (1 - d)``: the EMA lags the weights
by ``d / (1 - d)`` steps once ``d^T`` is negligible. With ``start = s`` the first ``s`` updates
copy the weights, so the sum restarts from ``w_s``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn
from train_toys import RandomImages, toy_run

from qagen.train import EMA, Trainer


class Holder(nn.Module):
    def __init__(self, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3, dtype=dtype))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))


def _run(seq: np.ndarray, decay: float, start: int = 0, dtype=torch.float64) -> np.ndarray:
    """EMA of the weight sequence ``seq[0] (initial), seq[1], ...`` after the last update."""
    m = Holder(dtype)
    with torch.no_grad():
        m.w.copy_(torch.as_tensor(seq[0]))
    ema = EMA({"m": m}, decay, start)
    for t in range(1, len(seq)):
        with torch.no_grad():
            m.w.copy_(torch.as_tensor(seq[t]))
            m.count.fill_(t)
        ema.update({"m": m}, t)
    assert float(ema.modules["m"].count) == len(seq) - 1  # buffers are copied, not averaged
    return ema.modules["m"].w.detach().double().numpy()


@pytest.mark.parametrize("decay", [0.9, 0.99, 0.999])
def test_ramp_lags_by_d_over_1_minus_d(decay):
    steps = 500
    seq = np.repeat(np.arange(steps + 1, dtype=np.float64)[:, None], 3, 1)
    got = _run(seq, decay)
    expected = steps - decay * (1 - decay**steps) / (1 - decay)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_random_sequence_matches_the_closed_sum():
    rng = np.random.default_rng(0)
    seq = rng.normal(size=(41, 3))
    d, steps = 0.95, 40
    weights = (1 - d) * d ** (steps - np.arange(1, steps + 1))
    expected = d**steps * seq[0] + weights @ seq[1:]
    np.testing.assert_allclose(_run(seq, d), expected, rtol=1e-12)
    # float32 weights: the same to float32 precision
    got32 = _run(seq.astype(np.float32), d, dtype=torch.float32)
    np.testing.assert_allclose(got32, expected, rtol=2e-5, atol=1e-6)


def test_start_copies_then_averages_from_there():
    rng = np.random.default_rng(1)
    seq = rng.normal(size=(31, 3))
    d, s, steps = 0.9, 10, 30
    weights = (1 - d) * d ** (steps - np.arange(s + 1, steps + 1))
    expected = d ** (steps - s) * seq[s] + weights @ seq[s + 1 :]
    np.testing.assert_allclose(_run(seq, d, start=s), expected, rtol=1e-12)


def test_trainer_ema_is_the_closed_form_of_the_generator_weights(monkeypatch):
    # Through the trainer: record the generator's weights after every step and compare the
    # trainer's EMA with the closed sum over that sequence (decay 0.9, 5 steps). The initial
    # weights come from a run of 0 steps with the same seed.
    run = toy_run(max_steps=5, ema_decay=0.9, hp_dtype="float64", sample_every=0)
    start = Trainer(dataclasses.replace(run, train=dataclasses.replace(run.train, max_steps=0)),
                    RandomImages(), None)  # fmt: skip
    start.fit()
    initial = start.recipe.G[0].weight.detach().clone()
    seen: list[torch.Tensor] = []
    original = Trainer._log

    def log(self, means, optimizers):
        seen.append(self.recipe.G[0].weight.detach().clone())
        original(self, means, optimizers)

    monkeypatch.setattr(Trainer, "_log", log)
    trainer = Trainer(run, RandomImages(), None)
    trainer.fit()
    d, steps = 0.9, len(seen)
    assert steps == 5 and not torch.equal(seen[0], initial)
    expected = d**steps * initial
    for t, w in enumerate(seen, start=1):
        expected = expected + (1 - d) * d ** (steps - t) * w
    torch.testing.assert_close(trainer.ema.modules["G"][0].weight, expected, rtol=1e-12, atol=0)
