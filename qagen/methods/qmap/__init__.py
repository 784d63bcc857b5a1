"""Learning SSIM quality maps (Zhou, Guo & Dasari): a no-reference quality map.

* ``fcn.py``, ``smp.py``: the FCN and the encoder U-Nets of Table I (the plain U-Net and the
  PatchGAN are the core's :mod:`qagen.gan.nets`);
* ``recipes.py``: ``qmap-unet``, ``qmap-fcn``, ... and ``qmap-gan`` (pix2pix), trained on the
  core's quality-map data (:mod:`qagen.data.qmap`);
* ``evaluation.py``: ``qagen eval`` of a map run and the learned metric ``qmap``;
* ``report.py``: its report sections; ``experiments.py``: ``qmap-table1``; ``presets/``.

See ``docs/quality-maps.md``.
"""

from pathlib import Path

from qagen.iqa.registry import MetricInfo, register
from qagen.registry import (
    EVALUATORS,
    EXPERIMENTS,
    ORDER_EVALUATION,
    ORDER_RECIPE,
    PRESETS,
    RECIPES,
    REPORT_SECTIONS,
)

_M = "qagen.methods.qmap."
#: the recipe names of the map networks (Table I); their classes are made in recipes.py
MODELS = ("fcn", "dcnn", "unet", "unet32", "densenet121-unet", "resnet18-unet", "resnet50-unet")
for _model in MODELS:  # qmap-unet is the base class; the others are made by _model_recipe
    _cls = "QMapRecipe" if _model == "unet" else "QMap_" + _model.replace("-", "_")
    RECIPES.add(f"qmap-{_model}", _M + "recipes:" + _cls)
RECIPES.add("qmap-gan", _M + "recipes:QMapGAN")
EVALUATORS.add("qmap", _M + "evaluation:qmap_eval_command", recipes="qmap-*")
REPORT_SECTIONS.add("qmap-evaluation", _M + "report:qmap_evaluation_section", recipes="qmap-*",
                    order=ORDER_EVALUATION)  # fmt: skip
REPORT_SECTIONS.add("qmap-maps", _M + "report:qmap_maps_section", recipes="qmap-*",
                    order=ORDER_RECIPE)  # fmt: skip
EXPERIMENTS.add("qmap-table1", _M + "experiments:QMapTable1")
register(
    MetricInfo("qmap", _M + "evaluation", "qmap_score", False, True, False,
               "Zhou, Guo & Dasari: mean of the SSIM map a trained network predicts (no reference)",
               "learned: qagen eval RUN reports its error against SSIM", "RGB (grey repeated)",
               map_function="qmap_map", model_argument="the run directory of a trained qmap-* "
               "recipe (qagen train qmap-unet ...)", model_required=True)
)  # fmt: skip
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
