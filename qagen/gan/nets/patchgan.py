"""The pix2pix 70 x 70 PatchGAN discriminator (Isola et al., CVPR 2017; the reference code's
``NLayerDiscriminator`` with ``n_layers_D = 3``, the ``basic`` discriminator).

4x4 convolutions: C64 (stride 2, no normalisation), C128 and C256 (stride 2), C512 (stride 1),
each followed by LeakyReLU 0.2 and (after the first) batch norm, then a 1-channel 4x4 convolution
(stride 1): one real/fake logit per 70 x 70 receptive field. Convolutions followed by batch norm
have no bias. The input is the condition and the output concatenated along the channels.
Initialisation N(0, 0.02) (:func:`qagen.gan.nets.unet.pix2pix_init_`).
"""

from __future__ import annotations

import torch
from torch import nn

from qagen.errors import InputError
from qagen.gan.nets.unet import pix2pix_init_

__all__ = ["PatchGAN"]


class PatchGAN(nn.Module):
    """``forward(x) -> N x 1 x H' x W'`` logits (no sigmoid; use BCE with logits)."""

    def __init__(self, in_channels: int = 4, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if n_layers < 1:
            raise InputError(f"PatchGAN n_layers must be >= 1, got {n_layers}")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        pix2pix_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
