"""Distorted images with their SSIM maps (the quality-map paper's data) and with scores.

The protocol of Zhou, Guo & Dasari (*Image-to-Image Translation to learn SSIM Quality Map*,
section IV-A): pristine images, each distorted with the Waterloo Exploration generator at four
types x five levels (:mod:`qagen.data.distortions`), the pristine image over-sampled x5 with an
all-ones target map (500 x 5 x 5 images for 500 contents), a content-disjoint split 80/20 by
pristine image, SSIM maps precomputed once and cropped with the same window as the image
(256 x 256 random crops for training, centre crops for validation).

* **Sources** (``spec``): ``builtin`` (the packaged photographs of :mod:`qagen.data.builtin`; the
  validation contents are its held-out photos, ``chelsea``, ``flower`` and ``grace_hopper``, the
  training contents the other eight; where Debian's ``opencv-doc`` is installed, its 19
  photographs too, ``board``, ``butterfly``, ``fruits`` and the pair ``graf1``/``graf3`` held
  out: a stereo or sequence pair is one content, on one side of the split, with
  ``builtin_split="seeded"`` too), ``folder:PATH`` (any folder of pristine images) or
  ``waterloo:ROOT`` (:func:`qagen.data.waterloo.read_waterloo`; the database's own distorted
  copies are used where present). Folder and Waterloo contents are split 80/20 by a seeded
  permutation of the pristine images (``valid_fraction``, ``split_seed``); ``max_images`` takes
  a seeded subset first (the paper used 500 of the 4,744 Waterloo images).
* **Target map**: ``ssim_maps(dist, ref, data_range=255, padding="same")`` (Wang et al. 2004:
  11 x 11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, the grey Y channel of the 8-bit
  images, ``pad_mode`` replicate so the map has the image's size), float64, stored as float16
  (absolute rounding error <= 2^-11 near 1; ``map_dtype="float32"`` keeps float32).
* **Cache**: every distorted image and its map are computed once and stored under
  ``cache_dir`` (default ``$QAGEN_CACHE_DIR/qmap`` or ``~/.cache/qagen/qmap``) as ``.npy``
  files named by a SHA-256 of the pristine content (file bytes or photo pixels), the
  preprocessing, the type, level and noise seed, the generator version and the map settings;
  items are read back memory-mapped (only the crop is loaded). Nothing is recomputed per epoch:
  :attr:`QMapDataset.cache_stats` counts the entries found and computed when the dataset was
  built, and the training log says the hit rate.
* **Images smaller than the crop** are an error naming them (use a smaller ``crop``); when every
  pristine image is upscaled more than 4x by ``pristine_side`` (1 x 1 PNGs resized to 256 px),
  one warning says so (:func:`qagen.data.transforms.warn_if_all_upscaled`).

Items: ``(x, target, type_index, level)`` with ``x`` the ``3 x crop x crop`` float32 image in
[0, 1], ``target`` the ``1 x crop x crop`` SSIM map (or, with ``target="score"``, the SSIM of the
whole image as a 0-d float32: the built-in stand-in for a subjective score), ``type_index`` the
index in :data:`ITEM_TYPES` (``pristine`` last) and ``level`` (0 for pristine copies).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.distortions import (
    DISTORTION_TYPES,
    LEVELS,
    distort_uint8,
    parse_levels,
    parse_types,
)
from qagen.data.transforms import warn_if_all_upscaled
from qagen.errors import InputError, UnknownNameError
from qagen.files import atomic_path, write_json_atomic

__all__ = [
    "ITEM_TYPES",
    "QMapDataOptions",
    "QMapDataset",
    "QMapItem",
    "Pristine",
    "cache_root",
    "pristine_contents",
    "split_contents",
    "ssim_target_map",
]

_log = logging.getLogger("qagen.data")

#: Item kinds: the four distortion types, then the over-sampled pristine copies.
ITEM_TYPES = (*DISTORTION_TYPES, "pristine")
#: Version of the cached content (bump when the generator or the map definition changes).
CACHE_VERSION = "qmap-v1"
SPLITS = ("train", "valid", "all")


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$QAGEN_CACHE_DIR/qmap``, else ``~/.cache/qagen/qmap``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    base = os.environ.get("QAGEN_CACHE_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "qagen") / "qmap"


@dataclass
class QMapDataOptions:
    """How a quality-map (or distorted-score) dataset is made (``[hparams.data]``).

    ``types``/``levels``: the distortions (default all 4 x 5); ``oversample``: pristine copies
    per content with an all-ones map (paper: 5); ``valid_fraction``/``split_seed``: the
    content-disjoint split of folder and Waterloo sources; ``max_images``: a seeded subset of
    the pristine images (0: all; paper: 500); ``pristine_side``: resize every pristine image so
    its shorter side is this many pixels (antialiased bicubic; 0 keeps the size);
    ``distortion_seed``: base seed of the white noise; ``database_distortions``: use the Waterloo
    database's own distorted copies where present; ``cache_dir``; ``map_dtype``; ``pad_mode``
    of the SSIM map's 'same' filtering; ``builtin_split``: the built-in photos' held-out photos
    (default) or a seeded 80/20 split like the other sources.
    """

    types: tuple[str, ...] = DISTORTION_TYPES
    levels: tuple[int, ...] = LEVELS
    oversample: int = 5
    valid_fraction: float = 0.2
    split_seed: int = 0
    max_images: int = 0
    pristine_side: int = 0
    distortion_seed: int = 0
    database_distortions: bool = True
    cache_dir: str = ""
    map_dtype: Literal["float16", "float32"] = "float16"
    pad_mode: Literal["replicate", "symmetric", "reflect", "zeros"] = "replicate"
    #: the built-in photos' split: "held-out" (validation = qagen's held-out photos) or
    #: "seeded" (the seeded 80/20 split of the other sources, different for every split_seed)
    builtin_split: Literal["held-out", "seeded"] = "held-out"

    def validate(self) -> QMapDataOptions:
        self.types = parse_types(list(self.types))
        self.levels = parse_levels(list(self.levels))
        checks = [
            ("oversample", self.oversample >= 0, ">= 0"),
            ("valid_fraction", 0.0 < self.valid_fraction < 1.0, "in (0, 1)"),
            ("max_images", self.max_images >= 0, ">= 0 (0: all)"),
            ("pristine_side", self.pristine_side >= 0, ">= 0 (0: keep the size)"),
            ("map_dtype", self.map_dtype in ("float16", "float32"), "'float16' or 'float32'"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InputError(
                    f"hparams.data.{name} must be {expected}, got {getattr(self, name)!r}"
                )
        return self


# ----------------------------------------------------------------------------- contents


@dataclass
class Pristine:
    """One pristine content: ``name`` (unique), ``source`` (file or ``builtin:NAME``), ``key``
    (SHA-256 of the content and its preprocessing), ``size`` ``(H, W)`` after preprocessing,
    ``database`` ({(type, level): file} of the database's own distorted copies), ``load()``
    (``H x W x 3`` uint8) and ``original`` (``(H, W)`` before preprocessing; ``size`` when not
    known)."""

    name: str
    source: str
    key: str
    size: tuple[int, int]
    loader: Callable[[], np.ndarray] = field(repr=False)
    database: dict[tuple[str, int], Path] = field(default_factory=dict, repr=False)
    original: tuple[int, int] | None = None

    def described(self, side: int) -> str:
        """``"SOURCE (H x W px, resized to h x w by hparams.data.pristine_side = S)"``."""
        oh, ow = self.original or self.size
        resized = (
            f", resized to {self.size[0]} x {self.size[1]} by hparams.data.pristine_side = {side}"
            if (oh, ow) != self.size
            else ""
        )
        return f"{self.source} ({oh} x {ow} px{resized})"

    def load(self) -> np.ndarray:
        return self.loader()


def _resized(arr: np.ndarray, side: int) -> np.ndarray:
    if side <= 0 or min(arr.shape[:2]) == side:
        return arr
    from qagen.data.transforms import resize_uint8

    h, w = arr.shape[:2]
    s = side / min(h, w)
    size = (max(side, round(h * s)), max(side, round(w * s)))
    t = resize_uint8(torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))), size)
    return np.ascontiguousarray(t.numpy().transpose(1, 2, 0))


def _size_after(h: int, w: int, side: int) -> tuple[int, int]:
    if side <= 0 or min(h, w) == side:
        return h, w
    s = side / min(h, w)
    return max(side, round(h * s)), max(side, round(w * s))


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\x00")
    return h.hexdigest()


def _builtin_contents(side: int) -> list[Pristine]:
    from qagen.data.builtin import builtin_photo_names, load_builtin_photo

    out = []
    for name in builtin_photo_names():
        img = load_builtin_photo(name)
        if img is None:
            continue
        arr = np.ascontiguousarray(img.numpy().transpose(1, 2, 0))
        key = _sha("builtin", name, arr.tobytes(), f"side={side}")
        h, w = _size_after(*arr.shape[:2], side)
        out.append(Pristine(name, f"builtin:{name}", key, (h, w),
                            lambda a=arr: _resized(a, side), original=arr.shape[:2]))  # fmt: skip
    if not out:
        raise InputError("no built-in photo is available (install scikit-image, scikit-learn)")
    return out


def _file_contents(files: Sequence[Path], side: int, root: Path) -> list[Pristine]:
    from PIL import Image

    from qagen.data.waterloo import load_uint8

    out = []
    for p in files:
        with Image.open(p) as im:
            w, h = im.size
        key = _sha("file", p.read_bytes(), f"side={side}")
        name = p.relative_to(root).with_suffix("").as_posix() if p.is_relative_to(root) else p.stem
        out.append(Pristine(name, str(p), key, _size_after(h, w, side),
                            lambda p=p: _resized(load_uint8(p), side), original=(h, w)))  # fmt: skip
    return out


def _subset(files: list[Path], n: int, seed: int) -> list[Path]:
    if n <= 0 or n >= len(files):
        return files
    idx = np.random.default_rng([seed, 1]).permutation(len(files))[:n]
    return [files[i] for i in sorted(idx)]


def pristine_contents(spec: str, options: QMapDataOptions) -> list[Pristine]:
    """The pristine contents of a data spec (``builtin``, ``folder:PATH``, ``waterloo:ROOT``)."""
    from qagen.data.waterloo import list_pristine, read_waterloo

    if not isinstance(spec, str) or not spec:
        raise InputError("no data: pass --data builtin, folder:PATH or waterloo:ROOT")
    name, _, root = spec.partition(":")
    name = name.strip().lower()
    if name == "builtin":
        if root:
            raise InputError(f"the builtin data takes no path, got {spec!r}")
        return _builtin_contents(options.pristine_side)
    if name not in ("folder", "waterloo"):
        raise UnknownNameError("quality-map data source", name, ("builtin", "folder", "waterloo"))
    if not root:
        raise InputError(f"data source {name!r} needs a path: '{name}:PATH', got {spec!r}")
    path = Path(os.path.expandvars(root)).expanduser()
    if name == "folder":
        files = _subset(list_pristine(path), options.max_images, options.split_seed)
        return _file_contents(files, options.pristine_side, path)
    db = read_waterloo(path)
    folder = db.pristine[0].parent
    files = _subset(db.pristine, options.max_images, options.split_seed)
    contents = _file_contents(files, options.pristine_side, folder)
    if options.database_distortions and options.pristine_side == 0:
        by_ref: dict[Path, dict[tuple[str, int], Path]] = {}
        for d in db.distorted:
            by_ref.setdefault(d.reference, {})[(d.kind, d.level)] = d.path
        for c, f in zip(contents, files, strict=True):
            c.database = by_ref.get(f, {})
    return contents


def split_contents(
    contents: Sequence[Pristine], split: str, spec: str, options: QMapDataOptions
) -> list[Pristine]:
    """The contents of ``split`` (``train``, ``valid``, ``all``): the built-in photos split by
    :data:`qagen.data.builtin.HELD_OUT_PHOTOS`, other sources by a seeded 80/20 permutation
    (at least one content on each side). A built-in stereo or sequence pair
    (:data:`qagen.data.builtin.PHOTO_PAIRS`) is one content of the permutation: both photos
    fall on the same side (without pairs, the permutation is that of the photos)."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return list(contents)
    builtin = spec.strip().lower() == "builtin"
    if builtin and options.builtin_split == "held-out":
        from qagen.data.builtin import HELD_OUT_PHOTOS

        held = set(HELD_OUT_PHOTOS)
        return [c for c in contents if (c.name in held) == (split == "valid")]
    if builtin:
        from qagen.data.builtin import photo_content

        keys = [photo_content(c.name) for c in contents]
    else:
        keys = [str(i) for i in range(len(contents))]
    groups = list(dict.fromkeys(keys))  # the contents, in order of first appearance
    n = len(groups)
    if n < 2:
        raise InputError(f"a content-disjoint split needs at least 2 pristine images, got {n}")
    n_valid = min(n - 1, max(1, round(n * options.valid_fraction)))
    perm = np.random.default_rng([options.split_seed, 2]).permutation(n)
    picked = perm[:n_valid] if split == "valid" else perm[n_valid:]
    chosen = {groups[i] for i in picked.tolist()}
    return [c for c, k in zip(contents, keys, strict=True) if k in chosen]


# ----------------------------------------------------------------------------- maps and cache


def ssim_target_map(dist: np.ndarray, ref: np.ndarray, pad_mode: str = "replicate") -> torch.Tensor:
    """The SSIM map (``H x W`` float64) of two ``H x W x 3`` uint8 images: Wang et al. 2004,
    Gaussian 11 x 11, sigma 1.5, grey Y, data_range 255, 'same' padding (``pad_mode``)."""
    from qagen.iqa import ssim_maps

    x = torch.from_numpy(dist).permute(2, 0, 1)[None].to(torch.float64)
    y = torch.from_numpy(ref).permute(2, 0, 1)[None].to(torch.float64)
    return ssim_maps(x, y, 255.0, padding="same", pad_mode=pad_mode)[0][0, 0]


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)


