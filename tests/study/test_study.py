"""The study files (page, study.json, images) and the scoring of answers, on cases with known
answers."""

from __future__ import annotations

import json

import pytest
import torch

from qagen.errors import InputError
from qagen.study import score_study, write_study
from qagen.study.score import metric_rankings


def _study(tmp_path, n=5, seed=1):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, 48, 48, generator=g)
    recs = {  # more noise = worse for every metric: the metrics' order is MSE-model, MAE-model, MS-SSIM-model
        "MSE": (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1),
        "MAE": (x + 0.10 * torch.randn(x.shape, generator=g)).clamp(0, 1),
        "MS-SSIM": (x + 0.30 * torch.randn(x.shape, generator=g)).clamp(0, 1),
    }
    return write_study(tmp_path / "s", x, recs, seed=seed), x, recs


def _answers(study, rank_fn, participant="p"):
    trials = []
    for t in study["trials"]:
        ranking = rank_fn(t)
        trials.append({"trial": t["trial"], "image": t["files"]["original"], "order": t["order"],
                       "positions": [t["order"].index(k) for k in ranking], "ranking": ranking,
                       "seconds": 1.0})  # fmt: skip
    return {"format": "qagen-study-answers/1", "study_id": study["study_id"],
            "participant": participant, "trials": trials}  # fmt: skip


