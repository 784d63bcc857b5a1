"""qagen: quality-aware image generation.

Layers (docs/architecture.md): ``qagen.iqa`` (metrics) -> ``qagen.losses`` / ``qagen.gan``
(objectives) -> ``qagen.train`` (recipes) -> ``qagen.eval``.
"""

__version__ = "0.1.0"
