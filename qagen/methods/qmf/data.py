"""Paired and labelled image datasets for image-to-image training (the QMF recipe):

=========================  ==================================================================
spec                       items
=========================  ==================================================================
``paired:PATH``            pix2pix ``A|B`` folders (edges2shoes, edges2handbags, ...): every
                           image holds the input A (left half) and the target B (right half)
``celeba-attr:ROOT``       aligned CelebA with ``list_attr_celeba.txt``: the image and its 40
                           (or the chosen) binary attributes
``fairface:ROOT``          FairFace with its CSV labels: the image and the one-hot race,
                           gender and age groups
``builtin-edges``          the built-in photo crops (:mod:`qagen.data.builtin`): Canny edges of
                           a crop (black on white) -> the crop
``builtin-restore``        the built-in photo crops: a Waterloo-distorted crop -> the crop
``fashion-edges[:ROOT]``   Fashion-MNIST (:mod:`qagen.data.fashion_mnist`): Canny edges of
                           the garment (black on white) -> the garment; ``fashion-edges:shoes``
                           and ``fashion-edges:bags`` are edges2shoes / edges2handbags at 28 px
=========================  ==================================================================

Every item is a :class:`PairedItem` ``(target, source, attributes, index)``: ``target`` is the
real image (first, so that code taking ``item[0]`` as "the real image", e.g. the evaluation,
works unchanged), ``source`` the generator's input (the image itself for attribute datasets),
``attributes`` a float vector of 0/1 labels (empty without labels), ``index`` the item's index
(fixed pairings, for QMF's previous-iteration maps). Images are float32 ``3 x R x R`` in
``value_range`` (``(-1, 1)`` by default), resized with antialiased bicubic.

Options go in the spec after ``?``: ``paired:PATH?direction=BtoA``,
``celeba-attr:ROOT?attributes=Black_Hair,Blond_Hair,Male``, ``fairface:ROOT?attributes=race``,
``fashion-edges:ROOT?subset=shoes`` (:func:`build_paired_dataset` lists the ``fashion-edges``
forms).
Bad input (an image that is not twice as wide as high in a paired folder, an attribute file
whose rows do not match the images, an unknown attribute name) raises
:class:`qagen.errors.InputError` when the dataset is built, before any training.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.builtin import BuiltinPhotoDataset
from qagen.data.fashion_mnist import FashionMNISTDataset
from qagen.data.standard import CelebADataset, DatasetNotFoundError
from qagen.data.transforms import ImagePostprocess, resize_shorter_center_crop, resize_uint8
from qagen.errors import InputError, UnknownNameError
from qagen.io import IMAGE_EXTENSIONS, list_images

__all__ = [
    "BuiltinPairedDataset",
    "CelebAAttributeDataset",
    "CELEBA_ATTRIBUTES",
    "FAIRFACE_GROUPS",
    "FairFaceDataset",
    "FASHION_EDGE_SIGMA",
    "FASHION_SUBSETS",
    "FashionEdgesDataset",
    "PairedFolderDataset",
    "PairedItem",
    "edge_image",
    "fashion_edge_map",
    "parse_options",
]


class PairedItem(NamedTuple):
    """One item of a paired/labelled dataset (module docstring)."""

    target: torch.Tensor
    source: torch.Tensor
    attributes: torch.Tensor
    index: torch.Tensor


def parse_options(spec_root: str, allowed: Sequence[str]) -> tuple[str, dict[str, str]]:
    """Split ``'PATH?key=value&key=value'`` into the path and its options (keys in ``allowed``)."""
    root, _, query = spec_root.partition("?")
    opts: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq:
            raise InputError(f"dataset option {part!r} must be written key=value")
        if key not in allowed:
            raise UnknownNameError("dataset option", key, allowed)
        opts[key] = value.strip()
    return root, opts


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


class _Base(Dataset):
    def __init__(self, resolution: int, value_range: Sequence[float]) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise InputError(f"resolution must be a positive int, got {resolution!r}")
        self.resolution = resolution
        self.post = ImagePostprocess(value_range)
        self.attribute_names: list[str] = []

    def raw_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(target uint8, source uint8, attributes float32)`` of item ``index``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> PairedItem:
        target, source, attrs = self.raw_pair(index)
        return PairedItem(
            self.post(target), self.post(source), attrs, torch.tensor(index, dtype=torch.long)
        )


# ---------------------------------------------------------------------------------------------
# pix2pix A|B folders


class PairedFolderDataset(_Base):
    """pix2pix paired folders: each file holds ``A|B`` side by side (width = 2 x height).

    ``root`` is the dataset folder (``edges2shoes/``); ``split`` selects ``root/<split>``
    (``train``, ``val``, ``test``) when that subfolder exists, else (``train``/``all``) the
    whole folder. ``direction='AtoB'`` (default; edges -> photos) makes A the source and B the
    target. Each half is resized to ``resolution`` (pix2pix's 286-resize-and-random-crop is not
    used; flips are applied by the recipe to both halves). Every file's size is checked when the
    dataset is built: an image that is not exactly twice as wide as high (an unpaired image)
    raises :class:`InputError` naming it.
    """

    def __init__(
        self,
        root: str | Path,
        resolution: int = 256,
        split: str = "train",
        *,
        direction: str = "AtoB",
        value_range: Sequence[float] = (-1.0, 1.0),
    ) -> None:
        super().__init__(resolution, value_range)
        if direction not in ("AtoB", "BtoA"):
            raise InputError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.direction = direction
        root = Path(root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"paired image folder '{root}' does not exist")
        if (root / split).is_dir():
            folder = root / split
        elif split in ("train", "all"):
            folder = root
        else:
            raise InputError(
                f"paired dataset: split {split!r} needs a subfolder '{root / split}' "
                "(pix2pix layout: train/, val/, test/)"
            )
        files = list_images(folder, True, IMAGE_EXTENSIONS)
        if not files:
            raise FileNotFoundError(f"no image files under '{folder}'")
        from PIL import Image

        for p in files:
            with Image.open(p) as im:
                w, h = im.size
            if w != 2 * h:
                raise InputError(
                    f"paired dataset: {p} is {w} x {h} pixels (width x height); a paired "
                    "pix2pix image holds A|B side by side and must be exactly twice as wide as "
                    "high (is this an unpaired image folder? use folder:PATH for those)"
                )
        self.root, self.folder, self.files = root, folder, files

    def __len__(self) -> int:
        return len(self.files)

    def raw_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from qagen.data.folder import _decode

        img = _decode(self.files[index])
        w = img.shape[-1] // 2
        a, b = img[..., :w], img[..., w:]
        a, b = (resize_uint8(t, self.resolution) for t in (a, b))
        src, tgt = (a, b) if self.direction == "AtoB" else (b, a)
        return tgt, src, torch.zeros(0)


# ---------------------------------------------------------------------------------------------
# CelebA attributes

#: The 40 attributes of ``list_attr_celeba.txt``, in the file's order.
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip


def read_celeba_attributes(
    path: Path, image_names: set[str]
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Parse ``list_attr_celeba.txt``: ``(attribute names, {file: values in {0, 1}})``.

    Layout: the number of images, the attribute names, then one row ``NAME v1 ... vK`` per image
    with ``v`` in {-1, 1} (0/1 accepted). Every row must name an image of ``image_names``, every
    image must have a row, and the count must match; otherwise :class:`InputError` names the
    first mismatching line.
    """
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise InputError(f"{path}: expected a count line and an attribute-name line")
    try:
        count = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise InputError(
            f"{path}, line 1: expected the number of images, got {lines[0]!r}"
        ) from None
    names = lines[1].split()
    rows: dict[str, np.ndarray] = {}
    for k, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise InputError(
                f"{path}, line {k}: expected an image name and {len(names)} values, got "
                f"{len(parts)} fields ({line[:60]!r})"
            )
        fname = parts[0]
        if fname not in image_names:
            raise InputError(
                f"{path}, line {k}: names {fname!r}, which is not among the {len(image_names)} "
                "images of the image folder (the attribute rows do not match the images)"
            )
        try:
            vals = np.array([int(v) for v in parts[1:]])
        except ValueError:
            raise InputError(f"{path}, line {k}: attribute values must be -1/1 or 0/1") from None
        if not np.isin(vals, (-1, 0, 1)).all():
            raise InputError(f"{path}, line {k}: attribute values must be -1/1 or 0/1")
        rows[fname] = (vals > 0).astype(np.float32)
    if len(rows) != count:
        raise InputError(
            f"{path}: line 1 announces {count} images but the file has {len(rows)} rows"
        )
    missing = sorted(image_names - rows.keys())
    if missing:
        more = f" (and {len(missing) - 1} more images)" if len(missing) > 1 else ""
        raise InputError(
            f"{path}: image {missing[0]}{more} of the image folder has no attribute row; the "
            "attribute rows do not match the images"
        )
    return names, rows


