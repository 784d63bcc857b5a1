"""Reading, listing and writing images as tensors (the CLI, the demo, data folders, tests).

``read_image`` returns a float tensor ``1 x C x H x W`` on the 0-255 scale, the convention of the
MATLAB references: score it with ``data_range=255``. 8-bit files give their values exactly;
16-bit files (grey and colour PNG, grey TIFF) keep their full range, mapped linearly onto 0-255
(never clipped); files without a defined white level are refused with a clear error. Palette
images with a grey palette (GIF) decode to one channel. An alpha channel is never mixed into
the values: :func:`read_image_file` returns it apart (``ImageFile.alpha``), and
:func:`write_image` writes grey, grey + alpha, RGB or RGBA at 8 or 16 bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from qagen.errors import InputError

#: Image file extensions qagen reads from folders (case-insensitive): one set everywhere.
IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pnm",
)


def list_images(
    root: str | Path, recursive: bool = True, extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> list[Path]:
    """Sorted image paths under ``root`` with one of ``extensions`` (hidden files skipped)."""
    root = Path(root)
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    it = root.rglob("*") if recursive else root.glob("*")
    return sorted(
        p
        for p in it
        if p.suffix.lower() in exts
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


#: Bits per sample of the Pillow modes qagen reads, and their white level 2^bits - 1.
_MODE_BITS = {
    "1": 1, "L": 8, "P": 8, "LA": 8, "PA": 8, "RGB": 8, "RGBA": 8, "RGBX": 8, "CMYK": 8,
    "YCbCr": 8, "LAB": 8, "HSV": 8, "I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16,
}  # fmt: skip


@dataclass(frozen=True)
class ImageFile:
    """An image file decoded at its own bit depth.

    ``values``: ``1 x C x H x W`` float tensor of the stored integer values (0 .. ``white``);
    ``bits``: bits per sample of the file (1, 8 or 16); ``white``: ``2**bits - 1``;
    ``alpha``: the file's alpha channel, ``1 x 1 x H x W`` on the same scale, or ``None``.
    """

    values: torch.Tensor
    bits: int
    white: int
    alpha: torch.Tensor | None = None


def _is_grey_palette(img: Image.Image) -> bool:
    pal = img.getpalette()
    if pal is None:
        return False
    rgb = np.asarray(pal, dtype=np.int64).reshape(-1, 3)
    return bool(np.all(rgb[:, 0] == rgb[:, 1]) and np.all(rgb[:, 1] == rgb[:, 2]))


def _png_header(path: Path) -> tuple[int, int, int] | None:
    """(bit depth, colour type, interlace) of a PNG file, or None for other formats."""
    with open(path, "rb") as fh:
        head = fh.read(29)
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24], head[25], head[28]


def _read_png16_colour(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A 16-bit RGB(A) or grey+alpha PNG as ``H x W x C`` uint16 (Pillow keeps only 8 bits)
    and its ``H x W`` alpha channel (``None`` without one).

    Decoded with pypng (PNG specification, ISO/IEC 15948).
    """
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, planes)
    if info.get("alpha"):
        return arr[..., :-1], arr[..., -1]
    return arr, None


def _alpha(img: Image.Image) -> np.ndarray | None:
    """The ``H x W`` alpha channel of a Pillow image (RGBA, LA, PA, or a palette or grey
    image with a transparency entry), or ``None``."""
    if img.mode in ("RGBA", "LA", "PA") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info
    ):
        return np.asarray(img.convert("RGBA"))[..., 3]
    return None


def _decode(path: Path, mode: str | None) -> tuple[np.ndarray, int, np.ndarray | None]:
    """(``H x W`` or ``H x W x 3`` integer array, bits per sample, ``H x W`` alpha or
    ``None``) of an image file."""
    header = _png_header(path)
    alpha = None
    if header is not None and header[0] == 16 and header[1] in (2, 4, 6):
        arr, alpha = _read_png16_colour(path)  # RGB, grey+alpha or RGBA at 16 bits
        bits = 16
    else:
        img = Image.open(path)
        img.load()
        bits = _MODE_BITS.get(img.mode)
        if bits is None:
            raise InputError(
                f"{path}: Pillow image mode {img.mode!r} has no defined white level (32-bit "
                "integer or floating-point samples); qagen reads 1-, 8- and 16-bit images. "
                "Save the image as an 8- or 16-bit PNG/TIFF with the range you intend"
            )
        if bits == 8:
            alpha = _alpha(img)
        if bits == 16:
            arr = np.asarray(img).astype(np.uint16)
        elif img.mode == "1" or img.mode == "L":
            arr = np.asarray(img.convert("L"))
            bits = 8
        elif img.mode in ("P", "PA") and _is_grey_palette(img):
            arr = np.asarray(img.convert("L"))
        elif img.mode == "LA":
            arr = np.asarray(img.convert("L"))
        else:
            arr = np.asarray(img.convert("RGB"))
    if mode == "L" and arr.ndim == 3:
        if bits != 8:
            raise InputError(
                f"{path}: mode='L' on a {bits}-bit colour image would need a colour conversion "
                "qagen does not do silently; read it as RGB and convert with qagen.color.to_gray"
            )
        arr = np.asarray(Image.fromarray(arr).convert("L"))
    elif mode == "RGB" and arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    return arr, bits, alpha


