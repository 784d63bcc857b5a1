"""Checkpoint files: atomic writing, discovery, pruning, loading, RNG states, state snapshots.

A checkpoint is ``DIR/checkpoints/step_XXXXXXXX.pt`` (8-digit number of completed generator
steps) written with ``torch.save`` to a temporary file in the same directory, flushed, fsynced and
moved over the final name with ``os.replace``: a crash or an exception during the write leaves
the previous checkpoints untouched and no partial file under a final name. Everything in it is a
tensor or a primitive container, so it loads with ``torch.load(weights_only=True)``.

Resuming never loses or mixes up work: :func:`load_resume_point` falls back past an unreadable
(truncated) newest checkpoint with a warning, and :func:`abandon_after` moves the checkpoints
and sample grids of a branch abandoned by resuming from an older checkpoint into
``RUN/abandoned-<timestamp>/`` instead of letting keep-last-K delete the new work or a later
``--resume`` jump back to them.

Layout (the trainer fills it; see ``docs/training.md``)::

    format, version, torch_version   identification
    step                             completed generator steps
    world_size                       ranks of the run that wrote it
    config                           resolved run configuration (config.toml layout)
    modules, ema, optimizers, schedulers   {name: state_dict}
    recipe                           the recipe's extra state (controllers, running statistics)
    rng                              [per rank: {"torch", "cuda", "numpy", "python"}]
    shared_rng                       state of the generator shared by all ranks (ctx.generator)
    data                             {stream name: global batches consumed}, batch size
    logger                           partially accumulated logging window
    elapsed                          training seconds up to this step
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import re
import shutil
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from qagen.errors import InputError
from qagen.files import atomic_path, fsync_dir
from qagen.report.runfiles import list_checkpoints

__all__ = [
    "FORMAT",
    "VERSION",
    "checkpoint_path",
    "list_checkpoints",
    "latest_checkpoint",
    "resolve_checkpoint",
    "save_atomic",
    "prune_checkpoints",
    "load_checkpoint",
    "ResumePoint",
    "load_resume_point",
    "abandon_after",
    "capture_rng_state",
    "restore_rng_state",
    "StateSnapshot",
]

_log = logging.getLogger("qagen.train")

FORMAT = "qagen-train-checkpoint"
VERSION = 1


def checkpoint_path(directory: str | Path, step: int) -> Path:
    """``directory/step_XXXXXXXX.pt``."""
    return Path(directory) / f"step_{int(step):08d}.pt"


def latest_checkpoint(directory: str | Path) -> Path | None:
    """Newest checkpoint in ``directory`` (or ``None``)."""
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def resolve_checkpoint(path: str | Path) -> Path | None:
    """A checkpoint file, or the newest one in a run directory or its ``checkpoints/``."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        return latest_checkpoint(p / "checkpoints") or latest_checkpoint(p)
    return None


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, ``os.replace``, fsync of the
    folder (:func:`qagen.files.atomic_path` with ``fsync=True``).

    On any failure the temporary file is removed and the exception propagates; ``path`` (if it
    existed) and every other file are untouched.
    """
    path = Path(path)
    with atomic_path(path, fsync=True) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
    return path


def prune_checkpoints(directory: str | Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints (``keep <= 0`` keeps all)."""
    if keep <= 0:
        return []
    removed = []
    for _, p in list_checkpoints(directory)[:-keep]:
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


_SAMPLE_NAME = re.compile(r"^step_(\d+)(_.*)?\.png$")


