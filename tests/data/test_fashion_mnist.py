"""Fashion-MNIST from IDX files (qagen.data.fashion_mnist): the IDX reader and its errors, the
``fashion-mnist[:ROOT][?classes=...]`` source on small IDX files written here, and one check of
Debian's package ``dataset-fashion-mnist`` when it is installed."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import qagen.data.fashion_mnist as fm
from qagen.data import build_dataset
from qagen.errors import InputError

TRAIN_LABELS = [0, 5, 7, 8, 9]
TEST_LABELS = [9, 1, 5]


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    """``array`` (uint8) as an IDX file: 0, 0, 0x08, NDIM, the sizes (big-endian uint32), data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = bytes([0, 0, 0x08, array.ndim])
    head += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = head + array.tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    if gz:
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)
    return path


def fixture_images(n: int, offset: int) -> np.ndarray:
    """``n`` 28 x 28 uint8 images with known, distinct pixel values (every value 0-255 occurs)."""
    k = np.arange(n)[:, None, None] + offset
    pix = np.arange(28 * 28).reshape(1, 28, 28)
    return ((pix * (2 * k + 1) + 17 * k) % 256).astype(np.uint8)


def write_fashion(root: Path, *, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """5 train and 3 test images with :data:`TRAIN_LABELS` / :data:`TEST_LABELS` under ``root``;
    returns the train and test images."""
    root.mkdir(parents=True, exist_ok=True)
    train, test = fixture_images(5, 0), fixture_images(3, 5)
    write_idx(root / "train-images-idx3-ubyte", train, gz=gz)
    write_idx(root / "train-labels-idx1-ubyte", np.array(TRAIN_LABELS), gz=gz)
    write_idx(root / "t10k-images-idx3-ubyte", test, gz=gz)
    write_idx(root / "t10k-labels-idx1-ubyte", np.array(TEST_LABELS), gz=gz)
    return train, test


# ------------------------------------------------------------------ read_idx


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips(tmp_path, gz):
    images, labels = fixture_images(4, 0), np.array([3, 1, 4, 1], np.uint8)
    p_img = write_idx(tmp_path / "images", images, gz=gz)
    p_lab = write_idx(tmp_path / "labels", labels, gz=gz)
    assert p_img.name.endswith(".gz") == gz
    out = fm.read_idx(p_img)
    assert out.dtype == np.uint8 and out.shape == (4, 28, 28)
    np.testing.assert_array_equal(out, images)
    np.testing.assert_array_equal(fm.read_idx(str(p_lab)), labels)


def _raises_naming(path: Path, match: str):
    return pytest.raises(InputError, match=re.escape(str(path)) + ".*" + match)


def test_read_idx_refuses_truncated_foreign_and_non_byte_files(tmp_path):
    good = write_idx(tmp_path / "good", fixture_images(2, 0)).read_bytes()
    short = tmp_path / "truncated"
    short.write_bytes(good[:-1])
    with _raises_naming(short, "truncated or corrupt"):
        fm.read_idx(short)
    head_only = tmp_path / "header"
    head_only.write_bytes(good[:9])  # 3 dimensions announced, 1.25 sizes present
    with _raises_naming(head_only, "truncated IDX header"):
        fm.read_idx(head_only)
    magic = tmp_path / "magic"
    magic.write_bytes(b"\x1f\x8b" + good[2:])
    with _raises_naming(magic, "not an IDX file"):
        fm.read_idx(magic)
    floats = tmp_path / "floats"
    floats.write_bytes(good[:2] + b"\x0d" + good[3:])
    with _raises_naming(floats, "data type 0x0d"):
        fm.read_idx(floats)
    bad_gz = tmp_path / "broken.gz"
    bad_gz.write_bytes(b"not gzip at all")
    with _raises_naming(bad_gz, "cannot read"):
        fm.read_idx(bad_gz)


# ------------------------------------------------------------------ the data source


@pytest.mark.parametrize("gz", [False, True])
def test_counts_pixels_and_labels_per_split(tmp_path, gz):
    root = tmp_path / ("gz" if gz else "plain")
    train, test = write_fashion(root, gz=gz)
    expected = {
        "train": (train, TRAIN_LABELS),
        "test": (test, TEST_LABELS),
        "all": (np.concatenate([train, test]), TRAIN_LABELS + TEST_LABELS),
    }
    for split, (images, labels) in expected.items():
        ds = build_dataset(f"fashion-mnist:{root}", 28, split, value_range=(0, 1))
        assert len(ds) == len(labels)
        assert ds.labels.tolist() == labels and ds.labels.dtype == np.int64
        for i in range(len(ds)):
            x = ds[i]
            assert x.dtype == torch.float32 and x.shape == (3, 28, 28)
            assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])  # R == G == B
            want = torch.from_numpy(images[i].astype(np.float32)) / 255.0  # k / 255
            torch.testing.assert_close(x[0], want, rtol=0, atol=1e-6)
    # the default value range is (-1, 1)
    x = build_dataset(f"fashion-mnist:{root}", 28, "train")[2]
    torch.testing.assert_close(x[0], torch.from_numpy(train[2] / 127.5 - 1).float())


