"""BEGAN's view of CelebA (data spec ``celeba-began:ROOT``)."""

from __future__ import annotations

from pathlib import Path

from qagen.data.standard import CelebADataset

__all__ = ["CelebABEGANDataset"]


class CelebABEGANDataset(CelebADataset):
    """CelebA cropped and resized as the BEGAN reference code (``carpedm20/BEGAN-tensorflow``
    ``data_loader.py``, kept by the BEGAN-IQA authors' ``Tensorflow-ConnectorGraph``): the
    128 x 128 box at row 50, column 25 of the 178 x 218 aligned images (the face, less
    background than the centre 178 square), then nearest-neighbour resizing to the resolution
    (TF1 ``resize_nearest_neighbor``: source pixel ``floor(i * 128 / R)``, as torch's
    ``nearest``); at 128 px the crop is used as it is. Data spec ``celeba-began:ROOT``."""

    def __init__(self, root: str | Path, split: str = "train", resolution: int = 64, **kwargs):
        kwargs.setdefault("crop_box", (50, 25, 128, 128))
        kwargs.setdefault("interpolation", "nearest")
        super().__init__(root, split, resolution, **kwargs)
