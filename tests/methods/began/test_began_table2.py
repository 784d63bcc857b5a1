"""``qagen reproduce began-table2``: the paper's Table 2, the runs of each budget, and a smoke
reproduction (two of the twelve models, to stay quick) with its tables and resume."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

import qagen.methods.began.experiments as bt2
from qagen.cli import main
from qagen.errors import InputError
from qagen.experiments import ExperimentContext, available_experiments, get_experiment

#: BEGAN-IQA Table 2 (M, sigma of l1, GMSM, Chrom), typed in from the paper.
TABLE2 = {
    "01": (0.12, 0.02, 0.24, 0.02, 0.68, 0.08),
    "02": (0.90, 0.09, 0.17, 0.03, 0.99, 0.01),
    "03": (0.51, 0.02, 0.52, 0.04, 0.46, 0.08),
    "04": (0.11, 0.01, 0.16, 0.02, 0.75, 0.07),
    "05": (0.13, 0.02, 0.20, 0.02, 0.41, 0.05),
    "06": (0.10, 0.01, 0.17, 0.02, 0.69, 0.07),
    "07": (0.10, 0.01, 0.22, 0.01, 0.63, 0.08),
    "08": (0.11, 0.01, 0.16, 0.02, 0.83, 0.07),
    "09": (0.13, 0.02, 0.20, 0.02, 0.42, 0.06),
    "10": (0.10, 0.01, 0.17, 0.02, 0.72, 0.08),
    "11": (0.09, 0.01, 0.29, 0.01, 0.58, 0.08),
    "12": (0.08, 0.02, 0.17, 0.02, 0.63, 0.08),
}
COLUMNS = ["l1_M", "l1_sigma", "gmsm_M", "gmsm_sigma", "chrom_M", "chrom_sigma"]
#: ours only: the samples' diversity and M_global over the last 10 % of steps
EXTRA = ["diversity", "M_global_last"]
LABELS = [f"{i:02d}" for i in range(1, 13)]


def _paper(label):
    return dict(zip(COLUMNS, TABLE2[label], strict=True)) | dict.fromkeys(EXTRA)


def test_rows_hold_the_papers_table2(tmp_path):
    assert "began-table2" in available_experiments()
    exp = get_experiment("began-table2")()
    assert list(exp.columns) == COLUMNS + EXTRA
    assert set(exp.column_notes) == set(COLUMNS + EXTRA)
    rows = exp.rows(ExperimentContext(out=tmp_path, budget="smoke"))
    assert [r.label for r in rows] == LABELS
    for r in rows:
        assert r.paper == _paper(r.label)
        assert r.runs == [f"began-m{r.label}"]
    fm = exp.rows(ExperimentContext(out=tmp_path, budget="cpu", data="fashion-mnist"))
    assert [r.runs for r in fm] == [[f"began-m{x}-s{s}" for s in (0, 1, 2)] for x in LABELS]


def test_fashion_mnist_cpu_trains_three_seeds_for_a_step_budget(tmp_path):
    """--data fashion-mnist at the cpu budget: 3 seeds per model, the seed set on each, the
    same step count for every seed and no minute cap (equal training whatever the load)."""
    exp = get_experiment("began-table2")()
    ctx = ExperimentContext(out=tmp_path, budget="cpu", data="fashion-mnist")
    specs = exp.runs(ctx)
    assert len(specs) == 36 and len({s.name for s in specs}) == 36
    for s in specs:
        label, seed = s.name[len("began-m") :].split("-s")
        assert s.overrides[-1] == f"train.seed={seed}" and "data.resolution=32" in s.overrides
        assert s.max_minutes is None
        # the paper's proportions, 18k : 100k : 300k
        assert s.max_steps == {"02": 90, "03": 90, "11": 1500, "12": 1500}.get(label, 500)
    proto = exp.protocol(ctx)
    assert proto["seeds"] == [0, 1, 2] and "no minute cap" in proto["training"]
    one = exp.protocol(ExperimentContext(out=tmp_path, budget="cpu"))
    assert one["seeds"] == [0] and "capped" in one["training"]


def test_claims_are_the_papers_orderings(tmp_path):
    exp = get_experiment("began-table2")()
    claims = exp.claims(ExperimentContext(out=tmp_path, budget="cpu"))
    by_col = {}
    for c in claims:
        by_col.setdefault(c.column, []).append(c)
    assert {c.better for c in by_col["l1_M"]} == {"12"}
    assert sorted(c.worse for c in by_col["l1_M"]) == [x for x in LABELS if x != "12"]
    assert {c.better for c in by_col["gmsm_M"]} == {"08"} and len(by_col["gmsm_M"]) == 11
    assert {c.better for c in by_col["chrom_M"]} == {"05"} and len(by_col["chrom_M"]) == 11
    [fig6] = by_col["M_global_last"]
    assert (fig6.better, fig6.worse, fig6.higher_is_better) == ("11", "12", False)
    # grey data: the chrominance column is null, so its claim is not tested
    fm = exp.claims(ExperimentContext(out=tmp_path, budget="cpu", data="fashion-mnist"))
    assert "chrom_M" not in {c.column for c in fm} and len(fm) == 23


def test_seeds_are_averaged_and_the_claims_tested_on_them(tmp_path, monkeypatch):
    """evaluate() over 3 seeds: each cell is the mean +- sample std of the seeds' cells, the
    note names the seeds, and a claim's verdict is the Welch t-test on those seeds."""
    from qagen.experiments.base import Cell
    from qagen.experiments.claims import verdicts

    exp = get_experiment("began-table2")()
    ctx = ExperimentContext(out=tmp_path, budget="cpu", data="fashion-mnist")
    seen = []

    def fake(self, ctx, name):
        seen.append(name)
        label, seed = name[len("began-m") :].split("-s")
        base = 0.1 if label == "12" else 0.3  # model 12 clearly lowest in l1
        v = base + 0.01 * int(seed)
        cells = {c: Cell(v, protocol={"generator": "raw"}) for c in exp.columns}
        return cells, f"500 steps, seed {seed}"

    monkeypatch.setattr(type(exp), "_run_cells", fake)
    ctx.status["began-m05-s1"] = "failed: out of memory"
    rows = exp.evaluate(ctx, exp.rows(ctx))
    assert len(seen) == 35
    r12 = next(r for r in rows if r.label == "12")
    cell = r12.ours["l1_M"]
    assert cell.value == pytest.approx(0.11) and cell.std == pytest.approx(0.01)
    assert cell.n == 3 and cell.values == pytest.approx((0.10, 0.11, 0.12))
    assert r12.note.startswith("3 of 3 seeds; began-m12-s0: 500 steps, seed 0")
    r05 = next(r for r in rows if r.label == "05")
    assert r05.ours["l1_M"].n == 2 and "began-m05-s1: failed: out of memory" in r05.note
    v = {(x["column"], x["worse"]): x for x in verdicts(exp.claims(ctx), rows)}
    assert v[("l1_M", "01")]["verdict"] == "reproduced" and v[("l1_M", "01")]["p_value"] < 0.05
    assert v[("l1_M", "05")]["verdict"] == "inconclusive"  # 2 seeds: no test
    assert v[("gmsm_M", "01")]["verdict"] == "inconclusive"  # equal seeds: p = 1
    assert v[("gmsm_M", "12")]["verdict"] == "not reproduced"


