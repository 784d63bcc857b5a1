"""A convolutional autoencoder for grey images with a vector bottleneck (the MS-SSIM loss
poster's autoencoders: 48 x 48 Yale B faces, 96 x 96 STL-10).

The poster gives no architecture; this one is the usual strided-convolution design::

    encoder: [conv 4x4 stride 2 -> BN -> LeakyReLU(0.2)] x L     R -> R / 2^L  (L = log2(R / 6))
             channels c, 2c, 4c, ... (capped at 8c); flatten; linear -> code (code_dim)
    decoder: linear -> (C_L x 6 x 6); [upsample x2 (nearest) -> conv 3x3 -> BN -> ReLU] x L,
             channels mirrored; conv 3x3 -> 1 channel; sigmoid (images in [0, 1])

48 px: L = 3 (48 -> 24 -> 12 -> 6); 96 px: L = 4. Nearest upsampling followed by a convolution
avoids the checkerboard pattern of transposed convolutions (Odena et al., Distill 2016).
The code is linear (no activation): the SVMs of :mod:`qagen.methods.msssim.codes` read it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from qagen.errors import InputError

__all__ = ["ConvAutoencoder"]

_BASE = 6


class ConvAutoencoder(nn.Module):
    """Encoder/decoder for ``N x 1 x R x R`` images in [0, 1], ``R = 6 * 2^L`` (48, 96, ...).

    ``code_dim``: bottleneck size; ``channels``: the first layer's width ``c``.
    :meth:`encode` gives ``N x code_dim``, :meth:`decode` the images, ``forward`` both ways.
    """

    def __init__(self, resolution: int = 48, code_dim: int = 128, channels: int = 32) -> None:
        super().__init__()
        levels = math.log2(resolution / _BASE) if resolution >= _BASE else -1
        if levels < 1 or not float(levels).is_integer():
            raise InputError(
                f"ConvAutoencoder resolution must be 6 * 2^L with L >= 1 (12, 24, 48, 96, 192), "
                f"got {resolution}"
            )
        if code_dim < 1 or channels < 1:
            raise InputError(
                f"code_dim and channels must be positive, got {code_dim} and {channels}"
            )
        self.resolution, self.code_dim, self.levels = resolution, code_dim, int(levels)
        widths = [min(channels * 2**i, channels * 8) for i in range(self.levels)]
        enc: list[nn.Module] = []
        cin = 1
        for w in widths:
            enc += [nn.Conv2d(cin, w, 4, 2, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2, inplace=True)]
            cin = w
        self.encoder = nn.Sequential(*enc)
        self._top = widths[-1]
        self.to_code = nn.Linear(self._top * _BASE * _BASE, code_dim)
        self.from_code = nn.Linear(code_dim, self._top * _BASE * _BASE)
        dec: list[nn.Module] = [nn.BatchNorm2d(self._top), nn.ReLU(inplace=True)]
        outs = list(reversed(widths))[1:] + [widths[0]]
        cin = self._top
        for w in outs:
            dec += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, w, 3, 1, 1),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
            ]
            cin = w
        dec += [nn.Conv2d(cin, 1, 3, 1, 1), nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``N x code_dim`` of grey images ``N x 1 x R x R``."""
        if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != (self.resolution,) * 2:
            raise InputError(
                f"ConvAutoencoder expects N x 1 x {self.resolution} x {self.resolution} grey "
                f"images, got {tuple(x.shape)}"
            )
        return self.to_code(self.encoder(x).flatten(1))

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Images ``N x 1 x R x R`` in [0, 1] from codes."""
        h = self.from_code(code).view(-1, self._top, _BASE, _BASE)
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
