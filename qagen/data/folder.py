"""A dataset of the image files under a folder (recursive), robust to corrupt files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.transforms import ImagePostprocess, resize_shorter_center_crop, to_uint8_chw
from qagen.io import IMAGE_EXTENSIONS, list_images

__all__ = ["ImageFolderDataset", "IMAGE_EXTENSIONS", "list_images"]

_log = logging.getLogger("qagen.data")


def _decode(path: Path) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        arr = np.asarray(im)
    return to_uint8_chw(arr)


class ImageFolderDataset(Dataset):
    """Every image file under ``root`` as a float32 ``3 x R x R`` tensor in ``value_range``.

    Images are resized so the shorter side is ``resolution`` (antialiased ``interpolation``) and
    centre-cropped; ``resolution=None`` keeps the decoded size. Grey images are repeated to RGB,
    alpha is dropped.

    Corrupt files: with ``check_files=True`` every file is opened and verified at construction
    (``PIL.Image.verify``, header/CRC level); files that fail are dropped and their count is
    logged (``on_error='skip'``) or a ``ValueError`` names the first one (``on_error='raise'``).
    A file that still fails to decode later is replaced by the next readable one (logged, counted
    in ``num_skipped``) or raises, by the same option.
    """

    def __init__(
        self,
        root: str | Path,
        resolution: int | None = 64,
        *,
        recursive: bool = True,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        on_error: str = "skip",
        check_files: bool = True,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
        interpolation: str = "bicubic",
    ) -> None:
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        if resolution is not None and (
            isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1
        ):
            raise ValueError(f"resolution must be a positive int or None, got {resolution!r}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder '{self.root}' does not exist or is not a folder")
        self.resolution = resolution
        self.on_error = on_error
        self.interpolation = interpolation
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)
        files = list_images(self.root, recursive, extensions)
        self.num_skipped = 0
        if check_files:
            files = self._check(files)
        if not files:
            raise FileNotFoundError(
                f"no readable image files ({', '.join(extensions)}) under '{self.root}'"
                + (" (recursive)" if recursive else "")
            )
        self.files = files

    def _check(self, files: list[Path]) -> list[Path]:
        from PIL import Image

        good, bad = [], []
        for p in files:
            try:
                with Image.open(p) as im:
                    im.verify()
                good.append(p)
            except Exception as exc:
                if self.on_error == "raise":
                    raise ValueError(f"corrupt or unreadable image file {p}: {exc}") from exc
                bad.append((p, exc))
        if bad:
            self.num_skipped += len(bad)
            p, exc = bad[0]
            _log.warning(
                "skipped %d corrupt or unreadable image file(s) under %s (first: %s: %s)",
                len(bad),
                self.root,
                p,
                exc,
            )
        return good

    def __len__(self) -> int:
        return len(self.files)

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``3 x R x R`` uint8 (before flip, noise and scaling)."""
        n = len(self.files)
        for attempt in range(n):
            path = self.files[(index + attempt) % n]
            try:
                img = _decode(path)
                break
            except Exception as exc:
                if self.on_error == "raise":
                    raise ValueError(f"corrupt or unreadable image file {path}: {exc}") from exc
                self.num_skipped += 1
                _log.warning(
                    "skipped corrupt image file %s (%s); %d skipped so far",
                    path,
                    exc,
                    self.num_skipped,
                )
        else:
            raise RuntimeError(f"no image under '{self.root}' could be decoded")
        if self.resolution is not None:
            img = resize_shorter_center_crop(img, self.resolution, self.interpolation)
        return img

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))
