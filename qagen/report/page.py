"""Rendering a list of sections into one self-contained HTML page (Jinja2, autoescape on).

The layout is ``templates/page.html`` (header, navigation over the top-level sections, the
sections, a footer) with the block macros of ``templates/blocks.html`` and the style sheet
``templates/style.css``; the templates are package data of ``qagen.report``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from qagen.errors import InputError, InputTypeError
from qagen.files import write_atomic
from qagen.report.blocks import Block, Details, Gallery, Section

__all__ = ["environment", "render_page", "write_page"]

_ENV: Any = None

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_CODE = re.compile(r"`([^`]+)`")
#: a superscript as LaTeX writes it, ``W^{-3/2,2}`` (the Sobolev space of the QAGAN slides)
_SUP = re.compile(r"\^\{([^{}]+)\}")


def inline_marks(text: object) -> Markup:
    """``text`` escaped, then ``**bold**``, ``*italic*``, ```code``` and ``^{superscript}``
    turned into tags (the marks are applied to already escaped text, so no markup can be
    injected)."""
    s = str(escape(str(text)))
    codes: list[str] = []

    def keep(m: re.Match) -> str:  # code spans are left untouched by the other marks
        codes.append(m.group(1))
        return f"\x00{len(codes) - 1}\x00"

    s = _CODE.sub(keep, s)
    s = _BOLD.sub(r"<b>\1</b>", s)
    s = _ITALIC.sub(r"<i>\1</i>", s)
    s = _SUP.sub(r"<sup>\1</sup>", s)
    s = re.sub("\x00(\\d+)\x00", lambda m: f"<code>{codes[int(m.group(1))]}</code>", s)
    return Markup(s)


def environment() -> Any:
    """The Jinja2 environment of the report templates (autoescape on, created once)."""
    global _ENV
    if _ENV is None:
        from jinja2 import Environment, PackageLoader, StrictUndefined

        _ENV = Environment(
            loader=PackageLoader("qagen.report", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=False,
            lstrip_blocks=False,
        )
        _ENV.filters["inline"] = inline_marks
    return _ENV


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "section"


def _assign_ids(blocks: Sequence[Block], used: set[str]) -> None:
    for b in blocks:
        if isinstance(b, Section):
            base = b.id or _slug(b.title)
            sid, k = base, 2
            while sid in used:
                sid, k = f"{base}-{k}", k + 1
            used.add(sid)
            b.id = sid
            _assign_ids(b.blocks, used)
        elif isinstance(b, (Details, Gallery)):
            _assign_ids(getattr(b, "blocks", []), used)


def _meta_pairs(meta: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> list[tuple]:
    if meta is None:
        return []
    pairs = list(meta.items()) if isinstance(meta, Mapping) else [tuple(p) for p in meta]
    if any(len(p) != 2 for p in pairs):
        raise InputError("meta must be a mapping or a sequence of (key, value) pairs")
    return [(str(k), str(v)) for k, v in pairs]


def render_page(
    title: str,
    sections: Sequence[Section],
    *,
    subtitle: str | None = None,
    meta: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
) -> str:
    """The HTML text of a page: ``title`` (h1), an optional ``subtitle`` (inline marks
    allowed) and ``meta`` line (key: value pairs), a navigation bar over the top-level
    ``sections``, the sections, and a footer naming the qagen version and the time.

    Every text is escaped; images are data URIs, so the page loads nothing from outside.
    Sections without ``id`` get one from their title (unique on the page).
    """
    sections = list(sections)
    bad = [type(s).__name__ for s in sections if not isinstance(s, Section)]
    if bad:
        raise InputTypeError(f"render_page takes Section objects, got {', '.join(bad)}")
    _assign_ids(sections, set())
    from qagen._version import __version__

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    return (
        environment()
        .get_template("page.html")
        .render(
            title=str(title),
            subtitle=subtitle,
            meta=_meta_pairs(meta),
            sections=sections,
            footer=f"written by qagen {__version__} at {now}",
        )
    )


def write_page(
    path: str | Path,
    title: str,
    sections: Sequence[Section],
    *,
    subtitle: str | None = None,
    meta: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
) -> Path:
    """Render the page (:func:`render_page`) and write it to ``path`` atomically
    (:func:`qagen.files.write_atomic`); parent folders are created. Returns the path."""
    return write_atomic(path, render_page(title, sections, subtitle=subtitle, meta=meta))
