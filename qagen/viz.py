"""Quality maps as pictures: heat maps that say what they show (matplotlib, no display needed).

:func:`save_heatmap` draws one map with a colour bar. :func:`map_figure` draws a metric's map(s)
between a distorted and a reference image the way a reader needs them: the distorted image beside
each map, every map titled with what it is and which way is better, the colour bar labelled with
the map's scale, and the metric's score, its direction and both file names in the figure title.
The figure is at least as large as the image (one figure pixel per image pixel or more).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from qagen.errors import InputError
from qagen.registry import MAP_VIEWS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _single(qmap: torch.Tensor, name: str = "qmap") -> torch.Tensor:
    m = qmap.detach().to(torch.float64).cpu()
    while m.dim() > 2:
        if m.shape[0] != 1:
            raise InputError(f"{name} must hold a single map, got shape {tuple(qmap.shape)}")
        m = m[0]
    return m


def save_heatmap(
    qmap: torch.Tensor,
    path: str | Path,
    title: str = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    label: str = "",
) -> Path:
    """Write a ``H x W`` (or ``1 x 1 x H x W``) map as a PNG heat map with a colour bar.

    ``label`` names the colour bar (what the values mean and which way is better). The figure
    has at least one figure pixel per map pixel.
    """
    plt = _plt()
    m = _single(qmap)
    h, w = m.shape
    dpi = 100
    fig_w, fig_h = max(4.0, w / dpi) + 1.6, max(3.0, h / dpi) + 0.8
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), dpi=dpi)
    im = ax.imshow(m.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if label:
        bar.set_label(label)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


@dataclass(frozen=True)
class MapView:
    """One panel of a metric's map figure.

    ``compute(x, y, data_range, options) -> N x 1 x H' x W'``; ``title``: what the map is;
    ``scale``: the colour-bar label (values and direction); ``vmin``/``vmax``: the colour range
    (``None``: the map's own minimum/maximum).
    """

    compute: Callable[..., torch.Tensor]
    title: str
    scale: str
    vmin: float | None = None
    vmax: float | None = 1.0


def _fn(module: str, name: str) -> Callable:
    import importlib

    return getattr(importlib.import_module(f"qagen.iqa.{module}"), name)


def _call(module: str, name: str, pick: int | None = None, **fixed: Any) -> Callable:
    def compute(x, y, data_range, options):
        out = _fn(module, name)(x, y, data_range=data_range, **{**options, **fixed})
        return out[pick] if pick is not None else out

    return compute


_SIM = "similarity: 1 = identical, higher is better"

#: How each metric's map is drawn and how its score relates to the map.
_VIEWS: dict[str, tuple[str, list[MapView]]] = {
    "ssim": (
        "SSIM = mean of the SSIM map",
        [MapView(_call("structural", "ssim_maps", 0), "SSIM map (local structural similarity)",
                 "SSIM in [-1, 1]; 1 = identical, higher is better", vmin=0.0)],
    ),
    "ms_ssim": (
        "MS-SSIM = product of per-scale means; the map's mean is at most that",
        [MapView(_call("structural", "ms_ssim_map"),
                 "MS-SSIM map (per-pixel multi-scale, 'same' padding)", _SIM, vmin=0.0)],
    ),
    "gmsd": (
        "GMSD = standard deviation of the GMS map (a distance)",
        [MapView(_call("gms", "gms_map"), "GMS map (gradient-magnitude similarity)", _SIM, vmin=0.0)],
    ),
    "gmsm": (
        "GMSM = mean of the GMS map",
        [MapView(_call("gms", "gms_map"), "GMS map (gradient-magnitude similarity)", _SIM, vmin=0.0)],
    ),
    "cqs": (
        "cQS = mean of the GMS map + mean of the chroma map, in [0, 2]",
        [
            MapView(_call("chroma", "gms_sobel_map"), "GMS map (Sobel, Y channel)", _SIM, vmin=0.0),
            MapView(_call("chroma", "chroma_similarity_map"), "chroma similarity map (I and Q)",
                    _SIM, vmin=0.0),
        ],
    ),
    "chroma": (
        "chroma similarity = mean of the map",
        [MapView(_call("chroma", "chroma_similarity_map"), "chroma similarity map (I and Q)",
                 _SIM, vmin=0.0)],
    ),
    "fsim": (
        "FSIM = phase-congruency-weighted mean of the similarity map",
        [MapView(_call("feature_similarity", "fsim_map"),
                 "FSIM local similarity S_PC * S_G", _SIM, vmin=0.0)],
    ),
    "fsimc": (
        "FSIMc = phase-congruency-weighted mean of the similarity map",
        [MapView(_call("feature_similarity", "fsim_map", chromatic=True),
                 "FSIMc local similarity S_PC * S_G * (S_I S_Q)^0.03", _SIM, vmin=0.0)],
    ),
    "mdsi": (
        "MDSI = mean deviation of the GCS map (a distance)",
        [MapView(_call("mean_deviation", "mdsi_map"),
                 "GCS map (gradient + chromaticity similarity)",
                 "similarity: about 1 = identical, higher is better\n"
                 "(can exceed 1: MDSI's gradient term adds three similarities)", vmin=None,
                 vmax=None)],
    ),
}  # fmt: skip
for _name, _view in _VIEWS.items():  # the entries of qagen.registry.MAP_VIEWS
    MAP_VIEWS.add(_name, _view)


def _score_line(name: str, value: float) -> str:
    from qagen.iqa.registry import get

    better = "higher" if get(name).higher_is_better else "lower"
    return f"{name} = {value:.4f} ({better} is better)"


def map_figure(
    metric: str,
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float,
    path: str | Path,
    *,
    ref_name: str = "reference",
    dist_name: str = "distorted",
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Draw ``metric``'s map(s) of ``x`` (distorted) against ``y`` (reference) into ``path``.

    Panels: the distorted image, then each map of :data:`qagen.registry.MAP_VIEWS` with its own colour bar.
    The title gives the score (computed with the same options), its direction, how the score is
    pooled from the map and both file names.
    """
    from qagen.iqa.registry import get

    info = get(metric)
    if info.name not in MAP_VIEWS:
        raise InputError(
            f"{info.name} has no map; metrics with maps: {', '.join(MAP_VIEWS.available())}"
        )
    pooling, views = MAP_VIEWS.get(info.name)
    options = dict(options or {})
    score = float(info.fn(x, y, data_range=data_range, **options).item())
    maps = [_single(v.compute(x, y, data_range, options)[:1]) for v in views]
    plt = _plt()
    h, w = x.shape[-2:]
    dpi = 100
    panel_w, panel_h = max(3.2, 1.3 * w / dpi), max(3.2, 1.3 * h / dpi)  # image >= 1 px per px
    n = 1 + len(views)
    fig, axes = plt.subplots(1, n, figsize=(n * (panel_w + 1.3), panel_h + 1.6), dpi=dpi)
    img = x[0].detach().to(torch.float64).cpu() / data_range
    img = img.clamp(0, 1).permute(1, 2, 0).numpy()
    axes[0].imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("distorted image (DIST)", fontsize=10)
    axes[0].set_axis_off()
    for ax, view, m in zip(axes[1:], views, maps, strict=True):
        im = ax.imshow(m.numpy(), cmap="viridis", vmin=view.vmin, vmax=view.vmax,
                       interpolation="nearest")  # fmt: skip
        ax.set_title(f"{view.title}\n{m.shape[0]} x {m.shape[1]} px", fontsize=10)
        ax.set_axis_off()
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        bar.set_label(view.scale, fontsize=9)
        bar.formatter.set_useOffset(False)
    fig.suptitle(
        f"{_score_line(info.name, score)};  {pooling}\n"
        f"REF: {Path(ref_name).name}    DIST: {Path(dist_name).name}",
        fontsize=11,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def no_reference_map_figure(
    metric: str,
    x: torch.Tensor,
    data_range: float,
    path: str | Path,
    *,
    image_name: str = "image",
    options: Mapping[str, Any] | None = None,
) -> Path:
    """Draw a no-reference metric's map of ``x`` (e.g. ``qmap``'s predicted SSIM map) beside the
    image, with the score, its direction and the file name in the title."""
    from qagen.iqa.registry import get

    info = get(metric)
    options = dict(options or {})
    m = info.map_fn(x, data_range=data_range, **options)
    score = float(info.fn(x, data_range=data_range, **options).reshape(-1)[0])
    plt = _plt()
    qm = _single(m[:1])
    h, w = qm.shape
    dpi = 100
    pw, ph = max(3.2, 1.3 * w / dpi), max(3.2, 1.3 * h / dpi)
    fig, axes = plt.subplots(1, 2, figsize=(2 * (pw + 1.3), ph + 1.6), dpi=dpi)
    img = (x[0].detach().to(torch.float64).cpu() / data_range).clamp(0, 1).permute(1, 2, 0).numpy()
    axes[0].imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("image (no reference used)", fontsize=10)
    im = axes[1].imshow(qm.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes[1].set_title(f"predicted {info.map_function} map\n{h} x {w} px", fontsize=10)
    bar = fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.04)
    bar.set_label("predicted SSIM: 1 = undistorted, higher is better (< 0 shown as 0)", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"{_score_line(info.name, score)};  score = mean of the predicted map\n"
                 f"IMAGE: {Path(image_name).name}", fontsize=11)  # fmt: skip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def metrics_with_maps() -> Sequence[str]:
    """Names of the metrics :func:`map_figure` can draw."""
    return MAP_VIEWS.available()
