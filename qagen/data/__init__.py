"""Datasets of the core: the built-in natural-photo crops, CIFAR-10 / STL-10 / CelebA from a
local root, image folders, the IQA databases (:mod:`qagen.data.databases`), the distortion
generator and the quality-map data. Every image dataset returns float32 ``3 x R x R`` tensors in
``value_range`` (``(-1, 1)`` by default) and never downloads anything. ``build_dataset(spec)``
builds any source of :data:`qagen.registry.DATA_SOURCES` (the methods add theirs: paired data in
``qagen.methods.qmf.data``, SR patches and Yale B in ``qagen.methods.msssim``). See
``docs/gan.md``.

The names below are imported on first use (``import qagen.data.databases`` loads no torch).
"""

from __future__ import annotations

from qagen._lazy import lazy_exports

_EXPORTS = {
    "build": ("build_dataset", "dataset_is_grey"),
    "builtin": ("BUILTIN_PHOTOS", "HELD_OUT_PHOTOS", "BuiltinPhotoDataset",
                "builtin_photo_names"),
    "folder": ("IMAGE_EXTENSIONS", "ImageFolderDataset", "list_images"),
    "standard": ("CelebADataset", "CIFAR10Dataset", "DatasetNotFoundError",
                 "STL10Dataset"),
    "transforms": ("ImagePostprocess",),
}  # fmt: skip
_WHERE = {name: f"qagen.data.{module}" for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
