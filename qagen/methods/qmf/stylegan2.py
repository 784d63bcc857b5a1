"""QMF's StyleGAN2 (``stylegan2-qmf``): "we applied the PAM and M_F attention modules to the
StyleGAN2 architecture. We also added the proposed Banach space norms (SSIM NIQE)" (Osahor &
Nasrabadi, sec. 5.2, Table 5).

The paper does not say where PAM and M_F enter a style-based generator, which has no encoder
and no bottleneck. qagen's choice (docs/qmf.md, "StyleGAN2 with PAM and M_F"): they act on the
synthesis features at ``fusion_resolution`` (default ``R / 4``: the bottleneck size of QMF's
own generator, ``n_down = 2``), after that block's two convolutions and before its toRGB, as
in :class:`qagen.methods.qmf.nets.QMFGenerator`: ``E`` is the block's feature map, ``Z =
PAM(E)``, ``M`` the fused quality maps, ``V = sigmoid(M) * Z + E`` (the table of
:mod:`qagen.methods.qmf.nets` for the ablations), and the following blocks read ``V``. ``E``
and ``Z`` depend on the styles, so the generator's loss reaches the mapping network through
M_F's output ``I = sigmoid(M) * Z`` (tested). The maps are those of QMF generation mode: FSIM,
MS-SSIM and MDSI of a first synthesis pass without PAM / M_F (``V = E``, the same ``w`` and
noise, no gradient) against the index-aligned real image ``X_ref`` (qagen's two-pass reading,
docs/qmf.md). The StyleGAN2 parameters are the core's (counts unchanged); PAM and M_F add
theirs. The critic, the loss and the regularisers are StyleGAN2's (:mod:`qagen.train.stylegan2`),
with QAGAN's SSIM / NIQE critic penalties as options; QMF's d2 and s are not part of Table 5's
description and are not added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from qagen.errors import InputError
from qagen.gan.nets.stylegan2 import StyleGAN2Generator
from qagen.methods.qmf.maps import maps_min_size, quality_maps
from qagen.methods.qmf.nets import PAM, MapFusion
from qagen.train.recipe import register_recipe
from qagen.train.stylegan2 import StyleGAN2Config, StyleGAN2Recipe

__all__ = ["StyleGAN2QMF", "StyleGAN2QMFConfig", "StyleGAN2QMFGenerator"]


class StyleGAN2QMFGenerator(nn.Module):
    """A :class:`StyleGAN2Generator` (``self.stylegan``) with PAM and M_F on its features at
    ``fusion_resolution`` (module docstring).

    ``forward(z, z_mix, cutoff, *, noises, ref, maps_fn, maps, return_ws, return_info)``: with
    M_F, ``maps`` (``N x K x H x W``) are used when given, else ``maps_fn(x0, ref)`` of the
    first pass ``x0`` (``V = E``, no gradient; ``noises`` must then be given, so that both
    passes draw the same noise). ``return_info`` adds ``{"E", "Z", "M", "I", "maps", "x0"}``.
    """

    def __init__(
        self,
        stylegan: StyleGAN2Generator,
        *,
        fusion_resolution: int,
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
    ) -> None:
        super().__init__()
        self.stylegan = stylegan
        self.fusion_resolution = int(fusion_resolution)
        ch = stylegan.synthesis.channels_at(self.fusion_resolution)
        self.pam = PAM(ch, heads, reduction, softmax_axis) if pam else None
        self.fusion = (
            MapFusion(n_maps, fusion_hidden, alpha, alpha_mode, fusion_mode) if map_fusion else None
        )
        self.num_ws = stylegan.num_ws

    @property
    def noise_resolutions(self) -> list[int]:
        return self.stylegan.noise_resolutions

    def _hook(self, maps: torch.Tensor | None, info: dict[str, Any]):
        def fuse(e: torch.Tensor) -> torch.Tensor:
            info["E"] = e
            z = e
            if self.pam is not None:
                # the explicit softmax attention (need_weights): twice differentiable, which
                # the path-length regulariser needs (CPU's fused attention is not)
                z, pam_info = self.pam(e, need_weights=True)
                info["h"] = pam_info["h"]
            info["Z"] = z
            if self.fusion is not None:
                assert maps is not None
                i_feat, m = self.fusion(maps, z)
                info.update({"I": i_feat, "M": m})
                return i_feat + e
            return z + e if self.pam is not None else e

        return fuse

    def forward(
        self,
        z: torch.Tensor,
        z_mix: torch.Tensor | None = None,
        cutoff: int | None = None,
        *,
        noises: list[torch.Tensor] | None = None,
        ref: torch.Tensor | None = None,
        maps_fn: Any = None,
        maps: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        return_ws: bool = False,
        return_info: bool = False,
    ) -> Any:
        g = self.stylegan
        info: dict[str, Any] = {}
        if self.fusion is not None and maps is None:
            if maps_fn is None or ref is None or noises is None:
                raise ValueError("map fusion needs maps, or maps_fn, ref and noises (two-pass)")
            with torch.no_grad():
                x0 = g(z, z_mix, cutoff, noises=noises, truncation_psi=truncation_psi,
                       update_w_avg=False)  # fmt: skip
                maps = maps_fn(x0, ref).detach()
            info.update({"x0": x0, "maps": maps})
        hooks = {self.fusion_resolution: self._hook(maps, info)}
        out = g(z, z_mix, cutoff, noises=noises, hooks=hooks, truncation_psi=truncation_psi,
                return_ws=return_ws)  # fmt: skip
        if not return_info:
            return out
        return (*out, info) if return_ws else (out, info)


@dataclass
class StyleGAN2QMFConfig(StyleGAN2Config):
    """StyleGAN2's options plus PAM and M_F (as the ``qmf`` recipe's, docs/qmf.md)."""

    pam: bool = True
    heads: int = 4
    reduction: int = 16
    softmax_axis: Literal["channel", "spatial"] = "channel"
    map_fusion: bool = True
    fusion_hidden: int = 16
    fusion_mode: Literal["gate", "expectation"] = "gate"
    alpha: float = 1.0
    alpha_mode: Literal["scale", "power"] = "scale"
    ms_ssim_scales: int = 5
    #: the synthesis resolution PAM / M_F act on; 0: data.resolution / 4 (QMF's bottleneck)
    fusion_resolution: int = 0


def fusion_resolution(cfg: StyleGAN2QMFConfig, resolution: int) -> int:
    """``cfg.fusion_resolution`` or ``resolution / 4``."""
    return cfg.fusion_resolution or resolution // 4


@register_recipe("stylegan2-qmf")
class StyleGAN2QMF(StyleGAN2Recipe):
    """StyleGAN2 with QMF's PAM and M_F (module docstring)."""

    Config = StyleGAN2QMFConfig

    @classmethod
    def validate_config(cls, cfg: StyleGAN2QMFConfig, run: Any) -> None:
        super().validate_config(cfg, run)
        res = int(run.data.resolution)
        fr = fusion_resolution(cfg, res)
        if fr < 4 or fr > res or fr & (fr - 1):
            raise InputError(
                f"hparams.fusion_resolution must be a power of two in 4..{res} (a synthesis "
                f"block), got {cfg.fusion_resolution}"
            )
        if not 0.3 <= cfg.alpha <= 1.0:
            raise InputError(f"hparams.alpha (the map intensity, QMF 3.2) must lie in [0.3, 1], "
                             f"got {cfg.alpha}")  # fmt: skip
        if not 1 <= cfg.ms_ssim_scales <= 5:
            raise InputError(f"hparams.ms_ssim_scales must lie in 1..5, got {cfg.ms_ssim_scales}")
        if cfg.map_fusion and res < maps_min_size(cfg.ms_ssim_scales):
            raise InputError(f"the quality maps need images of at least "
                             f"{maps_min_size(cfg.ms_ssim_scales)} px, got data.resolution {res}")  # fmt: skip
        ch = min(cfg.channel_base // fr, cfg.channel_max)
        if cfg.pam and ch % cfg.heads:
            raise InputError(f"hparams.heads ({cfg.heads}) must divide the {ch} channels at "
                             f"{fr} px")  # fmt: skip

    def build_generator(self, cfg: StyleGAN2QMFConfig, resolution: int) -> nn.Module:
        g = super().build_generator(cfg, resolution)
        return StyleGAN2QMFGenerator(
            g, fusion_resolution=fusion_resolution(cfg, resolution), pam=cfg.pam,
            map_fusion=cfg.map_fusion, heads=cfg.heads, reduction=cfg.reduction,
            softmax_axis=cfg.softmax_axis, fusion_hidden=cfg.fusion_hidden, alpha=cfg.alpha,
            alpha_mode=cfg.alpha_mode, fusion_mode=cfg.fusion_mode,
        )  # fmt: skip

    def maps(self, x0: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """The FSIM, MS-SSIM and MDSI maps of ``x0`` against ``ref`` (QMF generation mode)."""
        return quality_maps(x0, ref, self.cfg.ms_ssim_scales).maps

    def generator_kwargs(self, real: torch.Tensor | None) -> dict[str, Any]:
        if not self.cfg.map_fusion:
            return {}
        return {"ref": real, "maps_fn": self.maps}

    # -- sample grids: z, noise and X_ref (dataset images)
    def sample_inputs(self, n: int, generator: torch.Generator) -> dict[str, Any]:
        inputs = super().sample_inputs(n, generator)
        ds = self.ctx.dataset
        idx = torch.randint(len(ds), (n,), generator=generator).tolist()
        refs = [ds[i][0] if isinstance(ds[i], (list, tuple)) else ds[i] for i in idx]
        return inputs | {"ref": torch.stack(refs).float()}

    def sample_kwargs(self, inputs: Any, p: torch.Tensor) -> dict[str, Any]:
        if not self.cfg.map_fusion:
            return {}
        return {"ref": inputs["ref"].to(p.device, p.dtype), "maps_fn": self.maps}
