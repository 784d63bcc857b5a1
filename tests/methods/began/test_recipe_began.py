"""The ``began`` recipe: eq. 6 against a hand computation, the k_t controller on a scripted
sequence (update, clipping, M_global), D's update from L_D alone, the learning-rate halving,
exact resume with k_t, bad input, the presets of Table 1 and the statistics file."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d
from torch.utils.data import Dataset

import qagen.train.main as train_main_mod
from qagen.errors import InputError
from qagen.methods.began.recipe import HalvingSchedule
from qagen.methods.began.stats import began_stats, write_began_stats
from qagen.report import read_metrics_csv
from qagen.train import (
    TrainContext,
    Trainer,
    get_recipe,
    load_checkpoint,
    resolve_run_config,
    train_main,
)
from qagen.train.config import available_presets

TINY = [
    "data.resolution=16",
    "channels=4",
    "z_dim=6",
    "h_dim=5",
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


class Images(Dataset):
    """``n`` random 8-bit RGB images mapped to [-1, 1] (what qagen.data returns)."""

    def __init__(self, n: int = 32, size: int = 16, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 256, (n, 3, size, size), generator=g).float() / 127.5 - 1.0

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def _recipe(*overrides: str, seed: int = 0):
    run = resolve_run_config("began", data="x", overrides=[*TINY, *overrides])
    ctx = TrainContext(
        run, device=torch.device("cpu"), rank=0, world_size=1, local_rank=0,
        dataset=Images(), generator=torch.Generator().manual_seed(seed), batches_per_epoch=8,
    )  # fmt: skip
    torch.manual_seed(seed)
    return get_recipe("began")(run.hparams, ctx)


# ------------------------------------------------------------------ eq. 6 by hand
def _yiq(img: np.ndarray) -> np.ndarray:
    """img 3 x H x W on 0-255 -> Y, I, Q with the BEGAN-IQA code's 2-decimal matrix."""
    m = np.array([[0.30, 0.59, 0.11], [0.60, -0.28, -0.32], [0.21, -0.52, 0.31]])
    return np.einsum("ij,jhw->ihw", m, img)


def _sim(a, b, c):
    return (2 * a * b + c) / (a * a + b * b + c)


def _eq6_by_hand(v: np.ndarray, rec: np.ndarray, w: tuple[float, float, float], c=0.0026):
    """Per-image eq. 6 with numpy/scipy only: l1 on [-1, 1]; Sobel GMSM on the Y of the 0-255
    image (zero-padded 'same' correlation) and the chrominance S(I) S(Q), c on 0-255 values."""
    sx = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    out = []
    for a, b in zip(v, rec, strict=True):
        l1 = np.abs(a - b).mean()
        ya, yb = _yiq((a + 1) / 2 * 255), _yiq((b + 1) / 2 * 255)
        mags = []
        for y in (ya[0], yb[0]):
            gx = correlate2d(y, sx, mode="same", boundary="fill")
            gy = correlate2d(y, sx.T, mode="same", boundary="fill")
            mags.append(np.sqrt(gx**2 + gy**2))
        gmsm = _sim(mags[0], mags[1], c).mean()
        chrom = (_sim(ya[1], yb[1], c) * _sim(ya[2], yb[2], c)).mean()
        d = np.array([l1, 1 - gmsm, 1 - chrom])
        out.append((d, float(np.dot(w, d) / sum(w))))
    return out


