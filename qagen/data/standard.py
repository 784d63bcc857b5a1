"""CIFAR-10, STL-10 and CelebA read from a local root (qagen never downloads data).

The files are the official distributions, in the layouts torchvision uses, so an existing
torchvision data root works as is:

- **CIFAR-10** (python version, ``cifar-10-python.tar.gz`` extracted):
  ``ROOT/cifar-10-batches-py/data_batch_1..5`` and ``test_batch``, each a pickled dict whose
  ``data`` entry is an ``N x 3072`` uint8 array (1024 R, then 1024 G, then 1024 B values, each
  plane row-major 32 x 32).
- **STL-10** (binary version, ``stl10_binary.tar.gz`` extracted):
  ``ROOT/stl10_binary/{train,test,unlabeled}_X.bin``, raw uint8, 3 x 96 x 96 bytes per image,
  each colour plane stored *column-major*.
- **CelebA** (aligned and cropped, ``img_align_celeba.zip`` extracted):
  ``ROOT/celeba/img_align_celeba/000001.jpg ...`` (178 x 218 JPEGs) and, for the train/valid/test
  splits, ``ROOT/celeba/list_eval_partition.txt`` (``Eval/`` subfolder also accepted).

``ROOT`` may also be the inner folder itself (``cifar-10-batches-py``, ``stl10_binary``,
``celeba`` or ``img_align_celeba``). The decoders are qagen's own (the formats are fixed and
simple); ``verify=True`` additionally checks the files against torchvision's published MD5 sums.
CIFAR pickles are read with a restricted unpickler that only accepts numpy arrays, never
arbitrary objects.
"""

from __future__ import annotations

import importlib
import io
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.transforms import ImagePostprocess, center_crop, resize_uint8
from qagen.errors import InputError

__all__ = [
    "CIFAR10Dataset",
    "STL10Dataset",
    "CelebADataset",
    "DatasetNotFoundError",
]

_log = logging.getLogger("qagen.data")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is missing from the local root; the message says what to place where."""


def _verify_md5(path: Path, md5: str) -> None:
    from torchvision.datasets.utils import check_integrity

    if not check_integrity(str(path), md5):
        raise InputError(
            f"{path} does not match the official MD5 {md5} (corrupt or not the official file); "
            "replace it, or pass verify=False to read it anyway"
        )


def _torchvision_md5(cls_name: str) -> dict[str, str]:
    import torchvision.datasets as tvd

    if cls_name == "CelebA":
        return {fname: md5 for _, md5, fname in tvd.CelebA.file_list}
    cls = getattr(tvd, cls_name)
    return {fname: md5 for fname, md5 in cls.train_list + cls.test_list}


class _Base(Dataset):
    def __init__(self, resolution, value_range, flip, dequantize, interpolation) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise InputError(f"resolution must be a positive int, got {resolution!r}")
        self.resolution = resolution
        self.interpolation = interpolation
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)

    def raw(self, index: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))


# ---------------------------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------------------------

_CIFAR_SPLITS = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
    "all": [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"],
}

_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed to rebuild numpy arrays."""

    def find_class(self, module: str, name: str):
        canonical = module
        if module.startswith("numpy.core."):  # pickles written by numpy < 2
            canonical = "numpy._core." + module[len("numpy.core.") :]
        if (canonical, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a CIFAR-10 batch file "
                "(only numpy arrays are allowed)"
            )
        candidates = [canonical]
        if canonical.startswith("numpy._core."):  # numpy < 2 only has numpy.core
            candidates.append("numpy.core." + canonical[len("numpy._core.") :])
        for mod in candidates:
            try:
                return getattr(importlib.import_module(mod), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"cannot resolve {module}.{name} with this numpy")


