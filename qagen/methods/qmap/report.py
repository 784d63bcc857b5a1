"""Sections of the quality-map runs (``qmap-*``): the evaluation of ``eval.json``'s ``qmap``
record (MAE against the constant baseline, per type and level, correlation of the pooled
prediction with SSIM) and predicted maps of validation images beside the true SSIM maps."""

from __future__ import annotations

from typing import Any

from qagen.report import (
    Cell,
    Figure,
    KeyValues,
    Missing,
    Paragraph,
    Section,
    Table,
    figure_png,
    new_figure,
)
from qagen.report.run import RunReportData

__all__ = ["qmap_evaluation_section", "qmap_maps_section"]

_TYPES = ("gblur", "wn", "jpeg", "jp2k")
_COLOURS = {"gblur": "tab:blue", "wn": "tab:orange", "jpeg": "tab:green", "jp2k": "tab:red",
            "pristine": "black"}  # fmt: skip


def _scatter(images: list[dict]) -> bytes:
    fig, ax = new_figure(figsize=(5.2, 4.6))
    for kind, colour in _COLOURS.items():
        pts = [(r["ssim"], r["predicted"]) for r in images if r["type"] == kind]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, s=14, c=colour, label=kind, alpha=0.8)
    lo = min([0.0] + [min(r["ssim"], r["predicted"]) for r in images])
    ax.plot([lo, 1], [lo, 1], color="grey", lw=0.8, ls="--", label="prediction = SSIM")
    ax.set_xlabel("true SSIM of the crop (mean of its SSIM map)")
    ax.set_ylabel("predicted score (mean of the predicted map)")
    ax.set_title("No-reference prediction vs SSIM (validation; on the line is best)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return figure_png(fig)


def qmap_evaluation_section(run: RunReportData) -> list[Section]:
    """The ``qmap`` record of ``eval.json``."""
    rec = (run.evaluation or {}).get("qmap")
    if not isinstance(rec, dict):
        return [Section("Evaluation", [Paragraph(
            "No evaluation yet: run `qagen eval RUN_DIR` (MAE of the predicted maps on the "
            "validation split, the constant baseline, per type and level, and the correlation "
            "of the pooled prediction with SSIM), then `qagen report RUN_DIR`."
        )], id="evaluation")]  # fmt: skip
    p = rec.get("protocol", {})
    ratio = rec.get("mae_ratio_to_baseline")
    main = Table(
        ["measure", "value", "better", "what it is"],
        [
            [Cell("validation MAE", strong=True), rec.get("mae"), "lower",
             "mean |predicted map - SSIM map| over the validation crops (the paper's Valid MAE)"],
            ["constant baseline MAE", rec.get("mae_constant_baseline"), "—",
             f"predicting {rec.get('constant', float('nan')):.4f} (the training maps' mean) "
             "everywhere"],
            ["ratio to the baseline", ratio, "lower", "< 1: the network beats the constant"],
            ["training-split MAE", rec.get("train_mae"), "lower",
             "the same on the training contents' centre crops (the paper's Train MAE)"],
            ["SROCC vs SSIM", rec.get("srocc_vs_ssim"), "higher",
             f"rank correlation, over {rec.get('n_images')} validation images, of the "
             "predicted map's mean with the true SSIM"],
            ["PLCC vs SSIM", rec.get("plcc_vs_ssim"), "higher",
             "linear correlation after the 5-parameter logistic"],
            ["pristine vs level-1 JPEG / JPEG 2000",
             rec.get("separation_pristine_vs_level1",
                     Missing("not in this eval.json: run qagen eval again")),
             "higher", "mean predicted score of the pristine crops minus that of the level-1 "
             f"JPEG and JPEG 2000 crops (true SSIM: "
             f"{rec.get('separation_pristine_vs_level1_true') or float('nan'):.4f})"],
        ],
        caption=f"Quality-map prediction at step {p.get('checkpoint_step')} "
        f"({p.get('epochs', float('nan')):.3g} epochs) on held-out contents "
        f"{', '.join(p.get('valid_contents', [])[:8])}",
        notes=[f"{p.get('valid_items')} validation crops of {p.get('crop')} px (centre), "
               f"{p.get('train_items')} training items; {p.get('parameters')} parameters; "
               f"{p.get('pristine_images', '?')} pristine images in all."],
    )  # fmt: skip
    per = rec.get("mae_per_type_level", {})
    rows = []
    for kind in _TYPES:
        d = per.get(kind, {})
        rows.append([kind] + [d.get(str(lv), Missing("no item")) for lv in range(1, 6)]
                    + [rec.get("mae_per_type", {}).get(kind)])  # fmt: skip
    rows.append(["pristine", *[Missing("pristine copies have no level")] * 5,
                 rec.get("mae_per_type", {}).get("pristine")])  # fmt: skip
    rows.append([Cell("all levels", strong=True)]
                + [rec.get("mae_per_level", {}).get(str(lv)) for lv in range(1, 6)] + [rec.get("mae")])  # fmt: skip
    levels = Table(["type", "level 1", "level 2", "level 3", "level 4", "level 5", "all"], rows,
                   caption="Validation MAE per distortion type and level (lower is better; "
                   "level 1 is the mildest)")  # fmt: skip
    blocks: list[Any] = [main, levels]
    if rec.get("images"):
        blocks.append(Figure(_scatter(rec["images"]), "Pooled prediction against the true SSIM "
                             "of each validation image (closer to the dashed line is better)"))  # fmt: skip
    blocks.append(KeyValues([(k, v) for k, v in p.items() if k != "fit"], caption="protocol"))
    return [Section("Evaluation", blocks, id="evaluation")]


def _maps_figure(run: RunReportData, n: int) -> tuple[bytes, str]:
    import torch

    from qagen.methods.qmap.evaluation import QMapModel
    from qagen.methods.qmap.recipes import colorize_map

    # QMapModel.load: the checkpoint's weights, without re-reading hparams.encoder_weights
    restored = run.cached("qmap-restore:last",
                          lambda: QMapModel.load(run.run_dir, "last", device=run.device).run)  # fmt: skip
    recipe = restored.recipe
    ds = type(recipe).build_dataset(restored.run, "valid", random_crop=False, progress=False)
    levels = sorted({it.level for it in ds.items if it.kind != "pristine"})
    level = 3 if 3 in levels else levels[len(levels) // 2]  # the run's middle level without 3
    picks = [i for i, it in enumerate(ds.items) if it.kind != "pristine" and it.level == level][:n]
    xs, ys = zip(*[ds[i][:2] for i in picks], strict=True)
    x, y = torch.stack(xs), torch.stack(ys)
    pred = recipe.predict(x.to(restored.device)).float().cpu()
    fig, axes = new_figure(len(picks), 3, figsize=(7.5, 2.5 * len(picks)), squeeze=False)
    for r in range(len(picks)):
        for c, (img, title) in enumerate(((x[r], "distorted"), (colorize_map(y[r : r + 1])[0], "SSIM map"),
                                          (colorize_map(pred[r : r + 1])[0], "predicted map"))):  # fmt: skip
            ax = axes[r][c]
            ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=9)
            if c == 0:
                it = ds.items[picks[r]]
                ax.set_ylabel(
                    f"{ds.contents[it.content].name}\n{it.kind} level {it.level}", fontsize=8
                )
            if c == 2:
                ax.set_xlabel(f"MAE {float((pred[r] - y[r]).abs().mean()):.3f}", fontsize=8)
    caption = (
        f"Validation crops at level {level} (step {restored.step}): maps in viridis from 0 "
        "(dark) to 1 (yellow, undistorted); the prediction sees only the distorted image"
    )
    return figure_png(fig), caption


def qmap_maps_section(run: RunReportData) -> list[Section]:
    """Predicted maps of validation images beside the true SSIM maps."""
    if not run.checkpoints:
        return [Section("Predicted maps", [Paragraph("No checkpoint yet.")])]
    try:
        png, caption = run.cached("qmap-maps", lambda: _maps_figure(run, 4))
    except Exception as exc:  # the data may not be available where the report is written
        return [Section("Predicted maps", [Paragraph(
            f"The validation images are not available here ({type(exc).__name__}: {exc})."
        )])]  # fmt: skip
    return [Section("Predicted maps", [Figure(png, caption)])]
