"""BEGAN's CelebA crop (``celeba-began:ROOT``), against the BEGAN code's box and resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.data import build_dataset
from qagen.data.standard import CelebADataset
from qagen.methods.began.data import CelebABEGANDataset


def test_celeba_began_crop_is_the_began_codes(tmp_path):
    # celeba-began:ROOT: the 128 x 128 box at row 50, column 25, nearest-neighbour resize
    # (TF1 resize_nearest_neighbor takes source pixel floor(i * 128 / R))
    img_dir = tmp_path / "celeba" / "img_align_celeba"
    img_dir.mkdir(parents=True)
    arr = np.random.default_rng(1).integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
    Image.fromarray(arr).save(img_dir / "000001.jpg", quality=95)
    with Image.open(img_dir / "000001.jpg") as im:
        dec = torch.from_numpy(np.asarray(im.convert("RGB")).transpose(2, 0, 1).copy())
    ds = build_dataset(f"celeba-began:{tmp_path}", 64, "all")
    assert isinstance(ds, CelebABEGANDataset) and ds.crop_box == (50, 25, 128, 128)
    box = dec[:, 50:178, 25:153]
    assert torch.equal(ds.raw(0), box[:, ::2, ::2])
    assert torch.equal(build_dataset(f"celeba-began:{tmp_path}", 128, "all").raw(0), box)
    with pytest.raises(ValueError, match="crop_box"):
        CelebADataset(tmp_path, "all", crop_box=(0, 0, 0, 10))