class CelebAAttributeDataset(_Base):
    """Aligned CelebA (:class:`qagen.data.CelebADataset`: centre crop 178, resize) with its
    binary attributes from ``list_attr_celeba.txt`` (beside ``img_align_celeba/`` or in
    ``Anno/``). ``attributes``: names to keep (default all 40, in the file's order); an unknown
    name raises :class:`qagen.errors.UnknownNameError`. Items: target = source = the image."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 64,
        *,
        attributes: Sequence[str] | None = None,
        crop_size: int = 178,
        value_range: Sequence[float] = (-1.0, 1.0),
    ) -> None:
        super().__init__(resolution, value_range)
        self.images = CelebADataset(root, split, resolution, crop_size=crop_size)
        base = self.images.img_dir.parent
        attr_file = next(
            (p for p in (base / "list_attr_celeba.txt", base / "Anno" / "list_attr_celeba.txt")
             if p.is_file()),
            None,
        )  # fmt: skip
        if attr_file is None:
            raise DatasetNotFoundError(
                f"list_attr_celeba.txt not found in {base} or {base / 'Anno'} (qagen never "
                "downloads data: get it with the aligned CelebA images)"
            )
        all_images = {p.name for p in self.images.img_dir.glob("*.jpg")}
        names, rows = read_celeba_attributes(attr_file, all_images)
        chosen = list(attributes) if attributes else list(names)
        for a in chosen:
            if a not in names:
                raise UnknownNameError("CelebA attribute", a, names)
        cols = [names.index(a) for a in chosen]
        self.attribute_names = chosen
        self.attr_file = attr_file
        self.labels = torch.from_numpy(
            np.stack([rows[p.name][cols] for p in self.images.files]).astype(np.float32)
        )

    def __len__(self) -> int:
        return len(self.images)

    def raw_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        img = self.images.raw(index)
        return img, img, self.labels[index]


# ---------------------------------------------------------------------------------------------
# FairFace

#: FairFace's label groups and their classes (``fairface_label_*.csv`` columns), one-hot encoded
#: in this order.
FAIRFACE_GROUPS: dict[str, tuple[str, ...]] = {
    "race": ("White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian",
             "Middle Eastern"),
    "gender": ("Male", "Female"),
    "age": ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"),
}  # fmt: skip

_FAIRFACE_SPLITS = {"train": ("train",), "val": ("val",), "test": ("val",), "all": ("train", "val")}


class FairFaceDataset(_Base):
    """FairFace (Kaerkkaeinen & Joo 2021): ``ROOT/fairface_label_{train,val}.csv`` (columns
    ``file, age, gender, race, ...``; ``file`` relative to ROOT, e.g. ``train/1.jpg``) and the
    images. ``split``: ``train``, ``val`` (also ``test``: FairFace has no test labels) or
    ``all``. ``attributes``: label groups to keep (default ``race, gender, age``), each one-hot
    (:data:`FAIRFACE_GROUPS`, 18 values for all three). A row whose image is missing or whose
    label is not a known class raises :class:`InputError` naming the file and line."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        resolution: int = 64,
        *,
        attributes: Sequence[str] | None = None,
        value_range: Sequence[float] = (-1.0, 1.0),
    ) -> None:
        super().__init__(resolution, value_range)
        if split not in _FAIRFACE_SPLITS:
            raise InputError(
                f"split must be one of {list(_FAIRFACE_SPLITS)} for FairFace, got {split!r}"
            )
        self.root = Path(root).expanduser()
        groups = list(attributes) if attributes else list(FAIRFACE_GROUPS)
        for g in groups:
            if g not in FAIRFACE_GROUPS:
                raise UnknownNameError("FairFace attribute group", g, FAIRFACE_GROUPS)
        self.groups = groups
        self.attribute_names = [f"{g}={c}" for g in groups for c in FAIRFACE_GROUPS[g]]
        files: list[Path] = []
        labels: list[np.ndarray] = []
        listing: dict[Path, set[str]] = {}

        def exists(p: Path) -> bool:
            if p.parent not in listing:
                d = p.parent
                listing[d] = {e.name for e in os.scandir(d)} if d.is_dir() else set()
            return p.name in listing[p.parent]

        for part in _FAIRFACE_SPLITS[split]:
            csv_path = self.root / f"fairface_label_{part}.csv"
            if not csv_path.is_file():
                raise DatasetNotFoundError(
                    f"FairFace labels {csv_path} not found (qagen never downloads data: place "
                    f"fairface_label_train.csv, fairface_label_val.csv, train/ and val/ in {self.root})"
                )
            with csv_path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                need = {"file", *groups}
                if not need <= set(reader.fieldnames or []):
                    raise InputError(
                        f"{csv_path}: expected the columns {sorted(need)}, got {reader.fieldnames}"
                    )
                for k, row in enumerate(reader, start=2):
                    rel = row["file"].strip()
                    p = self.root / rel
                    if not exists(p):
                        raise InputError(
                            f"{csv_path}, line {k}: image {rel!r} does not exist in {self.root} "
                            "(the label rows do not match the images)"
                        )
                    vec = []
                    for g in groups:
                        onehot = np.zeros(len(FAIRFACE_GROUPS[g]), np.float32)
                        value = row[g].strip()
                        if value not in FAIRFACE_GROUPS[g]:
                            raise InputError(
                                f"{csv_path}, line {k}: {g} {value!r} is not one of "
                                f"{list(FAIRFACE_GROUPS[g])}"
                            )
                        onehot[FAIRFACE_GROUPS[g].index(value)] = 1.0
                        vec.append(onehot)
                    files.append(p)
                    labels.append(np.concatenate(vec))
        if not files:
            raise DatasetNotFoundError(f"FairFace split {split!r} is empty under {self.root}")
        self.files = files
        self.labels = torch.from_numpy(np.stack(labels))

    def __len__(self) -> int:
        return len(self.files)

    def raw_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from qagen.data.folder import _decode

        img = resize_shorter_center_crop(_decode(self.files[index]), self.resolution)
        return img, img, self.labels[index]


