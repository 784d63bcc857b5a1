"""The sr-* and autoencoder recipes through the trainer, ``qagen sr``, ``qagen study make``
and the run reports (tiny runs)."""

from __future__ import annotations

import json

import pytest
import torch

from qagen.cli import main
from qagen.errors import InputError
from qagen.io import read_image, write_image
from qagen.iqa.structural import ms_ssim
from qagen.train import restore_run, train_main

_TINY = ["train.batch_size=4", "train.progress=false", "train.log_every=1",
         "train.sample_every=2", "data.num_workers=0"]  # fmt: skip


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sr") / "run"
    rc = train_main("sr-msssim", "patches:builtin", preset="sr-msssim-demo", out=str(out),
                    max_steps=3, overrides=_TINY)  # fmt: skip
    assert rc == 0
    return out


def test_sr_run_logs_and_restores(sr_run):
    rows = (sr_run / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["step", "elapsed_s"] and "loss" in rows[0]
    assert "psnr_bicubic" in rows[0]
    restored = restore_run(sr_run)
    assert restored.run.recipe == "sr-msssim" and restored.step == 3
    rec = restored.recipe
    b, y = rec.prepare(torch.rand(2, 3, 48, 48) * 2 - 1)
    assert b.shape == y.shape == (2, 1, 48, 48)
    # the recipe's loss is 1 - MS-SSIM with 3 scales and clamped cs, and has a finite gradient
    pred = (y + 0.05 * torch.randn_like(y)).requires_grad_(True)
    loss = rec.loss(pred, y)
    ref = 1 - ms_ssim(pred.detach(), y, 1.0, scales=3, negative="clamp").mean()
    assert float(loss.detach()) == pytest.approx(float(ref), abs=1e-6)
    loss.backward()
    assert torch.isfinite(pred.grad).all()


def test_sr_config_errors(tmp_path):
    with pytest.raises(InputError, match="at least 41 px"):
        train_main("sr-msssim", "patches:builtin", out=str(tmp_path / "a"), max_steps=1,
                   overrides=["data.resolution=32"])  # fmt: skip
    with pytest.raises(InputError, match="multiple of hparams.scale"):
        train_main("sr-mse", "patches:builtin", out=str(tmp_path / "b"), max_steps=1,
                   overrides=["data.resolution=50"])  # fmt: skip
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_qagen_sr_command(sr_run, tmp_path, capsys):
    img = torch.rand(1, 3, 10, 13, dtype=torch.float64)
    write_image(img, tmp_path / "in.png", data_range=1.0)
    assert main(["sr", str(sr_run), str(tmp_path / "in.png"), "-o", str(tmp_path / "out")]) == 0
    out = read_image(tmp_path / "out.png")
    assert out.shape == (1, 3, 40, 52)
    assert "4x" in capsys.readouterr().out
    grey = torch.rand(1, 1, 8, 8, dtype=torch.float64)
    write_image(grey, tmp_path / "g.png", data_range=1.0)
    assert main(["sr", str(sr_run), str(tmp_path / "g.png"), "-o", str(tmp_path / "g2.png")]) == 0
    assert read_image(tmp_path / "g2.png").shape == (1, 1, 32, 32)
    assert main(["sr", str(tmp_path), str(tmp_path / "in.png"), "-o", str(tmp_path / "x.png")]) == 2


def test_sample_of_an_sr_run_says_how_many_it_wrote(sr_run, tmp_path, capsys):
    # issue 19, item A3: --n 100 printed "100 samples" and wrote 16 strips
    from PIL import Image

    out = tmp_path / "grid.png"
    assert main(["sample", str(sr_run), "--n", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "gives at most 16 samples" in err and "not 100" in err and not out.exists()
    assert main(["sample", str(sr_run), "--out", str(out)]) == 0  # default: what it gives
    text = capsys.readouterr().out
    assert "16 samples" in text and "gives at most 16" in text
    with Image.open(out) as im:  # 4 x 4 strips [bicubic | SRCNN | HR] of 48 px patches
        assert im.size == (4 * (3 * 48 + 2) + 2, 4 * (48 + 2) + 2)
    restored = restore_run(sr_run)  # the API: no silent cap either
    with pytest.raises(InputError, match="gives at most 16 samples"):
        restored.generate(100)
    assert restored.generate(100, allow_fewer=True).shape[0] == 16
    assert main(["sample", str(sr_run), "--n", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert ": 5 samples" in text and "at most" not in text


def test_eval_of_an_sr_run_is_psnr_ssim_on_y(sr_run, capsys):
    # issue 19, item A2: qagen eval scored the [bicubic | SRCNN | HR] strips as generated images
    # (SWD, NIQE) and --n-samples 1000 silently became 16
    from qagen.methods.msssim.data_sr import builtin_sr_test_set
    from qagen.methods.msssim.super_resolution import evaluate_sr

    assert main(["eval", str(sr_run), "--n-samples", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 of the 11 test images" in out and "SRCNN" in out and "Bicubic" in out
    data = json.loads((sr_run / "eval.json").read_text())
    assert set(data) == {"sr"} and data["sr"]["n"] == 2
    restored = restore_run(sr_run)
    direct = evaluate_sr(builtin_sr_test_set(4)[:2], {"SRCNN": restored.recipe.network()}, 4)
    assert data["sr"]["psnr"] == pytest.approx(direct.psnr, rel=1e-9)
    assert data["sr"]["ssim"] == pytest.approx(direct.ssim, rel=1e-9)
    assert data["sr"]["protocol"]["checkpoint_step"] == 3
    # generated-image metrics are refused with what to use instead; nothing is written
    assert main(["eval", str(sr_run), "--metrics", "swd,niqe"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(sr_run) in err and "PSNR and SSIM" in err
    assert set(json.loads((sr_run / "eval.json").read_text())) == {"sr"}
    assert main(["report", str(sr_run)]) == 0  # the report shows the record
    assert "qagen eval: step 3, raw weights, 2 images" in (sr_run / "report.html").read_text()


def test_qagen_sr_keeps_16_bits_and_alpha(sr_run, tmp_path, capsys):
    import numpy as np
    import png
    from PIL import Image

    from qagen.io import read_image_file
    from qagen.methods.msssim.data_sr import bicubic_upscale
    from qagen.methods.msssim.super_resolution import load_sr_network, sr_image_rgb

    net, _ = load_sr_network(sr_run)
    rng = np.random.default_rng(0)
    # 16-bit RGB and grey in: 16-bit out, equal to the API's result rounded to 16 bits
    rgb16 = rng.integers(0, 65536, (12, 10, 3), dtype=np.uint16)
    with open(tmp_path / "rgb16.png", "wb") as fh:
        png.Writer(10, 12, greyscale=False, bitdepth=16).write(fh, rgb16.reshape(12, 30))
    Image.fromarray(rng.integers(0, 65536, (12, 10), dtype=np.uint16)).save(tmp_path / "g16.png")
    for name in ("rgb16", "g16"):
        src = read_image_file(tmp_path / f"{name}.png")
        assert main(["sr", str(sr_run), str(tmp_path / f"{name}.png"),
                     "-o", str(tmp_path / f"{name}_x4.png")]) == 0  # fmt: skip
        assert "16 bits kept" in capsys.readouterr().out
        got = read_image_file(tmp_path / f"{name}_x4.png")
        assert got.bits == 16 and got.values.shape[1] == src.values.shape[1]
        want = torch.round(sr_image_rgb(net, src.values / 65535, 4) * 65535)
        assert torch.equal(got.values, want)
        assert (got.values % 257 != 0).any()  # not 8-bit values scaled up
    # RGBA in: RGBA out; the colour is the SR of the colour alone, alpha bicubic
    rgba = rng.integers(0, 256, (12, 10, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert main(["sr", str(sr_run), str(tmp_path / "rgba.png"), "-o",
                 str(tmp_path / "rgba_x4.png")]) == 0  # fmt: skip
    assert "alpha kept" in capsys.readouterr().out
    got = read_image_file(tmp_path / "rgba_x4.png")
    assert got.bits == 8 and got.alpha is not None and got.values.shape == (1, 3, 48, 40)
    colour = torch.from_numpy(rgba[..., :3].astype(np.float64)).permute(2, 0, 1)[None] / 255
    alpha = torch.from_numpy(rgba[..., 3].astype(np.float64))[None, None] / 255
    assert torch.equal(got.values, torch.round(sr_image_rgb(net, colour, 4) * 255))
    assert torch.equal(got.alpha, torch.round(bicubic_upscale(alpha, 4).clamp(0, 1) * 255))
    # a format that cannot hold them is refused before the run is loaded
    assert main(["sr", str(tmp_path / "no_run"), str(tmp_path / "rgba.png"), "-o",
                 str(tmp_path / "rgba_x4.tif")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "rgba.png has alpha, which the output keeps: write it as .png" in err


def test_sr_report_section(sr_run):
    assert main(["report", str(sr_run)]) == 0
    html = (sr_run / "report.html").read_text()
    assert "Super-resolution" in html and "Bicubic" in html


@pytest.fixture(scope="module")
def ae_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ae")
    runs = []
    for loss in ("mse", "msssim"):
        out = root / loss
        rc = train_main("autoencoder", "illumination", preset="autoencoder-demo", out=str(out),
                        max_steps=2, overrides=[*_TINY, "hparams.channels=4",
                                                f"hparams.loss={loss}"])  # fmt: skip
        assert rc == 0
        runs.append(out)
    return runs


def test_autoencoder_loss_and_report(ae_runs):
    restored = restore_run(ae_runs[1])
    assert restored.recipe.scales == 3  # 48 px: 3 scales fit the 11 px window
    assert main(["report", str(ae_runs[0])]) == 0
    assert "Reconstructions" in (ae_runs[0] / "report.html").read_text()


def test_eval_of_an_autoencoder_run_is_its_reconstruction_quality(ae_runs, capsys):
    # issue 19, item A2: half of every "generated" [original | reconstruction] strip was the
    # real input, so SWD looked near-perfect
    from qagen.methods.msssim.reconstruction import held_out_images

    run = ae_runs[0]
    assert main(["eval", str(run), "--n-samples", "20", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "20 of the" in out and "[test]" in out and "MS-SSIM" in out
    rec = json.loads((run / "eval.json").read_text())["reconstruction"]
    restored = restore_run(run)
    x, split = held_out_images(restored.run.data, 20, seed=0)
    with torch.no_grad():
        y = restored.recipe.network().eval()(x.float()).clamp(0, 1).double()
    psnr = (-10 * torch.log10(((y - x.double()) ** 2).mean(dim=(1, 2, 3)))).mean()
    assert rec["n"] == 20 and rec["protocol"]["split"] == split == "test"
    assert rec["psnr"] == pytest.approx(float(psnr), rel=1e-6)
    assert rec["ms_ssim"] == pytest.approx(float(ms_ssim(y, x.double(), 1.0, scales=3).mean()),
                                           rel=1e-6)  # fmt: skip
    # more than the split holds: all of it, and said so (never a silent cap)
    assert main(["eval", str(run), "--n-samples", "100000", "--no-progress"]) == 0
    assert "--n-samples 100000 asks for more" in capsys.readouterr().out
    assert main(["eval", str(run), "--metrics", "fid"]) == 2
    assert "reconstruction PSNR and MS-SSIM" in capsys.readouterr().err


def test_study_make_and_score_commands(ae_runs, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", "make", *map(str, ae_runs), "--images", "3", "--out", str(out)]) == 0
    study = json.loads((out / "study.json").read_text())
    assert [m["name"] for m in study["models"]] == ["MSE", "MS-SSIM"]
    assert study["split"] == "test" and study["n_trials"] == 3
    assert (out / "index.html").is_file()
    answers = {"format": "qagen-study-answers/1", "study_id": study["study_id"], "participant": "x",
               "trials": [{"trial": t["trial"], "order": t["order"], "ranking": ["ms-ssim", "mse"]}
                          for t in study["trials"]]}  # fmt: skip
    (tmp_path / "a.json").write_text(json.dumps(answers))
    capsys.readouterr()
    assert main(["study", "score", str(out), str(tmp_path / "a.json")]) == 0
    text = capsys.readouterr().out
    assert "MS-SSIM" in text and "same order" in text
    assert (out / "rank_histogram.png").is_file()
    assert main(["study", "make", str(ae_runs[0]), "--out", str(tmp_path / "s2")]) == 2


def test_valid_padding_trains_on_the_central_region(tmp_path):
    out = tmp_path / "valid"
    rc = train_main("sr-mse", "patches:builtin", preset="sr-mse-demo", out=str(out), max_steps=2,
                    overrides=[*_TINY, "hparams.padding=valid", "hparams.init=default"])  # fmt: skip
    assert rc == 0
    rec = restore_run(out).recipe
    b, y = rec.prepare(torch.rand(2, 3, 48, 48) * 2 - 1)
    assert rec.net(b).shape == rec.target_region(y).shape == (2, 1, 32, 32)
    assert rec.network().upscale(b).shape == (2, 1, 48, 48)
