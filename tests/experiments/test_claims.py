"""Verdicts on the papers' claimed orderings (qagen.experiments.claims): Welch's t-test on the
per-seed values, checked against scipy's and against cases whose answer is known."""

from __future__ import annotations

import pytest
from scipy import stats

from qagen.experiments.base import Cell, Claim, Row, mean_std
from qagen.experiments.claims import verdict, verdict_line


def _row(label: str, values) -> Row:
    return Row(label=label, ours={"FD": mean_std([Cell(v) for v in values])})


CLAIM = Claim("A has a lower FD than B", "FD", "A", "B")


def test_reproduced_not_reproduced_inconclusive():
    low, high = [10.0, 11.0, 10.5], [20.0, 21.0, 19.5]
    v = verdict(CLAIM, [_row("A", low), _row("B", high)])
    t, p = stats.ttest_ind(low, high, equal_var=False)
    assert v["verdict"] == "reproduced" and v["p_value"] == pytest.approx(p) and v["t"] == t
    assert v["better_stats"]["n"] == 3 and v["better_stats"]["mean"] == pytest.approx(10.5)
    assert verdict(CLAIM, [_row("A", high), _row("B", low)])["verdict"] == "not reproduced"
    close = verdict(CLAIM, [_row("A", [10.0, 12.0, 11.0]), _row("B", [10.5, 12.5, 11.2])])
    assert close["verdict"] == "inconclusive" and close["p_value"] > 0.05
    up = Claim("A has a higher IS", "FD", "A", "B", higher_is_better=True)
    assert verdict(up, [_row("A", high), _row("B", low)])["verdict"] == "reproduced"


def test_fewer_than_three_seeds_is_inconclusive_without_a_test():
    v = verdict(CLAIM, [_row("A", [1.0, 1.1]), _row("B", [5.0, 5.1, 5.2])])
    assert v["verdict"] == "inconclusive" and v["p_value"] is None
    assert "fewer than 3 seeds" in v["reason"]
    assert "inconclusive" in verdict_line(v) and "n=2" in verdict_line(v)
    missing = verdict(
        CLAIM, [Row(label="A", ours={"FD": Cell(None, reason="x")}), _row("B", [1, 2, 3])]
    )
    assert missing["verdict"] == "inconclusive" and missing["better_stats"]["mean"] is None


def test_mean_std_keeps_values_and_protocol():
    p = {"generator": "raw", "n": 10, "reference_split": "test"}
    c = mean_std([Cell(1.0, protocol=p), Cell(3.0, protocol=p), Cell(None, reason="failed")])
    assert c.value == 2.0 and c.values == (1.0, 3.0) and c.n == 2 and c.protocol == p
    assert c.std == pytest.approx(2**0.5)
    mixed = mean_std([Cell(1.0, protocol=p), Cell(2.0, protocol={**p, "n": 5})])
    assert "seeds_differ" in mixed.protocol


def test_seed_run_names():
    from qagen.experiments.base import seed_run_names

    assert seed_run_names("began-m12", (0,)) == ["began-m12"]  # one-seed budgets keep the name
    assert seed_run_names("began-m12", [0, 1, 2]) == ["began-m12-s0", "began-m12-s1",
                                                      "began-m12-s2"]  # fmt: skip
    assert seed_run_names("qmf", (3,)) == ["qmf-s3"]


def test_seed_cells_averages_the_finished_seeds_and_names_the_rest(tmp_path):
    from qagen.experiments.base import ExperimentContext, seed_cells

    ctx = ExperimentContext(out=tmp_path, budget="cpu")
    ctx.status["r-s0"] = "failed: killed"
    vals = {"r-s1": 2.0, "r-s2": 4.0}
    cells, notes, failed = seed_cells(ctx, ["r-s0", "r-s1", "r-s2"], ["FD"],
                                      lambda n: ({"FD": Cell(vals[n])}, f"note {n}"))  # fmt: skip
    assert cells["FD"].value == 3.0 and cells["FD"].std == pytest.approx(2**0.5)
    assert notes == [("r-s1", "note r-s1"), ("r-s2", "note r-s2")]  # seed 0's note is not claimed
    assert failed == ["r-s0: failed: killed"]
    one, _, _ = seed_cells(ctx, ["r-s1"], ["FD"], lambda n: ({"FD": Cell(7.0, std=1.0)}, ""))
    assert one["FD"].value == 7.0 and one["FD"].std == 1.0  # one run keeps its own cells
    none, notes, failed = seed_cells(ctx, ["r-s0"], ["FD"], lambda n: ({}, ""))
    assert none["FD"].value is None and none["FD"].reason == "failed: killed" and notes == []
