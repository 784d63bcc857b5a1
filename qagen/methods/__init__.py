"""The published methods, one folder each above the generic core (``docs/architecture.md``).

Each ``qagen/methods/<name>/`` holds its networks, recipe(s), data, evaluation, report
sections, experiments (tables) and presets; its ``__init__.py`` adds them to the registries of
:mod:`qagen.registry` by name (strings only: nothing heavy is imported until used). A new
method is one folder plus one line in :data:`METHODS`. ``qagen/__init__.py`` imports this
module: the one place that names the methods; no module of the core imports ``qagen.methods``.
"""

from __future__ import annotations

import importlib

#: the method folders, in the order their entries are listed
METHODS: tuple[str, ...] = (
    "qagan",  # Quality-aware GANs (WGAN-GP + SSIM / NIQE penalties) and Banach-WGAN
    "began",  # IQA distances inside BEGAN
    "qmap",  # learning SSIM quality maps
    "nr_iqa",  # the no-reference quality-score regressor (QMF's s)
    "qmf",  # Quality Map Fusion
    "msssim",  # MS-SSIM as a training loss (SRCNN, autoencoders)
    "stylegan2",  # StyleGAN2 (Karras et al. 2020)
)

for _name in METHODS:
    importlib.import_module(f"{__name__}.{_name}")
