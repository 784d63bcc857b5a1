"""``nr-iqa``: a no-reference quality regressor trained on an IQA database (the score network
``s`` of Osahor & Nasrabadi's QMF, behind its Tables 1-2; the IQA literature's protocol).

A CNN with global average pooling (:class:`qagen.gan.nets.regressor.ScoreRegressor`) maps a
random ``data.resolution`` crop of a distorted image to its subjective score; the loss is L1 on
the score standardised by the training split's mean and standard deviation (the same minimiser
as L1 on the score itself, on a scale independent of the database). The split is
content-disjoint: the reference images are split 80/20 by a permutation seeded with
``hparams.split_seed`` (:func:`qagen.methods.nr_iqa.data.content_split`); the protocol repeats it with 10
seeds and reports medians (``qagen reproduce nriqa-tid2008`` / ``nriqa-live``). Evaluation
(``qagen eval RUN``, :mod:`qagen.methods.nr_iqa.evaluation`) scores the whole test images.

Data (``--data``): ``tid2008:ROOT``, ``tid2013:ROOT``, ``live:ROOT``, ``csiq:ROOT``,
``kadid10k:ROOT`` (the readers of :mod:`qagen.data.databases`; MOS or DMOS as distributed), or,
without a database, ``builtin`` / ``folder:PATH`` / ``waterloo:ROOT``: pristine images distorted
by the Waterloo generator with the whole image's SSIM as the score (a stand-in that tests the
pipeline; :class:`qagen.data.qmap.QMapDataset` with ``target="score"``).

Defaults (QMF gives none): Adam lr 1e-3, betas (0.9, 0.999), halved every 50 epochs; batch 16;
224 x 224 crops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from qagen.data.qmap import QMapDataOptions
from qagen.errors import InputError
from qagen.train.config import RunConfig
from qagen.train.ema import unwrap
from qagen.train.recipe import Recipe, TrainContext, register_recipe

__all__ = ["NRIQAConfig", "NRIQA", "IQA_DATABASES", "split_name"]

#: database names read by qagen.data.databases
IQA_DATABASES = ("live", "tid2008", "tid2013", "kadid10k", "csiq")


def _nr_data() -> QMapDataOptions:
    return QMapDataOptions(oversample=1, builtin_split="seeded", pristine_side=256)


@dataclass
class NRIQAConfig:
    """Hyper-parameters of ``nr-iqa`` (``[hparams]``; ``data`` for the no-database sources)."""

    arch: Literal["cnn", "resnet18"] = "cnn"
    width: int = 32
    #: a local file of ImageNet weights for arch = resnet18 ("": random initialisation)
    weights: str = ""
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    lr_decay: float = 0.5
    lr_decay_epochs: float = 50.0
    #: seed of the content-disjoint split (one repeat of the protocol) and its test fraction
    split_seed: int = 0
    test_fraction: float = 0.2
    data: QMapDataOptions = field(default_factory=_nr_data)


def split_name(split: str | None) -> str:
    """``train``/``test``/``all`` (``valid`` is accepted for ``test``)."""
    split = split or "train"
    return "test" if split == "valid" else split


def _source(spec: str) -> tuple[str, str]:
    if not spec:
        raise InputError("no data: pass --data tid2008:ROOT (or live:, tid2013:, csiq:, "
                         "kadid10k:), or builtin for the SSIM stand-in")  # fmt: skip
    name, _, root = spec.partition(":")
    return name.strip().lower(), root


@register_recipe("nr-iqa")
class NRIQA(Recipe):
    """CNN score regressor with global average pooling (module docstring)."""

    Config = NRIQAConfig

    @classmethod
    def validate_config(cls, cfg: NRIQAConfig, run: RunConfig) -> None:
        checks = [("lr", cfg.lr > 0, "> 0"), ("width", cfg.width >= 1, ">= 1"),
                  ("lr_decay", 0 < cfg.lr_decay <= 1, "in (0, 1]"),
                  ("lr_decay_epochs", cfg.lr_decay_epochs > 0, "> 0"),
                  ("test_fraction", 0 < cfg.test_fraction < 1, "in (0, 1)")]  # fmt: skip
        for name, ok, expected in checks:
            if not ok:
                raise InputError(f"hparams.{name} must be {expected}, got {getattr(cfg, name)!r}")
        if cfg.arch not in ("cnn", "resnet18"):
            raise InputError(f"hparams.arch must be 'cnn' or 'resnet18', got {cfg.arch!r}")
        cfg.data.validate()

    @classmethod
    def build_dataset(cls, run: RunConfig, split: str | None = None, **kwargs: Any) -> Any:
        """The ``train`` or ``test`` split (``valid`` = ``test``) of ``run.data.spec``;
        ``kwargs``: ``crop`` (default ``data.resolution``; ``None``: whole images),
        ``random_crop`` (default: for the training split), ``progress``."""
        cfg: NRIQAConfig = run.hparams
        split = split_name(split or run.data.split)
        crop = kwargs.pop("crop", run.data.resolution)
        random_crop = kwargs.pop("random_crop", split == "train")
        progress = kwargs.pop("progress", True)
        if kwargs:
            raise InputError(f"unknown dataset options {sorted(kwargs)}")
        name, root = _source(run.data.spec)
        if name in IQA_DATABASES:
            from qagen.data.databases import load_database, type_order
            from qagen.methods.nr_iqa.data import ScoredImage, ScoredImageDataset, content_split

            records = load_database(name, root)
            items = [ScoredImage(r.distorted, str(r.reference or r.distorted), float(r.score),
                                 r.dist_type, r.level) for r in records]  # fmt: skip
            part = content_split(items, split, test_fraction=cfg.test_fraction, seed=cfg.split_seed)
            ds = ScoredImageDataset(part, crop, random_crop=random_crop, types=type_order(records))
            ds.score_kind = records[0].score_kind
            ds.higher_is_better = records[0].higher_is_better
            ds.database = records[0].database
            return ds
        from qagen.data.qmap import QMapDataset

        opts = dataclasses.replace(cfg.data, split_seed=cfg.split_seed,
                                   valid_fraction=cfg.test_fraction)  # fmt: skip
        qsplit = {"test": "valid"}.get(split, split)
        ds = QMapDataset(run.data.spec, qsplit, crop, options=opts, random_crop=random_crop,
                         target="score", progress=progress)  # fmt: skip
        ds.score_kind, ds.higher_is_better, ds.database = "SSIM", True, f"{run.data.spec} (SSIM)"
        return ds

    def __init__(self, cfg: NRIQAConfig, ctx: TrainContext) -> None:
        super().__init__(cfg, ctx)
        type(self).validate_config(cfg, ctx.run)
        from qagen.gan.nets.regressor import ScoreRegressor

        self.net = ctx.wrap(ScoreRegressor(cfg.arch, cfg.width, cfg.weights))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        self.mean, self.std = 0.0, 1.0
        ds = ctx.dataset
        scores = _scores(ds) if ds is not None and hasattr(ds, "items") else []
        if len(scores) >= 2:
            t = torch.tensor(scores, dtype=torch.float64)
            self.mean, self.std = float(t.mean()), float(t.std().clamp_min(1e-8))

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def lr_schedules(self) -> dict[str, Any]:
        every = max(1, round(self.cfg.lr_decay_epochs * self.ctx.batches_per_epoch))
        decay = float(self.cfg.lr_decay)
        return {"adam": lambda step: decay ** (step // every)}

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            self.mean, self.std = float(state["mean"]), float(state["std"])

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        x, y, *_ = next(batches)
        self.net.train()
        pred = self.net(x.float() * 2.0 - 1.0)
        loss = F.l1_loss(pred, (y.float() - self.mean) / self.std)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"l1": loss.detach(), "mae_score": loss.detach() * self.std}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``[N]`` (the database's units) of images ``x`` in [0, 1], any size."""
        net = unwrap(self.net)
        was = net.training
        net.eval()
        try:
            return net(x.float() * 2.0 - 1.0) * self.std + self.mean
        finally:
            net.train(was)

    def sample_inputs(self, n: int, generator: torch.Generator) -> Any:
        return None  # no image grids: the run produces scores


def _scores(ds: Any) -> list[float]:
    if hasattr(ds, "meta"):  # QMapDataset with target="score"
        return [float(ds.meta(i)["ssim"]) for i in range(len(ds))]
    return [float(it.score) for it in ds.items]
