"""The evaluation section of a run report: the records of ``eval.json`` (written by ``qagen
eval``) with what each number means, which way is better and its protocol, and the evaluations
over checkpoints (``eval_history.jsonl``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from qagen.registry import EVALUATORS
from qagen.report import (
    Cell,
    Details,
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

__all__ = ["BETTER", "evaluation_section", "history_figure"]

#: Which way is better, per metric of eval.json.
BETTER = {"swd": "lower", "fid": "lower", "kid": "lower", "is": "higher", "niqe": "lower",
          "fd_fmnist": "lower", "kid_fmnist": "lower", "is_fmnist": "higher"}  # fmt: skip
_LABEL = {"swd": "SWD x1e3", "fid": "FID", "kid": "KID", "is": "IS", "niqe": "NIQE (pooled)",
          "fd_fmnist": "FD (F-MNIST classifier)", "kid_fmnist": "KID (F-MNIST classifier)",
          "is_fmnist": "IS (F-MNIST classifier)"}  # fmt: skip
#: GLCM properties shown (energy/homogeneity follow the record's definitions; the
#: energy_matlab/... variants repeat them) and what they measure.
_GLCM = {
    "contrast": "local grey-level variation (edges, texture)",
    "correlation": "linear dependence of neighbouring grey levels",
    "energy": "uniformity of the co-occurrences (high for flat images)",
    "homogeneity": "closeness of neighbouring grey levels",
    "entropy": "randomness of the co-occurrences (detail)",
}
#: GLCM properties drawn over checkpoints (the QMF paper reads entropy and correlation as rising
#: and homogeneity as falling with quality).
_HISTORY_GLCM = ("glcm.entropy", "glcm.correlation", "glcm.homogeneity")


def _num(v: Any) -> float:
    """A record's number for formatting: null (not finite, qagen.files) and the string "nan" of
    older eval.json files give nan."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _records(evals: Mapping[str, Any]) -> tuple[dict, dict]:
    done, skipped = {}, {}
    for name, rec in evals.items():
        if isinstance(rec, Mapping):
            (skipped if rec.get("skipped") else done)[name] = rec
    return done, skipped


def _main_table(done: Mapping[str, Any], run: RunReportData) -> Table:
    rows = []
    for key, rec in done.items():
        name, _, gen = key.partition("@")  # "swd" (raw generator) or "swd@ema" (its EMA copy)
        if name == "glcm":
            continue
        p = rec.get("protocol", {})
        reference_value: Any = Missing("not computed for real images under this protocol")
        if name == "swd":
            value, spread = rec.get("average"), f"mean of {len(rec.get('per_level', {}))} levels"
            base = rec.get("real_vs_real") or {}
            if base.get("average") is not None:
                reference_value = Cell(
                    base["average"], title="SWD between two real sets of n images"
                )
            elif base.get("skipped"):
                reference_value = Missing(base.get("reason", ""))
        elif name == "niqe":
            value = rec.get("value")
            spread = f"per image {_num(rec.get('per_image_mean')):.4g} ± {_num(rec.get('per_image_std')):.3g}"
            reference_value = Cell(
                (rec.get("real") or {}).get("value"), title="NIQE of the real images, pooled"
            )
        else:
            value, std = rec.get("value"), rec.get("std")
            spread = f"± {std:.3g}" if isinstance(std, (int, float)) else None
        ref = f"{p.get('reference', '?')} [{p.get('reference_split', '?')}]"
        if name in ("is", "is_fmnist"):
            ref = Missing("IS uses the generated images only")
        rows.append([
            Cell(_LABEL.get(name, name) + (f" ({gen.upper()})" if gen else ""), strong=True),
            value, spread, reference_value,
            BETTER.get(name), p.get("checkpoint_step"), p.get("generator"), p.get("n_fake"),
            p.get("n_real"), ref,
        ])  # fmt: skip
    notes = [
        "**reference value**: what real images get under the same protocol: for SWD, two "
        "independent real sets of the same size (SWD, FID and KID grow as n shrinks, so this is "
        "the scale of the generated-vs-real number); for NIQE, the real images themselves.",
        "Numbers depend on their protocol (sample size, reference set and split, backbone and "
        "weights, checkpoint, EMA or raw generator): compare them only under equal protocols "
        "(the full records are below).",
    ]
    splits = {r.get("protocol", {}).get("reference_split") for r in done.values()}
    trained = run.data.get("split") or next(
        (r.get("protocol", {}).get("run_data_split") for r in done.values()), None
    )
    held_out = sorted(s for s in splits if s and trained and s != trained)
    if held_out:
        notes.insert(
            0,
            f"The real images come from the **{', '.join(held_out)}** split while the run "
            f"trained on **{trained}**: the scores measure the generator against images it never "
            "saw (against the training images they are usually better).",
        )
    gens = {r.get("protocol", {}).get("generator") for r in done.values()}
    if "raw" in gens:
        notes.append(
            "generator **raw**: the weights the trainer optimised, as the QAGAN authors "
            "evaluated them (at step 100,000). `qagen eval RUN --generator ema` scores the "
            "exponential moving average of the weights (the sample grids' generator) when the "
            "run keeps one; its records are the rows marked (EMA)."
        )
    if "ema" in gens:
        notes.append(
            "generator **ema**: the exponential moving average of the generator's weights, as "
            "in the sample grids; `--generator raw` (the default) gives the raw weights' number."
        )
    return Table(
        ["metric", "value", "spread", "reference value", "better", "checkpoint step",
         "generator", "n generated", "n real", "reference [split]"],
        rows,
        caption="Generated images against real images (eval.json).",
        notes=notes,
    )  # fmt: skip