def test_eq6_matches_a_hand_computation():
    rec = _recipe("beta_l1=2.0", "beta_gmsm=1.0", "beta_chrom=0.5")
    g = torch.Generator().manual_seed(3)
    v = torch.rand(3, 3, 16, 16, generator=g, dtype=torch.float64) * 2 - 1
    # reconstructions partly outside [-1, 1] (the decoder has no output activation)
    r = (v + 0.4 * torch.randn(3, 3, 16, 16, generator=g, dtype=torch.float64)).clamp(-1.3, 1.3)
    r[0, :, :4, :4] = 0.25  # a flat patch: zero gradients on one side
    loss, d = rec.distances(v, r)
    hand = _eq6_by_hand(v.numpy(), r.numpy(), (2.0, 1.0, 0.5))
    for i, (dist, total) in enumerate(hand):
        # float64 both ways; the recipe adds 1e-24 under the square root of the magnitude
        assert float(d["l1"][i]) == pytest.approx(dist[0], abs=1e-12)
        assert float(d["gmsm"][i]) == pytest.approx(dist[1], abs=1e-9)
        assert float(d["chrom"][i]) == pytest.approx(dist[2], abs=1e-9)
        assert float(loss[i]) == pytest.approx(total, abs=1e-9)
    assert loss.requires_grad is False  # no parameters involved; the weighted terms have grad
    # a zero weight is still logged, and computed without entering the loss
    rec0 = _recipe("beta_l1=1.0", "beta_gmsm=0.0", "beta_chrom=0.0")
    loss0, d0 = rec0.distances(v, r.clone().requires_grad_())
    assert torch.allclose(loss0, d0["l1"], atol=0, rtol=0)
    assert set(d0) == {"l1", "gmsm", "chrom"}
    assert float(d0["chrom"][1]) == pytest.approx(hand[1][0][2], abs=1e-9)
    # c applied to [0, 1] values instead (the paper's statement): 170 on 0-255
    rec1 = _recipe("beta_gmsm=1.0", "c_scale=unit")
    _, d1 = rec1.distances(v, r)
    hand1 = _eq6_by_hand(v.numpy(), r.numpy(), (1.0, 1.0, 0.0), c=0.0026 * 255**2)
    assert float(d1["gmsm"][2]) == pytest.approx(hand1[2][0][1], abs=1e-9)


def test_distance_gradients_are_finite_on_flat_and_identical_images():
    rec = _recipe("beta_l1=1.0", "beta_gmsm=1.0", "beta_chrom=1.0")
    v = torch.zeros(2, 3, 16, 16)
    v[1] = 0.3
    r = v.clone().requires_grad_()
    loss, d = rec.distances(v, r)
    loss.sum().backward()
    assert torch.isfinite(r.grad).all()
    assert float(d["gmsm"].abs().max()) < 1e-6 and float(d["chrom"].abs().max()) < 1e-6


# ------------------------------------------------------------------ the controller
def test_k_t_update_clipping_and_m_global_on_a_scripted_sequence():
    rec = _recipe("gamma=0.5", "lambda_k=0.5", "k_init=0.0")
    script = [(0.4, 0.1), (0.4, 0.5), (2.0, 0.0), (4.0, 0.0), (0.2, 0.1)]
    l_zd = 0.3  # L(G(z_D)) in D's loss
    calls = {"n": 0}

    def scripted(v, r, log=True):  # call order per step: L(x), L(G(z_D)), L(G(z_G))
        i, j = divmod(calls["n"], 3)
        calls["n"] += 1
        value = (script[i][0], l_zd, script[i][1])[j]
        loss = r.flatten(1).sum(1) * 0.0 + value  # keeps the graph (and DDP) intact
        d = {k: torch.full((v.shape[0],), value) for k in ("l1", "gmsm", "chrom")} if log else {}
        return loss, d

    rec.distances = scripted
    x = Images(4).x
    batches = iter(lambda: x, None)
    k, expected_k, logged = 0.0, [], []
    for step, (lx, lg) in enumerate(script):
        out = rec.train_step(batches, step)
        # L_D = L(x) - k_t L(G(z_D)) with the k before this step's update
        assert float(out["loss_d"]) == pytest.approx(lx - k * l_zd, abs=1e-7)
        k = min(max(k + 0.5 * (0.5 * lx - lg), 0.0), 1.0)
        expected_k.append(k)
        logged.append(out["k_t"])
        assert out["m_global"] == pytest.approx(lx + abs(0.5 * lx - lg), abs=1e-7)
        assert float(out["loss_real"]) == pytest.approx(lx, abs=1e-7)
        assert float(out["loss_fake"]) == pytest.approx(lg, abs=1e-7)
    # 0.05, then clipped at 0 (not negative), 0.5, clipped at 1, unchanged at a zero balance
    assert logged == pytest.approx([0.05, 0.0, 0.5, 1.0, 1.0], abs=1e-7)
    assert logged == pytest.approx(expected_k, abs=1e-7)
    assert rec.state_dict()["controller"]["k"] == pytest.approx(1.0)


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_d_is_updated_by_l_d_alone_and_g_by_l_g(update):
    a = _recipe(f"update={update}", "beta_gmsm=1.0", "k_init=0.3", seed=1)
    b = _recipe(f"update={update}", "beta_gmsm=1.0", "k_init=0.3", seed=1)
    for pa, pb in zip(a.D.parameters(), b.D.parameters(), strict=True):
        assert torch.equal(pa, pb)
    x = Images(4).x
    a.train_step(iter(lambda: x, None), 0)
    # the same step by hand on b: D's Adam step on L_D only, then G's on L_G
    n = 4
    if update == "alternating":
        with torch.no_grad():
            fake_d = b.G(b.latent(n))
        r = b.D(torch.cat([x, fake_d]))
        loss_d = b.distances(x, r[:n])[0].mean() - 0.3 * b.distances(fake_d, r[n:])[0].mean()
        b.opt_d.zero_grad()
        loss_d.backward()
        b.opt_d.step()
        fake = b.G(b.latent(n))
        loss_g = b.distances(fake, b.D(fake))[0].mean()
        b.opt_g.zero_grad()
        grads = torch.autograd.grad(loss_g, list(b.G.parameters()))
        for p, g in zip(b.G.parameters(), grads, strict=True):
            p.grad = g
        b.opt_g.step()
    else:
        fake = b.G(b.latent(n))
        r = b.D(torch.cat([x, fake.detach()]))
        loss_d = b.distances(x, r[:n])[0].mean() - 0.3 * b.distances(fake.detach(), r[n:])[0].mean()
        d_grads = torch.autograd.grad(loss_d, list(b.D.parameters()))
        loss_g = b.distances(fake, b.D(fake))[0].mean()
        g_grads = torch.autograd.grad(loss_g, list(b.G.parameters()))
        for p, g in zip(b.D.parameters(), d_grads, strict=True):
            p.grad = g
        for p, g in zip(b.G.parameters(), g_grads, strict=True):
            p.grad = g
        b.opt_d.step()
        b.opt_g.step()
    for pa, pb in zip(a.D.parameters(), b.D.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-7)
    for pa, pb in zip(a.G.parameters(), b.G.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-7)
    changed = any(
        not torch.equal(p, q)
        for p, q in zip(a.D.parameters(), _recipe(seed=1).D.parameters(), strict=True)
    )
    assert changed  # the step did train D


