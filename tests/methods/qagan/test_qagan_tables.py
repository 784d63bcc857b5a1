"""QAGAN's CelebA and STL-10 tables (qagan-celeba, qagan-stl10) and the baseline rows of
qagan-cifar10: the slides' values, the presets at the slides' resolutions, the rows qagen does
not train (null cells with the reason), and a smoke reproduction of each new table."""

from __future__ import annotations

import math

import pytest

from qagen.experiments import ExperimentContext, get_experiment
from qagen.train import resolve_run_config

#: The slides, typed in again: label -> (IS, FID); None where the slides give none.
CELEBA = {"Real data": (None, 1.09), "WGAN-GP": (None, 12.89), "Banach WGAN": (None, 10.5),
          "MMD GAN-rep-b": (None, 6.79), "QAGAN (SSIM)": (None, 6.421),
          "QAGAN (NIQE)": (None, 6.504)}  # fmt: skip
STL10 = {"Real data": (26.08, 7.9), "WGAN-GP": (9.05, 55.1), "SNGAN": (9.10, 40.10),
         "MMD GAN-rep": (9.36, 36.67), "QAGAN (SSIM)": (9.29, 19.77),
         "QAGAN (NIQE)": (9.172, 19.45)}  # fmt: skip
CIFAR_NEW = {"Real data": (11.24, 7.80), "DCGAN": (6.16, None), "CTGAN": (8.12, None),
             "SNGAN": (8.12, 21.5), "MMD GAN-rep-b": (8.29, 16.21)}  # fmt: skip
UNTRAINED = {"Real data", "CTGAN", "MMD GAN-rep-b", "MMD GAN-rep"}


@pytest.mark.parametrize(
    "name, slides", [("qagan-celeba", CELEBA), ("qagan-stl10", STL10), ("qagan-cifar10", None)]
)
def test_rows_hold_the_slides_values(tmp_path, name, slides):
    exp = get_experiment(name)()
    rows = exp.rows(ExperimentContext(out=tmp_path, budget="smoke"))
    got = {r.label: (r.paper["IS"], r.paper["FID"]) for r in rows}
    if slides is None:  # qagan-cifar10: the rows added beside the original five
        assert {k: got[k] for k in CIFAR_NEW} == CIFAR_NEW
        assert list(got)[:5] == ["Real data", "DCGAN", "WGAN-GP", "CTGAN", "SNGAN"]
    else:
        assert got == slides
    for r in rows:
        assert (r.runs == []) == (r.label in UNTRAINED), r.label


@pytest.mark.parametrize(
    "name, data, resolution",
    [("qagan-celeba", "celeba:/d", 64), ("qagan-stl10", "stl10:/d", 48),
     ("qagan-cifar10", "cifar10:/d", 32)],
)  # fmt: skip
def test_paper_budget_trains_the_full_presets_at_the_slides_resolution(tmp_path, name, data,
                                                                       resolution):  # fmt: skip
    exp = get_experiment(name)()
    specs = exp.runs(ExperimentContext(out=tmp_path, budget="paper", data=data))
    assert specs and all(s.max_steps is None for s in specs)  # each preset's own length
    for s in specs:
        run = resolve_run_config(s.recipe, data=data, preset=s.preset, overrides=list(s.overrides))
        assert run.data.resolution == resolution, s.preset
        if name == "qagan-stl10":
            assert run.data.split == "unlabeled", s.preset
    sngan = [s for s in specs if s.recipe == "sngan"]
    if sngan:
        run = resolve_run_config("sngan", data=data, preset=sngan[0].preset)
        assert run.train.max_steps == 50_000 and run.hparams.n_critic == 5
        assert tuple(run.hparams.betas) == (0.0, 0.9) and run.hparams.lr == 2e-4
    with pytest.raises(Exception, match=f"--data {data.split(':')[0]}:ROOT"):
        exp.runs(ExperimentContext(out=tmp_path, budget="paper"))


def _only(cls, recipes, monkeypatch):
    monkeypatch.setattr(cls, "ROWS", tuple(r for r in cls.ROWS if r.recipe in (None, *recipes)))


def test_celeba_and_stl10_smoke(tmp_path, monkeypatch, cheap_swd):
    """One trained row each (WGAN-GP for CelebA, SNGAN for STL-10) keeps the suite fast; the
    untrained rows keep the paper's values and null cells with the reason."""
    from qagen.experiments import reproduce
    from qagen.methods.qagan.experiments import QAGANSTL10, QAGANCelebA

    _only(QAGANCelebA, ("wgan-gp",), monkeypatch)
    _only(QAGANSTL10, ("sngan",), monkeypatch)
    celeba = reproduce("qagan-celeba", "smoke", tmp_path / "celeba", progress=False)
    stl10 = reproduce("qagan-stl10", "smoke", tmp_path / "stl10", progress=False)
    for table, name, trained in ((celeba, "qagan-celeba", "WGAN-GP"),
                                 (stl10, "qagan-stl10", "SNGAN")):  # fmt: skip
        assert table["experiment"] == name
        rows = {r["label"]: r for r in table["rows"]}
        assert math.isfinite(rows[trained]["ours"]["SWD"]) and rows[trained]["ours"]["SWD"] > 0
        for label in set(rows) & UNTRAINED:
            r = rows[label]
            assert all(v is None for v in r["ours"].values()), label
            assert ("not implemented" in r["note"]) or ("not a generator" in r["note"]), label
        assert {c["verdict"] for c in table["claims"]} == {"inconclusive"}
