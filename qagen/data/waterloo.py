"""Pristine image sets, the Waterloo Exploration Database layout, and distorted sets on disk.

* :func:`list_pristine`: every readable image of a folder of pristine images (corrupt files are
  skipped with ONE warning naming them; a folder without a readable image is an error).
* :func:`read_waterloo`: the Waterloo Exploration Database (Ma et al., IEEE TIP 2017) as
  distributed: ``ROOT/pristine_images/NNNNN.bmp`` (4,744 images, ``00001.bmp`` ..
  ``04744.bmp``; the database's evaluation code reads the same files from ``ROOT/images``,
  which is accepted too). The 94,880 distorted images are made by the database's
  ``distortion_generator.m`` from those files; where a copy of them exists, it is read from
  ``ROOT/distort_images/<type>/<type>_<NNNNN>_<level>.<ext>`` (or ``distorted_images``), the
  layout used by public code that works with the release, with the type folders ``gblur``,
  ``gnoise`` (= ``wn``), ``jpg``/``jpeg`` and ``jp2k``; otherwise qagen's generator
  (:mod:`qagen.data.distortions`) makes them.
* :func:`distort_folder` (``qagen distort FOLDER --out DIR``): every pristine image of a folder
  distorted at every (type, level), written as PNG under ``DIR/<type>/<name>_<level>.png`` with
  ``DIR/manifest.csv``; :func:`read_manifest` reads it back. Images too small for the scores
  of the manifest or for the JPEG 2000 rate are skipped before any work, with ONE warning
  naming them (:func:`too_small_images`), as corrupt files are.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from qagen.data.distortions import DISTORTION_TYPES, distort_uint8, parse_levels, parse_types
from qagen.errors import InputError
from qagen.files import atomic_folder, atomic_path
from qagen.io import IMAGE_EXTENSIONS, list_images, read_image_file

__all__ = [
    "MANIFEST_COLUMNS",
    "ManifestRow",
    "WaterlooDatabase",
    "WaterlooDistorted",
    "distort_folder",
    "list_pristine",
    "load_uint8",
    "read_manifest",
    "read_waterloo",
    "scores_min_size",
    "too_small_images",
]

_log = logging.getLogger("qagen.data")

#: Columns of ``manifest.csv`` (``bpp``: achieved bits per pixel of jpeg/jp2k, empty otherwise).
MANIFEST_COLUMNS = (
    "reference", "distorted", "type", "level", "seed", "psnr", "ssim", "ms_ssim", "gmsd", "fsim",
    "bpp",
)  # fmt: skip

#: Type folder names of distorted copies of the Waterloo database -> qagen's type names.
WATERLOO_TYPE_FOLDERS = {"gblur": "gblur", "gnoise": "wn", "wn": "wn", "jpg": "jpeg",
                         "jpeg": "jpeg", "jp2k": "jp2k"}  # fmt: skip
_MAX_NAMED = 10


def load_uint8(path: str | Path) -> np.ndarray:
    """An image file as an ``H x W x 3`` uint8 array (grey repeated, alpha dropped; 16-bit files
    mapped by ``round(v * 255 / 65535)``). Unreadable files raise
    :class:`qagen.errors.InputError` naming the file."""
    img = read_image_file(path, dtype=torch.float64)
    v = img.values[0]
    if img.white != 255:
        v = torch.round(v * (255.0 / img.white))
    arr = v.clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def _named(bad: Sequence[tuple[Path, object]]) -> str:
    """``path (why); ...`` for the first files of ``bad``, and how many more."""
    shown = [f"{p} ({e})" for p, e in bad[:_MAX_NAMED]]
    more = f"; and {len(bad) - _MAX_NAMED} more" if len(bad) > _MAX_NAMED else ""
    return "; ".join(shown) + more


def list_pristine(folder: str | Path, *, recursive: bool = False, check: bool = True) -> list[Path]:
    """The readable image files of ``folder`` (sorted; ``recursive`` descends into subfolders).

    ``check``: every file's header and checksums are verified (``PIL.Image.verify``); corrupt
    files are skipped with one warning naming them. Errors (:class:`qagen.errors.InputError`
    / ``FileNotFoundError``): the folder does not exist, holds no image file, or none is
    readable.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"pristine image folder '{root}' does not exist or is not a folder")
    files = list_images(root, recursive=recursive)
    if not files:
        raise InputError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in '{root}'"
            + ("" if recursive else " (subfolders are not searched)")
        )
    if not check:
        return files
    from PIL import Image

    good, bad = [], []
    for p in files:
        try:
            with Image.open(p) as im:
                im.verify()
            good.append(p)
        except Exception as exc:  # Pillow raises many types for corrupt files
            bad.append((p, exc))
    if bad and not good:
        raise InputError(
            f"no readable image in '{root}': all {len(bad)} file(s) are corrupt ({_named(bad)})"
        )
    if bad:
        _log.warning("skipped %d unreadable image file(s) in %s: %s", len(bad), root, _named(bad))
    return good


