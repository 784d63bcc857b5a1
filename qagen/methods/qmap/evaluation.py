"""Trained SSIM-map predictors: evaluation (``qagen eval RUN`` of a ``qmap-*`` run), no-reference
scoring and maps (the ``qmap`` metric: ``qagen score qmap --model RUN IMAGE``), and the figures.

**The model in one line**::

    from qagen.methods.qmap.evaluation import load_qmap
    q = load_qmap("runs/qmap-unet")          # newest checkpoint, CPU
    q.score(x)                               # [N]: mean of the predicted SSIM map (higher = better)
    q.map(x)                                 # N x 1 x H x W predicted SSIM map

``x``: ``N x C x H x W`` in ``[0, data_range]`` (``data_range=1`` by default), C = 3 (grey is
repeated), any size (padded by reflection to the network's multiple, the map cropped back).
No reference image is needed: this is the paper's "future work", a predicted quality map pooled
by its mean into a no-reference quality score.

**Evaluation** (:func:`evaluate_qmap_run`, written into ``RUN_DIR/eval.json`` under ``qmap``), on
the validation split's centre crops (the run's crop size), every number with its protocol:

* ``mae``: the mean absolute error between the predicted and the SSIM maps (the paper's "Valid
  MAE"); ``train_mae``: the same on the training split's centre crops;
* ``mae_constant_baseline``: the MAE of predicting, everywhere, the mean value of the training
  split's target maps (centre crops), ``constant``: that value; a useful model is far below it;
* ``mae_per_type`` (``gblur``, ``wn``, ``jpeg``, ``jp2k``, ``pristine``), ``mae_per_level``
  (distorted items, levels 1-5) and ``mae_per_type_level``;
* ``srocc_vs_ssim`` / ``plcc_vs_ssim``: the correlation, over the distinct validation images
  (every distorted image and one copy of each pristine image), between the pooled prediction
  (the predicted map's mean) and the true SSIM of the crop (the mean of its SSIM map); PLCC
  after the 5-parameter logistic of :func:`qagen.eval.correlation.correlations`, ``pearson``
  without it;
* ``separation_pristine_vs_level1``: whether the network tells a pristine crop from its
  mildest compression, ``mean(pred | pristine) - mean(pred | JPEG or JPEG 2000 at level 1)``
  over the distinct validation crops (each pristine crop once), beside the same difference of
  the true SSIM (``separation_pristine_vs_level1_true``: what a perfect predictor reaches) and
  the means themselves (``mean_predicted``: ``pristine``, ``jpeg_1``, ``jp2k_1``); ``None`` with
  a reason when the split has no pristine or no level-1 JPEG / JPEG 2000 crop;
* ``images``: per distinct validation image its content, type, level, true SSIM, predicted score
  and MAE (for plots).

``crop`` (``qagen eval RUN --crop PX``) evaluates centre crops of another size than the run's:
runs trained on different crops are then compared on the same images
(``benchmarks/qmap_crop_size.py``; the demo preset trains on 32 px crops and its target is read
on 128 px crops, docs/quality-maps.md).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from qagen.errors import InputError, InputTypeError
from qagen.files import dumps_json

__all__ = [
    "QMapModel",
    "evaluate_qmap_run",
    "figure8",
    "load_qmap",
    "qmap_eval_command",
    "qmap_map",
    "qmap_score",
]

_TYPES = ("gblur", "wn", "jpeg", "jp2k", "pristine")


class QMapModel:
    """A trained quality-map predictor restored from a ``qmap-*`` run (see the module
    docstring). ``run``: the :class:`qagen.train.RestoredRun`."""

    def __init__(self, restored: Any) -> None:
        recipe = restored.recipe
        if not hasattr(recipe, "predict") or not str(restored.run.recipe).startswith("qmap-"):
            raise InputError(
                f"{restored.run_dir} is a {restored.run.recipe!r} run, not a quality-map run "
                "(qmap-*; qagen train --list)"
            )
        self.run = restored
        self.recipe = recipe
        self.step = restored.step

    @classmethod
    def load(
        cls, run_dir: str | Path, checkpoint: str | int = "last", device: str = "cpu"
    ) -> QMapModel:
        """Restore ``run_dir``'s ``checkpoint`` (:func:`qagen.train.restore_run`). A run whose
        encoder started from a local weights file (``hparams.encoder_weights``) is restored
        without reading that file: the checkpoint holds every trained weight, so the file may
        have moved (``checkpoint="init"`` still reads it: those are the initial weights)."""
        from qagen.train import restore_run

        recipe_cls = None if checkpoint == "init" else _restorable_recipe(run_dir)
        return cls(restore_run(run_dir, checkpoint, device=device, recipe_cls=recipe_cls))

    def _prepare(self, x: torch.Tensor, data_range: float) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise InputTypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise InputTypeError(f"x must be a floating-point tensor, got {x.dtype}")
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise InputError(f"x must be N x C x H x W with C = 1 or 3, got {tuple(x.shape)}")
        if not (isinstance(data_range, (int, float)) and data_range > 0):
            raise InputError(f"data_range must be a positive number, got {data_range!r}")
        if min(x.shape[-2:]) < 8:
            raise InputError(
                f"qmap: images must be at least 8 x 8 pixels, got {tuple(x.shape[-2:])}"
            )
        x = (x.detach().float() / float(data_range)).clamp(0, 1)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return x.to(self.run.device)

    @torch.no_grad()
    def map(self, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
        """The predicted SSIM map, ``N x 1 x H x W`` float32 on the CPU."""
        return self.recipe.predict(self._prepare(x, data_range)).float().cpu()

    def score(self, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
        """The no-reference quality score ``[N]``: the mean of the predicted map."""
        return self.map(x, data_range).mean(dim=(1, 2, 3))


def _restorable_recipe(run_dir: str | Path) -> type | None:
    """The run's recipe class, built with ``hparams.encoder_weights = ""`` when the run names
    a weights file (the checkpoint's weights replace the file's); ``None``: the registry's."""
    import dataclasses

    from qagen.report.runfiles import read_config
    from qagen.train import get_recipe

    cfg = read_config(Path(run_dir)) or {}
    if not (cfg.get("hparams") or {}).get("encoder_weights"):
        return None
    base = get_recipe(str(cfg.get("recipe")))

    class Restored(base):  # type: ignore[valid-type, misc]
        def __init__(self, hp: Any, ctx: Any) -> None:
            super().__init__(dataclasses.replace(hp, encoder_weights=""), ctx)

    Restored.__name__ = Restored.__qualname__ = base.__name__
    return Restored


