"""Quality Map Fusion (``qmf``): Osahor & Nasrabadi, "Quality Map Fusion for Adversarial
Learning", arXiv 2110.12338 (sections 3-5, eq. 7-8; no public code exists; every gap the paper
leaves is an option below, its default qagen's reading; ``docs/qmf.md`` quotes the
sentence each one interprets).

Networks (:mod:`qagen.methods.qmf.nets`): the generator ``G = (g1, g2)`` with PAM and the map fusion
M_F, the PatchGAN critic ``d1`` (per-pixel real/fake head, attribute head), the map critic ``d2``
and the score regressor ``s``. The maps (:mod:`qagen.methods.qmf.maps`): FSIM, MS-SSIM and MDSI
similarity maps of the output against the reference ``X_ref``, on every iteration for the whole
batch.

Modes (``mode``, ``'auto'`` reads the dataset's items):

* ``generation`` (CIFAR-10, CelebA: plain images): g1 receives z mapped to the bottleneck; X_ref
  is the index-aligned real image of the batch (as QAGAN's SSIM-GP pairs images);
* ``paired`` (pix2pix ``A|B`` folders, ``builtin-edges``, ``builtin-restore``): the input is the
  source image, X_ref the target; d1 sees ``cat(source, image)``; G adds ``l1_weight * |X^ - X_ref|``
  (pix2pix's L1, lambda 100);
* ``attributes`` (CelebA attributes, FairFace labels): StarGAN-style multi-domain translation:
  the input is the image with target labels (the batch's labels shuffled), X_ref the input image;
  d1's attribute head is trained on the real labels (``cls_weight``), G adds the classification
  loss of its output and ``rec_weight * |G(G(x, c'), c) - x|``.

One generator step (``n_critic = 1``, pix2pix style: one generator forward serves the critics'
updates and the generator's; the default ``n_critic = 0`` means 5 in generation mode, as WGAN-GP,
and 1 in the image-to-image modes, docs/qmf.md):

1. ``X^ = G(...)`` with the two-pass map circularity fix (``map_source='two-pass'``: a first
   decoder pass with ``I = 0``, its maps detached, then the real pass; ``'previous'``: each
   sample's maps of its previous visit, image-to-image only);
2. the maps of ``(X^, X_ref)`` (and their FSIM score) and of ``(X_real', X_ref)`` (another real
   image: the batch rolled by one, ``d2_real='other'``; or of X_ref under a mild level-1 blur or
   noise and X_ref, ``'perturbed'``, the image-to-image default) when d2 or s need them;
3. d1: ``L_D = E[d1(X^)] - E[d1(X)] + L_BP + drift E[d1(X)^2]`` (Wasserstein on the per-pixel
   output averaged; ``objective='logistic'``: eq. 8's log-loss form, non-saturating), with
   ``L_BP = lambda1 NIQE(grad d1 | mu_P, S_P) + lambda2 E[(|d1(X) - d1(X^)| / d_b(X, X^) - 1)^2]
   + lambda3 E[(||grad d1(x_hat)|| - 1)^2]`` (the per-pixel output reduced per image by its mean;
   ``gp_norm='banach'``: the GP in the Sobolev norm ``W^{s,p}`` of Adler & Lunz);
4. d2: Wasserstein critic of the stacked maps, real = the real maps of 2., fake =
   maps(X^, X_ref), with a gradient penalty;
5. s: ``|s(X^) - FSIM(X^, X_ref)|`` (or a frozen TorchScript NR-IQA model's score of X^);
6. G: ``-E[d1(X^)] - d2_weight E[d2(maps)] + score_weight |s(X^) - target|`` + the mode's terms.

Logged (metrics.csv): ``d_loss``, ``wdist``, ``gp``, ``grad_norm``, ``ssim_gp``, ``niqe_gp`` (the
L_BP terms, unweighted, when their weight is > 0; ``niqe_gp`` after the warm-up), ``drift``,
``d2_loss``, ``d2_wdist``, ``d2_gp``, ``s_loss``, ``fsim_score``, ``map_fsim``, ``map_ms_ssim``,
``map_mdsi`` (mean maps of the output), ``gate`` (mean sigmoid(M)), ``g_loss``, ``g_adv``,
``g_map``, ``g_score``, ``l1`` / ``g_cls``, ``g_rec``, ``d_cls``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from qagen.data.build import dataset_is_grey
from qagen.errors import InputError
from qagen.gan.niqe_penalty import NIQEGradientPenalty
from qagen.gan.objectives import critic_loss, drift_penalty, generator_loss
from qagen.gan.penalties import (
    banach_penalty_terms,
    banach_scales,
    critic_gradient,
    gradient_penalty_terms,
    ssim_gradient_penalty,
)
from qagen.methods.qmf.maps import MAP_NAMES, maps_min_size, perturb_level1, quality_maps
from qagen.methods.qmf.nets import PatchCritic, QMFGenerator, ScoreRegressor
from qagen.train.bases import NIQEPenaltyConfig, NIQEPenaltySchedule
from qagen.train.ema import unwrap
from qagen.train.recipe import Recipe, TrainContext, register_recipe

__all__ = ["QMF", "QMFConfig", "QMFNIQEConfig", "QMF_MODES", "colorize"]

_log = logging.getLogger("qagen.train")

QMF_MODES = ("generation", "paired", "attributes")
#: Critic updates per generator step in generation mode when ``hparams.n_critic = 0`` (WGAN-GP's
#: 5): with pix2pix's single update, 5 minutes on Fashion-MNIST collapsed qmf-bl-demo to one output
#: (mean pairwise L2 of 64 samples 4.5, real images 19.9; fd_fmnist 547), while 5 updates kept it
#: diverse (19.1; fd_fmnist 199), docs/qmf.md.
GENERATION_N_CRITIC = 5
_OBJECTIVES = {"wasserstein": "wasserstein", "logistic": "nonsaturating"}


@dataclass
class QMFNIQEConfig(NIQEPenaltyConfig):
    """The NIQE term of L_BP (``[hparams.niqe]``): as QAGAN's (``qagen.gan.niqe_penalty``) but
    with the LIVE feature variant (QMF eq. 5 is LIVE's MSCN ``(I - mu) / (sigma + 1)``)."""

    variant: Literal["qagan", "qagan-decimate", "qagan-code", "live"] = "live"


@dataclass
class QMFConfig:
    """Hyper-parameters of the ``qmf`` recipe (``[hparams]``; module docstring, docs/qmf.md)."""

    mode: Literal["auto", "generation", "paired", "attributes"] = "auto"
    # generator G = (g1, g2), PAM, M_F
    ngf: int = 64
    n_down: int = 2
    n_res: int = 6
    z_dim: int = 128
    pam: bool = True
    heads: int = 4
    reduction: int = 16
    softmax_axis: Literal["channel", "spatial"] = "channel"
    map_fusion: bool = True
    fusion_hidden: int = 16
    fusion_mode: Literal["gate", "expectation"] = "gate"
    alpha: float = 1.0
    alpha_mode: Literal["scale", "power"] = "scale"
    map_source: Literal["two-pass", "previous"] = "two-pass"
    ms_ssim_scales: int = 5
    # 'on': G's output is the mean of its 3 channels on all 3 (a grey image); 'auto': on when the
    # training data is grey (qagen.data.build.dataset_is_grey: Fashion-MNIST, fashion-edges);
    # 'off' (the default of a configuration without the key, so older runs restore as trained;
    # the presets set 'auto'). docs/qmf.md, "Grey data".
    grey_output: Literal["auto", "on", "off"] = "off"
    # critics
    ndf: int = 64
    d_layers: int = 3
    conditional_critic: bool = True
    map_critic: bool = True
    d2_ndf: int = 32
    d2_layers: int = 2
    d2_weight: float = 1.0
    d2_gp_weight: float = 10.0
    # d2's real maps: 'other' = maps(X_real', X_ref), another image of the batch; 'perturbed' =
    # maps(X_ref under a Waterloo level-1 blur or noise, X_ref); 'auto' = 'other' in generation
    # mode, 'perturbed' image-to-image (docs/qmf.md, "d2's real maps")
    d2_real: Literal["auto", "other", "perturbed", "identical"] = "auto"
    # score regressor s
    score_regressor: bool = True
    score_source: Literal["fsim", "torchscript"] = "fsim"
    score_model_path: str = ""
    score_target: Literal["reference", "best"] = "reference"
    score_weight: float = 1.0
    s_ndf: int = 32
    # objective and L_BP
    objective: Literal["wasserstein", "logistic"] = "wasserstein"
    n_critic: int = 0  # 0: auto, 5 in generation mode (WGAN-GP), 1 image-to-image (pix2pix)
    gp_weight: float = 10.0
    gp_norm: Literal["l2", "banach"] = "l2"
    banach_s: float = 0.0
    banach_p: float = 2.0
    ssim_weight: float = 0.1
    ssim_variant: Literal["standard", "paper"] = "standard"
    niqe_weight: float = 0.1
    niqe: QMFNIQEConfig = field(default_factory=QMFNIQEConfig)
    drift: float = 1e-5
    # image-to-image terms
    l1_weight: float = 100.0
    cls_weight: float = 1.0
    rec_weight: float = 10.0
    flip: bool = False
    # optimisation: Adam(lr, betas); lr constant for epochs_constant epochs, then linear to 0
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.99)
    epochs_constant: float = 10.0
    epochs_decay: float = 10.0


