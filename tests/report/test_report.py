"""The report renderer (qagen.report): escaping, cells, figures, layout, shared helpers.

Pages are parsed with ``html.parser``; images are decoded with PIL; the expected numbers are
written out by hand or come from closed forms.
"""

from __future__ import annotations

import base64
import io
import math
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qagen.errors import InputError, InputTypeError
from qagen.report import (
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
    read_config,
    read_metrics_csv,
    render_page,
    select_evenly,
    smooth,
    write_page,
)
from qagen.report.plots import PlainFormatter, new_figure, plain_axes, plot_curves

EVIL = "<script>alert('x')</script>"


class Page(HTMLParser):
    """Tags, attributes, cells (text + attributes), ids and text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[dict] = []
        self.cells: list[tuple[str, dict]] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self._cell: tuple[list[str], dict] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a)
        if "id" in a:
            self.ids.append(a["id"])
        if a.get("href"):
            self.hrefs.append(a["href"])
        if tag in ("td", "th"):
            self._cell = ([], a)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append(("".join(self._cell[0]).strip(), self._cell[1]))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell[0].append(data)

    def cell(self, text: str) -> dict:
        for t, a in self.cells:
            if t == text:
                return a
        raise AssertionError(f"no cell {text!r} in {[t for t, _ in self.cells]}")


def _png(w: int = 5, h: int = 3) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(w * h * 3, dtype=np.uint8).reshape(h, w, 3)).save(buf, "PNG")
    return buf.getvalue()


def _decode(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,"), src[:40]
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))


def test_every_text_is_escaped() -> None:
    html = render_page(
        f"title {EVIL}",
        [
            Section(
                f"section {EVIL}",
                [
                    Paragraph(f"text {EVIL} **bold {EVIL}** and `code {EVIL}`"),
                    KeyValues({f"key {EVIL}": f"value {EVIL}"}, caption=f"cap {EVIL}"),
                    Table([f"metric {EVIL}"], [[f"name {EVIL}"]], caption=EVIL, notes=EVIL),
                    Figure(_png(), f"caption {EVIL}"),
                    Preformatted(f"config {EVIL}", summary=f"show {EVIL}"),
                    Details(f"details {EVIL}", [Paragraph(EVIL)]),
                ],
            )
        ],
        subtitle=f"sub {EVIL}",
        meta={f"m {EVIL}": EVIL},
    )
    page = Page(html)
    assert "script" not in page.tags
    assert "<script" not in html
    assert html.count("&lt;script&gt;") >= 14  # every field above, as text
    text = "".join(page.text)
    assert f"value {EVIL}" in text and f"metric {EVIL}" in [c for c, _ in page.cells]
    # the inline marks work, and only on escaped text
    assert "<b>bold &lt;script&gt;" in html and "<code>code &lt;script&gt;" in html
    assert "b" in page.tags and "code" in page.tags


def test_inline_marks_cannot_inject() -> None:
    html = render_page(
        "t", [Section("s", [Paragraph('**<img src=x onerror="alert(1)">** *a* b*c')])]
    )
    page = Page(html)
    assert "img" not in page.tags and "&lt;img src=x" in html
    assert "<i>a</i>" in html and "b*c" in html  # a lone star inside a word stays text


def test_cells_numbers_none_and_missing() -> None:
    table = Table(
        ["a", "b", "c", "d", "e", "f", "g"],
        [[0.123456789, 1000, None, Missing("no weights"), float("nan"), True, [1, 2]],
         [Cell(2.5, strong=True, tone="good", title="why"), -1e-7, 1e21, "x", math.inf, False,
          {"k": 1}]],
        digits=4,
    )  # fmt: skip
    page = Page(render_page("t", [Section("s", [table])]))
    texts = [t for t, _ in page.cells]
    assert texts[7:14] == ["0.1235", "1000", "\u2014", "\u2014", "nan", "yes", "[1, 2]"]
    assert texts[14:] == ["2.5", "-1e-07", "1e+21", "x", "inf", "no", '{"k": 1}']
    assert page.cells[10][1].get("title") == "no weights"  # the Missing reason as tooltip
    assert "missing" in page.cells[9][1]["class"] and "title" not in page.cells[9][1]
    assert "bad" in page.cells[11][1]["class"] and "num" in page.cells[7][1]["class"]
    good = page.cell("2.5")
    assert {"strong", "good", "num"} <= set(good["class"].split()) and good["title"] == "why"
    assert format_value(0.123456789) == "0.12346" and format_value(None) == "\u2014"
    with pytest.raises(InputError, match="row 0 has 1 cells, the header has 2"):
        Table(["a", "b"], [[1]])
    with pytest.raises(InputError, match="tone"):
        Cell(1, tone="red")


def test_figures_are_embedded(tmp_path: Path) -> None:
    path = tmp_path / "grid.png"
    path.write_bytes(_png(7, 4))
    fig, ax = new_figure(figsize=(2, 1), dpi=50)
    ax.plot([0, 1], [0, 1])
    blocks = [
        Figure(_png(5, 3), "from bytes", width=100, pixelated=True),
        Figure(path, "from a file", alt="the grid"),
        Gallery([Figure(fig, "from matplotlib")], caption="a gallery"),
    ]
    page = Page(render_page("t", [Section("s", blocks)]))
    sizes = [_decode(i["src"]).size for i in page.imgs]
    assert sizes[:2] == [(5, 3), (7, 4)] and sizes[2][0] > 50
    assert page.imgs[0]["width"] == "100" and page.imgs[0]["class"] == "px"
    assert page.imgs[1]["alt"] == "the grid" and page.imgs[0]["alt"] == "from bytes"
    assert not [h for h in page.hrefs if not h.startswith("#")]  # nothing loaded from outside
    with pytest.raises(FileNotFoundError):
        Figure(tmp_path / "nope.png", "x")
    with pytest.raises(InputError, match="not PNG"):
        Figure(b"hello", "x")
    with pytest.raises(InputTypeError, match="matplotlib Figure"):
        Figure(42, "x")


def test_sections_nav_ids_and_nesting(tmp_path: Path) -> None:
    sections = [
        Section("Results", [Section("Details", ["plain text"])]),
        Section("Results", [Paragraph("again")]),
        Section("Other", [], id="custom"),
    ]
    out = write_page(tmp_path / "sub" / "page.html", "T", sections)
    assert out.is_file() and not list(out.parent.glob(".*tmp*"))
    page = Page(out.read_text(encoding="utf-8"))
    assert page.ids == ["results", "details", "results-2", "custom"]
    assert page.hrefs == ["#results", "#results-2", "#custom"]  # top-level sections only
    assert page.tags.count("h2") == 3 and page.tags.count("h3") == 1
    with pytest.raises(InputTypeError, match="Section objects"):
        render_page("t", [Paragraph("not a section")])
    with pytest.raises(InputTypeError, match="got int"):
        Section("s", [3])


def test_keyvalues_columns() -> None:
    kv = KeyValues([("a", 1), ("b", 2), ("c", 3)], columns=2)
    grid = kv.grid()  # column-major: a c / b -
    assert [p[0] if p else None for p in grid[0]] == ["a", "c"]
    assert [p[0] if p else None for p in grid[1]] == ["b", None]
    with pytest.raises(InputError, match="pairs"):
        KeyValues([("a", 1, 2)])


def test_read_metrics_csv_and_config(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text(
        "step,elapsed_s,d_loss,g_loss,lr/G\n1,0.5,1.0,2.0,0.001\n2,1.0,0.5,nan,0.001\n"
        "3,1.5,0.25,1.0,\nbad,1,1,1,1\n"
    )
    t = read_metrics_csv(tmp_path / "metrics.csv")
    assert t.steps == [1, 2, 3] and t.elapsed == [0.5, 1.0, 1.5]
    assert t.cols["d_loss"] == [1.0, 0.5, 0.25]
    assert t.nonfinite == {"g_loss": [2]}  # the empty lr cell is not a NaN
    assert math.isnan(t.cols["lr/G"][2]) and t.last() == {
        "d_loss": 0.25,
        "g_loss": 1.0,
        "lr/G": 0.001,
    }
    assert read_config(tmp_path) == {}
    (tmp_path / "config.toml").write_text('recipe = "x"\n[data]\nspec = "builtin"\n')
    assert read_config(tmp_path) == {"recipe": "x", "data": {"spec": "builtin"}}
    (tmp_path / "config.toml").write_text("recipe = \n")
    with pytest.raises(InputError, match="config.toml: invalid TOML"):
        read_config(tmp_path)


def test_smooth_and_select() -> None:
    # a centred moving average leaves a straight line unchanged away from the ends (no lag)
    ramp = [float(i) for i in range(100)]
    s = smooth(ramp)  # window 5 (100 rows / 20)
    assert s[2:-2] == pytest.approx(ramp[2:-2], abs=1e-12) and s[0] == pytest.approx(1.0)
    # below 40 rows: no smoothing; NaN stays NaN and is left out of the neighbours' means
    assert smooth([1.0, math.nan, 3.0]) == pytest.approx([1.0, math.nan, 3.0], nan_ok=True)
    w = smooth([0.0, math.nan, 6.0, 9.0], window=3)
    assert math.isnan(w[1]) and w[0] == 0.0 and w[2] == pytest.approx(7.5)
    items = list(range(10))
    assert select_evenly(items, 4) == [0, 3, 6, 9] and select_evenly(items[:3], 8) == [0, 1, 2]


def test_no_offset_notation() -> None:
    # a learning rate decaying from 2e-4 by 1e-8: matplotlib's default would write
    # "+1.9999e-4" in the corner; the plain formatter writes every tick in full
    labels = PlainFormatter().format_ticks([0.00019998, 0.00019999, 0.0002])
    assert labels == ["0.00019998", "0.00019999", "0.0002"]
    fig, ax = new_figure(figsize=(3, 2))
    ax.plot([0, 1000], [2e-4, 1.9999e-4])
    plain_axes(ax, integer_x=True)
    fig.canvas.draw()
    assert ax.yaxis.get_offset_text().get_text() == ""
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks)
    # every label is the tick value itself, written in full
    assert [float(t) for t in ticks] == pytest.approx(list(ax.get_yticks()), rel=1e-9)


def test_plot_curves(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text(
        "step,elapsed_s,d_loss,g_loss,wdist,lr/G\n"
        + "".join(f"{i},{i},{1 / i},{i % 3},{0.1 * i},{2e-4 - 1e-9 * i}\n" for i in range(1, 60))
    )
    t = read_metrics_csv(tmp_path / "metrics.csv")
    png = plot_curves(t, tmp_path / "curves.png", title="Training curves: run x")
    assert (tmp_path / "curves.png").read_bytes() == png
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size[0] > 600  # two columns of panels
    with pytest.raises(ValueError, match="no rows"):
        plot_curves(read_metrics_csv(_empty_csv(tmp_path)), title="x")


def _empty_csv(tmp_path: Path) -> Path:
    p = tmp_path / "empty.csv"
    p.write_text("step,elapsed_s,d_loss\n")
    return p


def test_curves_advice_and_panels_follow_what_was_logged(tmp_path: Path) -> None:
    from qagen.report.plots import PANELS, _groups
    from qagen.report.run import RunReportData
    from qagen.report.sections.common import curves_section

    def caption(columns: str) -> str:
        run_dir = tmp_path / columns.replace(",", "_")
        run_dir.mkdir(exist_ok=True)
        n = columns.count(",") + 1
        (run_dir / "metrics.csv").write_text(
            f"step,elapsed_s,{columns}\n" + "".join(f"{i},{i}" + ",0.5" * n + "\n" for i in (1, 2))
        )
        [section] = curves_section(RunReportData.load(run_dir))
        return section.blocks[0].caption

    # the WGAN advice only where a Wasserstein estimate is logged (not for SR or BEGAN runs)
    assert "Wasserstein estimate should fall" in caption("d_loss,g_loss,wdist,gp")
    for cols in ("loss,psnr,psnr_bicubic", "loss_real,loss_fake,k_t,m_global"):
        assert "Wasserstein" not in caption(cols) and "gradient norm" not in caption(cols)
    # an SR run's loss (~0.05) and PSNR (~28 dB) are never drawn on one axis
    groups = dict(_groups(["loss", "lr/net", "psnr", "psnr_bicubic"], PANELS))
    assert groups["training loss"] == ["loss"]
    assert groups["PSNR of the training batch, dB (higher is better)"] == ["psnr", "psnr_bicubic"]
    assert "other" not in groups


def test_began_figure4_caption_names_the_colours_it_is_drawn_in() -> None:
    from matplotlib import colormaps

    from qagen.methods.began.report import FIGURE4_CAPTION, FIGURE4_CMAP

    # the caption reads the colour map the planes are drawn with: its ends and its centre
    cmap = colormaps[FIGURE4_CMAP]
    low, mid, high = (np.asarray(cmap(v)[:3]) for v in (0.0, 0.5, 1.0))
    assert low[0] > low[1] and high[1] > high[0]  # pink (red > green) ... green
    assert mid.min() > 0.9  # white at 0
    assert "pink = negative, white = 0, green = positive" in FIGURE4_CAPTION
    for wrong in ("blue-red", "green-purple)", "(blue"):
        assert wrong not in FIGURE4_CAPTION