def _swd_table(rec: Mapping[str, Any]) -> Table:
    base = (rec.get("real_vs_real") or {}).get("per_level") or {}
    rows = [
        [f"{k}x{k}", v, base.get(str(k), Missing("no second real set"))]
        for k, v in rec.get("per_level", {}).items()
    ]
    second = (rec.get("real_vs_real") or {}).get("second_set")
    notes = ["Finer levels (large resolutions) measure texture and noise, coarse levels layout "
             "and colour."]  # fmt: skip
    if second:
        notes.append(f"Second real set: {second}.")
    return Table(
        ["pyramid level", "generated vs real", "real vs real (same n)"],
        rows,
        caption="SWD x 1e3 per Laplacian-pyramid level (lower is better; a generator matching "
        "the data gets the real-vs-real value).",
        notes=notes,
    )


def _niqe_table(rec: Mapping[str, Any]) -> Table:
    p = rec.get("protocol", {})
    real = rec.get("real") or {}
    block = p.get("block_size", "?")
    per_image = lambda r: (  # noqa: E731
        f"{r['per_image_mean']:.4g} ± {r['per_image_std']:.3g}"
        if "per_image_mean" in r
        else Missing("not computed")
    )
    rows = [
        [Cell("pooled: one Gaussian of all blocks of all images", strong=True), rec.get("value"),
         real.get("value", Missing("no real images"))],
        ["per image: mean ± std over the images", per_image(rec), per_image(real)],
        ["blocks pooled", rec.get("n_blocks"), real.get("n_blocks")],
    ]  # fmt: skip
    if "fake_vs_real" in rec:
        rows.append(
            [
                "distance between the pooled generated and real Gaussians (0: same statistics)",
                rec["fake_vs_real"],
                None,
            ]  # fmt: skip
        )
    per = p.get("blocks_per_image", "a few")
    return Table(
        ["NIQE", "generated", "real"],
        rows,
        caption=f"NIQE at block size {block} against the LIVE pristine model (lower is "
        "better). The model was fitted on 96x96 blocks of full-size photographs, so these values "
        "compare only with each other (same block size), never with published NIQE.",
        notes=[
            f"**Why per image and pooled disagree.** Each image holds only {per} blocks of "
            f"{block}x{block}, so a per-image Gaussian has a covariance of rank at most "
            f"{per - 1 if isinstance(per, int) else 'blocks - 1'} in 36 dimensions: its "
            "distance to the pristine model is large and noisy, whatever the image. The pooled "
            "value fits one Gaussian to the blocks of all images, which is full rank and "
            "stable: it is the headline. Compare generated with real within a row, never "
            "across rows."
        ],
    )


