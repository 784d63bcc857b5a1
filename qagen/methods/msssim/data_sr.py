"""Super-resolution data: native-resolution training patches, high-resolution test sets and the
low-resolution images made from them (MATLAB-style bicubic ``imresize``).

**Training patches** (:class:`PatchDataset`, data spec ``patches:builtin`` or ``patches:PATH``):
square crops at the images' native resolution (never resized), ``resolution`` pixels on a side,
at positions drawn from ``numpy.random.default_rng([seed, split, index])`` (deterministic, so the
trainer's resumable data order applies). ``builtin``: the built-in photographs
(:class:`qagen.data.BuiltinPhotoDataset` with ``zoom=(1, 1)``; the ``train`` split crops from the
train region of every photo, ``test`` from the held-out region); ``PATH``: any folder of images,
each image chosen with equal probability (the poster cropped 5 million patches from ImageNet).

**Test sets** (:func:`load_sr_test_set`): any folder of high-resolution images in the layout of
Set5, Set14 or BSD200 (``baby.png``, ``baby_GT.bmp``, ...). When some file names end in ``_HR``
(the ``image_SRF_4/img_001_SRF_4_HR.png`` distribution) only those are used, and only the
``SRF_<scale>`` folders when there are several. Every image is cropped to a multiple of the
scale (MATLAB ``modcrop``: the bottom and right rows go). :func:`builtin_sr_test_set` gives the
held-out region of each built-in photo instead.

**Low resolution** (:func:`make_lr`, :func:`bicubic_upscale`): ``imresize(HR, 1/s)`` then
``imresize(LR, s)``, MATLAB's antialiased bicubic (a = -0.5) on the Y channel in double
precision, as in SRCNN's evaluation code.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.builtin import BUILTIN_PHOTOS, BuiltinPhotoDataset, load_builtin_photo
from qagen.data.transforms import ImagePostprocess
from qagen.errors import InputError
from qagen.io import list_images
from qagen.matlab_resize import imresize_matrix

__all__ = [
    "PatchDataset",
    "SRImage",
    "bicubic_upscale",
    "builtin_sr_test_set",
    "load_sr_test_set",
    "make_lr",
    "modcrop",
    "resize",
]

_SPLITS = {"train": 0, "test": 1, "all": 2}


def modcrop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """``... x H x W`` cropped to ``H - H mod s`` and ``W - W mod s`` (MATLAB ``modcrop``:
    the last rows and columns go)."""
    h, w = img.shape[-2:]
    h2, w2 = h - h % scale, w - w % scale
    if h2 < scale or w2 < scale:
        raise InputError(f"an image of {h} x {w} px is smaller than the scale {scale}")
    return img[..., :h2, :w2]


def resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB ``imresize(x, scale)`` (bicubic, antialiased when shrinking) on ``... x H x W``:
    :func:`qagen.matlab_resize.imresize`'s weight matrices (:func:`qagen.matlab_resize.imresize_matrix`)
    applied with one ``einsum`` per dimension, rows first (fast on small batched patches)."""
    h, w = x.shape[-2:]
    mh = imresize_matrix(h, float(scale), x.dtype, x.device)
    mw = imresize_matrix(w, float(scale), x.dtype, x.device)
    x = torch.einsum("ih,...hw->...iw", mh, x)
    return torch.einsum("jw,...iw->...ij", mw, x)


def make_lr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Low resolution: MATLAB ``imresize(hr, 1/scale)`` (bicubic, antialiased), ``N x C x H x W``
    with H and W multiples of ``scale``."""
    if hr.shape[-1] % scale or hr.shape[-2] % scale:
        raise InputError(
            f"make_lr: the size {tuple(hr.shape[-2:])} is not a multiple of {scale} (modcrop first)"
        )
    return resize(hr, 1.0 / scale)


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB ``imresize(lr, scale)`` (bicubic): the SRCNN input and the bicubic baseline."""
    return resize(lr, float(scale))


def _decode_uint8(path: Path) -> torch.Tensor:
    from qagen.data.folder import _decode

    return _decode(path)


