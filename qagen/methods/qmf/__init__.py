"""Quality Map Fusion (Osahor & Nasrabadi): the example of a method folder.

* ``nets.py``: the generator with the perceptual attention mechanism (PAM) and the fusion
  network M_F, the PatchGAN critics d1 / d2;
* ``maps.py``: the FSIM, MS-SSIM and MDSI quality maps it fuses (metrics of :mod:`qagen.iqa`);
* ``recipe.py``: ``qmf`` (image-to-image and unconditional training);
* ``stylegan2.py``: ``stylegan2-qmf``, StyleGAN2 (the core's) with PAM and M_F (Table 5);
* ``data.py``: paired and labelled data (``--data paired:PATH``, ``celeba-attr:ROOT``,
  ``fairface:ROOT``, ``builtin-edges``, ``builtin-restore``, ``fashion-edges``);
* ``evaluation.py``: FSIM on held-out pairs; ``report.py``: the maps, the fused map, PAM's
  attention, HOG and GLCM statistics;
* ``table3.py``, ``table4.py``, ``table5.py``: ``qmf-table3``, ``qmf-table4``, ``qmf-table5``;
  ``presets/``: ``qmf-*``, ``stylegan2-qmf*``.

See ``docs/qmf.md``.
"""

from pathlib import Path

from qagen.registry import (
    DATA_SOURCES,
    EXPERIMENTS,
    ORDER_RECIPE,
    PRESETS,
    RECIPES,
    REPORT_SECTIONS,
)

_M = "qagen.methods.qmf."
RECIPES.add("qmf", _M + "recipe:QMF")
RECIPES.add("stylegan2-qmf", _M + "stylegan2:StyleGAN2QMF")
for _source in (
    "paired", "celeba-attr", "fairface", "builtin-edges", "builtin-restore", "fashion-edges",
):  # fmt: skip
    DATA_SOURCES.add(_source, _M + "data:build_paired_dataset", root="raw")
REPORT_SECTIONS.add("qmf", _M + "report:qmf_sections", recipes="qmf", order=ORDER_RECIPE)
EXPERIMENTS.add("qmf-table4", _M + "table4:QMFTable4")
EXPERIMENTS.add("qmf-table3", _M + "table3:QMFTable3")
EXPERIMENTS.add("qmf-table5", _M + "table5:QMFTable5")
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
