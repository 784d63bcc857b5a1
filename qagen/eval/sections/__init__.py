"""Section providers of the run reports, one module per recipe family (imported by
:func:`qagen.eval.report.run_sections`, which registers them).

* :mod:`.common`: every run (``"*"``): summary and hyper-parameters, training curves, sample
  grids over training, configuration.
* :mod:`.evaluation`: every run: the records of ``eval.json`` with their protocols, and the
  evaluations over checkpoints.
* :mod:`.gan`: the QAGAN / WGAN family (every :class:`qagen.train.recipes.GANRecipe`): quality
  maps of generated samples against their nearest training images.
* :mod:`.began`: the ``began`` recipe: BEGAN-IQA's Table 2 statistics, Figures 3-6 and the
  diversity of the samples.
* :mod:`.qmap`: the quality-map runs (``qmap-*``): their evaluation and predicted maps.
* :mod:`.nr_iqa`: the ``nr-iqa`` runs: SROCC/PLCC per distortion type of the test split.
* :mod:`.qmf`: Quality Map Fusion (``qmf``): the maps, the fused map and PAM's attention over
  training, HOG similarity over iterations, GLCM texture statistics.
* :mod:`.sr`: the MS-SSIM loss family: SR crops and scores (``sr-*``), held-out
  reconstructions (``autoencoder``).

A new family (BEGAN, QMF, quality maps, SR) adds ``<family>.py`` with
``register_run_sections(...)`` calls and imports it here.
"""

from qagen.eval.sections import began, common, evaluation, gan, nr_iqa, qmap, qmf, sr

__all__ = ["began", "common", "evaluation", "gan", "nr_iqa", "qmap", "qmf", "sr"]
