"""Sections of the Quality Map Fusion runs (recipe ``qmf``): the quality maps (m1, m2, m3), the
fused map M and PAM's attention for the fixed sample batch over training, the QMF training
curves, the HOG similarity between input and synthesised images over iterations (QMF Fig. 6a)
and the GLCM texture statistics of generated against real images (QMF Fig. 4).

The maps over training and the HOG curve are read from the sample grids the trainer wrote
(``samples/step_*_<name>.png``: one tile per fixed input, ``torchvision.utils.save_image``'s
layout), so they cover every sampled step, whatever checkpoints were kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qagen.eval.restored import restored_run
from qagen.report import (
    Figure,
    MetricsTable,
    Paragraph,
    Section,
    Table,
    figure_png,
    new_figure,
    plot_curves,
    select_evenly,
)
from qagen.report.run import RunReportData

__all__ = ["grid_tiles", "qmf_sections"]

#: Grids of the QMF recipe: (name, column title, is a map drawn with viridis on [0, 1]).
_COLUMNS = (
    ("input", "input (source)", False),
    ("reference", "X_ref (real)", False),
    ("output", "output X^", False),
    ("target", "X_ref (target)", False),
    ("m1_fsim", "m1: FSIM S_L", True),
    ("m2_ms_ssim", "m2: MS-SSIM map", True),
    ("m3_mdsi", "m3: MDSI GCS", True),
    ("M_fused", "M_F gate sigmoid(M)", True),
    ("attention", "PAM attention", True),
)

_PANELS = (
    ("mean quality maps of the output against X_ref (1 = identical)",
     ("map_fsim", "map_ms_ssim", "map_mdsi", "fsim_score")),
    ("M_F gate: mean sigmoid(M)", ("gate",)),
    ("map critic d2", ("d2_loss", "d2_wdist", "d2_gp", "g_map")),
    ("score regressor s", ("s_loss", "score_target", "g_score")),
    ("image-to-image terms", ("l1", "g_cls", "g_rec", "d_cls")),
)  # fmt: skip


def grid_tiles(path: str | Path, size: int, n: int, padding: int = 2) -> np.ndarray:
    """The first ``n`` tiles (``n x size x size x 3`` uint8) of a grid written by
    ``torchvision.utils.save_image(..., nrow=ceil(sqrt(n)), padding=2)`` (the trainer's
    layout)."""
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"))
    step = size + padding
    ncol = (a.shape[1] - padding) // step
    nrow = (a.shape[0] - padding) // step
    tiles = []
    for k in range(min(n, ncol * nrow)):
        r, c = divmod(k, ncol)
        y, x = padding + r * step, padding + c * step
        tiles.append(a[y : y + size, x : x + size])
    return np.stack(tiles) if tiles else np.zeros((0, size, size, 3), np.uint8)


def _steps(run: RunReportData) -> list[int]:
    out = run.grids.get("output", [])
    return [s for s, _ in out]


def _tile(run: RunReportData, name: str, step: int, k: int, size: int, n: int):
    for s, p in run.grids.get(name, []):
        if s == step:
            t = grid_tiles(p, size, n)
            return t[k] if k < len(t) else None
    return None


def _busiest_input(run: RunReportData, size: int, n: int) -> int:
    """The fixed sample whose input has the most detail (edge maps of flat crops are blank)."""
    items = run.grids.get("input")
    if not items:
        return 0
    tiles = grid_tiles(items[-1][1], size, n).astype(np.float64)
    return int(np.argmax(tiles.std(axis=(1, 2, 3)))) if len(tiles) else 0


def _maps_figure(run: RunReportData, size: int, n: int) -> tuple[bytes, int]:
    import matplotlib as mpl

    k = _busiest_input(run, size, n)
    cols = [(name, title, is_map) for name, title, is_map in _COLUMNS if name in run.grids]
    steps = select_evenly(_steps(run), 6)
    fig, axes = new_figure(len(steps), len(cols), figsize=(1.55 * len(cols) + 0.9,
                                                           1.6 * len(steps) + 0.9), squeeze=False)  # fmt: skip
    for i, step in enumerate(steps):
        for j, (name, title, _) in enumerate(cols):
            ax = axes[i, j]
            t = _tile(run, name, step, k, size, n)
            if t is not None:
                ax.imshow(t, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
            if j == 0:
                ax.set_ylabel(f"step {step}", fontsize=8)
    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap="viridis")
    bar = fig.colorbar(sm, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
    bar.set_label("maps: 1 = similar to X_ref (yellow), 0 = different (violet)", fontsize=8)
    fig.suptitle(f"QMF maps of fixed sample {k} over training: {run.title}", fontsize=10)
    return figure_png(fig), k


def _hog_curve(run: RunReportData, size: int, n: int) -> tuple[bytes | None, list[list[Any]]]:
    import torch

    from qagen.eval.texture import hog_similarity

    inp = "input" if "input" in run.grids else "reference"
    pairs = [(inp, f"output vs {inp}")]
    if "target" in run.grids:
        pairs.append(("target", "output vs target"))
    rows: list[list[Any]] = []
    series: dict[str, list[tuple[int, float]]] = {label: [] for _, label in pairs}
    kw = {"size": None} if size >= 24 else {"size": (32, 32)}
    for step, path in run.grids.get("output", []):
        out = torch.from_numpy(grid_tiles(path, size, n)).permute(0, 3, 1, 2).float() / 255
        row: list[Any] = [step]
        for name, label in pairs:
            t = _tile_set(run, name, step, size, n)
            if t is None:
                row.append(None)
                continue
            v = float(hog_similarity(out, t, **kw).mean())
            series[label].append((step, v))
            row.append(v)
        rows.append(row)
    if not rows:
        return None, rows
    fig, ax = new_figure(figsize=(6.4, 3.4))
    for label, pts in series.items():
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)
    ax.set_xlabel("generator step")
    ax.set_ylabel("HOG cosine similarity")
    ax.legend(fontsize=8)
    ax.set_title("HOG similarity of the fixed batch over training (higher = closer)", fontsize=9)
    return figure_png(fig), rows


def _tile_set(run: RunReportData, name: str, step: int, size: int, n: int):
    import torch

    for s, p in run.grids.get(name, []):
        if s == step:
            return torch.from_numpy(grid_tiles(p, size, n)).permute(0, 3, 1, 2).float() / 255
    return None


def _glcm(run: RunReportData) -> tuple[dict, dict, str] | None:
    """GLCM statistics of generated vs real: the eval.json record, else 32 samples."""
    rec = run.evaluation.get("glcm") if isinstance(run.evaluation, dict) else None
    if isinstance(rec, dict) and rec.get("fake") and rec.get("real"):
        p = rec.get("protocol", {})
        return rec["fake"], rec["real"], (f"from eval.json: {p.get('n_fake')} generated images "
                                          f"(step {p.get('checkpoint_step')}) and {p.get('n_real')} "
                                          f"real ({p.get('reference_split')})")  # fmt: skip
    if not run.checkpoints or run.quality_maps <= 0:
        return None
    from qagen.eval.reference import load_reference
    from qagen.eval.texture import glcm_features

    restored = restored_run(run, "last")
    fake = restored.generate(32, seed=0, ema=restored.has_ema, allow_fewer=True)
    real = load_reference(None, restored.run, 32, seed=0).images
    f = {k: float(v.mean()) for k, v in glcm_features(fake).items()}
    r = {k: float(v.mean()) for k, v in glcm_features(real).items()}
    return f, r, f"32 generated images (step {restored.step}) and 32 real (held-out split)"


def qmf_sections(run: RunReportData) -> list[Section]:
    """The QMF sections (module docstring); each says why when its inputs are missing."""
    hp = run.config.get("hparams") or {}
    size = int(run.data.get("resolution") or 0)
    n = int(run.train.get("n_samples") or 0)
    blocks: list[Any] = [
        Paragraph(
            f"Quality Map Fusion (Osahor & Nasrabadi 2021): PAM {'on' if hp.get('pam') else 'off'}, "
            f"M_F {'on' if hp.get('map_fusion') else 'off'}, map critic d2 "
            f"{'on' if hp.get('map_critic') else 'off'}, score regressor s "
            f"{'on' if hp.get('score_regressor') else 'off'}; L_BP weights: NIQE "
            f"{hp.get('niqe_weight')}, SSIM {hp.get('ssim_weight')}, 1-GP {hp.get('gp_weight')} "
            f"({hp.get('gp_norm', 'l2')} norm); objective {hp.get('objective')}. The maps compare "
            "each output with its reference X_ref (the target image for paired data, the input "
            "image for attribute translation, the index-aligned real image in generation mode)."
        )
    ]
    if "output" in run.grids and size > 0 and n > 0:
        try:
            png, k = _maps_figure(run, size, n)
            blocks.append(Figure(png, (
                f"Image {k} of the fixed sample batch at evenly spaced steps (rows): the "
                "generator's input or its reference, the output, and the maps of the output "
                "against X_ref: m1 FSIM's local similarity S_PC S_G, m2 the per-pixel MS-SSIM, m3 "
                "MDSI's gradient-chromaticity similarity GCS (clipped to [0, 1]) - yellow = "
                "similar, violet = different, so a better output turns the maps yellow; then the "
                "M_F gate sigmoid(M) at the bottleneck (how much of Z passes to the decoder) and "
                "PAM's self-attention weights of the bottleneck's centre position (averaged over "
                "the heads, scaled to their maximum: where the centre attends). Every grid, for "
                "the whole batch, is in 'Samples over training'."), alt="QMF maps over training"))  # fmt: skip
        except (OSError, ValueError) as err:
            blocks.append(Paragraph(f"Maps over training not available: {err}", note=True))
    else:
        blocks.append(
            Paragraph("No sample grids: the maps over training need samples/.", note=True)
        )
    table = run.metrics
    names = {n for _, group in _PANELS for n in group}
    if table is not None and table.steps and names & set(table.cols):
        sub = MetricsTable(table.steps, {k: v for k, v in table.cols.items() if k in names},
                           table.elapsed, {k: v for k, v in table.nonfinite.items() if k in names})  # fmt: skip
        png = plot_curves(sub, title=f"QMF training quantities: {run.title}", panels=_PANELS)
        blocks.append(Figure(png, (
            "QMF's own logged quantities (means since the previous metrics.csv row): the mean maps "
            "and FSIM score of the training outputs against X_ref (higher = closer to X_ref), the "
            "M_F gate, the map critic d2 (its Wasserstein estimate should shrink as the output "
            "maps approach those of real pairs), and the score regressor's error."),
            alt="QMF training curves"))  # fmt: skip
    sections = [Section("Quality Map Fusion: maps, fusion and attention", blocks, id="qmf")]
    hog_blocks: list[Any] = []
    if "output" in run.grids and size > 0 and n > 0:
        try:
            png, rows = _hog_curve(run, size, n)
        except (OSError, ValueError) as err:
            png, rows = None, []
            hog_blocks.append(Paragraph(f"HOG similarity not available: {err}", note=True))
        if png is not None:
            inp = "input" if "input" in run.grids else "reference"
            head = ["step", f"output vs {inp}"] + (
                ["output vs target"] if "target" in run.grids else []
            )
            hog_blocks += [
                Figure(
                    png,
                    (
                        "QMF Fig. 6a: cosine similarity of the HOG descriptors (scikit-image: 9 "
                        "orientations, 8x8-pixel cells, 3x3-cell blocks, L2-Hys, on 8-bit grey) of each "
                        f"output and its {inp} (and its target for paired data), averaged over the "
                        "fixed batch, at every sampled step. Higher = more similar gradient "
                        "structure."
                    ),
                    alt="HOG similarity over training",
                ),  # fmt: skip
                Table(
                    head,
                    [r[: len(head)] for r in rows[-12:]],
                    digits=4,
                    caption="HOG similarity at the last sampled steps.",
                ),  # fmt: skip
            ]
    if hog_blocks:
        sections.append(
            Section("HOG similarity over iterations (QMF Fig. 6a)", hog_blocks, id="qmf-hog")
        )
    try:
        glcm = _glcm(run)
    except (FileNotFoundError, ValueError, OSError) as err:
        glcm = None
        sections.append(Section("Texture statistics (QMF Fig. 4)",
                                [Paragraph(f"Not available: {type(err).__name__}: {err}")], id="qmf-glcm"))  # fmt: skip
    if glcm is not None:
        fake, real, where = glcm
        props = ("entropy", "homogeneity", "correlation", "contrast", "energy")
        rows = [[p, fake.get(p), real.get(p)] for p in props if p in fake]
        fig, ax = new_figure(figsize=(6.4, 3.0))
        shown = [r for r in rows if r[0] in ("entropy", "homogeneity", "correlation")]
        x = np.arange(len(shown))
        ax.bar(x - 0.18, [r[1] for r in shown], 0.36, label="generated")
        ax.bar(x + 0.18, [r[2] for r in shown], 0.36, label="real")
        ax.set_xticks(x, [r[0] for r in shown])
        ax.legend(fontsize=8)
        ax.set_title("GLCM statistics (closer to real is better)", fontsize=9)
        sections.append(Section("Texture statistics (QMF Fig. 4)", [
            Paragraph(f"Grey-level co-occurrence statistics ({where}; 8 levels, offsets 0, 45, 90 "
                      "and 135 degrees at distance 1, MATLAB graycoprops definitions). The paper "
                      "reads entropy and correlation as rising with quality and homogeneity as "
                      "falling; here the yardstick is the real images: closer is better."),
            Figure(figure_png(fig), "GLCM entropy, homogeneity and correlation of generated and "
                   "real images (closer to real is better).", alt="GLCM statistics"),
            Table(["property", "generated", "real"], rows, digits=4,
                  caption="GLCM statistics, mean over images."),
        ], id="qmf-glcm"))  # fmt: skip
    return sections
