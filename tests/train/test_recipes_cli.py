"""``qagen train`` end to end on the built-in data, resume from the command line, and the shipped
presets (parse, hold the authors' values, demo presets differ only in size)."""

from __future__ import annotations

import csv

import pytest

from qagen.cli import main
from qagen.train import get_recipe, load_checkpoint, resolve_run_config
from qagen.train.config import available_presets, load_toml

SMALL = [
    "--set", "g_channels=8", "--set", "d_channels=8", "--set", "train.batch_size=4",
    "--set", "n_critic=1", "--set", "data.num_workers=0", "--set", "train.sample_every=1",
    "--set", "train.n_samples=4", "--set", "train.log_every=1", "--set", "train.progress=false",
    "--set", "train.tensorboard=false", "--set", "train.checkpoint_every=1",
    "--set", "train.keep_last=0",
]  # fmt: skip


def _steps(path):
    with open(path, newline="") as fh:
        return [int(r["step"]) for r in csv.DictReader(fh)]


def test_train_cli_writes_a_run_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "qagan-ssim", "--data", "builtin", "--preset", "demo", "--out", str(out)]
    assert main([*args, "--max-steps", "2", *SMALL]) == 0
    assert (out / "config.toml").is_file()
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == [
        "step_00000001.pt",
        "step_00000002.pt",
    ]
    assert sorted(p.name for p in (out / "samples").glob("*.png")) == [
        "step_00000001.png",
        "step_00000002.png",
    ]
    assert _steps(out / "metrics.csv") == [1, 2]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and (out / "loss_curves.png").is_file()
    saved = load_toml(out / "config.toml")
    # --preset demo selected qagan-ssim-demo; --set overrides were applied on top of it
    assert saved["hparams"]["g_channels"] == 8 and saved["train"]["ema_decay"] == 0.99
    assert saved["hparams"]["ssim_weight"] == 0.1 and saved["data"]["spec"] == "builtin"

    # continue the run up to 3 generator steps in total
    assert main(["train", "--resume", str(out), "--max-steps", "3"]) == 0
    assert "stopped at step 3 (max_steps)" in capsys.readouterr().err
    assert _steps(out / "metrics.csv") == [1, 2, 3]
    assert load_checkpoint(out / "checkpoints" / "step_00000003.pt")["step"] == 3

    # a fresh run into the same directory is refused with a hint to resume
    assert main([*args, "--max-steps", "1", *SMALL]) == 2
    assert "--resume" in capsys.readouterr().err