def _load_cifar_batch(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        entry = _NumpyOnlyUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    if not isinstance(entry, dict):
        raise InputError(f"{path} is not a CIFAR-10 batch (expected a pickled dict)")
    data = entry.get("data", entry.get(b"data"))
    if data is None:
        raise InputError(f"{path} is not a CIFAR-10 batch (no 'data' entry)")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise InputError(
            f"{path}: 'data' must be an N x 3072 uint8 array, got {data.shape} {data.dtype}"
        )
    return data.reshape(-1, 3, 32, 32)


def _find_subdir(root: Path, name: str, marker: str) -> Path | None:
    for cand in (root / name, root):
        if (cand / marker).is_file():
            return cand
    return None


class CIFAR10Dataset(_Base):
    """CIFAR-10 images as float32 ``3 x R x R`` in ``value_range`` (labels are not returned).

    ``split``: ``'train'`` (50,000), ``'test'`` (10,000) or ``'all'`` (60,000; QAGAN/BWGAN train
    on all of them). Images are held in memory (184 MB for ``'all'``); ``resolution != 32``
    resizes (antialiased ``interpolation``).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 32,
        *,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
        interpolation: str = "bicubic",
        verify: bool = False,
    ) -> None:
        super().__init__(resolution, value_range, flip, dequantize, interpolation)
        if split not in _CIFAR_SPLITS:
            raise InputError(
                f"split must be one of {list(_CIFAR_SPLITS)} for CIFAR-10, got {split!r}"
            )
        self.root = Path(root).expanduser()
        self.split = split
        files = _CIFAR_SPLITS[split]
        folder = _find_subdir(self.root, "cifar-10-batches-py", files[0])
        missing = [f for f in files if folder is None or not (folder / f).is_file()]
        if missing:
            shown = self.root / "cifar-10-batches-py"
            raise DatasetNotFoundError(
                f"CIFAR-10 ({split!r} split) was not found under '{self.root}'. qagen never "
                "downloads data: get the CIFAR-10 python version (cifar-10-python.tar.gz, "
                "https://www.cs.toronto.edu/~kriz/cifar.html) and extract it into "
                f"'{self.root}' so that these files exist:\n"
                + "\n".join(f"  {shown / f}" for f in files)
                + f"\nmissing: {missing}"
            )
        md5 = _torchvision_md5("CIFAR10") if verify else {}
        arrays = []
        for f in files:
            if verify:
                _verify_md5(folder / f, md5[f])
            arrays.append(_load_cifar_batch(folder / f))
        self.folder = folder
        self.data = torch.from_numpy(np.concatenate(arrays, axis=0))

    def __len__(self) -> int:
        return self.data.shape[0]

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``3 x R x R`` uint8 (before flip, noise and scaling)."""
        return resize_uint8(self.data[index], self.resolution, self.interpolation)


# ---------------------------------------------------------------------------------------------
# STL-10
# ---------------------------------------------------------------------------------------------

_STL_SPLITS = {
    "train": ["train_X.bin"],
    "test": ["test_X.bin"],
    "unlabeled": ["unlabeled_X.bin"],
    "train+unlabeled": ["train_X.bin", "unlabeled_X.bin"],
    "all": ["train_X.bin", "test_X.bin", "unlabeled_X.bin"],
}
_STL_BYTES = 3 * 96 * 96


class STL10Dataset(_Base):
    """STL-10 images as float32 ``3 x R x R`` (default ``R = 48``, antialiased bicubic from 96).

    ``split``: ``'train'`` (5,000), ``'test'`` (8,000), ``'unlabeled'`` (100,000; used by the
    GAN literature and QAGAN at 48 x 48), ``'train+unlabeled'`` or ``'all'``. The ``.bin`` files
    are memory-mapped, not loaded.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "unlabeled",
        resolution: int = 48,
        *,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
        interpolation: str = "bicubic",
        verify: bool = False,
    ) -> None:
        super().__init__(resolution, value_range, flip, dequantize, interpolation)
        if split not in _STL_SPLITS:
            raise InputError(f"split must be one of {list(_STL_SPLITS)} for STL-10, got {split!r}")
        self.root = Path(root).expanduser()
        self.split = split
        files = _STL_SPLITS[split]
        folder = _find_subdir(self.root, "stl10_binary", files[0])
        missing = [f for f in files if folder is None or not (folder / f).is_file()]
        if missing:
            shown = self.root / "stl10_binary"
            raise DatasetNotFoundError(
                f"STL-10 ({split!r} split) was not found under '{self.root}'. qagen never "
                "downloads data: get the STL-10 binary version (stl10_binary.tar.gz, "
                "https://cs.stanford.edu/~acoates/stl10/) and extract it into "
                f"'{self.root}' so that these files exist:\n"
                + "\n".join(f"  {shown / f}" for f in files)
                + f"\nmissing: {missing}"
            )
        md5 = _torchvision_md5("STL10") if verify else {}
        self.files: list[Path] = []
        self.counts: list[int] = []
        for f in files:
            path = folder / f
            if verify:
                _verify_md5(path, md5[f])
            size = path.stat().st_size
            if size == 0 or size % _STL_BYTES:
                raise InputError(
                    f"{path} has {size} bytes, not a positive multiple of 3 x 96 x 96 = "
                    f"{_STL_BYTES}: not an STL-10 image file (or truncated)"
                )
            self.files.append(path)
            self.counts.append(size // _STL_BYTES)
        self.folder = folder
        self._offsets = np.cumsum([0] + self.counts)
        self._maps: list[np.ndarray] | None = None

    def __getstate__(self) -> dict:  # do not pickle memory maps into DataLoader workers
        state = self.__dict__.copy()
        state["_maps"] = None
        return state

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``3 x R x R`` uint8 (before flip, noise and scaling)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of length {len(self)}")
        if self._maps is None:
            self._maps = [
                np.memmap(p, dtype=np.uint8, mode="r", shape=(n, 3, 96, 96))
                for p, n in zip(self.files, self.counts, strict=True)
            ]
        k = int(np.searchsorted(self._offsets, index, side="right")) - 1
        # each plane is stored column-major: the last two axes are (x, y)
        img = np.ascontiguousarray(self._maps[k][index - self._offsets[k]].transpose(0, 2, 1))
        return resize_uint8(torch.from_numpy(img), self.resolution, self.interpolation)


# ---------------------------------------------------------------------------------------------
# CelebA
# ---------------------------------------------------------------------------------------------

_CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2, "all": None}


class CelebADataset(_Base):
    """Aligned CelebA as float32 ``3 x R x R``: centre crop ``crop_size`` then resize to ``R``.

    Default ``crop_size=178`` (the full width of the 178 x 218 aligned images) and ``R = 64``
    with antialiased bicubic; QAGAN's CelebA script crops 108 x 108 (DCGAN-tensorflow convention)
    and resizes bicubic, i.e. ``crop_size=108``. ``split``: ``'train'`` (162,770), ``'valid'``
    (19,867), ``'test'`` (19,962) from ``list_eval_partition.txt``, or ``'all'`` (every JPEG in
    the folder; no partition file needed; what QAGAN uses). ``crop_box = (top, left, height,
    width)`` crops that box instead of the centre square (see :class:`qagen.methods.began.data.CelebABEGANDataset`).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 64,
        *,
        crop_size: int = 178,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
        interpolation: str = "bicubic",
        verify: bool = False,
        crop_box: tuple[int, int, int, int] | None = None,
    ) -> None:
        super().__init__(resolution, value_range, flip, dequantize, interpolation)
        if crop_box is not None:
            if len(crop_box) != 4 or min(crop_box) < 0 or min(crop_box[2:]) < 1:
                raise InputError(
                    "crop_box must be (top, left, height, width) with a positive size, "
                    f"got {crop_box!r}"
                )
        self.crop_box = None if crop_box is None else tuple(int(v) for v in crop_box)
        if split not in _CELEBA_SPLITS:
            raise InputError(
                f"split must be one of {list(_CELEBA_SPLITS)} for CelebA, got {split!r}"
            )
        self.root = Path(root).expanduser()
        self.split = split
        self.crop_size = crop_size
        img_dir = None
        for cand in (
            self.root / "celeba" / "img_align_celeba",
            self.root / "img_align_celeba",
            self.root,
        ):
            if cand.is_dir() and any(cand.glob("*.jpg")):
                img_dir = cand
                break
        need_partition = _CELEBA_SPLITS[split] is not None
        partition = None
        if img_dir is not None:
            base = img_dir.parent
            for cand in (
                base / "list_eval_partition.txt",
                base / "Eval" / "list_eval_partition.txt",
            ):
                if cand.is_file():
                    partition = cand
                    break
        if img_dir is None or (need_partition and partition is None):
            shown = self.root / "celeba"
            what = "the images" if img_dir is None else "list_eval_partition.txt"
            raise DatasetNotFoundError(
                f"CelebA ({split!r} split) was not found under '{self.root}' ({what} missing). "
                "qagen never downloads data: get the aligned-and-cropped images "
                "(img_align_celeba.zip) and list_eval_partition.txt from "
                "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and place them so that "
                f"these exist:\n  {shown / 'img_align_celeba' / '000001.jpg'} (and the other JPEGs)\n"
                f"  {shown / 'list_eval_partition.txt'}   (not needed for split='all')"
            )
        if verify and partition is not None:
            _verify_md5(partition, _torchvision_md5("CelebA")["list_eval_partition.txt"])
        if need_partition:
            wanted = _CELEBA_SPLITS[split]
            names = []
            for line in partition.read_text().split("\n"):
                parts = line.split()
                if len(parts) == 2 and int(parts[1]) == wanted:
                    names.append(parts[0])
            files = [img_dir / n for n in names]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise DatasetNotFoundError(
                    f"{len(missing)} CelebA images listed in {partition} for split {split!r} are "
                    f"missing from {img_dir} (first: {missing[:3]})"
                )
        else:
            files = sorted(img_dir.glob("*.jpg"))
        if not files:
            raise DatasetNotFoundError(f"CelebA split {split!r} is empty under {img_dir}")
        self.img_dir = img_dir
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index``: decoded, centre-cropped, resized ``3 x R x R`` uint8."""
        from PIL import Image

        with Image.open(self.files[index]) as im:
            arr = np.asarray(im.convert("RGB"))
        img = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        if self.crop_box is not None:
            top, left, h, w = self.crop_box
            if top + h > img.shape[-2] or left + w > img.shape[-1]:
                raise InputError(
                    f"crop_box {self.crop_box} does not fit {self.files[index].name} "
                    f"({img.shape[-2]} x {img.shape[-1]})"
                )
            return resize_uint8(img[:, top : top + h, left : left + w], self.resolution,
                                self.interpolation)  # fmt: skip
        crop = min(self.crop_size, img.shape[-2], img.shape[-1])
        return resize_uint8(center_crop(img, crop), self.resolution, self.interpolation)
