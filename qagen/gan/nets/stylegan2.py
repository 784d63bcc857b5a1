"""StyleGAN2 networks (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN",
CVPR 2020), re-implemented from the paper (docs/stylegan2.md states every difference from
NVIDIA's code, whose licence forbids copying it).

* :class:`MappingNetwork` ``f: z -> w``: the 2nd-moment normalisation of ``z``, ``num_layers``
  fully connected layers with leaky ReLU (slope 0.2, gain sqrt 2) and a learning-rate
  multiplier (0.01); it tracks the mean ``w_avg`` of ``w`` (decay 0.995; over the global batch
  under DDP) for the truncation trick ``w' = w_avg + psi (w - w_avg)``.
* :class:`SynthesisNetwork` ``g: w -> x``: a learned ``4 x 4`` constant, then one block per
  resolution ``4, 8, ..., R``. A block is ``[conv0 (2x up)], conv1`` (modulated 3 x 3
  convolutions) and a ``toRGB`` (modulated 1 x 1, not demodulated); the image is the sum of the
  upsampled toRGB outputs (the skip generator, Fig. 7a). A modulated convolution (sec. 2.2,
  eq. 1-3) scales the weights by the style ``s = A(w)`` (an affine layer, bias initialised to
  1), ``w'_ijk = s_i w_ijk``, and demodulates them, ``w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 +
  eps)``; per-pixel noise ``B * n`` (one learned strength per layer, initialised to 0) is added
  before the bias and the activation.
* :class:`StyleGAN2Discriminator`: one block per resolution ``R, ..., 8`` (``fromRGB`` at the
  first; two 3 x 3 convolutions, the second downsampling; ``architecture='resnet'``: a 1 x 1
  downsampling skip and the sum scaled by sqrt(1/2), Fig. 7c), then the epilogue at 4 x 4:
  minibatch standard deviation (Karras et al. 2018), a 3 x 3 convolution, a fully connected
  layer and the output logit.

Every weight uses the equalised learning rate (stored ~ N(0, 1), scaled by ``1 / sqrt(fan_in)``
at run time). Resampling is the separable binomial filter ``[1, 3, 3, 1]`` (bilinear, the paper's
"bilinear up/downsampling"). Channels at resolution ``r``: ``min(channel_base // r,
channel_max)``. The official configurations are in :data:`CONFIGS` (parameter counts in the
tests and docs/stylegan2.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CONFIGS",
    "Conv2dLayer",
    "EqualLinear",
    "MappingNetwork",
    "MinibatchStd",
    "NETWORK_PAIR",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "SynthesisLayer",
    "SynthesisNetwork",
    "ToRGB",
    "demodulated_weight",
    "downsample2x",
    "modulated_conv2d",
    "upsample2x",
]

#: The official configurations (``stylegan2-ada-pytorch``'s ``train.py``, unconditional):
#: ``cifar`` (its CIFAR-10 configuration, 32 px: fmaps 1, 2 mapping layers, minibatch-std group
#: 32, and, for CIFAR only, the plain 'orig' discriminator, no path-length regularisation, no
#: style mixing) and ``auto`` at 64 px (its default for a 64 px data set on one GPU: fmaps 0.5,
#: 2 mapping layers, group 4, residual discriminator). Keys are constructor arguments.
CONFIGS: dict[str, dict[str, Any]] = {
    "cifar": {"resolution": 32, "z_dim": 512, "w_dim": 512, "mapping_layers": 2,
              "channel_base": 32768, "channel_max": 512, "d_architecture": "orig",
              "mbstd_group": 32},
    "auto-64": {"resolution": 64, "z_dim": 512, "w_dim": 512, "mapping_layers": 2,
                "channel_base": 16384, "channel_max": 512, "d_architecture": "resnet",
                "mbstd_group": 4},
}  # fmt: skip

_LRELU_GAIN = math.sqrt(2.0)
_SKIP_GAIN = math.sqrt(0.5)


def _lrelu(x: torch.Tensor, gain: float = 1.0, clamp: float | None = None) -> torch.Tensor:
    """``leaky_relu(x, 0.2) * sqrt(2) * gain`` (He-preserving gain), clamped to ``+-clamp*gain``."""
    x = F.leaky_relu(x, 0.2) * (_LRELU_GAIN * gain)
    if clamp is not None:
        x = x.clamp(-clamp * gain, clamp * gain)
    return x


def _binomial_kernel(channels: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The depthwise 4 x 4 kernel ``outer(f, f) / 64`` with ``f = [1, 3, 3, 1]`` (sums to 1)."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=dtype, device=device)
    k = torch.outer(f, f) / 64.0
    return k.expand(channels, 1, 4, 4)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x upsampling: zero insertion and the binomial filter (gain 4): bilinear interpolation
    with zero padding at the border, ``N x C x 2H x 2W``."""
    c = x.shape[1]
    k = _binomial_kernel(c, x.dtype, x.device) * 4.0
    return F.conv_transpose2d(x, k, stride=2, padding=1, groups=c)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x downsampling: the binomial filter, then every second pixel, ``N x C x H/2 x W/2``."""
    c = x.shape[1]
    return F.conv2d(x, _binomial_kernel(c, x.dtype, x.device), stride=2, padding=1, groups=c)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The binomial filter at the same size (padding 1 before, 2 after), before a stride-2 conv."""
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 2, 1, 2)), _binomial_kernel(c, x.dtype, x.device), groups=c)


