"""``make demo``: distort a built-in photograph, score every distortion with every metric, and
write the quality maps as heat maps into ``runs/demo/``.

The photograph is scikit-image's ``astronaut`` (512 x 512 RGB, shipped inside the scikit-image
wheel, NASA public domain), so the demo runs offline. Distortions: JPEG (quality 10), Gaussian
blur (sigma 2), additive Gaussian noise (sigma 12 on 0-255, seeded) and contrast reduction
(0.5 around the mean). Scores use ``data_range=255`` on the 8-bit values.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter


def reference_image() -> Image.Image:
    """The built-in photograph (scikit-image ``astronaut``)."""
    from skimage import data

    return Image.fromarray(data.astronaut())


def distortions(ref: Image.Image, seed: int = 0) -> dict[str, Image.Image]:
    """The four demo distortions of ``ref`` (deterministic)."""
    buf = io.BytesIO()
    ref.save(buf, format="JPEG", quality=10)
    jpeg = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    blur = ref.filter(ImageFilter.GaussianBlur(radius=2))
    a = np.asarray(ref).astype(np.float64)
    rng = np.random.default_rng(seed)
    noise = Image.fromarray(
        np.clip(np.round(a + rng.normal(0, 12, a.shape)), 0, 255).astype(np.uint8)
    )
    contrast = Image.fromarray(
        np.clip(np.round(a.mean() + 0.5 * (a - a.mean())), 0, 255).astype(np.uint8)
    )
    return {"jpeg": jpeg, "blur": blur, "noise": noise, "contrast": contrast}


def _tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].to(torch.float32)


MAP_METRICS = ("ssim", "gmsd", "fsim", "mdsi", "chroma")


def run(out: Path) -> list[dict[str, object]]:
    from qagen.iqa import available, get
    from qagen.viz import save_heatmap

    out.mkdir(parents=True, exist_ok=True)
    ref_img = reference_image()
    ref_img.save(out / "reference.png")
    y = _tensor(ref_img)
    names = []
    for n in available():
        if getattr(get(n), "model_required", False):
            print(f"(skipping {n}: a learned metric, needs a trained model)")
            continue
        try:
            get(n).fn  # noqa: B018 - import check
            names.append(n)
        except (ImportError, AttributeError):
            print(f"(skipping {n}: not available)")
    rows: list[dict[str, object]] = []
    for dname, img in distortions(ref_img).items():
        img.save(out / f"{dname}.png")
        x = _tensor(img)
        row: dict[str, object] = {"distortion": dname}
        for n in names:
            info = get(n)
            t0 = time.perf_counter()
            v = (
                info.fn(x, y, data_range=255.0)
                if info.full_reference
                else info.fn(x, data_range=255.0)
            )
            row[n] = float(v.item())
            row[f"_{n}_s"] = time.perf_counter() - t0
        for n in MAP_METRICS:
            if n in names:
                info = get(n)
                m = info.map_fn(x, y, data_range=255.0)
                m = m[0] if isinstance(m, tuple) else m
                save_heatmap(
                    m[:1, :1], out / f"map_{n}_{dname}.png", title=f"{info.map_function}: {dname}"
                )
        rows.append(row)
    _write_tables(rows, names, out)
    return rows


def _write_tables(rows: list[dict[str, object]], names: list[str], out: Path) -> None:
    from qagen.iqa import get

    arrows = {n: ("↑" if get(n).higher_is_better else "↓") for n in names}
    header = ["distortion", *[f"{n} {arrows[n]}" for n in names]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(
            "| " + " | ".join([str(r["distortion"])] + [f"{r[n]:.4f}" for n in names]) + " |"
        )
    table = "\n".join(lines)
    (out / "scores.md").write_text(table + "\n")
    with open(out / "scores.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["distortion", *names])
        for r in rows:
            w.writerow([r["distortion"], *[r[n] for n in names]])
    print(table)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/demo")
    args = p.parse_args()
    out = Path(args.out)
    t0 = time.perf_counter()
    run(out)
    print(
        f"\nwrote scores.md, scores.csv, distorted images and quality maps to {out}/ in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    main()
