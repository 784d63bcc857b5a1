"""U-Nets: the classic encoder-decoder with skip connections, and pix2pix's ``unet_256``.

* :class:`UNet` (Ronneberger, Fischer & Brox, MICCAI 2015): ``levels`` resolution levels; each
  encoder level is two 3x3 convolutions (batch norm, ReLU) and, except the last (the bottleneck),
  a 2x2 max pooling; the channels double per level from ``base_channels``. Each decoder level is a
  2x2 stride-2 transposed convolution halving the channels, the concatenation with the encoder's
  features at that level, and two 3x3 convolutions; a 1x1 convolution gives ``out_channels``.
  Inputs of any size divisible by ``2**(levels - 1)`` (:func:`pad_to_multiple` pads others).
  The quality-map paper's "U-Net" (4 levels) and "U-Net32" (5 levels) are this network with 16
  and 32 base channels (``qmap-unet``, ``qmap-unet32``); their published parameter counts
  (886,625 and 14,123,905) are about 1.8 x these (482,737 and 7,763,041: the paper does not give
  its block layout).
* :class:`Pix2PixUNet` (Isola et al., CVPR 2017; ``junyanz/pytorch-CycleGAN-and-pix2pix``
  ``UnetGenerator``): ``num_downs`` stride-2 4x4 convolutions C64-C128-C256-C512-C512...
  (LeakyReLU 0.2, batch norm except on the first and the innermost), a symmetric decoder of 4x4
  transposed convolutions with skip concatenations, ReLU, batch norm, dropout 0.5 in the three
  innermost decoder layers with 512 channels, and tanh on the output. Convolutions have no bias
  where batch norm follows (the reference code's ``use_bias = False`` with batch norm).
  ``num_downs = 8`` is ``unet_256`` (inputs divisible by 256). Initialisation N(0, 0.02).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from qagen.errors import InputError

__all__ = ["UNet", "Pix2PixUNet", "pad_to_multiple", "pix2pix_init_"]


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "reflect"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` on the bottom and right to a multiple of ``multiple`` (``reflect``; replicate
    where the image is too small to reflect); returns the padded tensor and the original
    ``(H, W)`` to crop the output back with ``out[..., :H, :W]``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        if mode == "reflect" and (ph >= h or pw >= w):
            mode = "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Classic U-Net (module docstring); ``forward(x)`` with ``x`` of height and width divisible by
    :attr:`multiple` returns ``N x out_channels x H x W`` (no output activation)."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        base_channels: int = 32,
        levels: int = 5,
    ) -> None:
        super().__init__()
        if levels < 2:
            raise InputError(f"UNet levels must be >= 2, got {levels}")
        if base_channels < 1:
            raise InputError(f"UNet base_channels must be >= 1, got {base_channels}")
        ch = [base_channels * 2**k for k in range(levels)]
        self.multiple = 2 ** (levels - 1)
        self.down = nn.ModuleList([_double_conv(in_channels, ch[0])])
        self.down.extend(_double_conv(ch[k - 1], ch[k]) for k in range(1, levels))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(ch[k], ch[k - 1], 2, stride=2) for k in range(levels - 1, 0, -1)
        )
        self.dec = nn.ModuleList(
            _double_conv(2 * ch[k - 1], ch[k - 1]) for k in range(levels - 1, 0, -1)
        )
        self.head = nn.Conv2d(ch[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


def pix2pix_init_(module: nn.Module, gain: float = 0.02) -> None:
    """pix2pix's ``init_weights(net, 'normal', 0.02)``: conv weights N(0, gain), biases 0,
    batch-norm scales N(1, gain) and shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


class _Block(nn.Module):
    """One level of pix2pix's recursive U-Net: down, the inner block, up, skip concatenation."""

    def __init__(self, outer: int, inner: int, cin: int | None = None, sub: nn.Module | None = None,
                 *, outermost: bool = False, innermost: bool = False, dropout: bool = False,
                 out_channels: int | None = None, tanh: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.outermost = outermost
        cin = outer if cin is None else cin
        down = [nn.Conv2d(cin, inner, 4, stride=2, padding=1, bias=False)]
        if outermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, out_channels or outer, 4, 2, 1)]
            if tanh:
                up.append(nn.Tanh())
            layers = down + [sub] + up
        elif innermost:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False),
                  nn.BatchNorm2d(outer)]  # fmt: skip
            layers = [nn.LeakyReLU(0.2, True)] + down + up
        else:
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False),
                  nn.BatchNorm2d(outer)]  # fmt: skip
            layers = [nn.LeakyReLU(0.2, True)] + down + [nn.BatchNorm2d(inner), sub] + up
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class Pix2PixUNet(nn.Module):
    """pix2pix's U-Net generator (module docstring); inputs divisible by ``2**num_downs``."""

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        num_downs: int = 8,
        ngf: int = 64,
        dropout: bool = True,
        tanh: bool = True,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise InputError(f"Pix2PixUNet num_downs must be >= 5, got {num_downs}")
        self.multiple = 2**num_downs
        block = _Block(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = _Block(ngf * 8, ngf * 8, sub=block, dropout=dropout)
        block = _Block(ngf * 4, ngf * 8, sub=block)
        block = _Block(ngf * 2, ngf * 4, sub=block)
        block = _Block(ngf, ngf * 2, sub=block)
        self.model = _Block(ngf, ngf, cin=in_channels, sub=block, outermost=True,
                            out_channels=out_channels, tanh=tanh)  # fmt: skip
        pix2pix_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
