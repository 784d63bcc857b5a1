"""Built-in training recipes (imported on first use by ``qagen.train.get_recipe``).

=================== ========================================== ===============================
name                method                                      source of the defaults
=================== ========================================== ===============================
``wgan-gp``         WGAN-GP, ResNet                              REFERENCE 3.1 (Gulrajani et al.)
``bwgan``           Banach-WGAN, W^{s,p} dual-norm penalty       REFERENCE 3.3 (Adler & Lunz)
``qagan-ssim``      QAGAN, SSIM gradient penalty                 REFERENCE 3.2.1-3.2.2
``qagan-niqe``      QAGAN, NIQE penalty on critic gradients      REFERENCE 3.2.1, 3.2.3
``qagan-ssim-niqe`` QAGAN, both penalties                        REFERENCE 3.2.1-3.2.3
``sr-mse``          SRCNN 4x super-resolution, MSE               REFERENCE 3.8 (MS-SSIM poster)
``sr-mae``          SRCNN, mean absolute error                   REFERENCE 3.8
``sr-msssim``       SRCNN, -MS-SSIM                              REFERENCE 3.8
``autoencoder``     grey conv. autoencoder, MSE / MAE / -MS-SSIM REFERENCE 3.8
=================== ========================================== ===============================

Presets (TOML, ``qagen/train/presets/``): one per recipe with the authors' hyper-parameters, a
``<recipe>-demo`` preset sized for a few minutes on a CPU, and ``bwgan-sobolev`` / ``bwgan-l10``
(the Banach-WGAN paper's settings). See ``docs/training.md``.
"""

from .autoencoder import Autoencoder, AutoencoderConfig
from .bwgan import BWGAN, BWGANConfig
from .common import GANConfig, GANRecipe, SharedStepAdam, augment_batch
from .sr import SRMAE, SRMSE, SRMSSSIM, SRConfig, SRRecipe
from .wgan import (
    QAGANNIQE,
    QAGANSSIM,
    QAGANSSIMNIQE,
    WGANGP,
    NIQEPenaltyConfig,
    QAGANConfig,
    QAGANNIQEConfig,
    QAGANSSIMConfig,
    QAGANSSIMNIQEConfig,
    WGANGPConfig,
    wgan_critic_objective,
)

__all__ = [
    "Autoencoder",
    "AutoencoderConfig",
    "SRConfig",
    "SRMAE",
    "SRMSE",
    "SRMSSSIM",
    "SRRecipe",
    "BWGAN",
    "BWGANConfig",
    "GANConfig",
    "GANRecipe",
    "NIQEPenaltyConfig",
    "QAGANConfig",
    "QAGANNIQE",
    "QAGANNIQEConfig",
    "QAGANSSIM",
    "QAGANSSIMConfig",
    "QAGANSSIMNIQE",
    "QAGANSSIMNIQEConfig",
    "SharedStepAdam",
    "WGANGP",
    "WGANGPConfig",
    "augment_batch",
    "wgan_critic_objective",
]