def _glcm_table(rec: Mapping[str, Any]) -> Table:
    fake, real = rec.get("fake") or {}, rec.get("real") or {}
    p = rec.get("protocol", {})
    rows = []
    for k, meaning in _GLCM.items():
        if k not in fake:
            continue
        f, r = fake.get(k), real.get(k)
        diff = f - r if isinstance(f, (int, float)) and isinstance(r, (int, float)) else None
        rows.append([Cell(k, strong=True), f, r if k in real else Missing("no real images"),
                     diff, meaning])  # fmt: skip
    definitions = p.get("definitions", "matlab")
    formula = (
        "energy = Σp², homogeneity = Σp/(1+|i−j|) (MATLAB graycoprops)"
        if definitions == "matlab"
        else "energy = √Σp², homogeneity = Σp/(1+(i−j)²) (scikit-image)"
    )
    return Table(
        ["property", "generated", "real", "generated − real", "measures"],
        rows,
        caption="GLCM texture statistics, mean over the images (grey levels quantised to "
        f"{p.get('levels', 8)}, offsets 0°, 45°, 90°, 135° at distance 1). No property is "
        "better high or low: the closer the generated value to the real one, the better.",
        notes=[f"{formula}; entropy = −Σp log₂p."],
    )


def _flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.extend(_flatten(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", json.dumps(v) if isinstance(v, list) else v))
    return out


def history_figure(rows: Sequence[Mapping[str, Any]]) -> Figure | None:
    """Each metric (per generator) against the checkpoint step, the newest evaluation of each
    step; ``None`` until some metric has been evaluated at two checkpoints."""
    series: dict[str, dict[int, float]] = {}
    for r in rows:
        metric = str(r.get("metric"))
        if metric.startswith("glcm.") and metric not in _HISTORY_GLCM:
            continue
        step, v = r.get("checkpoint_step"), r.get("value")
        if not isinstance(step, int) or not isinstance(v, (int, float)) or not math.isfinite(v):
            continue
        series.setdefault(f"{metric} ({r.get('generator', '?')})", {})[step] = float(v)
    series = {k: v for k, v in series.items() if len(v) >= 2}
    if not series:
        return None
    from qagen.report.plots import plain_axes

    names = sorted(series, key=lambda k: (k.startswith("glcm."), k))
    ncol = min(3, len(names))
    nrow = math.ceil(len(names) / ncol)
    fig, axes = new_figure(nrow, ncol, figsize=(4.4 * ncol, 2.8 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        pts = sorted(series[name].items())
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color="C1")
        base = name.split(" ")[0]
        better = BETTER.get(base)
        hint = f"{better} is better" if better else "closer to real is better"
        ax.set_title(f"{name}: {hint}", fontsize=9)
        ax.set_xlabel("checkpoint step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        plain_axes(ax, integer_x=True)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_axis_off()
    fig.tight_layout()
    return Figure(
        figure_png(fig),
        "Evaluations over checkpoints (eval_history.jsonl; the newest evaluation of each "
        "checkpoint). Each panel title says which way is better.",
        alt="evaluation metrics against the checkpoint step",
    )


def evaluation_section(run: RunReportData) -> list[Section]:
    """The evaluation of the run: main table, SWD per level, NIQE, GLCM, skipped metrics,
    protocols and the evaluations over checkpoints."""
    if EVALUATORS.matching(run.recipe):
        return []  # not a generator: the method's own section shows its evaluation
    done, skipped = _records(run.evaluation)
    blocks: list[Any] = []
    if not done and not skipped:
        blocks.append(
            Paragraph(
                "No evaluation yet: run `qagen eval RUN_DIR` (SWD, NIQE and GLCM need no "
                "weights; FID, KID and IS need `--inception-weights`), then `qagen report "
                "RUN_DIR` (or `qagen eval RUN_DIR --report`)."
            )
        )
        return [Section("Evaluation", blocks, id="evaluation")]
    if any(n != "glcm" for n in done):
        blocks.append(_main_table(done, run))
    if "swd" in done and done["swd"].get("per_level"):
        blocks.append(_swd_table(done["swd"]))
    if "niqe" in done:
        blocks.append(_niqe_table(done["niqe"]))
    if "glcm" in done:
        blocks.append(_glcm_table(done["glcm"]))
    if skipped:
        by_reason: dict[str, list[str]] = {}
        for n, r in skipped.items():
            by_reason.setdefault(str(r.get("reason", "")), []).append(n)
        for reason, ns in by_reason.items():
            blocks.append(Paragraph(f"**Skipped: {', '.join(ns)}.** {reason}"))
    protocols = [
        KeyValues(_flatten(rec["protocol"]), caption=f"protocol of {name}")
        for name, rec in done.items()
        if rec.get("protocol")
    ]
    if protocols:
        blocks.append(Details("Protocols of the records (everything each number depends on)",
                              protocols))  # fmt: skip
    fig = history_figure(run.history)
    if fig is not None:
        blocks.append(fig)
    return [Section("Evaluation", blocks, id="evaluation")]
