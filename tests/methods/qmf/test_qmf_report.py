"""QMF's report sections, the grid-tile reader they use, and the image-to-image evaluation
(FSIM on held-out pairs) of a tiny trained run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torchvision.utils import save_image

from qagen.data import build_dataset
from qagen.iqa import fsim
from qagen.methods.qmf.evaluation import evaluate_translation
from qagen.methods.qmf.report import grid_tiles
from qagen.report.run import write_report
from qagen.train import Trainer, resolve_run_config

TINY = [
    "ngf=8", "ndf=8", "d2_ndf=8", "s_ndf=8", "n_res=1", "train.batch_size=4",
    "train.device=cpu", "train.progress=false", "train.tensorboard=false", "train.log_every=1",
    "train.sample_every=2", "train.n_samples=6", "train.checkpoint_every=4", "train.keep_last=0",
    "data.num_workers=0", "niqe.warmup_steps=2", "data.resolution=32",
]  # fmt: skip


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory) -> Path:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = tmp_path_factory.mktemp("qmf-run")
        run = resolve_run_config(None, preset="qmf-edges2shoes-demo", data="builtin-edges",
                                 overrides=TINY, max_steps=4)  # fmt: skip
        Trainer(run, build_dataset("builtin-edges", 32, "train", length=16), out).fit()
    finally:
        torch.set_num_threads(before)
    return out


def test_grid_tiles_reads_the_trainers_layout(tmp_path):
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (6, 3, 12, 12), generator=g).float() / 255
    save_image(imgs, tmp_path / "g.png", nrow=math.ceil(math.sqrt(6)))  # the trainer's call
    tiles = grid_tiles(tmp_path / "g.png", 12, 6)
    assert tiles.shape == (6, 12, 12, 3)
    back = torch.from_numpy(tiles).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(back, imgs, rtol=0, atol=0.5 / 255 + 1e-6)


def test_report_has_the_qmf_sections(paired_run):
    path = write_report(paired_run, quality_maps=2)
    html = path.read_text()
    for sid in ('id="qmf"', 'id="qmf-hog"', 'id="qmf-glcm"'):
        assert sid in html, sid
    for text in (
        "m1 FSIM",
        "M_F gate",
        "self-attention weights",
        "HOG",
        "GLCM",
        "output vs target",
    ):
        assert text in html, text
    assert html.count("data:image/png;base64,") >= 8


def test_evaluate_translation_on_held_out_pairs(paired_run):
    res = evaluate_translation(paired_run, n=8, split="test")
    assert set(res) >= {"fsim", "fsim_source", "fsim_untrained", "protocol"}
    assert res["protocol"]["checkpoint_step"] == 4 and res["protocol"]["n"] == 8
    # the input baseline independently: FSIM of the 8-bit edge images against the targets
    ds = build_dataset("builtin-edges", 32, "test", value_range=(0, 1))
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:8].tolist()
    src = torch.stack([ds[i].source for i in idx]).double()
    tgt = torch.stack([ds[i].target for i in idx]).double()
    want = fsim(torch.round(src * 255) / 255, torch.round(tgt * 255) / 255)
    assert res["fsim_source"]["mean"] == pytest.approx(float(want.mean()), rel=1e-6)
    for k in ("fsim", "fsim_untrained"):
        assert 0 < res[k]["mean"] <= 1 and res[k]["n"] == 8
    # cached by step, n, split and seed
    saved = json.loads((paired_run / "eval_translation.json").read_text())
    assert saved["fsim"] == res["fsim"]
    assert evaluate_translation(paired_run, n=8, split="test") == saved
