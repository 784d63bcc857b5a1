"""Sample diversity as the mean MS-SSIM between random pairs of images (Odena, Olah, Shlens 2017,
"Conditional image synthesis with auxiliary classifier GANs", section 4.2).

Odena et al. measure how *similar* the images of a set are to each other: the mean MS-SSIM
(Wang et al. 2003) over random pairs of distinct images. A diverse set scores low (real photos:
near 0 to 0.2); a generator in mode collapse, whose samples are minor variations of one image,
scores near 1. The number means something only beside the same measure on real images of the same
size (:func:`diversity_record` computes both).

Settings (qagen decisions, documented in the records): MS-SSIM of each colour channel, then the
mean over R, G, B (as TensorFlow's ``tf.image.ssim_multiscale``, which Odena et al. used, and
``pytorch_msssim``), data range 1, an 11 x 11 Gaussian window (sigma 1.5) and as many scales as
fit the image (at most 5: 161 px and larger; 2 at 32 px, 3 at 64 px, 4 at 128 px; the weights of
the scales used are renormalised, see :func:`qagen.iqa.ms_ssim`), ``negative="relu"`` (negative
contrast-structure terms count as 0). Pairs are drawn with a seeded generator, ``i != j``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from qagen.errors import InputError
from qagen.iqa.structural import ms_ssim, ms_ssim_min_size

__all__ = [
    "diversity",
    "diversity_record",
    "ms_ssim_scales_for",
    "pairwise_ms_ssim",
    "random_pairs",
]

WIN_SIZE = 11


def ms_ssim_scales_for(size: int, win_size: int = WIN_SIZE, max_scales: int = 5) -> int:
    """The most MS-SSIM scales (``<= max_scales``) whose coarsest scale still fits the window
    for images of side ``size``; :class:`qagen.errors.InputError` when not even one does."""
    for s in range(max_scales, 0, -1):
        if size >= ms_ssim_min_size(s, win_size):
            return s
    raise InputError(
        f"images of side {size} px are smaller than the {win_size} x {win_size} MS-SSIM window"
    )


def random_pairs(n_images: int, n_pairs: int, seed: int = 0) -> torch.Tensor:
    """``[n_pairs, 2]`` indices of random pairs of distinct images (seeded)."""
    if n_images < 2:
        raise InputError(f"diversity needs at least 2 images, got {n_images}")
    if n_pairs < 1:
        raise InputError(f"n_pairs must be >= 1, got {n_pairs}")
    g = torch.Generator().manual_seed(int(seed))
    i = torch.randint(0, n_images, (n_pairs,), generator=g)
    j = (i + torch.randint(1, n_images, (n_pairs,), generator=g)) % n_images  # j != i
    return torch.stack([i, j], dim=1)


@torch.no_grad()
def pairwise_ms_ssim(
    images: torch.Tensor,
    pairs: torch.Tensor,
    *,
    scales: int | None = None,
    win_size: int = WIN_SIZE,
    batch_size: int = 256,
) -> torch.Tensor:
    """MS-SSIM of each pair ``(images[i], images[j])`` (``images`` N x C x H x W in [0, 1]);
    ``scales=None``: :func:`ms_ssim_scales_for` the image size."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise InputError(f"images must be an N x C x H x W tensor, got {type(images).__name__}")
    images = images.detach().float()
    if scales is None:
        scales = ms_ssim_scales_for(min(images.shape[-2:]), win_size)
    out = []
    for lo in range(0, pairs.shape[0], batch_size):
        p = pairs[lo : lo + batch_size]
        a, b = images[p[:, 0]], images[p[:, 1]]
        per_channel = [
            ms_ssim(
                a[:, c : c + 1],
                b[:, c : c + 1],
                1.0,
                scales=scales,
                win_size=win_size,
                gray="per_channel",
            )  # fmt: skip
            for c in range(a.shape[1])
        ]
        out.append(torch.stack(per_channel, dim=1).mean(dim=1))
    return torch.cat(out)


def diversity(
    images: torch.Tensor, n_pairs: int = 500, seed: int = 0, *, win_size: int = WIN_SIZE
) -> dict[str, Any]:
    """Odena et al.'s diversity of a set: ``{"mean", "std", "values", "n_pairs", "n_images",
    "scales", "win_size"}`` of the MS-SSIM over ``n_pairs`` random pairs (lower = more diverse)."""
    pairs = random_pairs(images.shape[0], n_pairs, seed)
    scales = ms_ssim_scales_for(min(images.shape[-2:]), win_size)
    v = pairwise_ms_ssim(images, pairs, scales=scales, win_size=win_size).double()
    return {
        "mean": float(v.mean()),
        "std": float(v.std(unbiased=False)) if v.numel() > 1 else 0.0,
        "values": [float(t) for t in v],
        "n_pairs": int(v.numel()),
        "n_images": int(images.shape[0]),
        "scales": scales,
        "win_size": win_size,
    }


def diversity_record(
    generated: torch.Tensor,
    real: torch.Tensor | None = None,
    n_pairs: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Diversity of ``generated`` and, when given, of ``real`` images (same pairs count and
    seed): ``{"generated": {...}, "real": {...} | None, "ratio": generated / real mean,
    "protocol": {...}}``. Lower MS-SSIM = more diverse; a generated mean far above the real one
    is mode collapse."""
    gen = diversity(generated, n_pairs, seed)
    ref = diversity(real, n_pairs, seed) if real is not None else None
    ratio = None
    if ref is not None and ref["mean"] > 0 and math.isfinite(ref["mean"]):
        ratio = gen["mean"] / ref["mean"]
    return {
        "generated": gen,
        "real": ref,
        "ratio": ratio,
        "protocol": {
            "measure": "mean MS-SSIM between random pairs of distinct images (Odena et al. 2017)",
            "ms_ssim": f"mean over the colour channels of each channel's MS-SSIM, data range 1, {gen['win_size']}x{gen['win_size']} "
            f"Gaussian window (sigma 1.5), {gen['scales']} scale(s)",
            "n_pairs": n_pairs,
            "seed": seed,
            "better": "lower is more diverse; compare with the real images' value",
        },
    }
