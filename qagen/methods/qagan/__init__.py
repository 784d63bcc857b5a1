"""Quality-aware GANs (Kancharla & Channappayya 2019) and Banach-WGAN (Adler & Lunz 2018).

* ``recipes.py``: ``wgan-gp`` (the baseline), ``qagan-ssim``, ``qagan-niqe``,
  ``qagan-ssim-niqe``: WGAN-GP plus the SSIM-distance gradient penalty and / or the NIQE
  penalty on the critic's gradient maps (the penalties are :mod:`qagen.gan.penalties` and
  :mod:`qagen.gan.niqe_penalty`);
* ``bwgan.py``: ``bwgan``, the W^{s,p} dual-norm gradient penalty;
* ``experiments.py``: ``qagan-cifar10`` (the paper's CIFAR-10 table);
* ``presets/``: the authors' settings (``qagan-*``, ``wgan-gp``, ``bwgan-*``) and ``-demo`` ones.

The ResNet pair, the trainer, the evaluation and the run report's quality maps of generated
samples (:mod:`qagen.eval.gan_maps`) are the core's. See ``docs/gan.md``.
"""

from pathlib import Path

from qagen.registry import EXPERIMENTS, PRESETS, RECIPES

_M = "qagen.methods.qagan."
RECIPES.add("wgan-gp", _M + "recipes:WGANGP")
RECIPES.add("qagan-ssim", _M + "recipes:QAGANSSIM")
RECIPES.add("qagan-niqe", _M + "recipes:QAGANNIQE")
RECIPES.add("qagan-ssim-niqe", _M + "recipes:QAGANSSIMNIQE")
RECIPES.add("bwgan", _M + "bwgan:BWGAN")
EXPERIMENTS.add("qagan-cifar10", _M + "experiments:QAGANCifar10")
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
