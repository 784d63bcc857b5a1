"""write_report / report_command: the HTML report of a run directory.

The HTML is parsed with ``html.parser``; every ``<img>`` must be a data URI that decodes to a
PNG (checked with PIL), the page must not load anything from outside, and the tables must hold
the numbers of ``eval.json``.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from PIL import Image
from test_run_eval import make_toy_run  # the trained toy run (registers the eval-toy recipe)

from qagen.eval.report import read_metrics_csv, report_command, select_grids, smooth, write_report
from qagen.eval.run import evaluate_run


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Page(HTMLParser):
    """Collects the images, external references, headings, table cells and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict] = []
        self.external: list[str] = []
        self.ids: list[str] = []
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(a)
        if "id" in a:
            self.ids.append(str(a["id"]))
        for key in ("src", "href"):
            v = a.get(key) or ""
            if v and not v.startswith(("data:", "#")):
                self.external.append(v)
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def _png_sizes(page: _Page) -> list[tuple[int, int]]:
    sizes = []
    for img in page.imgs:
        src = img.get("src") or ""
        assert src.startswith("data:image/png;base64,"), src[:40]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG" and min(im.size) > 0
            sizes.append(im.size)
        assert img.get("alt")
    return sizes


@pytest.fixture(scope="module")
def run_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_toy_run(tmp_path_factory.mktemp("reportrun"))


@pytest.fixture
def run(run_master: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run_master, dst)
    return dst


def test_report_of_a_trained_and_evaluated_run(run: Path) -> None:
    # before any evaluation: the page says how to get one
    path = write_report(run)
    assert path == run / "report.html"
    page = _parse(path)
    assert "No evaluation yet" in "".join(page.text)
    # evaluate_run refreshes the existing report (twice: the checkpoints of steps 2 and 4)
    evaluate_run(run, metrics="swd", n_samples=8, checkpoint=2, swd_kwargs={"patches_per_image": 8})
    ev = evaluate_run(run, n_samples=16, swd_kwargs={"patches_per_image": 16})
    page = _parse(path)
    text = "".join(page.text)
    assert "No evaluation yet" not in text
    assert not page.external and "script" not in page.tags and "link" not in page.tags
    for sec in ("summary", "evaluation", "curves", "samples", "maps", "config"):
        assert sec in page.ids
    # images: training curves, history of the evaluations, newest grid + 1 earlier grid,
    # quality maps; each a decodable PNG
    sizes = _png_sizes(page)
    alts = [i["alt"] for i in page.imgs]
    assert alts.count("training curves") == 1
    assert "evaluation metrics against the checkpoint step" in alts
    assert alts.count("samples at step 4") == 1 and alts.count("samples at step 2") == 1
    assert "quality maps of generated samples against nearest real" in alts
    assert len(sizes) == 5
    # the grid PNG is embedded byte for byte
    grid = base64.b64encode((run / "samples" / "step_00000004.png").read_bytes()).decode()
    assert any(i["src"].endswith(grid) for i in page.imgs)
    # evaluation tables hold eval.json's numbers (formatted to 5 significant digits)
    cells = page.cells
    assert f"{ev['swd']['average']:.5g}" in cells and f"{ev['niqe']['value']:.5g}" in cells
    assert f"{ev['niqe']['real']['value']:.5g}" in cells
    assert f"{ev['glcm']['fake']['entropy']:.5g}" in cells
    assert "reference_content_sha256" in cells and "protocol of swd" in text
    # summary: recipe, last logged step, the hyper-parameters
    assert "eval-toy" in cells and "z_dim" in cells and "lr" in cells
    rows = read_metrics_csv(run / "metrics.csv")
    assert rows.steps == [1, 2, 3, 4] and "g_loss" in cells
    assert f"{rows.cols['g_loss'][-1]:.5g}" in cells
    # quality maps table: one row per sample with SSIM in [-1, 1]
    assert "mean SSIM" in cells
    out = io.StringIO()
    assert report_command(run, stream=out) == 0 and "report.html" in out.getvalue()


def test_report_of_a_bare_run(tmp_path: Path) -> None:
    """config.toml and metrics.csv only (no checkpoint, no grids, no evaluation); a logged NaN
    is flagged; skipped metrics are listed."""
    run = tmp_path / "bare"
    run.mkdir()
    (run / "config.toml").write_text(
        'recipe = "wgan-gp"\n[train]\nbatch_size = 4\n[data]\nspec = "builtin"\nresolution = 32\n'
        "[hparams]\nlr = 0.0002\nbetas = [0.0, 0.9]\n"
    )
    (run / "metrics.csv").write_text(
        "step,elapsed_s,d_loss,g_loss,lr/G\n1,0.5,1.0,2.0,0.001\n2,1.0,0.5,nan,0.001\n"
        "3,1.5,0.25,1.0,\n"
    )
    (run / "eval.json").write_text(
        json.dumps({"fid": {"metric": "fid", "skipped": True, "reason": "no weights here"}})
    )
    page = _parse(write_report(run))
    text = "".join(page.text)
    assert len(_png_sizes(page)) == 1  # the curves only
    assert "No sample grids" in text and "No checkpoint" in text
    assert "no weights here" in text and "g_loss" in page.cells
    assert "NaN / Inf logged: g_loss" in text.replace("\n", "")
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        write_report(tmp_path / "missing")


def test_helpers() -> None:
    # no smoothing below 40 rows; above, a running average that follows a step with lag
    assert smooth([1.0, float("nan"), 3.0]) == pytest.approx([1.0, float("nan"), 3.0], nan_ok=True)
    s = smooth([0.0] * 50 + [1.0] * 50)
    assert (
        s[49] == 0.0 and 0.5 < s[-1] < 1.0 and all(a <= b for a, b in zip(s, s[1:], strict=False))
    )
    g = [(i, Path(f"{i}.png")) for i in range(10)]
    assert [s for s, _ in select_grids(g, 4)] == [0, 3, 6, 9]
    assert select_grids(g[:3], 8) == g[:3]
