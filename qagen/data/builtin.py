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

**The extended set** (:data:`OPENCV_PHOTOS`): when Debian's ``opencv-doc`` package is installed
(``apt-get install opencv-doc``), 19 natural colour photographs of OpenCV's ``samples/data``
are used beside the 11 above, read from ``/usr/share/doc/opencv-doc/examples/data`` (or the
folder named by ``QAGEN_OPENCV_DATA``): ``baboon``, ``fruits``, ``butterfly``, ``building``,
``home``, ``board``, ``aero1``/``aero3``, ``messi5``, ``squirrel_cls``, ``smarties``,
``leuvenA``/``leuvenB``, ``aloeL``/``aloeR``, ``rubberwhale1``/``rubberwhale2``,
``graf1``/``graf3`` (356 x 493 up to 1110 x 1282 px; licence: Debian's copyright file puts
``samples/data`` under OpenCV's ``Files: *`` stanza, Apache-2.0 AND BSD-3-Clause). ``pic1`` to
``pic6`` of the same folder are synthetic shapes and are left out. A file that is absent is
simply not used (no warning: the package is optional); :func:`builtin_photo_names` lists what is
used, :func:`describe_builtin_photos` says it in one line (``qagen photos`` prints the table).
``QAGEN_BUILTIN_PHOTOS=classic`` keeps the 11 photos even where the package is installed (the
test suite sets it, so its numbers do not depend on the machine); the default is ``auto``.

**Contents.** The stereo and sequence pairs ``aero1/aero3``, ``aloeL/aloeR``, ``leuvenA/leuvenB``,
``rubberwhale1/rubberwhale2`` and ``graf1/graf3`` (:data:`PHOTO_PAIRS`) show one scene twice: each
pair is **one content** and is never split between train and test: it is held out whole or used
whole for training, in every split mode (below). Every other photograph is its own content.

**Crops.** Item ``i`` of a dataset is a pure function of ``(seed, split, i)``: a generator
``numpy.random.default_rng([seed, split_id, i])`` picks a photo uniformly (so the large
``retina`` and ``hubble_deep_field`` do not dominate), a square window of side ``resolution * z`` with ``z`` log-uniform in ``zoom``
(clipped to the usable region), and a uniform position; the window is resized to ``resolution``
(antialiased bicubic, rounded to uint8). Flips and dequantisation noise (options) are random
augmentations drawn at access time.

**Held-out split** (``holdout``):

- ``'region'`` (default): along each photo's longer side the last ``holdout_fraction`` (25 %) is
  the *test* region and the rest the *train* region; crops never straddle the boundary, so train
  and test crops share no pixel, while both cover every photo. A pair's two views do not line
  up pixel for pixel (stereo disparity, a change of viewpoint), so a pair is not cut: it goes
  whole to the test split when it is held out (``graf``) and whole to the train split otherwise.
- ``'photo'``: whole contents are held out (:data:`HELD_OUT_PHOTOS`): ``chelsea``, ``flower`` and
  ``grace_hopper`` of the 11, and of the extended set ``board``, ``butterfly``, ``fruits`` and the
  pair ``graf1``/``graf3`` (4 of its 14 contents, drawn once with
  ``numpy.random.default_rng(22).permutation`` over the sorted content names, before any run).
  Without the package: 3 test and 8 train photos, as before the extended set existed; with it:
  8 test photos (7 contents) and 22 train photos (18 contents).

Without ``opencv-doc`` (or with ``QAGEN_BUILTIN_PHOTOS=classic``) every split, crop and number is
what it was before the extended set; with it, a photo is drawn among 30 instead of 11, so the
crops (and every result trained on ``builtin``) differ, and the run records which photographs it
used (the quality-map evaluation lists its contents).

Split ``'all'`` crops from the whole of every photo (train and test regions together), as
``'all'`` does for CIFAR-10 and CelebA; the full QAGAN and Banach-WGAN presets train on it.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.transforms import ImagePostprocess, resize_uint8, to_uint8_chw
from qagen.errors import InputError, UnknownNameError

__all__ = [
    "BuiltinPhotoDataset",
    "BUILTIN_PHOTOS",
    "CLASSIC_PHOTOS",
    "HELD_OUT_PHOTOS",
    "OPENCV_PHOTOS",
    "PHOTO_PAIRS",
    "builtin_photo_names",
    "describe_builtin_photos",
    "load_builtin_photo",
    "opencv_data_dir",
    "photo_content",
]

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


#: Where Debian's opencv-doc package puts OpenCV's samples/data (``QAGEN_OPENCV_DATA`` overrides).
OPENCV_DATA_DIR = Path("/usr/share/doc/opencv-doc/examples/data")

#: The extended set: name -> file in :func:`opencv_data_dir` (the natural colour photographs of
#: OpenCV's samples/data; pic1-6, synthetic shapes, are left out).
OPENCV_PHOTOS: dict[str, str] = {
    "baboon": "baboon.jpg",
    "fruits": "fruits.jpg",
    "butterfly": "butterfly.jpg",
    "building": "building.jpg",
    "home": "home.jpg",
    "board": "board.jpg",
    "aero1": "aero1.jpg",
    "aero3": "aero3.jpg",
    "messi5": "messi5.jpg",
    "squirrel_cls": "squirrel_cls.jpg",
    "smarties": "smarties.png",
    "leuvenA": "leuvenA.jpg",
    "leuvenB": "leuvenB.jpg",
    "aloeL": "aloeL.jpg",
    "aloeR": "aloeR.jpg",
    "rubberwhale1": "rubberwhale1.png",
    "rubberwhale2": "rubberwhale2.png",
    "graf1": "graf1.png",
    "graf3": "graf3.png",
}

#: Stereo and sequence pairs: content name -> its photographs (one content, never split).
PHOTO_PAIRS: dict[str, tuple[str, ...]] = {
    "aero": ("aero1", "aero3"),  # two aerial views of one town (OpenCV's stitching sample)
    "aloe": ("aloeL", "aloeR"),  # Middlebury stereo pair
    "leuven": ("leuvenA", "leuvenB"),  # one street under two exposures
    "rubberwhale": ("rubberwhale1", "rubberwhale2"),  # Middlebury optical-flow frames
    "graf": ("graf1", "graf3"),  # one wall from two viewpoints (Mikolajczyk's graf)
}
_PAIR_OF = {photo: pair for pair, photos in PHOTO_PAIRS.items() for photo in photos}


def opencv_data_dir() -> Path:
    """``$QAGEN_OPENCV_DATA`` when set, else :data:`OPENCV_DATA_DIR`."""
    env = os.environ.get("QAGEN_OPENCV_DATA", "").strip()
    return Path(env).expanduser() if env else OPENCV_DATA_DIR


def _opencv(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from PIL import Image

        with Image.open(opencv_data_dir() / OPENCV_PHOTOS[name]) as im:
            return np.asarray(im.convert("RGB"))

    return load


#: name -> loader returning an H x W x 3 uint8 array (the 11 packaged photos, then the extended
#: set, which is used only where its files exist: :func:`builtin_photo_names`)
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

#: The 11 photographs of Python packages qagen depends on (always used).
CLASSIC_PHOTOS = tuple(BUILTIN_PHOTOS)
BUILTIN_PHOTOS.update({name: _opencv(name) for name in OPENCV_PHOTOS})

#: Photos held out for the test split with ``holdout='photo'`` (and the quality-map validation
#: split): 3 of the 11, and 4 of the extended set's 14 contents (a pair counts once); the latter
#: only where the package is installed.
HELD_OUT_PHOTOS = ("chelsea", "flower", "grace_hopper", "board", "butterfly", "fruits", "graf1",
                   "graf3")  # fmt: skip

_MODES = ("auto", "classic")


def photo_content(name: str) -> str:
    """The content a photograph belongs to: its pair's name (:data:`PHOTO_PAIRS`) or itself."""
    return _PAIR_OF.get(name, name)


def builtin_photo_names() -> list[str]:
    """The photographs the ``builtin`` source uses, in order: the 11 of :data:`CLASSIC_PHOTOS`,
    then those of :data:`OPENCV_PHOTOS` whose file is in :func:`opencv_data_dir` (none with
    ``QAGEN_BUILTIN_PHOTOS=classic``)."""
    mode = os.environ.get("QAGEN_BUILTIN_PHOTOS", "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise InputError(f"QAGEN_BUILTIN_PHOTOS must be 'auto' or 'classic', got {mode!r}")
    names = list(CLASSIC_PHOTOS)
    if mode == "auto":
        folder = opencv_data_dir()
        names += [n for n, f in OPENCV_PHOTOS.items() if (folder / f).is_file()]
    return names


def describe_builtin_photos(names: Sequence[str] | None = None) -> str:
    """One line: how many photographs (and contents) of which origin, and their names."""
    names = builtin_photo_names() if names is None else list(names)
    extended = [n for n in names if n in OPENCV_PHOTOS]
    contents = len({photo_content(n) for n in names})
    origin = f"{len(names) - len(extended)} packaged with scikit-image, scikit-learn, matplotlib"
    if extended:
        origin += f" + {len(extended)} of opencv-doc ({opencv_data_dir()})"
    elif os.environ.get("QAGEN_BUILTIN_PHOTOS", "").strip().lower() == "classic":
        origin += "; opencv-doc's 19 left out by QAGEN_BUILTIN_PHOTOS=classic"
    else:
        origin += "; opencv-doc's 19 not found (apt-get install opencv-doc adds them)"
    return (f"built-in photographs: {len(names)} ({contents} contents; {origin}): "
            + ", ".join(names))  # fmt: skip


_LOGGED: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        _log.info(message)


_SPLIT_IDS = {"train": 0, "test": 1, "all": 2}
_DEFAULT_LENGTH = {"train": 10_000, "test": 1_000, "all": 11_000}
#: photo (extended set: name@folder) -> its pixels, or None when it could not be read
_CACHE: dict[str, torch.Tensor | None] = {}
_CACHE_LOCK = threading.Lock()


def load_builtin_photo(name: str) -> torch.Tensor | None:
    """The photo ``name`` as a ``3 x H x W`` uint8 tensor (cached), or ``None`` if unavailable."""
    if name not in BUILTIN_PHOTOS:
        raise UnknownNameError("built-in photo", name, BUILTIN_PHOTOS)
    key = f"{name}@{opencv_data_dir()}" if name in OPENCV_PHOTOS else name
    with _CACHE_LOCK:
        if key not in _CACHE:
            try:
                _CACHE[key] = to_uint8_chw(BUILTIN_PHOTOS[name]())
            except Exception as exc:  # missing package or data file
                _log.warning("built-in photo %r is unavailable and is skipped: %s", name, exc)
                _CACHE[key] = None
        return _CACHE[key]


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

        names = list(photos) if photos is not None else builtin_photo_names()
        if split != "all":
            held = set(HELD_OUT_PHOTOS)
            # 'photo': whole contents; 'region': the pairs go whole to one side (never cut)
            names = [n for n in names if (holdout == "region" and n not in _PAIR_OF)
                     or (n in held) == (split == "test")]  # fmt: skip
        regions: list[tuple[str, tuple[int, int, int, int]]] = []
        for name in names:
            img = load_builtin_photo(name)
            if img is None:
                continue
            region = self._region(img.shape[-2], img.shape[-1], name)
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
        if photos is None:
            _log_once(describe_builtin_photos())

    def _region(self, h: int, w: int, name: str = "") -> tuple[int, int, int, int]:
        """(top, left, height, width) of this split's region of the ``h x w`` photo ``name``
        (a photo of a pair: the whole photo, its pair being on one side only)."""
        if self.holdout == "photo" or self.split == "all" or name in _PAIR_OF:
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
