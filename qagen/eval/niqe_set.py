"""NIQE of a set of small generated images (``niqe_set``), as ``qagen eval`` reports it.

NIQE's LIVE release scores 96 x 96 blocks, and a 32 x 32 GAN sample holds none. Here the block
is fitted to the image size (:func:`niqe_block_size`), the 36 features of every block of every
image are pooled into **one** Gaussian for the set (QAGAN's batch pooling), and its NIQE
distance to the LIVE pristine model is the set's value. Per-image NIQE at the same block size is
reported beside it: with only four blocks per 32 x 32 image, a per-image test covariance has
rank at most 3 in 36 dimensions, so per-image values are large and noisy and are not on the
scale of the pooled value (Mittal, Soundararajan and Bovik 2013, ``computequality.m``).
"""

from __future__ import annotations

from typing import Any

import torch

from qagen.errors import InputError
from qagen.eval._progress import progress as _progress

__all__ = ["NIQE_MAX_BLOCK", "niqe_block_size", "niqe_set"]

#: Largest NIQE block side (the LIVE release's 96).
NIQE_MAX_BLOCK = 96


def niqe_block_size(height: int, width: int) -> int:
    """NIQE block side for ``height x width`` images: the largest even number <= min(H, W) / 2,
    capped at the release's 96 (32x32 -> 16, 64x64 -> 32, 128x128 -> 64, >= 192 -> 96).

    Every image then holds at least 2 x 2 blocks at scale 1 (so a per-image NIQE is defined),
    and the scale-2 blocks keep at least 4 x 4 pixels."""
    b = min(NIQE_MAX_BLOCK, (min(int(height), int(width)) // 2) // 2 * 2)
    if b < 4:
        raise InputError(f"images of {height}x{width} are too small for NIQE (need >= 8x8)")
    return b


def _niqe_features(
    x: torch.Tensor, block: int, batch_size: int, desc: str = "", progress: bool = False
) -> tuple[torch.Tensor, ...]:
    from qagen.color import rgb_to_gray
    from qagen.iqa.naturalness import niqe_features

    feats, valid = [], []
    starts = range(0, x.shape[0], batch_size)
    for lo in _progress(starts, desc=desc, total=len(starts), enabled=progress):
        b = x[lo : lo + batch_size].double()
        g = rgb_to_gray(b, "rgb2gray", 1.0) * 255.0 if b.shape[1] == 3 else b * 255.0
        f = niqe_features(g, block)
        feats.append(f.features)
        valid.append(f.valid)
    return torch.cat(feats), torch.cat(valid)


class _OneThread:
    """Run small batched linear algebra (many 36 x 36 pseudo-inverses) on one thread: with
    several threads on a busy machine the batched eigendecompositions are 100x slower."""

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)


def _niqe_scores(feats: torch.Tensor, valid: torch.Tensor, model: Any) -> dict:
    with _OneThread():
        return _niqe_scores_impl(feats, valid, model)


def _niqe_scores_impl(feats: torch.Tensor, valid: torch.Tensor, model: Any) -> dict:
    from qagen.iqa.naturalness import mvg_distance, mvg_fit

    mu_p, cov_p = model.mu, model.cov
    mu_i, cov_i = mvg_fit(feats, valid)  # one test model per image
    per_image = mvg_distance(mu_p, cov_p, mu_i, cov_i).double()
    n, b, d = feats.shape
    mu_s, cov_s = mvg_fit(feats.reshape(1, n * b, d), valid.reshape(1, n * b, d))
    pooled = float(mvg_distance(mu_p, cov_p, mu_s, cov_s)[0])
    return {
        "value": pooled,
        "per_image_mean": float(per_image.mean()),
        "per_image_std": float(per_image.std(unbiased=False)),
        "n_blocks": int(n * b),
        "_mvg": (mu_s, cov_s),
    }


def niqe_set(
    fake: torch.Tensor,
    real: torch.Tensor | None = None,
    *,
    block_size: int | None = None,
    batch_size: int = 256,
    progress: bool = False,
) -> dict:
    """NIQE of a set of (small) generated images, against the LIVE pristine model.

    The 36 NIQE features (:func:`qagen.iqa.naturalness.niqe_features`, MATLAB ``rgb2gray`` on 8-bit
    values) of every non-overlapping ``block_size`` block (default :func:`niqe_block_size`) of
    every image are pooled into **one** test Gaussian for the set, and ``value`` is its NIQE
    distance to the LIVE pristine model (lower is better). A 32x32 image has only four 16x16
    blocks, so a per-image test covariance has rank <= 3 in 36 dimensions and per-image NIQE is
    noisy; pooling N x 4 blocks gives a full-rank, stable estimate (the batch pooling QAGAN's
    NIQE penalty uses). The mean and standard deviation of the per-image NIQE at the same block
    size are reported too. With ``real``, the same numbers for the real images (``real``) and
    the NIQE distance between the two pooled Gaussians (``fake_vs_real``, QMF eq. 6) are added.

    The LIVE model was fitted on 96x96 blocks of full-size photographs: at other block sizes the
    values are not comparable with published NIQE numbers, only with each other (same block
    size): compare the generated set with the real set. ``progress`` shows a bar per set.
    """
    from qagen.iqa.naturalness import NIQEModel, mvg_distance

    if fake.dim() != 4:
        raise InputError(f"fake must be N x C x H x W, got shape {tuple(fake.shape)}")
    h, w = fake.shape[-2:]
    block = int(block_size) if block_size is not None else niqe_block_size(h, w)
    model = NIQEModel.official()
    f = _niqe_scores(
        *_niqe_features(fake, block, batch_size, "NIQE features of the generated images", progress),
        model,
    )
    mvg_f = f.pop("_mvg")
    rec: dict = {"metric": "niqe", **f}
    protocol = {
        "lower_is_better": True,
        "pristine_model": f"LIVE release modelparameters.mat (fitted at block {model.block_size})",
        "features": "LIVE NIQE (36 per block, 2 scales), MATLAB rgb2gray on 8-bit values",
        "block_size": block,
        "blocks_per_image": int((h // block) * (w // block)),
        "value": "NIQE of the set: features of all blocks of all images pooled into one Gaussian",
        "per_image": "mean and std of per-image NIQE at the same block size",
        "comparable_with": "NIQE at the same block size only (not published full-size NIQE)",
        "n_fake": int(fake.shape[0]),
    }
    if real is not None:
        r = _niqe_scores(
            *_niqe_features(real, block, batch_size, "NIQE features of the real images", progress),
            model,
        )
        mvg_r = r.pop("_mvg")
        rec["real"] = r
        with _OneThread():
            rec["fake_vs_real"] = float(mvg_distance(*mvg_f, *mvg_r)[0])
        protocol["n_real"] = int(real.shape[0])
        protocol["fake_vs_real"] = "NIQE distance between the pooled fake and real Gaussians"
    rec["protocol"] = protocol
    return rec