_LOADED: dict[tuple, QMapModel] = {}


def load_qmap(
    run_dir: str | Path, checkpoint: str | int = "last", device: str = "cpu"
) -> QMapModel:
    """:meth:`QMapModel.load`, cached per (run, checkpoint file and its modification time,
    device), so scoring a database loads the network once."""
    from qagen.train.restore import resolve_run_checkpoint

    path = resolve_run_checkpoint(run_dir, checkpoint)
    key = (str(path.resolve()), path.stat().st_mtime_ns, str(device))
    if key not in _LOADED:
        _LOADED[key] = QMapModel.load(run_dir, path, device)
    return _LOADED[key]


def _model(model: Any) -> QMapModel:
    if isinstance(model, QMapModel):
        return model
    if model is None or model == "":
        raise InputError(
            "qmap needs a trained model: the run directory of a qmap-* run (--model RUN; "
            "qagen train qmap-unet --data builtin --preset demo makes one)"
        )
    return load_qmap(model)


def qmap_score(
    x: torch.Tensor, data_range: float = 1.0, *, model: Any = None, reduction: str = "none"
) -> torch.Tensor:
    """No-reference quality ``[N]``: the mean of the SSIM map that a trained ``qmap-*`` network
    (``model``: its run directory or a :class:`QMapModel`) predicts from ``x`` alone (Zhou, Guo
    & Dasari's map predictor; pooling by the mean, as SSIM pools its map). Higher is better;
    1 = predicted identical to a pristine image."""
    v = _model(model).score(x, data_range)
    if reduction == "mean":
        return v.mean()
    if reduction == "sum":
        return v.sum()
    if reduction != "none":
        raise InputError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return v


def qmap_map(x: torch.Tensor, data_range: float = 1.0, *, model: Any = None) -> torch.Tensor:
    """The predicted SSIM map ``N x 1 x H x W`` of ``x`` (see :func:`qmap_score`)."""
    return _model(model).map(x, data_range)


# ----------------------------------------------------------------------------- evaluation


