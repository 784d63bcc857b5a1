"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) read from local IDX files (never downloaded).

70,000 grey 28 x 28 images of 10 garment classes: the data set's own split, ``train`` (60,000) and
``test`` (10,000), plus ``all``. The files are the four official IDX files, gzipped or not:

    ROOT/train-images-idx3-ubyte[.gz]   ROOT/train-labels-idx1-ubyte[.gz]
    ROOT/t10k-images-idx3-ubyte[.gz]    ROOT/t10k-labels-idx1-ubyte[.gz]

``--data fashion-mnist`` reads them from Debian's package ``dataset-fashion-mnist``
(``apt-get install dataset-fashion-mnist``: :data:`PACKAGE_ROOT`); ``--data fashion-mnist:ROOT``
from any folder holding the same files (torchvision's ``FashionMNIST/raw`` folder works as is).

**IDX** (LeCun's format): a big-endian header ``0x00 0x00 TYPE NDIM``, then ``NDIM`` big-endian
uint32 sizes, then the data; Fashion-MNIST uses ``TYPE = 0x08`` (unsigned bytes), ``NDIM = 3`` for
images (N x 28 x 28) and 1 for labels (N). :func:`read_idx` checks the header against the file's
length, so a truncated or foreign file is an :class:`InputError` naming it.

**Items.** :class:`FashionMNISTDataset` returns float32 ``3 x R x R`` tensors like every qagen
dataset: the grey image repeated on three channels (exact: R = G = B, so a grey conversion
recovers it). ``resolution`` 28 is the native size; 32 pads 2 px of background (0, black) on each
side, as MNIST-like GANs do for 32 px networks (:data:`PADDING` records it in the protocol);
other sizes pad to 32 and resize (antialiased bicubic). ``classes`` keeps some classes only
(:data:`CLASSES` names them; ``fashion-mnist?classes=7,9`` on the command line).
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.transforms import ImagePostprocess, resize_uint8
from qagen.errors import InputError

__all__ = [
    "CLASSES",
    "FashionMNISTDataset",
    "PACKAGE",
    "PACKAGE_ROOT",
    "PADDING",
    "build_fashion_mnist",
    "fashion_mnist_root",
    "load_fashion_mnist",
    "parse_classes",
    "read_idx",
]

#: The Debian package that installs the files, and where.
PACKAGE = "dataset-fashion-mnist"
PACKAGE_ROOT = Path("/usr/share/datasets/fashion-mnist")
#: The label names, in label order (the data set's README).
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")  # fmt: skip
#: How a 28 px image becomes 32 px: 2 px of background (value 0) on every side.
PADDING = "2 px of background (0) on every side: 28 -> 32 px"
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_SPLITS = ("train", "test", "all")


def read_idx(path: str | Path) -> np.ndarray:
    """The array of an IDX file (gzipped when its name ends in ``.gz``): unsigned-byte data only
    (type 0x08), shape from the header; :class:`InputError` naming the file when the header is
    not IDX or the length does not match it."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read the IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(f"{path} is not an IDX file (its first two bytes must be 0)")
    if raw[2] != 0x08:
        raise InputError(
            f"{path}: IDX data type 0x{raw[2]:02x}; only unsigned bytes (0x08) are read"
        )
    ndim = raw[3]
    head = 4 + 4 * ndim
    if ndim < 1 or len(raw) < head:
        raise InputError(f"{path}: a truncated IDX header ({ndim} dimensions)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - head != int(np.prod(shape)):
        raise InputError(
            f"{path}: the header gives shape {shape} ({int(np.prod(shape))} bytes) but the file "
            f"holds {len(raw) - head} data bytes (truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(shape)


def fashion_mnist_root(root: str | Path | None = None) -> Path:
    """The folder of the IDX files: ``root``, else :data:`PACKAGE_ROOT`; an :class:`InputError`
    in one line (naming the package and ``:ROOT``) when a file is missing."""
    path = PACKAGE_ROOT if root in (None, "") else Path(os.path.expandvars(str(root))).expanduser()
    missing = [n for pair in _FILES.values() for n in pair if _find(path, n) is None]
    if missing:
        where = "Debian's package" if root in (None, "") else "the folder"
        raise InputError(
            f"Fashion-MNIST not found: {where} {path} lacks {', '.join(missing)} "
            f"(apt-get install {PACKAGE}, or --data fashion-mnist:ROOT for a folder with the "
            "four IDX files)"
        )
    return path


def _find(root: Path, name: str) -> Path | None:
    for cand in (root / name, root / f"{name}.gz"):
        if cand.is_file():
            return cand
    return None


@functools.lru_cache(maxsize=4)
def _load(root: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    img_name, lab_name = _FILES[split]
    images = read_idx(_find(Path(root), img_name))  # type: ignore[arg-type]
    labels = read_idx(_find(Path(root), lab_name))  # type: ignore[arg-type]
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise InputError(
            f"Fashion-MNIST {split}: {images.shape[0]} images of shape {images.shape[1:]} and "
            f"{labels.shape[0]} labels (expected N x 28 x 28 images and N labels)"
        )
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise InputError(f"Fashion-MNIST {split}: label {int(labels.max())} is not in 0-9")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_fashion_mnist(
    root: str | Path | None = None, split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 N x 28 x 28, labels uint8 N)`` of ``split`` (``train``, ``test``,
    ``all`` = train then test), read once per process (read-only arrays)."""
    if split not in _SPLITS:
        raise InputError(f"Fashion-MNIST split must be one of {', '.join(_SPLITS)}, got {split!r}")
    path = str(fashion_mnist_root(root))
    if split == "all":
        parts = [_load(path, s) for s in ("train", "test")]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _load(path, split)


def parse_classes(text: str | Sequence[int | str] | None) -> tuple[int, ...] | None:
    """Class indices from ``"7,9"``, ``[7, 9]`` or names (``"Sneaker"``); ``None`` keeps all."""
    if text is None or text == "":
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    lower = [c.lower() for c in CLASSES]
    out = []
    for item in items:
        s = str(item).strip()
        if s.isdigit() and int(s) < len(CLASSES):
            out.append(int(s))
        elif s.lower() in lower:
            out.append(lower.index(s.lower()))
        else:
            raise InputError(
                f"Fashion-MNIST class {s!r} is not 0-9 or one of: {', '.join(CLASSES)}"
            )
    return tuple(sorted(set(out)))


def to_resolution(img: torch.Tensor, resolution: int) -> torch.Tensor:
    """A uint8 ``C x 28 x 28`` image at ``resolution``: as is (28), padded with 2 px of
    background (32), else padded to 32 and resized (antialiased bicubic)."""
    if resolution == 28:
        return img
    padded = torch.nn.functional.pad(img, (2, 2, 2, 2), value=0)
    return padded if resolution == 32 else resize_uint8(padded, resolution)


class FashionMNISTDataset(Dataset):
    """Fashion-MNIST images (module docstring) as float32 ``3 x R x R`` in ``value_range``;
    ``labels`` holds the class of every item (``classes`` keeps some classes only)."""

    #: every item is grey (R = G = B): :func:`qagen.data.build.dataset_is_grey`
    grey = True

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        resolution: int = 32,
        *,
        classes: str | Sequence[int | str] | None = None,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
    ) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
            raise InputError(f"resolution must be an int >= 8, got {resolution!r}")
        images, labels = load_fashion_mnist(root, split)
        self.classes = parse_classes(classes)
        if self.classes is not None:
            keep = np.isin(labels, self.classes)
            images, labels = images[keep], labels[keep]
        self.images, self.labels = images, labels.astype(np.int64)
        self.split, self.resolution = split, int(resolution)
        self.root = fashion_mnist_root(root)
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)
        self.padding = PADDING if resolution == 32 else (
            "none (native 28 px)" if resolution == 28 else f"{PADDING}, then resized to {resolution} px"
        )  # fmt: skip

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def raw(self, index: int) -> torch.Tensor:
        """Item ``index`` as uint8 ``3 x R x R`` (no augmentation)."""
        img = torch.from_numpy(np.array(self.images[index]))[None]
        return to_resolution(img, self.resolution).expand(3, -1, -1).contiguous()

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))

    def describe(self) -> dict[str, Any]:
        """What a protocol records of this data: source, split, size, classes, padding."""
        return {
            "data": f"Fashion-MNIST ({self.root})", "split": self.split, "n": len(self),
            "classes": "all" if self.classes is None else [CLASSES[c] for c in self.classes],
            "resolution": self.resolution, "padding": self.padding,
            "channels": "grey, repeated on 3 channels",
        }  # fmt: skip


def build_fashion_mnist(
    name: str, root: str, resolution: int, split: str, **kwargs: Any
) -> FashionMNISTDataset:
    """The ``fashion-mnist[:ROOT][?classes=...]`` data source (``root="raw"``: it reads its own
    root, which may be empty for the Debian package's folder)."""
    path, _, query = root.partition("?")
    classes = None
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if key.strip() != "classes" or not eq:
            raise InputError(f"fashion-mnist takes one option, ?classes=..., got {part!r}")
        classes = value
    kwargs.pop("seed", None)
    return FashionMNISTDataset(path or None, split, resolution, classes=classes, **kwargs)
