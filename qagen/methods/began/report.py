"""Sections of the ``began`` runs: BEGAN-IQA's four evaluations (Vertolli & Davies, arXiv
1708.02237) and the diversity of the samples.

* **Table 2**: mean and standard deviation of each distance of D's reconstructions, over the
  whole training and its last 10 % (also written to ``RUN/began_stats.json``).
* **Figure 6**: ``M_global`` over training, smoothed with a Gaussian of sigma 0.9 (as the
  paper), ``k_t`` below it, and a strip of generated samples at regular intervals.
* **Figure 3**: for real images (D) and generated images (G): the original ``O``, its
  reconstruction by D ``A``, their gradient magnitudes ``OG`` and ``AG`` (Sobel on the YIQ Y
  channel, as the GMSM distance) and the GMS similarity map ``S``.
* **Figure 4**: the I and Q chrominance planes of the original and of its reconstruction and
  their similarity maps.
* **Figure 5**: linear interpolations in z between random pairs (:mod:`qagen.eval.sampling`).
* **Diversity**: Odena et al.'s mean MS-SSIM between random pairs of samples beside the same
  measure on real images (:mod:`qagen.eval.diversity`; ``RUN/diversity.json``), so that mode
  collapse (BEGAN-IQA models 2-5) shows as a number.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from qagen.eval.restored import restored_run
from qagen.files import write_json_atomic
from qagen.report import Figure, KeyValues, Paragraph, Section, Table, select_evenly
from qagen.report.plots import figure_png, new_figure, plain_axes
from qagen.report.run import RunReportData

__all__ = [
    "began_sections",
    "convergence_figure",
    "diversity_of_run",
    "grid_cell",
    "reconstruction_figures",
    "smoothed_m_global",
]

DIVERSITY_FILE = "diversity.json"
#: Errors that make a section say "not available" instead of failing the report.
_SOFT = (FileNotFoundError, ValueError, OSError, KeyError, RuntimeError)


# ----------------------------------------------------------------------------- helpers
def grid_cell(path: str | Path, size: int, index: int = 0, padding: int = 2) -> np.ndarray:
    """Image ``index`` (row-major) of a sample grid written by ``torchvision.utils.save_image``
    (cells of ``size`` px with ``padding`` px between them), ``H x W x 3`` uint8."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    per_row = max(1, (arr.shape[1] - padding) // (size + padding))
    r, c = divmod(index, per_row)
    top, left = padding + r * (size + padding), padding + c * (size + padding)
    cell = arr[top : top + size, left : left + size]
    if cell.shape[:2] != (size, size):
        raise ValueError(f"{path} has no cell {index} of {size} px")
    return cell