# ----------------------------------------------------------------------------- Waterloo layout


@dataclass(frozen=True)
class WaterlooDistorted:
    """A distorted image of a copy of the database: pristine ``reference``, file ``path``."""

    reference: Path
    path: Path
    kind: str
    level: int


@dataclass
class WaterlooDatabase:
    """The pristine images of the database and, when a distorted copy exists, its files."""

    root: Path
    pristine: list[Path]
    distorted: list[WaterlooDistorted] = field(default_factory=list)


_DIST_NAME = re.compile(r"^(?P<type>[a-z0-9]+)_(?P<id>[^_]+)_(?P<level>[1-5])$", re.IGNORECASE)


def read_waterloo(root: str | Path, *, check: bool = True) -> WaterlooDatabase:
    """Read the Waterloo Exploration Database under ``root`` (layout: module docstring).

    The pristine images are those of ``ROOT/pristine_images`` (or ``ROOT/images``); corrupt ones
    are skipped with a warning. Distorted copies under ``ROOT/distort_images`` or
    ``ROOT/distorted_images`` are matched to their pristine image by number. A root in another
    layout raises :class:`qagen.errors.InputError` naming what was expected.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Waterloo Exploration Database root '{root}' does not exist")
    folder = next((root / n for n in ("pristine_images", "images") if (root / n).is_dir()), None)
    if folder is None:
        raise InputError(
            f"'{root}' is not the Waterloo Exploration Database: expected the folder "
            f"'{root / 'pristine_images'}' with 00001.bmp .. 04744.bmp (found: "
            f"{', '.join(sorted(p.name for p in root.iterdir())[:8]) or 'nothing'}); for any other "
            "folder of pristine images use the spec folder:PATH"
        )
    pristine = list_pristine(folder, check=check)
    by_id = {p.stem: p for p in pristine}
    distorted: list[WaterlooDistorted] = []
    for name in ("distort_images", "distorted_images"):
        droot = root / name
        if not droot.is_dir():
            continue
        for sub in sorted(droot.iterdir()):
            kind = WATERLOO_TYPE_FOLDERS.get(sub.name.lower())
            if not sub.is_dir() or kind is None:
                continue
            for f in list_images(sub, recursive=False):
                m = _DIST_NAME.match(f.stem)
                if m and m.group("id") in by_id:
                    distorted.append(
                        WaterlooDistorted(by_id[m.group("id")], f, kind, int(m.group("level")))
                    )
    return WaterlooDatabase(root=root, pristine=pristine, distorted=distorted)


# ----------------------------------------------------------------------------- distorted sets


@dataclass(frozen=True)
class ManifestRow:
    """One line of ``manifest.csv``: paths (``distorted`` relative to the manifest's folder in
    the file, absolute here), type, level, seed and the full-reference scores of the distorted
    image against its reference (``nan`` where a metric does not apply, e.g. MS-SSIM below 161
    px). ``bpp``: achieved bits per pixel (jpeg, jp2k), else ``nan``."""

    reference: Path
    distorted: Path
    type: str
    level: int
    seed: int
    psnr: float
    ssim: float
    ms_ssim: float
    gmsd: float
    fsim: float
    bpp: float = math.nan


def _scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """PSNR, SSIM, MS-SSIM, GMSD and FSIM of distorted ``x`` against ``y`` (8-bit values,
    ``data_range=255``, float64: each metric at its MATLAB parity)."""
    from qagen.iqa import fsim, gmsd, ms_ssim, psnr, ssim

    out = {
        "psnr": float(psnr(x, y, data_range=255.0)),
        "ssim": float(ssim(x, y, data_range=255.0)),
        "gmsd": float(gmsd(x, y, data_range=255.0)),
        "fsim": float(fsim(x, y, data_range=255.0)),
    }
    out["ms_ssim"] = (
        float(ms_ssim(x, y, data_range=255.0)) if min(x.shape[-2:]) >= 161 else math.nan
    )
    return out


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else repr(float(v))


def _save_png(arr: np.ndarray, path: Path) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


#: The metrics of the manifest that need a minimum image size (MS-SSIM is left empty below its).
_SCORED = ("psnr", "ssim", "gmsd", "fsim")
#: Below this many pixels the JPEG 2000 rate is checked before any work (the encoder meets the
#: rate from about 256 x 256 pixels up: twice that leaves a margin for odd shapes).
_JP2K_CHECK_PIXELS = 2 * 256 * 256


def scores_min_size() -> int:
    """The smallest height and width the manifest's scores accept (from the metric registry)."""
    from qagen.iqa.registry import get

    return max(get(name).min_size for name in _SCORED)


