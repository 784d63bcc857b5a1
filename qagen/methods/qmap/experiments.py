"""Table I and Figure 8 of Zhou, Guo & Dasari, *Image-to-Image Translation to learn SSIM Quality
Map*: the eight image-to-image models trained to predict the SSIM map of a distorted image.

Our cells: ``type`` (FCN / U-Net / GAN, as the paper groups them), ``params`` (the trainable
parameters of the model as the recipe builds it; for the GAN, generator + discriminator),
``epochs`` (passes over the training items, ``steps x batch / items``), ``train_mae`` and
``valid_mae`` (the MAE of the predicted map against the SSIM map on the centre crops of the
training and validation contents: :func:`qagen.methods.qmap.evaluation.evaluate_qmap_run`). The paper's
train MAE is presumably its training loss (random crops); ours is measured the same way as the
validation MAE. ``DIR/figure8.png`` is the paper's Figure 8 for one validation image.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from qagen.errors import InputError
from qagen.experiments.base import (
    Cell,
    Experiment,
    ExperimentContext,
    Row,
    RunSpec,
    register_experiment,
)

#: (row label as in the paper, model key, recipe)
_ROWS = (
    ("FCN", "fcn", "qmap-fcn"),
    ("DCNN", "dcnn", "qmap-dcnn"),
    ("U-Net", "unet", "qmap-unet"),
    ("U-Net32", "unet32", "qmap-unet32"),
    ("Densenet121-unet", "densenet121-unet", "qmap-densenet121-unet"),
    ("Resnet18-unet", "resnet18-unet", "qmap-resnet18-unet"),
    ("Resnet50-unet", "resnet50-unet", "qmap-resnet50-unet"),
    ("GAN(U-Net)", "gan", "qmap-gan"),
)

#: Figure 8's prediction columns: label -> model key.
FIGURE8_MODELS = {"FCN": "fcn", "U-Net32": "unet32", "Densenet121-unet": "densenet121-unet",
                  "GAN": "gan"}  # fmt: skip

#: Per budget: training steps or minutes per run, and the data overrides.
_BUDGET: dict[str, dict[str, Any]] = {
    "smoke": {"max_steps": 2, "max_minutes": None, "expected_s": 12.0},
    # cpu: the minutes are the budget (the -demo presets' 600-step cap is lifted: at their 32 px
    # crops the small networks would stop after well under a minute)
    "cpu": {"max_steps": 10**8, "max_minutes": 2.0, "expected_s": 150.0},
    "paper": {"max_steps": None, "max_minutes": None, "expected_s": 48 * 3600.0},
}
#: smoke: the smallest crops each network accepts (the GAN's unet_128 needs 128), batch 2, the
#: level-3 distortions only, grids and checkpoints off (the pipeline, not the numbers)
_SMOKE = ("train.batch_size=2", "train.sample_every=0", "train.checkpoint_every=0",
          "train.log_every=1", "train.progress=false", "hparams.data.levels=[3]")  # fmt: skip
#: smoke and cpu: one checkpoint kept, no in-memory rollback copy (the large models' Adam
#: state is hundreds of MB)
_SMALL_RUN = ("train.keep_last=1", "train.rollback=false")
_SMOKE_CROP = {"gan": 128, "unet32": 64}


@register_experiment("qmap-table1")
class QMapTable1(Experiment):
    paper = ("Zhou, Guo & Dasari, Image-to-Image Translation to learn SSIM Quality Map "
             "(University of Waterloo, SYDE 675)")  # fmt: skip
    table = "Table I: training results of image-to-image models (and Figure 8)"
    description = (
        "Eight networks predict the SSIM map of a distorted image from that image alone (MAE "
        "against the SSIM map; Adam 1e-3 halved every 100 epochs; 256 x 256 crops). The paper "
        "trains on 500 Waterloo Exploration images (80/20 content-disjoint, 4 distortions x 5 "
        "levels + 5 pristine copies); the smoke and cpu budgets train the -demo presets on the "
        "built-in photos (validation: the held-out photos chelsea, flower, grace_hopper, and "
        "where Debian's opencv-doc is installed board, butterfly, fruits, graf1/graf3; the "
        "protocol's 'photographs' says which were used), so their MAE values are not comparable "
        "with the paper's; the parameter counts are."
    )
    columns = ("type", "params", "epochs", "train_mae", "valid_mae")
    descriptive_columns = ("type", "params", "epochs")
    column_notes = {
        "type": "model family, as the paper groups them",
        "params": "trainable parameters of the model as built (GAN: generator + discriminator); "
        "the encoder U-Nets come from segmentation-models-pytorch 0.6.0",
        "epochs": "passes over the training items (steps x batch / items)",
        "train_mae": "MAE of the predicted map vs the SSIM map on the training contents' centre "
        "crops, lower is better",
        "valid_mae": "the same on the held-out validation contents, lower is better",
    }

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        from qagen.experiments.protocol import run_configs, settings

        b = _BUDGET[ctx.budget]
        ran = run_configs(ctx, self.runs(ctx))  # what ran (config.toml), not what was meant
        data = ctx.data or ("builtin" if ctx.budget != "paper" else None)
        if b["max_minutes"]:
            training = f"{b['max_minutes']} minutes per model on this machine"
        elif b["max_steps"]:
            training = f"{b['max_steps']} steps per model"
        else:
            training = "the paper's epochs per model (the full presets' max_steps)"
        photographs = None
        if str(data).strip().lower() == "builtin":  # what this machine loads (qagen photos)
            from qagen.data.builtin import describe_builtin_photos

            photographs = describe_builtin_photos()
        return {
            "data": data,
            **({"photographs": photographs} if photographs else {}),
            "presets": "full (paper)" if ctx.budget == "paper" else "-demo (CPU-sized)",
            "training": training,
            "crops": settings(ran, "data.resolution", " px"),
            "batch": settings(ran, "train.batch_size"),
            "distortion_levels": settings(ran, "hparams.data.levels"),
            "evaluation": "centre crops of the run's crop size; MAE over every crop of the split",
            "figure8": "DIR/figure8.png: one validation image at level 3, the FCN, U-Net32, "
            "Densenet121-unet and GAN predictions",
        }  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = _BUDGET[ctx.budget]
        if ctx.budget == "paper" and not ctx.data:
            raise InputError("--budget paper needs --data waterloo:ROOT (the Waterloo Exploration "
                             "Database) or folder:PATH (pristine images)")  # fmt: skip
        data = ctx.data or ("builtin" if ctx.budget != "paper" else None)
        specs = []
        for _label, key, recipe in _ROWS:
            preset = recipe if ctx.budget == "paper" else f"{recipe}-demo"
            sets: tuple[str, ...] = () if ctx.budget == "paper" else _SMALL_RUN
            if ctx.budget == "smoke":
                sets = (*sets, *_SMOKE, f"data.resolution={_SMOKE_CROP.get(key, 32)}")
            specs.append(RunSpec(name=recipe, recipe=recipe, preset=preset, data=data,
                                 overrides=sets, max_steps=b["max_steps"],
                                 max_minutes=b["max_minutes"], expected_seconds=b["expected_s"]))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        from qagen.methods.qmap.recipes import PAPER_TABLE1

        out = []
        for label, key, recipe in _ROWS:
            kind, params, epochs, tr, va = PAPER_TABLE1[key]
            out.append(Row(label=label, runs=[recipe], paper={
                "type": kind, "params": params, "epochs": epochs, "train_mae": tr, "valid_mae": va,
            }))  # fmt: skip
        return out

    def _record(self, ctx: ExperimentContext, name: str) -> dict:
        from qagen.methods.qmap.evaluation import evaluate_qmap_run

        cached = ctx.cached_record(name, "qmap")
        if cached is not None:
            return cached
        return evaluate_qmap_run(
            ctx.run_dir(name), device=ctx.device, progress=ctx.budget != "smoke"
        )

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        from qagen.methods.qmap.recipes import PAPER_TABLE1

        for row, (_label, key, _recipe) in zip(rows, _ROWS, strict=True):
            name = row.runs[0]
            status = ctx.status.get(name, "finished")
            if status != "finished":
                row.ours = {c: Cell(None, reason=status) for c in self.columns}
                row.ours["type"] = Cell(PAPER_TABLE1[key][0])
                continue
            rec = self._record(ctx, name)
            p = rec["protocol"]
            proto = {
                "generator": "raw",
                "n": "every centre crop of the split",
                "reference_split": "valid",
            }
            row.ours = {
                "type": Cell(PAPER_TABLE1[key][0]),
                "params": Cell(int(p["parameters"])),
                "epochs": Cell(float(p["epochs"])),
                # null + "<key>_reason" when not finite (qagen.files); "nan" in older files
                "train_mae": Cell(
                    rec["train_mae"],
                    reason=rec.get("train_mae_reason"),
                    protocol=dict(proto, reference_split="train"),
                ),
                "valid_mae": Cell(rec["mae"], reason=rec.get("mae_reason"), protocol=proto),
            }
            srocc = rec["srocc_vs_ssim"]
            srocc = (f"{srocc:.3f}" if srocc is not None and math.isfinite(srocc)
                     else "undefined (constant prediction)")  # fmt: skip
            row.note = (f"constant baseline {rec['mae_constant_baseline']:.4f}; SROCC vs SSIM "
                        f"{srocc}; step {p['checkpoint_step']}")  # fmt: skip
        return rows

    def report_sections(self, ctx: ExperimentContext, rows: list[Row]) -> list[Any]:
        from qagen.report import Figure, Paragraph, Section, Table

        blocks: list[Any] = []
        recs = {}
        for _label, key, recipe in _ROWS:
            if ctx.status.get(recipe, "finished") == "finished":
                try:
                    recs[key] = self._record(ctx, recipe)
                except Exception as exc:  # keep the table even if one run cannot be read
                    blocks.append(Paragraph(f"{recipe}: {exc}", note=True))
        if recs:
            header = ["model", "valid MAE", "constant baseline", "ratio", "SROCC vs SSIM",
                      "PLCC vs SSIM", *[f"MAE {t}" for t in ("gblur", "wn", "jpeg", "jp2k", "pristine")]]  # fmt: skip
            body = []
            for label, key, _recipe in _ROWS:
                r = recs.get(key)
                if r is None:
                    continue
                t = r.get("mae_per_type", {})
                body.append([label, r["mae"], r["mae_constant_baseline"], r.get("mae_ratio_to_baseline"),
                             r["srocc_vs_ssim"], r["plcc_vs_ssim"],
                             *[t.get(k) for k in ("gblur", "wn", "jpeg", "jp2k", "pristine")]])  # fmt: skip
            blocks.append(Table(header, body, caption="Validation MAE against the constant "
                                "baseline (lower is better) and correlation of the pooled "
                                "prediction with SSIM (higher is better)"))  # fmt: skip
        fig = self.figure8(ctx)
        if isinstance(fig, Path):
            blocks.append(Figure(fig, "Figure 8 reproduced: rows blur, noise, JPEG, JPEG 2000 "
                                 "(level 3); columns the distorted image, the true SSIM map and "
                                 "the predicted maps (one colour bar, 0 to 1; higher = better)"))  # fmt: skip
        else:
            blocks.append(Paragraph(f"Figure 8 not drawn: {fig}"))
        return [Section("Maps and per-type errors", blocks)]

    def figure8(self, ctx: ExperimentContext) -> Path | str:
        """Draw ``DIR/figure8.png``; returns its path or why it could not be drawn."""
        from qagen.methods.qmap.evaluation import QMapModel, figure8

        models = {}
        for label, key in FIGURE8_MODELS.items():
            name = f"qmap-{key}"
            if ctx.status.get(name, "finished") != "finished":
                continue
            try:
                models[label] = QMapModel.load(ctx.run_dir(name), device=ctx.device)
            except (FileNotFoundError, InputError) as exc:
                return f"{name}: {exc}"
        if not models:
            return "none of the FCN, U-Net32, Densenet121-unet and GAN runs finished"
        first = next(iter(models.values()))
        run = first.run.run
        # one crop size for every column: the largest crop of the runs (smoke: the GAN's)
        crop = max(m.run.run.data.resolution for m in models.values())
        ds = type(first.recipe).build_dataset(run, "valid", crop=crop, random_crop=False,
                                              progress=False)  # fmt: skip
        levels = sorted({it.level for it in ds.items if it.level})
        level = 3 if 3 in levels else levels[len(levels) // 2]
        path = ctx.out / "figure8.png"
        figure8(models, ds, None, path, level=level)
        return path
