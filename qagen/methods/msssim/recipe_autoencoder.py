"""The ``autoencoder`` recipe: a convolutional autoencoder for grey images with a vector
bottleneck (:class:`qagen.methods.msssim.autoencoder.ConvAutoencoder`) trained with the mean squared
error, the mean absolute error or -MS-SSIM (the MS-SSIM loss poster's autoencoders: Yale B at
48 x 48, STL-10 at 96 x 96).

One step on a batch ``x`` (the dataset's ``3 x R x R`` in [-1, 1])::

    X = luma(x)          BT.601 Y = 0.299 R + 0.587 G + 0.114 B on [0, 1] (grey images unchanged)
    X' = D(E(X))
    L = mean (X' - X)^2 | mean |X' - X| | 1 - mean_i MS-SSIM(X'_i, X_i)

**MS-SSIM at 48 and 96 px.** The five scales of MS-SSIM need 161 px; ``msssim_scales = 0``
(default) uses the largest number that fits the 11 x 11 window: 3 at 48 px (48 -> 24 -> 12), 4
at 96 px (96 -> 48 -> 24 -> 12), with the first weights of Wang et al. renormalised to sum to 1
and ``cs`` clamped at 1e-4 (:class:`qagen.losses.MSSSIMLoss`). Adam (lr 1e-3, betas 0.9 /
0.999). The poster gives no architecture, code size or optimiser settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from qagen._checks import input_checks
from qagen.color import to_gray
from qagen.errors import InputError
from qagen.iqa.structural import ms_ssim_min_size
from qagen.losses import MSSSIMLoss
from qagen.methods.msssim.autoencoder import ConvAutoencoder
from qagen.train.bases import SingleNetworkRecipe
from qagen.train.ema import unwrap
from qagen.train.recipe import TrainContext, register_recipe

__all__ = ["AutoencoderConfig", "Autoencoder", "AE_LOSSES", "auto_msssim_scales"]

AE_LOSSES = ("mse", "mae", "msssim")


def auto_msssim_scales(size: int, win_size: int = 11) -> int:
    """The largest number of MS-SSIM scales (at most 5) whose coarsest scale still fits the
    window on ``size`` px: ``(win - 1) 2^(k - 1) + 1 <= size``; 0 when not even one fits."""
    k = 0
    while k < 5 and ms_ssim_min_size(k + 1, win_size) <= size:
        k += 1
    return k


@dataclass
class AutoencoderConfig:
    """Hyper-parameters of the ``autoencoder`` recipe (module docstring)."""

    loss: Literal["mse", "mae", "msssim"] = "mse"
    code_dim: int = 128
    channels: int = 32
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    #: LR = lr * max(0, 1 - step / max_iters); 0: constant
    max_iters: int = 0
    #: 0: the largest number of scales that fits the image (3 at 48 px, 4 at 96 px)
    msssim_scales: int = 0
    msssim_win: int = 11


@register_recipe("autoencoder")
class Autoencoder(SingleNetworkRecipe):
    """Convolutional autoencoder trained with ``cfg.loss`` (module docstring)."""

    Config = AutoencoderConfig

    @classmethod
    def validate_config(cls, cfg: AutoencoderConfig, run: Any) -> None:
        if cfg.loss not in AE_LOSSES:
            raise InputError(f"hparams.loss must be one of {AE_LOSSES}, got {cfg.loss!r}")
        for name in ("code_dim", "channels"):
            if getattr(cfg, name) < 1:
                raise InputError(f"hparams.{name} must be >= 1, got {getattr(cfg, name)}")
        if not cfg.lr > 0:
            raise InputError(f"hparams.lr must be > 0, got {cfg.lr!r}")
        if cfg.max_iters < 0:
            raise InputError(f"hparams.max_iters must be >= 0, got {cfg.max_iters}")
        if cfg.loss == "msssim":
            res = run.data.resolution
            if not 0 <= cfg.msssim_scales <= 5:
                raise InputError(f"hparams.msssim_scales must be in 0..5, got {cfg.msssim_scales}")
            k = cfg.msssim_scales or auto_msssim_scales(res, cfg.msssim_win)
            need = ms_ssim_min_size(max(k, 1), cfg.msssim_win)
            if k < 1 or res < need:
                raise InputError(
                    f"MS-SSIM with {max(k, 1)} scale(s) and an {cfg.msssim_win} px window needs "
                    f"images of at least {need} px, got data.resolution = {res}"
                )

    def __init__(self, cfg: AutoencoderConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        type(self).validate_config(cfg, ctx.run)
        res = ctx.run.data.resolution
        self.net = ctx.wrap(ConvAutoencoder(res, cfg.code_dim, cfg.channels))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.scales = cfg.msssim_scales or auto_msssim_scales(res, cfg.msssim_win)
        self.msssim = MSSSIMLoss(1.0, scales=max(self.scales, 1), win_size=cfg.msssim_win)

    @staticmethod
    def grey(x: Any) -> torch.Tensor:
        """Grey images on [0, 1] from a batch in [-1, 1] (BT.601 luma for colour)."""
        if isinstance(x, (list, tuple)):
            x = x[0]
        return to_gray(((x + 1.0) / 2.0).clamp(0.0, 1.0), gray="y")

    def loss(self, rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.loss == "mse":
            return F.mse_loss(rec, x)
        if self.cfg.loss == "mae":
            return F.l1_loss(rec, x)
        with input_checks(False):
            return self.msssim(rec, x)

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        dtype = next(unwrap(self.net).parameters()).dtype
        x = self.grey(next(batches)).to(dtype)
        rec = self.net(x)
        loss = self.loss(rec, x)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        mse = F.mse_loss(rec.detach(), x)
        return {"loss": loss.detach(), "psnr": -10.0 * torch.log10(mse.clamp_min(1e-12))}

    def network(self, ema: Mapping[str, nn.Module] | None = None) -> ConvAutoencoder:
        """The autoencoder to evaluate: the EMA copy when there is one, else the raw weights."""
        net = (ema or {}).get("net")
        return net if net is not None else unwrap(self.net)

    # -- sample grids: [original | reconstruction] pairs
    def sample_inputs(self, n: int, generator: torch.Generator) -> Any:
        return self.ctx.fixed_batch(min(n, 32), generator)

    def sample(self, inputs: Any, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        net = self.network(ema)
        net.eval()
        x = self.grey(inputs).to(next(net.parameters()).dtype)
        return torch.cat([x, net(x).clamp(0.0, 1.0)], dim=-1)
