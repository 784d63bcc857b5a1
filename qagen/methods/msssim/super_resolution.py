"""Evaluating super-resolution: PSNR and SSIM on the Y channel with the border shaved, as in
SRCNN's evaluation code (Dong et al., TPAMI 2016) and the MS-SSIM loss poster's table.

Protocol (:data:`SR_PROTOCOL`), per high-resolution test image (8-bit RGB):

1. crop to a multiple of the scale s (MATLAB ``modcrop``);
2. Y = ``rgb2ycbcr`` of the 8-bit image (uint8 Y, i.e. rounded: MATLAB's result on uint8
   input), on [0, 1];
3. LR = ``imresize(Y, 1/s)``, bicubic = ``imresize(LR, s)`` (MATLAB bicubic, antialiased, in
   double precision);
4. SR = the network on the bicubic image (same size); every output is clamped to [0, 1] and
   rounded to 8 bits (as a saved image);
5. ``shave`` = s pixels are removed on every side of the output and of the reference Y;
6. PSNR = 10 log10(255^2 / MSE) on the 0-255 scale; SSIM = Wang et al.'s ``ssim_index.m``
   (11 x 11 Gaussian window, sigma 1.5, K = (0.01, 0.03), L = 255, 'valid' filtering, mean of
   the map) on the shaved Y. The table gives the mean over the images of the set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from qagen.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from qagen.errors import InputError
from qagen.methods.msssim.data_sr import SRImage, bicubic_upscale, make_lr

__all__ = [
    "SR_PROTOCOL",
    "SRResult",
    "evaluate_sr",
    "load_sr_network",
    "shave",
    "sr_image_rgb",
    "sr_outputs",
    "y_psnr_ssim",
]

SR_PROTOCOL = {
    "channel": "Y of YCbCr (MATLAB rgb2ycbcr of the 8-bit image: BT.601, Y in [16, 235])",
    "low_resolution": "imresize(Y_HR, 1/s), bicubic with antialiasing (MATLAB), after modcrop",
    "bicubic": "imresize(LR, s)",
    "outputs": "clamped to [0, 1] and rounded to 8 bits",
    "border": "s pixels shaved on every side before PSNR and SSIM",
    "psnr": "10 log10(255^2 / MSE) on the 0-255 scale, mean over the images",
    "ssim": "ssim_index.m (Wang et al. 2004): 11x11 Gaussian sigma 1.5, L = 255, mean over the images",
}


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """``x`` without ``border`` pixels on each side (``... x H x W``)."""
    if border < 0:
        raise InputError(f"border must be >= 0, got {border}")
    if border == 0:
        return x
    h, w = x.shape[-2:]
    if h <= 2 * border or w <= 2 * border:
        raise InputError(f"an image of {h} x {w} px has nothing left after shaving {border} px")
    return x[..., border:-border, border:-border]


def y_psnr_ssim(x: torch.Tensor, y: torch.Tensor, border: int) -> tuple[float, float]:
    """PSNR (dB) and SSIM of ``x`` against ``y`` (``1 x 1 x H x W`` on [0, 1], already 8-bit
    values) after shaving ``border`` px, on the 0-255 scale (module docstring, steps 5-6)."""
    from qagen.iqa.structural import ssim

    a = shave(x, border).double() * 255.0
    b = shave(y, border).double() * 255.0
    mse = float(((a - b) ** 2).mean())
    psnr = float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    return psnr, float(ssim(a, b, data_range=255.0).item())


def _quantise(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x.clamp(0.0, 1.0) * 255.0 + 0.5) / 255.0


def load_sr_network(
    run_dir: str | Path, checkpoint: str | int = "last", device: str = "cpu"
) -> tuple[Any, Any]:
    """``(SRCNN in eval mode, RestoredRun)`` of an ``sr-*`` run (the EMA copy when the run kept
    one, else the raw weights)."""
    from qagen.methods.msssim.recipe_sr import SRRecipe
    from qagen.train import restore_run

    restored = restore_run(run_dir, checkpoint, device=device)
    if not isinstance(restored.recipe, SRRecipe):
        raise InputError(
            f"{run_dir} is a {restored.run.recipe!r} run, not a super-resolution run (sr-*)"
        )
    net = restored.recipe.network(restored.ema)
    net.eval()
    return net, restored


@torch.no_grad()
def sr_outputs(
    hr: torch.Tensor, scale: int, networks: Mapping[str, Any], *, y_rounding: bool = True
) -> dict[str, torch.Tensor]:
    """``{"HR": Y, "Bicubic": ..., name: SR}`` of one 8-bit RGB image ``3 x H x W`` (already
    ``modcrop``-ped), each ``1 x 1 x H x W`` on [0, 1] and rounded to 8 bits (module doc)."""
    rgb = hr.unsqueeze(0).double() / 255.0
    y = rgb_to_y(rgb, rounding=y_rounding)
    bic = bicubic_upscale(make_lr(y, scale), scale)
    out = {"HR": y, "Bicubic": _quantise(bic)}
    for name, net in networks.items():
        dtype = next(net.parameters()).dtype
        dev = next(net.parameters()).device
        out[name] = _quantise(net.upscale(bic.to(dev, dtype)).double().cpu())
    return out


@dataclass
class SRResult:
    """Mean PSNR and SSIM per method over a test set, with the per-image values."""

    psnr: dict[str, float]
    ssim: dict[str, float]
    per_image: list[dict[str, Any]] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)


def evaluate_sr(
    images: Sequence[SRImage],
    networks: Mapping[str, Any],
    scale: int = 4,
    border: int | None = None,
) -> SRResult:
    """PSNR and SSIM of the bicubic baseline and of every network on ``images`` (module doc)."""
    if not images:
        raise InputError("evaluate_sr: no test images")
    border = scale if border is None else border
    rows = []
    for img in images:
        outs = sr_outputs(img.hr, scale, networks)
        ref = outs.pop("HR")
        row: dict[str, Any] = {"image": img.name, "size": list(img.hr.shape[-2:])}
        for name, x in outs.items():
            p, s = y_psnr_ssim(x, ref, border)
            row[f"{name} PSNR"], row[f"{name} SSIM"] = p, s
        rows.append(row)
    names = ["Bicubic", *networks]
    mean = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    return SRResult(
        psnr={n: mean(f"{n} PSNR") for n in names},
        ssim={n: mean(f"{n} SSIM") for n in names},
        per_image=rows,
        protocol={**SR_PROTOCOL, "scale": scale, "border_px": border, "n_images": len(rows)},
    )


@torch.no_grad()
def sr_image_rgb(net: Any, rgb: torch.Tensor, scale: int) -> torch.Tensor:
    """Upscale an RGB (or grey) image ``N x C x H x W`` on [0, 1] by ``scale``: the Y channel
    through ``net`` (after bicubic upscaling), Cb and Cr bicubic (SRCNN's colour handling);
    returns ``N x C x sH x sW`` on [0, 1] (grey in, grey out). With ``C`` = 2 or 4 the last
    channel is alpha: upscaled bicubic (MATLAB ``imresize``, as Cb and Cr), clamped to [0, 1]
    and returned as the last channel."""
    if rgb.shape[1] in (2, 4):
        colour, alpha = rgb[:, :-1], rgb[:, -1:]
        a = bicubic_upscale(alpha.double(), scale).clamp(0.0, 1.0)
        return torch.cat([sr_image_rgb(net, colour, scale), a], dim=1)
    grey = rgb.shape[1] == 1
    x = rgb.expand(-1, 3, -1, -1) if grey else rgb
    ycc = bicubic_upscale(rgb_to_ycbcr(x.double()), scale)
    p = next(net.parameters())
    y = net.upscale(ycc[:, :1].to(p.device, p.dtype)).double().cpu()
    out = ycbcr_to_rgb(torch.cat([y, ycc[:, 1:]], dim=1)).clamp(0.0, 1.0)
    return out.mean(dim=1, keepdim=True) if grey else out
