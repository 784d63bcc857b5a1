"""qagen.train.restore_run: a run restored from a checkpoint generates exactly what the trainer's
own EMA and raw generators generate at that step (the trainer is kept in memory and asked
directly), and the sample grid it wrote is reproduced from the restored run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from qagen.train import Trainer, resolve_run_config, restore_run

#: the QAGAN-SSIM recipe at its smallest (the ResNet generator keeps batch statistics when
#: sampling, so the batch composition matters as it does in real runs)
TINY = [
    "g_channels=8", "d_channels=8", "n_critic=1", "train.batch_size=4", "train.device=cpu",
    "train.deterministic=true", "train.progress=false", "train.tensorboard=false",
    "train.log_every=1", "train.sample_every=2", "train.n_samples=6", "train.checkpoint_every=2",
    "train.keep_last=0", "train.ema_decay=0.5", "data.num_workers=0",
]  # fmt: skip


class EightBit(Dataset):
    def __init__(self, n: int = 16) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 256, (n, 3, 32, 32), generator=g).float() / 127.5 - 1.0

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, object]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("restore") / "run"
    run = resolve_run_config("qagan-ssim", overrides=TINY, max_steps=4)
    trainer = Trainer(run, EightBit(), out)
    trainer.fit()
    torch.set_num_threads(before)
    return trainer, out


def _grid_bytes(images: torch.Tensor) -> np.ndarray:
    """The 8-bit grid torchvision's save_image writes (the trainer's sample PNGs)."""
    from torchvision.utils import make_grid

    grid = make_grid(images, nrow=int(np.ceil(np.sqrt(images.shape[0]))))
    return grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()


def test_restored_run_generates_the_trainers_samples(trained) -> None:
    trainer, out = trained
    with torch.no_grad():  # the trainer's own modules, asked directly
        ema_expected = trainer.recipe.sample(trainer.fixed_inputs, dict(trainer.ema.modules))
        raw_expected = trainer.recipe.sample(trainer.fixed_inputs, {})
    rng_before = torch.get_rng_state()
    restored = restore_run(out)  # "last": step 4
    assert torch.equal(torch.get_rng_state(), rng_before)  # the global RNG is left alone
    assert (
        restored.step == 4 and restored.has_ema and restored.checkpoint.name == "step_00000004.pt"
    )
    assert restored.run == trainer.run and restored.recipe.cfg == trainer.run.hparams
    # the trainer's fixed inputs, rebuilt by the same construction code
    torch.testing.assert_close(restored.sample_inputs(6), trainer.fixed_inputs, atol=0, rtol=0)
    # same weights, same inputs, same batch, same CPU kernels: identical images
    ema = restored.generate(6, seed=None, ema=True, batch_size=6)
    raw = restored.generate(6, seed=None, ema=False, batch_size=6)
    torch.testing.assert_close(ema, ema_expected.clamp(0, 1), atol=0, rtol=0)
    torch.testing.assert_close(raw, raw_expected.clamp(0, 1), atol=0, rtol=0)
    assert (ema - raw).abs().max() > 1e-4  # EMA decay 0.5: not the raw weights
    # the newest grid the trainer wrote is the restored EMA generator's output, byte for byte
    png = np.asarray(Image.open(out / "samples" / "step_00000004.png").convert("RGB"))
    np.testing.assert_array_equal(png, _grid_bytes(ema))
    # generating twice gives the same images (sampling has no side effects)
    torch.testing.assert_close(restored.generate(6, seed=None, batch_size=6), ema, atol=0, rtol=0)


def test_restore_other_checkpoints_and_errors(trained, tmp_path) -> None:
    _, out = trained
    early = restore_run(out, 2)
    assert early.step == 2
    png = np.asarray(Image.open(out / "samples" / "step_00000002.png").convert("RGB"))
    np.testing.assert_array_equal(png, _grid_bytes(early.generate(6, seed=None, batch_size=6)))
    # seeded draws: the same seed gives the same images
    a = early.generate(5, seed=7, batch_size=5)
    assert a.shape == (5, 3, 32, 32) and torch.equal(a, early.generate(5, seed=7, batch_size=5))
    assert not torch.equal(a, early.generate(5, seed=8, batch_size=5))
    with pytest.raises(FileNotFoundError, match="steps available: 2, 4"):
        restore_run(out, 3)
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        restore_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        (tmp_path / "empty").mkdir()
        restore_run(tmp_path / "empty")
