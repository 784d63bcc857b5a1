"""BEGAN networks (Berthelot, Schumm, Metz 2017), as used by BEGAN-IQA (Vertolli & Davies 2017).

The discriminator is an autoencoder; the generator has the structure of its decoder with its
own weights (BEGAN section 3.5; BEGAN-IQA "Model architecture"). For an image of side
``R = 8 * 2**L`` (``L`` down-samplings: 3 at 64 px, 4 at 128 px) and ``n`` filters:

**Encoder** ``x [N, 3, R, R] -> h [N, N_h]``::

    conv3x3(3 -> n) + ELU
    for level i = 1 .. L + 1 (sides R, R/2, ..., 8):
        conv3x3(-> i*n) + ELU, conv3x3(i*n -> i*n) + ELU          (filters n, 2n, 3n, ...)
        if i <= L: conv3x3 stride 2 (i*n -> i*n) + ELU            (down-sampling)
    flatten the 8 x 8 x (L+1)n map, linear -> N_h                 (no non-linearity)

**Decoder / generator** ``h [N, N_h] (or z [N, N_z]) -> image [N, 3, R, R]``::

    linear N_h -> 8 x 8 x n                                        (no non-linearity)
    for level i = 1 .. L + 1: conv3x3(n -> n) + ELU twice, then nearest x2 if i <= L
    conv3x3(n -> 3)                                                (no output activation)

This is the layout of the BEGAN reference code that the BEGAN-IQA authors trained
(``carpedm20/BEGAN-tensorflow`` ``models.py``, kept in ``MichaelOVertolli/Tensorflow-ConnectorGraph``):
the stride-2 convolution keeps the channel count and the next level's first convolution grows
it; the 8 x 8 bottleneck also has its pair of convolutions. All convolutions are 3 x 3 with
padding 1 ("same") and a bias. Initialisation as that code's TF-slim layers: Glorot-uniform
weights, zero biases.

``output_activation``: ``"none"`` (the reference code: the last convolution is linear, images
outside [-1, 1] are possible and are clamped only for display) or ``"tanh"`` (the
``anantzoid/BEGAN-pytorch`` port). ``z ~ U(-1, 1)^{N_z}`` (:meth:`BEGANGenerator.sample_latent`).
"""

from __future__ import annotations

import torch
from torch import nn

from qagen.errors import InputError

__all__ = [
    "BEGANAutoencoder",
    "BEGANDecoder",
    "BEGANEncoder",
    "BEGANGenerator",
    "began_levels",
]

_ACTIVATIONS = ("none", "tanh")


def began_levels(resolution: int, name: str = "resolution") -> int:
    """Number of down-samplings ``L`` for an image side ``resolution = 8 * 2**L`` (``L >= 0``);
    :class:`qagen.errors.InputError` naming ``name`` for any other side."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
        raise InputError(
            f"{name} must be 8 * 2^k pixels (8, 16, 32, 64, 128, ...), got {resolution!r}"
        )
    levels = (resolution // 8).bit_length() - 1
    if 8 * 2**levels != resolution:
        raise InputError(
            f"{name} must be 8 * 2^k pixels (8, 16, 32, 64, 128, ...), got {resolution}"
        )
    return levels


def _check_positive(**values: int) -> None:
    for key, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{key} must be a positive integer, got {v!r}")


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, 1)


def _glorot_init_(module: nn.Module) -> None:
    """TF-slim defaults of the reference code: Glorot-uniform weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class BEGANEncoder(nn.Module):
    """The encoder of the BEGAN discriminator, ``[N, 3, R, R] -> [N, h_dim]`` (module docstring)."""

    def __init__(
        self, resolution: int = 64, h_dim: int = 128, channels: int = 128, in_channels: int = 3
    ) -> None:
        super().__init__()
        _check_positive(h_dim=h_dim, channels=channels, in_channels=in_channels)
        self.resolution, self.h_dim, self.channels = resolution, h_dim, channels
        self.levels = began_levels(resolution)
        layers: list[nn.Module] = [_conv(in_channels, channels), nn.ELU()]
        prev = channels
        for i in range(1, self.levels + 2):
            ch = channels * i
            layers += [_conv(prev, ch), nn.ELU(), _conv(ch, ch), nn.ELU()]
            if i <= self.levels:
                layers += [_conv(ch, ch, stride=2), nn.ELU()]
            prev = ch
        self.features = nn.Sequential(*layers)
        self.out_channels = prev
        self.fc = nn.Linear(8 * 8 * prev, h_dim)
        _glorot_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


class BEGANDecoder(nn.Module):
    """The BEGAN decoder, ``[N, in_dim] -> [N, 3, R, R]`` (module docstring); also the
    generator's structure."""

    def __init__(
        self,
        resolution: int = 64,
        in_dim: int = 128,
        channels: int = 128,
        out_channels: int = 3,
        output_activation: str = "none",
    ) -> None:
        super().__init__()
        _check_positive(in_dim=in_dim, channels=channels, out_channels=out_channels)
        if output_activation not in _ACTIVATIONS:
            raise InputError(
                f"output_activation must be one of {list(_ACTIVATIONS)}, got {output_activation!r}"
            )
        self.resolution, self.in_dim, self.channels = resolution, in_dim, channels
        self.levels = began_levels(resolution)
        self.output_activation = output_activation
        self.fc = nn.Linear(in_dim, 8 * 8 * channels)
        layers: list[nn.Module] = []
        for i in range(1, self.levels + 2):
            layers += [_conv(channels, channels), nn.ELU(), _conv(channels, channels), nn.ELU()]
            if i <= self.levels:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers.append(_conv(channels, out_channels))
        if output_activation == "tanh":
            layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)
        _glorot_init_(self)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(h).view(-1, self.channels, 8, 8))


class BEGANAutoencoder(nn.Module):
    """The BEGAN discriminator: ``D(x) = decoder(encoder(x))``, the reconstruction of ``x``.

    ``resolution`` (8 * 2^k), ``h_dim`` (N_h), ``channels`` (n), ``output_activation`` of the
    decoder. :meth:`encode` gives the hidden state ``h``.
    """

    def __init__(
        self,
        resolution: int = 64,
        h_dim: int = 128,
        channels: int = 128,
        output_activation: str = "none",
    ) -> None:
        super().__init__()
        self.resolution, self.h_dim, self.channels = resolution, h_dim, channels
        self.encoder = BEGANEncoder(resolution, h_dim, channels)
        self.decoder = BEGANDecoder(resolution, h_dim, channels, 3, output_activation)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class BEGANGenerator(BEGANDecoder):
    """The BEGAN generator ``z [N, z_dim] -> image [N, 3, R, R]``: the decoder's structure with
    its own weights; ``z ~ U(-1, 1)^{z_dim}``."""

    def __init__(
        self,
        resolution: int = 64,
        z_dim: int = 128,
        channels: int = 128,
        output_activation: str = "none",
    ) -> None:
        _check_positive(z_dim=z_dim)
        super().__init__(resolution, z_dim, channels, 3, output_activation)
        self.z_dim = z_dim

    def sample_latent(
        self,
        n: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``z ~ U(-1, 1)`` of shape ``[n, z_dim]`` (BEGAN section 3.5)."""
        return torch.rand(n, self.z_dim, device=device, generator=generator) * 2.0 - 1.0


#: the (generator, critic) pair of :func:`qagen.gan.nets.build_networks` (``qagen.registry.NETWORKS``)
NETWORK_PAIR = (BEGANGenerator, BEGANAutoencoder)
