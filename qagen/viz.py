"""Quality maps as pictures: heat maps with a colour bar (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import torch


def save_heatmap(
    qmap: torch.Tensor,
    path: str | Path,
    title: str = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Path:
    """Write a ``H x W`` (or ``1 x 1 x H x W``) map as a PNG heat map with a colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = qmap.detach().to(torch.float64).cpu()
    while m.dim() > 2:
        if m.shape[0] != 1:
            raise ValueError(f"qmap must hold a single map, got shape {tuple(qmap.shape)}")
        m = m[0]
    h, w = m.shape
    fig, ax = plt.subplots(
        figsize=(max(3.0, 5.0 * w / max(h, w)) + 1.2, max(3.0, 5.0 * h / max(h, w))), dpi=100
    )
    im = ax.imshow(m.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
