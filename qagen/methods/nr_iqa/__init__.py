"""The no-reference quality-score regressor (Osahor & Nasrabadi: QMF's score network s).

* ``recipe.py``: ``nr-iqa``, the CNN regressor (:class:`qagen.gan.nets.regressor.ScoreRegressor`)
  trained on distorted crops (:mod:`qagen.data.qmap`) or an IQA database
  (:mod:`qagen.data.databases`);
* ``data.py``: images with quality scores; ``evaluation.py``: ``qagen eval`` (SROCC/PLCC);
* ``report.py``: its report section; ``experiments.py``: ``nriqa-tid2008``, ``nriqa-live``.

See ``docs/qmf.md``.
"""

from pathlib import Path

from qagen.registry import (
    EVALUATORS,
    EXPERIMENTS,
    ORDER_EVALUATION,
    PRESETS,
    RECIPES,
    REPORT_SECTIONS,
)

_M = "qagen.methods.nr_iqa."
RECIPES.add("nr-iqa", _M + "recipe:NRIQA")
EVALUATORS.add("nr-iqa", _M + "evaluation:nr_iqa_eval_command", recipes="nr-iqa*")
REPORT_SECTIONS.add("nr-iqa", _M + "report:nr_iqa_section", recipes="nr-iqa*",
                    order=ORDER_EVALUATION)  # fmt: skip
EXPERIMENTS.add("nriqa-tid2008", _M + "experiments:NRIQATID2008")
EXPERIMENTS.add("nriqa-live", _M + "experiments:NRIQALive")
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
