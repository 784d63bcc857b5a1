"""``qagen reproduce qmf-table4`` / ``qmf-table3``: the runs per budget, the paper's values, the
mean +- std over seeds, and (slow) the table-3 smoke run end to end."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from qagen.cli import main
from qagen.errors import InputError
from qagen.experiments import Cell, ExperimentContext, available_experiments, get_experiment
from qagen.methods.qmf.table4 import mean_std
from qagen.train import resolve_run_config

#: Table 4 as printed (FID, IS) per family, typed in from the paper.
TABLE4 = {
    "cifar10": {"BL": (38.10, 8.20), "PAM+SSIM": (19.01, 8.01), "PAM+NIQE": (16.31, 8.00),
                "MF+SSIM": (15.00, 7.46), "MF+NIQE": (13.21, 7.80), "full": (8.06, 7.48)},
    "celeba": {"BL": (29.80, 0.86), "PAM+SSIM": (13.16, 0.88), "PAM+NIQE": (11.86, 0.89),
               "MF+SSIM": (10.76, 0.90), "MF+NIQE": (6.38, 0.96), "full": (6.40, 0.97)},
}  # fmt: skip


def test_registered_and_listed(capsys):
    assert {"qmf-table4", "qmf-table3"} <= set(available_experiments())
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert "qmf-table4" in out and "qmf-table3" in out


def test_table4_runs_per_budget(tmp_path):
    exp = get_experiment("qmf-table4")()
    cpu = exp.runs(ExperimentContext(out=tmp_path, budget="cpu"))
    assert len(cpu) == 18 and {s.name for s in cpu} == {
        f"{k}-s{s}" for k in ("bl", "pam-ssim", "pam-niqe", "mf-ssim", "mf-niqe", "full")
        for s in range(3)
    }  # fmt: skip
    full = [s for s in cpu if s.name == "full-s2"][0]
    assert full.preset == "qmf-full-demo" and full.data == "builtin" and full.max_steps == 300
    assert "train.seed=2" in full.overrides
    run = resolve_run_config(None, preset=full.preset, overrides=list(full.overrides))
    assert run.train.seed == 2 and run.hparams.pam and run.hparams.map_fusion
    smoke = exp.runs(ExperimentContext(out=tmp_path, budget="smoke"))
    assert len(smoke) == 6 and all(s.max_steps == 3 for s in smoke)
    celeba = exp.runs(ExperimentContext(out=tmp_path, budget="paper", data="celeba:/data"))
    assert {s.preset for s in celeba} == {f"qmf-{k}-celeba" for k in
                                          ("bl", "pam-ssim", "pam-niqe", "mf-ssim", "mf-niqe", "full")}  # fmt: skip
    assert all(s.max_steps is None and s.data == "celeba:/data" for s in celeba)
    cifar = exp.runs(ExperimentContext(out=tmp_path, budget="paper", data="cifar10:/c"))
    assert {s.preset for s in cifar} == {"qmf-bl", "qmf-pam-ssim", "qmf-pam-niqe", "qmf-mf-ssim",
                                         "qmf-mf-niqe", "qmf-full"}  # fmt: skip
    with pytest.raises(InputError, match="--data cifar10:ROOT"):
        exp.runs(ExperimentContext(out=tmp_path, budget="paper"))


@pytest.mark.parametrize("data, fam", [(None, "cifar10"), ("celeba:/d", "celeba")])
def test_table4_paper_values_and_mean_std_over_seeds(tmp_path, data, fam):
    exp = get_experiment("qmf-table4")()
    budget = "cpu" if data is None else "paper"
    ctx = ExperimentContext(out=tmp_path, budget=budget, data=data)
    swd = {}

    def fake_eval(ctx_, name, metrics, **kw):  # a record per run: SWD grows with the seed
        k = int(name.rsplit("-s", 1)[1])
        swd[name] = 10.0 + 3.0 * k + len(name)
        return {"swd": {"average": swd[name], "real_vs_real": {"average": 4.0}},
                "niqe": {"value": 5.0 + k, "real": {"value": 3.0}},
                "fid": {"skipped": True, "reason": "no weights"},
                "is": {"skipped": True, "reason": "no weights"}}  # fmt: skip

    ctx.evaluator = fake_eval
    ctx.status = {"bl-s1": "failed: the loss became NaN or infinite (see metrics.csv)"}
    rows = exp.evaluate(ctx, exp.rows(ctx))
    for r in rows:
        fid, is_ = TABLE4[fam][r.label]
        assert r.paper["FID"] == fid and r.paper["IS"] == is_ and r.paper["SWD"] is None
        assert r.ours["FID"].value is None and "no weights" in r.ours["FID"].reason
        vals = [swd[n] for n in r.runs if n in swd]
        assert r.ours["SWD"].value == pytest.approx(statistics.mean(vals))
        assert r.ours["SWD"].std == pytest.approx(statistics.stdev(vals))  # n - 1
        assert "NIQE of the real images: 3" in r.note
    bl = rows[0]
    assert bl.ours["SWD"].n == 2 and "2 of 3 seeds" in bl.note and "bl-s1: failed" in bl.note
    assert mean_std([Cell(None, reason="x")]).reason == "x"
    assert mean_std([Cell(2.0)]).std is None


def test_table3_rows_runs_and_paper_budget(tmp_path, monkeypatch):
    from qagen.data import fashion_mnist
    from qagen.methods.qmf import table3

    exp = get_experiment("qmf-table3")()
    rows = exp.rows(ExperimentContext(out=tmp_path, budget="cpu"))
    assert [r.label for r in rows] == ["BPGAN", "CGAN", "CAGAN", "WGAN", "QAGAN", "Ours"]
    assert rows[-1].paper == {"FID": 18.39, "FSIM": 83.40, "IS": 0.97}
    specs = exp.runs(ExperimentContext(out=tmp_path, budget="cpu"))
    assert {s.preset for s in specs} == {"qmf-edges2shoes-demo"}
    assert {s.data for s in specs} == {table3.cpu_data()}
    # fashion-edges at the cpu budget: 3 seeds of the same run, the seed set on each
    ctx = ExperimentContext(out=tmp_path, budget="cpu", data="fashion-edges:shoes")
    specs = exp.runs(ctx)
    assert [s.name for s in specs] == ["qmf-s0", "qmf-s1", "qmf-s2"]
    assert [s.overrides[-1] for s in specs] == [f"train.seed={i}" for i in range(3)]
    assert all(s.max_steps == 400 and "data.resolution=32" in s.overrides for s in specs)
    assert exp.rows(ctx)[-1].runs == ["qmf-s0", "qmf-s1", "qmf-s2"]
    assert exp.protocol(ctx)["seeds"] == [0, 1, 2]
    assert "mean of its three channels" in exp.protocol(ctx)["grey_output"]  # issue 17
    t4 = get_experiment("qmf-table4")()
    assert "grey_output" in t4.protocol(ExperimentContext(tmp_path, "cpu", data="fashion-mnist"))
    assert "grey_output" not in t4.protocol(ExperimentContext(tmp_path, "cpu"))
    monkeypatch.setattr(fashion_mnist, "PACKAGE_ROOT", tmp_path / "absent")
    (spec,) = exp.runs(ExperimentContext(out=tmp_path, budget="cpu"))
    assert spec.data == "builtin-restore" and spec.name == "qmf"  # learnable, one seed
    assert exp.protocol(ExperimentContext(out=tmp_path, budget="cpu"))["data"] == "builtin-restore"
    (spec,) = exp.runs(ExperimentContext(out=tmp_path, budget="smoke"))
    assert spec.data == "builtin-edges"
    (spec,) = exp.runs(ExperimentContext(out=tmp_path, budget="paper", data="celeba-attr:/d"))
    assert spec.preset == "qmf-celeba-attr" and spec.max_steps is None
    with pytest.raises(InputError, match="celeba-attr:ROOT"):
        exp.runs(ExperimentContext(out=tmp_path, budget="paper", data="celeba:/d"))


def test_table3_mean_std_over_seeds(tmp_path, monkeypatch):
    """Three seeds of "Ours": the FSIM cell is the mean +- sample std over the seeds (each
    seed's spread over the images stays in the note); a failed seed is named, not hidden."""
    from qagen.methods.qmf import table3

    exp = get_experiment("qmf-table3")()
    ctx = ExperimentContext(out=tmp_path, budget="cpu", data="fashion-edges:shoes")
    fsim = {"qmf-s0": 80.0, "qmf-s1": 84.0, "qmf-s2": 88.0}

    def fake(self, ctx, name):
        cells = {
            "FSIM": Cell(fsim[name], std=5.0, n=256, protocol={"generator": "raw"}),
            "FID": Cell(None, reason="no weights"),
            "IS": Cell(None, reason="no weights"),
        }
        return cells, f"FSIM x 100 {fsim[name]:.2f}"

    monkeypatch.setattr(table3.QMFTable3, "_run_cells", fake)
    ours = exp.evaluate(ctx, exp.rows(ctx))[-1]
    assert ours.ours["FSIM"].value == pytest.approx(84.0)
    assert ours.ours["FSIM"].std == pytest.approx(4.0) and ours.ours["FSIM"].n == 3
    assert ours.ours["FID"].value is None and ours.note.startswith("3 of 3 seeds")
    assert "qmf-s2: FSIM x 100 88.00" in ours.note
    ctx.status["qmf-s1"] = "failed: killed"
    ours = exp.evaluate(ctx, exp.rows(ctx))[-1]
    assert ours.ours["FSIM"].n == 2 and "qmf-s1: failed: killed" in ours.note


@pytest.mark.slow
def test_table3_smoke_end_to_end(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "qmf-table3", "--budget", "smoke", "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    table = json.loads((out / "table.json").read_text())
    ours = table["rows"][-1]
    assert ours["label"] == "Ours" and 0 < ours["ours"]["FSIM"] <= 100
    assert math.isfinite(ours["ours_std"]["FSIM"]) and ours["ours"]["FID"] is None
    assert "untrained generator" in ours["note"] and "of the input itself" in ours["note"]
    assert all(r["ours"]["FSIM"] is None for r in table["rows"][:-1])
    html = (out / "report.html").read_text()
    assert "Table 3" in html and "data:image/png;base64," in html
    capsys.readouterr()
