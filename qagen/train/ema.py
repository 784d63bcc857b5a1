"""Exponential moving averages of named modules.

After generator step ``t`` (``t`` completed steps) every parameter of an averaged module is
updated as ``ema = decay * ema + (1 - decay) * param`` (``ema.lerp_(param, 1 - decay)``), the
update of TensorFlow's ``ExponentialMovingAverage`` used by QAGAN (decay 0.99, ``lfovia/QAGANS``)
with the shadow initialised to the initial weights. While ``t <= start`` the EMA copies the
weights instead. Buffers (batch-norm running statistics) are copied, not averaged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["EMA", "unwrap"]


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / DataParallel wrapper (or itself)."""
    while True:
        if isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        elif hasattr(module, "_orig_mod"):  # torch.compile wrapper
            module = module._orig_mod
        else:
            return module


class EMA:
    """EMA copies of named modules (frozen deep copies of the unwrapped modules)."""

    def __init__(self, modules: Mapping[str, nn.Module], decay: float, start: int = 0) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"train.ema_decay must lie in [0, 1), got {decay}")
        self.decay, self.start = float(decay), int(start)
        self.modules: dict[str, nn.Module] = {}
        for name, module in modules.items():
            shadow = copy.deepcopy(unwrap(module))
            shadow.requires_grad_(False)
            self.modules[name] = shadow

    @torch.no_grad()
    def update(self, sources: Mapping[str, nn.Module], step: int) -> None:
        """Fold the current weights of ``sources`` in; ``step`` = completed generator steps."""
        copy_only = step <= self.start
        for name, shadow in self.modules.items():
            src = unwrap(sources[name])
            e_params = list(shadow.parameters())
            s_params = [p.detach() for p in src.parameters()]
            if len(e_params) != len(s_params):
                raise RuntimeError(f"EMA of '{name}': the module's parameters changed")
            if e_params:
                if copy_only:
                    torch._foreach_copy_(e_params, s_params)
                else:
                    torch._foreach_lerp_(e_params, s_params, 1.0 - self.decay)
            for eb, sb in zip(shadow.buffers(), src.buffers(), strict=True):
                eb.copy_(sb)

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        return {name: m.state_dict() for name, m in self.modules.items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        missing = set(self.modules) - set(state)
        if missing:
            raise KeyError(f"checkpoint has no EMA state for {sorted(missing)}")
        for name, m in self.modules.items():
            m.load_state_dict(state[name])
