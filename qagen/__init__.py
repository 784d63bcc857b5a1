"""qagen: quality-aware image generation.

Layers (docs/architecture.md): the core, by layer (``qagen.iqa`` metrics -> ``qagen.losses`` /
``qagen.gan`` objectives -> ``qagen.train`` -> ``qagen.eval``), knows no method; each published
method is one folder of ``qagen.methods`` that adds its recipes, presets, data sources, report
sections, evaluators and experiments to the registries of :mod:`qagen.registry`. This file is
the composition root: the one place that imports ``qagen.methods`` (by name only: nothing
heavy, and no torch, is imported until a registered thing is used).
"""

import qagen.methods  # noqa: F401  (the methods' registrations)
from qagen._version import __version__

__all__ = ["__version__"]
