"""Learning-rate schedules as functions of the global step.

The trainer sets ``lr = initial_lr * f(step)`` on every parameter group of an optimiser before each
generator step, where ``step`` is the number of generator steps already completed (0 for the first
update, like TensorFlow's ``global_step``) and ``f`` is what the recipe returns from
``lr_schedules()``. Because the rate is a pure function of the step (as in mimicry), resuming
cannot drift, and no scheduler counter has to be stepped by hand.

QAGAN / Banach-WGAN code (``lfovia/QAGANS``, ``adler-j/bwgan``):
``lr = 2e-4 * max(0, 1 - step / MAX_ITERS)`` is ``linear_decay(MAX_ITERS)``. pix2pix ("constant
for n epochs, then linear to 0 over n_decay epochs") is
``linear_decay(total=(n + n_decay) * steps_per_epoch, start=n * steps_per_epoch)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["LinearDecay", "linear_decay", "constant", "apply_lr", "current_lrs"]


class LinearDecay:
    """``f(step) = 1`` for ``step <= start``, then linear to 0 at ``total``, never below ``floor``.

    ``f(step) = max(floor, 1 - (step - start) / (total - start))`` for ``step > start``.
    """

    def __init__(self, total: int, start: int = 0, floor: float = 0.0) -> None:
        total, start, floor = int(total), int(start), float(floor)
        if total <= 0:
            raise ValueError(f"total must be a positive number of steps, got {total}")
        if not 0 <= start < total:
            raise ValueError(f"start must lie in [0, total) = [0, {total}), got {start}")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"floor must lie in [0, 1], got {floor}")
        self.total, self.start, self.floor = total, start, floor

    def __call__(self, step: int) -> float:
        if step <= self.start:
            return 1.0
        return max(self.floor, 1.0 - (step - self.start) / (self.total - self.start))

    def __repr__(self) -> str:
        return f"LinearDecay(total={self.total}, start={self.start}, floor={self.floor})"


def linear_decay(total: int, start: int = 0, floor: float = 0.0) -> LinearDecay:
    """Multiplier decaying linearly from 1 (at ``start``) to 0 (at ``total``); see LinearDecay."""
    return LinearDecay(total, start, floor)


def constant() -> Callable[[int], float]:
    """Multiplier 1 at every step."""
    return _constant


def _constant(step: int) -> float:
    return 1.0


def apply_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set ``lr = initial_lr * factor`` on every parameter group.

    ``initial_lr`` is recorded from the group's ``lr`` the first time (the key PyTorch's own
    schedulers use); it is part of the optimiser's ``state_dict`` and so of every checkpoint.
    """
    for group in optimizer.param_groups:
        base = group.setdefault("initial_lr", group["lr"])
        if isinstance(base, torch.Tensor):
            base = float(base)
        lr = base * factor
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def current_lrs(optimizer: torch.optim.Optimizer) -> list[float]:
    """The learning rate of each parameter group."""
    return [float(g["lr"]) for g in optimizer.param_groups]
