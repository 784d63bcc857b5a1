"""Quality-aware GANs (Kancharla & Channappayya 2019) and Banach-WGAN (Adler & Lunz 2018).

* ``recipes.py``: ``wgan-gp`` (the baseline), ``qagan-ssim``, ``qagan-niqe``,
  ``qagan-ssim-niqe``: WGAN-GP plus the SSIM-distance gradient penalty and / or the NIQE
  penalty on the critic's gradient maps (the penalties are :mod:`qagen.gan.penalties` and
  :mod:`qagen.gan.niqe_penalty`);
* ``bwgan.py``: ``bwgan``, the W^{s,p} dual-norm gradient penalty;
* ``baselines.py``: ``dcgan`` (the non-saturating GAN with the DCGAN networks, Radford et al.
  2016) and ``sngan`` (spectral normalisation and the hinge loss, Miyato et al. 2018), the
  baselines of the tables that qagen trains;
* ``experiments.py``: ``qagan-cifar10``, ``qagan-celeba``, ``qagan-stl10`` (the slides' three
  tables, on one ``QAGANTable`` base);
* ``presets/``: the authors' settings (``qagan-*``, ``wgan-gp``, ``bwgan-*``, ``dcgan``,
  ``sngan``; ``-stl10`` at 48 px and ``-celeba`` at 64 px) and ``-demo`` ones.

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
RECIPES.add("dcgan", _M + "baselines:DCGAN")
RECIPES.add("sngan", _M + "baselines:SNGAN")
EXPERIMENTS.add("qagan-cifar10", _M + "experiments:QAGANCifar10")
EXPERIMENTS.add("qagan-celeba", _M + "experiments:QAGANCelebA")
EXPERIMENTS.add("qagan-stl10", _M + "experiments:QAGANSTL10")
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