def test_study_files(tmp_path):
    study, x, recs = _study(tmp_path)
    d = tmp_path / "s"
    assert json.loads((d / "study.json").read_text()) == study
    html = (d / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # self-contained: nothing loaded
    assert html.count("data:image/png;base64,") == 5 * 4
    assert study["study_id"] in html
    orders = [tuple(t["order"]) for t in study["trials"]]
    assert all(sorted(o) == ["mae", "ms-ssim", "mse"] for o in orders)
    assert len(set(orders)) > 1  # shuffled per trial
    # the PNGs hold the 8-bit values of the tensors
    from qagen.io import read_image

    t0 = study["trials"][0]
    png = read_image(d / t0["files"]["ms-ssim"])[0, 0]
    assert torch.equal(png, torch.floor(recs["MS-SSIM"][0, 0] * 255 + 0.5).double())
    # the same seed gives the same orders, another seed others
    again = write_study(tmp_path / "s2", x, recs, seed=1)
    assert [t["order"] for t in again["trials"]] == [list(o) for o in orders]
    other = write_study(tmp_path / "s3", x, recs, seed=2)
    assert [t["order"] for t in other["trials"]] != [list(o) for o in orders]


def test_metric_rankings_follow_the_noise(tmp_path):
    study, _, _ = _study(tmp_path)
    keys = [m["key"] for m in study["models"]]
    r = metric_rankings(tmp_path / "s", study["trials"][0], keys)
    assert set(r) == {"MSE", "MAE", "SSIM", "MS-SSIM", "FSIM", "GMSD"}
    for order in r.values():
        assert order == ["mse", "mae", "ms-ssim"]


def test_score_counts_and_agreement(tmp_path):
    study, _, _ = _study(tmp_path)
    d = tmp_path / "s"
    # person 1 agrees with the metrics everywhere; person 2 always puts the noisiest first
    a1 = _answers(study, lambda t: ["mse", "mae", "ms-ssim"], "p1")
    a2 = _answers(study, lambda t: ["ms-ssim", "mse", "mae"], "p2")
    (d / "a1.json").write_text(json.dumps(a1))
    (d / "a2.json").write_text(json.dumps(a2))
    s = score_study(d, [d / "a1.json", d / "a2.json"], plot=tmp_path / "h.png")
    assert s.n_rankings == 10
    assert s.counts == {"MSE": [5, 5, 0], "MAE": [0, 5, 5], "MS-SSIM": [5, 0, 5]}
    assert s.mean_rank == {"MSE": 1.5, "MAE": 2.5, "MS-SSIM": 2.0}
    for a in s.agreement.values():
        assert a["same order"] == pytest.approx(50.0)
        assert a["same best"] == pytest.approx(50.0)
        # p1: 3 of 3 pairs; p2 (ms-ssim, mse, mae) vs (mse, mae, ms-ssim): only (mse, mae) agrees
        assert a["pairs"] == pytest.approx(100 * (5 * 1 + 5 * 1 / 3) / 10)
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_answers(tmp_path):
    study, _, _ = _study(tmp_path)
    d = tmp_path / "s"
    good = _answers(study, lambda t: ["mse", "mae", "ms-ssim"])
    cases = {
        "study": dict(good, study_id="other"),
        "order": dict(good, trials=[dict(good["trials"][0], order=["mae", "mse", "ms-ssim"])
                                    if good["trials"][0]["order"] != ["mae", "mse", "ms-ssim"]
                                    else dict(good["trials"][0], order=["mse", "mae", "ms-ssim"])]),
        "ranking": dict(good, trials=[dict(good["trials"][0], ranking=["mse", "mse", "mae"])]),
        "format": dict(good, format="something"),
    }  # fmt: skip
    for name, ans in cases.items():
        (d / f"ans_{name}.json").write_text(json.dumps(ans))
        with pytest.raises(InputError):
            score_study(d, [d / f"ans_{name}.json"])
    empty = dict(good, trials=[dict(t, ranking=[], positions=[]) for t in good["trials"]])
    (d / "empty.json").write_text(json.dumps(empty))
    with pytest.raises(InputError, match="no complete ranking"):
        score_study(d, [d / "empty.json"])
    with pytest.raises(InputError, match="at least 2 models"):
        write_study(tmp_path / "x", torch.rand(2, 1, 8, 8), {"a": torch.rand(2, 1, 8, 8)})


def test_duplicate_answers_count_once_and_participants_are_counted(tmp_path):
    from qagen.study import format_scores

    study, _, _ = _study(tmp_path)
    d = tmp_path / "s"
    best = lambda t: ["mse", "mae", "ms-ssim"]  # noqa: E731
    worst = lambda t: ["ms-ssim", "mae", "mse"]  # noqa: E731
    files = {
        "a.json": dict(_answers(study, best, ""), started="2024-01-01T10:00:00Z"),
        "a (1).json": dict(_answers(study, best, ""), started="2024-01-01T10:00:00Z"),
        "b.json": dict(_answers(study, worst, ""), started="2024-01-01T11:00:00Z"),
        "p1.json": dict(_answers(study, best, "p1"), started="2024-01-02T10:00:00Z"),
        "p1_again.json": dict(_answers(study, worst, "p1"), started="2024-01-03T10:00:00Z"),
    }
    for name, ans in files.items():
        (d / name).write_text(json.dumps(ans))
    s = score_study(d, [d / n for n in files], plot=tmp_path / "h.png")
    assert s.n_rankings == 4 * 5  # the copy of a.json is left out
    assert s.duplicates == [[str(d / "a (1).json"), str(d / "a.json")]]
    # two anonymous people (a, b) and p1 (twice): 3 participants, 4 answers files
    assert s.participants == ["p1", "(anonymous: a.json)", "(anonymous: b.json)"]
    assert len(s.files) == 4
    text = format_scores(s)
    assert text.startswith("20 rankings from 3 participants (4 answers files)")
    assert "a (1).json: a duplicate of" in text
    # one session downloaded twice with different rankings: which one is meant is unknown
    changed = dict(files["a.json"], trials=_answers(study, worst, "")["trials"])
    (d / "a (2).json").write_text(json.dumps(changed))
    with pytest.raises(InputError, match="two downloads of one session"):
        score_study(d, [d / "a.json", d / "a (2).json"], plot=tmp_path / "h.png")


def test_a_study_is_never_replaced(tmp_path, capsys):
    from qagen.cli import main

    study, x, recs = _study(tmp_path)
    d = tmp_path / "s"
    before = (d / "study.json").read_bytes()
    with pytest.raises(InputError, match=f"holds study '{study['study_id']}'"):
        write_study(d, x[:2], {k: v[:2] for k, v in recs.items()}, seed=5)
    assert (d / "study.json").read_bytes() == before
    assert sorted(p.name for p in (d / "images").iterdir())[-1] == "0004_original.png"
    # the command refuses before it loads a run (these run folders do not exist)
    assert main(["study", "make", "r1", "r2", "--out", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {d} already exists" in err and "holds study" in err
    # a folder of other files is refused too; an empty one is used
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not empty; choose a new folder"):
        write_study(tmp_path / "photos", x, recs)
    (tmp_path / "empty").mkdir()
    assert write_study(tmp_path / "empty", x, recs)["n_trials"] == 5
    assert not list(tmp_path.glob(".*partial*"))


def test_rank_histogram_legend_covers_no_bar():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from qagen.study.score import StudyScores, rank_figure

    # people agree: every rank has one tall bar, so no corner of the axes is free
    counts = {"MSE": [48, 2, 0], "MAE": [2, 46, 2], "MS-SSIM": [0, 2, 48]}
    scores = StudyScores(models=list(counts), counts=counts, n_rankings=50,
                         mean_rank={"MSE": 1.04, "MAE": 2.0, "MS-SSIM": 2.96})  # fmt: skip
    fig = rank_figure(scores)
    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    [ax] = fig.axes
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [p.get_window_extent(renderer) for p in ax.patches]
    assert len(bars) == 9 and not any(legend.overlaps(b) for b in bars)