# ------------------------------------------------------------------ training, schedule, resume
def test_trains_logs_every_distance_and_halves_the_learning_rate(tmp_path):
    run = resolve_run_config(
        "began", data="x", max_steps=7,
        overrides=[*TINY, "lr_halve_every=2", "lr=8e-5", "lr_floor=2e-5", "beta_gmsm=1.0"],
    )  # fmt: skip
    result = Trainer(run, Images(), tmp_path).fit()
    assert result.step == 7
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 8))
    need = {"k_t", "m_global", "loss_real", "loss_fake", "l1_real", "gmsm_real", "chrom_real",
            "l1_fake", "gmsm_fake", "chrom_fake"}  # fmt: skip
    assert need <= set(rows[0])
    for r in rows:
        assert all(math.isfinite(float(r[k])) for k in need)
        assert 0.0 <= float(r["k_t"]) <= 1.0
    # 8e-5 halved every 2 steps, never below 2e-5; the optimisers were not rebuilt
    lrs = [float(r["lr/G"]) for r in rows]
    assert lrs == pytest.approx([8e-5, 8e-5, 4e-5, 4e-5, 2e-5, 2e-5, 2e-5], rel=1e-12)
    assert [float(r["lr/D"]) for r in rows] == lrs
    ck = load_checkpoint(tmp_path / "checkpoints" / "step_00000007.pt")
    for name in ("G", "D"):
        steps = {float(s["step"]) for s in ck["optimizers"][name]["state"].values()}
        assert steps == {7.0}  # Adam state kept across the halvings
    assert ck["recipe"]["controller"]["k"] == pytest.approx(float(rows[-1]["k_t"]), abs=0)
    assert HalvingSchedule(100_000, 8e-5, 2e-5)(299_999) == 0.25
    assert HalvingSchedule(0, 8e-5, 2e-5)(10**6) == 1.0


def _assert_equal(x, y, path="state"):
    if isinstance(x, torch.Tensor):
        assert torch.equal(x, y), path
    elif isinstance(x, dict):
        assert set(x) == set(y), path
        for k in x:
            _assert_equal(x[k], y[k], f"{path}/{k}")
    elif isinstance(x, (list, tuple)):
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _assert_equal(u, v, f"{path}[{i}]")
    elif isinstance(x, float) and math.isnan(x):
        assert isinstance(y, float) and math.isnan(y), path
    else:
        assert x == y, f"{path}: {x!r} != {y!r}"


