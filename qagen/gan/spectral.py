"""Spectral normalisation of a network's layers (Miyato, Kataoka, Koyama, Yoshida, ICLR 2018).

Each weight ``W`` of a convolution or dense layer, reshaped to the matrix
``W_mat = W.reshape(out_channels, -1)`` (``[out, in * kh * kw]``, the paper's choice for
convolutions, section 2.1 and appendix C.1), is replaced in the forward pass by::

    W_SN = W / sigma(W),    sigma(W) ~= u^T W_mat v     (Algorithm 1)

where ``u`` and ``v`` are kept from one call to the next and refined by one power iteration per
training-mode forward pass (``v <- W^T u / ||W^T u||``, ``u <- W v / ||W v||``). The layer map is
then 1-Lipschitz for the matrix ``W_mat`` (its largest singular value is 1); a strided or
padded convolution's operator norm may differ from that of ``W_mat`` by a small factor (the
paper's bound, appendix C.1, and Gouk et al. 2018), as in the authors' Chainer code.

The parametrisation is PyTorch's ``torch.nn.utils.parametrizations.spectral_norm`` (15 power
iterations when registered, then ``n_power_iterations`` per training forward; in ``eval()`` the
stored ``u, v`` are used unchanged). Its state (the original weight and ``u``, ``v``) is part of
the module's ``state_dict``, so checkpoints resume exactly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from qagen.errors import InputError

__all__ = ["spectral_normalize", "normalized_layers", "sigma_estimate", "weight_matrix"]

_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def spectral_normalize(module: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Spectrally normalise, in place, the weight of every ``Conv2d``, ``ConvTranspose2d`` and
    ``Linear`` of ``module`` (SNGAN: every layer of the discriminator); returns ``module``."""
    if (
        isinstance(n_power_iterations, bool)
        or not isinstance(n_power_iterations, int)
        or (n_power_iterations < 1)
    ):
        raise InputError(f"n_power_iterations must be an int >= 1, got {n_power_iterations!r}")
    for m in list(module.modules()):
        if isinstance(m, _LAYERS) and not parametrize.is_parametrized(m, "weight"):
            dim = 1 if isinstance(m, nn.ConvTranspose2d) else 0
            spectral_norm(m, n_power_iterations=n_power_iterations, dim=dim)
    return module


def normalized_layers(module: nn.Module) -> dict[str, nn.Module]:
    """``{name: layer}`` of the spectrally normalised layers of ``module``."""
    return {
        name: m
        for name, m in module.named_modules()
        if isinstance(m, _LAYERS) and parametrize.is_parametrized(m, "weight")
    }


def weight_matrix(layer: nn.Module, normalized: bool = True) -> torch.Tensor:
    """The layer's weight as the matrix ``[out, in * kh * kw]`` the power iteration works on:
    ``W_SN`` (``normalized=True``, what the forward pass uses) or the raw ``W``."""
    if normalized:
        w = layer.weight
    else:
        w = layer.parametrizations.weight.original
    if isinstance(layer, nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    return w.detach().reshape(w.shape[0], -1)


def sigma_estimate(layer: nn.Module) -> torch.Tensor:
    """The power-iteration estimate ``u^T W v`` of the raw weight's largest singular value."""
    sn = layer.parametrizations.weight[0]
    w = weight_matrix(layer, normalized=False)
    return torch.dot(sn._u, torch.mv(w, sn._v))