class EqualLinear(nn.Module):
    """Fully connected layer with the equalised learning rate: ``y = act(x W^T g + b m)`` with
    ``W ~ N(0, 1) / m`` stored, ``g = m / sqrt(in)``, ``m`` the learning-rate multiplier."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return _lrelu(y) if self.activation else y


class Conv2dLayer(nn.Module):
    """Convolution with the equalised learning rate (the discriminator's): ``k x k``, same
    padding, optional 2x downsampling (binomial filter then stride 2), bias, leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: bool = True,
        down: bool = False,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.activation, self.down, self.clamp = activation, down, clamp
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down and w.shape[-1] == 1:
            x = F.conv2d(downsample2x(x), w, self.bias)
        elif self.down:
            x = F.conv2d(_blur(x), w, self.bias, stride=2, padding=self.padding)
        else:
            x = F.conv2d(x, w, self.bias, padding=self.padding)
        if self.activation:
            return _lrelu(x, gain, self.clamp)
        x = x * gain
        return x if self.clamp is None else x.clamp(-self.clamp * gain, self.clamp * gain)


def demodulated_weight(
    weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """The per-sample weights of a modulated convolution (StyleGAN2 eq. 1 and 3),
    ``N x O x I x k x k``: ``w'_ijk = s_i w_ijk`` and, with ``demodulate``,
    ``w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps)`` (unit L2 norm per output channel)."""
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if demodulate:
        w = w * torch.rsqrt(w.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
    return w


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Convolution of ``x`` (``N x I x H x W``) with :func:`demodulated_weight` of each sample,
    same padding. Computed without per-sample weights (the paper's sec. 2.2 equivalence): the
    input is scaled by ``s``, convolved with the shared ``weight`` and each output channel scaled
    by ``1 / sqrt(sum_ik (s_i w_ijk)^2 + eps)``."""
    pad = weight.shape[-1] // 2
    y = F.conv2d(x * styles[:, :, None, None], weight, padding=pad)
    if demodulate:
        wsq = weight.square().sum(dim=(2, 3))  # O x I
        d = torch.rsqrt(styles.square() @ wsq.t() + eps)  # N x O
        y = y * d[:, :, None, None]
    return y


class SynthesisLayer(nn.Module):
    """A modulated, demodulated 3 x 3 convolution (2x upsampling first with ``up``), per-pixel
    noise ``strength * n`` with ``n ~ N(0, 1)``, bias and leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        *,
        up: bool = False,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.resolution, self.up, self.clamp = resolution, up, clamp
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.up:
            x = upsample2x(x)
        x = modulated_conv2d(x, self.weight, self.affine(w))
        if noise is not None:
            x = x + noise * self.noise_strength
        return _lrelu(x + self.bias[None, :, None, None], clamp=self.clamp)


class ToRGB(nn.Module):
    """Modulated 1 x 1 convolution to the image channels, not demodulated, with bias."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        y = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return y + self.bias[None, :, None, None]


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: ``[conv0 (up)], conv1, toRGB``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        clamp: float | None,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True,
                                        clamp=clamp)  # fmt: skip
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, clamp=clamp)
        self.torgb = ToRGB(out_channels, img_channels, w_dim)
        self.num_conv = 1 if self.conv0 is None else 2

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noises: Sequence[torch.Tensor | None],
        hook: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``ws``: ``N x (num_conv + 1) x w_dim`` (the last one is the toRGB's)."""
        i = 0
        if self.conv0 is None:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x, ws[:, 0], noises[0])
            i = 1
        x = self.conv1(x, ws[:, i], noises[i])
        if hook is not None:
            x = hook(x)
        y = self.torgb(x, ws[:, i + 1])
        img = y if img is None else upsample2x(img) + y
        return x, img


def _channels(resolution: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // resolution, channel_max)


def _check_resolution(resolution: int) -> int:
    log2 = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 8 or 2**log2 != resolution:
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    return log2


class SynthesisNetwork(nn.Module):
    """``g``: the skip generator from a learned constant (module docstring).

    ``forward(ws, noises, hooks)``: ``ws`` ``N x num_ws x w_dim`` (block ``b`` reads its conv
    layers' ``w`` and the toRGB's; consecutive blocks share one index, as in the official
    code, so ``num_ws = 2 log2(R) - 2``); ``noises``: one ``N x 1 x r x r`` tensor per layer
    (:attr:`noise_resolutions`), ``None`` entries for no noise; ``hooks``: ``{resolution:
    fn}`` applied to the block's features before its toRGB (QMF's PAM / M_F)."""

    def __init__(
        self,
        resolution: int,
        w_dim: int = 512,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        log2 = _check_resolution(resolution)
        self.resolution, self.w_dim = resolution, w_dim
        self.resolutions = [2**i for i in range(2, log2 + 1)]
        blocks = []
        for r in self.resolutions:
            c_in = _channels(r // 2, channel_base, channel_max) if r > 4 else 0
            c_out = _channels(r, channel_base, channel_max)
            blocks.append(SynthesisBlock(c_in, c_out, w_dim, r, img_channels, clamp))
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(b.num_conv for b in self.blocks) + 1

    @property
    def noise_resolutions(self) -> list[int]:
        """The resolution of each layer's noise input, in layer order."""
        return [b.resolution for b in self.blocks for _ in range(b.num_conv)]

    def channels_at(self, resolution: int) -> int:
        """The number of feature channels of the block at ``resolution``."""
        for b in self.blocks:
            if b.resolution == resolution:
                return int(b.conv1.weight.shape[0])
        raise ValueError(f"no block at resolution {resolution} (blocks: {self.resolutions})")

    def forward(
        self,
        ws: torch.Tensor,
        noises: Sequence[torch.Tensor | None] | None = None,
        hooks: Mapping[int, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be N x {self.num_ws} x {self.w_dim}, got {tuple(ws.shape)}")
        n_layers = len(self.noise_resolutions)
        if noises is None:
            noises = [None] * n_layers
        if len(noises) != n_layers:
            raise ValueError(f"pass {n_layers} noise tensors (one per layer), got {len(noises)}")
        x = img = None
        i = 0
        for block in self.blocks:
            k = block.num_conv
            hook = (hooks or {}).get(block.resolution)
            x, img = block(x, img, ws[:, i : i + k + 1], noises[i : i + k], hook)
            i += k
        return img


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x^2) + eps)`` over the feature axis (StyleGAN's pixel norm of ``z``)."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def _global_mean(x: torch.Tensor) -> torch.Tensor:
    """The mean of ``x`` over dim 0 and, in a distributed run, over every rank's equal shard (so
    ``w_avg`` tracks the global batch, the same under DDP as in one process; NVIDIA's code
    averages each GPU's own batch and keeps rank 0's)."""
    mean = x.mean(0)
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(mean)
        mean = mean / dist.get_world_size()
    return mean


class MappingNetwork(nn.Module):
    """``f: z -> w`` (module docstring); ``w_avg`` is a buffer updated in training mode."""

    def __init__(
        self,
        z_dim: int = 512,
        w_dim: int = 512,
        num_layers: int = 8,
        lr_mul: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        feats = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualLinear(feats[i], feats[i + 1], lr_mul=lr_mul, activation=True)
            for i in range(num_layers)
        )
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, update_avg: bool = True):
        x = normalize_2nd_moment(z)
        for layer in self.layers:
            x = layer(x)
        if self.training and update_avg:
            with torch.no_grad():
                self.w_avg.copy_(_global_mean(x.detach()).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            x = self.w_avg.lerp(x, truncation_psi)
        return x


class StyleGAN2Generator(nn.Module):
    """``G = g(f(z))``: :class:`MappingNetwork` and :class:`SynthesisNetwork`.

    ``forward(z, z_mix=None, cutoff=None, noises=None, hooks=None, truncation_psi=1,
    return_ws=False)``: ``w = f(z)`` broadcast to ``num_ws`` copies; with ``z_mix`` and
    ``cutoff`` (an int in ``1..num_ws-1``) the copies from ``cutoff`` on are ``f(z_mix)``
    (style mixing regularisation, sec. 3.1 of StyleGAN); ``return_ws`` also returns the ``ws``
    tensor the synthesis read (the path-length regulariser differentiates with respect to it);
    ``update_w_avg=False`` leaves the mapping's ``w_avg`` unchanged in training mode.
    """

    def __init__(
        self,
        resolution: int,
        z_dim: int = 512,
        *,
        w_dim: int = 512,
        mapping_layers: int = 8,
        channel_base: int = 32768,
        channel_max: int = 512,
        img_channels: int = 3,
        mapping_lr_mul: float = 0.01,
        w_avg_beta: float = 0.995,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul, w_avg_beta)
        self.synthesis = SynthesisNetwork(resolution, w_dim, img_channels, channel_base,
                                          channel_max, clamp)  # fmt: skip
        self.num_ws = self.synthesis.num_ws

    @property
    def noise_resolutions(self) -> list[int]:
        return self.synthesis.noise_resolutions

    def sample_latent(
        self,
        n: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``z ~ N(0, I)`` of shape ``[n, z_dim]`` on ``device`` (default: the model's)."""
        device = device if device is not None else self.mapping.w_avg.device
        return torch.randn(n, self.z_dim, device=device, generator=generator)

    def forward(
        self,
        z: torch.Tensor,
        z_mix: torch.Tensor | None = None,
        cutoff: int | None = None,
        *,
        noises: Sequence[torch.Tensor | None] | None = None,
        hooks: Mapping[int, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        truncation_psi: float = 1.0,
        return_ws: bool = False,
        update_w_avg: bool = True,
    ) -> Any:
        w = self.mapping(z, truncation_psi, update_avg=update_w_avg)
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if z_mix is not None and cutoff is not None:
            if not 1 <= cutoff < self.num_ws:
                raise ValueError(f"cutoff must lie in 1..{self.num_ws - 1}, got {cutoff}")
            w2 = self.mapping(z_mix, truncation_psi, update_avg=False)
            ws = torch.cat(
                [ws[:, :cutoff], w2.unsqueeze(1).expand(-1, self.num_ws - cutoff, -1)], 1
            )
        img = self.synthesis(ws, noises, hooks)
        return (img, ws) if return_ws else img


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018, sec. 3): the images are split into
    groups of ``group_size`` (image ``i`` in group ``i mod N/G``); the standard deviation of each
    feature and pixel over a group, averaged over features and pixels, is appended as one
    constant channel. ``G = min(group_size, N)``, lowered to a divisor of ``N``."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = int(group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt()  # n/G x C x H x W
        y = y.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], 1)


class DiscriminatorBlock(nn.Module):
    """``[fromRGB], conv0, conv1 (down)`` and, residual, a 1 x 1 downsampling skip."""

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        img_channels: int,
        architecture: str,
        clamp: float | None,
    ) -> None:
        super().__init__()
        self.fromrgb = (
            Conv2dLayer(img_channels, tmp_channels, 1, clamp=clamp) if in_channels == 0 else None
        )
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, clamp=clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, down=True, clamp=clamp)
        self.skip = None
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, activation=False,
                                    down=True)  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        if self.skip is None:
            return self.conv1(self.conv0(x))
        y = self.skip(x, gain=_SKIP_GAIN)
        return y + self.conv1(self.conv0(x), gain=_SKIP_GAIN)


class StyleGAN2Discriminator(nn.Module):
    """The StyleGAN2 discriminator (module docstring); ``forward(x) -> [N]`` logits.

    ``architecture``: ``'resnet'`` (the paper's, Fig. 7c) or ``'orig'`` (no skips; the official
    CIFAR-10 configuration)."""

    def __init__(
        self,
        resolution: int,
        *,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        architecture: str = "resnet",
        mbstd_group: int = 4,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        log2 = _check_resolution(resolution)
        if architecture not in ("resnet", "orig"):
            raise ValueError(f"architecture must be 'resnet' or 'orig', got {architecture!r}")
        ch = lambda r: _channels(r, channel_base, channel_max)  # noqa: E731
        blocks = []
        for r in (2**i for i in range(log2, 2, -1)):
            c_in = ch(r) if r < resolution else 0
            blocks.append(DiscriminatorBlock(c_in, ch(r), ch(r // 2), img_channels,
                                             architecture, clamp))  # fmt: skip
        self.blocks = nn.Sequential(*blocks)
        c4 = ch(4)
        self.mbstd = MinibatchStd(mbstd_group)
        self.conv = Conv2dLayer(c4 + 1, c4, 3, clamp=clamp)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.mbstd(self.blocks(x)))
        return self.out(self.fc(x.flatten(1)))[:, 0]


NETWORK_PAIR = (StyleGAN2Generator, StyleGAN2Discriminator)
