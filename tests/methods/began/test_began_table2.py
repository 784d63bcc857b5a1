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


def test_rows_hold_the_papers_table2(tmp_path):
    assert "began-table2" in available_experiments()
    exp = get_experiment("began-table2")()
    assert list(exp.columns) == COLUMNS
    rows = exp.rows(ExperimentContext(out=tmp_path, budget="smoke"))
    assert [r.label for r in rows] == [f"{i:02d}" for i in range(1, 13)]
    for r in rows:
        assert r.paper == dict(zip(COLUMNS, TABLE2[r.label], strict=True))
        assert r.runs == [f"began-m{r.label}"]


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
        assert table["columns"] == COLUMNS and [r["label"] for r in table["rows"]] == ["02", "12"]
        for r in table["rows"]:
            assert r["paper"] == dict(zip(COLUMNS, TABLE2[r["label"]], strict=True))
            run = out / "runs" / f"began-m{r['label']}"
            stats = json.loads((run / "began_stats.json").read_text())
            assert stats["last_step"] == 4
            for c in COLUMNS:
                assert r["ours"][c] == pytest.approx(stats["table2"][c], rel=0, abs=0)
                assert math.isfinite(r["ours"][c]) and r["ours"][c] >= 0
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
