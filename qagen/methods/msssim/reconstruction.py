"""Autoencoder runs for evaluation: the trained network, its held-out images and their
reconstructions (used by the ``msssim-ae`` experiment, the run reports and ``qagen study``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from qagen.errors import InputError

__all__ = [
    "held_out_dataset",
    "held_out_images",
    "load_autoencoder",
    "reconstruct",
    "reconstruction_scores",
]


def load_autoencoder(
    run_dir: str | Path, checkpoint: str | int = "last", device: str = "cpu"
) -> tuple[Any, Any]:
    """``(ConvAutoencoder in eval mode, RestoredRun)`` of an ``autoencoder`` run (the EMA copy
    when the run kept one, else the raw weights)."""
    from qagen.methods.msssim.recipe_autoencoder import Autoencoder
    from qagen.train import restore_run

    restored = restore_run(run_dir, checkpoint, device=device)
    if not isinstance(restored.recipe, Autoencoder):
        raise InputError(f"{run_dir} is a {restored.run.recipe!r} run, not an autoencoder run")
    net = restored.recipe.network(restored.ema)
    net.eval()
    return net, restored


def held_out_dataset(data: Any, split: str | None = None) -> tuple[Any, str]:
    """The dataset of a run's data configuration for its held-out split: ``test`` when the
    dataset has one, else the training split itself (said by the returned split name); values
    on [0, 1]."""
    from qagen.data import build_dataset

    if not data.spec:
        raise InputError("the run's configuration names no dataset (data.spec)")
    for s in [split] if split else ["test", data.split]:
        try:
            return build_dataset(data.spec, data.resolution, s, value_range=(0.0, 1.0)), s
        except InputError:
            if split:
                raise
    raise InputError(f"no usable split of {data.spec}")  # pragma: no cover


def held_out_images(
    data: Any, n: int, *, seed: int = 0, split: str | None = None
) -> tuple[torch.Tensor, str]:
    """``n`` grey images ``n x 1 x R x R`` on [0, 1] (BT.601 luma) drawn without replacement
    (seeded) from the held-out split, and the split's name."""
    from qagen.color import to_gray

    ds, used = held_out_dataset(data, split)
    n = min(int(n), len(ds))
    idx = np.random.default_rng(seed).choice(len(ds), size=n, replace=False)
    x = torch.stack([ds[int(i)] for i in sorted(idx)])
    return to_gray(x, gray="y"), used


@torch.no_grad()
def reconstruct(net: Any, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``net(images)`` in batches, on the network's device, returned on the CPU."""
    p = next(net.parameters())
    out = [
        net(images[i : i + batch_size].to(p.device, p.dtype)).float().cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out)


def reconstruction_scores(net: Any, images: torch.Tensor) -> tuple[dict[str, Any], torch.Tensor]:
    """The reconstruction quality of ``images`` (``N x 1 x R x R`` on [0, 1]) through ``net``:
    ``({"psnr", "psnr_std", "ms_ssim", "ms_ssim_std", "ms_ssim_scales", "n"}, reconstructions)``.

    PSNR in dB per image (MSE on [0, 1], floored at 1e-12), then the mean over the images;
    MS-SSIM with the scales the training loss takes at this size
    (:func:`~qagen.methods.msssim.recipe_autoencoder.auto_msssim_scales`, at least 1), the mean
    over the images. The reconstructions are clamped to [0, 1]. Higher is better for both."""
    from qagen.iqa.structural import ms_ssim
    from qagen.methods.msssim.recipe_autoencoder import auto_msssim_scales

    rec = reconstruct(net, images).clamp(0, 1)
    x = images.double()
    mse = ((rec.double() - x) ** 2).mean(dim=(1, 2, 3))
    psnr = -10 * torch.log10(mse.clamp_min(1e-12))
    k = max(1, auto_msssim_scales(images.shape[-1]))
    ms = ms_ssim(rec.double(), x, 1.0, scales=k)
    scores = {
        "psnr": float(psnr.mean()), "psnr_std": float(psnr.std(unbiased=False)),
        "ms_ssim": float(ms.mean()), "ms_ssim_std": float(ms.std(unbiased=False)),
        "ms_ssim_scales": k, "n": int(images.shape[0]),
    }  # fmt: skip
    return scores, rec