def test_resume_with_k_t_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: Images())
    kw = dict(
        recipe="began", data="x", overrides=[*TINY, "beta_gmsm=1.0", "lambda_k=0.05", "k_init=0.5"]
    )
    assert train_main(out=str(tmp_path / "a"), max_steps=4, **kw) == 0
    assert train_main(out=str(tmp_path / "b"), max_steps=2, **kw) == 0
    mid = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_00000002.pt")
    assert mid["recipe"]["controller"]["k"] != 0.5  # k_t moved and is in the checkpoint
    assert train_main(out=str(tmp_path / "b"), max_steps=4, resume=str(tmp_path / "b"), **kw) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "step_00000004.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_00000004.pt")
    for key in ("modules", "optimizers", "recipe", "shared_rng"):
        _assert_equal(a[key], b[key], key)
    ra = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    rb = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    strip = lambda rows: [",".join(r.split(",")[:1] + r.split(",")[2:]) for r in rows]  # noqa: E731
    assert strip(ra) == strip(rb)  # every value but the wall time


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "override, key",
    [
        ("hparams.gamma=1.5", "hparams.gamma"),
        ("hparams.gamma=-0.1", "hparams.gamma"),
        ("hparams.beta_gmsm=-1", "hparams.beta_gmsm"),
        (
            "hparams.beta_l1=0",
            "hparams.beta_l1, hparams.beta_gmsm and hparams.beta_chrom are all 0",
        ),
        ("data.resolution=48", "data.resolution"),
        ("data.resolution=100", "data.resolution"),
        ("hparams.z_dim=0", "hparams.z_dim"),
        ("hparams.lr_floor=1", "hparams.lr_floor"),
    ],
)
def test_bad_options_fail_before_anything_is_written(tmp_path, monkeypatch, override, key):
    def no_data(data):
        raise AssertionError("the data must not be read before the options are checked")

    monkeypatch.setattr(train_main_mod, "build_training_dataset", no_data)
    out = tmp_path / "run"
    extra = ["hparams.beta_gmsm=0", "hparams.beta_chrom=0"] if "beta_l1=0" in override else []
    with pytest.raises(InputError, match=key.replace(".", r"\.").replace("(", r"\(")):
        train_main("began", data="builtin", out=str(out), max_steps=1,
                   overrides=[*TINY, *extra, override])  # fmt: skip
    assert not out.exists()


# ------------------------------------------------------------------ presets (Table 1)
#: BEGAN-IQA Table 1 and "Setup", typed in from the paper: size, gamma, (l1, GMSM, Chrom), N_z,
#: steps (18k for 2-3, 100k for 1 and 4-10, 300k for 11-12).
TABLE1 = {
    "m01": (64, 0.5, (1, 0, 0), 128, 100_000),
    "m02": (64, 0.5, (0, 1, 0), 128, 18_000),
    "m03": (64, 0.5, (0, 0, 1), 128, 18_000),
    "m04": (64, 0.5, (1, 1, 0), 128, 100_000),
    "m05": (64, 0.5, (1, 1, 1), 128, 100_000),
    "m06": (64, 0.5, (2, 1, 0), 128, 100_000),
    "m07": (64, 0.7, (1, 0, 0), 128, 100_000),
    "m08": (64, 0.7, (1, 1, 0), 128, 100_000),
    "m09": (64, 0.7, (1, 1, 1), 128, 100_000),
    "m10": (64, 0.7, (2, 1, 0), 128, 100_000),
    "m11": (128, 0.7, (1, 0, 0), 128, 300_000),
    "m12": (128, 0.7, (2, 1, 0), 256, 300_000),
    "scaled-gmsm-chrom": (64, 0.7, (2, 1, 1), 128, 100_000),
    "scaled-gmsm-halfchrom": (64, 0.7, (2, 1, 0.5), 128, 100_000),
}
DEMO_KEYS = {("train", "sample_every"), ("train", "checkpoint_every"),
             ("train", "checkpoint_every_minutes"), ("train", "keep_last"),
             ("data", "resolution"), ("data", "num_workers"), ("hparams", "channels"),
             ("hparams", "z_dim"), ("hparams", "h_dim")}  # fmt: skip


