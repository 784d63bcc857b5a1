"""The `qagen` command: score, map, metrics, niqe, and the wiring of eval/report/bench-iqa."""

from __future__ import annotations

import json

import pytest
from conftest import MATLAB, shared_file

from qagen.cli import build_parser, main


def test_score_json_matches_matlab(capsys):
    ref = shared_file("tid2013_i01", "I01.bmp")
    dist = shared_file("tid2013_i01", "i01_01_5.bmp")
    assert main(["score", "gmsd", str(ref), str(dist), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "gmsd" and out["better"] == "lower"
    assert abs(out["value"] - MATLAB["tid"]["gmsd_y"]) < 1e-7  # REF DIST -> gmsd(x=DIST, y=REF)
    assert main(["score", "mdsi", str(ref), str(dist), "--json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["value"] - MATLAB["tid"]["mdsi_sum"]) < 1e-6


def test_score_niqe_and_errors(capsys):
    img = shared_file("tid2013_i01", "I01.bmp")
    assert main(["score", "niqe", str(img), "--json"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["value"] - MATLAB["tid"]["niqe_ref"]) < 1e-6
    with pytest.raises(SystemExit, match="full-reference"):
        main(["score", "ssim", str(img)])
    with pytest.raises(SystemExit, match="unknown metric"):
        main(["score", "nope", str(img), str(img)])


def test_map_writes_png(tmp_path, capsys):
    ref = shared_file("goldhill", "goldhill.gif")
    dist = shared_file("goldhill", "goldhill_jpeg.gif")
    out = tmp_path / "m.png"
    assert main(["map", "ssim", str(ref), str(dist), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="has no map"):
        main(["map", "psnr", str(ref), str(dist), "-o", str(out)])


def test_metrics_lists_registry(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    for name in ("ssim", "ms_ssim", "fsimc", "mdsi", "vif_p", "niqe"):
        assert name in out


def test_every_command_is_wired():
    p = build_parser()
    for argv in (["eval", "RUN"], ["report", "RUN"], ["bench-iqa", "tid2013", "ROOT", "--metrics", "ssim"],
                 ["train", "qagan-ssim", "--data", "builtin"], ["niqe-fit", "F", "-o", "m.npz"]):  # fmt: skip
        args = p.parse_args(argv)
        assert callable(args.func)
