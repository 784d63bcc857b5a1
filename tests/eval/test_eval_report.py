"""The HTML report of a run directory (qagen.report.run): sections from the registry, the
evaluation tables, escaping, the CLI, and the demo page.

The HTML is parsed with ``html.parser``; every ``<img>`` must be a data URI that decodes to a
PNG (checked with PIL), the page must not load anything from outside, and the tables must hold
the numbers of ``eval.json`` and ``metrics.csv``.
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

from qagen.cli import main
from qagen.demo_page import write_demo_page
from qagen.errors import InputTypeError
from qagen.eval.gan_maps import is_gan_recipe, quality_map_section
from qagen.eval.run import evaluate_run
from qagen.report import Paragraph, Section, read_metrics_csv
from qagen.report.run import (
    ORDER_RECIPE,
    RunReportData,
    register_run_sections,
    report_command,
    run_sections,
    write_report,
)

EVIL = "<script>alert(1)</script>"

# the toy recipe is not a GANRecipe: give it the GAN family's quality maps through the registry
register_run_sections(
    "eval-toy", quality_map_section, order=ORDER_RECIPE, name="test:eval-toy-maps"
)


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _Page(HTMLParser):
    """Collects the images, external references, ids, tags, table cells and text of a page."""

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
    assert path == run / "report.html" and (run / "loss_curves.png").is_file()
    assert "No evaluation yet" in "".join(_parse(path).text)
    # two evaluations (the checkpoints of steps 2 and 4); evaluate_run leaves the page alone
    before = path.read_bytes()
    evaluate_run(run, metrics="swd", n_samples=8, checkpoint=2, progress=False,
                 swd_kwargs={"patches_per_image": 8})  # fmt: skip
    ev = evaluate_run(run, metrics="swd,niqe,glcm", n_samples=16, progress=False,
                      swd_kwargs={"patches_per_image": 16})  # fmt: skip
    assert path.read_bytes() == before
    page = _parse(write_report(run))
    text = "".join(page.text)
    assert "No evaluation yet" not in text
    assert not page.external and "script" not in page.tags and "link" not in page.tags
    assert page.ids == ["summary", "evaluation", "curves", "samples", "maps", "config"]
    # images: training curves, evaluations over checkpoints, newest grid + 1 earlier grid,
    # quality maps; each a decodable PNG
    sizes = _png_sizes(page)
    alts = [i["alt"] for i in page.imgs]
    assert alts.count("training curves") == 1
    assert "evaluation metrics against the checkpoint step" in alts
    assert alts.count("samples at step 4") == 1 and alts.count("samples at step 2") == 1
    assert "quality maps of generated samples against nearest real" in alts
    assert len(sizes) == 5
    # the grid PNG is embedded byte for byte; loss_curves.png is the embedded curves figure
    grid = base64.b64encode((run / "samples" / "step_00000004.png").read_bytes()).decode()
    assert any(i["src"].endswith(grid) for i in page.imgs)
    curves = base64.b64encode((run / "loss_curves.png").read_bytes()).decode()
    assert any(i["src"].endswith(curves) for i in page.imgs)
    # evaluation tables hold eval.json's numbers (formatted to 5 significant digits)
    cells = page.cells
    assert f"{ev['swd']['average']:.5g}" in cells and f"{ev['niqe']['value']:.5g}" in cells
    assert f"{ev['swd']['real_vs_real']['average']:.5g}" in cells  # the SWD scale
    assert f"{ev['niqe']['real']['value']:.5g}" in cells
    assert f"{ev['glcm']['fake']['entropy']:.5g}" in cells
    assert "energy_matlab" not in cells  # the GLCM table does not repeat aliases
    assert "reference_content_sha256" in cells and "protocol of swd" in text
    # the explanations: direction, per image vs pooled, held-out split, EMA vs raw
    assert "Why per image and pooled disagree." in text and "lower" in cells
    assert "split while the run trained on" in text and "--generator ema" in text
    # summary: recipe, hyper-parameters, last logged values
    assert "eval-toy" in cells and "z_dim" in cells and "lr" in cells
    rows = read_metrics_csv(run / "metrics.csv")
    assert rows.steps == [1, 2, 3, 4] and "g_loss" in cells
    assert f"{rows.cols['g_loss'][-1]:.5g}" in cells
    assert "mean SSIM" in cells
    out = io.StringIO()
    assert report_command(run, stream=out) == 0 and "report.html" in out.getvalue()


def test_report_of_a_bare_run(tmp_path: Path) -> None:
    """config.toml and metrics.csv only (no checkpoint, no grids, no evaluation); a logged NaN
    is flagged; skipped metrics are listed; hostile text is escaped."""
    run = tmp_path / "bare"
    run.mkdir()
    (run / "config.toml").write_text(
        'recipe = "wgan-gp"\n[train]\nbatch_size = 4\n[data]\nspec = "builtin"\nresolution = 32\n'
        f"[hparams]\nlr = 0.0002\nbetas = [0.0, 0.9]\nnote = {json.dumps(EVIL)}\n"
    )
    (run / "metrics.csv").write_text(
        "step,elapsed_s,d_loss,g_loss,lr/G\n1,0.5,1.0,2.0,0.001\n2,1.0,0.5,nan,0.001\n"
        "3,1.5,0.25,1.0,\n"
    )
    (run / "eval.json").write_text(
        json.dumps(
            {
                "fid": {"metric": "fid", "skipped": True, "reason": "no weights here"},
                EVIL: {"metric": EVIL, "value": 1.5, "protocol": {"reference_split": EVIL}},
            }
        )
    )
    path = write_report(run)
    html = path.read_text(encoding="utf-8")
    page = _parse(path)
    text = "".join(page.text)
    assert len(_png_sizes(page)) == 1  # the curves only
    assert "No sample grids" in text and "No checkpoint" in text  # wgan-gp: a GAN recipe
    assert "no weights here" in text and "g_loss" in page.cells
    assert "NaN / Inf logged: g_loss." in text
    # a <script> in a config value or a metric name is text, never a tag
    assert "script" not in page.tags and "<script" not in html
    assert EVIL in page.cells and html.count("&lt;script&gt;") >= 3
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        write_report(tmp_path / "missing")


def test_section_registry(tmp_path: Path) -> None:
    run = RunReportData(tmp_path, config={"recipe": "toy-family-a"})
    calls = []

    def late(r: RunReportData) -> list[Section]:
        calls.append(r.recipe)
        return [Section("Family A late", [Paragraph("x")])]

    def early(r: RunReportData) -> list[Section]:
        return [Section("Family A early", [])]

    register_run_sections("toy-family-*", late, order=95, name="test:late")
    register_run_sections(lambda n: n.endswith("-a"), early, order=5, name="test:early")
    register_run_sections(["other"], early, order=1, name="test:other")
    titles = [s.title for s in run_sections(run)]
    assert titles[0] == "Family A early" and titles[-1] == "Family A late"
    assert titles[1:-1] == ["Summary", "Evaluation", "Training curves", "Samples over training",
                            "Configuration"]  # fmt: skip
    assert calls == ["toy-family-a"]
    # the same name replaces the entry; a bad provider result is refused
    register_run_sections("toy-family-*", lambda r: ["not a section"], order=95, name="test:late")
    with pytest.raises(InputTypeError, match="test:late returned str"):
        run_sections(run)
    register_run_sections("toy-family-*", late, order=95, name="test:late")
    with pytest.raises(InputTypeError, match="recipe name or pattern"):
        register_run_sections(3, late)
    # the GAN family is every GANRecipe
    assert is_gan_recipe("qagan-ssim") and is_gan_recipe("wgan-gp")
    assert not is_gan_recipe("eval-toy") and not is_gan_recipe("nope")


def test_report_cli_and_demo_page(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "pages" / "r.html"
    assert main(["report", str(run), "--out", str(out), "--title", f"My {EVIL} run"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = _parse(out)
    assert "My <script>alert(1)</script> run" in "".join(page.text) and "script" not in page.tags
    assert main(["report", str(tmp_path / "nope")]) == 2  # a missing run: one line, exit 2
    assert "run directory not found" in capsys.readouterr().err
    # the demo page: qagen.demo's files, then the run report, from the same renderer
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "scores.csv").write_text("distortion,ssim,gmsd\njpeg,0.85,0.075\nblur,0.81,0.118\n")
    shutil.copy(run / "samples" / "step_00000004.png", demo / "reference.png")
    shutil.copy(run / "samples" / "step_00000002.png", demo / "map_ssim_jpeg.png")
    page = _parse(write_demo_page(demo, run, title="demo"))
    assert page.ids[:3] == ["iqa", "iqa-maps", "ssim"] and "summary" in page.ids
    assert "ssim ↑" in page.cells and "gmsd ↓" in page.cells and "0.075" in page.cells
    # reference + one map, then the run: curves, two grids, quality maps (no evaluation yet)
    assert len(_png_sizes(page)) == 2 + 4


def test_samples_section_shows_the_output_grid_first(tmp_path: Path) -> None:
    # QMF-like runs write several grids per step (output, input, target, maps): the generator's
    # output comes first, then its inputs, then the diagnostic grids by name
    from qagen.report.sections.common import samples_section

    (tmp_path / "samples").mkdir()
    for name in ("M_fused", "attention", "input", "output", "target", "m1_fsim"):
        Image.new("RGB", (8, 8)).save(tmp_path / "samples" / f"step_00000010_{name}.png")
    run = RunReportData.load(tmp_path)
    captions = [b.caption for b in samples_section(run)[0].blocks if hasattr(b, "caption")]
    names = [c.split("'")[1] for c in captions if c.startswith("grid '")]
    assert names == ["output", "input", "target", "M_fused", "attention", "m1_fsim"]
