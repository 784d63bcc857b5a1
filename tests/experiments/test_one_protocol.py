"""One evaluation protocol per table column (issue 23): the table states the protocol its
records give, and names a column whose rows were evaluated differently (an EMA generator
against a raw one), in table.json, table.md and on the terminal."""

from __future__ import annotations

import json

import pytest

from qagen.experiments import available_experiments, get_experiment
from qagen.experiments.base import Cell, Experiment, ExperimentContext, Row, eval_protocol
from qagen.experiments.protocol import evaluation_protocol
from qagen.experiments.tables import table_markdown, write_outputs

RAW = {"generator": "raw", "n": 64, "reference_split": "test"}
EMA = {"generator": "ema", "n": 64, "reference_split": "test"}


class _Toy(Experiment):
    name = "toy"
    paper = "p"
    table = "t"
    columns = ("A", "B", "kind")
    descriptive_columns = ("kind",)


def _rows(*protos):
    return [Row(label=f"r{i}", ours={"A": Cell(1.0 + i, protocol=p), "B": Cell(None, reason="x"),
                                      "kind": Cell(3)})
            for i, p in enumerate(protos)]  # fmt: skip


def test_eval_protocol_reads_a_record():
    rec = {"n_fake": 1000, "generator": "ema", "reference_split": "test", "sample_seed": 0}
    assert eval_protocol(rec) == {"generator": "ema", "n": 1000, "reference_split": "test"}
    assert eval_protocol({"n": 5, "split": "valid", "generator": "raw"}) == {
        "generator": "raw", "n": 5, "reference_split": "valid"}  # fmt: skip
    assert eval_protocol(None) is None


def test_one_protocol_is_stated_once():
    ev, problems = evaluation_protocol(_Toy(), _rows(RAW, RAW, RAW))
    assert ev == RAW and problems == []


def test_a_mixed_column_is_named():
    ev, problems = evaluation_protocol(_Toy(), _rows(RAW, EMA, RAW))
    assert ev == {} and len(problems) == 1
    assert problems[0].startswith("A: the rows were evaluated differently")
    assert "r0, r2" in problems[0] and "r1" in problems[0] and '"ema"' in problems[0]


def test_a_measured_cell_without_a_protocol_is_named():
    _, problems = evaluation_protocol(_Toy(), _rows(RAW, None))
    assert problems == ["A / r1: a value without an evaluation protocol"]


def test_columns_of_other_generators_are_grouped():
    rows = [Row(label="r", ours={"A": Cell(1.0, protocol=RAW), "B": Cell(2.0, protocol=EMA)})]
    ev, problems = evaluation_protocol(_Toy(), rows)
    assert problems == [] and ev == {"A": RAW, "B": EMA}


def test_the_outputs_carry_the_warning(tmp_path, capsys):
    ctx = ExperimentContext(out=tmp_path, budget="smoke")
    table = write_outputs(_Toy(), ctx, _rows(RAW, EMA), [])
    assert table["protocol"]["evaluation_mixed"][0].startswith("A: the rows were evaluated")
    md = (tmp_path / "table.md").read_text()
    assert "Warning: rows of one column were evaluated under different protocols" in md
    assert md == table_markdown(json.loads((tmp_path / "table.json").read_text()))
    assert "evaluation_mixed" in (tmp_path / "report.html").read_text()


#: Experiments whose evaluation is another's (the same ``evaluate`` method): covered by it.
_SAME_EVALUATION = {"nriqa-live": "nriqa-tid2008"}
#: Reproduced at smoke below (no method test does it end to end).
_SMOKE_HERE = ("qmf-table4", "nriqa-tid2008")


@pytest.mark.parametrize("name", available_experiments())
def test_every_experiment_is_reproduced_in_the_suite(name):
    """Every registered experiment runs end to end at ``--budget smoke`` somewhere in the suite,
    where the autouse check of tests/conftest.py fails it if a column mixes protocols. A new
    experiment without such a test fails here."""
    from pathlib import Path

    if name in _SAME_EVALUATION:
        other = _SAME_EVALUATION[name]
        assert get_experiment(name).evaluate is get_experiment(other).evaluate
        name = other
    if name in _SMOKE_HERE:
        return
    tests = Path(__file__).resolve().parents[1]
    calls = (f'reproduce("{name}"', f'"reproduce", "{name}"')
    found = [p for p in tests.rglob("test_*.py") if any(c in p.read_text() for c in calls)]
    assert found, f"no test reproduces {name!r} (tests/**/test_*.py)"


