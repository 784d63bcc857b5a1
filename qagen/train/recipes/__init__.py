"""Built-in training recipes (imported on first use by ``qagen.train.get_recipe``).

=================== ========================================== ===============================
name                method                                      source of the defaults
=================== ========================================== ===============================
``wgan-gp``         WGAN-GP, ResNet                              REFERENCE 3.1 (Gulrajani et al.)
``bwgan``           Banach-WGAN, W^{s,p} dual-norm penalty       REFERENCE 3.3 (Adler & Lunz)
``qagan-ssim``      QAGAN, SSIM gradient penalty                 REFERENCE 3.2.1-3.2.2
``qagan-niqe``      QAGAN, NIQE penalty on critic gradients      REFERENCE 3.2.1, 3.2.3
``qagan-ssim-niqe`` QAGAN, both penalties                        REFERENCE 3.2.1-3.2.3
``began``           BEGAN with BEGAN-IQA's eq. 6 distance        BEGAN-IQA (Vertolli & Davies), 3.5-3.6
``qmap-*``          SSIM-map prediction (8 models of Table I)    REFERENCE 5 (Zhou, Guo, Dasari)
``nr-iqa``          CNN score regressor (NR-IQA)                 REFERENCE 4.1 (QMF's s), 6.3
``qmf``             Quality Map Fusion (PAM, M_F, d1, d2, s, L_BP) REFERENCE 4, 3.4 (docs/qmf.md)
=================== ========================================== ===============================

Presets (TOML, ``qagen/train/presets/``): one per recipe with the authors' hyper-parameters, a
``<recipe>-demo`` preset sized for a few minutes on a CPU, and ``bwgan-sobolev`` / ``bwgan-l10``
(the Banach-WGAN paper's settings), ``began-m01`` ... ``began-m12`` (BEGAN-IQA Table 1). See
``docs/training.md`` and ``docs/began.md``.
"""

from .began import BEGAN, BEGANConfig
from .bwgan import BWGAN, BWGANConfig
from .common import GANConfig, GANRecipe, SharedStepAdam, augment_batch
from .nr_iqa import NRIQA, NRIQAConfig
from .qmap import QMapConfig, QMapGAN, QMapGANConfig, QMapRecipe
from .qmf import QMF, QMFConfig
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
    "BEGAN",
    "BEGANConfig",
    "BWGAN",
    "BWGANConfig",
    "GANConfig",
    "GANRecipe",
    "NIQEPenaltyConfig",
    "NRIQA",
    "NRIQAConfig",
    "QAGANConfig",
    "QAGANNIQE",
    "QAGANNIQEConfig",
    "QAGANSSIM",
    "QAGANSSIMConfig",
    "QAGANSSIMNIQE",
    "QAGANSSIMNIQEConfig",
    "QMapConfig",
    "QMapGAN",
    "QMapGANConfig",
    "QMapRecipe",
    "QMF",
    "QMFConfig",
    "SharedStepAdam",
    "WGANGP",
    "WGANGPConfig",
    "augment_batch",
    "wgan_critic_objective",
]
