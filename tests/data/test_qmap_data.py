"""The quality-map dataset: content-disjoint split, x5 pristine copies with all-ones maps, the
SSIM target against scikit-image, the crop window shared by image and map, the on-disk cache
keyed by content, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from qagen.data.qmap import QMapDataOptions, QMapDataset, split_contents
from qagen.errors import InputError, UnknownNameError
from qagen.iqa import ssim


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    import skimage.data

    img = skimage.data.astronaut()
    rng = np.random.default_rng(seed)
    y, x = rng.integers(0, 512 - h), rng.integers(0, 512 - w)
    return np.ascontiguousarray(img[y : y + h, x : x + w])


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "pristine"
    d.mkdir()
    for i in range(4):
        Image.fromarray(_photo(80, 96, i)).save(d / f"p{i}.png")
    return d


def _opts(tmp_path, **kw) -> QMapDataOptions:
    base = {"types": ("wn", "jpeg"), "levels": (1, 5), "cache_dir": str(tmp_path / "cache"),
            "valid_fraction": 0.25}  # fmt: skip
    return QMapDataOptions(**{**base, **kw})


def test_split_items_and_pristine_copies(folder, tmp_path):
    opts = _opts(tmp_path)
    train = QMapDataset(f"folder:{folder}", "train", 64, options=opts)
    valid = QMapDataset(f"folder:{folder}", "valid", 64, options=opts)
    tnames = {c.name for c in train.contents}
    vnames = {c.name for c in valid.contents}
    assert len(vnames) == 1 and len(tnames) == 3 and not tnames & vnames  # content-disjoint
    assert tnames | vnames == {"p0", "p1", "p2", "p3"}
    assert len(train) == 3 * (2 * 2 + 5)  # 4 distortions + 5 pristine copies per content
    kinds = [it.kind for it in valid.items]
    assert kinds.count("pristine") == 5
    x, y, t, lv = valid[kinds.index("pristine")]
    assert t == 4 and lv == 0 and torch.equal(y, torch.ones(1, 64, 64))
    other = QMapDataset(f"folder:{folder}", "valid", 64, options=_opts(tmp_path, split_seed=1))
    assert {c.name for c in other.contents} != vnames  # the seed picks another content


def test_target_map_against_scikit_image(folder, tmp_path):
    ds = QMapDataset(f"folder:{folder}", "all", None, options=_opts(tmp_path))
    i = next(k for k, it in enumerate(ds.items) if it.kind == "wn" and it.level == 5)
    dist, ref, m = ds.full(i)
    grey = lambda a: a.astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    _, full = structural_similarity(grey(dist), grey(ref), data_range=255, gaussian_weights=True,
                                    sigma=1.5, use_sample_covariance=False, full=True)  # fmt: skip
    # skimage pads differently at the border: compare where the 11 x 11 window is inside
    assert np.abs(m[5:-5, 5:-5] - full[5:-5, 5:-5]).max() < 2e-3  # float16 storage
    x = torch.from_numpy(dist).permute(2, 0, 1)[None].double()
    yy = torch.from_numpy(ref).permute(2, 0, 1)[None].double()
    assert ds.meta(i)["ssim"] == pytest.approx(float(ssim(x, yy, data_range=255.0)), abs=1e-9)


def test_image_and_map_share_the_crop_window(folder, tmp_path):
    ds = QMapDataset(f"folder:{folder}", "train", 48, options=_opts(tmp_path))
    i = next(k for k, it in enumerate(ds.items) if it.kind == "jpeg")
    dist, _, m = ds.full(i)
    torch.manual_seed(5)
    top, left, h, w = ds.window(i)
    torch.manual_seed(5)
    x, y, *_ = ds[i]
    assert (h, w) == (48, 48)
    assert torch.equal(
        x, torch.from_numpy(dist[top : top + 48, left : left + 48]).permute(2, 0, 1) / 255.0
    )
    assert torch.equal(y[0], torch.from_numpy(m[top : top + 48, left : left + 48]))
    centre = QMapDataset(
        f"folder:{folder}", "train", 48, options=_opts(tmp_path), random_crop=False
    )
    assert centre.window(i) == ((80 - 48) // 2, (96 - 48) // 2, 48, 48)


def test_cache_is_reused_and_keyed_by_content(folder, tmp_path):
    opts = _opts(tmp_path)
    first = QMapDataset(f"folder:{folder}", "train", 64, options=opts)
    assert first.cache_stats["computed"] > 0
    again = QMapDataset(f"folder:{folder}", "train", 64, options=opts)
    assert again.cache_stats == {"found": len(again), "computed": 0}  # hit rate 100 %
    name = sorted(c.name for c in first.contents)[0]
    Image.fromarray(_photo(80, 96, 42)).save(folder / f"{name}.png")  # new content, same name
    changed = QMapDataset(f"folder:{folder}", "train", 64, options=opts)
    assert changed.cache_stats["computed"] == 2 * 2 + 1  # its distortions and pristine copy


def test_bad_input(folder, tmp_path):
    opts = _opts(tmp_path)
    with pytest.raises(InputError, match="smaller than the 128 x 128 crop.*p"):
        QMapDataset(f"folder:{folder}", "train", 128, options=opts)
    with pytest.raises(UnknownNameError, match="quality-map data source"):
        QMapDataset("cifar10:/x", "train", 64, options=opts)
    with pytest.raises(InputError, match="split must be"):
        QMapDataset(f"folder:{folder}", "test", 64, options=opts)
    with pytest.raises(InputError, match="Waterloo"):
        QMapDataset(f"waterloo:{folder}", "train", 64, options=opts)
    with pytest.raises(UnknownNameError, match="distortion type"):
        QMapDataOptions(types=("blur",)).validate()


def test_builtin_split_is_the_held_out_photos():
    from qagen.data.builtin import HELD_OUT_PHOTOS
    from qagen.data.qmap import _builtin_contents

    contents = _builtin_contents(0)
    opts = QMapDataOptions()
    valid = {c.name for c in split_contents(contents, "valid", "builtin", opts)}
    assert valid == set(HELD_OUT_PHOTOS) & {c.name for c in contents}
    seeded = QMapDataOptions(builtin_split="seeded")
    assert {c.name for c in split_contents(contents, "valid", "builtin", seeded)} != valid


def test_jp2k_rate_error_names_the_file_its_size_and_the_resize(tmp_path, monkeypatch, capsys):
    # issue 19, item C14: a 512 x 512 16-bit photo resized by pristine_side was blamed as a
    # small image ("distort images of at least 256 x 256"), glued to the progress bar's line
    import png

    from qagen.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        grey = rng.integers(0, 65535, (512, 512), dtype=np.uint16)
        png.from_array(grey, "L;16").save(str(folder / f"{name}.png"))
    monkeypatch.setenv("QAGEN_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["train", "qmap-unet", "--preset", "demo", "--data", f"folder:{folder}",
            "--out", str(tmp_path / "run"), "--max-steps", "1", "--set", 'hparams.data.types=["jp2k"]',
            "--set", "hparams.data.pristine_side=64", "--set", "data.resolution=32"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    line = next(t for t in err.split("\n") if "error:" in t)
    assert line.startswith("qagen train: error: ")  # on a line of its own, after the bar
    assert "(512 x 512 px, resized to 64 x 64 by hparams.data.pristine_side = 64)" in line
    assert ".png" in line and "at least 256" not in line
    assert "hparams.data.pristine_side=0 keeps their size" in line


def test_warns_when_every_pristine_image_is_upscaled_more_than_4x(tmp_path, caplog):
    # issue 19, item C15: two 1 x 1 PNGs resized to 256 px were accepted without a word
    import logging

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    for i in range(2):
        Image.fromarray(np.full((1, 1, 3), 40 * i, np.uint8)).save(tiny / f"t{i}.png")
    opts = _opts(tmp_path, types=("gblur",), levels=(1,), oversample=1, pristine_side=32)
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        ds = QMapDataset(f"folder:{tiny}", "train", 32, options=opts)
    assert len(ds) == 2
    msg = [r.getMessage() for r in caplog.records]
    assert len(msg) == 1 and f"folder:{tiny}" in msg[0] and "more than 4x to reach 32 px" in msg[0]
    assert "hparams.data.pristine_side" in msg[0]
    from qagen.data.transforms import warn_if_all_upscaled

    assert warn_if_all_upscaled([(80, 96), (1, 1)], 320, "x") is None  # 4x exactly: fine
    assert "at least 81 px" in warn_if_all_upscaled([(80, 96), (1, 1)], 321, "x")
    assert warn_if_all_upscaled([(80, 96)], 0, "x") is None  # pristine_side = 0: no resize