def _rows(model: QMapModel, ds: Any, batch_size: int, progress: bool, desc: str) -> list[dict]:
    """Per distinct item (the over-sampled pristine copies are the same centre crop: only the
    first is predicted and it carries their number as ``weight``): type, level, content, MAE,
    predicted score and true SSIM of the crop; ``index`` into the dataset."""
    from torch.utils.data import DataLoader, Subset

    idx = [i for i, it in enumerate(ds.items) if it.copy == 0]
    copies = {it.content: 0 for it in ds.items}
    for it in ds.items:
        if it.kind == "pristine":
            copies[it.content] += 1
    rows: list[dict] = []
    loader = DataLoader(Subset(ds, idx), batch_size=batch_size, shuffle=False, num_workers=0)
    it = loader
    if progress:
        from tqdm import tqdm

        it = tqdm(loader, desc=desc, unit="batch", file=sys.stderr, dynamic_ncols=True)
    k = 0
    for x, y, _t, _l in it:
        pred = model.recipe.predict(x.to(model.run.device)).float().cpu()
        mae = (pred - y).abs().mean(dim=(1, 2, 3))
        for j in range(x.shape[0]):
            item = ds.items[idx[k]]
            rows.append({"content": ds.contents[item.content].name, "type": item.kind,
                         "level": item.level, "mae": float(mae[j]),
                         "predicted": float(pred[j].mean()), "ssim": float(y[j].mean()),
                         "weight": copies[item.content] if item.kind == "pristine" else 1,
                         "index": idx[k]})  # fmt: skip
            k += 1
    return rows


def _mean(values: Sequence[float], weights: Sequence[float] | None = None) -> float | None:
    if not len(values):
        return None
    return float(np.average(values, weights=weights))


def _wmean(rows: Sequence[dict], key: str = "mae") -> float | None:
    """The mean over every item of the split (a pristine row counts once per copy)."""
    return _mean([r[key] for r in rows], [r["weight"] for r in rows])


def pristine_vs_level1(rows: Sequence[dict], key: str = "predicted") -> dict[str, Any]:
    """``mean(key | pristine) - mean(key | jpeg or jp2k at level 1)`` over ``rows`` (one row per
    distinct crop), with the three means; the difference is ``None`` (and ``reason`` says why)
    when a side has no row."""
    pristine = [r[key] for r in rows if r["type"] == "pristine"]
    mild = [r[key] for r in rows if r["type"] in ("jpeg", "jp2k") and r["level"] == 1]
    means = {"pristine": _mean(pristine),
             "jpeg_1": _mean([r[key] for r in rows if r["type"] == "jpeg" and r["level"] == 1]),
             "jp2k_1": _mean([r[key] for r in rows if r["type"] == "jp2k" and r["level"] == 1])}  # fmt: skip
    if not pristine or not mild:
        missing = "pristine" if not pristine else "level-1 jpeg or jp2k"
        return {"value": None, "reason": f"no {missing} crop in the split", "means": means}
    return {"value": float(np.mean(pristine) - np.mean(mild)), "reason": None, "means": means}


