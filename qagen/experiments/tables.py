"""Writing an experiment's results: ``table.json``, ``table.csv``, ``table.md`` and ``report.html``.

``table.json``::

    {"experiment", "paper", "table", "budget", "protocol": {...}, "columns": [...],
     "column_notes": {col: text}, "rows": [{"label", "ours": {col: value|null},
     "paper": {col: value|null}, "ours_std": {...}, "paper_std": {...}, "runs": [...],
     "note"}], "qagen_version", "written"}

A cell we could not compute is ``null`` and its reason is in the row's ``note`` (never a made-up
number). ``table.csv`` has one line per row with ``<col>_ours``, ``<col>_ours_std``,
``<col>_paper``, ``<col>_paper_std`` and ``note``; ``table.md`` shows ``ours`` beside
``paper`` for every column.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qagen.experiments.base import Experiment, ExperimentContext, Row, RunSpec
from qagen.files import write_atomic, write_json_atomic


def typed_digits(v: float) -> int:
    """The significant digits of ``v`` as written (``0.105``: 3, ``12.4697``: 6): a paper's
    value is shown with all the digits it was typed with, never rounded."""
    mantissa = repr(float(v)).lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return max(1, len(mantissa))


def _num(
    v: float | str | None, std: float | None = None, digits: int = 4, *, typed: bool = False
) -> str:
    """A cell of ``table.md``: ours to ``digits`` significant digits (std to 2), or with
    ``typed=True`` (the paper's) value and spread with the digits they were typed with."""
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # counts (e.g. parameters) in full
    if typed:
        text = f"{v:.{typed_digits(v)}g}"
        return text if std is None else f"{text} ± {std:.{typed_digits(std)}g}"
    text = f"{v:.{digits}g}"
    return f"{text} ± {std:.2g}" if std is not None else text


def _note_parts(row: Row, columns: Sequence[str]) -> list[str]:
    """The row's note, then the reason of every null cell of ours (once per distinct reason)."""
    parts = [row.note] if row.note else []
    by_reason: dict[str, list[str]] = {}
    for col in columns:
        cell = row.ours.get(col)
        if cell is None:
            by_reason.setdefault("not computed by this experiment", []).append(col)
        elif cell.value is None:
            by_reason.setdefault(cell.reason or "not computed", []).append(col)
    return parts + [f"{', '.join(cols)}: {reason}" for reason, cols in by_reason.items()]


def _row_note(row: Row, columns: Sequence[str]) -> str:
    return "; ".join(_note_parts(row, columns))


def _shared_notes(rows: Sequence[Row], columns: Sequence[str]) -> list[str]:
    """Each distinct note part once, with the rows it applies to ("all rows" when it is every row)."""
    where: dict[str, list[str]] = {}
    for r in rows:
        for part in _note_parts(r, columns):
            where.setdefault(part, []).append(r.label)
    return [
        f"{part} ({'all rows' if len(labels) == len(rows) else ', '.join(labels)})"
        for part, labels in where.items()
    ]


def table_json(
    exp: Experiment, ctx: ExperimentContext, rows: Sequence[Row], protocol: dict[str, Any]
) -> dict[str, Any]:
    """The ``table.json`` content (see the module docstring)."""
    from qagen._version import __version__

    cols = list(exp.columns)
    out_rows = []
    for r in rows:
        ours = {c: (r.ours[c].value if c in r.ours else None) for c in cols}
        ours_std = {c: r.ours[c].std for c in cols if c in r.ours and r.ours[c].std is not None}
        out_rows.append({
            "label": r.label, "ours": ours, "paper": {c: r.paper.get(c) for c in cols},
            "ours_std": ours_std,
            "paper_std": {c: v for c, v in r.paper_std.items() if v is not None},
            "runs": list(r.runs), "note": _row_note(r, cols),
        })  # fmt: skip
    return {
        "experiment": exp.name, "paper": exp.paper, "table": exp.heading(ctx),
        "budget": ctx.budget, "protocol": protocol, "columns": cols,
        "column_notes": dict(exp.notes(ctx)),
        "rows": out_rows, "qagen_version": __version__,
        "written": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }  # fmt: skip


def table_markdown(table: dict[str, Any]) -> str:
    """``table.md``: the title, the protocol in one line per key, and ours beside the paper's."""
    cols = table["columns"]
    lines = [
        f"# {table['experiment']}: {table['table']}",
        "",
        f"{table['paper']}. Budget: `{table['budget']}`. Each column: ours | paper.",
        "",
    ]
    for c in cols:
        if c in table["column_notes"]:
            lines.append(f"- **{c}**: {table['column_notes'][c]}")
    lines.append("")
    header = ["row"] + [f"{c} {who}" for c in cols for who in ("ours", "paper")] + ["note"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for r in table["rows"]:
        cells = [r["label"]]
        for c in cols:
            cells.append(_num(r["ours"].get(c), r["ours_std"].get(c)))
            cells.append(_num(r["paper"].get(c), r["paper_std"].get(c), typed=True))
        cells.append(r["note"].replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    if table["protocol"].get("evaluation_mixed"):
        lines += [
            "",
            "**Warning: rows of one column were evaluated under different protocols; "
            "they do not compare:**",
            "",
        ]
        lines += [f"- {p}" for p in table["protocol"]["evaluation_mixed"]]
    if table.get("claims"):
        from qagen.experiments.claims import verdict_line

        lines += ["", "## The paper's claims, tested on our seeds", ""]
        lines += [f"- {verdict_line(v)}" for v in table["claims"]]
    lines += ["", "## Protocol", ""]
    lines += [f"- {k}: {json.dumps(v, default=str)}" for k, v in table["protocol"].items()]
    return _plain_superscripts("\n".join(lines) + "\n")


def _plain_superscripts(text: str) -> str:
    """LaTeX superscripts as plain text for Markdown and the terminal: ``W^{-3/2,2}`` ->
    ``W^(-3/2,2)`` (the HTML page draws them as superscripts)."""
    return re.sub(r"\^\{([^{}]+)\}", r"^(\1)", text)


def table_csv(table: dict[str, Any]) -> str:
    """``table.csv``: one line per row (see the module docstring)."""
    cols = table["columns"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ["label"]
        + [f"{c}_{k}" for c in cols for k in ("ours", "ours_std", "paper", "paper_std")]
        + ["note"]
    )
    for r in table["rows"]:
        line = [r["label"]]
        for c in cols:
            for v in (r["ours"].get(c), r["ours_std"].get(c), r["paper"].get(c),
                      r["paper_std"].get(c)):  # fmt: skip
                line.append("" if v is None else v if isinstance(v, str) else repr(float(v)))
        line.append(r["note"])
        w.writerow(line)
    return buf.getvalue()


def _write_text(path: Path, text: str) -> None:
    write_atomic(path, text)


#: The most table columns (each an "ours" and a "paper" column) in one table of report.html.
_PAGE_COLUMNS = 6


def _report_sections(
    exp: Experiment,
    ctx: ExperimentContext,
    rows: Sequence[Row],
    table: dict,
    specs: Sequence[RunSpec],
) -> list:
    from qagen.report import (
        Cell,
        Figure,
        KeyValues,
        Missing,
        Paragraph,
        Section,
        Table,
        inline_marks,
        sample_grids,
    )

    cols = table["columns"]
    column_notes = exp.notes(ctx)
    notes = [f"{c}: {column_notes[c]}" for c in cols if c in column_notes]
    notes += _shared_notes(rows, cols)
    tables = []
    # a wide table is split into tables of at most _PAGE_COLUMNS columns (each with the row
    # labels), so that every value fits the page's width
    size = math.ceil(len(cols) / max(1, math.ceil(len(cols) / _PAGE_COLUMNS))) if cols else 1
    chunks = [cols[i : i + size] for i in range(0, len(cols), size)] or [[]]
    for k, part in enumerate(chunks):
        header = ["row"] + [f"{c} ({who})" for c in part for who in ("ours", "paper")]
        body = []
        for r in rows:
            line: list[Any] = [inline_marks(r.label)]  # W^{-3/2,2} as a superscript
            for c in part:
                cell = r.ours.get(c)
                if cell is None or cell.value is None:
                    line.append(Missing(cell.reason if cell is not None else "not computed"))
                else:
                    line.append(Cell(cell.value, title=None if cell.std is None
                                     else f"± {cell.std:.3g}", strong=True))  # fmt: skip
                pv = r.paper.get(c)
                std = r.paper_std.get(c)
                typed = None if not isinstance(pv, float) else max(5, typed_digits(pv))
                line.append(Missing("the paper gives no value") if pv is None
                            else Cell(pv, title=None if std is None else f"± {std!r}",
                                      tone="muted", digits=typed))  # fmt: skip
            body.append(line)
        last = k == len(chunks) - 1
        caption = (f"{table['table']}: ours (bold) beside the paper's (grey); hover a value for its "
                   "spread, a dash for why it is missing")  # fmt: skip
        if len(chunks) > 1:
            caption = (caption if k == 0 else table["table"]) + f" (columns {', '.join(part)})"
        tables.append(Table(header, body, caption=caption, notes=notes if last else []))
    sections = [
        Section("Table", [Paragraph(exp.describe(ctx)), *tables]),
        Section("Protocol", [KeyValues([(k, v) for k, v in table["protocol"].items()])]),
    ]
    if table.get("claims"):
        from qagen.experiments.claims import verdict_line

        sections.insert(1, Section("The paper's claims", [
            Paragraph("Each ordering the paper claims, tested on our per-seed values with "
                      "Welch's t-test (two-sided, alpha 0.05): reproduced, not reproduced, or "
                      "inconclusive (not significant, or fewer than 3 seeds)."),
            *[Paragraph(verdict_line(v).replace("**", "")) for v in table["claims"]],
        ]))  # fmt: skip
    run_blocks: list = []
    for spec in specs:
        run_dir = ctx.run_dir(spec.name)
        grids = sample_grids(run_dir)
        kv = [("status", ctx.status.get(spec.name, "?")), ("directory", str(run_dir)),
              ("recipe", spec.recipe), ("preset", spec.preset), ("overrides", " ".join(spec.overrides) or None)]  # fmt: skip
        blocks: list = [KeyValues(kv)]
        if grids:
            step, path = _last_grid(grids)
            blocks.append(Figure(path, caption=f"{spec.name}: samples at step {step}",
                                 pixelated=True))  # fmt: skip
        run_blocks.append(Section(spec.name, blocks))
    sections.append(Section("Runs", run_blocks))
    sections += exp.report_sections(ctx, list(rows))
    return sections


def _last_grid(grids: Any) -> tuple[int, Path]:
    """The newest (step, path) of ``qagen.report.sample_grids``' result (of the unnamed grid,
    else of the one named ``output``, else of the first)."""
    if isinstance(grids, dict):
        key = next((k for k in ("", "output") if k in grids), next(iter(grids), None))
        grids = grids.get(key, []) if key is not None else []
    step, path = list(grids)[-1]
    return step, path


def write_outputs(
    exp: Experiment, ctx: ExperimentContext, rows: Sequence[Row], specs: Sequence[RunSpec]
) -> dict[str, Any]:
    """Write ``table.json``, ``table.csv``, ``table.md`` and ``report.html``; return the table."""
    from qagen.experiments.protocol import evaluation_protocol, runs_protocol
    from qagen.report import write_page

    protocol = dict(exp.protocol(ctx))
    if specs:  # read from the runs' config.toml, never written beside them
        protocol["runs"] = runs_protocol(ctx, specs)
    protocol["evaluation"], problems = evaluation_protocol(exp, rows)
    if problems:  # shown in every output, never dropped: these rows do not compare
        protocol["evaluation_mixed"] = problems
    table = table_json(exp, ctx, rows, protocol)
    claims = exp.claims(ctx)
    if claims:
        from qagen.experiments.claims import verdicts

        table["claims"] = verdicts(claims, rows)
    out = ctx.out
    write_json_atomic(out / "table.json", table, indent=2)
    _write_text(out / "table.csv", table_csv(table))
    _write_text(out / "table.md", table_markdown(table))
    write_page(
        out / "report.html",
        f"{table['table']} reproduced",
        _report_sections(exp, ctx, rows, table, specs),
        subtitle=f"{exp.paper}; experiment `{exp.name}`, budget `{ctx.budget}`",
    )
    return table
