"""The WGAN-GP / QAGAN / Banach-WGAN recipes: losses against hand-computed formulas, the shared
Adam, the batch augmentation, a few training steps of every recipe, and exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import qagen.train.main as train_main_mod
from qagen.gan.niqe_penalty import NIQEGradientPenalty, niqe_gradient_penalty
from qagen.iqa.naturalness import NIQEModel
from qagen.iqa.structural import ssim_distance
from qagen.methods.qagan.recipes import wgan_critic_objective
from qagen.train import (
    TrainContext,
    Trainer,
    get_recipe,
    load_checkpoint,
    resolve_run_config,
    train_main,
)
from qagen.train.bases import SharedStepAdam, augment_batch

RECIPES = ["wgan-gp", "bwgan", "qagan-ssim", "qagan-niqe", "qagan-ssim-niqe"]

#: tiny but complete settings: 32 px (the ResNet's smallest standard size), batch 4, 8 channels
TINY = [
    "g_channels=8",
    "d_channels=8",
    "n_critic=2",
    "train.batch_size=4",
    "train.device=cpu",
    "train.deterministic=true",
    "train.progress=false",
    "train.tensorboard=false",
    "train.log_every=1",
    "train.sample_every=2",
    "train.n_samples=4",
    "train.checkpoint_every=2",
    "train.keep_last=0",
    "data.num_workers=0",
]


class EightBitImages(Dataset):
    """``n`` random 8-bit RGB images as k/255 mapped to [-1, 1] (what qagen.data returns)."""

    def __init__(self, n: int = 32, size: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        k = torch.randint(0, 256, (n, 3, size, size), generator=g)
        self.x = k.float() / 255.0 * 2.0 - 1.0

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def _overrides(recipe: str) -> list[str]:
    extra = ["hparams.niqe.warmup_steps=1"] if "niqe" in recipe else []
    return TINY + extra


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere (float64)."""

    def __init__(self, shape, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(shape, generator=g, dtype=torch.float64) * 0.02)
        self.b = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1) + self.b


def _batch(n=3, size=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(n, 3, size, size, generator=g, dtype=torch.float64) * 2 - 1
    fake = torch.rand(n, 3, size, size, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64)
    return real, fake, eps


# ------------------------------------------------------------------ losses by hand
def test_qagan_critic_loss_equals_formula():
    real, fake, eps = _batch()
    critic = Linear(real.shape[1:])
    niqe = NIQEGradientPenalty("qagan", "batch", ridge=0.01)
    w_map = critic.w.detach()[None]
    feats = niqe.features(w_map).features[0]
    niqe.set_model(NIQEModel(feats * 1.01, torch.eye(36, dtype=torch.float64) * 1e-4, niqe.key, 16))
    loss, terms = wgan_critic_objective(
        critic, real, fake, eps, gp_weight=1.0, drift=1e-5, ssim_weight=0.1, niqe_weight=0.1,
        niqe=niqe,
    )  # fmt: skip
    # by hand: d = <w, x> + b; grad = w for every interpolate; the NIQE features of N identical
    # maps pooled together are those of one map (moments do not change)
    w, b = critic.w.detach(), critic.b.detach()
    d_real = (real * w).flatten(1).sum(1) + b
    d_fake = (fake * w).flatten(1).sum(1) + b
    gp = (math.sqrt(float((w**2).sum()) + 1e-12) - 1.0) ** 2
    dq = ssim_distance(fake, real, data_range=2.0, variant="paper")
    ssim = (((d_real - d_fake).abs() / dq - 1.0) ** 2).mean()
    niqe_ref = niqe_gradient_penalty(w_map, niqe.model, ridge=0.01)
    expected = (
        d_fake.mean() - d_real.mean() + 1.0 * gp + 1e-5 * (d_real**2).mean() + 0.1 * ssim
        + 0.1 * niqe_ref
    )  # fmt: skip
    # float64 throughout, the same operations in another order: 1e-12
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-12, abs=1e-12)
    assert float(terms["wdist"]) == pytest.approx(float(d_real.mean() - d_fake.mean()), abs=1e-12)
    assert float(terms["gp"]) == pytest.approx(gp, rel=1e-12)
    assert float(terms["niqe_gp"]) == pytest.approx(float(niqe_ref), rel=1e-12)
    loss.backward()
    assert torch.isfinite(critic.w.grad).all()


def test_interpolates_follow_the_authors_orientation():
    # D(x) = sum(x^2) / 2 has gradient x: the penalty reveals where x_hat was taken
    real, fake, eps = _batch(n=4, size=8)

    def quad(x):
        return 0.5 * x.flatten(1).pow(2).sum(1)

    _, terms = wgan_critic_objective(quad, real, fake, eps, gp_weight=10.0)
    x_hat = eps * fake + (1 - eps) * real
    norms = torch.sqrt(x_hat.flatten(1).pow(2).sum(1) + 1e-12)
    assert float(terms["gp"]) == pytest.approx(float(((norms - 1) ** 2).mean()), rel=1e-12)