def evaluate_qmap_run(
    run_dir: str | Path,
    checkpoint: str | int = "last",
    *,
    device: str = "cpu",
    batch_size: int = 16,
    write: bool = True,
    progress: bool = False,
    crop: int | None = None,
) -> dict:
    """Evaluate a ``qmap-*`` run (module docstring); returns the ``qmap`` record and, with
    ``write``, merges it into ``RUN_DIR/eval.json`` and appends to ``eval_history.jsonl``.
    ``crop``: side of the centre crops (``None``: the run's ``data.resolution``)."""
    from qagen.eval.correlation import correlations

    if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
        raise InputError(f"crop must be None (the run's crop) or a positive int, got {crop!r}")
    model = QMapModel.load(run_dir, checkpoint, device)
    recipe, run = model.recipe, model.run.run
    kw: dict[str, Any] = {"random_crop": False, "progress": progress}
    if crop is not None:
        kw["crop"] = crop
    valid = type(recipe).build_dataset(run, "valid", **kw)
    train = type(recipe).build_dataset(run, "train", **kw)
    vrows = _rows(model, valid, batch_size, progress, "qmap eval: validation")
    trows = _rows(model, train, batch_size, progress, "qmap eval: training split")
    constant = _wmean(trows, "ssim")
    for r in vrows:  # the constant's MAE needs the maps, not only their means
        r["mae_constant"] = float((valid[r["index"]][1] - constant).abs().mean())
    distinct = vrows  # every distorted image and one copy of each pristine image
    pred = np.array([r["predicted"] for r in distinct])
    true = np.array([r["ssim"] for r in distinct])
    corr = correlations(
        pred, true, pred_higher_is_better=True, target_higher_is_better=True, warn=False
    )
    per_type = {t: _mean([r["mae"] for r in vrows if r["type"] == t]) for t in _TYPES}
    per_level = {
        str(lv): _mean([r["mae"] for r in vrows if r["level"] == lv]) for lv in range(1, 6)
    }
    per_tl = {t: {str(lv): _mean([r["mae"] for r in vrows if r["type"] == t and r["level"] == lv])
                  for lv in range(1, 6)} for t in _TYPES[:4]}  # fmt: skip
    sep = pristine_vs_level1(distinct)
    sep_true = pristine_vs_level1(distinct, "ssim")
    n_train_items = len(train)
    bs = int(run.train.batch_size)
    names = [c.name for c in train.contents] + [c.name for c in valid.contents]
    if str(run.data.spec).strip().lower() == "builtin":
        from qagen.data.builtin import describe_builtin_photos

        photographs = describe_builtin_photos(names)
    else:
        photographs = f"{len(names)} pristine images of {run.data.spec}"
    from qagen._version import __version__

    record = {
        "metric": "qmap",
        "mae": _wmean(vrows),
        "train_mae": _wmean(trows),
        "mae_constant_baseline": _wmean(vrows, "mae_constant"),
        "constant": constant,
        "mae_ratio_to_baseline": _wmean(vrows) / _wmean(vrows, "mae_constant"),
        "mae_per_type": {k: v for k, v in per_type.items() if v is not None},
        "mae_per_level": {k: v for k, v in per_level.items() if v is not None},
        "mae_per_type_level": {t: {k: v for k, v in d.items() if v is not None} for t, d in per_tl.items()},
        "srocc_vs_ssim": corr.srocc,
        "plcc_vs_ssim": corr.plcc,
        "pearson_vs_ssim": corr.pearson_raw,
        "separation_pristine_vs_level1": sep["value"],
        "separation_pristine_vs_level1_reason": sep["reason"],
        "separation_pristine_vs_level1_true": sep_true["value"],
        "mean_predicted": sep["means"],
        "n_images": int(len(distinct)),
        "images": distinct,
        "protocol": {
            "run_dir": str(run_dir), "recipe": run.recipe, "checkpoint_step": model.step,
            "checkpoint_file": model.run.checkpoint.name, "data": run.data.spec,
            "crop": valid.crop, "training_crop": run.data.resolution,
            "crop_position": "centre",
            "valid_items": len(valid), "valid_contents": [c.name for c in valid.contents],
            "train_items": n_train_items, "train_contents": len(train.contents),
            "pristine_images": len(names), "photographs": photographs,
            "parameters": recipe.parameter_count(),
            "epochs": model.step * bs / n_train_items if n_train_items else None,
            "batch_size": bs,
            "correlation": "over distinct validation images (each pristine image once); PLCC "
            "after the 5-parameter logistic",
            "fit": corr.fit.to_dict() if hasattr(corr.fit, "to_dict") else None,
            "evaluated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "qagen": __version__,
        },
    }  # fmt: skip
    if write:
        from qagen.eval.generation import write_eval_json

        path = Path(run_dir) / "eval.json"
        old = {}
        if path.is_file():
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                old = {}
        write_eval_json({**old, "qmap": record}, path)
        with (Path(run_dir) / "eval_history.jsonl").open("a") as fh:
            for key in (
                "mae",
                "train_mae",
                "mae_constant_baseline",
                "srocc_vs_ssim",
                "plcc_vs_ssim",
                "separation_pristine_vs_level1",
            ):
                fh.write(dumps_json({"time": record["protocol"]["evaluated_at"],
                                     "checkpoint_step": model.step, "metric": f"qmap.{key}",
                                     "value": record[key]}) + "\n")  # fmt: skip
    return record


def summary_lines(rec: Mapping[str, Any]) -> list[str]:
    """The evaluation in a few lines for the terminal."""
    p = rec["protocol"]
    types = ", ".join(f"{k} {v:.4f}" for k, v in rec["mae_per_type"].items())
    return [
        f"{p['recipe']} step {p['checkpoint_step']} ({p['epochs']:.3g} epochs), "
        f"{p['valid_items']} validation crops of {p['crop']} px from {', '.join(p['valid_contents'][:6])}"
        + (" ..." if len(p["valid_contents"]) > 6 else ""),
        f"mae {rec['mae']:.4f} (lower is better; constant baseline {rec['mae_constant_baseline']:.4f}, "
        f"ratio {rec['mae_ratio_to_baseline']:.3f}; training split {rec['train_mae']:.4f})",
        f"mae per type: {types}",
        f"srocc_vs_ssim {rec['srocc_vs_ssim']:.4f}, plcc_vs_ssim {rec['plcc_vs_ssim']:.4f} "
        f"(pooled prediction vs true SSIM over {rec['n_images']} images; higher is better)",
        _separation_line(rec),
        f"pristine images: {p.get('photographs', p.get('pristine_images'))}",
    ]