def too_small_images(
    files: Sequence[Path], kinds: Sequence[str], levels: Sequence[int]
) -> list[tuple[Path, str]]:
    """The files of ``files`` that :func:`distort_folder` cannot distort and score, each with
    why: smaller than :func:`scores_min_size` (read from the file's header), or, with ``jp2k``
    among ``kinds``, a rate of ``levels`` that the encoder cannot reach on the image (tried on
    images under :data:`_JP2K_CHECK_PIXELS` pixels at the lowest rate asked for)."""
    from PIL import Image

    need = scores_min_size()
    out: list[tuple[Path, str]] = []
    for p in files:
        with Image.open(p) as im:
            w, h = im.size
        if min(h, w) < need:
            out.append((p, f"{w} x {h} px; the scores need at least {need} x {need}"))
        elif "jp2k" in kinds and h * w < _JP2K_CHECK_PIXELS:
            try:
                distort_uint8(load_uint8(p), "jp2k", max(levels))
            except InputError:
                out.append((p, f"{w} x {h} px; JPEG 2000 cannot reach the rate of level "
                               f"{max(levels)} on it"))  # fmt: skip
    return out


def distort_folder(
    folder: str | Path,
    out: str | Path,
    *,
    types: str | Sequence[str] | None = None,
    levels: str | Sequence[int] | None = None,
    seed: int = 0,
    recursive: bool = False,
    progress: bool = False,
) -> list[ManifestRow]:
    """Distort every pristine image of ``folder`` at every (type, level) into ``out``.

    Writes ``out/<type>/<name>_<level>.png`` (8-bit PNG, lossless) and ``out/manifest.csv`` with
    the columns :data:`MANIFEST_COLUMNS` (``reference`` absolute, ``distorted`` relative to
    ``out``). The white noise of image ``i`` (in sorted order) at level ``l`` is seeded with
    ``seed + 100 * i + l`` (recorded in the ``seed`` column). Nothing is written half: the images
    go to a temporary folder beside ``out`` that becomes ``out`` only when every image is done
    (any error removes it). ``out`` must not exist yet or be empty. Corrupt files of ``folder``,
    and images too small to be distorted and scored (:func:`too_small_images`), are skipped
    before any work with a warning naming them; when none is left, an error.
    """
    kinds = parse_types(types)
    lvls = parse_levels(levels)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out} already exists and is not empty; choose a new folder")
    files = list_pristine(folder, recursive=recursive)
    small = too_small_images(files, kinds, lvls)
    if small:
        if len(small) == len(files):
            raise InputError(f"no image in '{folder}' is large enough to distort: {_named(small)}")
        _log.warning("skipped %d image(s) too small to distort in %s: %s", len(small), folder,
                     _named(small))  # fmt: skip
        skipped = {p for p, _ in small}
        files = [p for p in files if p not in skipped]
    stems = [
        p.relative_to(Path(folder)).with_suffix("").as_posix().replace("/", "__") for p in files
    ]
    if len(set(stems)) != len(stems):
        raise InputError(f"two images of {folder} have the same name without extension")
    rows: list[ManifestRow] = []
    jobs = [(i, k, lv) for i in range(len(files)) for k in kinds for lv in lvls]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="img", desc="distorting", file=sys.stderr)
    try:
        with atomic_folder(out) as stage:  # out is empty (checked above)
            for k in kinds:
                (stage / k).mkdir(parents=True, exist_ok=True)
            for i, (path, stem) in enumerate(zip(files, stems, strict=True)):
                ref = load_uint8(path)
                y = torch.from_numpy(ref).permute(2, 0, 1)[None].to(torch.float64)
                for k in kinds:
                    for lv in lvls:
                        s = seed + 100 * i + lv
                        try:
                            dist, bpp = distort_uint8(ref, k, lv, s)
                        except InputError as err:
                            raise InputError(f"{path}: {err}") from None
                        rel = Path(k) / f"{stem}_{lv}.png"
                        _save_png(dist, stage / rel)
                        x = torch.from_numpy(dist).permute(2, 0, 1)[None].to(torch.float64)
                        rows.append(ManifestRow(
                            reference=path.resolve(), distorted=(out / rel).resolve(), type=k,
                            level=lv, seed=s, bpp=bpp[0] if bpp else math.nan, **_scores(x, y),
                        ))  # fmt: skip
                        if bar is not None:
                            bar.update(1)
            _write_manifest(stage / "manifest.csv", rows, out)
    finally:
        if bar is not None:
            bar.close()
    return rows


