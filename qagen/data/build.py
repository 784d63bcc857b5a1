"""``build_dataset(spec, resolution, split)``: one entry point for every dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from qagen.errors import InputError
from qagen.registry import DATA_SOURCES

__all__ = ["build_dataset", "dataset_is_grey"]


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

    ``spec`` is ``NAME`` or ``NAME:ROOT`` with a name of :data:`qagen.registry.DATA_SOURCES`:
    ``'builtin'``, ``'cifar10:ROOT'``, ``'stl10:ROOT'``, ``'celeba:ROOT'``,
    ``'celeba-began:ROOT'`` (CelebA cropped as the BEGAN code), ``'folder:PATH'``,
    ``'patches:builtin'`` / ``'patches:PATH'`` (native-resolution random patches for
    super-resolution, :class:`qagen.methods.msssim.data_sr.PatchDataset`), ``'yaleb:ROOT'`` (Extended Yale B
    cropped faces) or ``'illumination'`` (the built-in synthetic illumination set), or one of the
    paired specs of Quality Map Fusion, :mod:`qagen.methods.qmf.data` (``'paired:PATH'``, ``'celeba-attr:ROOT'``,
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
    name, _, root = spec.partition(":")
    if "?" in name:  # options without a root: 'fashion-mnist?classes=7,9'
        name, _, query = spec.partition("?")
        root = "?" + query
    name = name.strip().lower()
    entry = DATA_SOURCES.entry(name)  # UnknownNameError listing the sources
    build = DATA_SOURCES.get(name)
    mode = entry.meta.get("root", "required")
    if mode == "raw":  # the source parses its own root (paired data: 'paired:PATH?direction=..')
        return build(name, root, resolution, split, **kwargs)
    if mode == "none":
        if root:
            raise InputError(f"the {name} dataset takes no path, got spec {spec!r}")
        return build(resolution, split, **kwargs)
    if not root:
        raise InputError(f"dataset {name!r} needs a path: '{name}:ROOT', got spec {spec!r}")
    path = Path(os.path.expandvars(root)).expanduser()
    if mode == "folder":
        return build(_folder_for_split(path, split), resolution, **kwargs)
    return build(path, split, resolution, **kwargs)


def dataset_is_grey(dataset: Any) -> bool:
    """Whether every image of ``dataset`` (the target, for paired data) is grey on three equal
    channels: the dataset's ``grey`` attribute (Fashion-MNIST and ``fashion-edges`` set it),
    looked up through wrappers that keep the wrapped set as ``.dataset`` (``torch.utils.data
    .Subset``) or build it lazily (``grey`` forwarded). A dataset that does not say is taken as
    colour (``False``)."""
    seen = 0
    while dataset is not None and seen < 16:
        flag = getattr(dataset, "grey", None)
        if flag is not None:
            return bool(flag)
        dataset, seen = getattr(dataset, "dataset", None), seen + 1
    return False