def test_runs_per_budget(tmp_path):
    exp = get_experiment("began-table2")()
    smoke = exp.runs(ExperimentContext(out=tmp_path, budget="smoke"))
    assert [s.preset for s in smoke] == [f"began-m{i:02d}-demo" for i in range(1, 13)]
    assert all(s.data == "builtin" and s.max_steps == 4 for s in smoke)
    cpu = exp.runs(ExperimentContext(out=tmp_path, budget="cpu"))
    steps = {s.name[-2:]: s.max_steps for s in cpu}
    minutes = {s.name[-2:]: s.max_minutes for s in cpu}
    # the paper's proportions (18k : 100k : 300k), shortened; 11-12 train at 64 px
    assert steps["02"] == steps["03"] < steps["01"] == steps["10"] and steps["11"] == steps["12"]
    assert sum(minutes.values()) <= 25.0  # every run capped: the budget stays under 30 minutes
    with pytest.raises(InputError, match="celeba-began"):
        exp.runs(ExperimentContext(out=tmp_path, budget="paper"))
    paper = exp.runs(ExperimentContext(out=tmp_path, budget="paper", data="celeba-began:/d"))
    assert [s.max_steps for s in paper] == [100_000, 18_000, 18_000] + [100_000] * 7 + [300_000] * 2
    assert all(s.preset == s.name and s.max_minutes is None for s in paper)


@pytest.mark.slow
def test_smoke_reproduction_writes_the_table_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bt2, "_labels", lambda: ["02", "12"])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path / "rep"
    try:
        args = ["reproduce", "began-table2", "--budget", "smoke", "--out", str(out),
                "--no-progress"]  # fmt: skip
        assert main(args) == 0
        table = json.loads((out / "table.json").read_text())
        assert table["columns"] == COLUMNS + EXTRA
        assert [r["label"] for r in table["rows"]] == ["02", "12"]
        for r in table["rows"]:
            assert r["paper"] == _paper(r["label"])
            run = out / "runs" / f"began-m{r['label']}"
            stats = json.loads((run / "began_stats.json").read_text())
            assert stats["last_step"] == 4
            for c in COLUMNS:
                assert r["ours"][c] == pytest.approx(stats["table2"][c], rel=0, abs=0)
                assert math.isfinite(r["ours"][c]) and r["ours"][c] >= 0
            m_last = stats["convergence"]["m_global_last"]
            assert r["ours"]["M_global_last"] == pytest.approx(m_last, rel=0, abs=0)
            div = json.loads((run / "diversity.json").read_text())
            assert r["ours"]["diversity"] == pytest.approx(div["generated"]["mean"], rel=0, abs=0)
            assert "4 steps" in r["note"] and "diversity MS-SSIM" in r["note"]
            assert (run / "diversity.json").is_file()
        assert "paper: mode collapse immediately" in table["rows"][0]["note"]
        html = (out / "report.html").read_text()
        assert "Convergence (Figure 6)" in html and "began-m12" in html
        md = (out / "table.md").read_text()
        assert "| 02 |" in md and "0.9" in md
        # a second call reuses the finished runs; a missing real-image diversity is said in
        # words, never printed as a raw nan (issue 19, D)
        from qagen.methods.began import report as began_report

        monkeypatch.setattr(began_report, "diversity_of_run",
                            lambda data, **kw: {"generated": {"mean": 0.5}})  # fmt: skip
        mtimes = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/checkpoints/*.pt")}
        assert main(args) == 0
        assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/checkpoints/*.pt")} == mtimes
        table = json.loads((out / "table.json").read_text())
        assert all("(real images: not measured)" in r["note"] for r in table["rows"])
        assert not re.search(r"\bnan\b", (out / "table.md").read_text(), re.IGNORECASE)
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()
