"""The built-in natural-photo dataset: deterministic random crops from the colour photographs that
ship inside installed packages, so qagen can train and test with no data on disk and no network.

Photographs (name: source, size H x W; all 8-bit RGB, read from package files, no download):

=======================  ===========================================================  ===========
``astronaut``            ``skimage.data.astronaut()`` (NASA, public domain)          512 x 512
``coffee``               ``skimage.data.coffee()`` (Rachel Michetti, CC0)            400 x 600
``chelsea``              ``skimage.data.chelsea()`` (Stefan van der Walt, CC0)       300 x 451
``rocket``               ``skimage.data.rocket()`` (SpaceX, CC0)                     427 x 640
``hubble_deep_field``    ``skimage.data.hubble_deep_field()`` (NASA, public domain)  872 x 1000
``immunohistochemistry`` ``skimage.data.immunohistochemistry()`` (public domain)     512 x 512
``retina``               ``skimage.data.retina()`` (Häggström, CC0)                  1411 x 1411
``motorcycle``           left view of ``skimage.data.stereo_motorcycle()`` (Middlebury) 500 x 741
``china``                ``sklearn.datasets.load_sample_image('china.jpg')``          427 x 640
``flower``               ``sklearn.datasets.load_sample_image('flower.jpg')``         427 x 640
``grace_hopper``         ``matplotlib.cbook.get_sample_data('grace_hopper.jpg')``     512 x 600
=======================  ===========================================================  ===========

A photo whose package (or file) is missing is skipped with a warning; at least one must load.

**Crops.** Item ``i`` of a dataset is a pure function of ``(seed, split, i)``: a generator
``numpy.random.default_rng([seed, split_id, i])`` picks a photo uniformly (so the large
``retina`` and ``hubble_deep_field`` do not dominate), a square window of side ``resolution * z`` with ``z`` log-uniform in ``zoom``
(clipped to the usable region), and a uniform position; the window is resized to ``resolution``
(antialiased bicubic, rounded to uint8). Flips and dequantisation noise (options) are random
augmentations drawn at access time.

**Held-out split** (``holdout``):

- ``'region'`` (default): along each photo's longer side the last ``holdout_fraction`` (25 %) is
  the *test* region and the rest the *train* region; crops never straddle the boundary, so train
  and test crops share no pixel, while both cover every photo.
- ``'photo'``: whole photos are held out: ``chelsea``, ``flower`` and ``grace_hopper`` are the
  test photos, the other eight the train photos.

Split ``'all'`` crops from the whole of every photo (train and test regions together), as
``'all'`` does for CIFAR-10 and CelebA; the full QAGAN and Banach-WGAN presets train on it.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.transforms import ImagePostprocess, resize_uint8, to_uint8_chw
from qagen.errors import InputError, UnknownNameError

__all__ = ["BuiltinPhotoDataset", "BUILTIN_PHOTOS", "HELD_OUT_PHOTOS", "load_builtin_photo"]

_log = logging.getLogger("qagen.data")


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _motorcycle() -> np.ndarray:
    import skimage.data

    return skimage.data.stereo_motorcycle()[0]


def _sklearn(fname: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(fname)

    return load


def _matplotlib(fname: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib import cbook
        from PIL import Image

        with cbook.get_sample_data(fname) as f, Image.open(f) as im:
            return np.asarray(im.convert("RGB"))

    return load


#: name -> loader returning an H x W x 3 uint8 array
BUILTIN_PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "coffee": _skimage("coffee"),
    "chelsea": _skimage("chelsea"),
    "rocket": _skimage("rocket"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "retina": _skimage("retina"),
    "motorcycle": _motorcycle,
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
    "grace_hopper": _matplotlib("grace_hopper.jpg"),
}

#: Photos held out for the test split with ``holdout='photo'``.
HELD_OUT_PHOTOS = ("chelsea", "flower", "grace_hopper")

_SPLIT_IDS = {"train": 0, "test": 1, "all": 2}
_DEFAULT_LENGTH = {"train": 10_000, "test": 1_000, "all": 11_000}
_CACHE: dict[str, torch.Tensor | None] = {}
_CACHE_LOCK = threading.Lock()


def load_builtin_photo(name: str) -> torch.Tensor | None:
    """The photo ``name`` as a ``3 x H x W`` uint8 tensor (cached), or ``None`` if unavailable."""
    if name not in BUILTIN_PHOTOS:
        raise UnknownNameError("built-in photo", name, BUILTIN_PHOTOS)
    with _CACHE_LOCK:
        if name not in _CACHE:
            try:
                _CACHE[name] = to_uint8_chw(BUILTIN_PHOTOS[name]())
            except Exception as exc:  # missing package or data file
                _log.warning("built-in photo %r is unavailable and is skipped: %s", name, exc)
                _CACHE[name] = None
        return _CACHE[name]


class BuiltinPhotoDataset(Dataset):
    """Deterministic random crops from the packaged photographs (see the module docstring).

    Returns float32 ``3 x resolution x resolution`` tensors in ``value_range``.
    """

    def __init__(
        self,
        resolution: int = 32,
        split: str = "train",
        *,
        length: int | None = None,
        seed: int = 0,
        zoom: Sequence[float] = (1.0, 4.0),
        holdout: str = "region",
        holdout_fraction: float = 0.25,
        photos: Sequence[str] | None = None,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
        interpolation: str = "bicubic",
    ) -> None:
        if split not in _SPLIT_IDS:
            raise InputError(
                f"split must be 'train', 'test' or 'all' for the built-in dataset, got {split!r}"
            )
        if holdout not in ("region", "photo"):
            raise InputError(f"holdout must be 'region' or 'photo', got {holdout!r}")
        if not 0.0 < holdout_fraction < 1.0:
            raise InputError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise InputError(f"resolution must be a positive int, got {resolution!r}")
        zmin, zmax = (float(z) for z in zoom)
        if not 0 < zmin <= zmax:
            raise InputError(f"zoom must be (min, max) with 0 < min <= max, got {zoom}")
        self.resolution = resolution
        self.split = split
        self.length = int(length if length is not None else _DEFAULT_LENGTH[split])
        self.seed = int(seed)
        self.zoom = (zmin, zmax)
        self.holdout = holdout
        self.holdout_fraction = float(holdout_fraction)
        self.interpolation = interpolation
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)

        names = list(photos) if photos is not None else list(BUILTIN_PHOTOS)
        if holdout == "photo" and split != "all":
            held = set(HELD_OUT_PHOTOS)
            names = [n for n in names if (n in held) == (split == "test")]
        regions: list[tuple[str, tuple[int, int, int, int]]] = []
        for name in names:
            img = load_builtin_photo(name)
            if img is None:
                continue
            region = self._region(img.shape[-2], img.shape[-1])
            if min(region[2], region[3]) < resolution:
                _log.warning(
                    "built-in photo %r: its %s region %s is smaller than %d px; skipped",
                    name,
                    split,
                    region[2:],
                    resolution,
                )
                continue
            regions.append((name, region))
        if not regions:
            raise InputError(
                f"no built-in photo is usable for split={split!r}, resolution={resolution}; "
                "install scikit-image, scikit-learn and matplotlib or use a smaller resolution"
            )
        self.photos = [n for n, _ in regions]
        self._regions = [r for _, r in regions]

    def _region(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of this split's region of an ``h x w`` photo."""
        if self.holdout == "photo" or self.split == "all":
            return (0, 0, h, w)
        if w >= h:
            cut = w - int(round(w * self.holdout_fraction))
            return (0, 0, h, cut) if self.split == "train" else (0, cut, h, w - cut)
        cut = h - int(round(h * self.holdout_fraction))
        return (0, 0, cut, w) if self.split == "train" else (cut, 0, h - cut, w)

    def __len__(self) -> int:
        return self.length

    def crop_box(self, index: int) -> tuple[str, int, int, int]:
        """``(photo, top, left, side)`` of item ``index`` in photo coordinates (deterministic)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        rng = np.random.default_rng([self.seed, _SPLIT_IDS[self.split], index])
        k = int(rng.integers(0, len(self._regions)))
        top, left, rh, rw = self._regions[k]
        zmin, zmax = self.zoom
        z = math.exp(rng.uniform(math.log(zmin), math.log(zmax))) if zmax > zmin else zmin
        side = int(min(max(round(self.resolution * z), 1), rh, rw))
        y = top + int(rng.integers(0, rh - side + 1))
        x = left + int(rng.integers(0, rw - side + 1))
        return self.photos[k], y, x, side

    def raw(self, index: int) -> torch.Tensor:
        """Item ``index`` as a ``3 x R x R`` uint8 tensor before flips, noise and scaling."""
        name, y, x, side = self.crop_box(index)
        img = load_builtin_photo(name)
        if img is None:  # pragma: no cover - photos are checked in __init__
            raise RuntimeError(f"built-in photo {name!r} became unavailable")
        crop = img[:, y : y + side, x : x + side]
        return resize_uint8(crop, self.resolution, self.interpolation)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))

    def __repr__(self) -> str:
        return (
            f"BuiltinPhotoDataset(resolution={self.resolution}, split={self.split!r}, "
            f"length={self.length}, seed={self.seed}, holdout={self.holdout!r}, "
            f"photos={self.photos}, {self.post!r})"
        )
