"""A dataset of the image files under a folder (recursive), robust to unreadable files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from qagen.data.transforms import (
    ImagePostprocess,
    resize_shorter_center_crop,
    to_uint8_chw,
    warn_if_all_upscaled,
)
from qagen.errors import InputError
from qagen.io import IMAGE_EXTENSIONS, list_images, read_image_file

__all__ = ["ImageFolderDataset", "IMAGE_EXTENSIONS", "list_images"]

_log = logging.getLogger("qagen.data")


def _decode(path: Path) -> torch.Tensor:
    """An image file as uint8 ``C x H x W`` with its full range: 16-bit files (read at their
    own depth by :func:`qagen.io.read_image_file`) are mapped by round(v * 255 / 65535), never
    clipped; alpha is dropped."""
    img = read_image_file(path, dtype=torch.float64)
    v = img.values[0]
    if img.white != 255:
        v = torch.round(v * (255.0 / img.white))
    arr = v.to(torch.uint8).permute(1, 2, 0).numpy()
    return to_uint8_chw(arr[..., 0] if arr.shape[2] == 1 else arr)


_MAX_NAMED = 10


def _name_files(files: Sequence[tuple[Path, BaseException]]) -> str:
    shown = [f"{p} ({type(e).__name__}: {e})" for p, e in files[:_MAX_NAMED]]
    more = f"; and {len(files) - _MAX_NAMED} more" if len(files) > _MAX_NAMED else ""
    return "; ".join(shown) + more


class ImageFolderDataset(Dataset):
    """Every image file under ``root`` as a float32 ``3 x R x R`` tensor in ``value_range``.

    Images are resized so the shorter side is ``resolution`` (antialiased ``interpolation``) and
    centre-cropped; ``resolution=None`` keeps the decoded size. Grey images are repeated to RGB,
    alpha is dropped.

    Degenerate data: when ``check_files`` reads the sizes and every image is upscaled more than
    4x to ``resolution``, one warning says so (:func:`qagen.data.transforms.warn_if_all_upscaled`).

    Unreadable files (qagen's one policy for image folders, shared with ``qagen niqe-fit``):
    they are skipped with ONE warning naming them, and an error
    (:class:`qagen.errors.InputError`) is raised only when no readable image is left. With
    ``check_files=True`` every file is verified at construction (``PIL.Image.verify``: header
    and chunk checksums, no full decode; a progress bar is shown for large folders), the
    unreadable ones are dropped and named in one warning. A file that passes the check but
    fails to decode later is named in one warning when first met, and from then on replaced
    silently by the next readable file (its index stays valid, so the data order does not
    change); ``num_skipped`` counts the skipped files. DataLoader worker processes each hold a
    copy of the dataset, so each process warns once per such file.
    """

    def __init__(
        self,
        root: str | Path,
        resolution: int | None = 64,
        *,
        recursive: bool = True,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        check_files: bool = True,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
        interpolation: str = "bicubic",
    ) -> None:
        if resolution is not None and (
            isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1
        ):
            raise InputError(f"resolution must be a positive int or None, got {resolution!r}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder '{self.root}' does not exist or is not a folder")
        self.resolution = resolution
        self.interpolation = interpolation
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)
        files = list_images(self.root, recursive, extensions)
        if not files:
            raise FileNotFoundError(
                f"no image files ({', '.join(extensions)}) under '{self.root}'"
                + (" (recursive)" if recursive else "")
            )
        self.num_skipped = 0
        self._bad: set[int] = set()
        if check_files:
            files = self._check(files)
        self.files = files

    def _check(self, files: list[Path]) -> list[Path]:
        from PIL import Image
        from tqdm import tqdm

        good: list[Path] = []
        sizes: list[tuple[int, int]] = []
        bad: list[tuple[Path, BaseException]] = []
        bar = tqdm(
            files,
            desc=f"checking images in {self.root.name or self.root}",
            unit="file",
            disable=len(files) < 2000,
            leave=False,
        )
        for p in bar:
            try:
                with Image.open(p) as im:
                    w, h = im.size
                    im.verify()
                good.append(p)
                sizes.append((h, w))
            except Exception as exc:
                bad.append((p, exc))
        if bad:
            self.num_skipped += len(bad)
            if not good:
                raise InputError(
                    f"no readable image under '{self.root}': all {len(bad)} image file(s) are "
                    f"corrupt or unreadable ({_name_files(bad)})"
                )
            _log.warning(
                "skipped %d unreadable image file(s) under %s: %s",
                len(bad),
                self.root,
                _name_files(bad),
            )
        if self.resolution is not None:
            warn_if_all_upscaled(sizes, self.resolution, f"image folder '{self.root}'")
        return good

    def __len__(self) -> int:
        return len(self.files)

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``3 x R x R`` uint8 (before flip, noise and scaling)."""
        n = len(self.files)
        for attempt in range(n):
            k = (index + attempt) % n
            if k in self._bad:
                continue
            path = self.files[k]
            try:
                img = _decode(path)
                break
            except Exception as exc:
                self._bad.add(k)
                self.num_skipped += 1
                _log.warning(
                    "skipped unreadable image file %s (%s: %s); it is replaced by the next "
                    "readable image from now on",
                    path,
                    type(exc).__name__,
                    exc,
                )
        else:
            raise InputError(
                f"no readable image under '{self.root}': all {n} image file(s) failed to decode"
            )
        if self.resolution is not None:
            img = resize_shorter_center_crop(img, self.resolution, self.interpolation)
        return img

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))
