"""Built-in photo dataset: determinism, value range, exact crops, disjoint held-out split."""

from __future__ import annotations

import pytest
import torch

from qagen.data import HELD_OUT_PHOTOS, BuiltinPhotoDataset, build_dataset
from qagen.data.builtin import builtin_photo_names, load_builtin_photo


def test_deterministic_given_seed():
    a = BuiltinPhotoDataset(32, length=8, seed=3)
    b = BuiltinPhotoDataset(32, length=8, seed=3)
    c = BuiltinPhotoDataset(32, length=8, seed=4)
    xa = torch.stack([a[i] for i in range(8)])
    assert torch.equal(xa, torch.stack([b[i] for i in range(8)]))
    # reading out of order gives the same items (item = f(seed, split, index))
    assert torch.equal(a[5], xa[5])
    assert not torch.equal(xa, torch.stack([c[i] for i in range(8)]))


def test_value_range_and_exact_scaling():
    ds = BuiltinPhotoDataset(32, length=4)
    ds01 = BuiltinPhotoDataset(32, length=4, value_range=(0.0, 1.0))
    for i in range(4):
        raw = ds.raw(i).float()
        x, x01 = ds[i], ds01[i]
        assert x.dtype == torch.float32 and x.shape == (3, 32, 32)
        assert x.min() >= -1 and x.max() <= 1 and x01.min() >= 0 and x01.max() <= 1
        # k / 255 on [0, 1]; 2 k / 255 - 1 on [-1, 1] (float32 rounding, 1e-6)
        assert torch.allclose(x01, raw / 255, atol=1e-6)
        assert torch.allclose(x, raw / 255 * 2 - 1, atol=1e-6)


def test_crop_is_an_exact_window_of_the_photo():
    # zoom (1, 1): the window side equals the resolution, so the item is the photo slice itself.
    ds = BuiltinPhotoDataset(48, length=6, zoom=(1.0, 1.0))
    for i in range(6):
        name, y, x, side = ds.crop_box(i)
        assert side == 48
        photo = load_builtin_photo(name)
        assert torch.equal(ds.raw(i), photo[:, y : y + 48, x : x + 48])
    # zoomed-out windows are resized to the requested size
    ds = BuiltinPhotoDataset(24, length=4, zoom=(2.0, 3.0))
    assert all(ds[i].shape == (3, 24, 24) for i in range(4))
    assert all(48 <= ds.crop_box(i)[3] <= 72 for i in range(4))


def test_region_holdout_is_disjoint():
    # Train crops must lie in the first 75 % of each photo's longer side, test crops in the rest.
    train = BuiltinPhotoDataset(32, "train", length=300)
    test = BuiltinPhotoDataset(32, "test", length=300)
    assert train.photos == test.photos
    extent: dict[str, dict[str, list[int]]] = {}
    for split, ds in (("train", train), ("test", test)):
        for i in range(len(ds)):
            name, y, x, side = ds.crop_box(i)
            h, w = load_builtin_photo(name).shape[-2:]
            lo, hi = (x, x + side) if w >= h else (y, y + side)
            e = extent.setdefault(name, {}).setdefault(split, [10**9, -1])
            e[0], e[1] = min(e[0], lo), max(e[1], hi)
    for name, e in extent.items():
        if "train" in e and "test" in e:
            assert e["train"][1] <= e["test"][0], name  # last train pixel < first test pixel


def test_split_all_covers_both_regions():
    # 'all' crops from whole photos: along the longer side some crops end inside the test
    # region and some start inside the train region, which neither split alone can do.
    train = BuiltinPhotoDataset(32, "train", length=1)
    both = BuiltinPhotoDataset(32, "all", length=400)
    assert len(BuiltinPhotoDataset(32, "all")) == 11_000
    assert set(both.photos) == set(train.photos)
    reach_test = reach_train = False
    for i in range(len(both)):
        name, y, x, side = both.crop_box(i)
        h, w = load_builtin_photo(name).shape[-2:]
        lo, hi, long = (x, x + side, w) if w >= h else (y, y + side, h)
        cut = long - round(long * 0.25)
        reach_test |= hi > cut
        reach_train |= lo < cut
    assert reach_test and reach_train
    photo_all = BuiltinPhotoDataset(32, "all", holdout="photo", length=1)
    assert set(HELD_OUT_PHOTOS) & set(builtin_photo_names()) <= set(photo_all.photos)


def test_photo_holdout():
    train = BuiltinPhotoDataset(32, "train", holdout="photo", length=10)
    test = BuiltinPhotoDataset(32, "test", holdout="photo", length=10)
    assert set(test.photos) <= set(HELD_OUT_PHOTOS)
    assert not set(train.photos) & set(test.photos)
    assert {train.crop_box(i)[0] for i in range(10)} <= set(train.photos)


def test_augmentations():
    torch.manual_seed(0)
    ds = BuiltinPhotoDataset(16, length=20, flip=True, dequantize=True, value_range=(0.0, 1.0))
    flipped = 0
    for i in range(20):
        raw = ds.raw(i).float()
        x = ds[i]
        # dequantised value lies in [k/256, (k+1)/256) of the raw or the mirrored raw
        ok = [((x >= r / 256) & (x < (r + 1) / 256)).all() for r in (raw, raw.flip(-1))]
        assert ok[0] or ok[1]
        flipped += bool(ok[1] and not ok[0])
    assert 0 < flipped < 20  # p = 1/2 flips; P(fail) = 2 * 2^-20


def test_defaults_and_errors():
    assert len(BuiltinPhotoDataset(32)) == 10_000 and len(BuiltinPhotoDataset(32, "test")) == 1_000
    assert isinstance(build_dataset("builtin", 32, "test"), BuiltinPhotoDataset)
    with pytest.raises(ValueError, match="split"):
        BuiltinPhotoDataset(32, "valid")
    with pytest.raises(ValueError, match="value_range"):
        BuiltinPhotoDataset(32, value_range=(1, -1))
    with pytest.raises(IndexError):
        BuiltinPhotoDataset(32, length=3)[3]