# ---------------------------------------------------------------------------------------------
# built-in pairs


def edge_image(crop: torch.Tensor, sigma: float = 1.5) -> torch.Tensor:
    """Canny edges (scikit-image, ``sigma``, default thresholds) of the grey version of a
    ``3 x H x W`` uint8 image, drawn black (0) on white (255), as ``3 x H x W`` uint8 (the look of
    pix2pix's edges2* inputs)."""
    from skimage.feature import canny

    g = crop.double().permute(1, 2, 0).numpy() @ np.array([0.299, 0.587, 0.114]) / 255.0
    edges = canny(g, sigma=sigma)
    out = np.where(edges, 0, 255).astype(np.uint8)
    return torch.from_numpy(out)[None].expand(3, -1, -1).contiguous()


#: the distortions of ``builtin-restore`` (Waterloo Exploration generator; JPEG 2000 is left out:
#: its rate control is unreliable on 64 px crops) and the levels drawn from (1 mildest .. 5)
RESTORE_TYPES = ("gblur", "wn", "jpeg")
RESTORE_LEVELS = (1, 2, 3)


def _degrade(crop: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The distortion of ``builtin-restore``: one of :data:`RESTORE_TYPES` at one of
    :data:`RESTORE_LEVELS`, drawn uniformly from ``rng``, applied by the Waterloo Exploration
    generator (:func:`qagen.data.distortions.distort_uint8`; Ma et al., IEEE TIP 2017,
    ``distortion_generator.m``) to the uint8 ``C x H x W`` crop; the noise seed comes from ``rng``."""
    from qagen.data.distortions import distort_uint8

    kind = RESTORE_TYPES[int(rng.integers(len(RESTORE_TYPES)))]
    level = RESTORE_LEVELS[int(rng.integers(len(RESTORE_LEVELS)))]
    seed = int(rng.integers(2**31 - 1))
    hwc = np.ascontiguousarray(crop.permute(1, 2, 0).numpy())
    out, _ = distort_uint8(hwc, kind, level, seed)
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1).contiguous()


class BuiltinPairedDataset(_Base):
    """Pairs made from the built-in photo crops (:class:`qagen.data.BuiltinPhotoDataset`, same
    splits and determinism): ``kind='edges'`` (source = :func:`edge_image` of the crop) or
    ``'restore'`` (source = :func:`_degrade` of the crop, drawn from a generator seeded with
    ``(seed, split, index)``); the target is the crop."""

    _SPLIT = {"train": 0, "test": 1, "all": 2}

    def __init__(
        self,
        kind: str,
        resolution: int = 64,
        split: str = "train",
        *,
        seed: int = 0,
        length: int | None = None,
        value_range: Sequence[float] = (-1.0, 1.0),
        **builtin: Any,
    ) -> None:
        super().__init__(resolution, value_range)
        if kind not in ("edges", "restore"):
            raise InputError(f"kind must be 'edges' or 'restore', got {kind!r}")
        self.kind = kind
        self.photos = BuiltinPhotoDataset(resolution, split, seed=seed, length=length, **builtin)
        self.split, self.seed = split, int(seed)

    def __len__(self) -> int:
        return len(self.photos)

    def raw_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        crop = self.photos.raw(index)
        if self.kind == "edges":
            src = edge_image(crop)
        else:
            rng = np.random.default_rng([self.seed, self._SPLIT[self.split], index, 7])
            src = _degrade(crop, rng)
        return crop, src, torch.zeros(0)


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST edges -> garments

#: The Canny ``sigma`` of ``fashion-edges`` at 28 and 32 px (scaled by ``R / 32`` at other sizes).
#: Chosen by looking at the maps of both splits for sigma 0.5, 1.0, 1.25, 1.5 and 2.0: at 1.5 the
#: maps are closed outlines with the main inner lines (the gap between trouser legs, sleeves,
#: zips, bag handles, the sole of a shoe); at 1.0 and below the printed and knitted textures of
#: shirts, bags and boots add clutter, at 2.0 sleeves and trouser legs merge into blobs.
FASHION_EDGE_SIGMA = 1.5
#: The ``fashion-edges`` subsets: the classes they keep (:data:`qagen.data.fashion_mnist.CLASSES`).
FASHION_SUBSETS: dict[str, tuple[int, ...] | None] = {
    "all": None,
    "shoes": (5, 7, 9),  # Sandal, Sneaker, Ankle boot: edges2shoes
    "bags": (8,),  # Bag: edges2handbags
}


def fashion_edge_map(target: torch.Tensor, sigma: float = FASHION_EDGE_SIGMA) -> torch.Tensor:
    """The edge map of a Fashion-MNIST target (uint8 ``3 x R x R`` or ``R x R``, as
    :class:`~qagen.data.fashion_mnist.FashionMNISTDataset` returns it): Canny (scikit-image) of
    its grey image, drawn black (0) on white (255), as ``3 x R x R`` uint8 with only the values 0
    and 255.

    The edges are computed on the target itself, so they line up with it at every size: at 32 px
    Canny (``sigma``) runs on the padded image (2 px of black background on every side); 28 px is
    first padded the same way, so its map is exactly the inner 28 x 28 of the 32 px map; at other
    sizes it runs on the resized target with ``sigma x R / 32`` and scikit-image's default
    thresholds (0.1, 0.2) x 32 / R, so that the map is the 32 px one drawn finer. The image is
    padded with a further 2 px (at 32 px scale) of background first, because scikit-image's Canny
    never marks the outermost pixel: a garment that touches the frame keeps its outline there.
    Computing the edges after the padding gives the same map as computing them at 28 px and
    padding the map with white."""
    from skimage.feature import canny

    grey = target[0] if target.dim() == 3 else target
    size = grey.shape[-1]
    scale = 1.0 if size == 28 else size / 32
    pad = max(2, round(2 * scale)) + (2 if size == 28 else 0)
    g = np.pad(grey.numpy() / 255.0, pad)
    # the gradients of a resized image are 1 / scale as steep: thresholds scaled to match
    low, high = 0.1 / scale, 0.2 / scale  # scikit-image's defaults for images in [0, 1]
    edges = canny(g, sigma * scale, low, high, mode="nearest")[pad:-pad, pad:-pad]
    out = np.where(edges, 0, 255).astype(np.uint8)
    return torch.from_numpy(out)[None].expand(3, -1, -1).contiguous()


class FashionEdgesDataset(_Base):
    """Fashion-MNIST as an edges -> image task (edges2shoes / edges2handbags at CPU scale):
    source = :func:`fashion_edge_map` of the item, target = the item of
    :class:`~qagen.data.fashion_mnist.FashionMNISTDataset` (grey on three channels; 32 px =
    2 px of black padding). ``root`` is the folder of the four IDX files (``None``: Debian's
    package ``dataset-fashion-mnist``), ``split`` ``train`` (60,000), ``test`` (10,000) or
    ``all``, ``classes`` keeps some classes (indices or names, as ``?classes=`` of
    ``fashion-mnist``). The edges are computed per item when it is read, without a cache: about
    0.5 ms at 28, 32 or 64 px (0.5-0.7 s per 1,000 items on one core, reading the items
    included). ``labels`` holds the classes."""

    #: the targets are grey (R = G = B): :func:`qagen.data.build.dataset_is_grey`
    grey = True

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        resolution: int = 32,
        *,
        classes: str | Sequence[int | str] | None = None,
        sigma: float = FASHION_EDGE_SIGMA,
        value_range: Sequence[float] = (-1.0, 1.0),
    ) -> None:
        super().__init__(resolution, value_range)
        self.images = FashionMNISTDataset(root, split, resolution, classes=classes)
        self.labels, self.split, self.sigma = self.images.labels, split, float(sigma)

    def __len__(self) -> int:
        return len(self.images)

    def raw_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        target = self.images.raw(index)
        return target, fashion_edge_map(target, self.sigma), torch.zeros(0)

    def describe(self) -> dict[str, Any]:
        """The Fashion-MNIST description plus the edge maps'."""
        return {
            **self.images.describe(),
            "source": f"Canny edges, sigma {self.sigma:g}, black on white",
        }


def _fashion_edges(root: str, resolution: int, split: str, kwargs: dict) -> FashionEdgesDataset:
    path, opts = parse_options(root, ("subset", "classes"))
    path = path.strip()
    if path.lower() in FASHION_SUBSETS:  # 'fashion-edges:shoes'; a folder so named: './shoes'
        if "subset" in opts:
            twice = f"{path!r} and {opts['subset']!r}"
            raise InputError(f"fashion-edges: subset given twice ({twice})")
        path, opts["subset"] = "", path.lower()
    subset = opts.get("subset", "all").lower()
    if subset not in FASHION_SUBSETS:
        raise InputError(
            f"fashion-edges subset {subset!r} is not one of {', '.join(FASHION_SUBSETS)}"
        )
    if "classes" in opts and subset != "all":
        raise InputError("fashion-edges takes a subset or ?classes=..., not both")
    classes = opts.get("classes", FASHION_SUBSETS[subset])
    for key in ("flip", "dequantize", "seed"):
        kwargs.pop(key, None)
    path = os.path.expanduser(os.path.expandvars(path)) if path else None
    return FashionEdgesDataset(path, split, resolution, classes=classes, **kwargs)


# ---------------------------------------------------------------------------------------------
# the specs


def build_paired_dataset(
    name: str, root: str, resolution: int, split: str, **kwargs: Any
) -> Dataset:
    """The dataset of a paired spec (``paired``, ``celeba-attr``, ``fairface``,
    ``builtin-edges``, ``builtin-restore``, ``fashion-edges``); ``root`` may carry ``?options``.

    ``fashion-edges`` (:class:`FashionEdgesDataset`) reads Fashion-MNIST from Debian's package
    ``dataset-fashion-mnist`` or from ``ROOT``: ``fashion-edges`` (all ten classes),
    ``fashion-edges:shoes`` (Sandal, Sneaker, Ankle boot), ``fashion-edges:bags`` (Bag),
    ``fashion-edges:ROOT``, ``fashion-edges:ROOT?subset=shoes``, ``fashion-edges?subset=bags``,
    ``fashion-edges:ROOT?classes=0,Dress`` (:data:`FASHION_SUBSETS`; a folder named ``shoes``,
    ``bags`` or ``all`` is written ``./shoes``). Splits: ``train``, ``test``, ``all``."""
    if name == "fashion-edges":
        return _fashion_edges(root, resolution, split, kwargs)
    if name in ("builtin-edges", "builtin-restore"):
        if root:
            raise InputError(f"the {name} dataset takes no path, got {root!r}")
        kwargs.pop("flip", None), kwargs.pop("dequantize", None)
        return BuiltinPairedDataset(name.split("-")[1], resolution, split, **kwargs)
    allowed = {
        "paired": ("direction",),
        "celeba-attr": ("attributes",),
        "fairface": ("attributes",),
    }
    path, opts = parse_options(root, allowed[name])
    if not path:
        raise InputError(f"dataset {name!r} needs a path: '{name}:ROOT'")
    path = os.path.expanduser(os.path.expandvars(path))
    value_range = kwargs.get("value_range", (-1.0, 1.0))
    if name == "paired":
        return PairedFolderDataset(path, resolution, split, value_range=value_range,
                                   direction=opts.get("direction", "AtoB"))  # fmt: skip
    attrs = _names(opts["attributes"]) if "attributes" in opts else None
    if name == "celeba-attr":
        return CelebAAttributeDataset(path, split, resolution, attributes=attrs,
                                      value_range=value_range)  # fmt: skip
    return FairFaceDataset(path, split, resolution, attributes=attrs, value_range=value_range)


#: The spec names of :func:`build_paired_dataset`.
PAIRED_SPECS = (
    "paired", "celeba-attr", "fairface", "builtin-edges", "builtin-restore", "fashion-edges",
)  # fmt: skip
