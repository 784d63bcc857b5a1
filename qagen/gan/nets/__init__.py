"""Generator/critic networks and the factory :func:`build_networks`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from qagen.gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from qagen.gan.nets.resnet import ResNetCritic, ResNetGenerator, resnet_layout
from qagen.registry import NETWORKS

__all__ = [
    "build_networks",
    "ResNetGenerator",
    "ResNetCritic",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "resnet_layout",
]


def build_networks(
    name: str,
    resolution: int,
    z_dim: int = 128,
    g_kwargs: Mapping[str, Any] | None = None,
    d_kwargs: Mapping[str, Any] | None = None,
) -> tuple[nn.Module, nn.Module]:
    """Build ``(generator, critic)`` by name.

    ``name`` is a pair of :data:`qagen.registry.NETWORKS`: ``'resnet'``: QAGAN / Banach-WGAN
    ResNet pair (32, 48, 64 px; ``lfovia/QAGANS``). ``'dcgan'``: Radford et al. 2016 (32, 64
    px). ``'began'`` (:mod:`qagen.methods.began.nets`): the BEGAN generator and autoencoder
    discriminator (8 * 2^k px; ``d_kwargs={'h_dim': 128, 'channels': 128}``). Extra
    constructor arguments go through
    ``g_kwargs`` / ``d_kwargs`` (e.g. ``g_kwargs={'always_batch_stats': True}``,
    ``d_kwargs={'norm': 'layer'}``).
    """
    g_cls, d_cls = NETWORKS.get(name)  # UnknownNameError listing the pairs
    generator = g_cls(resolution=resolution, z_dim=z_dim, **dict(g_kwargs or {}))
    critic = d_cls(resolution=resolution, **dict(d_kwargs or {}))
    return generator, critic
