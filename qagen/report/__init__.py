"""One report renderer for every page qagen writes (run reports, the demo, experiments).

A page is a list of :class:`Section` objects holding blocks (:class:`Paragraph`,
:class:`KeyValues`, :class:`Table`, :class:`Figure`, :class:`Gallery`, :class:`Preformatted`,
:class:`Details`, nested sections); :func:`render_page` / :func:`write_page` turn it into one
self-contained HTML file through Jinja2 templates shipped as package data (autoescape on, images
as data URIs). The package sits below every other layer: it imports only numpy, matplotlib,
jinja2 and tomllib (and ``qagen.errors``), so the trainer, the evaluation and the experiments
can all use it.

Shared helpers, one copy each: :func:`read_metrics_csv` (a run's ``metrics.csv``),
:func:`read_config` (``config.toml``), :func:`smooth`, :func:`plot_curves` (grouped loss curves,
no offset notation, an overall title), :func:`figure_png`, :func:`sample_grids`.

Example::

    from qagen.report import Figure, Section, Table, write_page

    write_page("out/table.html", "Table 3: FID on CIFAR-10", [
        Section("Results", [Table(["model", "ours", "paper"], [["WGAN-GP", 24.1, 22.3],
                                                               ["QAGAN", None, 21.5]],
                                  caption="FID, lower is better")]),
    ])

See ``docs/architecture.md`` ("Reports") and ``docs/evaluation.md``.
"""

from qagen.report.blocks import (
    Block,
    Cell,
    Details,
    Figure,
    Gallery,
    KeyValues,
    Missing,
    Paragraph,
    Preformatted,
    Section,
    Table,
    format_value,
    image_data_uri,
)
from qagen.report.page import inline_marks, render_page, write_page
from qagen.report.runfiles import (
    MetricsTable,
    list_checkpoints,
    read_config,
    read_json,
    read_jsonl,
    read_metrics_csv,
    sample_grids,
    select_evenly,
)

__all__ = [
    "Block",
    "Cell",
    "Details",
    "Figure",
    "Gallery",
    "KeyValues",
    "MetricsTable",
    "Missing",
    "Paragraph",
    "Preformatted",
    "Section",
    "Table",
    "figure_png",
    "format_value",
    "image_data_uri",
    "inline_marks",
    "list_checkpoints",
    "new_figure",
    "plot_curves",
    "read_config",
    "read_json",
    "read_jsonl",
    "read_metrics_csv",
    "render_page",
    "sample_grids",
    "select_evenly",
    "smooth",
    "write_page",
]


def __getattr__(name: str) -> object:
    # the plotting helpers import matplotlib: load them on first use
    if name in ("figure_png", "new_figure", "plot_curves", "smooth", "PlainFormatter", "PANELS"):
        from qagen.report import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'qagen.report' has no attribute {name!r}")
