"""DCGAN generator and discriminator (Radford, Metz, Chintala, ICLR 2016) for 32 and 64 px.

Generator: ``z -> ConvT4x4(stride 1) -> 4 x 4 x (ngf * 2**(L-1))``, then ``L - 1`` stride-2
ConvT4x4 halving the channels, each followed by BN and ReLU, and a last stride-2 ConvT4x4 to 3
channels with tanh (``L = log2(resolution) - 2``: 3 at 32 px, 4 at 64 px).

Discriminator: stride-2 Conv4x4 doubling the channels from ``ndf`` with LeakyReLU(0.2) (no
normalisation on the first layer, BN on the others), then a 4x4 valid conv to one logit, output
shape ``[N]`` (no sigmoid; use the softplus losses of :mod:`qagen.gan.objectives`).

Initialisation as in the paper: conv weights ``N(0, 0.02)``, normalisation scales
``N(1, 0.02)``, biases 0. ``d_norm='none'`` or ``'layer'`` (GroupNorm with one group: per-sample
normalisation over C x H x W, the "layer norm" WGAN-GP recommends) makes the discriminator usable
with gradient penalties.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["DCGANGenerator", "DCGANDiscriminator"]

_NORMS = ("batch", "layer", "none")


def _levels(resolution: int) -> int:
    if resolution not in (32, 64):
        raise ValueError(f"DCGAN resolution must be 32 or 64, got {resolution}")
    return int(math.log2(resolution)) - 2


def dcgan_init_(module: nn.Module) -> None:
    """Radford et al. 2016: conv weights ``N(0, 0.02)``; norm scales ``N(1, 0.02)``; biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """DCGAN generator ``z [N, z_dim] -> image [N, 3, R, R]`` in (-1, 1), ``R`` in {32, 64}."""

    def __init__(
        self, resolution: int = 64, z_dim: int = 100, ngf: int = 64, out_channels: int = 3
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.z_dim = z_dim
        levels = _levels(resolution)
        ch = ngf * 2 ** (levels - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(levels - 1):
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def sample_latent(
        self,
        n: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``z ~ N(0, I)`` of shape ``[n, z_dim]`` (the paper samples U(-1, 1); N(0, I) is common)."""
        if device is None:
            device = next(self.parameters()).device
        return torch.randn(n, self.z_dim, device=device, generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator ``image [N, 3, R, R] -> logit [N]``; ``norm`` in batch | layer | none."""

    def __init__(
        self, resolution: int = 64, ndf: int = 64, in_channels: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {list(_NORMS)}, got {norm!r}")
        self.resolution = resolution
        self.in_channels = in_channels
        levels = _levels(resolution)
        bias = norm == "none"
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=bias),
            nn.LeakyReLU(0.2, True),
        ]
        ch = ndf
        for _ in range(levels - 1):
            layers.append(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=bias))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(ch * 2))
            elif norm == "layer":
                layers.append(nn.GroupNorm(1, ch * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            ch *= 2
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0, bias=bias))
        self.net = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.resolution
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_channels, r, r):
            raise ValueError(
                f"x must have shape [N, {self.in_channels}, {r}, {r}], got {tuple(x.shape)}"
            )
        return self.net(x).flatten(1).squeeze(1)


#: the (generator, critic) pair of :func:`qagen.gan.nets.build_networks` (``qagen.registry.NETWORKS``)
NETWORK_PAIR = (DCGANGenerator, DCGANDiscriminator)
