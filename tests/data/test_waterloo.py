"""Pristine folders, the Waterloo Exploration layout (fixture tree), ``qagen distort`` and its
manifest: the round trip, the scores against direct metric calls, and bad input."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.cli import main
from qagen.data.distortions import distort_uint8
from qagen.data.waterloo import (
    MANIFEST_COLUMNS,
    distort_folder,
    list_pristine,
    load_uint8,
    read_manifest,
    read_waterloo,
)
from qagen.errors import InputError
from qagen.iqa import fsim, gmsd, psnr, ssim


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    import skimage.data

    img = skimage.data.astronaut()
    rng = np.random.default_rng(seed)
    y, x = rng.integers(0, 512 - h), rng.integers(0, 512 - w)
    return np.ascontiguousarray(img[y : y + h, x : x + w])


@pytest.fixture()
def pristine(tmp_path):
    d = tmp_path / "pristine"
    d.mkdir()
    Image.fromarray(_photo(256, 256, 0)).save(d / "a.png")
    Image.fromarray(_photo(256, 288, 1)).save(d / "b.bmp")
    return d


def test_list_pristine_skips_corrupt_files_with_a_warning(pristine, caplog):
    (pristine / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        files = list_pristine(pristine)
    assert [f.name for f in files] == ["a.png", "b.bmp"]
    assert "broken.png" in caplog.text


def test_list_pristine_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no image files"):
        list_pristine(empty)
    (empty / "x.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="no readable image.*x.png"):
        list_pristine(empty)
    with pytest.raises(FileNotFoundError):
        list_pristine(tmp_path / "missing")


def test_waterloo_layout(tmp_path):
    root = tmp_path / "exploration_database_and_code"
    (root / "pristine_images").mkdir(parents=True)
    for i in (1, 2):
        Image.fromarray(_photo(64, 80, i)).save(root / "pristine_images" / f"{i:05d}.bmp")
    for folder in ("gblur", "gnoise", "jpg"):
        (root / "distort_images" / folder).mkdir(parents=True)
        Image.fromarray(_photo(64, 80, 9)).save(
            root / "distort_images" / folder / f"{folder}_00002_3.bmp"
        )
    (root / "distort_images" / "gblur" / "notes.png").write_bytes(b"x")  # ignored: no match
    db = read_waterloo(root)
    assert [p.name for p in db.pristine] == ["00001.bmp", "00002.bmp"]
    got = sorted((d.kind, d.level, d.reference.name) for d in db.distorted)
    assert got == [("gblur", 3, "00002.bmp"), ("jpeg", 3, "00002.bmp"), ("wn", 3, "00002.bmp")]


def test_waterloo_wrong_layout_names_what_was_expected(tmp_path):
    (tmp_path / "refimgs").mkdir()
    with pytest.raises(InputError, match="pristine_images.*found: refimgs"):
        read_waterloo(tmp_path)


def test_distort_folder_manifest_round_trip(pristine, tmp_path):
    out = tmp_path / "dist"
    rows = distort_folder(pristine, out, types="wn,jp2k", levels="1,5", seed=10)
    assert len(rows) == 2 * 2 * 2
    with open(out / "manifest.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == MANIFEST_COLUMNS
    back = read_manifest(out)
    assert back == rows
    for r in back:
        assert r.distorted.is_file() and r.distorted.parent.name == r.type
        ref = load_uint8(r.reference)
        dist = load_uint8(r.distorted)
        again, _ = distort_uint8(ref, r.type, r.level, r.seed)
        assert np.array_equal(dist, again)  # the PNG holds exactly the generator's output
        x = torch.from_numpy(dist).permute(2, 0, 1)[None].double()
        y = torch.from_numpy(ref).permute(2, 0, 1)[None].double()
        assert r.psnr == pytest.approx(float(psnr(x, y, data_range=255.0)), rel=1e-12)
        assert r.ssim == pytest.approx(float(ssim(x, y, data_range=255.0)), rel=1e-12)
        assert r.gmsd == pytest.approx(float(gmsd(x, y, data_range=255.0)), rel=1e-12)
        assert r.fsim == pytest.approx(float(fsim(x, y, data_range=255.0)), rel=1e-12)
        assert np.isfinite(r.ms_ssim)  # 256 px >= 161
        assert np.isfinite(r.bpp) == (r.type == "jp2k")
    seeds = {(r.reference.name, r.type, r.level): r.seed for r in back}
    assert seeds[("b.bmp", "wn", 5)] == 10 + 100 * 1 + 5


def test_distort_command_and_nothing_half_written(pristine, tmp_path, capsys, monkeypatch):
    out = tmp_path / "cli"
    assert main(["distort", str(pristine), "--out", str(out), "--types", "gblur",
                 "--levels", "2", "--no-progress"]) == 0  # fmt: skip
    assert "wrote 2 distorted images of 2 pristine images" in capsys.readouterr().out
    assert main(["distort", str(pristine), "--out", str(out), "--no-progress"]) == 2
    assert "not empty" in capsys.readouterr().err
    # an error half-way (here the third image's file cannot be written): nothing is left
    import qagen.data.waterloo as waterloo

    calls = []

    def failing_save(arr, path):
        calls.append(path)
        if len(calls) == 3:
            raise InputError(f"cannot write {path}")
        return save(arr, path)

    save = waterloo._save_png
    monkeypatch.setattr(waterloo, "_save_png", failing_save)
    bad = tmp_path / "bad"
    assert main(["distort", str(pristine), "--out", str(bad), "--types", "wn", "--levels", "1-2",
                 "--no-progress"]) == 2  # fmt: skip
    assert "cannot write" in capsys.readouterr().err and len(calls) == 3
    assert not bad.exists() and not list(tmp_path.glob(".bad.partial-*"))
    assert main(["distort", str(pristine), "--out", str(bad), "--types", "blur"]) == 2
    assert "unknown distortion type 'blur'" in capsys.readouterr().err


def test_distort_skips_images_too_small_before_any_work(pristine, tmp_path, caplog, capsys):
    # a 1 x 1 image, a 40 x 5 strip (under the 11 px SSIM window) and a 48 x 48 photo on which
    # JPEG 2000 cannot reach 0.02 bpp: each is skipped with ONE warning naming them all
    Image.fromarray(_photo(1, 1, 3)).save(pristine / "c_dot.png")
    Image.fromarray(_photo(5, 40, 4)).save(pristine / "d_strip.png")
    Image.fromarray(_photo(48, 48, 5)).save(pristine / "e_small.png")
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        rows = distort_folder(pristine, tmp_path / "gb", types="gblur", levels="1")
    assert sorted({r.reference.name for r in rows}) == ["a.png", "b.bmp", "e_small.png"]
    [warning] = caplog.records
    assert "skipped 2 image(s) too small" in warning.getMessage()
    assert "c_dot.png (1 x 1 px; the scores need at least 11 x 11)" in warning.getMessage()
    assert "d_strip.png (40 x 5 px" in warning.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qagen.data"):
        rows = distort_folder(pristine, tmp_path / "j", types="jp2k", levels="5")
    assert sorted({r.reference.name for r in rows}) == ["a.png", "b.bmp"]
    [warning] = caplog.records
    assert "e_small.png (48 x 48 px; JPEG 2000 cannot reach the rate of level 5" in (
        warning.getMessage()
    )
    # nothing large enough: an error before any work, naming the files
    only = tmp_path / "only_small"
    only.mkdir()
    Image.fromarray(_photo(1, 1, 3)).save(only / "dot.png")
    out = tmp_path / "none"
    assert main(["distort", str(only), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no image in" in err and "dot.png (1 x 1 px" in err and err.count("\n") == 1
    assert not out.exists()