def test_32_px_pads_two_pixels_of_background(tmp_path):
    root = tmp_path / "fm"
    train, _ = write_fashion(root)
    ds = build_dataset(f"fashion-mnist:{root}", 32, "train", value_range=(0, 1))
    for i in range(len(ds)):
        x = ds[i]
        assert x.shape == (3, 32, 32)
        assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
        border = torch.ones(32, 32, dtype=torch.bool)
        border[2:30, 2:30] = False
        assert (x[:, border] == 0).all()  # 2 px of background (black) on every side
        want = torch.from_numpy(train[i].astype(np.float32)) / 255.0
        torch.testing.assert_close(x[0, 2:30, 2:30], want, rtol=0, atol=1e-6)
    assert ds.describe()["padding"] == fm.PADDING and ds.describe()["n"] == 5
    # other sizes: padded to 32, then resized
    assert build_dataset(f"fashion-mnist:{root}", 64, "test")[0].shape == (3, 64, 64)


def test_classes_by_index_and_by_name(tmp_path):
    root = tmp_path / "fm"
    train, test = write_fashion(root)
    ds = build_dataset(f"fashion-mnist:{root}?classes=7,9", 28, "train", value_range=(0, 1))
    assert ds.labels.tolist() == [7, 9] and ds.classes == (7, 9)
    torch.testing.assert_close(ds[1][0], torch.from_numpy(train[4] / 255.0).float())
    by_name = build_dataset(f"fashion-mnist:{root}?classes=sneaker, ANKLE BOOT", 28, "train")
    assert by_name.labels.tolist() == [7, 9]
    mixed = build_dataset(f"fashion-mnist:{root}?classes=t-shirt/top,5", 28, "all")
    assert mixed.labels.tolist() == [0, 5, 5]
    assert len(build_dataset(f"fashion-mnist:{root}?classes=Trouser", 28, "train")) == 0
    with pytest.raises(InputError, match=r"class 'Hat' is not 0-9 or one of: T-shirt/top"):
        build_dataset(f"fashion-mnist:{root}?classes=7,Hat", 28, "train")
    with pytest.raises(InputError, match="class '10'"):
        build_dataset(f"fashion-mnist:{root}?classes=10", 28, "train")
    with pytest.raises(InputError, match=r"one option, \?classes=.*'clases=7'"):
        build_dataset(f"fashion-mnist:{root}?clases=7", 28, "train")


def test_package_folder_and_options_without_root(tmp_path, monkeypatch):
    root = tmp_path / "pkg"
    write_fashion(root)
    monkeypatch.setattr(fm, "PACKAGE_ROOT", root)
    assert len(build_dataset("fashion-mnist", 32, "test")) == 3
    assert build_dataset("fashion-mnist?classes=Bag", 32, "train").labels.tolist() == [8]


def test_missing_files_bad_split_and_bad_resolution(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError) as err:
        build_dataset(f"fashion-mnist:{missing}", 32, "train")
    msg = str(err.value)
    assert "\n" not in msg and str(missing) in msg and "train-images-idx3-ubyte" in msg
    assert "dataset-fashion-mnist" in msg and "fashion-mnist:ROOT" in msg
    monkeypatch.setattr(fm, "PACKAGE_ROOT", missing)
    with pytest.raises(
        InputError, match=r"Debian's package .*apt-get install dataset-fashion-mnist.*:ROOT"
    ):
        build_dataset("fashion-mnist", 32, "train")
    partial = tmp_path / "partial"
    write_fashion(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match=r"lacks t10k-labels-idx1-ubyte \("):
        build_dataset(f"fashion-mnist:{partial}", 32, "train")
    root = tmp_path / "fm"
    write_fashion(root)
    with pytest.raises(InputError, match=r"split must be one of train, test, all, got 'valid'"):
        build_dataset(f"fashion-mnist:{root}", 32, "valid")
    with pytest.raises(InputError, match="resolution must be an int >= 8"):
        build_dataset(f"fashion-mnist:{root}", 4, "train")


def test_mismatched_images_and_labels_are_refused(tmp_path):
    root = tmp_path / "fm"
    write_fashion(root)
    write_idx(root / "train-labels-idx1-ubyte", np.array([0, 1, 2]), gz=True)  # 3 labels, 5 images
    with pytest.raises(InputError, match=r"train: 5 images .* and 3 labels"):
        build_dataset(f"fashion-mnist:{root}", 28, "train")
    write_idx(root / "t10k-labels-idx1-ubyte", np.array([0, 1, 12]), gz=True)
    with pytest.raises(InputError, match="label 12 is not in 0-9"):
        build_dataset(f"fashion-mnist:{root}", 28, "test")


# ------------------------------------------------------------------ the real files


@pytest.mark.skipif(
    not fm.PACKAGE_ROOT.is_dir(),
    reason=f"{fm.PACKAGE_ROOT} is missing: Debian's package {fm.PACKAGE} is not installed "
    f"(apt-get install {fm.PACKAGE})",
)
def test_debian_package_files():
    counts = {"train": (60_000, 6_000), "test": (10_000, 1_000)}
    for split, (n, per_class) in counts.items():
        images, labels = fm.load_fashion_mnist(None, split)
        assert images.shape == (n, 28, 28) and labels.shape == (n,)
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
    ds = build_dataset("fashion-mnist", 32, "all")
    assert len(ds) == 70_000 and ds[0].shape == (3, 32, 32)
    assert (ds[0][:, :2] == -1).all()  # the padding is background