class _Batch(NamedTuple):
    real: torch.Tensor  # X_ref / the real image of d1
    cond: torch.Tensor | None  # generator input image (paired, attributes)
    z: torch.Tensor | None  # generation
    attrs: torch.Tensor | None  # real labels (attributes)
    target_attrs: torch.Tensor | None  # shuffled labels (attributes)
    index: torch.Tensor | None


def _dataset_mode(dataset: Any) -> tuple[str, int]:
    """``(mode, number of attributes)`` from the first item of ``dataset``."""
    item = dataset[0]
    if isinstance(item, torch.Tensor):
        return "generation", 0
    if isinstance(item, tuple) and hasattr(item, "_fields") and "source" in item._fields:
        n_attr = int(item.attributes.numel())
        return ("attributes" if n_attr else "paired"), n_attr
    if isinstance(item, (list, tuple)) and isinstance(item[0], torch.Tensor):
        return "generation", 0  # (image, label) datasets: the image
    raise InputError(
        f"the qmf recipe cannot use dataset items of type {type(item).__name__}: expected images "
        "(generation) or qagen.data.PairedItem (paired/attribute data)"
    )


_COLORMAP: dict[str, torch.Tensor] = {}


def colorize(v: torch.Tensor, vmin: float = 0.0, vmax: float = 1.0) -> torch.Tensor:
    """``N x 1 x H x W`` values -> ``N x 3 x H x W`` RGB in [0, 1] with matplotlib's viridis
    (``vmin`` dark violet, ``vmax`` yellow), for the maps in the sample grids."""
    if "viridis" not in _COLORMAP:
        import matplotlib
        import numpy as np

        lut = matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3]
        _COLORMAP["viridis"] = torch.tensor(lut, dtype=torch.float32)
    lut = _COLORMAP["viridis"].to(v.device)
    idx = ((v[:, 0].float() - vmin) / (vmax - vmin)).clamp(0, 1).mul(255).round().long()
    return lut[idx].permute(0, 3, 1, 2)


