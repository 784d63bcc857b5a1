"""Exception types for bad input, shared by every layer and by the ``qagen`` command.

Validation anywhere in qagen raises one of these (all are ``ValueError`` subclasses, and
:class:`InputTypeError` is also a ``TypeError``), so existing ``except ValueError`` code keeps
working while the command line can catch *only* bad input (exit code 2, one line) and let a
programming error surface as a traceback.

* :class:`InputError`: an argument, option, file or configuration value that is not what was
  expected. The message names the argument, what was expected and what was received.
* :class:`InputTypeError`: the same for a wrong type (an integer tensor, a list for a tensor).
* :class:`UnknownNameError`: a name that is not in a registry (metric, recipe, preset,
  experiment, data source, ...); the message lists the valid names, with close matches first.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["InputError", "InputTypeError", "UnknownNameError"]


class InputError(ValueError):
    """Bad input from the caller (argument, option, file, configuration value)."""


class InputTypeError(InputError, TypeError):
    """Bad input of the wrong type."""


class UnknownNameError(InputError):
    """A name that is not registered.

    Attributes: ``kind`` (e.g. ``"metric"``), ``name`` (what was asked for) and ``available``
    (the sorted valid names). ``str(err)`` is one line:
    ``unknown metric 'sim' (did you mean ssim?); available: cqs, fsim, ...``.
    """

    def __init__(self, kind: str, name: object, available: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = sorted(set(available))
        close = difflib.get_close_matches(str(name), self.available, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        listing = ", ".join(self.available) if self.available else "(none)"
        super().__init__(f"unknown {kind} {name!r}{hint}; available: {listing}")