def abandon_after(run_dir: str | Path, step: int, extra: Iterable[str | Path] = ()) -> Path | None:
    """Move the work of a run beyond ``step`` aside, into ``run_dir/abandoned-<timestamp>/``.

    Resuming from a checkpoint older than the newest one starts a new branch of the run; the
    newer checkpoints, their sample grids and the metrics rows belong to the abandoned branch.
    They are moved (never deleted): ``checkpoints/step_k.pt`` with ``k > step`` and the files
    in ``extra`` (e.g. unreadable checkpoints) to ``abandoned-<timestamp>/checkpoints/``,
    ``samples/step_k*.png`` with ``k > step`` to ``abandoned-<timestamp>/samples/``, and copies
    of ``metrics.csv`` and ``config.toml`` as they were. The folder is a run directory of its
    own (``qagen train --resume`` and ``qagen eval`` accept it). Returns the folder, or ``None``
    when nothing lies beyond ``step`` (then nothing is touched).
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    extra_paths = [Path(p) for p in extra if Path(p).is_file()]
    newer = [p for k, p in list_checkpoints(ckpt_dir) if k > step]
    moved_ckpts = sorted({*newer, *extra_paths})
    if not moved_ckpts:
        return None
    samples = []
    if (run_dir / "samples").is_dir():
        for p in sorted((run_dir / "samples").iterdir()):
            m = _SAMPLE_NAME.match(p.name)
            if m and p.is_file() and int(m.group(1)) > step:
                samples.append(p)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = run_dir / f"abandoned-{stamp}"
    n = 1
    while dest.exists():
        n += 1
        dest = run_dir / f"abandoned-{stamp}-{n}"
    (dest / "checkpoints").mkdir(parents=True)
    for p in moved_ckpts:
        os.replace(p, dest / "checkpoints" / p.name)
    if samples:
        (dest / "samples").mkdir()
        for p in samples:
            os.replace(p, dest / "samples" / p.name)
    for name in ("metrics.csv", "config.toml"):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, dest / name)
    fsync_dir(ckpt_dir)
    what = ", ".join(p.name for p in moved_ckpts)
    more = f" and {len(samples)} sample grid(s)" if samples else ""
    copied = (run_dir / "metrics.csv").is_file()
    _log.warning(
        "resuming from step %d, older than the run's newest checkpoint: a new branch starts; "
        "the abandoned branch's checkpoint(s) (%s)%s were moved to %s%s",
        step,
        what,
        more,
        dest,
        f" with a copy of metrics.csv, which now continues from step {step}" if copied else "",
    )
    return dest


_ZIP_MAGIC = b"PK\x03\x04"
#: ``torch.save(..., _use_new_zipfile_serialization=False)`` files start with a pickled magic
#: number: protocol 2 opcode, then a long integer.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"


def _unreadable_reason(path: Path, err: BaseException) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in words (never PyTorch's advice to
    load with ``weights_only=False``, which would execute arbitrary pickled code)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:  # pragma: no cover - permissions, races
        return f"it cannot be opened ({exc.strerror or exc})"
    if not head:
        return "it is empty"
    if head != _ZIP_MAGIC and head != _LEGACY_MAGIC:
        return "it is not a PyTorch file"
    if isinstance(err, pickle.UnpicklingError):
        return (
            "it holds Python objects other than tensors and plain containers, so it is not a "
            "qagen checkpoint (qagen never unpickles arbitrary objects)"
        )
    return "it is truncated or corrupted (the file ends early or its archive is damaged)"


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a trainer checkpoint with ``torch.load(weights_only=True)`` and check its format.

    Raises ``FileNotFoundError`` for a missing file and :class:`qagen.errors.InputError` naming
    the file and the reason for one that is not a readable qagen checkpoint (not a PyTorch file,
    truncated, a pickle of arbitrary objects, another format, a newer version).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4" on foreign files
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise InputError(
            f"checkpoint {path} cannot be read: {_unreadable_reason(path, err)}"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError(
            f"checkpoint {path} cannot be read: it is a PyTorch file but not a qagen training "
            "checkpoint"
        )
    if ckpt.get("version", 0) > VERSION:
        raise InputError(
            f"checkpoint {path} has checkpoint version {ckpt['version']}; this qagen reads up to "
            f"{VERSION} (update qagen)"
        )
    return ckpt


class ResumePoint(NamedTuple):
    """A loaded checkpoint to resume from (:func:`load_resume_point`)."""

    path: Path
    state: dict[str, Any]
    #: newer checkpoints that could not be read, with the reason (skipped, oldest first)
    unreadable: list[tuple[Path, str]]


def load_resume_point(source: str | Path) -> ResumePoint | None:
    """Load what ``--resume SOURCE`` continues from.

    ``source`` is a checkpoint file (loaded, or :class:`qagen.errors.InputError` if unreadable)
    or a run directory (or its ``checkpoints/``): its newest checkpoint that loads. A newest
    checkpoint that is truncated or corrupted (e.g. the machine died while the file system
    flushed it) is skipped with a warning naming it, and the previous good one is used; the
    skipped files are listed in ``unreadable`` (they are never deleted: the trainer moves them
    aside with the abandoned branch). ``None`` when ``source`` holds no checkpoint at all;
    ``InputError`` when it holds only unreadable ones.
    """
    p = Path(source)
    if p.is_file():
        return ResumePoint(p, load_checkpoint(p), [])
    if not p.is_dir():
        return None
    found = list_checkpoints(p / "checkpoints") or list_checkpoints(p)
    if not found:
        return None
    unreadable: list[tuple[Path, str]] = []
    for _, path in reversed(found):
        try:
            state = load_checkpoint(path)
        except InputError as err:
            unreadable.insert(0, (path, str(err)))
            continue
        for _, why in unreadable:
            _log.warning("%s; falling back to the previous checkpoint %s", why, path.name)
        return ResumePoint(path, state, unreadable)
    names = ", ".join(bad.name for bad, _ in unreadable)
    raise InputError(f"no readable checkpoint in {p}: {names} cannot be read ({unreadable[-1][1]})")


# --------------------------------------------------------------------------- RNG states


def capture_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """RNG states of torch (CPU and ``device`` if CUDA), numpy and ``random`` as tensors/lists."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, mt, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {
            "version": int(version),
            "state": torch.tensor(mt, dtype=torch.int64),
            "gauss": gauss_next,
        },
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: Mapping[str, Any], device: torch.device | None = None) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    npst = state["numpy"]
    np.random.set_state(
        (
            npst["kind"],
            npst["keys"].cpu().numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["gauss"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    if device is not None and device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# --------------------------------------------------------------------------- snapshots


def _flatten(tree: Any, tensors: list[torch.Tensor]) -> Any:
    if isinstance(tree, torch.Tensor):
        tensors.append(tree)
        return _Leaf(len(tensors) - 1)
    if isinstance(tree, Mapping):
        return {k: _flatten(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_flatten(v, tensors) for v in tree]
    if isinstance(tree, tuple):
        return tuple(_flatten(v, tensors) for v in tree)
    return tree


def _unflatten(skeleton: Any, tensors: list[torch.Tensor]) -> Any:
    if isinstance(skeleton, _Leaf):
        return tensors[skeleton.index]
    if isinstance(skeleton, dict):
        return {k: _unflatten(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_unflatten(v, tensors) for v in skeleton]
    if isinstance(skeleton, tuple):
        return tuple(_unflatten(v, tensors) for v in skeleton)
    return skeleton


class _Leaf:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class StateSnapshot:
    """A detached copy of a nested state (dicts/lists/tuples of tensors and primitives).

    Successive :meth:`capture` calls reuse the same tensor buffers (``copy_``) when the tensors
    keep their shapes, dtypes and devices, so keeping "the last good state" costs one copy per
    step and no allocation. Tensors stay on their devices.
    """

    def __init__(self) -> None:
        self._buffers: list[torch.Tensor] = []
        self.state: Any = None

    @torch.no_grad()
    def capture(self, tree: Any) -> Any:
        tensors: list[torch.Tensor] = []
        skeleton = _flatten(tree, tensors)
        bufs = self._buffers
        same = len(bufs) == len(tensors) and all(
            b.shape == t.shape and b.dtype == t.dtype and b.device == t.device
            for b, t in zip(bufs, tensors, strict=True)
        )
        if same:
            by_device: dict[torch.device, tuple[list, list]] = {}
            for b, t in zip(bufs, tensors, strict=True):
                dst, src = by_device.setdefault(b.device, ([], []))
                dst.append(b)
                src.append(t.detach())
            for dst, src in by_device.values():
                torch._foreach_copy_(dst, src)
        else:
            self._buffers = bufs = [t.detach().clone() for t in tensors]
        self.state = _unflatten(skeleton, bufs)
        return self.state