class PatchDataset(Dataset):
    """Native-resolution random patches (module docstring): float32 ``3 x R x R`` in
    ``value_range``. ``length``: patches per epoch (default 100,000 for ``builtin``; 64 per
    image for a folder). ``cache``: decoded folder images kept in memory (LRU)."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 48,
        *,
        length: int | None = None,
        seed: int = 0,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
        cache: int = 64,
    ) -> None:
        if split not in _SPLITS:
            raise InputError(f"patches: split must be 'train', 'test' or 'all', got {split!r}")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise InputError(f"patches: resolution must be a positive int, got {resolution!r}")
        self.resolution = resolution
        self.split = split
        self.seed = int(seed)
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)
        self.builtin = str(root) == "builtin"
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cache_size = int(cache)
        if self.builtin:
            n = length if length is not None else 100_000
            self._photos = BuiltinPhotoDataset(
                resolution, split, length=n, seed=seed, zoom=(1.0, 1.0), value_range=(0, 1)
            )
            self.length = n
            self.files: list[Path] = []
            return
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"patches: image folder '{self.root}' does not exist")
        folder = self.root / split if (self.root / split).is_dir() else self.root
        if folder is self.root and split == "test":
            raise InputError(
                f"patches: split 'test' needs a subfolder '{self.root / 'test'}'; without it only "
                "'train' or 'all' (the whole folder) is available"
            )
        self.files = list_images(folder)
        if not self.files:
            raise FileNotFoundError(f"patches: no image files under '{folder}'")
        self.length = int(length if length is not None else 64 * len(self.files))

    def __len__(self) -> int:
        return self.length

    def _image(self, k: int) -> torch.Tensor:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        img = _decode_uint8(self.files[k])
        self._cache[k] = img
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return img

    def raw(self, index: int) -> torch.Tensor:
        """Patch ``index`` as ``3 x R x R`` uint8."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        if self.builtin:
            return self._photos.raw(index)
        rng = np.random.default_rng([self.seed, _SPLITS[self.split], index])
        r = self.resolution
        for _ in range(len(self.files) + 8):
            k = int(rng.integers(0, len(self.files)))
            img = self._image(k)
            h, w = img.shape[-2:]
            if h >= r and w >= r:
                y = int(rng.integers(0, h - r + 1))
                x = int(rng.integers(0, w - r + 1))
                return img[:, y : y + r, x : x + r]
        raise InputError(f"patches: no image under '{self.root}' has {r} x {r} px")

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))


@dataclass
class SRImage:
    """One test image: ``name`` and ``hr``, ``3 x H x W`` uint8 cropped to a multiple of the
    scale."""

    name: str
    hr: torch.Tensor


_SRF = re.compile(r"srf_(\d+)", re.IGNORECASE)


def sr_test_files(folder: str | Path, scale: int = 4) -> list[Path]:
    """The high-resolution image files of a test-set folder (module docstring); an error when
    the folder does not exist or holds none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"test set folder '{root}' does not exist or is not a folder")
    files = list_images(root)
    hr = [p for p in files if p.stem.lower().endswith("_hr")]
    if hr:
        files = hr
        by_scale = {p: _SRF.search(str(p.relative_to(root))) for p in files}
        scales = {int(m.group(1)) for m in by_scale.values() if m}
        if len(scales) > 1:
            files = [p for p, m in by_scale.items() if m and int(m.group(1)) == scale]
    if not files:
        raise FileNotFoundError(f"no image files under '{root}'")
    return files


def load_sr_test_set(folder: str | Path, scale: int = 4) -> list[SRImage]:
    """The high-resolution images of a test-set folder (module docstring), ``modcrop``-ped."""
    root = Path(folder).expanduser()
    out = []
    for p in sr_test_files(root, scale):
        name = str(p.relative_to(root).with_suffix(""))
        for tag in ("_GT", "_HR", "_gt", "_hr"):
            name = name[: -len(tag)] if name.endswith(tag) else name
        out.append(SRImage(name, modcrop(_decode_uint8(p), scale).contiguous()))
    return out


def builtin_sr_test_set(scale: int = 4, max_side: int | None = 512) -> list[SRImage]:
    """The held-out region of every built-in photo (the ``test`` region of
    :class:`qagen.data.BuiltinPhotoDataset`: the last 25 % along the longer side; a held-out
    stereo or sequence pair of the extended set: both photos whole), cropped to its central
    ``max_side`` pixels along each side (``None``: the whole region) and to a multiple of
    ``scale``."""
    probe = BuiltinPhotoDataset(scale * 4, "test", length=1)
    out = []
    for name in BUILTIN_PHOTOS:
        if name not in probe.photos:
            continue
        img = load_builtin_photo(name)
        assert img is not None
        top, left, h, w = probe._region(img.shape[-2], img.shape[-1], name)
        if max_side:
            top, left = top + max(0, h - max_side) // 2, left + max(0, w - max_side) // 2
            h, w = min(h, max_side), min(w, max_side)
        out.append(SRImage(name, modcrop(img[:, top : top + h, left : left + w], scale)))
    return out
