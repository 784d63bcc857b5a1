"""Built-in training recipes (imported on first use by ``qagen.train.get_recipe``).

=================== ======================================== ==========================================
name                method                                   source of the defaults
=================== ======================================== ==========================================
``wgan-gp``         WGAN-GP, ResNet                          Gulrajani et al. 2017, gan_cifar_resnet.py
``bwgan``           Banach-WGAN, W^{s,p} dual-norm penalty   Adler & Lunz 2018, banach_wgan code
``qagan-ssim``      QAGAN, SSIM gradient penalty             Kancharla & Channappayya 2019
``qagan-niqe``      QAGAN, NIQE penalty on critic gradients  Kancharla & Channappayya 2019
``qagan-ssim-niqe`` QAGAN, both penalties                    Kancharla & Channappayya 2019
``began``           BEGAN with BEGAN-IQA's eq. 6 distance    Vertolli & Davies 2017, BEGAN-IQA code
``qmap-*``          SSIM-map prediction (Table I's 8 models) Zhou, Guo & Dasari
``nr-iqa``          CNN quality-score regressor (NR-IQA)     Osahor & Nasrabadi (QMF's s)
``qmf``             Quality Map Fusion (PAM, M_F, d1, d2, s) Osahor & Nasrabadi, docs/qmf.md
``sr-mse``          SRCNN 4x super-resolution, MSE           Dong et al. 2016; MS-SSIM poster
``sr-mae``          SRCNN, mean absolute error               MS-SSIM loss poster
``sr-msssim``       SRCNN, 1 - MS-SSIM                       MS-SSIM loss poster
``autoencoder``     grey autoencoder, MSE / MAE / MS-SSIM    MS-SSIM loss poster
=================== ======================================== ==========================================

Presets (TOML, ``qagen/train/presets/``): one per recipe with the authors' hyper-parameters, a
``<recipe>-demo`` preset sized for a few minutes on a CPU, and ``bwgan-sobolev`` / ``bwgan-l10``
(the Banach-WGAN paper's settings), ``began-m01`` ... ``began-m12`` (BEGAN-IQA Table 1). See
``docs/training.md``, ``docs/began.md``, ``docs/quality-maps.md``, ``docs/qmf.md`` and
``docs/msssim-loss.md``.
"""

from .autoencoder import Autoencoder, AutoencoderConfig
from .began import BEGAN, BEGANConfig
from .bwgan import BWGAN, BWGANConfig
from .common import GANConfig, GANRecipe, SharedStepAdam, augment_batch
from .nr_iqa import NRIQA, NRIQAConfig
from .qmap import QMapConfig, QMapGAN, QMapGANConfig, QMapRecipe
from .qmf import QMF, QMFConfig
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
    "BEGAN",
    "BEGANConfig",
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
