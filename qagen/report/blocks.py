"""The building blocks of a report page: sections holding paragraphs, tables and figures.

Every block is a small dataclass; :func:`qagen.report.render_page` turns a list of
:class:`Section` objects into one self-contained HTML page. Text is always escaped (the page
template runs Jinja2 with autoescape), so a ``<script>`` in a configuration value or a metric
name appears as text. :class:`Paragraph` allows three inline marks, applied *after* escaping:
``**bold**``, ``*italic*`` and ```code```.

Table cells and key/value values may be numbers (formatted by :func:`format_value`: integers
as they are, floats to ``digits`` significant digits, NaN/Inf flagged), strings, ``None`` (an
em dash) or :class:`Missing` (an em dash whose tooltip gives the reason), booleans (yes/no),
lists and dicts (JSON), or a :class:`Cell` for emphasis and tooltips.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qagen.errors import InputError, InputTypeError

__all__ = [
    "Block",
    "Cell",
    "Details",
    "Figure",
    "Gallery",
    "KeyValues",
    "Missing",
    "Paragraph",
    "Preformatted",
    "Section",
    "Table",
    "format_value",
]

#: The em dash shown for a value that does not exist.
DASH = "\u2014"


@dataclass(frozen=True)
class Missing:
    """A value that could not be computed: shown as an em dash, ``reason`` as its tooltip."""

    reason: str = ""


@dataclass(frozen=True)
class Cell:
    """A table cell with options: ``strong`` (bold), ``title`` (tooltip), ``tone`` (``"good"``,
    ``"bad"`` or ``"muted"``: green, red or grey text) and ``digits`` for a float."""

    value: Any
    title: str | None = None
    strong: bool = False
    tone: str | None = None
    digits: int | None = None

    def __post_init__(self) -> None:
        if self.tone not in (None, "good", "bad", "muted"):
            raise InputError(f"Cell tone must be 'good', 'bad', 'muted' or None, got {self.tone!r}")


def format_value(value: Any, digits: int = 5) -> str:
    """The text of a value in a table: ``None`` -> em dash, bool -> yes/no, int as is, float to
    ``digits`` significant digits (``nan``/``inf`` as such), list/dict as JSON, else ``str``."""
    if value is None or isinstance(value, Missing):
        return DASH
    if hasattr(value, "__html__"):  # marked-up text (qagen.report.inline_marks) stays as it is
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


@dataclass(frozen=True)
class _Rendered:
    """A cell ready for the template: text, tooltip, CSS classes."""

    text: str
    title: str | None
    classes: str


def _render_cell(value: Any, digits: int) -> _Rendered:
    title, strong, tone = None, False, None
    if isinstance(value, Cell):
        title, strong, tone = value.title, value.strong, value.tone
        digits = value.digits if value.digits is not None else digits
        value = value.value
    classes = []
    if isinstance(value, Missing):
        title = title or value.reason or None
        classes.append("missing")
    elif value is None:
        classes.append("missing")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        classes.append("num")
        if isinstance(value, float) and not math.isfinite(value):
            tone = "bad"
    if strong:
        classes.append("strong")
    if tone:
        classes.append(tone)
    return _Rendered(format_value(value, digits), title, " ".join(classes))


class Block:
    """Base class of the blocks (``kind`` names the template macro)."""

    kind = ""


@dataclass
class Paragraph(Block):
    """Text, escaped; ``**bold**``, ``*italic*`` and ```code``` marks are kept. ``note=True``
    renders it smaller and grey (explanations under a table or figure)."""

    text: str
    note: bool = False
    kind = "paragraph"


@dataclass
class KeyValues(Block):
    """A two-column table of ``(key, value)`` rows (values formatted like table cells);
    ``columns=2`` puts two pairs side by side (long lists such as hyper-parameters)."""

    rows: Sequence[tuple[str, Any]] | Mapping[str, Any]
    caption: str | None = None
    columns: int = 1
    digits: int = 5
    kind = "keyvalues"

    def __post_init__(self) -> None:
        if isinstance(self.rows, Mapping):
            self.rows = list(self.rows.items())
        self.rows = [tuple(r) for r in self.rows]
        if any(len(r) != 2 for r in self.rows):
            raise InputError("KeyValues rows must be (key, value) pairs")
        if self.columns not in (1, 2, 3):
            raise InputError(f"KeyValues columns must be 1, 2 or 3, got {self.columns}")

    def grid(self) -> list[list[tuple[str, _Rendered] | None]]:
        """Rows of the rendered table: ``columns`` pairs per row, column-major order."""
        pairs = [(str(k), _render_cell(v, self.digits)) for k, v in self.rows]
        height = math.ceil(len(pairs) / self.columns) if pairs else 0
        out: list[list[tuple[str, _Rendered] | None]] = []
        for i in range(height):
            row: list[tuple[str, _Rendered] | None] = []
            for c in range(self.columns):
                j = c * height + i
                row.append(pairs[j] if j < len(pairs) else None)
            out.append(row)
        return out


@dataclass
class Table(Block):
    """A table: ``header`` (column titles), ``rows`` (sequences of cells), an optional
    ``caption`` above it (what it shows, which way is better) and ``notes`` below it (one
    string or several). Numbers are right-aligned and formatted to ``digits`` significant
    digits."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str | None = None
    notes: str | Sequence[str] | None = None
    digits: int = 5
    kind = "table"

    def __post_init__(self) -> None:
        self.header = [str(h) for h in self.header]
        self.rows = [list(r) for r in self.rows]
        for i, r in enumerate(self.rows):
            if len(r) != len(self.header):
                raise InputError(
                    f"Table row {i} has {len(r)} cells, the header has {len(self.header)}"
                )
        if isinstance(self.notes, str):
            self.notes = [self.notes]
        self.notes = list(self.notes or [])

    def rendered_rows(self) -> list[list[_Rendered]]:
        return [[_render_cell(c, self.digits) for c in r] for r in self.rows]