def _recipe(name: str, *overrides: str):
    run = resolve_run_config(name, data="x", overrides=[*_overrides(name), *overrides])
    ctx = TrainContext(
        run, device=torch.device("cpu"), rank=0, world_size=1, local_rank=0,
        dataset=EightBitImages(), generator=torch.Generator().manual_seed(0), batches_per_epoch=8,
    )  # fmt: skip
    return get_recipe(name)(run.hparams, ctx)


@pytest.mark.parametrize("s_p", [(0.0, 2.0), (0.0, 10.0)])
def test_bwgan_critic_loss_equals_formula(s_p):
    s, p = s_p
    rec = _recipe("bwgan", f"hparams.s={s}", f"hparams.p={p}")
    real, fake, eps = _batch(n=4, size=8)
    rec.D = Linear(real.shape[1:])
    loss, terms = rec.critic_step(real, fake, eps, step=0)
    q = p / (p - 1)
    x = real.flatten(1).numpy()
    lam = np.mean(np.sum(np.abs(x) ** p, 1) ** (1 / p))
    gamma = np.mean(np.sum(np.abs(x) ** q, 1) ** (1 / q))
    w = rec.D.w.detach().flatten().numpy()
    reg = (np.sum(np.abs(w) ** q) ** (1 / q) / gamma - 1) ** 2
    d_real = real.flatten(1).numpy() @ w + 0.3
    d_fake = fake.flatten(1).numpy() @ w + 0.3
    expected = (d_fake.mean() - d_real.mean()) / gamma + lam * reg + 1e-5 * np.mean(d_real**2)
    # the stable L^p norm alpha * ||x / alpha||_p equals the plain one to ~1e-15 relative
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-10)
    assert float(terms["gamma"]) == pytest.approx(gamma, rel=1e-12)
    g_loss = rec.generator_loss(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert float(g_loss) == pytest.approx(-1.5 / gamma, rel=1e-12)


# ------------------------------------------------------------------ optimiser, augmentation
def test_shared_step_adam_counts_every_update():
    a = nn.Parameter(torch.zeros(3))
    b = nn.Parameter(torch.zeros(2))
    opt = SharedStepAdam([{"params": [a]}, {"params": [b]}], lr=1.0, betas=(0.0, 0.9))
    for _ in range(2):  # two critic updates
        b.grad = torch.ones(2)
        opt.step()
        b.grad = None
    a.grad = torch.tensor([2.0, -3.0, 0.5])
    opt.step()
    # TF1's shared beta2_power: the generator's first update is the 3rd of the optimiser, so
    # v_hat = 0.1 g^2 / (1 - 0.9^3) and the step is sign(g) sqrt((1 - 0.9^3) / 0.1) (beta1 = 0);
    # torch.optim.Adam would step by exactly 1. eps = 1e-8 moves it by ~1e-8 relative.
    expected = -torch.sign(a.grad) * math.sqrt((1 - 0.9**3) / 0.1)
    torch.testing.assert_close(a.detach(), expected, rtol=1e-6, atol=0)
    assert opt.shared_step() == 3
    assert float(opt.state[a]["step"]) == 3 and float(opt.state[b]["step"]) == 2
    # the state is plain Adam state: a reloaded optimiser continues identically
    clone = SharedStepAdam([{"params": [a.detach().clone()]}, {"params": [b.detach().clone()]}])
    clone.load_state_dict(opt.state_dict())
    assert clone.shared_step() == 3


def test_augment_batch_dequantises_and_flips():
    run = resolve_run_config("qagan-ssim", data="x", overrides=TINY)
    ctx = TrainContext(
        run, device=torch.device("cpu"), rank=0, world_size=1, local_rank=0, dataset=None,
        generator=torch.Generator().manual_seed(0), batches_per_epoch=1,
    )  # fmt: skip
    x = EightBitImages(4).x[:4]
    k = torch.round((x + 1) * 127.5)
    y = augment_batch(x, ctx, flip=False, dequantize=True)
    lo, hi = k / 128 - 1, (k + 1) / 128 - 1  # (k + U[0, 1)) / 256, then (. - 0.5) * 2
    assert bool(((y >= lo) & (y < hi)).all())
    z = augment_batch(x, ctx, flip=True, dequantize=False)
    flipped = [bool(torch.equal(z[i], x[i].flip(-1))) for i in range(4)]
    kept = [bool(torch.equal(z[i], x[i])) for i in range(4)]
    assert all(f or k_ for f, k_ in zip(flipped, kept, strict=True))


# ------------------------------------------------------------------ training runs
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_trains_a_few_steps(tmp_path, name):
    run = resolve_run_config(name, data="x", overrides=_overrides(name), max_steps=3)
    result = Trainer(run, EightBitImages(), tmp_path).fit()
    assert result.step == 3
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert {"d_loss", "g_loss", "gp", "wdist"} <= set(result.metrics)
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "step_00000003.pt")
    if "niqe" in name:  # warm-up of 1 step, then the penalty is on with a fitted model
        assert "niqe_gp" in result.metrics
        model = ckpt["recipe"]["niqe"]["model"]
        assert model["variant"] == "grad-qagan-batch" and model["n_blocks"] == 2
    if "ssim" in name:
        assert "ssim_gp" in result.metrics
    opts = ckpt["optimizers"]
    assert set(opts) == ({"G", "D"} if name == "wgan-gp" else {"GD"})


