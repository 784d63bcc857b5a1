"""The extended built-in set (Debian's opencv-doc photographs): which photographs load, the
content-disjoint splits with the stereo / sequence pairs kept together, and the behaviour without
the package. A fake package folder written here stands in for the package (never skips); one test
reads the real package where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qagen.cli import main
from qagen.data.builtin import (
    CLASSIC_PHOTOS,
    HELD_OUT_PHOTOS,
    OPENCV_DATA_DIR,
    OPENCV_PHOTOS,
    PHOTO_PAIRS,
    BuiltinPhotoDataset,
    builtin_photo_names,
    load_builtin_photo,
    photo_content,
)
from qagen.data.qmap import QMapDataOptions, _builtin_contents, split_contents
from qagen.errors import InputError

#: left out of the fake folder: a single and one photo of a pair (the other stays alone)
ABSENT = ("messi5", "aloeR")


def _pixels(k: int) -> np.ndarray:
    return np.random.default_rng(k).integers(0, 256, (40, 56, 3), dtype=np.uint8)


@pytest.fixture
def fake_opencv(tmp_path, monkeypatch):
    """A folder holding the extended set's files but ABSENT (PNG data under the package's own
    file names; Pillow reads the content, whatever the extension)."""
    folder = tmp_path / "opencv-data"
    folder.mkdir()
    for k, (name, fname) in enumerate(OPENCV_PHOTOS.items()):
        if name not in ABSENT:
            Image.fromarray(_pixels(k)).save(folder / fname, format="PNG")
    (folder / "pic1.png").write_bytes(b"not used")  # the synthetic pictures are never read
    monkeypatch.setenv("QAGEN_OPENCV_DATA", str(folder))
    monkeypatch.setenv("QAGEN_BUILTIN_PHOTOS", "auto")
    return folder


def test_which_photographs_load(fake_opencv, monkeypatch, capsys):
    present = [n for n in OPENCV_PHOTOS if n not in ABSENT]
    assert builtin_photo_names() == [*CLASSIC_PHOTOS, *present]
    k = list(OPENCV_PHOTOS).index("graf3")
    assert np.array_equal(load_builtin_photo("graf3").permute(1, 2, 0).numpy(), _pixels(k))
    assert main(["photos"]) == 0
    out = capsys.readouterr().out
    assert (
        "built-in photographs: 28 (24 contents; 11 packaged" in out and "+ 17 of opencv-doc" in out
    )
    assert "graf1  " in out and "messi5" not in out
    monkeypatch.setenv("QAGEN_BUILTIN_PHOTOS", "classic")
    assert builtin_photo_names() == list(CLASSIC_PHOTOS)
    monkeypatch.setenv("QAGEN_BUILTIN_PHOTOS", "all")
    with pytest.raises(InputError, match="QAGEN_BUILTIN_PHOTOS must be 'auto' or 'classic'"):
        builtin_photo_names()


def test_splits_are_content_disjoint_and_keep_pairs_together(fake_opencv):
    pairs = {photo_content(n) for n in builtin_photo_names()} & set(PHOTO_PAIRS)
    assert pairs == set(PHOTO_PAIRS)  # aloe is there with one photo
    held = set(HELD_OUT_PHOTOS)
    for holdout in ("photo", "region"):
        train = BuiltinPhotoDataset(8, "train", holdout=holdout, length=200)
        test = BuiltinPhotoDataset(8, "test", holdout=holdout, length=200)
        paired = {split: {n for n in ds.photos if n in sum(PHOTO_PAIRS.values(), ())}
                  for split, ds in (("train", train), ("test", test))}  # fmt: skip
        # a pair lies whole on one side, the held-out side when it is held out
        assert paired["test"] == {"graf1", "graf3"}
        assert paired["train"] == {"aero1", "aero3", "aloeL", "leuvenA", "leuvenB",
                                   "rubberwhale1", "rubberwhale2"}  # fmt: skip
        if holdout == "photo":  # whole contents: nothing in common
            assert set(test.photos) == held and not set(train.photos) & held
        else:  # singles are cut by region (both sides), a pair's photo is used whole
            assert set(train.photos) & set(test.photos) == (
                set(builtin_photo_names()) - set(sum(PHOTO_PAIRS.values(), ()))
            )
            i = next(i for i in range(200) if test.crop_box(i)[0] == "graf1")
            assert test._regions[test.photos.index("graf1")] == (0, 0, 40, 56)
            assert test.crop_box(i)[3] <= 32  # zoom up to 4 x 8 px, anywhere in the photo
        seen = {ds.crop_box(i)[0] for ds in (train, test) for i in range(200)}
        assert seen <= set(train.photos) | set(test.photos)


def test_quality_map_splits_keep_pairs_together(fake_opencv):
    contents = _builtin_contents(0)
    names = [c.name for c in contents]
    assert names == builtin_photo_names()
    valid = {c.name for c in split_contents(contents, "valid", "builtin", QMapDataOptions())}
    assert valid == set(HELD_OUT_PHOTOS) - set(ABSENT)
    graf_valid = []
    for seed in range(6):
        opts = QMapDataOptions(builtin_split="seeded", split_seed=seed)
        v = {c.name for c in split_contents(contents, "valid", "builtin", opts)}
        t = {c.name for c in split_contents(contents, "train", "builtin", opts)}
        assert not v & t and v | t == set(names)
        # 24 contents, 20 % of them (5) held out, a pair counting once
        assert len({photo_content(n) for n in v}) == 5
        for photos in PHOTO_PAIRS.values():
            present = [p for p in photos if p in names]
            assert {p in v for p in present} in ({True}, {False}), photos
        graf_valid.append("graf1" in v)
    assert True in graf_valid and False in graf_valid  # the seed moves the pair as a whole


def test_without_the_package_nothing_changes(tmp_path, monkeypatch):
    """An empty folder (no package) gives the 11 photos and the very crops of 'classic'."""
    monkeypatch.setenv("QAGEN_BUILTIN_PHOTOS", "classic")
    before = [BuiltinPhotoDataset(16, s, holdout=h, length=40, seed=2)
              for s in ("train", "test") for h in ("region", "photo")]  # fmt: skip
    monkeypatch.setenv("QAGEN_BUILTIN_PHOTOS", "auto")
    monkeypatch.setenv("QAGEN_OPENCV_DATA", str(tmp_path))
    assert builtin_photo_names() == list(CLASSIC_PHOTOS)
    after = [BuiltinPhotoDataset(16, s, holdout=h, length=40, seed=2)
             for s in ("train", "test") for h in ("region", "photo")]  # fmt: skip
    for a, b in zip(before, after, strict=True):
        assert a.photos == b.photos
        assert [a.crop_box(i) for i in range(40)] == [b.crop_box(i) for i in range(40)]
    assert before[3].photos == ["chelsea", "flower", "grace_hopper"]  # test, holdout photo


def test_the_real_package(monkeypatch):
    if not (OPENCV_DATA_DIR / "baboon.jpg").is_file():
        pytest.skip(f"Debian's opencv-doc is not installed ({OPENCV_DATA_DIR} has no baboon.jpg)")
    monkeypatch.delenv("QAGEN_OPENCV_DATA", raising=False)
    monkeypatch.setenv("QAGEN_BUILTIN_PHOTOS", "auto")
    names = builtin_photo_names()
    assert names == [*CLASSIC_PHOTOS, *OPENCV_PHOTOS] and len(names) == 30
    sizes = {"baboon": (512, 512), "butterfly": (356, 493), "aloeL": (1110, 1282),
             "graf1": (640, 800), "rubberwhale2": (388, 584), "smarties": (356, 413)}  # fmt: skip
    for name in OPENCV_PHOTOS:
        img = load_builtin_photo(name)
        assert img is not None and img.shape[0] == 3, name
        if name in sizes:
            assert tuple(img.shape[1:]) == sizes[name], name
        # natural colour photographs: the channels differ (pic1-6 and grey images would not)
        spread = (img.max(0).values.float() - img.min(0).values.float()).mean()
        assert spread > 8, (name, float(spread))
