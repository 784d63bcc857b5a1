"""Progress bars of the evaluation stages (tqdm on stderr, one bar per stage)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["progress", "stage"]


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    unit: str = "batch",
    enabled: bool = True,
) -> Iterable[T]:
    """``iterable`` wrapped in a tqdm bar on stderr (elapsed time, rate and ETA) when
    ``enabled``; the iterable itself otherwise."""
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(
        iterable, desc=desc, total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=True
    )


@contextlib.contextmanager
def stage(desc: str, enabled: bool = True) -> Iterator[Any]:
    """A one-step bar for a computation that cannot report its own progress (it shows the
    elapsed time once done)."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=1, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, leave=True)
    try:
        yield bar
        bar.update(1)
    finally:
        bar.close()