def test_train_cli_errors_and_list(capsys):
    assert main(["train", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "qagan-niqe" in listed and "bwgan-l10" in listed
    assert main(["train", "qagan-sim", "--data", "builtin"]) == 2
    assert "did you mean qagan-ssim" in capsys.readouterr().err
    assert main(["train", "wgan-gp", "--data", "builtin", "--set", "hparams.lrr=1"]) == 2
    assert "hparams.lr" in capsys.readouterr().err


# ------------------------------------------------------------------ presets
def test_presets_hold_the_authors_values():
    for name in ("qagan-ssim", "qagan-niqe", "qagan-ssim-niqe"):
        run = resolve_run_config(name)
        hp = run.hparams
        # REFERENCE 3.2.1: lambda1 = 1.0 on the GP, lambda2 = 0.1, drift 1e-5, one Adam
        # 2e-4 (0, 0.9) decayed over MAX_ITERS = 1e6, n_critic 5, EMA 0.99, batch 64, 128 ch
        assert hp.gp_weight == 1.0 and hp.drift == 1e-5
        assert hp.lr == 2e-4 and hp.betas == (0.0, 0.9) and hp.shared_optimizer
        assert hp.max_iters == 1_000_000 and hp.n_critic == 5 and hp.g_batch_mult == 2
        assert hp.g_channels == hp.d_channels == 128 and hp.z_dim == 128
        assert hp.flip and hp.dequantize
        assert run.train.ema_decay == 0.99 and run.train.batch_size == 64
        assert hp.ssim_weight == (0.1 if "ssim" in name else 0.0)
        assert hp.niqe_weight == (0.1 if "niqe" in name else 0.0)
        assert hp.ssim_variant == "paper" and hp.niqe.variant == "qagan"
    wgan = resolve_run_config("wgan-gp").hparams
    # REFERENCE 3.1: lambda 10, n_critic 5, the CIFAR ResNet recipe's 2e-4 decayed over 100k
    assert wgan.gp_weight == 10.0 and wgan.n_critic == 5 and wgan.max_iters == 100_000
    assert wgan.drift == 0.0 and not wgan.shared_optimizer and wgan.betas == (0.0, 0.9)
    bw = resolve_run_config("bwgan").hparams
    # REFERENCE 3.3: s = 0, p = 2, c = 5, MAX_ITERS 100,000, drift 1e-5
    assert (bw.s, bw.p, bw.c, bw.max_iters, bw.drift) == (0.0, 2.0, 5.0, 100_000, 1e-5)
    assert resolve_run_config("bwgan", preset="bwgan-l10").hparams.p == 10.0
    assert resolve_run_config("bwgan", preset="bwgan-sobolev").hparams.s == -1.5


# The data each shipped preset trains on (REFERENCE 3.1-3.3 and the authors' scripts): QAGAN and
# Banach-WGAN on all 60,000 CIFAR-10 images (get_cifar10_dataset(split=None)), STL-10 on the
# 100,000 unlabelled images, WGAN-GP on the 50,000 training images (tflib.cifar10.load), the
# demo presets on the built-in photos' train region.
EXPECTED_SPLITS = {
    "qagan-ssim": "all",
    "qagan-niqe": "all",
    "qagan-ssim-niqe": "all",
    "bwgan": "all",
    "bwgan-l10": "all",
    "bwgan-sobolev": "all",
    "wgan-gp": "train",
    "qagan-ssim-stl10": "unlabeled",
    "qagan-niqe-stl10": "unlabeled",
    "qagan-niqe-code": "all",
    "qagan-ssim-demo": "train",
    "qagan-niqe-demo": "train",
    "qagan-ssim-niqe-demo": "train",
    "bwgan-demo": "train",
    "wgan-gp-demo": "train",
    # the baselines of QAGAN's tables: DCGAN and SNGAN on the 50,000 CIFAR-10 training images
    # (sngan_projection: CIFAR10Dataset(test=False)); STL-10 unlabelled; CelebA: every image
    # (the QAGAN CelebA scripts glob img_align_celeba/*.jpg)
    "dcgan": "train",
    "dcgan-demo": "train",
    "sngan": "train",
    "sngan-demo": "train",
    "sngan-stl10": "unlabeled",
    "wgan-gp-stl10": "unlabeled",
    "wgan-gp-celeba": "all",
    "bwgan-celeba": "all",
    "qagan-ssim-celeba": "all",
    "qagan-niqe-celeba": "all",
    # QMF: Table 4 (CIFAR-10 / CelebA generation) on all images; image-to-image on the train split
    "qmf-bl-celeba-demo": "train",
    "qmf-bl-celeba": "all",
    "qmf-bl-demo": "train",
    "qmf-bl": "all",
    "qmf-celeba-attr": "train",
    "qmf-demo": "train",
    "qmf-edges2handbags-demo": "train",
    "qmf-edges2handbags": "train",
    "qmf-edges2shoes-demo": "train",
    "qmf-edges2shoes": "train",
    "qmf-fairface": "train",
    "qmf-full-celeba-demo": "train",
    "qmf-full-celeba": "all",
    "qmf-full-demo": "train",
    "qmf-full": "all",
    "qmf-mf-niqe-celeba-demo": "train",
    "qmf-mf-niqe-celeba": "all",
    "qmf-mf-niqe-demo": "train",
    "qmf-mf-niqe": "all",
    "qmf-mf-ssim-celeba-demo": "train",
    "qmf-mf-ssim-celeba": "all",
    "qmf-mf-ssim-demo": "train",
    "qmf-mf-ssim": "all",
    "qmf-pam-niqe-celeba-demo": "train",
    "qmf-pam-niqe-celeba": "all",
    "qmf-pam-niqe-demo": "train",
    "qmf-pam-niqe": "all",
    "qmf-pam-ssim-celeba-demo": "train",
    "qmf-pam-ssim-celeba": "all",
    "qmf-pam-ssim-demo": "train",
    "qmf-pam-ssim": "all",
    "qmf": "all",
    # the MS-SSIM loss family (docs/msssim-loss.md): patches from the built-in photos' train
    # region, the illumination / Yale B train split (the SVMs score the test split), STL-10's
    # unlabelled images
    **{f"sr-{loss}{demo}": "train" for loss in ("mse", "mae", "msssim") for demo in ("", "-demo")},
    "autoencoder": "train",
    "autoencoder-demo": "train",
    "autoencoder-stl10": "unlabeled",
}
# BEGAN-IQA (began-m01 ... began-m12, the code's two extra configurations, their -demo presets):
# CelebA's training partition, which the BEGAN reference code reads (splits/train).
EXPECTED_SPLITS.update({p: "train" for p in available_presets() if p.split("-")[0] == "began"})
# Learned quality maps and NR-IQA (docs/quality-maps.md): the recipes build their own
# content-disjoint train/validation split of the reference images (hparams.data.split_seed).
EXPECTED_SPLITS.update(
    {p: "train" for p in available_presets() if p.startswith(("qmap-", "nr-iqa"))}
)
# StyleGAN2 (docs/stylegan2.md): the official CIFAR-10 data is the 50,000 training images
# (dataset_tool reads data_batch_1-5; the -demo presets: the built-in photos' train region);
# CelebA at 64 px all 202,599 images, as QMF
EXPECTED_SPLITS.update(
    {p: "all" if "celeba" in p else "train" for p in available_presets() if "stylegan2" in p}
)


@pytest.mark.parametrize("name", available_presets())
def test_every_preset_trains_on_the_authors_split(name):
    assert name in EXPECTED_SPLITS, f"new preset {name}: add its data split to this test"
    run = resolve_run_config(None, preset=name)
    assert run.data.split == EXPECTED_SPLITS[name]
    # the rules behind the table, for any GAN preset
    gan = run.recipe in ("wgan-gp", "bwgan", "sngan") or run.recipe.startswith("qagan")
    if "celeba" in name and gan:
        assert run.data.resolution == 64 and run.data.split == "all"
    elif gan and ("stl10" in name or run.data.resolution == 48):
        assert run.data.split == "unlabeled" and run.data.resolution == 48
    elif gan and not name.endswith("-demo") and run.recipe not in ("wgan-gp", "sngan"):
        assert run.data.split == "all"  # QAGAN / Banach-WGAN CIFAR-10: all 60,000 images
    get_recipe(run.recipe).validate_config(run.hparams, run)  # every preset is valid as shipped


def test_wgan_gp_and_bwgan_presets_follow_the_authors_code():
    wgan = resolve_run_config("wgan-gp").hparams
    # gan_cifar_resnet.py: 2 * (k / 256 - 0.5) + U[0, 1/128) ("# dequantize"), no flips; the
    # generator's tflib batch norm is always in training mode (is_training=None)
    assert wgan.dequantize and not wgan.flip and wgan.g_batch_stats
    bw = resolve_run_config("bwgan").hparams
    # cifar10_sobolev.py: bn(is_training) is fed False for summaries and Inception scores, so
    # samples use the moving averages; flips and noise come from tensordata (augment=True)
    assert not bw.g_batch_stats and bw.flip and bw.dequantize
    stl = resolve_run_config("qagan-ssim", preset="qagan-ssim-stl10").hparams
    assert not stl.flip and not stl.dequantize  # STL10_SSIM_GP.py reads x / 256, no noise


DEMO_KEYS = {
    ("train", "batch_size"),
    ("train", "log_every"),
    ("train", "sample_every"),
    ("train", "checkpoint_every"),
    ("train", "checkpoint_every_minutes"),
    ("train", "keep_last"),
    ("data", "split"),  # the built-in photos keep their test region unseen
    ("data", "num_workers"),
    ("hparams", "g_channels"),
    ("hparams", "d_channels"),
    ("hparams", "niqe"),  # warmup_steps only, checked below
}


@pytest.mark.parametrize(
    "name", ["wgan-gp", "bwgan", "qagan-ssim", "qagan-niqe", "qagan-ssim-niqe", "dcgan", "sngan"]
)
def test_demo_presets_change_only_sizes(name):
    assert f"{name}-demo" in available_presets()
    full, demo = resolve_run_config(name), resolve_run_config(name, preset=f"{name}-demo")
    diff = set()
    for section in ("train", "data", "hparams"):
        a, b = vars(getattr(full, section)), vars(getattr(demo, section))
        diff |= {(section, k) for k in a if a[k] != b[k]}
    assert diff <= DEMO_KEYS, diff - DEMO_KEYS
    if hasattr(full.hparams, "niqe"):
        a, b = vars(full.hparams.niqe), vars(demo.hparams.niqe)
        assert {k for k in a if a[k] != b[k]} <= {"warmup_steps"}


@pytest.mark.parametrize("name", ["sr-mse", "sr-mae", "sr-msssim", "autoencoder"])
def test_msssim_demo_presets_change_only_sizes(name):
    full, demo = resolve_run_config(name), resolve_run_config(name, preset=f"{name}-demo")
    diff = set()
    for section in ("train", "data", "hparams"):
        a, b = vars(getattr(full, section)), vars(getattr(demo, section))
        diff |= {(section, k) for k in a if a[k] != b[k]}
    assert diff <= DEMO_KEYS, diff - DEMO_KEYS