def _save_json(path: Path, data: dict) -> None:
    write_json_atomic(path, data, indent=None)


@dataclass(frozen=True)
class QMapItem:
    """One item: content index (into :attr:`QMapDataset.contents`), ``kind`` (a distortion type
    or ``"pristine"``), ``level`` (0 for pristine), ``copy`` (pristine over-sampling index) and
    the cache files (``image`` ``H x W x 3`` uint8, ``map`` ``H x W``, ``meta`` JSON)."""

    content: int
    kind: str
    level: int
    copy: int
    image: Path
    map: Path | None
    meta: Path | None


class QMapDataset(Dataset):
    """Distorted crops with their SSIM maps (or whole-image SSIM scores); see the module
    docstring.

    ``spec``: ``builtin``, ``folder:PATH`` or ``waterloo:ROOT``; ``split``: ``train``, ``valid``
    or ``all``; ``crop``: side of the square crop (``None``: whole images, for batch size 1);
    ``random_crop``: uniform crop position drawn from torch's global generator (the trainer
    seeds it per sample), default for ``train``; otherwise the centre crop. ``target``:
    ``"map"`` or ``"score"``. ``progress``: a bar while the cache is filled.
    """

    def __init__(
        self,
        spec: str,
        split: str = "train",
        crop: int | None = 256,
        *,
        options: QMapDataOptions | None = None,
        random_crop: bool | None = None,
        target: Literal["map", "score"] = "map",
        progress: bool = False,
    ) -> None:
        self.options = (options or QMapDataOptions()).validate()
        if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
            raise InputError(f"crop must be a positive int or None, got {crop!r}")
        if target not in ("map", "score"):
            raise InputError(f"target must be 'map' or 'score', got {target!r}")
        self.spec, self.split, self.crop, self.target = spec, split, crop, target
        self.random_crop = (split == "train") if random_crop is None else bool(random_crop)
        all_contents = pristine_contents(spec, self.options)
        warn_if_all_upscaled([c.original or c.size for c in all_contents],
                             self.options.pristine_side, f"quality-map data {spec}",
                             "hparams.data.pristine_side")  # fmt: skip
        self.contents = split_contents(all_contents, split, spec, self.options)
        if not self.contents:
            raise InputError(f"the {split} split of {spec!r} holds no pristine image")
        if crop is not None:
            small = [c for c in self.contents if min(c.size) < crop]
            if small:
                shown = ", ".join(f"{c.source} ({c.size[0]} x {c.size[1]})" for c in small[:5])
                raise InputError(
                    f"{len(small)} pristine image(s) are smaller than the {crop} x {crop} crop: "
                    f"{shown}{' ...' if len(small) > 5 else ''}; use a smaller crop "
                    "(data.resolution) or a larger hparams.data.pristine_side, or remove them"
                )
        self.root = cache_root(self.options.cache_dir) / CACHE_VERSION
        self.items = self._plan()
        self.cache_stats = {"found": 0, "computed": 0}
        self._meta: dict[int, dict] = {}
        self._prepare(progress)

    # -- planning and filling the cache
    def _seed(self, content: Pristine, level: int) -> int:
        return int(
            _sha("wn-seed", str(self.options.distortion_seed), content.key, str(level))[:8], 16
        )

    def _paths(
        self, content: Pristine, kind: str, level: int
    ) -> tuple[Path, Path | None, Path | None]:
        if kind == "pristine":
            return self.root / content.key[:2] / f"{content.key}.pristine.npy", None, None
        db = content.database.get((kind, level))
        origin = (
            _sha("db", Path(db).read_bytes())
            if db is not None
            else f"seed={self._seed(content, level)}"
        )
        digest = _sha(CACHE_VERSION, content.key, kind, str(level), origin,
                      f"map={self.options.map_dtype},{self.options.pad_mode}")  # fmt: skip
        base = self.root / digest[:2] / digest
        return (base.with_name(base.name + ".img.npy"), base.with_name(base.name + ".map.npy"),
                base.with_name(base.name + ".json"))  # fmt: skip

    def _plan(self) -> list[QMapItem]:
        items = []
        for i, c in enumerate(self.contents):
            for kind in self.options.types:
                for level in self.options.levels:
                    items.append(QMapItem(i, kind, level, 0, *self._paths(c, kind, level)))
            img, _, _ = self._paths(c, "pristine", 0)
            items += [
                QMapItem(i, "pristine", 0, k, img, None, None)
                for k in range(self.options.oversample)
            ]
        return items

    def _prepare(self, progress: bool) -> None:
        todo = [it for it in self.items if not self._cached(it)]
        self.cache_stats["found"] = len(self.items) - len(todo)
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc=f"qmap data ({self.split}): distortions and SSIM maps",
                       unit="img", file=sys.stderr, dynamic_ncols=True)  # fmt: skip
        refs: dict[int, np.ndarray] = {}
        try:
            for it in todo:
                if self._cached(it):  # a pristine entry shared by the copies
                    continue
                c = self.contents[it.content]
                if it.content not in refs:
                    refs.clear()
                    refs[it.content] = c.load()
                ref = refs[it.content]
                if it.kind == "pristine":
                    _save_npy(it.image, ref)
                else:
                    self._compute(c, it, ref)
                self.cache_stats["computed"] += 1
                if bar is not None:
                    bar.update(1)
        finally:  # an error message then starts on a line of its own
            if bar is not None:
                bar.close()
        n = len(self.items)
        rate = self.cache_stats["found"] / n if n else 1.0
        self.cache_message = (
            f"qmap data {self.spec}/{self.split}: {n} items from {len(self.contents)} pristine "
            f"images ({', '.join(c.name for c in self.contents)}); SSIM-map cache {self.root}: "
            f"{self.cache_stats['found']} found, {self.cache_stats['computed']} computed (hit "
            f"rate {100 * rate:.0f}%)"
        )
        _log.info(self.cache_message)
        if progress:  # the command line shows it (the training log of the run)
            print(self.cache_message, file=sys.stderr)

    @staticmethod
    def _cached(it: QMapItem) -> bool:
        return all(p is None or p.is_file() for p in (it.image, it.map, it.meta))

    def _compute(self, c: Pristine, it: QMapItem, ref: np.ndarray) -> None:
        db = c.database.get((it.kind, it.level))
        bpp = None
        if db is not None:
            from qagen.data.waterloo import load_uint8

            dist = load_uint8(db)
            if dist.shape != ref.shape:
                raise InputError(
                    f"{db} is {dist.shape[:2]}, its pristine image {c.source} is {ref.shape[:2]}"
                )
        else:
            try:
                dist, rates = distort_uint8(ref, it.kind, it.level, self._seed(c, it.level))
            except InputError as err:
                side = self.options.pristine_side
                hint = (
                    "; keep the images larger (--set hparams.data.pristine_side=0 keeps their "
                    f"size{f', or a side above {side}' if side else ''}) or leave jp2k out "
                    "(hparams.data.types)"
                    if it.kind == "jp2k"
                    else ""
                )
                raise InputError(f"{c.described(side)}: {err}{hint}") from None
            bpp = rates[0] if rates else None
        m = ssim_target_map(dist, ref, self.options.pad_mode)
        # the whole image's SSIM (ssim_index.m: mean of the 'valid' map) = the mean of the
        # 'same' map's interior, where the 11 x 11 window lies inside the image
        meta = {"ssim": float(m[5:-5, 5:-5].mean()), "map_mean": float(m.mean()),
                "bpp": bpp, "source": c.source, "type": it.kind, "level": it.level,
                "database_file": str(db) if db is not None else None}  # fmt: skip
        _save_npy(it.image, dist)
        _save_npy(it.map, m.numpy().astype(self.options.map_dtype))
        _save_json(it.meta, meta)

    # -- access
    def __len__(self) -> int:
        return len(self.items)

    def meta(self, index: int) -> dict[str, Any]:
        """The item's content name, type, level, copy and (distorted items) the whole image's
        SSIM, map mean and achieved bits per pixel."""
        if index in self._meta:
            return dict(self._meta[index])
        it = self.items[index]
        out: dict[str, Any] = {"content": self.contents[it.content].name, "type": it.kind,
                               "level": it.level, "copy": it.copy}  # fmt: skip
        if it.meta is not None:
            out.update(json.loads(it.meta.read_text()))
        else:
            out.update({"ssim": 1.0, "map_mean": 1.0, "bpp": None})
        self._meta[index] = out
        return dict(out)

    def window(self, index: int) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of the item's crop (random: drawn from torch's global
        generator, so call it once per access)."""
        h, w = self.contents[self.items[index].content].size
        if self.crop is None:
            return 0, 0, h, w
        c = self.crop
        if self.random_crop:
            top = int(torch.randint(0, h - c + 1, ()).item())
            left = int(torch.randint(0, w - c + 1, ()).item())
        else:
            top, left = (h - c) // 2, (w - c) // 2
        return top, left, c, c

    def full(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The whole distorted image, its pristine image (``H x W x 3`` uint8) and the SSIM map
        (``H x W`` float32)."""
        it = self.items[index]
        dist = np.load(it.image)
        ref = np.load(self._paths(self.contents[it.content], "pristine", 0)[0]) if it.map else dist
        if it.map is None:
            return dist, ref, np.ones(dist.shape[:2], np.float32)
        return dist, ref, np.load(it.map).astype(np.float32)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        it = self.items[index]
        top, left, h, w = self.window(index)
        img = np.load(it.image, mmap_mode="r")[top : top + h, left : left + w]
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div_(255.0)
        if self.target == "score":
            y = torch.tensor(self.meta(index)["ssim"], dtype=torch.float32)
        elif it.map is None:
            y = torch.ones(1, h, w)
        else:
            m = np.load(it.map, mmap_mode="r")[top : top + h, left : left + w]
            y = torch.from_numpy(np.array(m, dtype=np.float32)).unsqueeze(0)
        return x, y, ITEM_TYPES.index(it.kind), it.level

    def __repr__(self) -> str:
        return (f"QMapDataset({self.spec!r}, split={self.split!r}, crop={self.crop}, "
                f"items={len(self.items)}, contents={len(self.contents)}, target={self.target!r})")  # fmt: skip
