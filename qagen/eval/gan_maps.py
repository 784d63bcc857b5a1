"""Sections of the QAGAN / WGAN family (every :class:`qagen.train.bases.GANRecipe`): quality
maps of generated samples against their nearest training images."""

from __future__ import annotations

import math
from typing import Any

from qagen.eval.restored import restored_run
from qagen.report import Figure, Paragraph, Section, Table, figure_png, new_figure
from qagen.report.run import RunReportData

__all__ = ["is_gan_recipe", "quality_map_section", "quality_maps"]


def is_gan_recipe(name: str) -> bool:
    """Whether recipe ``name`` is registered and derives from ``GANRecipe``."""
    try:
        from qagen.train import get_recipe
        from qagen.train.bases import GANRecipe

        return issubclass(get_recipe(name), GANRecipe)
    except (ValueError, ImportError):
        return False


def quality_maps(
    run: RunReportData, *, n_maps: int = 4, pool: int = 512, seed: int = 0
) -> tuple[bytes, list[dict]]:
    """The quality-map figure (PNG bytes) and one record per row.

    ``n_maps`` samples of the newest checkpoint's EMA generator (the first of a batch of 64, so
    batch-statistics generators see a normal batch) are each paired with the nearest image, by
    pixel L2 distance, among ``pool`` images of the run's *training* split. Per pair: the SSIM
    map (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, grey Y, ``same`` padding so that
    it lines up with the pixels) and the GMS map (Xue et al. 2014: Prewitt gradients, c = 170
    on 8-bit values, without GMSD's 2x downsampling so that small samples keep their
    resolution; its one-pixel border, where the zero-padded Prewitt filters see the padding, is
    dropped), both with the generated image as the distorted one.
    """
    import torch

    from qagen.eval.reference import load_reference
    from qagen.iqa import gms_map, ssim_maps

    restored = restored_run(run, "last")
    fake = restored.generate(max(n_maps, 64), seed=seed, ema=restored.has_ema, allow_fewer=True)
    fake = fake[:n_maps]
    ref = load_reference(None, restored.run, pool, seed=seed, split=restored.run.data.split)
    real = ref.images
    if real.shape[1] != fake.shape[1]:
        real = real.expand(-1, fake.shape[1], -1, -1) if real.shape[1] == 1 else real
    dist, idx = torch.cdist(fake.flatten(1).double(), real.flatten(1).double()).min(dim=1)
    q = lambda t: torch.round(t.double() * 255) / 255  # noqa: E731  8-bit, as stored
    x, y = q(fake), q(real[idx])
    win = min(11, (min(x.shape[-2:]) - 1) // 2 * 2 + 1)
    ssim_map = ssim_maps(x, y, 1.0, win_size=win, padding="same")[0]
    gms = gms_map(x, y, 1.0, downsample=False)[..., 1:-1, 1:-1]
    rows = [
        {
            "rmse": float(dist[i]) / math.sqrt(x[i].numel()),
            "ssim": float(ssim_map[i].mean()),
            "gms_mean": float(gms[i].mean()),
            "gms_std": float(gms[i].std(unbiased=False)),
        }
        for i in range(x.shape[0])
    ]
    n = x.shape[0]
    fig, axes = new_figure(n, 4, figsize=(8.6, 2.25 * n), squeeze=False)
    titles = ("generated", "nearest real (train)", "SSIM map", "GMS map")
    for i in range(n):
        img_f = x[i].permute(1, 2, 0).numpy()
        img_r = y[i].permute(1, 2, 0).numpy()
        if img_f.shape[-1] == 1:
            img_f, img_r = img_f[..., 0], img_r[..., 0]
        axes[i, 0].imshow(img_f, interpolation="nearest", cmap="gray", vmin=0, vmax=1)
        axes[i, 1].imshow(img_r, interpolation="nearest", cmap="gray", vmin=0, vmax=1)
        im_s = axes[i, 2].imshow(ssim_map[i, 0].numpy(), cmap="viridis", vmin=0, vmax=1,
                                 interpolation="nearest")  # fmt: skip
        im_g = axes[i, 3].imshow(gms[i, 0].numpy(), cmap="viridis", vmin=0, vmax=1,
                                 interpolation="nearest")  # fmt: skip
        r = rows[i]
        labels = (f"sample {i}", f"RMSE {r['rmse']:.3f}", f"mean SSIM {r['ssim']:.3f}",
                  f"mean GMS {r['gms_mean']:.3f}")  # fmt: skip
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(labels[j], fontsize=8)
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
        fig.colorbar(im_s, ax=axes[i, 2], fraction=0.046, pad=0.04, extend="min")
        fig.colorbar(im_g, ax=axes[i, 3], fraction=0.046, pad=0.04)
    fig.suptitle(f"Quality maps: {run.title}, step {restored.step}", fontsize=10)
    fig.tight_layout()
    for r in rows:
        r.update({"checkpoint_step": restored.step, "generator": "ema" if restored.has_ema else "raw",
                  "pool": int(real.shape[0]), "pool_split": ref.info["reference_split"]})  # fmt: skip
    return figure_png(fig), rows


def quality_map_section(run: RunReportData) -> list[Section]:
    """Quality maps of samples of the newest checkpoint (needs a checkpoint and the run's
    training data; otherwise the section says why)."""
    title = "Quality maps of samples"
    if run.quality_maps <= 0:
        return []
    if not run.checkpoints:
        return [Section(title, [Paragraph("No checkpoint: nothing to sample.")], id="maps")]
    try:
        png, rows = quality_maps(run, n_maps=run.quality_maps)
    except (FileNotFoundError, ValueError, OSError) as err:  # data not on this machine, ...
        text = f"Quality maps not available: {type(err).__name__}: {err}"
        return [Section(title, [Paragraph(text)], id="maps")]
    r0 = rows[0]
    blocks: list[Any] = [
        Paragraph(
            f"Each generated sample (newest checkpoint, step {r0['checkpoint_step']}, "
            f"{r0['generator']} generator) next to its nearest neighbour by pixel distance among "
            f"{r0['pool']} images of the training split ({r0['pool_split']}), with two "
            "full-reference maps of the sample against that neighbour (1 = identical; yellow = "
            "similar, dark = different): the **SSIM map** (local luminance, contrast and "
            "structure, 11x11 Gaussian window) and the **GMS map** (gradient-magnitude "
            "similarity: where edges agree; the one-pixel border is left out)."
        ),
        Figure(
            png,
            "Generated samples, their nearest training images, and the SSIM and GMS "
            "maps between them (higher = more similar to the training image).",
            alt="quality maps of generated samples against nearest real",
        ),  # fmt: skip
        Table(
            ["sample", "RMSE to nearest", "mean SSIM", "mean GMS", "std GMS"],
            [[i, r["rmse"], r["ssim"], r["gms_mean"], r["gms_std"]] for i, r in enumerate(rows)],
            caption="Similarity of each sample to its nearest training image.",
            notes="Here high is not better: maps close to 1 everywhere (SSIM and GMS near 1, "
            "RMSE near 0) mean the generator reproduces a training image (memorisation). A "
            "generator that generalises gives maps that are high in flat regions and low on the "
            "edges and textures it invented; low RMSE with low SSIM means similar colours but "
            "different structure.",
            digits=4,
        ),
    ]
    return [Section(title, blocks, id="maps")]
