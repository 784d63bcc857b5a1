"""Reading and writing images as tensors (used by the CLI, the demo and the tests).

``read_image`` returns the file's 8-bit values as a float tensor ``1 x C x H x W`` on the
0-255 scale (no rescaling), the convention of the MATLAB references: score it with
``data_range=255``. Palette images with a grey palette (GIF) decode to one channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

#: Image file extensions qagen reads from folders (case-insensitive): one set everywhere.
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pnm",
)


def list_images(
    root: str | Path, recursive: bool = True, extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> list[Path]:
    """Sorted image paths under ``root`` with one of ``extensions`` (hidden files skipped)."""
    root = Path(root)
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    it = root.rglob("*") if recursive else root.glob("*")
    return sorted(
        p
        for p in it
        if p.suffix.lower() in exts
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _is_grey_palette(img: Image.Image) -> bool:
    pal = img.getpalette()
    if pal is None:
        return False
    rgb = np.asarray(pal, dtype=np.int64).reshape(-1, 3)
    return bool(np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]))


def read_image(
    path: str | Path, dtype: torch.dtype = torch.float64, mode: str | None = None
) -> torch.Tensor:
    """Read an image file as a ``1 x C x H x W`` tensor of its 8-bit values (0-255).

    ``mode`` forces "L" (grey) or "RGB"; by default grey files (L, grey-palette P) give 1
    channel and everything else 3 (alpha is dropped).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        img = Image.open(path)
        img.load()
    except Exception as exc:  # PIL raises several types for corrupt files
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    if mode is None:
        if img.mode in ("L", "1", "I;16", "I", "F") or (img.mode == "P" and _is_grey_palette(img)):
            mode = "L"
        else:
            mode = "RGB"
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}")
    arr = np.asarray(img.convert(mode))
    if arr.dtype != np.uint8:
        raise ValueError(f"{path}: only 8-bit images are supported, got {arr.dtype}")
    t = torch.from_numpy(arr.copy()).to(dtype)
    t = t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
    return t.unsqueeze(0)


def write_image(x: torch.Tensor, path: str | Path, data_range: float = 1.0) -> None:
    """Write a ``C x H x W`` or ``1 x C x H x W`` tensor in ``[0, data_range]`` as an 8-bit PNG/JPEG."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"x must hold one image, got a batch of {x.shape[0]}")
        x = x[0]
    arr = (
        (x.detach().float().cpu().clamp(0, data_range) / data_range * 255.0).round().to(torch.uint8)
    )
    arr = arr.permute(1, 2, 0).numpy()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(path)
