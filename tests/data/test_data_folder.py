"""Image-folder reader: recursion, extensions, unreadable files (skipped with one warning naming
them; an error only when no readable image is left)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.data import ImageFolderDataset, build_dataset, list_images
from qagen.errors import InputError, UnknownNameError


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(tmp_path / "a" / "g.PNG")
    Image.fromarray(rng.integers(0, 256, (50, 36, 3), dtype=np.uint8)).save(
        tmp_path / "a" / "b" / "y.bmp"
    )
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg at all")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / ".hidden" / "h.png")
    return tmp_path


def test_recursive_listing(folder):
    names = [p.relative_to(folder).as_posix() for p in list_images(folder)]
    assert names == ["a/b/y.bmp", "a/broken.jpg", "a/g.PNG", "x.png"]
    assert [p.name for p in list_images(folder, recursive=False)] == ["x.png"]


def test_corrupt_file_is_skipped_with_one_warning_naming_it(folder, caplog):
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        ds = ImageFolderDataset(folder, 32)
        for _ in range(3):  # three "epochs"
            xs = [ds[i] for i in range(len(ds))]
    assert len(ds) == 3 and ds.num_skipped == 1
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "broken.jpg" in warnings[0] and "skipped 1" in warnings[0]
    assert all(x.shape == (3, 32, 32) and x.dtype == torch.float32 for x in xs)
    assert all(x.min() >= -1 and x.max() <= 1 for x in xs)
    grey = ds[[p.name for p in ds.files].index("g.PNG")]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])  # grey -> RGB


def test_lazy_decode_failure_warns_once_per_dataset_not_per_epoch(folder, caplog):
    # A file that passes the up-front check but fails to decode (here: no check at all) is named
    # once when first met and replaced by the next readable image from then on.
    ds = ImageFolderDataset(folder, 32, check_files=False)
    k = [p.name for p in ds.files].index("broken.jpg")
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        for _ in range(4):  # four epochs over the whole folder
            xs = [ds[i] for i in range(len(ds))]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "broken.jpg" in warnings[0], warnings
    assert xs[k].shape == (3, 32, 32) and ds.num_skipped == 1
    assert torch.equal(xs[k], ds[k + 1])


def test_error_only_when_no_readable_image_is_left(tmp_path, caplog):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(InputError, match=r"no readable image .*all 2 image file\(s\).*a\.png"):
        ImageFolderDataset(tmp_path, 16)
    lazy = ImageFolderDataset(tmp_path, 16, check_files=False)
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        with pytest.raises(InputError, match="failed to decode"):
            lazy[0]
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "c.png")
    assert len(ImageFolderDataset(tmp_path, 16)) == 1  # one readable image is enough


def test_resize_shorter_side_then_center_crop(folder):
    # x.png is 32 x 48: at resolution 32 no resampling happens, the centre crop is columns 8..40.
    ds = ImageFolderDataset(folder, 32)
    k = [p.name for p in ds.files].index("x.png")
    with Image.open(folder / "x.png") as im:
        ref = torch.from_numpy(np.asarray(im).transpose(2, 0, 1).copy())
    assert torch.equal(ds.raw(k), ref[:, :, 8:40])
    # resolution=None keeps the decoded size
    assert ImageFolderDataset(folder, None).raw(k).shape == (3, 32, 48)


def test_folder_spec_and_errors(folder, tmp_path_factory):
    assert len(build_dataset(f"folder:{folder}", 16)) == 3
    (folder / "test").mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(folder / "test" / "t.png")
    assert len(build_dataset(f"folder:{folder}", 16, "test")) == 1  # PATH/<split> used
    with pytest.raises(ValueError, match="subfolder"):
        build_dataset(f"folder:{folder}", 16, "valid")
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match="no image files"):
        ImageFolderDataset(empty, 16)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(empty / "nope", 16)
    with pytest.raises(UnknownNameError, match=r"unknown data source 'cifar' \(did you mean"):
        build_dataset("cifar:/data", 32)


def test_sixteen_bit_files_keep_their_range(tmp_path):
    """A 16-bit grey PNG: Pillow's convert() clips at 255; the folder maps v -> round(v/257)."""
    import numpy as np
    from PIL import Image

    from qagen.data.folder import ImageFolderDataset

    a = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    ds = ImageFolderDataset(tmp_path, resolution=None)
    raw = ds.raw(0)
    want = np.round(a / 257.0).astype(np.uint8)
    assert raw.dtype == torch.uint8 and raw.shape == (3, 16, 16)
    assert np.array_equal(raw[0].numpy(), want) and np.array_equal(raw[2].numpy(), want)
    assert int(raw.max()) == 255 and (raw[0].numpy() < 255).mean() > 0.9  # not clipped


def test_warns_when_every_image_is_upscaled_more_than_4x(tmp_path, caplog):
    # issue 19, item C15: one 1 x 1 PNG trained at 32 px was accepted without a word
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    Image.fromarray(np.full((1, 1, 3), 7, np.uint8)).save(tiny / "a.png")
    Image.fromarray(np.full((7, 9, 3), 7, np.uint8)).save(tiny / "b.png")
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        ds = ImageFolderDataset(tiny, resolution=32)
    assert ds[0].shape == (3, 32, 32)  # still usable: a warning, not an error
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert f"'{tiny}'" in warnings[0] and "more than 4x to reach 32 px" in warnings[0]
    assert "largest shorter side is 7 px" in warnings[0] and "at least 8 px" in warnings[0]
    # one image at 4x or less: no warning
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(tiny / "c.png")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        ImageFolderDataset(tiny, resolution=32)
    assert caplog.records == []
