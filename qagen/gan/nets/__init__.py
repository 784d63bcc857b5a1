"""Generator/critic networks and the factory :func:`build_networks`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from qagen.gan.nets.began import (
    BEGANAutoencoder,
    BEGANDecoder,
    BEGANEncoder,
    BEGANGenerator,
    began_levels,
)
from qagen.gan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from qagen.gan.nets.resnet import ResNetCritic, ResNetGenerator, resnet_layout

__all__ = [
    "build_networks",
    "NETWORKS",
    "ResNetGenerator",
    "ResNetCritic",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "resnet_layout",
    "BEGANAutoencoder",
    "BEGANDecoder",
    "BEGANEncoder",
    "BEGANGenerator",
    "began_levels",
]

#: name -> (generator class, critic class)
NETWORKS: Mapping[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "resnet": (ResNetGenerator, ResNetCritic),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "began": (BEGANGenerator, BEGANAutoencoder),
}


def build_networks(
    name: str,
    resolution: int,
    z_dim: int = 128,
    g_kwargs: Mapping[str, Any] | None = None,
    d_kwargs: Mapping[str, Any] | None = None,
) -> tuple[nn.Module, nn.Module]:
    """Build ``(generator, critic)`` by name.

    ``'resnet'``: QAGAN / Banach-WGAN ResNet pair (32, 48, 64 px; ``lfovia/QAGANS``).
    ``'dcgan'``: Radford et al. 2016 (32, 64 px). ``'began'``: the BEGAN generator and
    autoencoder discriminator (8 * 2^k px; ``d_kwargs={'h_dim': 128, 'channels': 128}``). Extra constructor arguments go through
    ``g_kwargs`` / ``d_kwargs`` (e.g. ``g_kwargs={'always_batch_stats': True}``,
    ``d_kwargs={'norm': 'layer'}``).
    """
    try:
        g_cls, d_cls = NETWORKS[name]
    except KeyError:
        raise ValueError(f"network name must be one of {sorted(NETWORKS)}, got {name!r}") from None
    generator = g_cls(resolution=resolution, z_dim=z_dim, **dict(g_kwargs or {}))
    critic = d_cls(resolution=resolution, **dict(d_kwargs or {}))
    return generator, critic