@pytest.mark.parametrize("key", [*sorted(TABLE1), ""])
def test_presets_hold_table1_and_the_setup(key):
    size, gamma, (b1, b2, b3), nz, steps = TABLE1[key or "m01"]  # "began": model 1, the default
    name = f"began-{key}" if key else "began"
    run = resolve_run_config("began" if not key else None, preset=None if not key else name)
    hp = run.hparams
    assert run.recipe == "began" and run.data.resolution == size
    assert (hp.gamma, hp.beta_l1, hp.beta_gmsm, hp.beta_chrom) == (gamma, b1, b2, b3)
    assert hp.z_dim == hp.h_dim == nz and run.train.max_steps == steps
    # "Setup": Adam (0.5, 0.999), lr 8e-5 halved every 100k steps (floor 2e-5), batch 16,
    # lambda_k 0.001, k_0 = 0; the authors' code: c on 0-255 values
    assert hp.lr == 8e-5 and hp.betas == (0.5, 0.999) and hp.lr_halve_every == 100_000
    assert hp.lr_floor == 2e-5 and hp.lambda_k == 0.001 and hp.k_init == 0.0
    assert run.train.batch_size == 16 and run.train.log_every == 1 and run.train.ema_decay == 0
    assert hp.c == 0.0026 and hp.c_scale == "8bit" and hp.update == "alternating"
    demo = resolve_run_config(None, preset=f"{name}-demo")
    diff = set()
    for section in ("train", "data", "hparams"):
        a, b = vars(getattr(run, section)), vars(getattr(demo, section))
        diff |= {(section, k) for k in a if a[k] != b[k]}
    assert diff <= DEMO_KEYS, diff - DEMO_KEYS
    assert demo.data.resolution == (64 if size == 128 else 32)
    assert demo.hparams.z_dim < nz and demo.hparams.channels < hp.channels
    assert f"{name}-demo" in available_presets()


# ------------------------------------------------------------------ the statistics file
def test_stats_by_hand(tmp_path):
    # 10 steps logged every step: l1_real = 0.1 * step, so over all steps M = 0.55 and
    # sigma = 0.1 * sqrt(99/12) (population); the last 10 % is step 10 alone
    rows = ["step,elapsed_s,l1_real,gmsm_real,chrom_real,l1_fake,m_global,k_t"]
    for s in range(1, 11):
        k = 0.0 if s in (6, 7) else 0.01 * s
        rows.append(f"{s},{s},{0.1 * s},0.5,{1.0 if s % 2 else 0.8},0.2,{2.0 - 0.1 * s},{k}")
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "config.toml").write_text(
        'recipe = "began"\n[hparams]\nbeta_l1 = 2.0\nbeta_gmsm = 1.0\nbeta_chrom = 0.0\n'
        "gamma = 0.7\n"
    )
    stats = write_began_stats(tmp_path)
    t2 = stats["table2"]
    assert t2["l1_M"] == pytest.approx(0.55) and t2["l1_sigma"] == pytest.approx(
        0.1 * math.sqrt(99 / 12)
    )
    assert t2["gmsm_M"] == pytest.approx(0.5) and t2["gmsm_sigma"] == pytest.approx(0.0, abs=1e-15)
    assert t2["chrom_M"] == pytest.approx(0.9) and t2["chrom_sigma"] == pytest.approx(0.1)
    assert stats["table2_last"]["l1_M"] == pytest.approx(1.0)
    assert stats["distances"]["gmsm_fake"] is None and stats["per_step"]
    c = stats["convergence"]
    assert c["m_global_first"] == pytest.approx(1.9) and c["m_global_last"] == pytest.approx(1.0)
    # second half = steps 6-10, k_t = 0 at steps 6 and 7
    assert c["m_global_decreased"] and c["k_zero_fraction_second_half"] == pytest.approx(0.4)
    assert stats["weights"] == {"l1": 2.0, "gmsm": 1.0, "chrom": 0.0} and stats["gamma"] == 0.7
    assert json.loads((tmp_path / "began_stats.json").read_text())["table2"] == t2
    # rows of 5 steps: the mean weighs each row by the steps it covers
    (tmp_path / "metrics.csv").write_text("step,l1_real\n5,0.2\n15,0.5\n")
    s2 = began_stats(read_metrics_csv(tmp_path / "metrics.csv"))
    assert s2["table2"]["l1_M"] == pytest.approx((5 * 0.2 + 10 * 0.5) / 15)
    assert not s2["per_step"]
