"""User-facing text cites papers, the authors' files and docs/, never the private design notes.

``REFERENCE.md`` is a design document outside the repository: a docstring, preset comment or
page that cites it (``REFERENCE 3.2.3``, ``REFERENCE.md §6``) sends the reader to a file they do
not have. Lowercase uses ("reference images", ``reference_data``) are not matched.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATTERN = re.compile(r"\bREFERENCE(\.md)?\b")
SKIP_DIRS = {"__pycache__"}


def _text_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in ("qagen", "docs"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and not SKIP_DIRS.intersection(path.parts):
                files.append(path)
    return files


def _read_text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None  # binary resource (weights, arrays)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_citation_of_the_private_reference_document():
    hits = []
    for path in _text_files():
        text = _read_text(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            if PATTERN.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not hits, (
        "cite the paper, the authors' file or docs/*.md instead of REFERENCE.md:\n"
        + "\n".join(hits)
    )


def test_the_pattern_matches_only_the_document_name():
    assert PATTERN.search("defaults (REFERENCE 4.1)")
    assert PATTERN.search("summarised in REFERENCE.md 3.5")
    assert not PATTERN.search("the reference images and reference_data")
    assert not PATTERN.search("FULL_REFERENCE = sorted(names)")
