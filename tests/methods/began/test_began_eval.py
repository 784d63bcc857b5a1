"""BEGAN evaluation: Odena et al.'s diversity (against pytorch_msssim), ``qagen sample`` (grids
and linear interpolation in z, for BEGAN and the WGAN family), and the BEGAN report sections."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.cli import main
from qagen.errors import InputError
from qagen.eval.diversity import (
    diversity,
    diversity_record,
    ms_ssim_scales_for,
    pairwise_ms_ssim,
    random_pairs,
)
from qagen.eval.sampling import interpolate_latents, interpolation_images
from qagen.methods.began.report import grid_cell, smoothed_m_global
from qagen.train import restore_run, train_main

TINY = [
    "data.resolution=16", "channels=4", "z_dim=6", "h_dim=5", "train.batch_size=4",
    "train.progress=false", "train.tensorboard=false", "train.log_every=1",
    "train.sample_every=2", "train.n_samples=4", "train.checkpoint_every=2", "data.num_workers=0",
    "data.split=train", "beta_gmsm=1.0",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _single_thread():  # tiny models on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def began_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("began") / "run"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert train_main("began", data="builtin", out=str(out), max_steps=4, overrides=TINY) == 0
    finally:
        torch.set_num_threads(before)
    return out


# ------------------------------------------------------------------ diversity
def test_scales_and_pairs():
    assert [ms_ssim_scales_for(s) for s in (11, 20, 32, 64, 128, 161, 512)] == [1, 1, 2, 3, 4, 5, 5]
    with pytest.raises(InputError, match="smaller than"):
        ms_ssim_scales_for(10)
    p = random_pairs(5, 1000, seed=3)
    assert bool((p[:, 0] != p[:, 1]).all()) and int(p.max()) == 4 and int(p.min()) == 0
    assert torch.equal(p, random_pairs(5, 1000, seed=3))
    with pytest.raises(InputError, match="at least 2"):
        random_pairs(1, 3)


def test_pairwise_ms_ssim_matches_pytorch_msssim():
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 176, 176, generator=g, dtype=torch.float64)
    images = (base + 0.3 * torch.rand(4, 3, 176, 176, generator=g, dtype=torch.float64)) / 1.3
    pairs = torch.tensor([[0, 1], [2, 3], [1, 3]])
    ours = pairwise_ms_ssim(images, pairs)  # 176 px: 5 scales, the standard weights
    theirs = pytorch_msssim.ms_ssim(images[pairs[:, 0]].float(), images[pairs[:, 1]].float(),
                                    data_range=1.0, size_average=False)  # fmt: skip
    torch.testing.assert_close(ours.float(), theirs, rtol=0, atol=1e-4)


def test_diversity_sees_mode_collapse():
    g = torch.Generator().manual_seed(1)
    varied = torch.rand(16, 3, 32, 32, generator=g)
    one = torch.rand(1, 3, 32, 32, generator=g)
    collapsed = (one + 0.01 * torch.rand(16, 3, 32, 32, generator=g)).clamp(0, 1)
    same = one.expand(8, 3, 32, 32).clone()
    assert diversity(same, 20)["mean"] == pytest.approx(1.0, abs=1e-6)
    rec = diversity_record(collapsed, varied, n_pairs=50)
    assert rec["generated"]["mean"] > 0.95 > 0.3 > rec["real"]["mean"]
    assert rec["ratio"] == pytest.approx(rec["generated"]["mean"] / rec["real"]["mean"])
    assert rec["generated"]["scales"] == 2 and len(rec["generated"]["values"]) == 50
    json.dumps(rec, allow_nan=False)


# ------------------------------------------------------------------ qagen sample
def test_interpolate_latents_is_linear():
    za, zb = torch.tensor([[0.0, 1.0], [2.0, -2.0]]), torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    z = interpolate_latents(za, zb, 3)
    expected = torch.tensor([[0.0, 1.0], [0.5, 2.0], [1.0, 3.0], [2.0, -2.0], [1.0, -1.0],
                             [0.0, 0.0]])  # fmt: skip
    assert torch.equal(z, expected)
    with pytest.raises(InputError, match="at least 2"):
        interpolate_latents(za, zb, 1)


def test_interpolation_images_follow_z(began_run):
    restored = restore_run(began_run)
    z = restored.sample_inputs(4, seed=5)  # pair i: (z[i], z[2 + i])
    grid = interpolation_images(restored, 2, 3, seed=5)
    ends = restored.generate(4, inputs=z)
    mid = restored.generate(2, inputs=(z[:2] + z[2:]) / 2)
    assert grid.shape == (6, 3, 16, 16)
    torch.testing.assert_close(grid[[0, 3]], ends[:2], rtol=0, atol=1e-6)
    torch.testing.assert_close(grid[[2, 5]], ends[2:], rtol=0, atol=1e-6)
    torch.testing.assert_close(grid[[1, 4]], mid, rtol=0, atol=1e-6)


def test_interpolation_refuses_conditional_recipes():
    class Conditional:
        class run:  # noqa: N801
            recipe = "pix2pix-like"

        def sample_inputs(self, n, seed):
            return torch.rand(n, 3, 16, 16)

    with pytest.raises(InputError, match="not sampled from latent vectors"):
        interpolation_images(Conditional(), 2, 4)


def test_sample_command_for_began_and_wgan(tmp_path, began_run, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", str(began_run), "--n", "6", "--nrow", "3", "--out", str(out)]) == 0
    with Image.open(out) as im:  # 3 x 2 cells of 16 px with 2 px padding
        assert im.size == (3 * 18 + 2, 2 * 18 + 2)
    assert "6 samples" in capsys.readouterr().out
    out2 = tmp_path / "interp.png"
    assert (
        main(["sample", str(began_run), "--interpolate", "5", "--n", "2", "--out", str(out2)]) == 0
    )
    with Image.open(out2) as im:
        assert im.size == (5 * 18 + 2, 2 * 18 + 2)
    # a WGAN-family run (Gaussian z, batch-norm generator) interpolates the same way
    wgan = tmp_path / "wgan"
    assert train_main("wgan-gp", data="builtin", out=str(wgan), max_steps=1, overrides=[
        "g_channels=8", "d_channels=8", "n_critic=1", "train.batch_size=4", "train.progress=false",
        "train.tensorboard=false", "train.sample_every=0", "data.num_workers=0",
        "data.split=train"]) == 0  # fmt: skip
    out3 = tmp_path / "wgan.png"
    assert main(["sample", str(wgan), "--interpolate", "4", "--n", "3", "--out", str(out3)]) == 0
    with Image.open(out3) as im:
        assert im.size == (4 * 34 + 2, 3 * 34 + 2)
    capsys.readouterr()
    assert main(["sample", str(began_run), "--out", str(tmp_path / "x.txt")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "nothing"), "--out", str(out)]) == 2


def test_sample_grid_is_bounded_and_shows_progress(tmp_path, began_run, capsys, monkeypatch):
    # issue 19, item B10: --n 1000000 ran 77 s and died of memory; a grid is one bounded file
    import qagen.eval.sampling as sampling

    out = tmp_path / "big.png"
    assert main(["sample", str(began_run), "--n", "1025", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at most 1024" in err and not out.exists()
    assert main(["sample", str(began_run), "--interpolate", "100", "--n", "11",
                 "--out", str(out)]) == 2  # fmt: skip
    assert "1100 images" in capsys.readouterr().err and not out.exists()
    # the pixel bound, with the count of images that fit (16 px images with 2 px padding)
    monkeypatch.setattr(sampling, "MAX_GRID_PIXELS", 100 * 100)
    assert main(["sample", str(began_run), "--n", "64", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "146 x 146 px" in err and "about 30 or fewer" in err and not out.exists()
    monkeypatch.undo()
    # more than one batch: a progress bar on stderr (and none with --no-progress)
    assert main(["sample", str(began_run), "--n", "65", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "65 samples" in captured.out and "sampling the" in captured.err
    assert main(["sample", str(began_run), "--n", "65", "--out", str(out), "--no-progress"]) == 0
    assert "sampling the" not in capsys.readouterr().err


# ------------------------------------------------------------------ report sections
def test_grid_cell_reads_the_cells_save_image_wrote(tmp_path):
    from torchvision.utils import save_image

    colours = torch.linspace(0, 1, 5)
    imgs = colours.view(5, 1, 1, 1).expand(5, 3, 8, 8).clone()
    save_image(imgs, tmp_path / "g.png", nrow=3)
    for i in range(5):
        cell = grid_cell(tmp_path / "g.png", 8, i)
        assert cell.shape == (8, 8, 3)
        assert np.all(np.abs(cell.astype(float) - float(colours[i]) * 255) <= 1)
    with pytest.raises(ValueError):
        grid_cell(tmp_path / "g.png", 8, 7)


def test_smoothed_m_global_bins_then_smooths():
    from scipy.ndimage import gaussian_filter1d

    steps = list(range(1, 1001))
    vals = [float(s % 10) for s in steps]  # period 10, bins of 5 rows
    x, y = smoothed_m_global(steps, vals)
    assert len(x) == len(y) == 200
    assert x[0] == pytest.approx(3.0) and x[-1] == pytest.approx(998.0)
    binned = np.array([np.mean(vals[i : i + 5]) for i in range(0, 1000, 5)])
    np.testing.assert_allclose(
        y, gaussian_filter1d(binned, 0.9, mode="nearest"), rtol=0, atol=1e-12
    )
    x2, y2 = smoothed_m_global([1, 2, 3], [1.0, math.nan, 3.0])
    assert list(x2) == [1.0, 3.0] and len(y2) == 2


def test_report_has_the_began_sections_and_writes_the_files(began_run):
    from qagen.report.run import write_report

    path = write_report(began_run)
    html = path.read_text()
    for title in ("BEGAN-IQA Table 2", "BEGAN-IQA Figure 6", "BEGAN-IQA Figure 3",
                  "BEGAN-IQA Figure 4", "BEGAN-IQA Figure 5", "Diversity of the samples"):  # fmt: skip
        assert title in html, title
    assert "Not available" not in html
    assert html.count("data:image/png;base64,") >= 7
    stats = json.loads((began_run / "began_stats.json").read_text())
    assert stats["last_step"] == 4 and stats["per_step"]
    assert set(stats["table2"]) == {"l1_M", "l1_sigma", "gmsm_M", "gmsm_sigma", "chrom_M",
                                    "chrom_sigma"}  # fmt: skip
    assert all(math.isfinite(v) for v in stats["table2"].values())
    div = json.loads((began_run / "diversity.json").read_text())
    assert div["checkpoint_step"] == 4 and 0 <= div["generated"]["mean"] <= 1
    assert div["real"]["n_images"] == div["n_images"]
