"""CIFAR-10 / STL-10 / CelebA readers on tiny fake files written in the official formats."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.data import (
    CelebADataset,
    CIFAR10Dataset,
    DatasetNotFoundError,
    STL10Dataset,
    build_dataset,
)


def _cifar_rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _cifar_image(row: np.ndarray) -> torch.Tensor:
    """Expected C x H x W image from the format description: value (c, y, x) = row[1024 c + 32 y + x]."""
    c, y, x = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return torch.from_numpy(row[1024 * c + 32 * y + x])


@pytest.fixture
def cifar_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rows = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        n = 3 if name == "test_batch" else 2
        rows[name] = _cifar_rows(n, i)
        # Python-2 era files have str keys read back via latin1; use bytes keys for two of them
        key = b"data" if i % 3 == 0 else "data"
        entry = {key: rows[name], "labels": [0] * n, "batch_label": "fake"}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return tmp_path, rows


def test_cifar10_reads_exact_pixels(cifar_root):
    root, rows = cifar_root
    train = CIFAR10Dataset(root, "train", value_range=(0.0, 1.0))
    test = CIFAR10Dataset(root, "test")
    every = CIFAR10Dataset(root / "cifar-10-batches-py", "all")  # inner folder as root
    assert (len(train), len(test), len(every)) == (10, 3, 13)
    assert torch.equal(train.raw(0), _cifar_image(rows["data_batch_1"][0]))
    assert torch.equal(train.raw(9), _cifar_image(rows["data_batch_5"][1]))
    assert torch.equal(every.raw(12), _cifar_image(rows["test_batch"][2]))
    # value mapping k / 255 (exact to float32 rounding)
    assert torch.allclose(train[3], _cifar_image(rows["data_batch_2"][1]).float() / 255, atol=1e-6)
    x = test[1]
    assert x.shape == (3, 32, 32) and x.min() >= -1 and x.max() <= 1
    # resizing to another resolution
    assert CIFAR10Dataset(root, "test", resolution=16)[0].shape == (3, 16, 16)


def test_cifar10_refuses_arbitrary_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": Evil()}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        CIFAR10Dataset(tmp_path, "test")


def test_cifar10_checksum_option(cifar_root):
    root, _ = cifar_root
    with pytest.raises(ValueError, match="MD5"):
        CIFAR10Dataset(root, "test", verify=True)


def test_missing_datasets_say_what_to_place_where(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        CIFAR10Dataset(tmp_path, "train")
    msg = str(e.value)
    assert "cifar-10-python.tar.gz" in msg and "never downloads" in msg
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in msg
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_5") in msg
    with pytest.raises(DatasetNotFoundError) as e:
        STL10Dataset(tmp_path, "unlabeled")
    assert "stl10_binary.tar.gz" in str(e.value)
    assert str(tmp_path / "stl10_binary" / "unlabeled_X.bin") in str(e.value)
    with pytest.raises(DatasetNotFoundError) as e:
        CelebADataset(tmp_path, "train")
    assert str(tmp_path / "celeba" / "img_align_celeba" / "000001.jpg") in str(e.value)
    assert "list_eval_partition.txt" in str(e.value)
    # through build_dataset too; FileNotFoundError is the base class
    with pytest.raises(FileNotFoundError, match="CIFAR-10"):
        build_dataset(f"cifar10:{tmp_path}", 32)


def _stl_bytes(img: np.ndarray) -> bytes:
    """STL-10 layout from its README: planes R, G, B, each 96 x 96 in column-major order, i.e.
    byte c * 9216 + x * 96 + y holds pixel (c, y, x)."""
    buf = np.empty(3 * 96 * 96, np.uint8)
    c, y, x = np.meshgrid(np.arange(3), np.arange(96), np.arange(96), indexing="ij")
    buf[c * 9216 + x * 96 + y] = img
    return buf.tobytes()


@pytest.fixture
def stl_root(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    imgs = {}
    for name, n in (("train_X.bin", 2), ("test_X.bin", 1), ("unlabeled_X.bin", 3)):
        imgs[name] = rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)
        (folder / name).write_bytes(b"".join(_stl_bytes(im) for im in imgs[name]))
    return tmp_path, imgs


def test_stl10_reads_exact_pixels_and_orientation(stl_root):
    root, imgs = stl_root
    ds = STL10Dataset(root, "train+unlabeled", resolution=96)
    assert len(ds) == 5
    assert torch.equal(ds.raw(0), torch.from_numpy(imgs["train_X.bin"][0]))
    assert torch.equal(ds.raw(4), torch.from_numpy(imgs["unlabeled_X.bin"][2]))
    assert len(STL10Dataset(root, "all")) == 6 and len(STL10Dataset(root, "test")) == 1
    # default 48 px: antialiased downscale; shape and range
    x = STL10Dataset(root, "unlabeled")[1]
    assert x.shape == (3, 48, 48) and x.min() >= -1 and x.max() <= 1


def test_stl10_downscale_of_constant_and_ramp(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    const = np.full((3, 96, 96), 77, np.uint8)
    ramp = np.broadcast_to((np.arange(96) * 2).astype(np.uint8)[None, :, None], (3, 96, 96))
    (folder / "test_X.bin").write_bytes(_stl_bytes(const) + _stl_bytes(np.ascontiguousarray(ramp)))
    ds = STL10Dataset(tmp_path, "test", resolution=48)
    assert torch.equal(ds.raw(0), torch.full((3, 48, 48), 77, dtype=torch.uint8))
    # a vertical ramp 2y stays a ramp after halving: rows increase, columns constant
    r = ds.raw(1).int()
    assert (r[:, :, :1] == r).all() and (r[:, 1:-1, 0].diff(dim=1) > 0).all()


def test_stl10_truncated_file(tmp_path):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    (folder / "test_X.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(ValueError, match="multiple of 3 x 96 x 96"):
        STL10Dataset(tmp_path, "test")


def test_celeba_splits_and_center_crop(tmp_path):
    img_dir = tmp_path / "celeba" / "img_align_celeba"
    img_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 5):
        arr = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        Image.fromarray(arr).save(img_dir / f"{i:06d}.jpg", quality=95)
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text(
        "000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n"
    )
    assert len(CelebADataset(tmp_path, "train")) == 2
    assert len(CelebADataset(tmp_path, "valid")) == 1
    assert len(CelebADataset(tmp_path, "all")) == 4
    assert CelebADataset(tmp_path, "test")[0].shape == (3, 64, 64)
    # no resize (resolution = crop = 178): rows (218 - 178) // 2 = 20 .. 198 of the decoded JPEG
    ds = CelebADataset(tmp_path, "train", resolution=178)
    with Image.open(img_dir / "000002.jpg") as im:
        dec = torch.from_numpy(np.asarray(im.convert("RGB")).transpose(2, 0, 1).copy())
    assert torch.equal(ds.raw(1), dec[:, 20:198, :])
    # QAGAN's 108-crop: rows 55..163, cols 35..143
    ds = CelebADataset(tmp_path, "all", resolution=108, crop_size=108)
    with Image.open(img_dir / "000001.jpg") as im:
        dec = torch.from_numpy(np.asarray(im.convert("RGB")).transpose(2, 0, 1).copy())
    assert torch.equal(ds.raw(0), dec[:, 55:163, 35:143])
    assert isinstance(build_dataset(f"celeba:{tmp_path}", 64, "all"), CelebADataset)


def test_build_dataset_specs(cifar_root, stl_root):
    root, _ = cifar_root
    assert len(build_dataset(f"cifar10:{root}", 32, "all")) == 13
    sroot, _ = stl_root
    assert build_dataset(f"stl10:{sroot}", 48, "unlabeled")[0].shape == (3, 48, 48)
    with pytest.raises(ValueError, match="unknown data source .imagenet.; available: builtin"):
        build_dataset("imagenet:/x", 32)
    with pytest.raises(ValueError, match="needs a path"):
        build_dataset("cifar10:", 32)
    with pytest.raises(ValueError, match="takes no path"):
        build_dataset("builtin:/x", 32)
    with pytest.raises(ValueError, match="split"):
        build_dataset(f"cifar10:{root}", 32, "valid")
