"""A fully convolutional network without fusion branches (the quality-map paper's "FCN").

Long, Shelhamer & Darrell (CVPR 2015) build FCNs on the VGG classifier and fuse the coarse
prediction with pool3/pool4 predictions (FCN-16s/8s). The quality-map paper's FCN keeps "the VGG
architecture" as encoder and "transposed convolution to recover the size of the image", with the
fusion removed "for simplicity" and gives no widths. qagen's :class:`FCN`:

* encoder: the VGG-16 convolution layout (blocks of 2, 2, 3, 3, 3 3x3 convolutions, each with
  batch norm and ReLU, a 2x2 max pooling after each block: 32x downsampling) at ``width`` times
  VGG-16's channels (default 0.5: 32, 64, 128, 256, 256);
* decoder: five stride-2 4x4 transposed convolutions (batch norm, ReLU) that halve the channels
  back to full resolution, then a 1x1 convolution to ``out_channels`` (no activation: an SSIM
  map lies in [-1, 1]).

Inputs must be divisible by 32. At the default width it has 4,381,145 parameters with one output
channel, against the paper's 5,495,617 (its exact layout is not published).
"""

from __future__ import annotations

import torch
from torch import nn

from qagen.errors import InputError

__all__ = ["FCN", "VGG16_BLOCKS"]

#: VGG-16's convolution blocks: (number of 3x3 convolutions, output channels).
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def _cbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class FCN(nn.Module):
    """VGG-16-layout encoder, transposed-convolution decoder, no skip or fusion branches."""

    multiple = 32

    def __init__(self, in_channels: int = 3, out_channels: int = 1, width: float = 0.5) -> None:
        super().__init__()
        if not width > 0:
            raise InputError(f"FCN width must be > 0, got {width}")
        layers: list[nn.Module] = []
        c = in_channels
        for n, ch in VGG16_BLOCKS:
            ch = max(1, round(ch * width))
            for _ in range(n):
                layers += _cbr(c, ch)
                c = ch
            layers.append(nn.MaxPool2d(2))
        self.encoder = nn.Sequential(*layers)
        up: list[nn.Module] = []
        for _ in VGG16_BLOCKS:
            nxt = max(1, c // 2)
            up += [nn.ConvTranspose2d(c, nxt, 4, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(nxt), nn.ReLU(True)]  # fmt: skip
            c = nxt
        self.decoder = nn.Sequential(*up)
        self.head = nn.Conv2d(c, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decoder(self.encoder(x)))
