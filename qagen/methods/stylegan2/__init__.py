"""StyleGAN2 (Karras, Laine, Aittala, Hellsten, Lehtinen & Aila, "Analyzing and Improving the
Image Quality of StyleGAN", CVPR 2020), re-implemented from the paper.

* ``recipe.py``: ``stylegan2``, the training loop of the core (:mod:`qagen.train.stylegan2`:
  logistic loss, lazy R1 and path length, style mixing; QAGAN's SSIM / NIQE critic penalties
  as options) on the core's networks (:mod:`qagen.gan.nets.stylegan2`);
* ``presets/``: ``stylegan2`` (the official CIFAR-10 configuration, 32 px), ``stylegan2-celeba``
  (the official 64 px configuration) and ``stylegan2-demo`` (CPU-sized).

QMF's StyleGAN2 with PAM and M_F is QMF's (``qagen/methods/qmf/stylegan2.py``). See
``docs/stylegan2.md``.
"""

from pathlib import Path

from qagen.registry import PRESETS, RECIPES

RECIPES.add("stylegan2", "qagen.methods.stylegan2.recipe:StyleGAN2")
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
