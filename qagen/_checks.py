"""Input validation, compute precision and reductions shared by every metric.

Errors name the public function the user called, the argument, what was expected and what was
received; they are :class:`qagen.errors.InputError` (``InputTypeError`` for a wrong type), so the
command line reports them as bad input. The range/finiteness check costs one reduction per
tensor (and one read of two numbers from the device); it can be switched off for training loops
with :func:`set_input_checks` or the :func:`input_checks` context manager.

Precision: float16 and bfloat16 inputs are computed in float32 (:func:`compute_dtype`) with
``torch.autocast`` switched off inside the metric (:func:`no_autocast`), and the result is
float32; the gradient reaches the input in its own dtype.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch

from qagen.errors import InputError, InputTypeError

_RANGE_CHECKS = True

#: Input dtypes computed in float32 (their range and precision are too small for the squares,
#: variances and FFTs of the metrics: cQS of 0-255 values overflows float16 at 2 * 255^2).
HALF_DTYPES = (torch.float16, torch.bfloat16)

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


def check_data_range(data_range: float, metric: str = "") -> float:
    """Validate ``data_range``: a finite positive number."""
    where = f"{metric}: " if metric else ""
    if isinstance(data_range, torch.Tensor):
        if data_range.numel() != 1:
            raise InputError(
                f"{where}data_range must be a scalar, got a tensor of shape {tuple(data_range.shape)}"
            )
        data_range = float(data_range)
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)):
        raise InputTypeError(f"{where}data_range must be a number, got {type(data_range).__name__}")
    if not math.isfinite(data_range) or data_range <= 0:
        raise InputError(f"{where}data_range must be finite and > 0, got {data_range}")
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
        raise InputTypeError(f"{where}{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputTypeError(
            f"{where}{name} must be a floating-point tensor (float16, bfloat16, float32 or "
            f"float64; half precision is computed in float32), got {x.dtype}; convert first, "
            f"e.g. {name}.float() (keep data_range consistent with the values)"
        )
    if x.dim() != 4:
        raise InputError(
            f"{where}{name} must have 4 dimensions (N x C x H x W), got {x.dim()} "
            f"(shape {tuple(x.shape)})"
        )
    if channels is not None and x.shape[1] not in channels:
        allowed = " or ".join(str(c) for c in channels)
        raise InputError(
            f"{where}{name} must have {allowed} channel{'s' if allowed != '1' else ''}, got {x.shape[1]} (shape {tuple(x.shape)})"
        )
    mh, mw = (min_size, min_size) if isinstance(min_size, int) else min_size
    if x.shape[-2] < mh or x.shape[-1] < mw:
        msg = (
            f"{where}{name} is too small: height x width must be at least {mh} x {mw}, "
            f"got {x.shape[-2]} x {x.shape[-1]}"
        )
        raise InputError(msg + (f"; {hint}" if hint else ""))
    if data_range is not None and _RANGE_CHECKS and x.numel() > 0:
        lo, hi = torch.aminmax(x.detach())
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InputError(f"{where}{name} contains NaN or Inf values")
        tol = RANGE_TOLERANCE * data_range
        if lo < low - tol or hi > low + data_range + tol:
            span = (
                f"[0, data_range={data_range:g}]"
                if low == 0
                else f"[{low:g}, {low + data_range:g}]"
            )
            raise InputError(
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
    data_range = check_data_range(data_range, metric)
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
        raise InputError(
            f"{where}x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.dtype != y.dtype:
        where = f"{metric}: " if metric else ""
        raise InputTypeError(
            f"{where}x and y must have the same dtype, got {x.dtype} and {y.dtype}"
        )
    if x.device != y.device:
        where = f"{metric}: " if metric else ""
        raise InputError(
            f"{where}x and y must be on the same device, got {x.device} and {y.device}"
        )
    return data_range


def no_autocast(where: torch.device | torch.Tensor | object) -> contextlib.AbstractContextManager:
    """A context that switches ``torch.autocast`` off on a device (or a tensor's device).

    Metrics compute in the dtype they choose (float32 for half inputs); an enclosing autocast
    region must not silently turn their products and filters into float16/bfloat16. Anything
    that is neither a device nor a tensor (invalid input, rejected later) means the CPU.
    """
    if isinstance(where, torch.Tensor):
        where = where.device
    if not isinstance(where, torch.device):
        where = torch.device("cpu")
    if torch.amp.is_autocast_available(where.type):
        return torch.autocast(device_type=where.type, enabled=False)
    return contextlib.nullcontext()


def check_choice(value: str, name: str, choices: Sequence[str], metric: str = "") -> str:
    """Validate that a string option is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        where = f"{metric}: " if metric else ""
        raise InputError(f"{where}{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_positive(value: float, name: str, metric: str = "", *, allow_zero: bool = False) -> float:
    """Validate a finite number > 0 (>= 0 with ``allow_zero``); returns it as float."""
    where = f"{metric}: " if metric else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{where}{name} must be a number, got {type(value).__name__}")
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise InputError(
            f"{where}{name} must be finite and {'>= 0' if allow_zero else '> 0'}, got {value}"
        )
    return float(value)


def compute_dtype(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """float16/bfloat16 tensors converted to float32 (differentiably); others unchanged."""
    return tuple(t.float() if t.dtype in HALF_DTYPES else t for t in tensors)


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply ``reduction`` ('none' | 'mean' | 'sum') to per-image values of shape ``[N]``."""
    if reduction == "none":
        return values
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    raise InputError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
