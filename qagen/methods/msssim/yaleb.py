"""The Extended Yale B cropped faces (Lee, Ho, Kriegman, IEEE TPAMI 2005), read from a local
copy, with their labels: identity, light azimuth and light elevation.

Layout (the ``CroppedYale`` archive; ROOT may be that folder or any folder above it)::

    ROOT/yaleB01/yaleB01_P00A+000E+00.pgm     subject 01, pose 00, azimuth +000, elevation +00
    ROOT/yaleB01/yaleB01_P00A-035E+40.pgm
    ROOT/yaleB01/yaleB01_P00_Ambient.pgm      ambient image: no light direction, skipped
    ...

:func:`parse_yaleb_name` reads a file name; the subjects are numbered 0..K-1 in the order of
their numbers. Images (168 x 192) are centre-cropped to a square (``fit='crop'``, default) or
stretched (``fit='stretch'``) and resized (antialiased bicubic) to ``resolution`` (the poster:
48 x 48); items are float32 ``3 x R x R`` (grey repeated, as every qagen dataset) in
``value_range``; :attr:`YaleBDataset.labels` holds ``(identity, azimuth, elevation)`` rows.

Splits (:func:`identity_split`): ``train`` and ``test`` are a fixed, seeded, per-identity split
of the images (``test_fraction`` = 1/2 of each subject's images in ``test``), ``all`` is
everything. The autoencoder trains on ``train``; the SVMs of :mod:`qagen.methods.msssim.codes` fit on
the codes of ``train`` and are scored on those of ``test``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.transforms import ImagePostprocess, center_crop, resize_uint8
from qagen.errors import InputError
from qagen.io import list_images

__all__ = ["YaleBDataset", "YaleBName", "identity_split", "parse_yaleb_name", "LABEL_NAMES"]

#: Columns of the label arrays of the illumination datasets.
LABEL_NAMES = ("identity", "azimuth", "elevation")

_NAME = re.compile(r"^yaleB(\d+)_P(\d+)A([+-]\d+)E([+-]\d+)$", re.IGNORECASE)


class YaleBName(NamedTuple):
    subject: int
    pose: int
    azimuth: int
    elevation: int


def parse_yaleb_name(name: str | Path) -> YaleBName | None:
    """``yaleB05_P00A-035E+40.pgm`` -> ``YaleBName(5, 0, -35, 40)``; ``None`` for names without
    a light direction (``yaleB05_P00_Ambient.pgm``, other files)."""
    m = _NAME.match(Path(name).stem)
    if m is None:
        return None
    s, p, a, e = m.groups()
    return YaleBName(int(s), int(p), int(a), int(e))


def identity_split(
    identities: Sequence[int] | np.ndarray, split: str, seed: int = 0, test_fraction: float = 0.5
) -> np.ndarray:
    """Indices of ``split`` ('train', 'test', 'all'): for every identity a seeded random
    ``round(test_fraction * n)`` of its ``n`` items is ``test``, the rest ``train``."""
    if split not in ("train", "test", "all"):
        raise InputError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    ids = np.asarray(identities)
    if split == "all":
        return np.arange(len(ids))
    test = np.zeros(len(ids), dtype=bool)
    for k, ident in enumerate(np.unique(ids)):
        members = np.flatnonzero(ids == ident)
        rng = np.random.default_rng([seed, k])
        pick = rng.permutation(members)[: int(round(test_fraction * len(members)))]
        test[pick] = True
    return np.flatnonzero(test if split == "test" else ~test)


class YaleBDataset(Dataset):
    """Extended Yale B cropped faces under ``root`` (module docstring)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 48,
        *,
        seed: int = 0,
        test_fraction: float = 0.5,
        fit: str = "crop",
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
    ) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"Extended Yale B: '{self.root}' is not a folder. qagen never downloads data: "
                "extract CroppedYale (yaleBxx/yaleBxx_P00A+aaaE+ee.pgm) there"
            )
        if fit not in ("crop", "stretch"):
            raise InputError(f"fit must be 'crop' or 'stretch', got {fit!r}")
        files = []
        for p in list_images(self.root, extensions=(".pgm",)):
            parsed = parse_yaleb_name(p.name)
            if parsed is not None:
                files.append((p, parsed))
        if not files:
            raise FileNotFoundError(
                f"no Extended Yale B images (yaleBxx/yaleBxx_P00A+aaaE+ee.pgm) under '{self.root}'"
            )
        subjects = sorted({f[1].subject for f in files})
        index = {s: i for i, s in enumerate(subjects)}
        labels = np.array(
            [(index[n.subject], n.azimuth, n.elevation) for _, n in files], dtype=np.int64
        )
        keep = identity_split(labels[:, 0], split, seed, test_fraction)
        self.files = [files[i][0] for i in keep]
        self.labels = labels[keep]
        self.subjects = subjects
        self.split, self.resolution, self.fit = split, int(resolution), fit
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)

    def __len__(self) -> int:
        return len(self.files)

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``3 x R x R`` uint8."""
        from qagen.data.folder import _decode

        img = _decode(self.files[index])
        if self.fit == "crop":
            side = min(img.shape[-2:])
            img = center_crop(img, side)
        return resize_uint8(img, self.resolution)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))
