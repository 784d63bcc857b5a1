"""``build_dataset(spec, resolution, split)``: one entry point for every dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from qagen.data.builtin import BuiltinPhotoDataset
from qagen.data.folder import ImageFolderDataset
from qagen.data.illumination import IlluminationDataset
from qagen.data.paired import (
    PAIRED_SPECS,
    BuiltinPairedDataset,
    CelebAAttributeDataset,
    FairFaceDataset,
    PairedFolderDataset,
    build_paired_dataset,
)
from qagen.data.sr import PatchDataset
from qagen.data.standard import CelebABEGANDataset, CelebADataset, CIFAR10Dataset, STL10Dataset
from qagen.data.yaleb import YaleBDataset
from qagen.errors import InputError, UnknownNameError

__all__ = ["build_dataset", "DATASETS"]

#: spec name -> dataset class (``builtin`` takes no root)
DATASETS: dict[str, type[Dataset]] = {
    "builtin": BuiltinPhotoDataset,
    "cifar10": CIFAR10Dataset,
    "stl10": STL10Dataset,
    "celeba": CelebADataset,
    "celeba-began": CelebABEGANDataset,
    "folder": ImageFolderDataset,
    # paired / labelled data for image-to-image training (qagen.data.paired)
    "paired": PairedFolderDataset,
    "celeba-attr": CelebAAttributeDataset,
    "fairface": FairFaceDataset,
    "builtin-edges": BuiltinPairedDataset,
    "builtin-restore": BuiltinPairedDataset,
    "patches": PatchDataset,
    "yaleb": YaleBDataset,
    "illumination": IlluminationDataset,
}

#: datasets that take no root (``builtin``, ``illumination``): called as ``cls(resolution, split)``
_NO_ROOT = ("builtin", "illumination")


def _folder_for_split(path: Path, split: str) -> Path:
    if (path / split).is_dir():
        return path / split
    if split in ("train", "all"):
        return path
    raise InputError(
        f"folder dataset: split {split!r} needs a subfolder '{path / split}'; without it only "
        "split='train' or 'all' (the whole folder) is available"
    )


def build_dataset(spec: str, resolution: int, split: str = "train", **kwargs: Any) -> Dataset:
    """Build a dataset from a spec string.

    ``spec`` is ``'builtin'``, ``'cifar10:ROOT'``, ``'stl10:ROOT'``, ``'celeba:ROOT'``,
    ``'celeba-began:ROOT'`` (CelebA cropped as the BEGAN code), ``'folder:PATH'``,
    ``'patches:builtin'`` / ``'patches:PATH'`` (native-resolution random patches for
    super-resolution, :class:`qagen.data.sr.PatchDataset`), ``'yaleb:ROOT'`` (Extended Yale B
    cropped faces) or ``'illumination'`` (the built-in synthetic illumination set), or one of the
    paired specs of :mod:`qagen.data.paired` (``'paired:PATH'``, ``'celeba-attr:ROOT'``,
    ``'fairface:ROOT'``, ``'builtin-edges'``, ``'builtin-restore'``) (``~`` and environment
    variables are expanded). ``split`` is passed on
    (builtin: train/test/all; cifar10: train/test/all; stl10: train/test/unlabeled/train+unlabeled/
    all; celeba: train/valid/test/all; folder: ``PATH/<split>`` if that subfolder exists, else the
    whole folder for train/all). Keyword arguments go to the dataset class (``value_range``,
    ``flip``, ``dequantize``, ``seed``, ...). Every dataset returns float32 ``3 x R x R`` tensors.
    """
    if not isinstance(spec, str) or not spec:
        raise InputError(
            f"spec must be a non-empty string such as 'builtin' or 'cifar10:ROOT', got {spec!r}"
        )
    name, sep, root = spec.partition(":")
    name = name.strip().lower()
    if name not in DATASETS:
        raise UnknownNameError("data source", name, DATASETS)
    if name in PAIRED_SPECS:
        return build_paired_dataset(name, root, resolution, split, **kwargs)
    if name in _NO_ROOT:
        if root:
            raise InputError(f"the {name} dataset takes no path, got spec {spec!r}")
        return DATASETS[name](resolution, split, **kwargs)
    if not root:
        raise InputError(f"dataset {name!r} needs a path: '{name}:ROOT', got spec {spec!r}")
    path = Path(os.path.expandvars(root)).expanduser()
    if name == "folder":
        return ImageFolderDataset(_folder_for_split(path, split), resolution, **kwargs)
    return DATASETS[name](path, split, resolution, **kwargs)
