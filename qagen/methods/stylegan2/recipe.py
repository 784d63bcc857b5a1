"""The ``stylegan2`` recipe: the core's StyleGAN2 loop (:mod:`qagen.train.stylegan2`) on the
core's networks (:mod:`qagen.gan.nets.stylegan2`), registered under its name."""

from __future__ import annotations

from qagen.train.recipe import register_recipe
from qagen.train.stylegan2 import StyleGAN2Config, StyleGAN2Recipe

__all__ = ["StyleGAN2", "StyleGAN2Config"]


@register_recipe("stylegan2")
class StyleGAN2(StyleGAN2Recipe):
    """StyleGAN2 (Karras et al., CVPR 2020); options and defaults: :class:`StyleGAN2Config`."""