def smoothed_m_global(
    steps: list[int], values: list[float], sigma: float = 0.9, max_points: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, smoothed M_global)``: the series averaged into at most ``max_points`` equal bins
    of consecutive rows (no binning when it is shorter), then a Gaussian of ``sigma`` points
    (BEGAN-IQA Figure 6: sigma = 0.9; the paper does not say how often it logged, so the
    smoothing is on this fixed number of points, whatever the run's length)."""
    from scipy.ndimage import gaussian_filter1d

    s = np.asarray(steps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    s, v = s[ok], v[ok]
    if v.size == 0:
        return s, v
    if v.size > max_points:
        edges = np.linspace(0, v.size, max_points + 1).astype(int)
        s = np.array([s[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)])
        v = np.array([v[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return s, gaussian_filter1d(v, sigma, mode="nearest")


def _hparams(run: RunReportData) -> dict:
    return dict(run.config.get("hparams") or {})


def _png_grid(images: Any, nrow: int) -> bytes:
    from PIL import Image
    from torchvision.utils import make_grid

    grid = make_grid(images.float().clamp(0, 1), nrow=nrow, padding=2)
    arr = (grid.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _range(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return "not logged"
    return f"[{lo:.4g}, {hi:.4g}]"


def _unavailable(title: str, err: BaseException, sid: str) -> list[Section]:
    text = f"Not available: {type(err).__name__}: {err}"
    return [Section(title, [Paragraph(text, note=True)], id=sid)]


# ----------------------------------------------------------------------------- Table 2
def stats_section(run: RunReportData) -> list[Section]:
    """Table 2 of the run (and ``began_stats.json``)."""
    from qagen.methods.began.stats import STATS_FILE, write_began_stats

    title = "Distances of D's reconstructions (BEGAN-IQA Table 2)"
    if run.metrics is None or not run.metrics.steps:
        return [Section(title, [Paragraph("No metrics.csv rows yet.")], id="began-table2")]
    try:
        stats = run.cached("began_stats", lambda: write_began_stats(run.run_dir))
    except _SOFT as err:
        return _unavailable(title, err, "began-table2")
    d = stats["distances"]
    rows = []
    for name, label in (("l1", "l1"), ("gmsm", "1 - GMSM"), ("chrom", "1 - Chrom")):
        w = stats["weights"].get(name)
        cells: list[Any] = [label, w]
        for side in ("real", "fake"):
            e = d.get(f"{name}_{side}") or {}
            for part in ("all", "last"):
                m = (e.get(part) or {}) if e else {}
                cells += [m.get("mean"), m.get("std")]
        rows.append(cells)
    tail = f"last {stats['tail_fraction']:.0%}"
    header = ["distance", "weight in eq. 6", "real M", "real sigma", f"real M ({tail})",
              f"real sigma ({tail})", "generated M", "generated sigma", f"generated M ({tail})",
              f"generated sigma ({tail})"]  # fmt: skip
    per = (
        "every step (log_every = 1)"
        if stats["per_step"]
        else f"rows of {stats['row_steps']} steps: sigma is the spread of those means (smaller "
        "than the per-step spread)"
    )
    blocks: list[Any] = [
        Paragraph(
            "BEGAN-IQA's first evaluation: the mean (M) and standard deviation (sigma) of each "
            "distance between an image and its reconstruction by the discriminator, over the "
            f"whole training (steps 1-{stats['last_step']}) and over its {tail} (from step "
            f"{stats['tail_first_step']}). The **real** columns are the paper's Table 2 (D's "
            "reconstruction of real images); the generated columns are D's reconstruction of "
            "G's samples. Every distance is logged whatever its weight, so a model is judged "
            "also on the distances it was not trained with. Lower is better (0 = perfect "
            f"reconstruction). Statistics over {per}; population sigma. Written to "
            f"`{STATS_FILE}`."
        ),
        Table(
            header,
            rows,
            caption="Mean and sigma of D's reconstruction distances (lower is better).",
            digits=3,
        ),  # fmt: skip
    ]
    conv = stats.get("convergence") or {}
    kv = [
        ("M_global, first 10 % of steps", conv.get("m_global_first")),
        ("M_global, last 10 % of steps", conv.get("m_global_last")),
        ("M_global decreased", conv.get("m_global_decreased")),
        ("k_t range", _range(conv.get("k_min"), conv.get("k_max"))),
        ("k_t at the end", conv.get("k_last")),
        ("fraction of the second half with k_t = 0", conv.get("k_zero_fraction_second_half")),
        ("NaN/Inf logged in", ", ".join(conv.get("nonfinite_columns") or []) or "none"),
    ]
    blocks.append(KeyValues(kv, caption="Convergence (BEGAN): M_global should fall; k_t stays in "
                            "[0, 1] and should not sit at 0 (D then ignores the generator).",
                            columns=2))  # fmt: skip
    return [Section(title, blocks, id="began-table2")]


# ----------------------------------------------------------------------------- Figure 6
def convergence_figure(run: RunReportData, n_strip: int = 8) -> bytes:
    """M_global (thin: rows; thick: Gaussian sigma 0.9), k_t, and a strip of samples."""
    table = run.metrics
    if table is None or "m_global" not in table.cols:
        raise ValueError("metrics.csv has no m_global column")
    grids = run.grids.get("", [])
    strip = select_evenly(grids, n_strip) if grids else []
    res = int(run.data.get("resolution") or 0)
    from matplotlib.figure import Figure as MplFigure

    ncols = max(1, len(strip))
    fig = MplFigure(figsize=(9.0, 6.6 if strip else 5.0), dpi=96)
    gs = fig.add_gridspec(
        3 if strip else 2, ncols, height_ratios=[2.2, 1.0, 1.1][: 3 if strip else 2]
    )
    ax_m = fig.add_subplot(gs[0, :])
    ax_k = fig.add_subplot(gs[1, :], sharex=ax_m)
    steps = table.steps
    m = [v if math.isfinite(v) else math.nan for v in table.cols["m_global"]]
    ax_m.plot(steps, m, color="C0", alpha=0.25, lw=0.7, label="M_global (rows)")
    s_x, s_y = smoothed_m_global(steps, m)
    ax_m.plot(s_x, s_y, color="C0", lw=1.8, label="Gaussian smoothing, sigma 0.9")
    for st, _ in strip:
        ax_m.axvline(st, color="0.6", lw=0.6, ls=":")
    ax_m.set_ylabel("M_global", fontsize=9)
    ax_m.set_title("Convergence measure M_global = L(x) + |gamma L(x) - L(G(z))| (lower is better)",
                   fontsize=10)  # fmt: skip
    ax_m.legend(fontsize=8)
    ax_m.grid(alpha=0.3)
    if "k_t" in table.cols:
        k = [v if math.isfinite(v) else math.nan for v in table.cols["k_t"]]
        ax_k.plot(steps, k, color="C1", lw=1.0)
    ax_k.set_ylabel("k_t", fontsize=9)
    ax_k.set_xlabel("generator step", fontsize=9)
    ax_k.grid(alpha=0.3)
    for ax in (ax_m, ax_k):
        ax.tick_params(labelsize=8)
        plain_axes(ax, integer_x=True)
    for i, (st, path) in enumerate(strip):
        ax = fig.add_subplot(gs[2, i])
        try:
            ax.imshow(grid_cell(path, res), interpolation="nearest")
        except (ValueError, OSError):
            pass
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"step {st}", fontsize=7)
    fig.suptitle(f"BEGAN-IQA Figure 6: {run.title}", fontsize=11)
    fig.tight_layout()
    return figure_png(fig)


def convergence_section(run: RunReportData) -> list[Section]:
    title = "Convergence over training (BEGAN-IQA Figure 6)"
    try:
        png = convergence_figure(run)
    except _SOFT as err:
        return _unavailable(title, err, "began-convergence")
    caption = (
        "Top: BEGAN's convergence measure M_global against the generator step (thin: every "
        "logged row; thick: averaged into at most 200 points, then smoothed with a Gaussian of "
        "sigma 0.9 as in the paper). Lower is better: it falls as D reconstructs real images "
        "better while the equilibrium gamma L(x) = L(G(z)) holds. Middle: the control variable "
        "k_t (clipped to [0, 1]; stuck at 0 means D no longer pushes generated images away). "
        "Bottom: the first sample of the fixed-z grids at evenly spaced steps (dotted lines)."
    )
    return [Section(title, [Figure(png, caption, alt="M_global, k_t and samples over training")],
                    id="began-convergence")]  # fmt: skip


# ----------------------------------------------------------------------------- Figures 3, 4
def _real_and_generated(run: RunReportData, n: int, seed: int = 0) -> tuple[Any, Any, Any]:
    """The restored run, ``n`` real training images and ``n`` samples, in [0, 1]."""
    from qagen.eval.reference import load_reference

    restored = restored_run(run, "last")
    real = load_reference(None, restored.run, n, seed=seed, split=restored.run.data.split).images
    fake = restored.generate(n, seed=seed, ema=restored.has_ema)
    return restored, real.float(), fake.float()


#: The colour map of Figure 4's I and Q planes, and the caption that says how it reads.
FIGURE4_CMAP = "PiYG"
FIGURE4_CAPTION = (
    "For two real images and one sample (as in Figure 3), the I and Q chrominance planes "
    "(YIQ's orange-blue and purple-green axes of colour) of the original (OI, OQ) and of "
    "D's reconstruction (AI, AQ), each drawn on one diverging scale per row (matplotlib's "
    f"{FIGURE4_CMAP}: pink = negative, white = 0, green = positive), and the similarity map "
    "S = (2ab + c) / (a^2 + b^2 + c) of each plane (white = 1, similar; black = 0 or below: "
    "colour lost or of opposite sign). The chrominance distance is 1 - mean(SI x SQ)."
)


def reconstruction_figures(run: RunReportData, n: int = 3, seed: int = 0) -> dict[str, Any]:
    """Figure 3 (gradient magnitudes and GMS maps) and Figure 4 (I and Q planes and their
    similarity maps) of the newest checkpoint: ``{"fig3": png, "fig4": png, "rows": [...],
    "step": int}``."""
    import torch

    from qagen._checks import input_checks
    from qagen.color import rgb_to_yiq
    from qagen.iqa.chroma import gms_sobel_map
    from qagen.iqa.gms import gradient_magnitude, similarity
    from qagen.train.ema import unwrap

    restored, real, fake = _real_and_generated(run, n, seed)
    hp = _hparams(run)
    c = float(hp.get("c", 0.0026))
    c255 = c if hp.get("c_scale", "8bit") == "8bit" else c * 255.0**2
    D = unwrap(restored.recipe.modules()["D"]).eval()
    with torch.no_grad():
        rec_real = (D(real * 2 - 1) + 1) / 2
        rec_fake = (D(fake * 2 - 1) + 1) / 2
    originals = torch.cat([real, fake])
    recons = torch.cat([rec_real, rec_fake])
    labels = [f"D: real {i}" for i in range(real.shape[0])] + [
        f"G: sample {i}" for i in range(fake.shape[0])
    ]
    with input_checks(False):
        yo, ya = rgb_to_yiq(originals * 255.0, "began"), rgb_to_yiq(recons * 255.0, "began")
        go = gradient_magnitude(yo[:, :1], "sobel")
        ga = gradient_magnitude(ya[:, :1], "sobel")
        s = gms_sobel_map(recons, originals, 1.0, c=c, c_scale=hp.get("c_scale", "8bit"))
        si = similarity(ya[:, 1:2], yo[:, 1:2], c255)
        sq = similarity(ya[:, 2:3], yo[:, 2:3], c255)
    rows = []
    img = lambda t: t.permute(1, 2, 0).clamp(0, 1).numpy()  # noqa: E731
    nr = originals.shape[0]
    fig, axes = new_figure(nr, 5, figsize=(9.0, 1.9 * nr), squeeze=False)
    for r in range(nr):
        vmax = float(torch.maximum(go[r].max(), ga[r].max()))
        gmsm = float(s[r].mean())
        l1 = float((recons[r] - originals[r]).abs().mean() * 2)
        rows.append({"image": labels[r], "gmsm": gmsm, "l1": l1,
                     "chrom": float((si[r] * sq[r]).mean())})  # fmt: skip
        panels = [
            (img(originals[r]), {}, "O"),
            (img(recons[r]), {}, "A = D(O)"),
            (go[r, 0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": vmax}, "OG"),
            (ga[r, 0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": vmax}, "AG"),
            (s[r, 0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": 1}, f"S (GMSM {gmsm:.3f})"),
        ]
        for j, (data, kw, name) in enumerate(panels):
            ax = axes[r, j]
            ax.imshow(data, interpolation="nearest", **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(name, fontsize=7)
            if j == 0:
                ax.set_ylabel(labels[r], fontsize=8)
    fig.suptitle(f"BEGAN-IQA Figure 3 (gradients): {run.title}, step {restored.step}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig3 = figure_png(fig)

    picks = [0, 1, real.shape[0]] if real.shape[0] >= 2 and fake.shape[0] >= 1 else list(range(nr))
    nr4 = len(picks)
    fig, axes = new_figure(2 * nr4, 4, figsize=(7.4, 1.75 * 2 * nr4), squeeze=False)
    for i, r in enumerate(picks):
        for q, (plane, sim, name) in enumerate(((1, si, "I"), (2, sq, "Q"))):
            row = 2 * i + q
            po, pa = yo[r, plane].numpy(), ya[r, plane].numpy()
            lim = float(max(np.abs(po).max(), np.abs(pa).max(), 1e-6))
            mean_s = float(sim[r].mean())
            panels = [
                (img(originals[r]), {}, "O"),
                (po, {"cmap": FIGURE4_CMAP, "vmin": -lim, "vmax": lim}, f"O{name}"),
                (pa, {"cmap": FIGURE4_CMAP, "vmin": -lim, "vmax": lim}, f"A{name}"),
                (sim[r, 0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": 1},
                 f"S{name} (mean {mean_s:.3f})"),
            ]  # fmt: skip
            for j, (data, kw, lab) in enumerate(panels):
                ax = axes[row, j]
                ax.imshow(data, interpolation="nearest", **kw)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_xlabel(lab, fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"{labels[r]}\n{name}", fontsize=7)
    fig.suptitle(f"BEGAN-IQA Figure 4 (chrominance): {run.title}, step {restored.step}",
                 fontsize=10)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return {"fig3": fig3, "fig4": figure_png(fig), "rows": rows, "step": restored.step}


def reconstruction_sections(run: RunReportData) -> list[Section]:
    t3 = "Gradient magnitudes of originals and reconstructions (BEGAN-IQA Figure 3)"
    t4 = "Chrominance of originals and reconstructions (BEGAN-IQA Figure 4)"
    if not run.checkpoints:
        p = [Paragraph("No checkpoint: nothing to reconstruct.")]
        return [Section(t3, p, id="began-fig3"), Section(t4, p, id="began-fig4")]
    try:
        out = run.cached("began_recon", lambda: reconstruction_figures(run))
    except _SOFT as err:
        return _unavailable(t3, err, "began-fig3") + _unavailable(t4, err, "began-fig4")
    c3 = (
        "Rows D: real training images; rows G: generated samples (newest checkpoint). Columns: "
        "the original O, its reconstruction A by the discriminator (autoencoder), their gradient "
        "magnitudes OG and AG (unnormalised Sobel on the 2-decimal YIQ Y of the 0-255 image, the "
        "GMSM distance's gradients; grey, one scale per row) and the GMS similarity map S "
        "(white = similar, black = edges lost or invented). More white in S is better; the "
        "paper expects scaled BEGAN+GMSM (model 12) to be whiter than BEGAN (model 11)."
    )
    c4 = FIGURE4_CAPTION
    rows = [[r["image"], r["l1"], r["gmsm"], r["chrom"]] for r in out["rows"]]
    table = Table(["image", "l1 distance", "GMSM (similarity)", "mean SI x SQ (similarity)"],
                  rows, caption=f"The images of Figures 3 and 4 (step {out['step']}).",
                  digits=3)  # fmt: skip
    return [
        Section(t3, [Figure(out["fig3"], c3, alt="BEGAN-IQA figure 3"), table], id="began-fig3"),
        Section(t4, [Figure(out["fig4"], c4, alt="BEGAN-IQA figure 4")], id="began-fig4"),
    ]


# ----------------------------------------------------------------------------- Figure 5
def interpolation_section(run: RunReportData, pairs: int = 3, k: int = 8) -> list[Section]:
    from qagen.eval.sampling import interpolation_images

    title = "Interpolation in z (BEGAN-IQA Figure 5)"
    if not run.checkpoints:
        return [Section(title, [Paragraph("No checkpoint: nothing to sample.")], id="began-fig5")]
    try:
        restored = restored_run(run, "last")
        images = interpolation_images(restored, pairs, k, seed=0, ema=restored.has_ema)
    except _SOFT as err:
        return _unavailable(title, err, "began-fig5")
    caption = (
        f"{pairs} rows of {k} samples of the newest checkpoint (step {restored.step}): each row "
        "goes linearly in z from one random latent vector (left) to another (right). Smooth, "
        "plausible transitions mean the generator has a continuous latent space rather than "
        "memorised images (the same figure for any run: `qagen sample RUN --interpolate 8 --out "
        "grid.png`)."
    )
    res = int(run.data.get("resolution") or 64)
    return [Section(title, [Figure(_png_grid(images, k), caption, alt="interpolations in z",
                                   width=min(900, k * max(res, 64)), pixelated=True)],
                    id="began-fig5")]  # fmt: skip


# ----------------------------------------------------------------------------- diversity
def diversity_of_run(
    run: RunReportData, n_images: int = 200, n_pairs: int = 500, seed: int = 0
) -> dict[str, Any]:
    """:func:`qagen.eval.diversity.diversity_record` of ``n_images`` samples of the newest
    checkpoint and as many real training images; cached in ``RUN/diversity.json`` (reused when
    the checkpoint step and settings are the same)."""
    from qagen.eval.diversity import diversity_record
    from qagen.eval.reference import load_reference

    path = run.run_dir / DIVERSITY_FILE
    step = run.checkpoints[-1][0] if run.checkpoints else None
    settings = {"checkpoint_step": step, "n_images": n_images, "n_pairs": n_pairs, "seed": seed}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if all(old.get(k) == v for k, v in settings.items()):
            return old
    except (OSError, ValueError):
        pass
    restored = restored_run(run, "last")
    fake = restored.generate(n_images, seed=seed, ema=restored.has_ema)
    ref = load_reference(None, restored.run, n_images, seed=seed, split=restored.run.data.split)
    rec = diversity_record(fake, ref.images, n_pairs=n_pairs, seed=seed)
    rec["protocol"]["real_images"] = f"{ref.info['reference']} [{ref.info['reference_split']}]"
    rec["protocol"]["generator"] = "ema" if restored.has_ema else "raw"
    out = {**settings, **rec}
    write_json_atomic(path, out, indent=None)
    return out


def diversity_section(run: RunReportData) -> list[Section]:
    title = "Diversity of the samples (mean MS-SSIM between random pairs)"
    if not run.checkpoints:
        return [Section(title, [Paragraph("No checkpoint: nothing to sample.")], id="diversity")]
    try:
        rec = run.cached("diversity", lambda: diversity_of_run(run))
    except _SOFT as err:
        return _unavailable(title, err, "diversity")
    gen, real = rec["generated"], rec["real"]
    fig, ax = new_figure(1, 1, figsize=(6.4, 3.0))
    bins = np.linspace(0, 1, 41)
    ax.hist(
        gen["values"], bins=bins, alpha=0.6, color="C3", label=f"generated (mean {gen['mean']:.3f})"
    )
    if real:
        ax.hist(
            real["values"],
            bins=bins,
            alpha=0.6,
            color="C0",
            label=f"real (mean {real['mean']:.3f})",
        )
    ax.axvline(gen["mean"], color="C3", lw=1.5)
    if real:
        ax.axvline(real["mean"], color="C0", lw=1.5)
    ax.set_xlabel("MS-SSIM of a random pair (lower = more diverse)", fontsize=9)
    ax.set_ylabel("pairs", fontsize=9)
    ax.legend(fontsize=8)
    ax.tick_params(labelsize=8)
    plain_axes(ax)
    fig.tight_layout()
    verdict = ""
    if real and real["mean"] > 0:
        ratio = gen["mean"] / real["mean"]
        verdict = (
            f" Here the samples are {ratio:.2f} times as similar to each other as real images"
            + (" — a sign of mode collapse." if gen["mean"] > max(2 * real["mean"], real["mean"] + 0.2)
               else ".")
        )  # fmt: skip
    blocks: list[Any] = [
        Paragraph(
            "Odena et al.'s diversity measure: the MS-SSIM of random pairs of distinct images "
            f"({rec['protocol']['ms_ssim']}), over {gen['n_pairs']} pairs of {gen['n_images']} "
            f"samples of the newest checkpoint (step {rec['checkpoint_step']}) and of as many real "
            f"images ({rec['protocol'].get('real_images', 'the run data')}). Lower is more "
            "diverse; a generator in mode collapse (BEGAN-IQA models 2-5) gives values near 1, far "
            f"above the real images'.{verdict}"
        ),
        Figure(
            figure_png(fig),
            "Distribution of the MS-SSIM between random pairs: generated "
            "(red) and real (blue); lines: the means. Lower is more diverse.",
            alt="diversity histogram",
        ),  # fmt: skip
        Table(
            ["images", "mean MS-SSIM", "sigma", "pairs"],
            [["generated", gen["mean"], gen["std"], gen["n_pairs"]]]
            + ([["real", real["mean"], real["std"], real["n_pairs"]]] if real else []),
            caption="Mean MS-SSIM between random pairs (lower = more diverse).",
            digits=3,
        ),
    ]
    return [Section(title, blocks, id="diversity")]


# ----------------------------------------------------------------------------- registration
def began_sections(run: RunReportData) -> list[Section]:
    """Every BEGAN section, in the paper's order of evaluations."""
    return [
        *stats_section(run),
        *convergence_section(run),
        *reconstruction_sections(run),
        *interpolation_section(run),
        *diversity_section(run),
    ]
