"""The real images of an evaluation (``load_reference``): the run's own data (held-out split
when it has one), another dataset, a folder or a tensor, drawn with a seed, and optionally a
second, disjoint real set for the real-vs-real scale of SWD. Used by ``qagen eval``
(:mod:`qagen.eval.run`) and by the quality maps of the run report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from qagen.errors import InputError
from qagen.eval._progress import progress as _progress

__all__ = ["ReferenceSet", "load_reference"]


@dataclass
class ReferenceSet:
    """The real images of an evaluation: ``images`` (``n``, float32 in [0, 1], 8-bit values),
    ``info`` (``reference``, ``reference_split``, ``reference_n_available``) and ``spare``: a
    second, disjoint set of the same size for the real-vs-real SWD scale (``None`` with
    ``spare_note`` saying why when there are not enough images)."""

    images: torch.Tensor
    info: dict
    spare: torch.Tensor | None = None
    spare_note: str = ""


def _fetch(ds: Any, idx: Sequence[int], desc: str, progress: bool) -> torch.Tensor:
    items = []
    for i in _progress(idx, desc=desc, total=len(idx), unit="img", enabled=progress):
        x = ds[int(i)]
        items.append(torch.as_tensor(x[0] if isinstance(x, (list, tuple)) else x))
    return torch.stack(items).float().clamp(0.0, 1.0)


def _build_split(spec: str, resolution: int, preferred: Sequence[str]) -> tuple[Any, str]:
    from qagen.data import build_dataset

    errors = []
    for split in dict.fromkeys(preferred):
        try:
            return build_dataset(spec, resolution, split, value_range=(0.0, 1.0)), split
        except ValueError as err:  # this dataset has no such split
            errors.append(f"{split}: {err}")
    raise InputError(f"no usable split of {spec!r}: " + "; ".join(errors))


def load_reference(
    real: object,
    run: Any,
    n: int,
    *,
    seed: int = 0,
    split: str | None = None,
    spare: bool = False,
    progress: bool = False,
) -> ReferenceSet:
    """``n`` real images and where they came from (:class:`ReferenceSet`).

    ``real``: ``None`` (the run's own ``data.spec`` at its resolution), a dataset spec for
    :func:`qagen.data.build_dataset` (``"cifar10:ROOT"``, ``"builtin"``, ...), an image folder
    (read as ``folder:PATH`` at the run's resolution, the whole folder), or a tensor
    ``N x C x H x W`` in [0, 1]. The split is ``split`` when given, else the held-out ``test``
    split when the dataset has one, else the run's training split. The images are the first
    ``n`` of ``randperm(N)`` seeded with ``seed``. With ``spare`` the next ``n`` of that
    permutation form a second real set (or, when the split is too small, ``n`` images of the
    run's training split drawn with ``seed + 1``).
    """
    res = int(run.data.resolution)
    perm = lambda total, s: torch.randperm(total, generator=torch.Generator().manual_seed(s))  # noqa: E731
    if isinstance(real, torch.Tensor):
        t = real.detach().float().cpu()
        if t.dim() != 4:
            raise InputError(f"real must be N x C x H x W, got shape {tuple(t.shape)}")
        idx = perm(t.shape[0], int(seed)) if t.shape[0] > n else torch.arange(t.shape[0])
        info = {"reference": "tensor given to evaluate_run", "reference_split": split,
                "reference_n_available": int(t.shape[0])}  # fmt: skip
        out = ReferenceSet(t[idx[:n]], info)
        if spare:
            if t.shape[0] >= 2 * n:
                out.spare = t[idx[n : 2 * n]]
            else:
                out.spare_note = f"the tensor holds {t.shape[0]} images, fewer than 2 x {n}"
        return out
    if real is None:
        spec = run.data.spec
        if not spec:
            raise InputError("the run's configuration names no dataset (data.spec): pass real=")
        order = [split] if split else ["test", run.data.split]
    elif Path(str(real)).expanduser().is_dir():
        spec = f"folder:{Path(str(real)).expanduser()}"
        order = [split] if split else ["all"]
    else:
        spec = str(real)
        order = [split] if split else ["test", run.data.split]
    ds, used = _build_split(spec, res, order)
    total = len(ds)
    if total < 1:
        raise InputError(f"the reference dataset {spec!r} [{used}] is empty")
    idx = perm(total, int(seed)).tolist() if total > n else list(range(total))
    images = _fetch(ds, idx[:n], "reading the real images", progress)
    info = {"reference": f"{spec} at {res}x{res}", "reference_split": used,
            "reference_n_available": int(total)}  # fmt: skip
    out = ReferenceSet(images, info)
    if not spare:
        return out
    m = images.shape[0]
    if total >= 2 * m:
        out.spare = _fetch(ds, idx[m : 2 * m], "reading a second real set", progress)
        out.info["spare_source"] = f"{spec} [{used}], disjoint from the reference images"
        return out
    other = run.data.split if used != run.data.split else None
    if other is not None:
        try:
            ds2, used2 = _build_split(spec, res, [other])
        except InputError:
            ds2 = None
        if ds2 is not None and len(ds2) >= m:
            idx2 = perm(len(ds2), int(seed) + 1).tolist()[:m]
            out.spare = _fetch(ds2, idx2, "reading a second real set", progress)
            out.info["spare_source"] = f"{spec} [{used2}] (the {used} split holds {total} images)"
            return out
    out.spare_note = f"{spec} [{used}] holds {total} images, fewer than 2 x {m}"
    return out
