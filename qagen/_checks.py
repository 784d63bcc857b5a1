"""Input validation and reductions shared by every metric.

Errors name the argument, what was expected and what was received. The range/finiteness check
costs one reduction per tensor; it can be switched off for training loops with
:func:`set_input_checks` or the :func:`input_checks` context manager.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch

_RANGE_CHECKS = True

#: Relative overshoot of ``[0, data_range]`` that is tolerated (float rounding in training loops).
RANGE_TOLERANCE = 1e-4


def set_input_checks(enabled: bool) -> None:
    """Globally switch the value-range and NaN/Inf checks on or off (shape/dtype checks stay)."""
    global _RANGE_CHECKS
    _RANGE_CHECKS = bool(enabled)


def input_checks_enabled() -> bool:
    """Whether value-range and NaN/Inf checks are currently on."""
    return _RANGE_CHECKS


@contextlib.contextmanager
def input_checks(enabled: bool) -> Iterator[None]:
    """Context manager that sets the value-range checks for the enclosed block."""
    old = _RANGE_CHECKS
    set_input_checks(enabled)
    try:
        yield
    finally:
        set_input_checks(old)


def check_data_range(data_range: float) -> float:
    """Validate ``data_range``: a finite positive number."""
    if isinstance(data_range, torch.Tensor):
        if data_range.numel() != 1:
            raise ValueError(
                f"data_range must be a scalar, got a tensor of shape {tuple(data_range.shape)}"
            )
        data_range = float(data_range)
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)):
        raise TypeError(f"data_range must be a number, got {type(data_range).__name__}")
    if not math.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be finite and > 0, got {data_range}")
    return float(data_range)


def check_tensor(
    x: torch.Tensor,
    name: str,
    *,
    data_range: float | None = None,
    channels: Sequence[int] | None = (1, 3),
    min_size: int | tuple[int, int] = 1,
    metric: str = "",
    hint: str = "",
    low: float = 0.0,
) -> None:
    """Check that ``x`` is a floating ``N x C x H x W`` tensor with allowed channels and size.

    When range checks are on and ``data_range`` is given, also checks for NaN/Inf and for
    values outside ``[low, low + data_range]`` (relative tolerance :data:`RANGE_TOLERANCE`).
    """
    where = f"{metric}: " if metric else ""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"{where}{name} must be a floating-point tensor (float32 or float64), got {x.dtype}; "
            f"convert first, e.g. {name}.float() (keep data_range consistent with the values)"
        )
    if x.dim() != 4:
        raise ValueError(
            f"{where}{name} must have 4 dimensions (N x C x H x W), got {x.dim()} "
            f"(shape {tuple(x.shape)})"
        )
    if channels is not None and x.shape[1] not in channels:
        allowed = " or ".join(str(c) for c in channels)
        raise ValueError(
            f"{where}{name} must have {allowed} channels, got {x.shape[1]} (shape {tuple(x.shape)})"
        )
    mh, mw = (min_size, min_size) if isinstance(min_size, int) else min_size
    if x.shape[-2] < mh or x.shape[-1] < mw:
        msg = (
            f"{where}{name} is too small: height x width must be at least {mh} x {mw}, "
            f"got {x.shape[-2]} x {x.shape[-1]}"
        )
        raise ValueError(msg + (f"; {hint}" if hint else ""))
    if data_range is not None and _RANGE_CHECKS and x.numel() > 0:
        lo, hi = torch.aminmax(x.detach())
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{where}{name} contains NaN or Inf values")
        tol = RANGE_TOLERANCE * data_range
        if lo < low - tol or hi > low + data_range + tol:
            span = (
                f"[0, data_range={data_range:g}]"
                if low == 0
                else f"[{low:g}, {low + data_range:g}]"
            )
            raise ValueError(
                f"{where}{name} has values in [{lo:.6g}, {hi:.6g}], outside {span}; "
                "pass the right data_range, or switch the check off with "
                "qagen.iqa.set_input_checks(False)"
            )


def check_pair(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    data_range: float,
    channels: Sequence[int] | None = (1, 3),
    min_size: int | tuple[int, int] = 1,
    metric: str = "",
    hint: str = "",
    low: float = 0.0,
) -> float:
    """Validate a (distorted ``x``, reference ``y``) pair; returns ``data_range`` as float."""
    data_range = check_data_range(data_range)
    kw = dict(
        data_range=data_range,
        channels=channels,
        min_size=min_size,
        metric=metric,
        hint=hint,
        low=low,
    )
    check_tensor(x, "x", **kw)
    check_tensor(y, "y", **kw)
    if x.shape != y.shape:
        where = f"{metric}: " if metric else ""
        raise ValueError(
            f"{where}x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.dtype != y.dtype:
        where = f"{metric}: " if metric else ""
        raise TypeError(f"{where}x and y must have the same dtype, got {x.dtype} and {y.dtype}")
    if x.device != y.device:
        where = f"{metric}: " if metric else ""
        raise ValueError(
            f"{where}x and y must be on the same device, got {x.device} and {y.device}"
        )
    return data_range


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Validate that a string option is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` ('none' | 'mean' | 'sum') to per-image values of shape ``[N]``."""
    if reduction == "none":
        return values
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
