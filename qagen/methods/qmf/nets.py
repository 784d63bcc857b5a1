"""Quality Map Fusion networks (Osahor & Nasrabadi, "Quality Map Fusion for Adversarial
Learning", arXiv 2110.12338, section 3 and Fig. 1; no public code exists).

* :class:`QMFGenerator` ``G = (g1, g2)``: the encoder g1 gives the bottleneck ``E``; the
  perceptual attention mechanism :class:`PAM` turns it into ``Z``; the quality-map fusion
  :class:`MapFusion` turns the similarity maps into ``M`` and ``I = sigmoid(M) * Z``; the decoder
  g2 receives ``V = I + E``.
* :class:`PatchCritic` ``d1``: a PatchGAN critic with a per-pixel real/fake head and an attribute
  head (multi-label logits); also ``d2``, the critic of the stacked quality maps, with fewer layers
  and no attribute head.
* :class:`ScoreRegressor` ``s``: a small CNN with global average pooling that predicts a quality
  score of a generated image.

The paper gives no layer counts, widths or norms; the defaults (qagen's, docs/qmf.md) are a
StarGAN/CycleGAN-style encoder-decoder: g1 = conv7x7(ngf) + ``n_down`` stride-2 4x4 convs
(2 ngf, 4 ngf) with instance norm and ReLU, then ``n_res`` residual blocks; g2 mirrors it with
transposed convolutions and ends in conv7x7 and tanh. In generation mode g1 receives ``z``
mapped by a linear layer to a ``4 ngf x H/4 x W/4`` tensor (the bottleneck's shape), then the
residual blocks. Every choice is a constructor argument; the QMF recipe exposes them as options.

How each unit is combined when a module is switched off (the ablation of Table 4):

=============  ======================  ====================
PAM            M_F                     decoder input V
=============  ======================  ====================
off            off (the baseline BL)   E
on             off                     Z + E
off            on                      sigmoid(M) * E + E
on             on                      sigmoid(M) * Z + E
=============  ======================  ====================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ChannelAttention",
    "MapFusion",
    "MultiHeadSelfAttention",
    "PAM",
    "PatchCritic",
    "QMFGenerator",
    "ResidualBlock",
    "ScoreRegressor",
]

MapsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _norm(channels: int) -> nn.Module:
    # affine instance norm without running statistics: training and sampling behave alike
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class ResidualBlock(nn.Module):
    """``x + IN(conv3x3(ReLU(IN(conv3x3(x)))))``: the 2-layer residual block (RB1, RB2, g1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ChannelAttention(nn.Module):
    """CBAM channel attention (Woo et al. 2018): ``U = sigmoid(MLP(avg F) + MLP(max F))``,
    ``N x C x 1 x 1``, with a shared 2-layer MLP of hidden width ``max(1, C // reduction)``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        avg = F.adaptive_avg_pool2d(f, 1)
        mx = F.adaptive_max_pool2d(f, 1)
        return torch.sigmoid(self.mlp(avg) + self.mlp(mx))


class MultiHeadSelfAttention(nn.Module):
    """Multi-head scaled dot-product attention over the ``H W`` tokens of a feature map.

    ``head_i = Attention(A w_i^A, B w_i^B)`` (QMF 3.1) with ``A = B =`` the tokens (``C``-dim):
    queries ``A w^A``, keys and values both ``B w^B`` (docs/qmf.md's reading), ``heads``
    heads of ``C / heads`` dims, concatenated and projected back to ``C``. Returns an
    ``N x C x H x W`` map (and, with ``need_weights``, the attention weights ``N x heads x HW x
    HW``, for the report).
    """

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.w_a = nn.Linear(channels, channels)
        self.w_b = nn.Linear(channels, channels)
        self.out = nn.Linear(channels, channels)

    def forward(
        self, x: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # N x HW x C
        d = c // self.heads
        q = self.w_a(tokens).view(n, h * w, self.heads, d).transpose(1, 2)
        kv = self.w_b(tokens).view(n, h * w, self.heads, d).transpose(1, 2)
        weights = None
        if need_weights:
            weights = torch.softmax(q @ kv.transpose(-2, -1) / math.sqrt(d), dim=-1)
            att = weights @ kv
        else:
            att = F.scaled_dot_product_attention(q, kv, kv)
        att = att.transpose(1, 2).reshape(n, h * w, c)
        return self.out(att).transpose(1, 2).reshape(n, c, h, w), weights


class PAM(nn.Module):
    """Perceptual attention mechanism (QMF section 3.1; defaults in docs/qmf.md).

    ``F = RB1(E)``; ``U = CBAM channel attention of F`` (``1 x 1 x C``); ``head = multi-head
    self-attention of E``; ``h = softmax(head * U)`` over the channel axis (``softmax_axis=
    'channel'``, the default; ``'spatial'``: over the H W positions); ``Z = RB2(E * h)``.
    """

    def __init__(
        self, channels: int, heads: int = 4, reduction: int = 16, softmax_axis: str = "channel"
    ) -> None:
        super().__init__()
        if softmax_axis not in ("channel", "spatial"):
            raise ValueError(f"softmax_axis must be 'channel' or 'spatial', got {softmax_axis!r}")
        self.softmax_axis = softmax_axis
        self.rb1 = ResidualBlock(channels)
        self.channel = ChannelAttention(channels, reduction)
        self.attention = MultiHeadSelfAttention(channels, heads)
        self.rb2 = ResidualBlock(channels)

    def forward(
        self, e: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        u = self.channel(self.rb1(e))
        head, weights = self.attention(e, need_weights)
        logits = head * u
        if self.softmax_axis == "channel":
            h = torch.softmax(logits, dim=1)
        else:
            h = torch.softmax(logits.flatten(2), dim=-1).view_as(logits)
        z = self.rb2(e * h)
        return z, {"U": u, "h": h, "attention": weights}


class MapFusion(nn.Module):
    """Quality-map fusion M_F (QMF section 3.2; defaults in docs/qmf.md).

    The maps ``N x K x H x W`` (FSIM, MS-SSIM, MDSI; ``K = 3``) are scaled to intensity
    ``alpha`` (``alpha_mode='scale'``: ``alpha * m``, the default; ``'power'``: ``max(m, 0) **
    alpha``), average-pooled to the bottleneck size, and a two-layer per-pixel MLP (1x1 convs,
    hidden width ``hidden``) gives ``M`` (``N x 1 x h x w``). ``mode='gate'`` (default, CBAM's
    spatial-attention form): ``I = sigmoid(M) * Z``; ``'expectation'``: the expectation of ``Z``
    under ``softmax(M)`` over the positions, broadcast back to ``h x w``.
    """

    def __init__(
        self,
        n_maps: int = 3,
        hidden: int = 16,
        alpha: float = 1.0,
        alpha_mode: str = "scale",
        mode: str = "gate",
    ) -> None:
        super().__init__()
        if not 0.3 <= alpha <= 1.0:
            raise ValueError(f"alpha (the map intensity) must lie in [0.3, 1], got {alpha}")
        if alpha_mode not in ("scale", "power"):
            raise ValueError(f"alpha_mode must be 'scale' or 'power', got {alpha_mode!r}")
        if mode not in ("gate", "expectation"):
            raise ValueError(f"mode must be 'gate' or 'expectation', got {mode!r}")
        self.alpha, self.alpha_mode, self.mode = float(alpha), alpha_mode, mode
        self.mlp = nn.Sequential(
            nn.Conv2d(n_maps, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 1, 1)
        )

    def intensity(self, maps: torch.Tensor) -> torch.Tensor:
        if self.alpha_mode == "scale":
            return self.alpha * maps
        return maps.clamp_min(0.0) ** self.alpha

    def forward(self, maps: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = F.adaptive_avg_pool2d(self.intensity(maps.to(z.dtype)), z.shape[-2:])
        logits = self.mlp(m)  # M: N x 1 x h x w
        if self.mode == "gate":
            return torch.sigmoid(logits) * z, logits
        w = torch.softmax(logits.flatten(2), dim=-1)  # N x 1 x hw
        e = (z.flatten(2) * w).sum(-1, keepdim=True)  # N x C x 1
        return e.unsqueeze(-1).expand_as(z), logits


class QMFGenerator(nn.Module):
    """``G = (g1, g2)`` with PAM and M_F (module docstring).

    Image-to-image (``z_dim = 0``): the input is ``cond`` (``in_channels``), with ``n_attr``
    target attributes tiled over the image and concatenated (StarGAN); generation
    (``z_dim > 0``): ``z`` is mapped to the bottleneck. ``forward`` returns the image in
    [-1, 1] (tanh) and, with ``return_info``, a dict of intermediate tensors (``E``, ``Z``,
    ``M``, ``maps``, ``x0``, PAM's ``U``, ``h``, ``attention``).

    The map circularity (the maps of the output need the output) is resolved in ``forward``:
    given ``maps`` (N x K x H x W, e.g. the previous iteration's), they are used; else, with a
    ``maps_fn(x0, ref)`` and a reference ``ref``, a first decoder pass with ``I = 0`` gives ``x0``
    and ``maps_fn`` is applied to it **without gradient** (qagen's two-pass forward, docs/qmf.md).

    ``grey_output``: every decoder output (the first pass's ``x0`` too) is replaced by the mean
    of its channels on every channel, ``x_c = (1/C) sum_k x_k``: a grey image, for grey data
    (docs/qmf.md, "Grey data": without it, on Fashion-MNIST, the critic's luma-only penalties let
    its gradient, and so the samples, drift into green and magenta).
    """

    def __init__(
        self,
        resolution: int,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_down: int = 2,
        n_res: int = 6,
        z_dim: int = 0,
        n_attr: int = 0,
        pam: bool = True,
        map_fusion: bool = True,
        heads: int = 4,
        reduction: int = 16,
        softmax_axis: str = "channel",
        n_maps: int = 3,
        fusion_hidden: int = 16,
        alpha: float = 1.0,
        alpha_mode: str = "scale",
        fusion_mode: str = "gate",
        grey_output: bool = False,
    ) -> None:
        super().__init__()
        self.grey_output = bool(grey_output)
        if resolution % (2**n_down):
            raise ValueError(f"resolution {resolution} must be divisible by 2^n_down = {2**n_down}")
        self.resolution, self.z_dim, self.n_attr = resolution, int(z_dim), int(n_attr)
        self.bottleneck = resolution // 2**n_down
        ch = ngf * 2**n_down
        self.channels = ch
        if self.z_dim > 0:
            self.from_z = nn.Linear(self.z_dim, ch * self.bottleneck**2)
            enc: list[nn.Module] = [_norm(ch), nn.ReLU(inplace=True)]
        else:
            enc = [
                nn.Conv2d(in_channels + n_attr, ngf, 7, 1, 3, bias=False),
                _norm(ngf),
                nn.ReLU(inplace=True),
            ]
            c = ngf
            for _ in range(n_down):
                enc += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), _norm(2 * c), nn.ReLU(True)]
                c *= 2
        enc += [ResidualBlock(ch) for _ in range(n_res)]
        self.g1 = nn.Sequential(*enc)
        self.pam = PAM(ch, heads, reduction, softmax_axis) if pam else None
        self.fusion = (
            MapFusion(n_maps, fusion_hidden, alpha, alpha_mode, fusion_mode) if map_fusion else None
        )
        dec: list[nn.Module] = []
        c = ch
        for _ in range(n_down):
            dec += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                _norm(c // 2),
                nn.ReLU(inplace=True),
            ]
            c //= 2
        dec += [nn.Conv2d(c, out_channels, 7, 1, 3), nn.Tanh()]
        self.g2 = nn.Sequential(*dec)

    def decode(self, v: torch.Tensor) -> torch.Tensor:
        """g2 of the fused bottleneck ``v``: the image in [-1, 1] (grey with ``grey_output``)."""
        x = self.g2(v)
        return x.mean(1, keepdim=True).expand_as(x) if self.grey_output else x

    def encode(
        self,
        cond: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        attrs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The bottleneck ``E`` of g1."""
        if self.z_dim > 0:
            if z is None:
                raise ValueError("this generator is in generation mode: pass z")
            x = self.from_z(z).view(z.shape[0], self.channels, self.bottleneck, self.bottleneck)
            return self.g1(x)
        if cond is None:
            raise ValueError("this generator is in image-to-image mode: pass cond")
        if self.n_attr:
            if attrs is None or attrs.shape[-1] != self.n_attr:
                raise ValueError(f"pass attrs with {self.n_attr} target attributes per image")
            tiled = attrs.to(cond.dtype)[:, :, None, None].expand(-1, -1, *cond.shape[-2:])
            cond = torch.cat([cond, tiled], 1)
        return self.g1(cond)

    def forward(
        self,
        cond: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
        attrs: torch.Tensor | None = None,
        *,
        ref: torch.Tensor | None = None,
        maps_fn: MapsFn | None = None,
        maps: torch.Tensor | None = None,
        return_info: bool = False,
        need_attention: bool = False,
    ) -> Any:
        e = self.encode(cond, z, attrs)
        info: dict[str, Any] = {"E": e}
        z_feat = e
        if self.pam is not None:
            z_feat, pam_info = self.pam(e, need_attention)
            info.update(pam_info)
        info["Z"] = z_feat
        if self.fusion is not None:
            if maps is None:
                if maps_fn is None or ref is None:
                    raise ValueError("map fusion needs maps, or maps_fn and ref (two-pass)")
                with torch.no_grad():
                    x0 = self.decode(e)  # pass 1: I = 0, V = E
                    maps = maps_fn(x0, ref).detach()
                info["x0"] = x0
            i_feat, m = self.fusion(maps, z_feat)
            info.update({"maps": maps, "M": m, "I": i_feat})
            v = i_feat + e
        elif self.pam is not None:
            v = z_feat + e
        else:
            v = e
        out = self.decode(v)
        return (out, info) if return_info else out


class PatchCritic(nn.Module):
    """PatchGAN critic (Isola et al. 2017's 70x70 layout, without normalisation so that gradient
    penalties apply) with two heads (StarGAN-like; QMF Fig. 1's d1, docs/qmf.md).

    Trunk: ``n_layers`` stride-2 4x4 convs (``ndf``, 2 ndf, ...) and one stride-1 4x4 conv, each
    followed by LeakyReLU(0.2). Heads: ``src``, a stride-1 4x4 conv to one channel (a per-pixel
    real/fake score map) and, when ``n_attr > 0``, ``attr``: global average pooling and a linear
    layer to ``n_attr`` logits (multi-label). ``cond_channels > 0``: the critic sees
    ``cat(cond, x)`` (pix2pix's conditional critic). ``forward(x, cond) -> (src, attr or None)``;
    :meth:`score` is the per-image mean of ``src``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        *,
        ndf: int = 64,
        n_layers: int = 3,
        n_attr: int = 0,
        cond_channels: int = 0,
        max_mult: int = 8,
    ) -> None:
        super().__init__()
        self.cond_channels, self.n_attr = int(cond_channels), int(n_attr)
        layers: list[nn.Module] = []
        c_in, c = in_channels + cond_channels, ndf
        for _ in range(n_layers):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c_in, c = c, min(2 * c, ndf * max_mult)
        layers += [nn.Conv2d(c_in, c, 4, 1, 1), nn.LeakyReLU(0.2, inplace=True)]
        self.trunk = nn.Sequential(*layers)
        self.src = nn.Conv2d(c, 1, 4, 1, 1)
        self.attr = nn.Linear(c, n_attr) if n_attr else None

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.cond_channels:
            if cond is None:
                raise ValueError("this critic is conditional: pass cond")
            x = torch.cat([cond.to(x.dtype), x], 1)
        h = self.trunk(x)
        attr = self.attr(h.mean((2, 3))) if self.attr is not None else None
        return self.src(h), attr

    def score(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image critic value: the mean of the per-pixel map, shape ``[N]``."""
        return self(x, cond)[0].mean((1, 2, 3))


class ScoreRegressor(nn.Module):
    """``s``: a CNN regressor with global average pooling (docs/qmf.md): ``n_layers`` stride-2
    4x4 convs (``ndf``, 2 ndf, ...) with LeakyReLU(0.2), global average pooling and a linear
    layer to one score per image (``[N]``)."""

    def __init__(self, in_channels: int = 3, *, ndf: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c = in_channels, ndf
        for _ in range(n_layers):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            c_in, c = c, 2 * c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))[:, 0]
