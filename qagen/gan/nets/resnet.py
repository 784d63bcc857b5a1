"""The ResNet generator and critic of the Banach-WGAN and QAGAN code (``adler-j/bwgan``,
``lfovia/QAGANS``), after the WGAN-GP CIFAR-10 ResNet (Gulrajani et al. 2017, appendix F).

Generator (``z ~ N(0, I_128)``)::

    dense(z) -> start x start x 128      start = 4 (32 px, 64 px) or 6 (48 px)
    n_up x UpBlock(128)                   n_up = 3 (32, 48 px) or 4 (64 px)
    BN -> ReLU -> conv3x3(3) -> tanh

    UpBlock:  BN -> ReLU -> up2 -> conv3x3 -> BN -> ReLU -> conv3x3   (+ shortcut up2 -> conv1x1)

Critic (no normalisation anywhere; the same for every resolution, as in the authors' scripts)::

    OptimizedBlock: conv3x3 -> ReLU -> conv3x3 -> meanpool2   (+ meanpool2 -> conv1x1)
    DownBlock:      ReLU -> conv3x3 -> ReLU -> conv3x3 -> meanpool2   (+ conv1x1 -> meanpool2)
    2 x Block:      ReLU -> conv3x3 -> ReLU -> conv3x3   (+ identity)
    ReLU -> spatial mean -> dense(1)

With ``spectral_norm=True``, ``pooling="sum"`` and ``fc_bias=False`` (and 256 generator
channels) the pair is the SNGAN CIFAR-10 ResNet (Miyato et al. 2018, Table 4; the authors'
``sngan_projection`` ``resnet_32.py`` / ``snresnet_32.py``): the same blocks, every critic
layer spectrally normalised (:mod:`qagen.gan.spectral`), global *sum* pooling and a dense
layer without bias.

``up2`` is nearest-neighbour x2 (the code's channel tiling + depth_to_space is exactly this),
``meanpool2`` the 2x2 mean. Initialisation: He-uniform (``U(+-sqrt(6 / fan_in))``) for the 3x3
convs, Xavier-uniform (``U(+-sqrt(6 / (fan_in + fan_out)))``) for the 1x1 shortcuts, the last
generator conv and the two dense layers (TensorFlow's ``glorot_uniform`` default); all biases 0;
BN scale 1, shift 0. BN uses TensorFlow decay 0.9 = PyTorch ``momentum=0.1`` and eps 1e-5. The
authors' BN is always in training mode (batch statistics also when sampling):
``always_batch_stats=True`` reproduces that, the default uses the running statistics in
``eval()`` mode as usual in PyTorch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from qagen.gan.spectral import spectral_normalize

__all__ = ["ResNetGenerator", "ResNetCritic", "resnet_layout"]


def resnet_layout(resolution: int) -> tuple[int, int]:
    """``(start, n_up)`` with ``resolution = start * 2**n_up``: 32 -> (4, 3), 48 -> (6, 3), 64 -> (4, 4).

    Other sizes of the form ``4 * 2**n`` or ``6 * 2**n`` (n >= 1) are accepted too.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise TypeError(f"resolution must be an int, got {type(resolution).__name__}")
    for start in (4, 6):
        if resolution % start == 0:
            ratio = resolution // start
            n = int(round(math.log2(ratio))) if ratio >= 1 else 0
            if n >= 1 and 2**n == ratio:
                return start, n
    raise ValueError(
        f"resolution must be 4 * 2**n or 6 * 2**n with n >= 1 (e.g. 32, 48, 64), got {resolution}"
    )


def _he_uniform(conv: nn.Module) -> nn.Module:
    nn.init.kaiming_uniform_(conv.weight, a=0.0, mode="fan_in", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _xavier_uniform(layer: nn.Module) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight, gain=1.0)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return _he_uniform(nn.Conv2d(cin, cout, 3, padding=1))


def _conv1(cin: int, cout: int) -> nn.Conv2d:
    return _xavier_uniform(nn.Conv2d(cin, cout, 1))


class BatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that can keep using batch statistics in ``eval()`` mode (TF ``is_training=True``).

    In eval mode with ``always_batch_stats`` the running statistics are neither used nor updated.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        always_batch_stats: bool = False,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.always_batch_stats = always_batch_stats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.always_batch_stats and not self.training:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def _pool2(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


class UpBlock(nn.Module):
    """BN -> ReLU -> up2 -> conv3x3 -> BN -> ReLU -> conv3x3, shortcut up2 -> conv1x1."""

    def __init__(self, channels: int, **bn_kwargs) -> None:
        super().__init__()
        self.bn1 = BatchNorm2d(channels, **bn_kwargs)
        self.conv1 = _conv3(channels, channels)
        self.bn2 = BatchNorm2d(channels, **bn_kwargs)
        self.conv2 = _conv3(channels, channels)
        self.shortcut = _conv1(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_up2(F.relu(self.bn1(x))))
        h = self.conv2(F.relu(self.bn2(h)))
        # conv1x1 and nearest upsampling commute exactly; convolving first is 4x cheaper.
        return _up2(self.shortcut(x)) + h


class ResNetGenerator(nn.Module):
    """QAGAN / Banach-WGAN ResNet generator: ``z [N, z_dim] -> image [N, 3, R, R]`` in (-1, 1)."""

    def __init__(
        self,
        resolution: int = 32,
        z_dim: int = 128,
        channels: int = 128,
        out_channels: int = 3,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-5,
        always_batch_stats: bool = False,
    ) -> None:
        super().__init__()
        self.resolution = resolution
        self.z_dim = z_dim
        self.channels = channels
        self.start, self.n_up = resnet_layout(resolution)
        bn = dict(eps=bn_eps, momentum=bn_momentum, always_batch_stats=always_batch_stats)
        self.dense = _xavier_uniform(nn.Linear(z_dim, self.start * self.start * channels))
        self.blocks = nn.Sequential(*[UpBlock(channels, **bn) for _ in range(self.n_up)])
        self.bn = BatchNorm2d(channels, **bn)
        self.conv_out = _xavier_uniform(nn.Conv2d(channels, out_channels, 3, padding=1))

    def sample_latent(
        self,
        n: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``z ~ N(0, I)`` of shape ``[n, z_dim]`` on ``device`` (default: the model's)."""
        if device is None:
            device = self.dense.weight.device
        return torch.randn(n, self.z_dim, device=device, generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {tuple(z.shape)}")
        # TF reshapes the dense output NHWC; the ordering of a freshly initialised dense output
        # is immaterial, so we use PyTorch's NCHW view.
        x = self.dense(z).view(-1, self.channels, self.start, self.start)
        x = self.blocks(x)
        return torch.tanh(self.conv_out(F.relu(self.bn(x))))


class OptimizedBlock(nn.Module):
    """First critic block: conv3x3 -> ReLU -> conv3x3 -> meanpool2, shortcut meanpool2 -> conv1x1."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3(in_channels, channels)
        self.conv2 = _conv3(channels, channels)
        self.shortcut = _conv1(in_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _pool2(self.conv2(F.relu(self.conv1(x))))
        return self.shortcut(_pool2(x)) + h


class DownBlock(nn.Module):
    """ReLU -> conv3x3 -> ReLU -> conv3x3 -> meanpool2, shortcut conv1x1 -> meanpool2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3(channels, channels)
        self.conv2 = _conv3(channels, channels)
        self.shortcut = _conv1(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _pool2(self.conv2(F.relu(self.conv1(F.relu(x)))))
        return _pool2(self.shortcut(x)) + h


class Block(nn.Module):
    """ReLU -> conv3x3 -> ReLU -> conv3x3 with identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3(channels, channels)
        self.conv2 = _conv3(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ResNetCritic(nn.Module):
    """QAGAN / Banach-WGAN ResNet critic: ``image [N, 3, H, W] -> score [N]`` (no normalisation).

    ``H, W`` must be divisible by 4. ``resolution`` is recorded for reference only: the authors
    use this same critic (one down block) at 32, 48 and 64 px; ``down_blocks`` adds more.
    ``spectral_norm``: every conv and dense layer spectrally normalised (SNGAN); ``pooling``:
    the spatial ``"mean"`` (QAGAN) or ``"sum"`` (SNGAN) before the dense layer; ``fc_bias``:
    whether that layer has a bias (SNGAN: none); ``power_iterations``: of the spectral norm per
    training forward pass (SNGAN: 1).
    """

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 128,
        in_channels: int = 3,
        down_blocks: int = 1,
        plain_blocks: int = 2,
        spectral_norm: bool = False,
        pooling: str = "mean",
        fc_bias: bool = True,
        power_iterations: int = 1,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "sum"):
            raise ValueError(f"pooling must be 'mean' or 'sum', got {pooling!r}")
        self.resolution = resolution
        self.in_channels = in_channels
        self.pooling = pooling
        self.blocks = nn.Sequential(
            OptimizedBlock(in_channels, channels),
            *[DownBlock(channels) for _ in range(down_blocks)],
            *[Block(channels) for _ in range(plain_blocks)],
        )
        self.fc = _xavier_uniform(nn.Linear(channels, 1, bias=fc_bias))
        if spectral_norm:
            spectral_normalize(self, power_iterations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape [N, {self.in_channels}, H, W], got {tuple(x.shape)}"
            )
        h = F.relu(self.blocks(x))
        h = h.sum(dim=(2, 3)) if self.pooling == "sum" else h.mean(dim=(2, 3))
        return self.fc(h).squeeze(1)


#: the (generator, critic) pair of :func:`qagen.gan.nets.build_networks` (``qagen.registry.NETWORKS``)
NETWORK_PAIR = (ResNetGenerator, ResNetCritic)
