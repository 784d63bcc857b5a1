"""The stylegan2 recipe: lazy R1 and path length at their intervals and weights, the lazy Adam
settings, style mixing draws, and a few trainer steps with the SSIM and NIQE critic penalties."""

from __future__ import annotations

import math

import pytest
import torch

from qagen.train import TrainContext, Trainer, get_recipe, load_checkpoint, resolve_run_config
from qagen.train.stylegan2 import lazy_adam_settings

#: a tiny StyleGAN2 at 8 px (channels 8), batch 4
TINY = [
    "z_dim=8", "w_dim=8", "mapping_layers=1", "channel_base=32", "channel_max=8",
    "mbstd_group=2", "data.resolution=8", "train.batch_size=4", "train.device=cpu",
    "train.deterministic=true", "train.progress=false", "train.tensorboard=false",
    "train.log_every=1", "train.sample_every=2", "train.n_samples=4", "train.checkpoint_every=3",
    "train.keep_last=0", "data.num_workers=0",
]  # fmt: skip


class Images(torch.utils.data.Dataset):
    def __init__(self, n: int = 16, size: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 3, size, size, generator=g) * 2 - 1

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def _recipe(*sets: str, name: str = "stylegan2"):
    run = resolve_run_config(name, data="x", overrides=TINY + list(sets))
    ctx = TrainContext(
        run, device=torch.device("cpu"), rank=0, world_size=1, local_rank=0, dataset=Images(),
        generator=torch.Generator().manual_seed(0), batches_per_epoch=4,
    )  # fmt: skip
    return get_recipe(name)(run.hparams, ctx)


def _batches():
    data = Images()
    while True:
        for i in range(0, 16, 4):
            yield data.x[i : i + 4]


def test_lazy_regularisation_intervals_and_weights():
    rec = _recipe("d_reg_interval=4", "g_reg_interval=3", "r1_gamma=2.0", "pl_weight=0.5",
                  "style_mixing_prob=0.5")  # fmt: skip
    updates: list[tuple[str, float]] = []
    orig = rec._update

    def spy(name, loss):
        updates.append((name, float(loss.detach())))
        orig(name, loss)

    rec._update = spy
    r1_steps, pl_steps, batches = [], [], _batches()
    for step in range(7):
        updates.clear()
        out = rec.train_step(batches, step)
        if "r1" in out:
            r1_steps.append(step)
            # the separate D update: r1 * gamma / 2 * interval
            assert updates[1] == ("D", pytest.approx(float(out["r1"]) * 2.0 / 2 * 4, rel=1e-5))
        if "pl_penalty" in out:
            pl_steps.append(step)
            assert updates[-1] == ("G", pytest.approx(float(out["pl_penalty"]) * 0.5 * 3,
                                                      rel=1e-5))  # fmt: skip
        assert len(updates) == 2 + ("r1" in out) + ("pl_penalty" in out)
    assert r1_steps == [0, 4] and pl_steps == [0, 3, 6]
    assert float(rec.pl_mean) > 0  # the running mean a of the path lengths moved from 0


def test_lazy_adam_settings_and_mixing_draws():
    lr, betas = lazy_adam_settings(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.0025 * 16 / 17) and betas[1] == pytest.approx(0.99 ** (16 / 17))
    assert lazy_adam_settings(0.1, (0.5, 0.9), 0) == (0.1, (0.5, 0.9))
    rec = _recipe("d_reg_interval=16", "g_reg_interval=4", "lr=0.0025")
    assert rec._opts["D"].param_groups[0]["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert rec._opts["G"].param_groups[0]["betas"][1] == pytest.approx(0.99**0.8)
    always = _recipe("style_mixing_prob=1.0")
    cutoffs = {always.mixing(4)["cutoff"] for _ in range(40)}
    assert cutoffs == set(range(1, always.generator.num_ws))  # 1..num_ws-1, all drawn
    never = _recipe("style_mixing_prob=0.0")
    assert never.mixing(4) == {}


@pytest.mark.parametrize("name", ["stylegan2", "stylegan2-qmf"])
def test_trains_with_the_ssim_and_niqe_penalties(tmp_path, name):
    sets = ["ssim_weight=0.1", "niqe_weight=0.1", "niqe.warmup_steps=2", "pl_weight=2.0",
            "g_reg_interval=2", "style_mixing_prob=0.9"]  # fmt: skip
    if name == "stylegan2-qmf":  # the quality maps need 16 px (FSIM), 2 MS-SSIM scales
        sets += ["data.resolution=16", "ms_ssim_scales=2", "channel_base=64", "heads=2"]
    run = resolve_run_config(name, data="x", overrides=TINY + sets, max_steps=3)
    result = Trainer(run, Images(size=16 if "qmf" in name else 8), tmp_path).fit()
    assert result.step == 3
    assert all(math.isfinite(v) for v in result.metrics.values())
    assert {"d_loss", "g_loss", "ssim_gp", "niqe_gp"} <= set(result.metrics)
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "step_00000003.pt")
    assert "niqe" in ckpt["recipe"] and "pl_mean" in ckpt["recipe"] and ckpt["ema"]
    assert (tmp_path / "samples").is_dir()


def test_resume_is_exact(tmp_path, monkeypatch):
    """4 steps straight == 2 steps + resume + 2 steps, bit for bit: the shared noise stream, the
    path-length mean and the lazy-regularisation phase all survive the checkpoint."""
    import qagen.train.main as train_main_mod
    from qagen.train import train_main

    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: Images())
    sets = TINY + ["pl_weight=2.0", "g_reg_interval=3", "d_reg_interval=3",
                   "style_mixing_prob=0.5", "train.checkpoint_every=2"]  # fmt: skip
    kw = dict(recipe="stylegan2", data="x", overrides=sets)
    assert train_main(out=str(tmp_path / "a"), max_steps=4, **kw) == 0
    assert train_main(out=str(tmp_path / "b"), max_steps=2, **kw) == 0
    assert train_main(out=str(tmp_path / "b"), max_steps=4, resume=str(tmp_path / "b"), **kw) == 0
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "step_00000004.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "step_00000004.pt")
    for key in ("modules", "ema", "optimizers", "recipe"):
        _assert_equal(a[key], b[key], key)
    assert float(a["recipe"]["pl_mean"]) > 0


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
