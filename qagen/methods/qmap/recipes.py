"""Learning SSIM quality maps (Zhou, Guo & Dasari, *Image-to-Image Translation to learn SSIM
Quality Map*): a network predicts the SSIM map of a distorted image from the distorted image
alone. The eight models of the paper's Table I, one recipe each:

======================== ================================================= =================
recipe                   network                                            parameters (ours)
======================== ================================================= =================
``qmap-fcn``             :class:`qagen.methods.qmap.fcn.FCN` (VGG-16 layout,     4,381,145
                         half width, transposed-conv decoder, no fusion)
``qmap-dcnn``            segmentation-models-pytorch ``DeepLabV3("resnet50")`` 39,633,729
``qmap-unet``            :class:`qagen.gan.nets.unet.UNet`, 4 levels, 16       482,737
``qmap-unet32``          :class:`~qagen.gan.nets.unet.UNet`, 5 levels, 32      7,763,041
``qmap-densenet121-unet`` ``Unet("densenet121")``                              13,607,633
``qmap-resnet18-unet``   ``Unet("resnet18")``                                  14,328,209
``qmap-resnet50-unet``   ``Unet("resnet50")``                                  32,521,105
``qmap-gan``             pix2pix ``unet_128`` generator + 70x70 PatchGAN       44,597,700
======================== ================================================= =================

Paper settings (section IV-A), the defaults: input the distorted RGB image (scaled to [-1, 1]),
output a 1-channel map of the input's size with no activation (SSIM lies in [-1, 1]; a sigmoid
would clip), loss MAE against the SSIM map, Adam with lr 1e-3 (the paper gives no betas: (0.9,
0.999), PyTorch's), multiplied by 0.5 every 100 epochs (an epoch = one pass over the training
items), 256 x 256 random crops for training and centre crops for validation. The batch size is
not given: 8. The data: :class:`qagen.data.qmap.QMapDataset` (``[hparams.data]``).

``qmap-gan`` is conditional pix2pix (Isola et al. 2017; the paper's equation 1): G minimises
``L_cGAN + lambda L1`` (lambda = 100, pix2pix's default; the paper gives none), D minimises
``0.5 (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0))`` on the condition and the map concatenated, with
the paper's Adam lr 1e-3 (pix2pix's betas (0.5, 0.999)) halved every 100 epochs. Its published
count, 44,598,000, is pix2pix's ``unet_128`` generator (7 downsamplings) with three output
channels plus the basic PatchGAN on six input channels: 44,597,700 exactly, i.e. the map was
trained as a 3-channel image; so the default is ``num_downs = 7``, ``map_channels = 3`` (the
target repeated on the three channels, the prediction their mean) and the generator keeps
pix2pix's tanh output (SSIM's range). See ``docs/quality-maps.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from qagen.data.qmap import QMapDataOptions
from qagen.errors import InputError
from qagen.methods.qmap import MODELS
from qagen.train.config import RunConfig
from qagen.train.ema import unwrap
from qagen.train.recipe import Recipe, TrainContext, register_recipe

__all__ = [
    "QMAP_MODELS",
    "PAPER_TABLE1",
    "QMapConfig",
    "QMapGANConfig",
    "QMapRecipe",
    "QMapGAN",
    "build_map_network",
    "colorize_map",
]

#: Table I of the paper: model -> (type, parameters, epochs, train MAE, valid MAE).
PAPER_TABLE1 = {
    "fcn": ("FCN", 5_495_617, 479, 0.0836, 0.1048),
    "dcnn": ("FCN", 39_633_751, 109, 0.0878, 0.1041),
    "unet": ("U-Net", 886_625, 899, 0.0749, 0.0909),
    "unet32": ("U-Net", 14_123_905, 239, 0.0607, 0.0922),
    "densenet121-unet": ("U-Net", 13_607_633, 229, 0.0671, 0.087),
    "resnet18-unet": ("U-Net", 14_328_209, 129, 0.069, 0.091),
    "resnet50-unet": ("U-Net", 32_521_105, 289, 0.069, 0.0876),
    "gan": ("GAN", 44_598_000, 200, 0.0703, 0.129),
}

#: The map networks (every model of Table I but the GAN).
QMAP_MODELS = MODELS


def build_map_network(
    model: str, *, unet_base: int = 16, unet_levels: int = 4, fcn_width: float = 0.5,
    encoder_weights: str = "",
) -> nn.Module:  # fmt: skip
    """The map network ``model`` (one of :data:`QMAP_MODELS`) with 3 input channels and 1 output
    channel; it has an attribute ``multiple`` (inputs must be divisible by it)."""
    from qagen.gan.nets.unet import UNet
    from qagen.methods.qmap.fcn import FCN
    from qagen.methods.qmap.smp import SMP_MODELS, smp_model

    if model == "fcn":
        return FCN(3, 1, width=fcn_width)
    if model in ("unet", "unet32"):
        return UNet(3, 1, base_channels=unet_base, levels=unet_levels)
    if model in SMP_MODELS:
        return smp_model(model, encoder_weights=encoder_weights or None)
    from qagen.errors import UnknownNameError

    raise UnknownNameError("quality-map model", model, QMAP_MODELS)


_VIRIDIS: torch.Tensor | None = None


def colorize_map(m: torch.Tensor, vmin: float = 0.0, vmax: float = 1.0) -> torch.Tensor:
    """``N x 1 x H x W`` maps -> ``N x 3 x H x W`` viridis images in [0, 1] (values clamped to
    ``[vmin, vmax]``), for sample grids."""
    global _VIRIDIS
    if _VIRIDIS is None:
        from matplotlib import colormaps

        _VIRIDIS = torch.tensor(colormaps["viridis"](torch.linspace(0, 1, 256).numpy())[:, :3],
                                dtype=torch.float32)  # fmt: skip
    t = ((m[:, 0].float() - vmin) / (vmax - vmin)).clamp(0, 1)
    idx = (t * 255).round().long().cpu()
    return _VIRIDIS[idx].permute(0, 3, 1, 2).to(m.device)


def _pad(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    from qagen.gan.nets.unet import pad_to_multiple

    xp, (h, w) = pad_to_multiple(x, multiple)
    return xp, h, w


@dataclass
class QMapConfig:
    """Hyper-parameters of the map recipes (``[hparams]``); ``data`` is ``[hparams.data]``."""

    model: str = "unet"
    #: UNet: base channels and resolution levels (qmap-unet: 16, 4; qmap-unet32: 32, 5)
    unet_base: int = 16
    unet_levels: int = 4
    #: FCN: fraction of VGG-16's channels
    fcn_width: float = 0.5
    #: local file of encoder weights for the segmentation-models-pytorch encoders ("": random)
    encoder_weights: str = ""
    #: output activation: none (the paper's unbounded map) or tanh (SSIM's range)
    output: Literal["none", "tanh"] = "none"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    #: the learning rate is multiplied by lr_decay every lr_decay_epochs epochs
    lr_decay: float = 0.5
    lr_decay_epochs: float = 100.0
    data: QMapDataOptions = field(default_factory=QMapDataOptions)


def _check(cfg: Any, names: list[tuple[str, bool, str]]) -> None:
    for name, ok, expected in names:
        if not ok:
            raise InputError(f"hparams.{name} must be {expected}, got {getattr(cfg, name)!r}")


def _validate_common(cfg: Any, run: RunConfig) -> None:
    _check(cfg, [
        ("lr", cfg.lr > 0, "> 0"), ("lr_decay", 0 < cfg.lr_decay <= 1, "in (0, 1]"),
        ("lr_decay_epochs", cfg.lr_decay_epochs > 0, "> 0"),
    ])  # fmt: skip
    if not all(0 <= b < 1 for b in cfg.betas):
        raise InputError(f"hparams.betas must lie in [0, 1), got {cfg.betas}")
    cfg.data.validate()
    if run.data.resolution < 16:
        raise InputError(f"data.resolution (the crop) must be >= 16, got {run.data.resolution}")


class _MapBase(Recipe):
    """Data, learning-rate schedule, prediction and sample grids shared by the map recipes."""

    #: the crop must be divisible by this (set from the network)
    multiple = 32

    @classmethod
    def build_dataset(cls, run: RunConfig, split: str | None = None, **kwargs: Any) -> Any:
        """:class:`qagen.data.qmap.QMapDataset` of ``run.data.spec`` (``builtin``,
        ``folder:PATH``, ``waterloo:ROOT``), crop ``run.data.resolution``; ``kwargs`` go to
        the dataset (``crop=None``, ``random_crop=False``, ``target="score"``, ...)."""
        from qagen.data.qmap import QMapDataset

        kwargs.setdefault("progress", True)
        crop = kwargs.pop("crop", run.data.resolution)
        return QMapDataset(run.data.spec, split or run.data.split, crop,
                           options=run.hparams.data, **kwargs)  # fmt: skip

    def lr_schedules(self) -> dict[str, Any]:
        every = max(1, round(self.cfg.lr_decay_epochs * self.ctx.batches_per_epoch))
        decay = float(self.cfg.lr_decay)
        return {name: (lambda step, e=every: decay ** (step // e)) for name in self.optimizers()}

    def _batch(self, batches: Iterator[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, *_ = next(batches)
        return x.float(), y.float()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, ema: Mapping[str, nn.Module] | None = None) -> torch.Tensor:
        """The predicted SSIM map ``N x 1 x H x W`` of images ``x`` in [0, 1] (any size: padded
        by reflection to the network's multiple, the output cropped back)."""
        raise NotImplementedError

    def parameter_count(self) -> int:
        """Trainable parameters of every network of the recipe."""
        return sum(p.numel() for m in self.modules().values() for p in unwrap(m).parameters())

    def sample_inputs(self, n: int, generator: torch.Generator) -> Any:
        x, y, *_ = self.ctx.fixed_batch(min(n, 8), generator)
        return {"x": x, "y": y}

    def sample(self, inputs: Any, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        """Each sample: the distorted crop | the true SSIM map | the predicted map (viridis,
        0 to 1)."""
        x, y = inputs["x"].float(), inputs["y"].float()
        pred = self.predict(x, ema)
        return torch.cat([x, colorize_map(y), colorize_map(pred)], dim=-1)


@register_recipe("qmap-unet")
class QMapRecipe(_MapBase):
    """One map network trained with MAE against the SSIM map (module docstring)."""

    Config = QMapConfig

    @classmethod
    def validate_config(cls, cfg: QMapConfig, run: RunConfig) -> None:
        _validate_common(cfg, run)
        if cfg.model not in QMAP_MODELS:
            from qagen.errors import UnknownNameError

            raise UnknownNameError("quality-map model (hparams.model)", cfg.model, QMAP_MODELS)
        _check(cfg, [("unet_base", cfg.unet_base >= 1, ">= 1"),
                     ("unet_levels", cfg.unet_levels >= 2, ">= 2"),
                     ("fcn_width", cfg.fcn_width > 0, "> 0")])  # fmt: skip
        multiple = 2 ** (cfg.unet_levels - 1) if cfg.model in ("unet", "unet32") else 32
        if run.data.resolution % multiple:
            raise InputError(
                f"data.resolution (the crop, {run.data.resolution}) must be divisible by "
                f"{multiple} for hparams.model = {cfg.model!r}"
            )

    def __init__(self, cfg: QMapConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        type(self).validate_config(cfg, ctx.run)
        net = build_map_network(cfg.model, unet_base=cfg.unet_base, unet_levels=cfg.unet_levels,
                                fcn_width=cfg.fcn_width, encoder_weights=cfg.encoder_weights)  # fmt: skip
        self.multiple = int(getattr(net, "multiple", 32))
        self.net = ctx.wrap(net)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def _forward(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = net(x * 2.0 - 1.0)
        return torch.tanh(out) if self.cfg.output == "tanh" else out

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        x, y = self._batch(batches)
        self.net.train()
        loss = F.l1_loss(self._forward(self.net, x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"mae": loss.detach()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor, ema: Mapping[str, nn.Module] | None = None) -> torch.Tensor:
        net = unwrap(self.net)
        was = net.training
        net.eval()
        try:
            xp, h, w = _pad(x.float(), self.multiple)
            return self._forward(net, xp)[..., :h, :w]
        finally:
            net.train(was)


def _model_recipe(name: str, model: str, **defaults: Any) -> type[QMapRecipe]:
    """Register ``name``: :class:`QMapRecipe` whose configuration defaults to ``model``."""
    from dataclasses import make_dataclass

    fields = [("model", str, field(default=model))]
    fields += [(k, type(v), field(default=v)) for k, v in defaults.items()]
    cfg = make_dataclass(f"QMapConfig_{model.replace('-', '_')}", fields, bases=(QMapConfig,))
    cfg.__module__ = __name__
    doc = f"``{name}``: the {model} map network (see :mod:`qagen.methods.qmap.recipes`)."
    cls = type(f"QMap_{model.replace('-', '_')}", (QMapRecipe,), {"Config": cfg, "__doc__": doc})
    globals()[cls.__name__] = cls  # the registry's target (qagen/methods/qmap/__init__.py)
    return register_recipe(name)(cls)


for _m in QMAP_MODELS:
    if _m == "unet32":
        _model_recipe("qmap-unet32", "unet32", unet_base=32, unet_levels=5)
    elif _m != "unet":
        _model_recipe(f"qmap-{_m}", _m)


@dataclass
class QMapGANConfig:
    """Hyper-parameters of ``qmap-gan`` (pix2pix on SSIM maps; ``[hparams]``)."""

    #: generator: pix2pix U-Net with num_downs stride-2 levels (7: unet_128, 8: unet_256)
    num_downs: int = 7
    ngf: int = 64
    ndf: int = 64
    n_layers: int = 3
    #: the map as a map_channels-channel image (3: as pix2pix trains on RGB images)
    map_channels: int = 3
    dropout: bool = True
    l1_weight: float = 100.0
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    lr_decay: float = 0.5
    lr_decay_epochs: float = 100.0
    data: QMapDataOptions = field(default_factory=QMapDataOptions)


@register_recipe("qmap-gan")
class QMapGAN(_MapBase):
    """Conditional pix2pix GAN on SSIM maps (module docstring)."""

    Config = QMapGANConfig

    @classmethod
    def validate_config(cls, cfg: QMapGANConfig, run: RunConfig) -> None:
        _validate_common(cfg, run)
        _check(cfg, [("num_downs", 5 <= cfg.num_downs <= 9, "in 5..9"), ("ngf", cfg.ngf >= 1, ">= 1"),
                     ("ndf", cfg.ndf >= 1, ">= 1"), ("n_layers", cfg.n_layers >= 1, ">= 1"),
                     ("map_channels", cfg.map_channels >= 1, ">= 1"),
                     ("l1_weight", cfg.l1_weight >= 0, ">= 0")])  # fmt: skip
        if run.data.resolution % 2**cfg.num_downs:
            raise InputError(
                f"data.resolution (the crop, {run.data.resolution}) must be divisible by "
                f"2^num_downs = {2**cfg.num_downs} for qmap-gan"
            )

    def __init__(self, cfg: QMapGANConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        type(self).validate_config(cfg, ctx.run)
        from qagen.gan.nets.patchgan import PatchGAN
        from qagen.gan.nets.unet import Pix2PixUNet

        g = Pix2PixUNet(3, cfg.map_channels, num_downs=cfg.num_downs, ngf=cfg.ngf,
                        dropout=cfg.dropout, tanh=True)  # fmt: skip
        self.multiple = g.multiple
        self.G = ctx.wrap(g)
        self.D = ctx.wrap(PatchGAN(3 + cfg.map_channels, ndf=cfg.ndf, n_layers=cfg.n_layers))
        adam = {"lr": cfg.lr, "betas": tuple(cfg.betas)}
        self.opt_g = torch.optim.Adam(self.G.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.D.parameters(), **adam)

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        x, y = self._batch(batches)
        cond = x * 2.0 - 1.0
        target = y.expand(-1, self.cfg.map_channels, -1, -1)
        self.G.train()
        self.D.train()
        fake = self.G(cond)
        # D: 0.5 (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0))
        d_real = self.D(torch.cat([cond, target], 1))
        d_fake = self.D(torch.cat([cond, fake.detach()], 1))
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))  # fmt: skip
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # G: BCE(D(x, G(x)), 1) + lambda L1
        d_gen = self.D(torch.cat([cond, fake], 1))
        g_gan = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        l1 = F.l1_loss(fake, target)
        g_loss = g_gan + self.cfg.l1_weight * l1
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.opt_d.zero_grad(set_to_none=True)  # the G loss reached D's parameters
        mae = F.l1_loss(fake.detach().mean(1, keepdim=True), y)
        return {"d_loss": d_loss.detach(), "g_gan": g_gan.detach(), "g_l1": l1.detach(),
                "mae": mae}  # fmt: skip

    @torch.no_grad()
    def predict(self, x: torch.Tensor, ema: Mapping[str, nn.Module] | None = None) -> torch.Tensor:
        """The generator in evaluation mode (running batch-norm statistics, no dropout); the
        mean of its ``map_channels`` outputs."""
        g = unwrap(self.G)
        was = g.training
        g.eval()
        try:
            xp, h, w = _pad(x.float() * 2.0 - 1.0, self.multiple)
            return g(xp)[..., :h, :w].mean(1, keepdim=True)
        finally:
            g.train(was)

    def parameter_count(self) -> int:
        return super().parameter_count()


def epochs_of(steps: int, batch_size: int, n_items: int) -> float:
    """Epochs (passes over ``n_items`` training items) of ``steps`` steps of ``batch_size``."""
    return steps * batch_size / n_items if n_items else math.nan