def _validate(cfg: QMFConfig, run: Any) -> None:
    pos = ("ngf", "n_res", "z_dim", "heads", "reduction", "fusion_hidden", "ndf", "d_layers",
           "d2_ndf", "d2_layers", "s_ndf")  # fmt: skip
    for name in pos:
        v = getattr(cfg, name)
        if not (isinstance(v, int) and v >= (0 if name == "n_res" else 1)):
            raise InputError(f"hparams.{name} must be a positive integer, got {v!r}")
    if not (isinstance(cfg.n_critic, int) and cfg.n_critic >= 0):
        raise InputError(
            "hparams.n_critic must be an integer >= 1, or 0 for the default (5 in generation "
            f"mode, 1 image-to-image), got {cfg.n_critic!r}"
        )
    if cfg.n_down < 1:
        raise InputError(f"hparams.n_down must be >= 1, got {cfg.n_down}")
    nonneg = ("d2_weight", "d2_gp_weight", "score_weight", "gp_weight", "ssim_weight",
              "niqe_weight", "drift", "l1_weight", "cls_weight", "rec_weight",
              "epochs_constant", "epochs_decay")  # fmt: skip
    for name in nonneg:
        v = getattr(cfg, name)
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise InputError(f"hparams.{name} must be a finite number >= 0, got {v!r}")
    if not 0.3 <= cfg.alpha <= 1.0:
        raise InputError(
            f"hparams.alpha (the intensity of the quality maps, QMF 3.2: 0.3 <= alpha <= 1) must "
            f"lie in [0.3, 1], got {cfg.alpha}"
        )
    if not cfg.lr > 0:
        raise InputError(f"hparams.lr must be > 0, got {cfg.lr}")
    if not all(0.0 <= b < 1.0 for b in cfg.betas):
        raise InputError(f"hparams.betas must lie in [0, 1), got {cfg.betas}")
    if not 1 <= cfg.ms_ssim_scales <= 5:
        raise InputError(f"hparams.ms_ssim_scales must lie in 1..5, got {cfg.ms_ssim_scales}")
    if cfg.gp_norm == "banach" and not cfg.banach_p >= 1:
        raise InputError(f"hparams.banach_p must be >= 1, got {cfg.banach_p}")
    ch = cfg.ngf * 2**cfg.n_down
    if ch % cfg.heads:
        raise InputError(
            f"hparams.heads ({cfg.heads}) must divide the bottleneck width ngf * 2^n_down = {ch}"
        )
    res = int(run.data.resolution)
    if res % 2**cfg.n_down:
        raise InputError(
            f"data.resolution {res} must be divisible by 2^n_down = {2**cfg.n_down} (the "
            "generator's stride-2 layers)"
        )
    for name, layers in (("d_layers", cfg.d_layers), ("d2_layers", cfg.d2_layers)):
        if res // 2**layers < 3:
            raise InputError(
                f"hparams.{name} = {layers} leaves no output pixel at data.resolution {res} (the "
                f"PatchGAN needs resolution >= 3 * 2^{name})"
            )
    need_maps = (
        cfg.map_fusion or cfg.map_critic or (cfg.score_regressor and cfg.score_source == "fsim")
    )
    if need_maps and res < maps_min_size(cfg.ms_ssim_scales):
        raise InputError(
            f"the quality maps need images of at least {maps_min_size(cfg.ms_ssim_scales)} px "
            f"(FSIM: 8, the per-pixel MS-SSIM with {cfg.ms_ssim_scales} scales: "
            f"{2 ** (cfg.ms_ssim_scales - 1)}), got data.resolution {res}; use a larger "
            "resolution or fewer hparams.ms_ssim_scales"
        )
    if cfg.score_regressor and cfg.score_source == "torchscript":
        if not cfg.score_model_path or not Path(cfg.score_model_path).expanduser().is_file():
            raise InputError(
                "hparams.score_source = 'torchscript' needs hparams.score_model_path, a "
                f"TorchScript NR-IQA model file; got {cfg.score_model_path!r}"
            )
    if cfg.niqe_weight > 0:
        nc = cfg.niqe
        if not nc.model_path and nc.warmup_steps < 1:
            raise InputError(
                "hparams.niqe.warmup_steps must be >= 1 unless hparams.niqe.model_path names a "
                f"model file, got {nc.warmup_steps}"
            )
        if nc.model_path and not Path(nc.model_path).expanduser().is_file():
            raise InputError(f"hparams.niqe.model_path: no such file: {nc.model_path}")
        n_critic = cfg.n_critic or 1  # the fewest critic updates 'auto' can mean
        if not nc.model_path and nc.pooling == "batch" and nc.warmup_steps * n_critic < 2:
            raise InputError(
                "the NIQE pristine model needs at least 2 feature rows; with pooling 'batch' each "
                "critic update gives one: hparams.niqe.warmup_steps * hparams.n_critic must be "
                f">= 2, got {nc.warmup_steps} * {n_critic}"
            )
        if res % 2:
            raise InputError(f"the NIQE term needs an even data.resolution, got {res}")
    if cfg.mode == "generation" and cfg.map_source == "previous":
        raise InputError(
            "hparams.map_source = 'previous' needs fixed pairings (image-to-image data); in "
            "generation mode each sample's reference changes every step: use 'two-pass'"
        )