def _separation_line(rec: Mapping[str, Any]) -> str:
    sep = rec.get("separation_pristine_vs_level1")
    if sep is None:
        return ("pristine vs level-1 JPEG/JPEG 2000: "
                f"{rec.get('separation_pristine_vs_level1_reason') or 'not measured'}")  # fmt: skip
    true = rec.get("separation_pristine_vs_level1_true")
    means = rec.get("mean_predicted", {})
    return (f"pristine vs level-1 JPEG/JPEG 2000: predicted {sep:+.4f} (true SSIM {true:+.4f}; "
            f"mean predicted pristine {means.get('pristine', float('nan')):.4f}, jpeg-1 "
            f"{means.get('jpeg_1') or float('nan'):.4f}, jp2k-1 "
            f"{means.get('jp2k_1') or float('nan'):.4f}; higher is better)")  # fmt: skip


def qmap_eval_command(run_dir: str | Path, options: Any, stream: TextIO | None = None) -> int:
    """``qagen eval RUN`` of a ``qmap-*`` run (checkpoint, device, batch size and progress from
    :class:`qagen.eval.options.EvalOptions`)."""
    stream = stream if stream is not None else sys.stdout
    rec = evaluate_qmap_run(run_dir, options.checkpoint, device=options.device,
                            batch_size=options.batch_size, progress=options.progress,
                            crop=getattr(options, "crop", None))  # fmt: skip
    for line in summary_lines(rec):
        stream.write(line + "\n")
    stream.write(f"wrote {Path(run_dir) / 'eval.json'} (section 'qmap')\n")
    return 0


# ----------------------------------------------------------------------------- figures


def figure8(
    models: Mapping[str, QMapModel],
    dataset: Any,
    content: str | None,
    path: str | Path,
    *,
    level: int = 3,
) -> dict:
    """The paper's Figure 8 for one validation content: rows gblur, wn, jpeg, jp2k at ``level``;
    columns the distorted image, the true SSIM map and each model's predicted map (``models``:
    column title -> model), one shared colour bar. Returns what was drawn (content, level, the
    MAE of each panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.name for c in dataset.contents]
    content = content or names[0]
    if content not in names:
        raise InputError(f"content {content!r} is not in the dataset; it has {names}")
    ci = names.index(content)
    rows = []
    for kind in ("gblur", "wn", "jpeg", "jp2k"):
        idx = next((i for i, it in enumerate(dataset.items)
                    if it.content == ci and it.kind == kind and it.level == level), None)  # fmt: skip
        if idx is None:
            raise InputError(f"the dataset has no {kind} item at level {level} for {content}")
        rows.append((kind, idx))
    labels = {"gblur": "Gaussian blur", "wn": "white noise", "jpeg": "JPEG", "jp2k": "JPEG 2000"}
    cols = ["distorted image", "SSIM map (true)", *models]
    crop = dataset.crop or 256
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.3 * len(cols) + 1.0, 2.4 * len(rows) + 0.8),
                             dpi=110, squeeze=False)  # fmt: skip
    drawn: dict = {"content": content, "level": level, "crop": crop, "mae": {}}
    im = None
    for r, (kind, idx) in enumerate(rows):
        x, y, *_ = dataset[idx]
        panels = [("image", x), ("true", y)]
        for name, model in models.items():
            pred = model.recipe.predict(x[None].to(model.run.device)).float().cpu()[0]
            drawn["mae"].setdefault(name, {})[kind] = float((pred - y).abs().mean())
            panels.append((name, pred))
        for c, (name, t) in enumerate(panels):
            ax = axes[r][c]
            if name == "image":
                ax.imshow(t.permute(1, 2, 0).clamp(0, 1).numpy())
            else:
                im = ax.imshow(
                    t[0].numpy(), cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest"
                )
                if name != "true":
                    ax.set_xlabel(f"MAE {drawn['mae'][name][kind]:.3f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{labels[kind]}\nlevel {level}", fontsize=9)
    if im is not None:
        bar = fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01)
        bar.set_label(
            "SSIM (1 = identical to the pristine image; higher is better; < 0 shown as 0)"
        )
    fig.suptitle(f"Figure 8 reproduced: validation image '{content}' ({crop} x {crop} centre crop), "
                 "true and predicted SSIM maps (MAE under each prediction, lower is better)",
                 fontsize=10)  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return drawn


def finite(v: Any) -> float | None:
    """``v`` as a float when finite, else ``None``."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
