"""Atomic file writes and the one JSON policy for numbers that are not finite.

Standard library only (no torch, no numpy), at the bottom of the layers: every layer writes its
files with these functions.

**Atomic writes.** :func:`write_atomic` writes bytes or text to a unique temporary file in the
destination's folder (a hidden ``.NAME.<pid>.<random>.tmp<suffix>``), optionally fsyncs it,
and moves it over the destination with ``os.replace``. A reader sees either the old file or the
complete new one, never a partial file; on any error, ``KeyboardInterrupt`` included, the
temporary file is removed and the old file is untouched. :func:`atomic_path` does the same for
writers that need a path (``torch.save``, ``numpy.savez``, ``PIL.Image.save``, a TOML writer).

**Non-finite numbers in JSON.** Strict JSON has no NaN or infinity (``json.dumps`` would write
``NaN``/``Infinity``, which strict parsers reject). qagen writes such a number as ``null`` and
records why beside it: :func:`json_safe` turns every non-finite float of a dict ``{"key": nan}``
into ``{"key": null, "key_reason": "not finite: nan"}`` (``inf``, ``-inf`` likewise); a
non-finite number inside a list under ``"key"`` becomes ``null`` and the dict holding the list
gets ``"key_reason": "not finite at [i, j, ...]: nan, inf, ..."``. A non-finite number at the
top level or in a list that no dict holds becomes ``null`` without a reason (there is nowhere
to put one). :func:`dumps_json` and :func:`write_json_atomic` apply this policy and then encode
with ``allow_nan=False``, so nothing qagen writes contains ``NaN``, ``Infinity`` or the string
``"nan"``.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "dumps_json",
    "fsync_dir",
    "json_safe",
    "not_finite_reason",
    "write_atomic",
    "write_json_atomic",
]


# --------------------------------------------------------------------------- atomic writes
def _temp_name(path: Path) -> Path:
    """A unique hidden name beside ``path`` that keeps its suffix (``numpy.savez`` appends
    ``.npz`` to a name without it)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")


def _create_temp(path: Path) -> tuple[Path, int]:
    """Create the temporary file exclusively (mode 0o666 less the umask, like ``open``);
    return its path and an open descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_name(path)
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """fsync a directory so that a rename in it survives a power failure (POSIX; a no-op
    where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    encoding: str = "utf-8",
    fsync: bool = False,
) -> Path:
    """Write ``data`` (text is encoded with ``encoding``, newlines as given) to ``path``
    atomically: parent folders are created, the data goes to a unique temporary file in the same
    folder (fsynced with ``fsync=True``, and the folder after the move), then ``os.replace``.

    ``path`` then holds either its old content or all of ``data``; on any error (also
    ``KeyboardInterrupt``) the temporary file is removed and the error propagates. Returns
    ``path`` as a :class:`~pathlib.Path`.
    """
    p = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else bytes(data)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _create_temp(p)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if fsync:
        fsync_dir(p.parent)
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` (same folder, same suffix; the file exists and is
    empty) for writers that need a path; moved over ``path`` when the block ends normally,
    removed when it raises (also ``KeyboardInterrupt``). Parent folders are created;
    ``fsync=True`` fsyncs the file before the move and the folder after it::

        with atomic_path(out / "model.pt") as tmp:
            torch.save(state, tmp)
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _create_temp(p)
    os.close(fd)
    try:
        yield tmp
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, p)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if fsync:
        fsync_dir(p.parent)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden staging folder beside ``path`` (``.NAME.partial-PID``) to fill; moved to
    ``path`` when the block ends normally (``path`` must then be absent or empty), removed when
    it raises (also ``KeyboardInterrupt``), so a half-written folder is never left at ``path``::

        with atomic_folder(out) as stage:
            write_everything(stage)
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    stage = p.parent / f".{p.name}.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        if p.exists():
            p.rmdir()  # empty: callers check it first; a non-empty folder raises OSError
        os.replace(stage, p)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- JSON
def _as_float(value: Any) -> float | None:
    """``value`` as a float when it is a real number that is not an integer (float, numpy
    float, 0-d array, one-element tensor: anything ``float()`` accepts that ``operator.index``
    refuses), else None. Ints, bools, strings and containers are not numbers here."""
    if isinstance(value, float):
        return value
    if value is None or isinstance(value, (bool, int, str, bytes, Mapping, list, tuple)):
        return None
    if not hasattr(value, "__float__"):
        return None
    try:
        operator.index(value)
    except (TypeError, ValueError, RuntimeError):
        pass
    else:
        return None  # an integer (numpy int, integer tensor)
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def not_finite_reason(value: float) -> str | None:
    """``"not finite: nan"`` (``inf``, ``-inf``) for a non-finite float, else None."""
    return None if math.isfinite(value) else f"not finite: {value}"


def _safe(obj: Any) -> tuple[Any, list[tuple[str, float]]]:
    """``obj`` with non-finite floats as None, and the ``(index path, value)`` of each one
    found inside lists/tuples (for the reason of the dict that holds them)."""
    if isinstance(obj, Mapping):
        return _safe_dict(obj), []
    if isinstance(obj, (list, tuple)):
        out, found = [], []
        for i, item in enumerate(obj):
            v, inner = _safe(item)
            out.append(v)
            found += [(f"{i}" + (f".{at}" if at else ""), x) for at, x in inner]
        return out, found
    f = _as_float(obj)
    if f is None:
        return obj, []
    if math.isfinite(f):
        return (obj if type(obj) is float else float(f)), []
    return None, [("", f)]


def _safe_dict(obj: Mapping[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in obj.items():
        v, found = _safe(value)
        out[key] = v
        name = f"{key}_reason"
        if not found or name in obj:  # never overwrite a key the data already has
            continue
        if len(found) == 1 and found[0][0] == "":
            out[name] = f"not finite: {found[0][1]}"
        else:
            at = ", ".join(i for i, _ in found)
            out[name] = f"not finite at [{at}]: " + ", ".join(str(x) for _, x in found)
    return out


def json_safe(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples as lists) for strict JSON: every non-finite
    number becomes None and the dict that held it gets ``"<key>_reason"`` (module docstring).

    Floats, numpy floats, 0-d arrays and one-element tensors (anything with ``__float__`` that
    is not an integer) count as numbers; finite ones that are not ``float`` become ``float``.
    A ``"<key>_reason"`` key the data already has is kept as it is.
    """
    return _safe(obj)[0]


def dumps_json(obj: Any, **kw: Any) -> str:
    """``json.dumps(json_safe(obj), allow_nan=False, **kw)``: strict JSON text."""
    kw.setdefault("allow_nan", False)
    return json.dumps(json_safe(obj), **kw)


def write_json_atomic(
    path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1, **kw: Any
) -> Path:
    """Write ``obj`` as strict JSON (:func:`dumps_json`, a final newline) to ``path``
    atomically (:func:`write_atomic`). Returns the path."""
    return write_atomic(path, dumps_json(obj, indent=indent, **kw) + "\n")
