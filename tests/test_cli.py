"""The `qagen` command, every subcommand through ``main``: values, files, exit codes, messages."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MATLAB, shared_file
from PIL import Image

from qagen.cli import main

TID_REF = ("tid2013_i01", "I01.bmp")
TID_DIST = ("tid2013_i01", "i01_01_5.bmp")


def _strict_json(text: str) -> dict:
    """json.loads that rejects NaN/Infinity, as strict parsers (JavaScript, Go) do."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # one line, no traceback
    return err[0]


# ----------------------------------------------------------------------------- score
def test_score_json_matches_matlab(capsys):
    ref, dist = shared_file(*TID_REF), shared_file(*TID_DIST)
    assert main(["score", "gmsd", str(ref), str(dist), "--json"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["metric"] == "gmsd" and out["better"] == "lower" and out["data_range"] == 255
    assert abs(out["value"] - MATLAB["tid"]["gmsd_y"]) < 1e-7  # REF DIST -> gmsd(x=DIST, y=REF)
    assert main(["score", "mdsi", str(ref), str(dist), "--json"]) == 0
    assert abs(_strict_json(capsys.readouterr().out)["value"] - MATLAB["tid"]["mdsi_sum"]) < 1e-6
    # --downsample reaches ssim.m (2009), whose MATLAB value differs from ssim_index.m's
    assert main(["score", "ssim", str(ref), str(dist), "--json", "--downsample"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["options"] == {"downsample": True}


def test_score_reaches_the_metric_options(capsys):
    from qagen.io import read_image
    from qagen.iqa import ms_ssim

    ref, dist = shared_file(*TID_REF), shared_file(*TID_DIST)
    y, x = read_image(ref), read_image(dist)
    want = ms_ssim(x, y, data_range=255.0, scales=3, win_size=7).item()
    argv = ["score", "ms_ssim", str(ref), str(dist), "--json", "--scales", "3"]
    assert main([*argv, "--option", "win_size=7"]) == 0
    assert _strict_json(capsys.readouterr().out)["value"] == pytest.approx(want, abs=1e-12)
    # an option the metric does not have names the ones it has
    assert main(["score", "ssim", str(ref), str(dist), "--scales", "3"]) == 2
    line = _error_line(capsys)
    assert "ssim has no option 'scales'" in line and "win_size" in line
    assert main(["score", "psnr", str(ref), str(dist), "--model", str(ref)]) == 2
    assert "--model applies to niqe only" in _error_line(capsys)


def test_score_niqe_uses_the_models_block_size(tmp_path, capsys):
    from qagen.io import read_image
    from qagen.iqa.naturalness import NIQEModel, niqe

    img = shared_file(*TID_REF)
    assert main(["score", "niqe", str(img), "--json"]) == 0
    assert abs(_strict_json(capsys.readouterr().out)["value"] - MATLAB["tid"]["niqe_ref"]) < 1e-6
    official = NIQEModel.official()
    m32 = NIQEModel(official.mu, official.cov, official.variant, 32, 0, "test")
    path = tmp_path / "m32.npz"
    m32.save(path)
    want = niqe(read_image(img), data_range=255.0, model=m32, block_size=32).item()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no block-size mismatch warning
        assert main(["score", "niqe", str(img), "--model", str(path), "--json"]) == 0
    assert _strict_json(capsys.readouterr().out)["value"] == pytest.approx(want, rel=1e-12)
    assert want != pytest.approx(MATLAB["tid"]["niqe_ref"], rel=1e-3)  # block size matters
    # a file that is not a model: one line, no numpy advice about pickles
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    assert main(["score", "niqe", str(img), "--model", str(text)]) == 2
    line = _error_line(capsys)
    assert "not a NIQE model" in line and "pickle" not in line


def test_json_has_no_nan_or_infinity(capsys):
    ref = shared_file(*TID_REF)
    assert main(["score", "psnr", str(ref), str(ref), "--json"]) == 0  # identical: PSNR = inf
    out = _strict_json(capsys.readouterr().out)
    assert out["value"] is None and out["reason"] == "not finite: inf"


def test_scoring_errors_are_one_line(capsys, tmp_path):
    img = shared_file(*TID_REF)
    assert main(["score", "ssim", str(img)]) == 2
    assert "full-reference" in _error_line(capsys)
    assert main(["score", "nope", str(img), str(img)]) == 2
    line = _error_line(capsys)
    assert "unknown metric 'nope'" in line and "ssim" in line
    assert main(["score", "ssim", str(img), str(tmp_path / "missing.png")]) == 2
    assert "not found" in _error_line(capsys)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(small)
    assert main(["score", "ssim", str(img), str(small)]) == 2
    assert "same size" in _error_line(capsys)


def test_rgb_only_metrics_refuse_grey_files_as_the_api_does(capsys, tmp_path):
    from qagen.io import read_image
    from qagen.iqa import chroma_similarity, cqs, mdsi

    rng = np.random.default_rng(0)
    a, b = tmp_path / "grey_a.png", tmp_path / "grey_b.png"
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(a)
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(b)
    x, y = read_image(b), read_image(a)
    for metric, fn in (("chroma", chroma_similarity), ("cqs", cqs)):
        with pytest.raises(ValueError, match="must have 3 channels, got 1") as api:
            fn(x, y, data_range=255.0)
        for command in ("score", "map"):
            out = ["-o", str(tmp_path / "m.png")] if command == "map" else []
            assert main([command, metric, str(a), str(b), *out]) == 2
            assert _error_line(capsys) == f"qagen {command}: error: {api.value}"
    # metrics that take grey keep the API's value (MDSI replicates a grey image)
    assert main(["score", "mdsi", str(a), str(b), "--json"]) == 0
    got = _strict_json(capsys.readouterr().out)["value"]
    assert got == pytest.approx(mdsi(x, y, data_range=255.0).item(), rel=1e-12)


# ----------------------------------------------------------------------------- 16-bit files
def _write_png16_rgb(path: Path, arr: np.ndarray) -> None:
    import png

    h, w, _ = arr.shape
    png.Writer(w, h, greyscale=False, bitdepth=16).write(path.open("wb"), arr.reshape(h, w * 3))


def _pair_8_and_16(tmp_path: Path, colour: bool) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    shape = (48, 64, 3) if colour else (48, 64)
    ref16 = (rng.random(shape) * 65535).astype(np.uint16)
    noise = rng.normal(0, 3000, shape)
    dist16 = np.clip(ref16 + noise, 0, 65535).astype(np.uint16)
    files = {}
    for name, a16 in (("ref", ref16), ("dist", dist16)):
        a8 = np.round(a16 / 257.0).astype(np.uint8)  # the same content at 8 bits
        files[name + "8"] = tmp_path / f"{name}8.png"
        Image.fromarray(a8).save(files[name + "8"])
        files[name + "16"] = tmp_path / f"{name}16.png"
        if colour:
            _write_png16_rgb(files[name + "16"], a16)
        else:
            Image.fromarray(a16).save(files[name + "16"])
        files[name + "_array"] = a16
    return files


@pytest.mark.parametrize("colour", [False, True])
def test_16_bit_files_keep_their_range(tmp_path, capsys, colour):
    from qagen.io import read_image, read_image_file

    f = _pair_8_and_16(tmp_path, colour)
    img = read_image_file(f["ref16"])
    assert img.bits == 16 and img.white == 65535
    want = torch.from_numpy(f["ref_array"].astype(np.float64))
    want = want[None, None] if not colour else want.permute(2, 0, 1)[None]
    assert torch.equal(img.values, want)  # every stored bit, no 8-bit truncation
    assert torch.allclose(read_image(f["ref16"]), want * 255.0 / 65535.0, rtol=0, atol=1e-12)

    def score(metric: str, a: Path, b: Path) -> float:
        assert main(["score", metric, str(a), str(b), "--json"]) == 0
        return _strict_json(capsys.readouterr().out)["value"]

    for metric, tol in (("psnr", 0.05), ("ssim", 2e-3)):
        v8 = score(metric, f["ref8"], f["dist8"])
        v16 = score(metric, f["ref16"], f["dist16"])
        assert abs(v16 - v8) < tol, (metric, v8, v16)  # the issue: 37.62 dB vs 24.49 dB


def test_data_range_in_file_units(tmp_path, capsys):
    """A 12-bit image stored in a 16-bit PNG: --data-range 4095 says where white is."""
    from qagen.iqa import psnr

    rng = np.random.default_rng(1)
    a = (rng.random((32, 32)) * 4095).astype(np.uint16)
    b = np.clip(a + rng.integers(-40, 41, a.shape), 0, 4095).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    want = psnr(
        torch.from_numpy(b.astype(np.float64))[None, None],
        torch.from_numpy(a.astype(np.float64))[None, None],
        data_range=4095.0,
    ).item()
    argv = ["score", "psnr", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--json"]
    assert main([*argv, "--data-range", "4095"]) == 0
    out = _strict_json(capsys.readouterr().out)
    assert out["value"] == pytest.approx(want, abs=1e-9) and out["data_range"] == 4095
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    assert want == pytest.approx(10 * math.log10(4095**2 / mse), abs=1e-9)


def test_images_without_a_white_level_are_refused(tmp_path, capsys):
    path = tmp_path / "float.tif"
    Image.fromarray(np.full((16, 16), 0.5, np.float32)).save(path)
    assert main(["score", "psnr", str(path), str(path)]) == 2
    assert "no defined white level" in _error_line(capsys)


# ----------------------------------------------------------------------------- map
def test_map_writes_the_png_it_names(tmp_path, capsys):
    ref, dist = (
        shared_file("goldhill", "goldhill.gif"),
        shared_file("goldhill", "goldhill_jpeg.gif"),
    )
    assert main(["map", "gmsd", str(ref), str(dist), "-o", str(tmp_path / "m")]) == 0
    written = tmp_path / "m.png"
    assert capsys.readouterr().out.strip() == f"wrote {written}"
    with Image.open(written) as im:
        assert im.size[0] >= 512 and im.size[1] >= 512  # at least as large as the image
    assert main(["map", "psnr", str(ref), str(dist), "-o", str(written)]) == 2
    assert "has no map" in _error_line(capsys)
    assert main(["map", "foo", str(ref), str(dist), "-o", str(written)]) == 2
    assert "unknown metric 'foo'" in _error_line(capsys)


def test_map_titles_say_what_and_which_way(tmp_path):
    """The figure text of every map: score, direction, file names, what each map is."""
    import matplotlib.figure

    from qagen.io import read_image
    from qagen.viz import MAP_VIEWS, map_figure

    ref, dist = shared_file(*TID_REF), shared_file(*TID_DIST)
    x, y = read_image(dist)[..., :96, :96], read_image(ref)[..., :96, :96]
    texts: list[str] = []
    saved = matplotlib.figure.Figure.savefig

    def capture(fig, *args, **kwargs):
        texts.append(fig._suptitle.get_text())
        for ax in fig.axes:
            texts.extend([ax.get_title(), ax.get_ylabel()])
        return saved(fig, *args, **kwargs)

    matplotlib.figure.Figure.savefig = capture
    try:
        for name in MAP_VIEWS:
            texts.clear()
            opts = {"scales": 3} if name == "ms_ssim" else None  # 96 px < MS-SSIM's 161
            map_figure(name, x, y, 255.0, tmp_path / f"{name}.png", ref_name=str(ref),
                       dist_name=str(dist), options=opts)  # fmt: skip
            joined = "\n".join(texts)
            assert "I01.bmp" in joined and "i01_01_5.bmp" in joined
            assert "is better" in joined and f"{name} = " in joined
    finally:
        matplotlib.figure.Figure.savefig = saved
    # cqs shows both of its maps
    assert len(MAP_VIEWS["cqs"][1]) == 2


# ----------------------------------------------------------------------------- registry, errors
def test_metrics_lists_registry(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    for name in ("ssim", "ms_ssim", "fsimc", "mdsi", "vif_p", "niqe"):
        assert name in out


@pytest.mark.parametrize("argv", [["metrics"], ["train", "--list"]])
def test_help_and_listings_do_not_import_torch(argv):
    code = (
        "import sys; from qagen.cli import main; "
        "import contextlib, io\n"
        f"with contextlib.redirect_stdout(io.StringIO()) as out: main({argv!r})\n"
        "print('torch' in sys.modules, 'qmf' in out.getvalue())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"False {argv[0] == 'train'}"


def test_help_lists_come_from_the_parser_and_the_registries(capsys):
    import argparse

    from qagen.cli import build_parser
    from qagen.registry import DATA_SOURCES, RECIPES

    def help_text(argv):
        with pytest.raises(SystemExit):
            main(argv)
        return " ".join(capsys.readouterr().out.split()).replace("- ", "-")

    top = help_text(["--help"])
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    listed = top.split("The qagen command: ")[1].split(".")[0].split(", ")
    assert listed == list(sub.choices) and {"distort", "sr", "study"} <= set(listed)
    train = help_text(["train", "--help"])
    for name in RECIPES.available():
        assert f" {name}," in train or f" {name} (" in train, name
    for name in DATA_SOURCES.available():
        assert any(f" {name}{end}" in train for end in (":", "[", ",", ";")), name
    assert "patches:ROOT" in train and "paired[:...]" in train and "yaleb:ROOT" in train


def test_programming_errors_are_not_hidden(monkeypatch):
    import qagen.cli as cli

    def broken(args):
        raise TypeError("a bug, not bad input")

    monkeypatch.setattr(cli, "_cmd_metrics", broken)
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["metrics"])


# ----------------------------------------------------------------------------- niqe-fit
def test_niqe_fit_writes_a_model_that_score_uses(tmp_path, capsys):
    from skimage import data

    folder = tmp_path / "pristine"
    folder.mkdir()
    for i, img in enumerate((data.camera(), data.moon(), data.coins(), data.text())):
        Image.fromarray(img).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "model"
    assert main(["niqe-fit", str(folder), "-o", str(out), "--block-size", "32"]) == 0
    assert (tmp_path / "model.npz").is_file()
    assert "wrote" in capsys.readouterr().out
    img = folder / "0.png"
    assert main(["score", "niqe", str(img), "--model", str(tmp_path / "model.npz"), "--json"]) == 0
    assert math.isfinite(_strict_json(capsys.readouterr().out)["value"])


# ----------------------------------------------------------------------------- bench-iqa
def test_bench_iqa_through_main(tmp_path, capsys):
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).parent / "data"))
    from scipy import stats
    from test_databases import make_tid2013

    rows = make_tid2013(tmp_path / "db", refs=(1, 2), types=(1,))
    out = tmp_path / "out"
    argv = ["bench-iqa", "tid2013", str(tmp_path / "db"), "--metrics", "psnr", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    with open(out / "tid2013_correlations.csv") as fh:
        table = {(r["metric"], r["dist_type"]): r for r in csv.DictReader(fh)}
    with open(out / "tid2013_scores.csv") as fh:
        scores = list(csv.DictReader(fh))
    psnr = [float(r["psnr"]) for r in scores]
    mos = [m for *_, m in rows]
    want = stats.spearmanr(psnr, mos)[0]
    assert float(table[("psnr", "ALL")]["srocc"]) == pytest.approx(want, abs=1e-12)
    assert main([*argv[:3], "--metrics", "foo"]) == 2
    assert "unknown metric 'foo'" in _error_line(capsys)
    assert main(["bench-iqa", "tid2099", str(tmp_path / "db"), "--metrics", "psnr"]) == 2
    assert "tid2013" in _error_line(capsys)
