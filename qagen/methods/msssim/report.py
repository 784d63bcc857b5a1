"""Sections of the MS-SSIM loss family's run reports: super-resolution crops and scores on the
built-in held-out photos (``sr-*``), and held-out reconstructions (``autoencoder``).

Both are cheap (a few seconds): the SR section evaluates on the held-out regions of the
built-in photos cropped to 128 px a side; the autoencoder section reconstructs 8 images of the
run's ``test`` split (when its dataset has one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from qagen.report import Figure, Paragraph, Section, Table, figure_png, new_figure
from qagen.report.run import RunReportData

__all__ = ["crop_figure", "detail_window", "reconstruction_figure"]


def detail_window(y: torch.Tensor, size: int) -> tuple[int, int]:
    """``(top, left)`` of the ``size x size`` window with the largest variance of ``y``
    (``1 x 1 x H x W``), searched on a grid of stride ``size / 4`` (the most detailed region)."""
    h, w = y.shape[-2:]
    size = min(size, h, w)
    stride = max(1, size // 4)
    mean = torch.nn.functional.avg_pool2d(y.double(), size, stride)
    sq = torch.nn.functional.avg_pool2d(y.double() ** 2, size, stride)
    var = (sq - mean**2)[0, 0]
    k = int(torch.argmax(var))
    return (k // var.shape[1]) * stride, (k % var.shape[1]) * stride


def crop_figure(
    image: Any, networks: Mapping[str, Any], scale: int = 4, *, size: int = 48, title: str = ""
) -> bytes:
    """PNG: the whole HR image (the crop outlined), then the same ``size`` px region of HR,
    bicubic and every network's output, each titled with its PSNR / SSIM on the whole image
    (:func:`qagen.methods.msssim.super_resolution.evaluate_sr`'s protocol)."""
    from matplotlib.patches import Rectangle

    from qagen.methods.msssim.super_resolution import sr_outputs, y_psnr_ssim

    outs = sr_outputs(image.hr, scale, networks)
    ref = outs["HR"]
    top, left = detail_window(ref, size)
    size = min(size, *ref.shape[-2:])
    n = len(outs) + 1
    fig, axes = new_figure(1, n, figsize=(2.1 * n, 2.6))
    axes[0].imshow(ref[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].add_patch(Rectangle((left, top), size, size, fill=False, color="red", lw=1.2))
    axes[0].set_title(title or image.name, fontsize=8)
    for ax, (name, x) in zip(axes[1:], outs.items(), strict=True):
        crop = x[0, 0, top : top + size, left : left + size].numpy()
        ax.imshow(crop, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        if name == "HR":
            ax.set_title("HR (reference)", fontsize=9)
        else:
            p, s = y_psnr_ssim(x, ref, scale)
            ax.set_title(f"{name}\n{p:.2f} dB / {s:.4f}", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"{scale}x super-resolution, Y channel: PSNR / SSIM of the whole image (higher is better)",
        fontsize=9,
    )
    return figure_png(fig)


def reconstruction_figure(rows: Mapping[str, torch.Tensor], title: str) -> bytes:
    """PNG grid: one row per entry of ``rows`` (``N x 1 x H x W`` on [0, 1]), labelled."""
    names = list(rows)
    n = min(len(v) for v in rows.values())
    fig, axes = new_figure(len(names), n, figsize=(1.1 * n + 0.8, 1.15 * len(names) + 0.4),
                           squeeze=False)  # fmt: skip
    for i, name in enumerate(names):
        for j in range(n):
            ax = axes[i][j]
            ax.imshow(rows[name][j, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i][0].set_ylabel(name, fontsize=9)
    fig.suptitle(title, fontsize=9)
    return figure_png(fig)


def sr_sections(run: RunReportData) -> list[Section]:
    """Bicubic against the run's SRCNN on the built-in held-out photos (128 px crops)."""
    if not run.checkpoints:
        return [Section("Super-resolution", [Paragraph("No checkpoint yet.", note=True)])]
    from qagen.methods.msssim.data_sr import builtin_sr_test_set
    from qagen.methods.msssim.super_resolution import evaluate_sr, load_sr_network

    net, restored = load_sr_network(run.run_dir, device=run.device)
    scale = restored.recipe.cfg.scale
    images = builtin_sr_test_set(scale, max_side=128)
    res = evaluate_sr(images, {"SRCNN": net}, scale=scale)
    table = Table(
        ["method", "PSNR (dB)", "SSIM"],
        [[m, res.psnr[m], res.ssim[m]] for m in res.psnr],
        caption=f"Mean over {len(images)} held-out built-in photo crops (at most 128 px a side), "
        f"{scale}x, Y channel, {scale} px border shaved; higher is better",
    )
    pick = next((im for im in images if im.name == "astronaut"), images[0])
    fig = Figure(crop_figure(pick, {"SRCNN": net}, scale, size=40),
                 "The most detailed 40 px region of one held-out crop (higher is better)")  # fmt: skip
    grids = Paragraph("In the sample grids above, each tile is a training patch's Y channel as "
                      "bicubic | SRCNN | HR (left to right).", note=True)  # fmt: skip
    return [Section("Super-resolution", [table, *_eval_tables(run, "sr"), fig, grids])]


def _eval_tables(run: RunReportData, name: str) -> list[Table]:
    """The records ``name`` and ``name@ema`` of ``eval.json`` (``qagen eval`` of the run,
    :mod:`qagen.methods.msssim.evaluation`) as tables."""
    out = []
    for key in (name, f"{name}@ema"):
        rec = (run.evaluation or {}).get(key)
        if not isinstance(rec, dict) or "psnr" not in rec:
            continue
        p = rec.get("protocol", {})
        where = p.get("test_set") or f"{p.get('data', '?')} [{p.get('split', '?')}]"
        caption = (f"qagen eval: step {p.get('checkpoint_step', '?')}, {p.get('generator', 'raw')} "
                   f"weights, {rec.get('n', '?')} images of {where}; higher is better")  # fmt: skip
        if isinstance(rec["psnr"], dict):  # sr: per method
            rows = [[m, rec["psnr"][m], rec["ssim"].get(m)] for m in rec["psnr"]]
            out.append(Table(["method", "PSNR (dB)", "SSIM"], rows, caption=caption))
        else:
            rows = [["PSNR (dB)", rec["psnr"], rec.get("psnr_std")],
                    ["MS-SSIM", rec.get("ms_ssim"), rec.get("ms_ssim_std")]]  # fmt: skip
            out.append(Table(["reconstruction", "mean", "std"], rows, caption=caption))
    return out


def autoencoder_sections(run: RunReportData) -> list[Section]:
    """Eight held-out images and their reconstructions."""
    if not run.checkpoints:
        return [Section("Reconstructions", [Paragraph("No checkpoint yet.", note=True)])]
    from qagen.methods.msssim.reconstruction import held_out_images, load_autoencoder

    net, restored = load_autoencoder(run.run_dir, device=run.device)
    try:
        x, split = held_out_images(restored.run.data, 8)
    except (FileNotFoundError, ValueError) as exc:
        return [Section("Reconstructions", [Paragraph(f"Data not available: {exc}", note=True)])]
    with torch.no_grad():
        rec = net(x.to(next(net.parameters()).device)).cpu()
    png = reconstruction_figure({"original": x, "reconstruction": rec},
                                f"{restored.run.data.spec} ({split} split)")  # fmt: skip
    note = Paragraph("In the sample grids above, each tile is a training image | its "
                     "reconstruction.", note=True)  # fmt: skip
    return [Section("Reconstructions", [*_eval_tables(run, "reconstruction"),
                                        Figure(png, "Held-out images (top) and their "
                                               "reconstructions (bottom)"), note])]  # fmt: skip
