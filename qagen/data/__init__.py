"""Datasets: the built-in natural-photo crops, CIFAR-10 / STL-10 / CelebA from a local root,
image folders, and paired/labelled data for image-to-image training (:mod:`qagen.data.paired`,
items :class:`PairedItem`). Every dataset returns float32 ``3 x R x R`` tensors in
``value_range`` (``(-1, 1)`` by default) and never downloads anything. See ``docs/gan.md``.
"""

from qagen.data.build import DATASETS, build_dataset
from qagen.data.builtin import BUILTIN_PHOTOS, HELD_OUT_PHOTOS, BuiltinPhotoDataset
from qagen.data.folder import IMAGE_EXTENSIONS, ImageFolderDataset, list_images
from qagen.data.paired import (
    BuiltinPairedDataset,
    CelebAAttributeDataset,
    FairFaceDataset,
    PairedFolderDataset,
    PairedItem,
)
from qagen.data.standard import (
    CelebABEGANDataset,
    CelebADataset,
    CIFAR10Dataset,
    DatasetNotFoundError,
    STL10Dataset,
)
from qagen.data.transforms import ImagePostprocess

__all__ = [
    "BUILTIN_PHOTOS",
    "DATASETS",
    "HELD_OUT_PHOTOS",
    "IMAGE_EXTENSIONS",
    "BuiltinPairedDataset",
    "BuiltinPhotoDataset",
    "CIFAR10Dataset",
    "CelebABEGANDataset",
    "CelebAAttributeDataset",
    "CelebADataset",
    "DatasetNotFoundError",
    "FairFaceDataset",
    "ImageFolderDataset",
    "ImagePostprocess",
    "PairedFolderDataset",
    "PairedItem",
    "STL10Dataset",
    "build_dataset",
    "list_images",
]
