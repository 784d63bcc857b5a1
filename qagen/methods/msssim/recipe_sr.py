"""Super-resolution recipes ``sr-mse``, ``sr-mae`` and ``sr-msssim``: SRCNN trained with a pixel
loss or with -MS-SSIM (the MS-SSIM loss poster, after Dong et al. TPAMI 2016).

One step on a batch of high-resolution patches ``x`` (the dataset's ``3 x P x P`` in [-1, 1])::

    Y   = rgb2ycbcr(x)(:, :, 1)          MATLAB's BT.601 Y (rounded to 8 bits, as SRCNN's code
                                          reads uint8 images), on [0, 1]
    LR  = imresize(Y, 1/s)               MATLAB bicubic, antialiased
    B   = imresize(LR, s)                the bicubic upscaling: SRCNN's input
    F   = SRCNN(B)
    L   = mean (F - Y)^2                 sr-mse
        = mean |F - Y|                   sr-mae
        = 1 - mean_i MS-SSIM(F_i, Y_i)   sr-msssim (the poster's -sum_i MS-SSIM up to a constant
                                          and the batch size: the same minimiser)

**MS-SSIM on a patch.** MS-SSIM's five scales need 161 px (the 11 x 11 window must fit the
coarsest scale). The default patch is 48 px and ``msssim_scales = 3`` (48 -> 24 -> 12 px, the
largest number of scales that fits), with the first three of Wang et al.'s weights (0.0448,
0.2856, 0.3001) renormalised to sum to 1, the 11 x 11 Gaussian window (sigma 1.5), K = (0.01,
0.03) and ``cs`` clamped at 1e-4 before the powers (:class:`qagen.losses.MSSSIMLoss`). The
poster gives neither the patch size nor the number of scales.

Adam (lr 1e-4, betas 0.9/0.999) with a constant rate by default; the poster names Adam only.

**Initialisation** (``init``; the poster gives none): ``'identity'`` (default) starts the
unchanged SRCNN at the bicubic result (:class:`qagen.methods.msssim.srcnn.SRCNN`: a delta path
through the first channel of every layer), so that a short training already improves on
bicubic; ``'gaussian'`` is SRCNN's N(0, 0.001^2) and ``'default'`` PyTorch's. Measured here
(batch 16): from PyTorch's initialisation (Adam 1e-3) SRCNN was still about 4 dB below bicubic
after 500 steps on held-out patches, while from the identity (Adam 1e-4) it was 0.66 dB above
bicubic after 300 steps on held-out built-in photo crops (``docs/msssim-loss.md``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from qagen._checks import input_checks
from qagen.color import rgb_to_y
from qagen.errors import InputError
from qagen.iqa.structural import ms_ssim_min_size
from qagen.losses import MSSSIMLoss
from qagen.methods.msssim.data_sr import bicubic_upscale, make_lr
from qagen.methods.msssim.srcnn import SRCNN
from qagen.train.bases import SingleNetworkRecipe
from qagen.train.ema import unwrap
from qagen.train.recipe import TrainContext, register_recipe

__all__ = ["SRConfig", "SRRecipe", "SRMSE", "SRMAE", "SRMSSSIM", "SR_LOSSES"]

SR_LOSSES = ("mse", "mae", "msssim")


@dataclass
class SRConfig:
    """Hyper-parameters of the SR recipes (``[hparams]``; see the module docstring)."""

    loss: Literal["mse", "mae", "msssim"] = "mse"
    #: upscaling factor (the poster: 4)
    scale: int = 4
    channels: tuple[int, int] = (64, 32)
    kernels: tuple[int, int, int] = (9, 5, 5)
    #: 'replicate' / 'zeros': same-size convolutions; 'valid': SRCNN's unpadded training
    padding: Literal["replicate", "zeros", "valid"] = "replicate"
    init: Literal["default", "gaussian", "identity"] = "identity"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    #: LR = lr * max(0, 1 - step / max_iters); 0: constant
    max_iters: int = 0
    msssim_scales: int = 3
    msssim_win: int = 11
    #: Y rounded to 8 bits (MATLAB rgb2ycbcr on uint8 images) before the LR image is made
    y_rounding: bool = True


class SRRecipe(SingleNetworkRecipe):
    """SRCNN super-resolution trained with ``cfg.loss`` (module docstring)."""

    Config = SRConfig

    @classmethod
    def validate_config(cls, cfg: SRConfig, run: Any) -> None:
        if cfg.loss not in SR_LOSSES:
            raise InputError(f"hparams.loss must be one of {SR_LOSSES}, got {cfg.loss!r}")
        if cfg.scale < 2:
            raise InputError(f"hparams.scale must be >= 2, got {cfg.scale}")
        if not cfg.lr > 0:
            raise InputError(f"hparams.lr must be > 0, got {cfg.lr!r}")
        if cfg.max_iters < 0:
            raise InputError(f"hparams.max_iters must be >= 0, got {cfg.max_iters}")
        res = run.data.resolution
        if res % cfg.scale:
            raise InputError(
                f"data.resolution (the patch size) must be a multiple of hparams.scale = "
                f"{cfg.scale}, got {res}"
            )
        border = SRCNN(cfg.channels, cfg.kernels).border if cfg.padding == "valid" else 0
        out = res - 2 * border
        if out < 1:
            raise InputError(f"data.resolution {res} is too small for 'valid' SRCNN layers")
        if cfg.loss == "msssim":
            if not 1 <= cfg.msssim_scales <= 5:
                raise InputError(f"hparams.msssim_scales must be in 1..5, got {cfg.msssim_scales}")
            need = ms_ssim_min_size(cfg.msssim_scales, cfg.msssim_win)
            if out < need:
                raise InputError(
                    f"MS-SSIM with {cfg.msssim_scales} scales and an {cfg.msssim_win} px window "
                    f"needs patches of at least {need} px (the network output), got {out}: raise "
                    "data.resolution or lower hparams.msssim_scales"
                )

    def __init__(self, cfg: SRConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        type(self).validate_config(cfg, ctx.run)
        self.net = ctx.wrap(SRCNN(cfg.channels, cfg.kernels, cfg.padding, cfg.init))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.msssim = MSSSIMLoss(1.0, scales=cfg.msssim_scales, win_size=cfg.msssim_win)

    # -- data
    def prepare(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(bicubic input B, target Y)`` of a batch of RGB patches in [-1, 1]."""
        if isinstance(x, (list, tuple)):
            x = x[0]
        dtype = next(unwrap(self.net).parameters()).dtype
        rgb = ((x.to(dtype) + 1.0) / 2.0).clamp(0.0, 1.0)
        y = rgb_to_y(rgb, rounding=self.cfg.y_rounding)
        return bicubic_upscale(make_lr(y, self.cfg.scale), self.cfg.scale), y

    def target_region(self, y: torch.Tensor) -> torch.Tensor:
        """The part of the target the network predicts ('valid' padding: the centre)."""
        if self.cfg.padding != "valid":
            return y
        b = unwrap(self.net).border
        return y[..., b:-b, b:-b]

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of ``cfg.loss`` (module docstring)."""
        if self.cfg.loss == "mse":
            return F.mse_loss(pred, target)
        if self.cfg.loss == "mae":
            return F.l1_loss(pred, target)
        with input_checks(False):  # predictions leave [0, 1] during training
            return self.msssim(pred, target)

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        b, y = self.prepare(next(batches))
        target = self.target_region(y)
        pred = self.net(b)
        loss = self.loss(pred, target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            mse = F.mse_loss(pred.detach().clamp(0, 1), target)
            mse_b = F.mse_loss(self.target_region(b).clamp(0, 1), target)
        return {
            "loss": loss.detach(),
            "psnr": -10.0 * torch.log10(mse.clamp_min(1e-12)),
            "psnr_bicubic": -10.0 * torch.log10(mse_b.clamp_min(1e-12)),
        }

    # -- sample grids: each image is [bicubic | SRCNN | HR] side by side (Y, grey)
    def sample_inputs(self, n: int, generator: torch.Generator) -> Any:
        return self.ctx.fixed_batch(min(n, 16), generator)

    def network(self, ema: Mapping[str, nn.Module] | None = None) -> SRCNN:
        """The SRCNN to evaluate: the EMA copy when there is one, else the raw weights."""
        net = (ema or {}).get("net")
        return net if net is not None else unwrap(self.net)

    def sample(self, inputs: Any, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        net = self.network(ema)
        net.eval()
        b, y = self.prepare(inputs)
        pred = net.upscale(b).clamp(0.0, 1.0)
        return torch.cat([b.clamp(0.0, 1.0), pred, y], dim=-1)


@register_recipe("sr-mse")
class SRMSE(SRRecipe):
    """SRCNN trained with the mean squared error (Dong et al.'s loss)."""


@dataclass
class SRMAEConfig(SRConfig):
    loss: Literal["mse", "mae", "msssim"] = "mae"


@register_recipe("sr-mae")
class SRMAE(SRRecipe):
    """SRCNN trained with the mean absolute error."""

    Config = SRMAEConfig


@dataclass
class SRMSSSIMConfig(SRConfig):
    loss: Literal["mse", "mae", "msssim"] = "msssim"


@register_recipe("sr-msssim")
class SRMSSSIM(SRRecipe):
    """SRCNN trained with -MS-SSIM (the MS-SSIM loss poster)."""

    Config = SRMSSSIMConfig