@register_recipe("qmf")
class QMF(NIQEPenaltySchedule, Recipe):
    """Quality Map Fusion (module docstring)."""

    Config = QMFConfig
    _niqe_source = "qagen qmf"
    _niqe_message = "NIQE term of L_BP on from step %d: %s"

    @classmethod
    def validate_config(cls, cfg: QMFConfig, run: Any) -> None:
        _validate(cfg, run)

    def __init__(self, cfg: QMFConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        _validate(cfg, ctx.run)
        mode, n_attr = _dataset_mode(ctx.dataset)
        if cfg.mode != "auto" and cfg.mode != mode:
            raise InputError(
                f"hparams.mode is {cfg.mode!r} but the data {ctx.run.data.spec!r} gives "
                f"{mode!r} items (plain images: generation; paired data: paired; labelled: "
                "attributes)"
            )
        if mode == "generation" and cfg.map_source == "previous":
            raise InputError(
                "hparams.map_source = 'previous' needs fixed pairings (image-to-image data); "
                f"{ctx.run.data.spec!r} gives plain images (generation): use 'two-pass'"
            )
        self.mode, self.n_attr = mode, n_attr
        #: whether G's output is tied to grey (hparams.grey_output; 'auto': the data is grey)
        self.grey_output = cfg.grey_output == "on" or (
            cfg.grey_output == "auto" and dataset_is_grey(ctx.dataset)
        )
        #: critic updates per generator step: hparams.n_critic, or by mode when it is 0
        self.n_critic = cfg.n_critic or (GENERATION_N_CRITIC if mode == "generation" else 1)
        #: d2's real maps: hparams.d2_real, or by mode when it is 'auto'
        self.d2_real = cfg.d2_real
        if cfg.d2_real == "auto":
            self.d2_real = "other" if mode == "generation" else "identical"
        res = ctx.run.data.resolution
        g = QMFGenerator(
            res, ngf=cfg.ngf, n_down=cfg.n_down, n_res=cfg.n_res,
            z_dim=cfg.z_dim if mode == "generation" else 0,
            n_attr=n_attr if mode == "attributes" else 0, pam=cfg.pam,
            map_fusion=cfg.map_fusion, heads=cfg.heads, reduction=cfg.reduction,
            softmax_axis=cfg.softmax_axis, fusion_hidden=cfg.fusion_hidden, alpha=cfg.alpha,
            alpha_mode=cfg.alpha_mode, fusion_mode=cfg.fusion_mode, grey_output=self.grey_output,
        )  # fmt: skip
        cond_ch = 3 if (mode == "paired" and cfg.conditional_critic) else 0
        d1 = PatchCritic(3, ndf=cfg.ndf, n_layers=cfg.d_layers, cond_channels=cond_ch,
                         n_attr=n_attr if mode == "attributes" else 0)  # fmt: skip
        self.G = ctx.wrap(g)
        self.D = ctx.wrap(d1)
        adam = {"lr": cfg.lr, "betas": tuple(cfg.betas)}
        self._opts: dict[str, torch.optim.Optimizer] = {
            "G": torch.optim.Adam(self.G.parameters(), **adam),
            "D": torch.optim.Adam(self.D.parameters(), **adam),
        }
        self._modules: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        self.D2 = None
        if cfg.map_critic:
            self.D2 = ctx.wrap(PatchCritic(len(MAP_NAMES), ndf=cfg.d2_ndf, n_layers=cfg.d2_layers))
            self._opts["D2"] = torch.optim.Adam(self.D2.parameters(), **adam)
            self._modules["D2"] = self.D2
        self.S = None
        self.teacher = None
        if cfg.score_regressor:
            self.S = ctx.wrap(ScoreRegressor(3, ndf=cfg.s_ndf))
            self._opts["S"] = torch.optim.Adam(self.S.parameters(), **adam)
            self._modules["S"] = self.S
            if cfg.score_source == "torchscript":
                path = str(Path(cfg.score_model_path).expanduser())
                self.teacher = torch.jit.load(path, map_location=ctx.device).eval()
                for p in self.teacher.parameters():
                    p.requires_grad_(False)
        self.niqe: NIQEGradientPenalty | None = None
        if cfg.niqe_weight > 0:
            nc = cfg.niqe
            self.niqe = NIQEGradientPenalty(nc.variant, nc.pooling, nc.ridge, nc.res or None)
            if nc.model_path:
                self.niqe.load_model(str(Path(nc.model_path).expanduser()))
        self.map_cache: dict[int, torch.Tensor] = {}
        self._maps_fn = self._fusion_maps

    # ---------------------------------------------------------------- declarations
    def modules(self) -> dict[str, nn.Module]:
        return dict(self._modules)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return dict(self._opts)

    def lr_schedules(self) -> dict[str, Any]:
        cfg = self.cfg
        per_epoch = max(1, self.ctx.batches_per_epoch // self.n_critic)
        const = int(round(cfg.epochs_constant * per_epoch))
        decay = int(round(cfg.epochs_decay * per_epoch))
        if decay <= 0:
            return {}
        f = self.ctx.linear_decay(const + decay, start=const)
        return {name: f for name in self._opts}

    def ema_modules(self) -> list[str]:
        return ["G"]

    # ---------------------------------------------------------------- pieces
    def _fusion_maps(self, x0: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return quality_maps(x0, ref, self.cfg.ms_ssim_scales).maps

    def _batch(self, batches: Iterator[Any]) -> _Batch:
        cfg, ctx = self.cfg, self.ctx
        item = next(batches)
        dtype = next(unwrap(self.G).parameters()).dtype
        n = ctx.global_batch_size
        flip = ctx.rand(n, dtype=dtype) < 0.5 if cfg.flip else None

        def prep(t: torch.Tensor) -> torch.Tensor:
            t = t.to(dtype)
            return torch.where(flip.view(-1, 1, 1, 1), t.flip(-1), t) if flip is not None else t

        if self.mode == "generation":
            real = prep(item[0] if isinstance(item, (list, tuple)) else item)
            return _Batch(real, None, ctx.randn(n, cfg.z_dim, dtype=dtype), None, None, None)
        real, cond = prep(item.target), prep(item.source)
        attrs = trg = None
        if self.mode == "attributes":
            attrs = item.attributes.to(dtype)
            # the target labels: the shard's labels shuffled (StarGAN), by the shared generator
            perm = torch.argsort(ctx.rand(n, dtype=torch.float64))
            trg = attrs[perm]
        return _Batch(real, cond, None, attrs, trg, item.index)

    def _reference_other(self, real: torch.Tensor) -> torch.Tensor:
        """X_real': another real image by the same pairing rule (the global batch rolled by
        one, so that a DDP run pairs the images as the single process does)."""
        ctx = self.ctx
        if not ctx.distributed:
            return real.roll(1, 0)
        return ctx.shard(ctx.unshard(real).roll(1, 0))

    def d2_real_maps(self, real: torch.Tensor) -> torch.Tensor:
        """d2's "real" maps against the references ``real`` (X_ref), by :attr:`d2_real`:
        ``'other'``: maps(X_real', X_ref) with X_real' another image of the batch (unrelated
        pairs: sound in generation mode, where the fakes are unrelated to X_ref too);
        ``'perturbed'``: maps(X_ref under a level-1 blur or noise, X_ref) (:func:`perturb_level1`),
        the maps of an output that keeps to its reference (image-to-image). The noise comes from
        the run's generator (every rank draws the global batch, as :meth:`TrainContext.randn`)."""
        with torch.no_grad():
            if self.d2_real == "other":
                x = self._reference_other(real)
            elif self.d2_real == "identical":
                x = real
            else:
                n = self.ctx.global_batch_size
                u = self.ctx.rand(n, dtype=real.dtype)
                noise = self.ctx.randn(n, *real.shape[1:], dtype=real.dtype)
                x = perturb_level1(real, u, noise)
            return quality_maps(x, real, self.cfg.ms_ssim_scales).maps

    def _g_kwargs(self, b: _Batch) -> dict[str, Any]:
        kw: dict[str, Any] = {"ref": b.real, "maps_fn": self._maps_fn}
        if self.mode == "generation":
            kw["z"] = b.z
        else:
            kw["cond"] = b.cond
            if self.mode == "attributes":
                kw["attrs"] = b.target_attrs
        if self.cfg.map_fusion and self.cfg.map_source == "previous" and b.index is not None:
            keys = [int(i) for i in b.index.reshape(-1).tolist()]
            if keys and all(k in self.map_cache for k in keys):
                dtype = b.real.dtype
                kw["maps"] = torch.stack([self.map_cache[k] for k in keys]).to(b.real.device, dtype)
        return kw

    def _critic(self, net: nn.Module, cond: torch.Tensor | None = None):
        return lambda x: net(x, cond)[0].mean((1, 2, 3))

    def _reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if not self.ctx.distributed:
            return t
        return (self.ctx.all_reduce_mean(t.to(self.ctx.device)) * self.ctx.world_size).cpu()

    # ---------------------------------------------------------------- the updates
    def d1_loss(
        self, b: _Batch, fake: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """d1's loss for one update: the adversarial term, L_BP, the drift (and the attribute
        classification of the real images)."""
        cfg, ctx = self.cfg, self.ctx
        real = b.real
        cond = b.cond if (self.mode == "paired" and cfg.conditional_critic) else None
        critic = self._critic(self.D, cond)
        if self._collecting(step):  # pristine statistics: critic gradients of real images
            assert self.niqe is not None
            grad = critic_gradient(self._critic(unwrap(self.D), cond), real, create_graph=False)
            self.niqe.accumulate(grad.grad, self._reduce_sum)
        src_real, attr_real = self.D(real, cond)
        src_fake, _ = self.D(fake, cond)
        d_real, d_fake = src_real.mean((1, 2, 3)), src_fake.mean((1, 2, 3))
        loss = critic_loss(_OBJECTIVES[cfg.objective], src_real, src_fake)
        terms = {"wdist": (d_real.mean() - d_fake.mean()).detach()}
        # ctx.rand takes the global batch: every rank draws all of it and keeps its shard
        eps = ctx.rand(real.shape[0] * ctx.world_size, 1, 1, 1, dtype=real.dtype)
        x_hat = eps * fake.detach() + (1.0 - eps) * real.detach()
        if cfg.gp_norm == "l2":
            gp = gradient_penalty_terms(critic, real, fake, interpolates=x_hat)
            pen, grad, norm = gp.penalty, gp.grad, gp.norm
        else:
            scales = banach_scales(real, s=cfg.banach_s, p=cfg.banach_p)
            bp = banach_penalty_terms(critic, real, fake, s=cfg.banach_s, p=cfg.banach_p,
                                      gamma=scales.gamma, interpolates=x_hat)  # fmt: skip
            pen, grad, norm = bp.penalty, bp.grad, bp.dual_norm
        loss = loss + cfg.gp_weight * pen.to(loss.dtype)
        terms.update({"gp": pen.detach(), "grad_norm": norm.mean().detach()})
        if cfg.ssim_weight > 0:
            ssim = ssim_gradient_penalty(d_real, d_fake, real, fake, variant=cfg.ssim_variant)
            loss = loss + cfg.ssim_weight * ssim.to(loss.dtype)
            terms["ssim_gp"] = ssim.detach()
        if cfg.niqe_weight > 0 and self.niqe is not None and self.niqe.ready:
            pen_n = self.niqe(grad)
            loss = loss + cfg.niqe_weight * pen_n.to(loss.dtype)
            terms["niqe_gp"] = pen_n.detach().to(loss.dtype)
        if cfg.drift:
            loss = loss + drift_penalty(d_real, cfg.drift)
            terms["drift"] = d_real.detach().pow(2).mean()
        if self.mode == "attributes" and attr_real is not None:
            cls = F.binary_cross_entropy_with_logits(attr_real, b.attrs)
            loss = loss + cfg.cls_weight * cls
            terms["d_cls"] = cls.detach()
        return loss, terms

    def d2_loss(
        self, real_maps: torch.Tensor, fake_maps: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """d2's loss: the map critic's adversarial term and its gradient penalty."""
        assert self.D2 is not None
        critic = self._critic(self.D2)
        r, f = self.D2(real_maps)[0], self.D2(fake_maps)[0]
        loss = critic_loss(_OBJECTIVES[self.cfg.objective], r, f)
        n_global = real_maps.shape[0] * self.ctx.world_size
        eps = self.ctx.rand(n_global, 1, 1, 1, dtype=real_maps.dtype)
        m_hat = eps * fake_maps + (1.0 - eps) * real_maps
        gp = gradient_penalty_terms(critic, real_maps, fake_maps, interpolates=m_hat)
        loss = loss + self.cfg.d2_gp_weight * gp.penalty.to(loss.dtype)
        wd = r.mean() - f.mean()
        return loss, {"d2_wdist": wd.detach(), "d2_gp": gp.penalty.detach()}

    def score_target(self, fake: torch.Tensor, fsim: torch.Tensor | None) -> torch.Tensor:
        """What s learns for ``fake``: its FSIM score against X_ref, or the frozen model's."""
        if self.teacher is not None:
            with torch.no_grad():
                return self.teacher(((fake + 1) / 2).clamp(0, 1)).reshape(-1).to(fake.dtype)
        assert fsim is not None
        return fsim.detach().to(fake.dtype)

    def _step_update(self, name: str, loss: torch.Tensor) -> None:
        opt = self._opts[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        cfg = self.cfg
        self.before_step(step)
        sums: dict[str, torch.Tensor] = {}

        def add(terms: Mapping[str, torch.Tensor]) -> None:
            for k, v in terms.items():
                sums[k] = sums[k] + v if k in sums else v

        need_fake_maps = self.D2 is not None or (self.S is not None and self.teacher is None)
        need_fake_maps = need_fake_maps or (cfg.map_fusion and cfg.map_source == "previous")
        for k in range(self.n_critic):
            last = k == self.n_critic - 1
            b = self._batch(batches)
            with torch.set_grad_enabled(last):
                fake, info = self.G(**self._g_kwargs(b), return_info=True)
                fm = None
                if need_fake_maps:
                    with torch.set_grad_enabled(last and self.D2 is not None):
                        fm = quality_maps(fake, b.real, cfg.ms_ssim_scales)
            fake_d = fake.detach()
            loss, terms = self.d1_loss(b, fake_d, step)
            self._step_update("D", loss)
            add({"d_loss": loss.detach(), **terms})
            real_maps = None
            if self.D2 is not None:
                assert fm is not None
                real_maps = self.d2_real_maps(b.real)
                loss2, terms2 = self.d2_loss(real_maps, fm.maps.detach())
                self._step_update("D2", loss2)
                add({"d2_loss": loss2.detach(), **terms2})
            if self.S is not None:
                target = self.score_target(fake_d, fm.fsim if fm is not None else None)
                s_loss = (self.S(fake_d) - target).abs().mean()
                self._step_update("S", s_loss)
                add({"s_loss": s_loss.detach(), "score_target": target.mean().detach()})
            if fm is not None:
                means = fm.maps.detach().mean((0, 2, 3))
                add({f"map_{n}": means[i] for i, n in enumerate(MAP_NAMES)})
                add({"fsim_score": fm.fsim.detach().mean()})
                if cfg.map_source == "previous" and b.index is not None:
                    pooled = F.adaptive_avg_pool2d(fm.maps.detach(), info["Z"].shape[-2:])
                    for i, key in enumerate(b.index.reshape(-1).tolist()):
                        self.map_cache[int(key)] = pooled[i].to("cpu", torch.float16)
            if "M" in info:
                add({"gate": torch.sigmoid(info["M"].detach()).mean()})
        out = {k: v / self.n_critic for k, v in sums.items()}
        g_loss, g_terms = self.g_loss(b, fake, fm)
        self._step_update("G", g_loss)
        out.update({"g_loss": g_loss.detach(), **g_terms})
        return out

    def g_loss(
        self, b: _Batch, fake: torch.Tensor, fm: Any
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's loss on the step's output ``fake`` (with its graph) and its maps ``fm``."""
        cfg = self.cfg
        obj = _OBJECTIVES[cfg.objective]
        cond = b.cond if (self.mode == "paired" and cfg.conditional_critic) else None
        src, attr = self.D(fake, cond)
        adv = generator_loss(obj, src)
        loss, terms = adv, {"g_adv": adv.detach()}
        if self.mode == "paired" and cfg.l1_weight:
            l1 = (fake - b.real).abs().mean()
            loss = loss + cfg.l1_weight * l1
            terms["l1"] = l1.detach()
        if self.mode == "attributes":
            cls = F.binary_cross_entropy_with_logits(attr, b.target_attrs)
            kw = {"cond": fake, "attrs": b.attrs, "ref": b.real, "maps_fn": self._maps_fn}
            rec = (self.G(**kw) - b.real).abs().mean()
            loss = loss + cfg.cls_weight * cls + cfg.rec_weight * rec
            terms.update({"g_cls": cls.detach(), "g_rec": rec.detach()})
        if self.D2 is not None and cfg.d2_weight:
            g_map = generator_loss(obj, self.D2(fm.maps)[0])
            loss = loss + cfg.d2_weight * g_map
            terms["g_map"] = g_map.detach()
        if self.S is not None and cfg.score_weight:
            pred = self.S(fake)
            if cfg.score_target == "reference":
                with torch.no_grad():
                    target = self.S(b.real)
            else:
                target = torch.ones_like(pred)
            g_score = (pred - target).abs().mean()
            loss = loss + cfg.score_weight * g_score
            terms["g_score"] = g_score.detach()
        return loss, terms

    # ---------------------------------------------------------------- sample grids
    def sample_inputs(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        ds = self.ctx.dataset
        n = min(int(n), len(ds))
        idx = torch.randperm(len(ds), generator=generator)[:n].tolist()
        return self.inputs_from_items([ds[i] for i in idx], generator)

    def inputs_from_items(
        self, items: list[Any], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """Generator inputs for dataset ``items`` (e.g. of a held-out split): generation mode
        ``{"z", "ref"}`` (z drawn from ``generator``, the items as X_ref); image-to-image
        ``{"target", "source", "index"}`` (+ ``"attributes"`` and ``"target_attributes"``, the
        labels shuffled with ``generator``)."""
        n = len(items)
        if self.mode == "generation":
            refs = [it[0] if isinstance(it, (list, tuple)) else it for it in items]
            return {"z": torch.randn(n, self.cfg.z_dim, generator=generator),
                    "ref": torch.stack(refs).float()}  # fmt: skip
        out = {
            "target": torch.stack([it.target for it in items]).float(),
            "source": torch.stack([it.source for it in items]).float(),
            "index": torch.stack([it.index for it in items]),
        }
        if self.mode == "attributes":
            attrs = torch.stack([it.attributes for it in items]).float()
            out["attributes"] = attrs
            out["target_attributes"] = attrs[torch.randperm(n, generator=generator)]
        return out

    def generate(
        self, inputs: Mapping[str, torch.Tensor], g: nn.Module, need_attention: bool = False
    ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor]:
        """``(output in [-1, 1], info, X_ref)`` of generator ``g`` on sample inputs."""
        p = next(g.parameters())
        to = lambda t: t.to(p.device, p.dtype)  # noqa: E731
        if self.mode == "generation":
            ref = to(inputs["ref"])
            kw: dict[str, Any] = {"z": to(inputs["z"])}
        else:
            ref = to(inputs["target"])
            kw = {"cond": to(inputs["source"])}
            if self.mode == "attributes":
                kw["attrs"] = to(inputs["target_attributes"])
        out, info = g(**kw, ref=ref, maps_fn=self._fusion_maps, return_info=True,
                      need_attention=need_attention)  # fmt: skip
        return out, info, ref

    def sample(self, inputs: Any, ema: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        g = ema.get("G", unwrap(self.G))
        g.eval()
        out, info, ref = self.generate(inputs, g, need_attention=self.cfg.pam)
        to01 = lambda t: ((t.float() + 1) / 2).clamp(0, 1)  # noqa: E731
        grids: dict[str, torch.Tensor] = {"output": to01(out)}
        if self.mode == "generation":
            grids["reference"] = to01(ref)
        else:
            grids["input"] = to01(inputs["source"].to(out.device))
            grids["target"] = to01(ref)
        size = out.shape[-2:]
        maps = quality_maps(out, ref, self.cfg.ms_ssim_scales).maps.float()
        for i, name in enumerate(MAP_NAMES):
            m = maps[:, i : i + 1]
            if tuple(m.shape[-2:]) != tuple(size):
                m = F.interpolate(m, size=size, mode="nearest")
            grids[f"m{i + 1}_{name}"] = colorize(m)
        if "M" in info:
            gate = torch.sigmoid(info["M"].float())
            grids["M_fused"] = colorize(F.interpolate(gate, size=size, mode="nearest"))
        att = info.get("attention")
        if att is not None:
            h = w = int(round(math.sqrt(att.shape[-1])))
            centre = (h // 2) * w + w // 2
            a = att.float().mean(1)[:, centre].view(-1, 1, h, w)
            a = a / a.amax((2, 3), keepdim=True).clamp_min(1e-12)
            grids["attention"] = colorize(F.interpolate(a, size=size, mode="nearest"))
        return grids

    # ---------------------------------------------------------------- extra state
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.niqe is not None:
            state["niqe"] = self.niqe.state_dict()
        if self.cfg.map_source == "previous":
            keys = sorted(self.map_cache)
            state["map_cache"] = {
                "index": torch.tensor(keys, dtype=torch.long),
                "maps": torch.stack([self.map_cache[k] for k in keys]) if keys else torch.zeros(0),
            }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.niqe is not None:
            if "niqe" in state:
                self.niqe.load_state_dict(state["niqe"])
            elif not self.cfg.niqe.model_path:
                raise InputError("the checkpoint holds no NIQE term state (hparams.niqe_weight 0?)")
        cache = state.get("map_cache")
        if cache is not None and cache["index"].numel():
            self.map_cache = {
                int(k): m for k, m in zip(cache["index"].tolist(), cache["maps"], strict=True)
            }