@pytest.mark.slow
@pytest.mark.parametrize("name", _SMOKE_HERE)
def test_smoke_reproduction_has_one_protocol(name, tmp_path):
    """The two experiments no method test reproduces end to end: one protocol per column, read
    from the records (the conftest check), and every measured column has one."""
    from qagen.experiments import reproduce

    table = reproduce(name, "smoke", tmp_path / "out", progress=False)
    ev = table["protocol"]["evaluation"]
    assert ev and "evaluation_mixed" not in table["protocol"]
    protos = [ev] if "generator" in ev else list(ev.values())
    assert all(p["generator"] == "raw" for p in protos)


@pytest.mark.slow
def test_qagan_on_fashion_mnist_smoke(tmp_path, fmnist_classifier, monkeypatch):
    """--data fashion-mnist: the classifier's FD and IS columns are filled, the claims are
    tested (inconclusive at one seed), and one protocol per column group. Two of the trained rows
    (WGAN-GP and QAGAN (SSIM)) keep the suite fast; a claim on a missing row is inconclusive."""
    from qagen.experiments import reproduce
    from qagen.methods.qagan.experiments import QAGANCifar10

    rows = {r.label: r for r in QAGANCifar10.ROWS}
    monkeypatch.setattr(QAGANCifar10, "ROWS", (rows["WGAN-GP"], rows["QAGAN (SSIM)"]))

    table = reproduce("qagan-cifar10", "smoke", tmp_path / "out", data="fashion-mnist",
                      progress=False)  # fmt: skip
    for r in table["rows"]:
        assert r["ours"]["FD (F-MNIST)"] > 0 and 1 <= r["ours"]["IS (F-MNIST)"] <= 10
        assert r["ours"]["FD (F-MNIST, EMA)"] > 0
    assert [c["verdict"] for c in table["claims"]] == ["inconclusive"] * 4
    assert table["claims"][0]["column"] == "FD (F-MNIST)"
    ev = table["protocol"]["evaluation"]
    assert ev["SWD, FD (F-MNIST), IS (F-MNIST)"]["generator"] == "raw"
    assert ev["SWD (EMA), FD (F-MNIST, EMA)"]["generator"] == "ema"
    md = (tmp_path / "out" / "table.md").read_text()
    assert "## The paper's claims, tested on our seeds" in md


@pytest.mark.slow
def test_qmf_table4_and_began_on_fashion_mnist_smoke(tmp_path, fmnist_classifier, monkeypatch):
    """qmf-table4 in generation mode and began-table2 (models 07 and 12) on Fashion-MNIST: the
    classifier's columns are filled, the grey images' chrominance columns are null with the
    reason, and each claim of Table 4 has a verdict."""
    from qagen.experiments import reproduce
    from qagen.methods.began import experiments as began_exp

    t4 = reproduce("qmf-table4", "smoke", tmp_path / "t4", data="fashion-mnist", progress=False)
    assert all(r["ours"]["FD (F-MNIST)"] > 0 for r in t4["rows"])
    assert [c["better"] for c in t4["claims"]] == ["PAM+SSIM", "PAM+NIQE", "MF+SSIM",
                                                   "MF+NIQE", "full"]  # fmt: skip
    assert "generation mode" in t4["protocol"]["data"]
    monkeypatch.setattr(began_exp, "_labels", lambda: ["07", "12"])
    t2 = reproduce("began-table2", "smoke", tmp_path / "t2", data="fashion-mnist", progress=False)
    for r in t2["rows"]:
        assert r["ours"]["chrom_M"] is None and "grey images" in r["note"]
        assert r["ours"]["l1_M"] > 0


@pytest.mark.slow
def test_qmf_table3_and_msssim_ae_on_fashion_mnist_smoke(tmp_path, monkeypatch):
    """qmf-table3 on fashion-edges:shoes (edges -> shoes, 32 px) and msssim-ae on Fashion-MNIST
    (the 10-class SVM error on the codes replaces the identity error; azimuth and elevation are
    null with the reason)."""
    from qagen.data.fashion_mnist import PACKAGE_ROOT
    from qagen.experiments import reproduce
    from qagen.methods.msssim import experiment_ae

    if not (PACKAGE_ROOT / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    t3 = reproduce("qmf-table3", "smoke", tmp_path / "t3", data="fashion-edges:shoes",
                   progress=False)  # fmt: skip
    ours = next(r for r in t3["rows"] if r["label"] == "Ours")
    assert 0 < ours["ours"]["FSIM"] <= 100
    monkeypatch.setitem(experiment_ae._BUDGET["smoke"], "max_steps", 10)
    ae = reproduce("msssim-ae", "smoke", tmp_path / "ae", data="fashion-mnist", progress=False)
    for r in ae["rows"]:
        assert 0 <= r["ours"]["class_error"] <= 100 and r["ours"]["identity_error"] is None
        assert "no identities or lighting" in r["note"]
    assert [c["column"] for c in ae["claims"]] == ["class_error", "class_error"]