def read_image_file(
    path: str | Path, dtype: torch.dtype = torch.float64, mode: str | None = None
) -> ImageFile:
    """Decode an image file at its own bit depth (see :class:`ImageFile`).

    1-bit files give 0/255 (Pillow's 8-bit view); 8-bit files their values; 16-bit files (grey
    PNG/TIFF through Pillow, colour PNG through pypng) their 0-65535 values. Modes without a
    defined white level (32-bit integer, floating point) raise :class:`qagen.errors.InputError`.
    ``mode`` forces ``"L"`` (grey; 8-bit colour is converted as Pillow's ``convert('L')``,
    ITU-R 601-2 luma, rounded) or ``"RGB"`` (grey repeated); by default grey files give one channel.
    An alpha channel (RGBA, grey + alpha, a transparent palette entry) is returned apart as
    ``alpha``, at the file's bit depth; the values never include it.
    """
    path = Path(path)
    if mode not in (None, "L", "RGB"):
        raise InputError(f"mode must be None, 'L' or 'RGB', got {mode!r}")
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        arr, bits, alpha = _decode(path, mode)
    except InputError:
        raise
    except Exception as exc:  # Pillow and pypng raise many types for corrupt files
        raise InputError(f"cannot read image {path}: {exc}") from exc
    t = torch.from_numpy(arr.astype(np.float64 if bits == 16 else arr.dtype, copy=True)).to(dtype)
    t = t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
    a = None
    if alpha is not None:
        a = torch.from_numpy(alpha.astype(np.float64, copy=True)).to(dtype)[None, None]
    return ImageFile(values=t.unsqueeze(0), bits=bits, white=(1 << bits) - 1, alpha=a)


def read_image(
    path: str | Path, dtype: torch.dtype = torch.float64, mode: str | None = None
) -> torch.Tensor:
    """Read an image file as a ``1 x C x H x W`` tensor on the 0-255 scale (score it with
    ``data_range=255``).

    8-bit files give their values exactly; 16-bit files (grey or colour PNG, grey TIFF) are
    mapped linearly, ``v * 255 / 65535``, without rounding or clipping, so their full range and
    precision are kept. Files without a defined white level raise
    :class:`qagen.errors.InputError` (never a silent conversion). Use :func:`read_image_file`
    for the stored values and bit depth. ``mode``: see :func:`read_image_file`.
    """
    img = read_image_file(path, dtype=dtype, mode=mode)
    if img.bits == 8 or img.bits == 1:
        return img.values
    return img.values * (255.0 / img.white)


def write_image(
    x: torch.Tensor, path: str | Path, data_range: float = 1.0, *, bits: int = 8
) -> None:
    """Write a ``C x H x W`` or ``1 x C x H x W`` tensor in ``[0, data_range]`` as an image file:
    ``C`` = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), the last channel of 2 and 4 being
    the alpha channel. ``bits=8`` (any format Pillow writes: PNG, JPEG, ...; rounded to
    ``0..255``) or ``bits=16`` (PNG only, written with pypng; rounded to ``0..65535``)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"x must hold one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 2, 3, 4):
        raise InputError(f"x must be C x H x W with C = 1, 2, 3 or 4, got {tuple(x.shape)}")
    if bits not in (8, 16):
        raise InputError(f"bits must be 8 or 16, got {bits}")
    path = Path(path)
    if bits == 16 and path.suffix.lower() != ".png":
        raise InputError(f"{path}: 16-bit images are written as PNG (a .png file name)")
    white = (1 << bits) - 1
    v = x.detach().double().cpu().clamp(0, data_range) / data_range * white
    arr = v.round().to(torch.int32).permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    c = arr.shape[2]
    if bits == 16:
        import png

        writer = png.Writer(arr.shape[1], arr.shape[0], greyscale=c in (1, 2),
                            alpha=c in (2, 4), bitdepth=16)  # fmt: skip
        with open(path, "wb") as fh:
            writer.write(fh, arr.astype(np.uint16).reshape(arr.shape[0], -1))
        return
    arr = arr.astype(np.uint8)
    Image.fromarray(arr[..., 0] if c == 1 else arr).save(path)