def _write_manifest(path: Path, rows: Sequence[ManifestRow], base: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(MANIFEST_COLUMNS)
        for r in rows:
            rel = r.distorted.relative_to(base.resolve()).as_posix()
            w.writerow([
                str(r.reference), rel, r.type, r.level, r.seed, _fmt(r.psnr), _fmt(r.ssim),
                _fmt(r.ms_ssim), _fmt(r.gmsd), _fmt(r.fsim), _fmt(r.bpp),
            ])  # fmt: skip


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """The rows of a ``manifest.csv`` written by :func:`distort_folder` (``path``: the file or
    its folder); distorted paths are resolved against the manifest's folder. A missing file or
    column raises :class:`qagen.errors.InputError`."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {path}")
    rows = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MANIFEST_COLUMNS[:-1] if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path} lacks the column(s) {', '.join(missing)}")
        for line in reader:

            def num(key: str, line: dict = line) -> float:
                v = line.get(key, "")
                return float(v) if v not in ("", None) else math.nan

            kind = line["type"]
            if kind not in DISTORTION_TYPES:
                raise InputError(f"{path}: unknown distortion type {kind!r}")
            rows.append(ManifestRow(
                reference=Path(line["reference"]), distorted=(path.parent / line["distorted"]).resolve(),
                type=kind, level=int(line["level"]), seed=int(line["seed"]), psnr=num("psnr"),
                ssim=num("ssim"), ms_ssim=num("ms_ssim"), gmsd=num("gmsd"), fsim=num("fsim"),
                bpp=num("bpp"),
            ))  # fmt: skip
    return rows
