"""Layer 2b: adversarial objectives, critic penalties and networks.

- :mod:`qagen.gan.objectives`: Wasserstein, hinge and non-saturating losses, drift term, BEGAN
  equilibrium controller.
- :mod:`qagen.gan.penalties`: gradient penalty (two-/one-sided), Banach/Sobolev dual-norm penalty,
  QAGAN SSIM gradient penalty.
- :mod:`qagen.gan.niqe_penalty`: QAGAN NIQE penalty on critic gradient maps and its pristine model.
- :mod:`qagen.gan.nets`: ResNet (QAGAN/BWGAN) and DCGAN generators and critics.

See ``docs/gan.md``.
"""

from qagen.gan.nets import build_networks
from qagen.gan.niqe_penalty import (
    NIQEGradientPenalty,
    PristineAccumulator,
    gradient_map_features,
    niqe_gradient_penalty,
)
from qagen.gan.objectives import (
    LOSSES,
    BEGANController,
    critic_loss,
    drift_penalty,
    generator_loss,
    hinge_critic_loss,
    hinge_generator_loss,
    nonsaturating_critic_loss,
    nonsaturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from qagen.gan.penalties import (
    banach_critic_loss,
    banach_generator_loss,
    banach_gradient_penalty,
    banach_scales,
    critic_gradient,
    gradient_penalty,
    gradient_penalty_terms,
    random_interpolates,
    sobolev_filter,
    sobolev_norm,
    ssim_gradient_penalty,
)

__all__ = [
    "ssim_gradient_penalty",
    "niqe_gradient_penalty",
    "gradient_map_features",
    "NIQEGradientPenalty",
    "PristineAccumulator",
    "LOSSES",
    "BEGANController",
    "banach_critic_loss",
    "banach_generator_loss",
    "banach_gradient_penalty",
    "banach_scales",
    "build_networks",
    "critic_gradient",
    "critic_loss",
    "drift_penalty",
    "generator_loss",
    "gradient_penalty",
    "gradient_penalty_terms",
    "hinge_critic_loss",
    "hinge_generator_loss",
    "nonsaturating_critic_loss",
    "nonsaturating_generator_loss",
    "random_interpolates",
    "sobolev_filter",
    "sobolev_norm",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
]