#: PNG (or JPEG, GIF, WebP, SVG) bytes, an image file, or a matplotlib Figure.
ImageSource = Any

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
         ".svg": "image/svg+xml", ".webp": "image/webp"}  # fmt: skip


def _sniff(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.lstrip()[:5] in (b"<?xml", b"<svg ") or data.lstrip()[:4] == b"<svg":
        return "image/svg+xml"
    raise InputError("Figure image bytes are not PNG, JPEG, GIF, WebP or SVG")


def image_data_uri(image: ImageSource) -> str:
    """``data:`` URI of PNG (or JPEG/GIF/WebP/SVG) bytes, an image file, or a matplotlib
    Figure (saved as PNG and closed)."""
    if isinstance(image, (bytes, bytearray)):
        data, mime = bytes(image), _sniff(bytes(image))
    elif isinstance(image, (str, Path)):
        p = Path(image)
        if not p.is_file():
            raise FileNotFoundError(f"Figure image file not found: {p}")
        data = p.read_bytes()
        mime = _MIME.get(p.suffix.lower()) or _sniff(data)
    elif hasattr(image, "savefig"):
        from qagen.report.plots import figure_png

        data, mime = figure_png(image), "image/png"
    else:
        raise InputTypeError(
            "Figure image must be image bytes, a path or a matplotlib Figure, got "
            f"{type(image).__name__}"
        )
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass
class Figure(Block):
    """An image embedded in the page as a data URI (the page stays self-contained).

    ``image``: PNG bytes, a file path or a matplotlib Figure (converted, then closed).
    ``caption`` says what it shows and which way is better; ``alt`` defaults to the caption;
    ``width`` in CSS pixels; ``pixelated`` keeps small images sharp when enlarged."""

    image: ImageSource
    caption: str
    alt: str | None = None
    width: int | None = None
    pixelated: bool = False
    kind = "figure"
    src: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.src = image_data_uri(self.image)
        self.image = None  # the data URI holds it; do not keep a matplotlib figure alive
        if self.alt is None:
            self.alt = self.caption
        if self.width is not None and int(self.width) <= 0:
            raise InputError(f"Figure width must be positive, got {self.width}")


@dataclass
class Gallery(Block):
    """Several :class:`Figure` objects side by side (wrapping), with an optional caption."""

    figures: Sequence[Figure]
    caption: str | None = None
    kind = "gallery"

    def __post_init__(self) -> None:
        self.figures = list(self.figures)
        bad = [type(f).__name__ for f in self.figures if not isinstance(f, Figure)]
        if bad:
            raise InputTypeError(f"Gallery takes Figure objects, got {', '.join(bad)}")


@dataclass
class Preformatted(Block):
    """Verbatim text (a configuration file, a log); ``summary`` makes it collapsible."""

    text: str
    summary: str | None = None
    kind = "preformatted"


@dataclass
class Details(Block):
    """Blocks hidden behind a ``summary`` line until clicked (protocol records, long tables)."""

    summary: str
    blocks: Sequence[Block]
    kind = "details"

    def __post_init__(self) -> None:
        self.blocks = _check_blocks(self.blocks, f"Details {self.summary!r}")


@dataclass
class Section(Block):
    """A titled part of the page; ``blocks`` may hold nested sections. ``id`` is the anchor
    (default: derived from the title, made unique on the page)."""

    title: str
    blocks: Sequence[Block] = ()
    id: str | None = None
    kind = "section"

    def __post_init__(self) -> None:
        self.blocks = _check_blocks(self.blocks, f"Section {self.title!r}")


def _check_blocks(blocks: Sequence[Any], where: str) -> list[Block]:
    if isinstance(blocks, Block):
        blocks = [blocks]
    out = []
    for b in blocks:
        if isinstance(b, str):
            b = Paragraph(b)
        if not isinstance(b, Block):
            raise InputTypeError(
                f"{where}: blocks must be Paragraph, KeyValues, Table, Figure, Gallery, "
                f"Preformatted, Details or Section objects (or str), got {type(b).__name__}"
            )
        out.append(b)
    return out