def test_qagan_niqe_resume_is_exact(tmp_path, monkeypatch):
    # 4 steps straight == 2 steps + resume + 2 steps, bit for bit (CPU, deterministic). The
    # NIQE model is fitted after the 1-step warm-up, so the checkpoint of step 2 carries it.
    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: EightBitImages())
    kw = dict(recipe="qagan-niqe", data="x", overrides=_overrides("qagan-niqe"))
    assert train_main(out=str(tmp_path / "a"), max_steps=4, **kw) == 0
    assert train_main(out=str(tmp_path / "b"), max_steps=2, **kw) == 0
    assert train_main(out=str(tmp_path / "b"), max_steps=4, resume=str(tmp_path / "b"), **kw) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "step_00000004.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_00000004.pt")
    for key in ("modules", "ema", "optimizers", "recipe", "shared_rng"):
        _assert_equal(a[key], b[key], key)


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


def test_niqe_options_image_gradients_and_model_file(tmp_path):
    # the 'live' extractor per image with Sobel-magnitude pristine statistics ...
    extra = [
        "hparams.niqe.variant=live",
        "hparams.niqe.pooling=image",
        "hparams.niqe.source=image_gradients",
        "hparams.niqe.refit_every=1",
    ]
    over = [*_overrides("qagan-niqe"), *extra]
    run = resolve_run_config("qagan-niqe", data="x", overrides=over, max_steps=3)
    result = Trainer(run, EightBitImages(), tmp_path / "a").fit()
    assert math.isfinite(result.metrics["niqe_gp"])
    state = load_checkpoint(tmp_path / "a" / "checkpoints" / "step_00000003.pt")["recipe"]["niqe"]
    # refit every step: the model of step 2 holds the rows of one step (2 updates x 4 images)
    assert state["model"]["variant"] == "grad-live-image" and state["model"]["n_blocks"] == 8
    # ... and a saved model of the same variant replaces the warm-up: the penalty is on at once
    m = state["model"]
    NIQEModel(m["mu"], m["cov"], m["variant"], m["block_size"]).save(tmp_path / "m.npz")
    over += [f"hparams.niqe.model_path={tmp_path / 'm.npz'}", "hparams.niqe.warmup_steps=0"]
    run = resolve_run_config("qagan-niqe", data="x", overrides=over, max_steps=1)
    result = Trainer(run, EightBitImages(), tmp_path / "b").fit()
    assert math.isfinite(result.metrics["niqe_gp"])
    # a model of another variant is refused when the recipe is built
    over[over.index("hparams.niqe.pooling=image")] = "hparams.niqe.pooling=batch"
    run = resolve_run_config("qagan-niqe", data="x", overrides=over, max_steps=1)
    with pytest.raises(ValueError, match="grad-live-batch"):
        Trainer(run, EightBitImages(), tmp_path / "c").fit()


def test_qagan_code_niqe_variant_trains_with_its_preset(tmp_path):
    # the qagan-niqe-code preset (the authors' feature code, bugs included) at the tiny size:
    # the pristine model is fitted after one warm-up step, then the penalty is on and finite
    run = resolve_run_config(
        "qagan-niqe", preset="qagan-niqe-code", data="x", overrides=_overrides("qagan-niqe"),
        max_steps=3,
    )  # fmt: skip
    assert run.hparams.niqe.variant == "qagan-code" and run.data.split == "all"
    result = Trainer(run, EightBitImages(), tmp_path).fit()
    assert result.step == 3 and math.isfinite(result.metrics["niqe_gp"])
    state = load_checkpoint(tmp_path / "checkpoints" / "step_00000003.pt")["recipe"]["niqe"]
    assert state["model"]["variant"] == "grad-qagan-code-batch"
