"""``qagen reproduce msssim-sr`` and ``msssim-ae`` end to end at a tiny size (budgets patched
to a few steps): the tables' rows and columns, the cells we fill and the nulls with reasons,
the figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from qagen.experiments import reproduce


@pytest.fixture
def tiny_sr(monkeypatch):
    from qagen.methods.msssim import experiment_sr as msssim_sr

    monkeypatch.setitem(msssim_sr._BUDGET, "smoke", {"max_steps": 2, "max_minutes": None,
                                                     "expected_s": 1.0, "builtin_side": 48})  # fmt: skip
    monkeypatch.setattr(msssim_sr, "_SMOKE", ("train.batch_size=4", "train.sample_every=0",
                        "train.progress=false", "train.log_every=1"))  # fmt: skip


def test_msssim_sr_table(tiny_sr, tmp_path):
    from qagen.color import rgb_to_y
    from qagen.methods.msssim.data_sr import bicubic_upscale, load_sr_test_set, make_lr

    rng = np.random.default_rng(0)
    (tmp_path / "Set5").mkdir()
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (42, 37, 3), dtype=np.uint8)).save(
            tmp_path / "Set5" / f"{name}.png"
        )
    table = reproduce("msssim-sr", "smoke", tmp_path / "out", progress=False,
                      eval_data={"set5": str(tmp_path / "Set5")})  # fmt: skip
    assert table["columns"] == ["Bicubic", "MSE", "MAE", "MS-SSIM"]
    rows = {r["label"]: r for r in table["rows"]}
    assert list(rows) == ["Set5 PSNR", "Set5 SSIM", "Set14 PSNR", "Set14 SSIM", "BSD200 PSNR",
                          "BSD200 SSIM", "builtin PSNR", "builtin SSIM"]  # fmt: skip
    assert rows["Set5 PSNR"]["paper"]["MS-SSIM"] == 30.35
    for label in ("Set5 PSNR", "Set5 SSIM", "builtin PSNR", "builtin SSIM"):
        assert all(isinstance(v, float) for v in rows[label]["ours"].values()), label
    assert all(v is None for v in rows["Set14 PSNR"]["ours"].values())
    assert "--eval-data set14=DIR" in rows["Set14 PSNR"]["note"]
    # the bicubic cell: PSNR of MATLAB-bicubic Y against the 8-bit Y, 4 px shaved, averaged
    vals = []
    for im in load_sr_test_set(tmp_path / "Set5", 4):
        y = rgb_to_y(im.hr[None].double() / 255, rounding=True)
        b = bicubic_upscale(make_lr(y, 4), 4).clamp(0, 1)
        b = np.floor(b.numpy() * 255 + 0.5)
        mse = np.mean((b[..., 4:-4, 4:-4] - y.numpy()[..., 4:-4, 4:-4] * 255) ** 2)
        vals.append(10 * np.log10(255**2 / mse))
        assert im.hr.shape[-2:] == (40, 36)
    assert rows["Set5 PSNR"]["ours"]["Bicubic"] == pytest.approx(np.mean(vals), abs=1e-9)
    out = tmp_path / "out"
    assert (out / "crops.png").read_bytes()[:4] == b"\x89PNG"
    assert "Crops" in (out / "report.html").read_text()
    per = json.loads((out / "sr_eval.json").read_text())
    assert len(per["Set5"]["per_image"]) == 2


def test_msssim_ae_table(monkeypatch, tmp_path):
    from qagen.methods.msssim import experiment_ae as msssim_ae

    monkeypatch.setitem(msssim_ae._BUDGET, "smoke", {"max_steps": 2, "max_minutes": None,
                                                     "expected_s": 1.0, "c_grid": (1.0,)})  # fmt: skip
    table = reproduce("msssim-ae", "smoke", tmp_path / "out", progress=False)
    rows = {r["label"]: r for r in table["rows"]}
    assert list(rows) == ["MSE", "MAE", "MS-SSIM"]
    assert rows["MS-SSIM"]["paper"] == {"identity_error": 3.53, "azimuth": 234.32,
                                        "elevation": 35.6, "class_error": None, "PSNR": None,
                                        "MS-SSIM": None}  # fmt: skip
    for r in rows.values():
        ours = r["ours"]
        assert 0.0 <= ours["identity_error"] <= 100.0
        assert ours["azimuth"] > 0 and ours["elevation"] > 0
        assert 0 < ours["MS-SSIM"] <= 1 and ours["PSNR"] > 0
    assert (tmp_path / "out" / "reconstructions.png").is_file()
    svm = json.loads((tmp_path / "out" / "svm_eval.json").read_text())
    assert svm["MSE"]["n_test"] == 24 * 102 // 2


def test_msssim_sr_eval_data_is_checked_before_any_run_trains(monkeypatch, tmp_path, capsys):
    from qagen.cli import main
    from qagen.errors import InputError, UnknownNameError
    from qagen.experiments import runner

    def no_training(*args, **kwargs):
        raise AssertionError("a run was trained before --eval-data was checked")

    monkeypatch.setattr(runner, "_train", no_training)
    images = tmp_path / "Set5"
    images.mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(images / "a.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="set5=/nonexistent: no such folder"):
        reproduce("msssim-sr", "smoke", out, progress=False, eval_data={"set5": "/nonexistent"})
    with pytest.raises(UnknownNameError, match="'foo'; available: bsd200, set14, set5"):
        reproduce("msssim-sr", "smoke", out, progress=False, eval_data={"foo": str(images)})
    with pytest.raises(InputError, match="bsd200=.*holds no image file"):
        reproduce("msssim-sr", "smoke", out, progress=False,
                  eval_data={"set5": str(images), "bsd200": str(empty)})  # fmt: skip
    # *_HR files of other scales only (SRF_2, SRF_3): no test image for 4x
    srf = tmp_path / "Set14"
    for k in (2, 3):
        (srf / f"image_SRF_{k}").mkdir(parents=True)
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(srf / f"image_SRF_{k}" / "a_HR.png")
    with pytest.raises(InputError, match="set14=.*no image files"):
        reproduce("msssim-sr", "smoke", out, progress=False, eval_data={"set14": str(srf)})
    assert not out.exists()  # nothing was written either
    # the command: one line, exit 2; a name given twice is refused
    assert main(["reproduce", "msssim-sr", "--out", str(out), "--no-progress",
                 "--eval-data", "set5=/nonexistent"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--eval-data set5=/nonexistent: no such folder" in err[0]
    assert main(["reproduce", "msssim-sr", "--out", str(out), "--eval-data", f"set5={images}",
                 "--eval-data", f"set5={images}"]) == 2  # fmt: skip
    assert "--eval-data set5 is given twice" in capsys.readouterr().err
