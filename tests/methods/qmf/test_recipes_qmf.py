"""The qmf recipe: every term of L_BP (and d2's loss) against an independent computation on a
tiny critic, one step of every qmf preset, exact resume of qmf-full, bad input before training,
the previous-iteration maps and the sample grids."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from PIL import Image
from torch import nn

import qagen.train.main as train_main_mod
from qagen.data import build_dataset
from qagen.errors import InputError
from qagen.gan.niqe_penalty import niqe_gradient_penalty
from qagen.iqa.naturalness import NIQEModel
from qagen.methods.qmf.data import CELEBA_ATTRIBUTES
from qagen.methods.qmf.recipe import _Batch
from qagen.train import (
    TrainContext,
    Trainer,
    get_recipe,
    load_checkpoint,
    resolve_run_config,
    train_main,
)
from qagen.train.config import available_presets
from qagen.train.loader import BatchStream

TINY = [
    "ngf=8", "ndf=8", "d2_ndf=8", "s_ndf=8", "n_res=1", "train.batch_size=4",
    "train.device=cpu", "train.deterministic=true", "train.progress=false",
    "train.tensorboard=false", "train.log_every=1", "train.sample_every=2", "train.n_samples=4",
    "train.checkpoint_every=2", "train.keep_last=0", "data.num_workers=0",
    "niqe.warmup_steps=2",
]  # fmt: skip

QMF_PRESETS = [p for p in available_presets() if p == "qmf" or p.startswith("qmf-")]


def _ctx(run, dataset):
    return TrainContext(
        run, device=torch.device("cpu"), rank=0, world_size=1, local_rank=0, dataset=dataset,
        generator=torch.Generator().manual_seed(0), batches_per_epoch=100,
    )  # fmt: skip


def _recipe(preset="qmf-full", data="builtin", overrides=(), dataset=None):
    run = resolve_run_config(None, preset=preset, data=data, overrides=[*TINY, *overrides])
    ds = dataset if dataset is not None else build_dataset(data, run.data.resolution, "train")
    return get_recipe("qmf")(run.hparams, _ctx(run, ds)), ds


# ------------------------------------------------------------------ L_BP by hand
class PixelLinear(nn.Module):
    """Per-pixel critic ``src(x) = sum_c W_c x_c + b`` (float64): its per-image score is
    ``mean_pixels(src)``, whose input gradient is ``W / (H W)`` everywhere."""

    def __init__(self, shape, seed=0, n_attr=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(1, *shape, generator=g, dtype=torch.float64) * 3.0)
        self.b = nn.Parameter(torch.tensor(0.2, dtype=torch.float64))
        self.attr = nn.Parameter(
            torch.randn(n_attr, *shape, generator=g, dtype=torch.float64) * 0.01
        )

    def forward(self, x, cond=None):
        src = (x * self.w).sum(1, keepdim=True) + self.b
        attr = torch.einsum("nchw,achw->na", x, self.attr) if self.attr.shape[0] else None
        return src, attr


def _gauss(win=11, sigma=1.5):
    t = np.arange(win) - (win - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def _d_b(x, y):
    """d_b(x, y) = mean of sqrt(2 - L - CS) over the map (QMF eq. 3), SciPy: grey Y of [0, 1]
    images, 11x11 Gaussian window (sigma 1.5), replicate ('nearest') borders, C1 = 0.01^2,
    C2 = 0.03^2, 2 - L - CS clamped at 0, 1e-8 inside the square root."""
    w = np.array([0.299, 0.587, 0.114])
    g = _gauss()

    def f(a):
        return ndi.correlate1d(ndi.correlate1d(a, g, 0, mode="nearest"), g, 1, mode="nearest")

    out = []
    for a, b in zip(x, y, strict=True):
        a = np.tensordot(w, (a.numpy() + 1) / 2, 1)
        b = np.tensordot(w, (b.numpy() + 1) / 2, 1)
        ma, mb = f(a), f(b)
        va, vb, cov = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
        lum = (2 * ma * mb + 1e-4) / (ma**2 + mb**2 + 1e-4)
        cs = (2 * cov + 9e-4) / (va + vb + 9e-4)
        out.append(np.sqrt(np.maximum(2 - lum - cs, 0) + 1e-8).mean())
    return np.array(out)


def _images(n=3, size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(n, 3, size, size, generator=g, dtype=torch.float64) * 2 - 1
    fake = (real + 0.3 * torch.randn(real.shape, generator=g, dtype=torch.float64)).clamp(-1, 1)
    return real, fake


@pytest.mark.parametrize("gp_norm", ["l2", "banach"])
def test_each_lbp_term_against_an_independent_computation(gp_norm):
    rec, _ = _recipe(overrides=[f"gp_norm={gp_norm}"])
    real, fake = _images()
    n, hw = real.shape[0], real.shape[-1] * real.shape[-2]
    rec.D = PixelLinear(real.shape[1:])
    w = rec.D.w.detach()[0]
    g_map = (w / hw).expand(n, -1, -1, -1)  # grad of the per-image mean score, every input
    feats = rec.niqe.features(g_map[:1]).features[0]
    rec.niqe.set_model(NIQEModel(feats * 1.05, torch.eye(36, dtype=torch.float64) * 1e-3,
                                 rec.niqe.key, 32))  # fmt: skip
    b = _Batch(real, None, None, None, None, None)
    loss, terms = rec.d1_loss(b, fake, step=10)
    d_real = (real * w).sum(1).mean((1, 2)) + 0.2
    d_fake = (fake * w).sum(1).mean((1, 2)) + 0.2
    norm = math.sqrt(float((g_map[0] ** 2).sum()))
    if gp_norm == "l2":
        gp = (math.sqrt(norm**2 + 1e-12) - 1.0) ** 2
    else:  # s = 0, p = 2: the dual norm is the L2 norm, gamma = mean_i ||x_i||_2 of the reals
        gamma = float(real.flatten(1).norm(dim=1).mean())
        gp = (norm / gamma - 1.0) ** 2
    ssim = float((((d_real - d_fake).abs().numpy() / _d_b(real, fake) - 1) ** 2).mean())
    niqe = float(niqe_gradient_penalty(g_map, rec.niqe.model, variant="live", pooling="batch"))
    drift = float((d_real**2).mean())
    assert float(terms["gp"]) == pytest.approx(gp, rel=1e-9)
    assert float(terms["ssim_gp"]) == pytest.approx(ssim, rel=1e-7)
    assert float(terms["niqe_gp"]) == pytest.approx(niqe, rel=1e-9)
    assert float(terms["drift"]) == pytest.approx(drift, rel=1e-12)
    lam = rec.cfg.gp_weight  # lambda3 (10, WGAN-GP's)
    expected = float(d_fake.mean() - d_real.mean()) + lam * gp + 0.1 * ssim + 0.1 * niqe
    expected += 1e-5 * drift
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-7)
    assert float(terms["wdist"]) == pytest.approx(float(d_real.mean() - d_fake.mean()), rel=1e-9)
    loss.backward()
    assert torch.isfinite(rec.D.w.grad).all()


def test_logistic_objective_d2_loss_and_attribute_term():
    rec, _ = _recipe(overrides=["objective=logistic", "ssim_weight=0", "niqe_weight=0"])
    real, fake = _images()
    rec.D = PixelLinear(real.shape[1:], n_attr=5)
    rec.mode = "attributes"
    labels = (torch.rand(3, 5, generator=torch.Generator().manual_seed(3)) > 0.5).double()
    b = _Batch(real, real, None, labels, labels, None)
    loss, terms = rec.d1_loss(b, fake, step=10)
    w = rec.D.w.detach()[0]
    s_real, s_fake = (real * w).sum(1) + 0.2, (fake * w).sum(1) + 0.2
    sp = torch.nn.functional.softplus
    adv = float(sp(-s_real).mean() + sp(s_fake).mean())  # eq. 8's log form, per pixel
    logits = torch.einsum("nchw,achw->na", real, rec.D.attr.detach())
    p = torch.sigmoid(logits)
    assert 0.01 < float(p.min()) and float(p.max()) < 0.99  # logs stay finite
    bce = float(-(labels * p.log() + (1 - labels) * (1 - p).log()).mean())
    assert float(terms["d_cls"]) == pytest.approx(bce, rel=1e-9)
    expected = adv + 10 * float(terms["gp"]) + 1e-5 * float(terms["drift"]) + bce
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-9)
    # d2: Wasserstein on the maps + 10 x the gradient penalty (a linear map critic)
    rec.cfg.objective = "wasserstein"
    rec.D2 = PixelLinear((3, 32, 32), seed=4)
    rm, fm = (
        torch.rand(3, 3, 32, 32, dtype=torch.float64),
        torch.rand(3, 3, 32, 32, dtype=torch.float64),
    )
    loss2, t2 = rec.d2_loss(rm, fm)
    w2 = rec.D2.w.detach()[0]
    wd = float(((rm - fm) * w2).sum(1).mean())
    gp2 = (math.sqrt(float(((w2 / 1024) ** 2).sum()) + 1e-12) - 1) ** 2
    assert float(t2["d2_wdist"]) == pytest.approx(wd, rel=1e-9)
    assert float(loss2.detach()) == pytest.approx(-wd + 10 * gp2, rel=1e-9)


# ------------------------------------------------------------------ every preset
def _jpg(path, seed, h=30, w=24):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    Image.fromarray(arr).save(path)


def _labelled(kind, root):
    """A tiny CelebA-attribute or FairFace folder of 8 images."""
    if kind == "celeba-attr":
        base = root / "celeba"
        for i in range(1, 9):
            _jpg(base / "img_align_celeba" / f"{i:06d}.jpg", i)
        rows = [f"{i:06d}.jpg " + " ".join(["1", "-1"] * 20) for i in range(1, 9)]
        (base / "list_attr_celeba.txt").write_text(
            "\n".join(["8", " ".join(CELEBA_ATTRIBUTES), *rows]) + "\n"
        )
        (base / "list_eval_partition.txt").write_text(
            "".join(f"{i:06d}.jpg 0\n" for i in range(1, 9))
        )
    else:
        for i in range(1, 9):
            _jpg(root / "train" / f"{i}.jpg", i, 20, 20)
        rows = "".join(f"train/{i}.jpg,20-29,{'Male' if i % 2 else 'Female'},White,True\n"
                       for i in range(1, 9))  # fmt: skip
        (root / "fairface_label_train.csv").write_text("file,age,gender,race,service_test\n" + rows)
    return f"{kind}:{root}"


@pytest.mark.parametrize("preset", QMF_PRESETS)
def test_every_qmf_preset_takes_a_step(preset, tmp_path):
    over = ["data.resolution=32"] if preset in ("qmf-edges2shoes", "qmf-edges2handbags") else []
    if "celeba-attr" in preset or "fairface" in preset:
        data = _labelled("celeba-attr" if "celeba" in preset else "fairface", tmp_path)
        over = ["data.resolution=32"]
    else:
        data = "builtin-edges" if "edges" in preset else "builtin"
    rec, ds = _recipe(preset, data, over)
    stream = iter(BatchStream(ds, 4, seed=0, device=torch.device("cpu"), num_workers=0))
    out = rec.train_step(stream, 0)
    cfg = rec.cfg
    assert all(math.isfinite(float(v)) for v in out.values()), out
    want = {"d_loss", "gp", "grad_norm", "g_loss", "g_adv"}
    want |= {"ssim_gp"} if cfg.ssim_weight else set()
    want |= {"d2_loss", "map_fsim", "map_ms_ssim", "map_mdsi", "gate"} if cfg.map_fusion else set()
    want |= {"s_loss", "g_score"} if cfg.score_regressor else set()
    want |= {"l1"} if rec.mode == "paired" else set()
    want |= {"g_cls", "g_rec", "d_cls"} if rec.mode == "attributes" else set()
    assert want <= set(out), want - set(out)
    expected_mode = {"builtin": "generation", "builtin-edges": "paired"}.get(data, "attributes")
    assert rec.mode == expected_mode
    # the Table 4 rows switch exactly their modules and losses
    row = preset.removeprefix("qmf-").removesuffix("-demo").removesuffix("-celeba")
    if row in ("bl", "pam-ssim", "pam-niqe", "mf-ssim", "mf-niqe", "full"):
        assert cfg.pam == (row.startswith("pam") or row == "full")
        assert cfg.map_fusion == cfg.map_critic == cfg.score_regressor == (row[:2] in ("mf", "fu"))
        assert (cfg.ssim_weight > 0) == (row.endswith("ssim") or row == "full")
        assert (cfg.niqe_weight > 0) == (row.endswith("niqe") or row == "full")


# ------------------------------------------------------------------ resume, bad input
def _small_builtin(data):
    return build_dataset("builtin", data.resolution, data.split, length=64)


def test_qmf_full_resume_is_exact_and_logs_every_term(tmp_path, monkeypatch):
    # 4 steps straight == 2 steps + resume + 2 steps, bit for bit; the NIQE term switches on
    # after the 2-step warm-up, so the checkpoint of step 2 carries the pristine statistics
    monkeypatch.setattr(train_main_mod, "build_training_dataset", _small_builtin)
    kw = dict(recipe="qmf", preset="qmf-full", data="builtin", overrides=TINY)
    assert train_main(out=str(tmp_path / "a"), max_steps=4, **kw) == 0
    assert train_main(out=str(tmp_path / "b"), max_steps=2, **kw) == 0
    assert train_main(None, resume=str(tmp_path / "b"), max_steps=4) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "step_00000004.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_00000004.pt")
    assert set(a["modules"]) == {"G", "D", "D2", "S"}
    for key in ("modules", "optimizers", "recipe", "shared_rng"):
        _assert_equal(a[key], b[key], key)
    rows = list(csv.DictReader((tmp_path / "a" / "metrics.csv").open()))
    cols = set(rows[0])
    assert {"gp", "ssim_gp", "niqe_gp", "d2_loss", "s_loss", "map_fsim", "map_ms_ssim",
            "map_mdsi", "gate", "fsim_score"} <= cols  # fmt: skip
    assert [r["niqe_gp"] != "" for r in rows] == [False, False, True, True]
    grids = {p.name for p in (tmp_path / "a" / "samples").iterdir()}
    for name in ("output", "reference", "m1_fsim", "m2_ms_ssim", "m3_mdsi", "M_fused", "attention"):
        assert f"step_00000004_{name}.png" in grids, name


def _assert_equal(x, y, path):
    if isinstance(x, torch.Tensor):
        assert torch.equal(x, y), path
    elif isinstance(x, dict):
        assert set(x) == set(y), path
        for k in x:
            _assert_equal(x[k], y[k], f"{path}/{k}")
    elif isinstance(x, (list, tuple)):
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _assert_equal(u, v, f"{path}[{i}]")
    else:
        assert x == y, f"{path}: {x!r} != {y!r}"


@pytest.mark.parametrize(
    "overrides, data, message",
    [
        (["alpha=0.2"], "builtin", r"hparams.alpha .*0.3 <= alpha <= 1.*got 0.2"),
        (["data.resolution=12", "d_layers=1", "d2_layers=1"], "builtin",
         r"quality maps need images of at least 16 px .*got data.resolution 12"),
        (["map_source=previous"], "builtin", r"map_source = 'previous' needs fixed pairings"),
        (["score_source=torchscript"], "builtin", r"score_model_path"),
        (["niqe.warmup_steps=1"], "builtin", r"warmup_steps \* hparams.n_critic must be >= 2"),
        (["heads=3"], "builtin", r"heads \(3\) must divide"),
        (["mode=paired"], "builtin", r"hparams.mode is 'paired' but the data"),
        (["n_critic=-1"], "builtin", r"hparams.n_critic must be an integer >= 1, or 0"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_training(tmp_path, overrides, data, message):
    out = tmp_path / "run"
    with pytest.raises(InputError, match=message):
        train_main("qmf", preset="qmf-full-demo", data=data, out=str(out), max_steps=1,
                   overrides=[*TINY, *overrides])  # fmt: skip
    assert not (out / "checkpoints").exists() and not (out / "metrics.csv").exists()


def test_n_critic_default_follows_the_mode(monkeypatch):
    # generation mode collapsed with one critic update per step (docs/qmf.md): 'auto' (0) is
    # WGAN-GP's 5 there, and pix2pix's 1 on paired data; an explicit value is kept
    cases = [("qmf-full", "builtin", (), 5), ("qmf-full", "builtin", ("n_critic=2",), 2),
             ("qmf-edges2shoes-demo", "builtin-edges", ("data.resolution=32",), 1)]  # fmt: skip
    for preset, data, overrides, want in cases:
        rec, ds = _recipe(preset, data, overrides)
        assert rec.cfg.n_critic == (0 if not overrides or "n_critic" not in overrides[0] else 2)
        assert rec.n_critic == want
        updates: list[str] = []
        real = rec._step_update
        monkeypatch.setattr(rec, "_step_update",
                            lambda n, loss, u=updates, f=real: (u.append(n), f(n, loss)))  # fmt: skip
        stream = iter(BatchStream(ds, 4, seed=0, device=torch.device("cpu"), num_workers=0))
        rec.train_step(stream, 0)
        assert updates.count("D") == want and updates.count("G") == 1


def test_previous_iteration_maps_on_paired_data(tmp_path):
    ds = build_dataset("builtin-edges", 32, "train", length=8)
    run = resolve_run_config(None, preset="qmf-edges2shoes-demo", data="builtin-edges",
                             overrides=[*TINY, "data.resolution=32", "map_source=previous"],
                             max_steps=3)  # fmt: skip
    Trainer(run, ds, tmp_path).fit()
    state = load_checkpoint(tmp_path / "checkpoints" / "step_00000003.pt")["recipe"]
    cache = state["map_cache"]
    # 3 steps of 4 images over 8 items: every item seen, maps pooled to the 8 x 8 bottleneck
    assert sorted(cache["index"].tolist()) == list(range(8))
    assert cache["maps"].shape == (8, 3, 8, 8) and cache["maps"].dtype == torch.float16
    grids = {p.name for p in (tmp_path / "samples").iterdir()}
    assert {"step_00000003_input.png", "step_00000003_target.png"} <= grids


QMF_DEMO_KEYS = {
    ("train", "log_every"), ("train", "sample_every"), ("train", "n_samples"),
    ("train", "checkpoint_every"), ("train", "checkpoint_every_minutes"), ("train", "keep_last"),
    ("data", "spec"), ("data", "split"), ("data", "num_workers"), ("data", "resolution"),
    ("hparams", "ngf"), ("hparams", "ndf"), ("hparams", "d2_ndf"), ("hparams", "s_ndf"),
    ("hparams", "n_res"), ("hparams", "niqe"),
}  # fmt: skip


@pytest.mark.parametrize("name", [p for p in QMF_PRESETS if p.endswith("-demo")])
def test_qmf_demo_presets_change_only_sizes(name):
    full_name = "qmf" if name == "qmf-demo" else name.removesuffix("-demo")
    full, demo = resolve_run_config(None, preset=full_name), resolve_run_config(None, preset=name)
    diff = set()
    for section in ("train", "data", "hparams"):
        a, b = vars(getattr(full, section)), vars(getattr(demo, section))
        diff |= {(section, k) for k in a if a[k] != b[k]}
    assert diff <= QMF_DEMO_KEYS, diff - QMF_DEMO_KEYS
    a, b = vars(full.hparams.niqe), vars(demo.hparams.niqe)
    assert {k for k in a if a[k] != b[k]} <= {"warmup_steps"}
    # Table 4's rows on the built-in photos; edges2* on Fashion-MNIST's edges (issue 18)
    want = {
        "qmf-edges2shoes-demo": "fashion-edges:shoes",
        "qmf-edges2handbags-demo": "fashion-edges:bags",
    }
    assert demo.data.spec == want.get(name, "builtin") and demo.train.batch_size == 8
