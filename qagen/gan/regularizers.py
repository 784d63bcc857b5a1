"""StyleGAN2's regularisers (Karras et al., CVPR 2020): R1 (Mescheder et al. 2018) and the
path-length regulariser (sec. 3.2), both applied lazily (sec. 3.1: every ``k`` minibatches,
weighted by ``k``; the recipe decides when).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

__all__ = ["PathLength", "path_length_penalty", "r1_penalty"]


def r1_penalty(critic: Any, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R1 per image, logits)``: ``R1(x) = ||grad_x D(x)||^2`` on real images (Mescheder et
    al. 2018, eq. 9 without the ``gamma / 2``), with the graph kept for the backward pass."""
    x = real.detach().requires_grad_(True)
    logits = critic(x)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)), logits


class PathLength(NamedTuple):
    penalty: torch.Tensor  # [N] (|J_w^T y| - a)^2
    lengths: torch.Tensor  # [N] |J_w^T y|, detached
    mean: torch.Tensor  # the updated running mean a (detached scalar)


def path_length_penalty(
    images: torch.Tensor,
    ws: torch.Tensor,
    pl_mean: torch.Tensor,
    noise: torch.Tensor,
    decay: float = 0.01,
) -> PathLength:
    """The path-length penalty (StyleGAN2 eq. 4): ``(||J_w^T y||_2 - a)^2`` with ``y`` an image
    of N(0, 1) pixels scaled by ``1 / sqrt(H W)`` (``noise``, drawn by the caller), ``J_w^T y =
    grad_w sum(g(w) * y)``, the squared norm averaged over the ``num_ws`` copies of ``w``, and
    ``a`` the running mean of the lengths (``a <- a + decay (mean - a)``, from ``pl_mean``)."""
    if noise.shape != images.shape:
        raise ValueError(f"noise must have the images' shape {tuple(images.shape)}")
    y = noise / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    mean = pl_mean.to(lengths.dtype).lerp(lengths.detach().mean(), decay)
    return PathLength((lengths - mean).square(), lengths.detach(), mean.detach())
