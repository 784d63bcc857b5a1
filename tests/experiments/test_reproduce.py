"""``qagen reproduce``: the experiment registry, the table writers and the resumable runner."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from qagen.cli import main
from qagen.errors import InputError, UnknownNameError
from qagen.experiments import Cell, ExperimentContext, available_experiments, get_experiment
from qagen.experiments.tables import table_csv, table_json, table_markdown

#: The QAGAN slides' CIFAR-10 table (IS, IS std, FID, FID std), typed in from the slides.
#: A published spread of 0.0 is None.
SLIDES = {
    "Real data": (11.24, 0.12, 7.80, None),
    "DCGAN": (6.16, 0.07, None, None),
    "WGAN-GP": (7.86, 0.10, 40.2, None),
    "CTGAN": (8.12, 0.12, None, None),
    "SNGAN": (8.12, 0.12, 21.5, 0.21),
    "W^{-3/2,2} Banach WGAN": (8.26, 0.07, None, None),
    "L^10 Banach WGAN": (8.31, 0.07, None, None),
    "MMD GAN-rep-b": (8.29, None, 16.21, None),
    "QAGAN (SSIM)": (8.37, 0.04, 13.91, 0.105),
    "QAGAN (NIQE)": (7.87, 0.027, 12.4697, 0.068),
}


def test_registry_lists_and_rejects():
    assert "qagan-cifar10" in available_experiments()
    with pytest.raises(UnknownNameError, match="available: .*qagan-cifar10"):
        get_experiment("qagan-cifar11")


def test_table_writers_keep_nulls_with_reasons(tmp_path):
    exp = get_experiment("qagan-cifar10")()
    ctx = ExperimentContext(out=tmp_path, budget="smoke")
    rows = exp.rows(ctx)
    rows = rows[[r.label for r in rows].index("WGAN-GP") :]  # WGAN-GP first
    rows[0].ours = {"IS": Cell(None, reason="no weights"), "FID": Cell(float("nan")),
                    "SWD": Cell(12.5, std=0.5)}  # fmt: skip
    table = table_json(exp, ctx, rows, {"n": 1})
    r0 = table["rows"][0]
    ema_cols = {"IS (EMA)": None, "FID (EMA)": None, "SWD (EMA)": None, "FD (F-MNIST)": None,
                "IS (F-MNIST)": None, "FD (F-MNIST, EMA)": None}  # fmt: skip
    assert r0["ours"] == {"IS": None, "FID": None, "SWD": 12.5, **ema_cols}
    assert r0["ours_std"] == {"SWD": 0.5}
    assert "IS: no weights" in r0["note"] and "FID: not finite: nan" in r0["note"]
    assert table["rows"][1]["ours"] == {"IS": None, "FID": None, "SWD": None, **ema_cols}
    json.dumps(table, allow_nan=False)  # strict JSON
    lines = list(csv.DictReader(io.StringIO(table_csv(table))))
    assert (
        lines[0]["SWD_ours"] == "12.5"
        and lines[0]["IS_ours"] == ""
        and lines[0]["IS_paper"] == "7.86"
    )
    md = table_markdown(table)
    assert "| WGAN-GP | — | 7.86 ± 0.1 | — | 40.2 | 12.5 ± 0.5 | — | — | — | — | — | — | — |" in md
    assert "## The paper's claims, tested on our seeds" not in md  # claims are added on writing


def _checkpoints(run_dir):
    return {p.name: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").glob("*.pt")}


@pytest.mark.slow
def test_qagan_cifar10_smoke_writes_tables_and_resumes(tmp_path, capsys, cheap_swd):
    out = tmp_path / "rep"
    # One run interrupted after its first step: the experiment must continue it, not restart it.
    exp = get_experiment("qagan-cifar10")()
    spec = exp.runs(ExperimentContext(out=out, budget="smoke"))[0]
    from qagen.train import train_main

    assert train_main(spec.recipe, data=spec.data, preset=spec.preset,
                      out=str(out / "runs" / spec.name), max_steps=1,
                      overrides=list(spec.overrides)) == 0  # fmt: skip
    first_row = (out / "runs" / spec.name / "metrics.csv").read_text().splitlines()[:2]

    assert main(["reproduce", "qagan-cifar10", "--budget", "smoke", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    for name in ("table.md", "table.csv", "table.json", "report.html"):
        assert (out / name).is_file(), name
    table = json.loads((out / "table.json").read_text())
    assert table["experiment"] == "qagan-cifar10" and table["budget"] == "smoke"
    assert table["columns"] == ["IS", "FID", "SWD", "IS (EMA)", "FID (EMA)", "SWD (EMA)",
                                "FD (F-MNIST)", "IS (F-MNIST)", "FD (F-MNIST, EMA)"]  # fmt: skip
    # issue 23: the paper's columns score the raw generator of every row, the EMA columns the
    # EMA copy (WGAN-GP's too); the protocol is read from the records, one per column group
    ev = table["protocol"]["evaluation"]
    assert ev == {
        "SWD": {"generator": "raw", "n": 64, "reference_split": "test"},
        "SWD (EMA)": {"generator": "ema", "n": 64, "reference_split": "test"},
    }
    assert "evaluation_mixed" not in table["protocol"] and "generator" not in table["protocol"]
    assert [r["label"] for r in table["rows"]] == list(SLIDES)
    for r in table["rows"]:
        is_v, is_s, fid_v, fid_s = SLIDES[r["label"]]
        assert r["paper"] == {"IS": is_v, "FID": fid_v, "SWD": None, "IS (EMA)": None,
                              "FID (EMA)": None, "SWD (EMA)": None, "FD (F-MNIST)": None,
                              "IS (F-MNIST)": None, "FD (F-MNIST, EMA)": None}  # fmt: skip
        if not r["runs"]:  # not trained by qagen (CTGAN, MMD GAN) or not a generator (real data)
            assert all(v is None for v in r["ours"].values())
            assert "not implemented in qagen" in r["note"] or "not a generator" in r["note"]
            continue
        assert r["ours"]["IS"] is None and r["ours"]["FID"] is None  # no Inception weights
        assert "Inception weights" in r["note"]
        assert math.isfinite(r["ours"]["SWD"]) and r["ours"]["SWD"] > 0
        assert math.isfinite(r["ours"]["SWD (EMA)"]) and r["ours"]["SWD (EMA)"] != r["ours"]["SWD"]
    html = (out / "report.html").read_text()
    assert "W<sup>-3/2,2</sup> Banach WGAN" in html and "data:image/png;base64," in html

    run = out / "runs" / spec.name
    steps = [int(r["step"]) for r in csv.DictReader((run / "metrics.csv").open())]
    assert steps == [1, 2, 3]  # continued from step 1
    assert (run / "metrics.csv").read_text().splitlines()[:2] == first_row

    # a second call reuses every finished run and the evaluation records
    before = {d.name: _checkpoints(d) for d in (out / "runs").iterdir()}
    evals = {d.name: (d / "eval.json").read_text() for d in (out / "runs").iterdir()}
    assert main(["reproduce", "qagan-cifar10", "--budget", "smoke", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert {d.name: _checkpoints(d) for d in (out / "runs").iterdir()} == before
    assert {d.name: (d / "eval.json").read_text() for d in (out / "runs").iterdir()} == evals
    capsys.readouterr()
    # another budget into the same folder is refused (one line, exit 2)
    assert main(["reproduce", "qagan-cifar10", "--budget", "cpu", "--out", str(out)]) == 2
    assert "choose another --out" in capsys.readouterr().err


def test_reproduce_checks_its_inputs_before_any_run_trains(monkeypatch, tmp_path, capsys):
    from qagen.experiments import reproduce, runner

    def no_training(*args, **kwargs):
        raise AssertionError("a run was trained before the inputs were checked")

    monkeypatch.setattr(runner, "_train", no_training)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="qagan-cifar10 takes no evaluation data"):
        reproduce("qagan-cifar10", "smoke", out, progress=False, eval_data={"set5": str(tmp_path)})
    assert main(["reproduce", "qagan-cifar10", "--out", str(out), "--inception-weights",
                 str(tmp_path / "missing.pth")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        f"--inception-weights {tmp_path}/missing.pth: no such file"
    )
    assert not out.exists()


def test_a_wide_table_is_split_to_fit_the_page(tmp_path):
    import re

    from qagen.experiments.tables import write_outputs

    exp = get_experiment("nriqa-tid2008")()  # 13 columns: 27 cells a row in one table
    ctx = ExperimentContext(out=tmp_path, budget="smoke")
    rows = exp.rows(ctx)
    for r in rows:
        r.ours = {c: Cell(0.5, protocol={"generator": "raw", "n": 4, "reference_split": "test"})
                  for c in exp.columns}  # fmt: skip
    write_outputs(exp, ctx, rows, [])
    page = (tmp_path / "report.html").read_text()
    table_section = page.split('<section id="table">')[1].split("</section>")[0]
    headers = [re.findall(r'<th scope="col">([^<]*) \(ours\)</th>', t)
               for t in table_section.split("<table>")[1:]]  # fmt: skip
    assert [len(h) for h in headers] == [5, 5, 3]  # at most 6 columns (12 cells) a table
    assert [c for h in headers for c in h] == list(exp.columns)
    assert "overflow-x:auto" in page  # and any table wider than the page scrolls in place


def _fake_outputs(name, tmp_path, **ctx_args):
    from qagen.experiments.tables import write_outputs

    exp = get_experiment(name)()
    ctx = ExperimentContext(out=tmp_path / name, budget="smoke", **ctx_args)
    ctx.out.mkdir(parents=True)
    rows = exp.rows(ctx)
    for r in rows:
        r.ours = {c: Cell(0.5, protocol={"generator": "raw", "n": 4, "reference_split": "test"})
                  for c in exp.columns}  # fmt: skip
    table = write_outputs(exp, ctx, rows, [])
    return table, (ctx.out / "table.md").read_text(), (ctx.out / "report.html").read_text()


def test_reproduce_pages_say_what_the_data_is_and_draw_no_latex(tmp_path):
    _, md, html = _fake_outputs("qagan-cifar10", tmp_path)
    assert "W<sup>-3/2,2</sup> Banach WGAN" in html and "W^{" not in html
    assert "| W^(-3/2,2) Banach WGAN |" in md and "^{" not in md
    # msssim-ae: Yale B in the title only when the data is Yale B
    table, md, html = _fake_outputs("msssim-ae", tmp_path)
    assert "synthetic illumination set standing in for Yale B" in table["table"]
    assert "(Yale B, 48 x 48)" not in md + html
    table, _, _ = _fake_outputs("msssim-ae", tmp_path / "y", data="yaleb:/data/yaleb")
    assert table["table"].endswith("(Yale B, 48 x 48)")
    # nriqa on the built-in stand-in: correlations with SSIM, never "with the MOS"
    table, md, html = _fake_outputs("nriqa-tid2008", tmp_path)
    assert "MOS" not in md and "MOS" not in html
    assert table["column_notes"]["AGN"].startswith("SROCC with the images' SSIM")
    assert "built-in stand-in: SROCC with SSIM" in table["table"]
    table, _, _ = _fake_outputs("nriqa-tid2008", tmp_path / "t", data="tid2008:/data/tid")
    assert table["column_notes"]["AGN"] == "SROCC with the MOS, higher is better"


def test_the_papers_values_keep_the_digits_they_were_typed_with(tmp_path):
    table, md, html = _fake_outputs("qagan-cifar10", tmp_path)
    rows = {r["label"]: r for r in table["rows"]}
    assert rows["QAGAN (SSIM)"]["paper_std"]["FID"] == 0.105
    qagan_ssim = next(line for line in md.splitlines() if line.startswith("| QAGAN (SSIM) |"))
    assert "| 13.91 ± 0.105 |" in qagan_ssim  # not "± 0.1"
    qagan_niqe = next(line for line in md.splitlines() if line.startswith("| QAGAN (NIQE) |"))
    assert "| 12.4697 ± 0.068 |" in qagan_niqe and "| 7.87 ± 0.027 |" in qagan_niqe
    assert 'title="± 0.105">13.91<' in html and ">12.4697<" in html
