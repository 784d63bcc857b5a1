"""MS-SSIM as a training loss (the MS-SSIM loss poster): SRCNN super-resolution and autoencoders.

* ``srcnn.py``, ``autoencoder.py``: the networks;
* ``recipe_sr.py``: ``sr-mse``, ``sr-mae``, ``sr-msssim``; ``recipe_autoencoder.py``: ``autoencoder``;
* ``data_sr.py`` (``--data patches:PATH``, SR test sets), ``yaleb.py`` (``yaleb:ROOT``),
  ``illumination.py`` (``illumination``);
* ``super_resolution.py``, ``codes.py``, ``reconstruction.py``: their evaluation;
  ``evaluation.py``: ``qagen eval`` of their runs (PSNR / SSIM on Y, reconstruction PSNR /
  MS-SSIM);
  ``report.py``: SR crops and reconstructions;
* ``experiment_sr.py``, ``experiment_ae.py``: ``msssim-sr``, ``msssim-ae``; ``presets/``.

The human ranking study of the poster is :mod:`qagen.study`. See ``docs/msssim-loss.md``.
"""

from pathlib import Path

from qagen.registry import (
    DATA_SOURCES,
    EVALUATORS,
    EXPERIMENTS,
    ORDER_RECIPE,
    PRESETS,
    RECIPES,
    REPORT_SECTIONS,
)

_M = "qagen.methods.msssim."
RECIPES.add("sr-mse", _M + "recipe_sr:SRMSE")
RECIPES.add("sr-mae", _M + "recipe_sr:SRMAE")
RECIPES.add("sr-msssim", _M + "recipe_sr:SRMSSSIM")
RECIPES.add("autoencoder", _M + "recipe_autoencoder:Autoencoder")
DATA_SOURCES.add("patches", _M + "data_sr:PatchDataset", root="required")
DATA_SOURCES.add("yaleb", _M + "yaleb:YaleBDataset", root="required")
DATA_SOURCES.add("illumination", _M + "illumination:IlluminationDataset", root="none")
REPORT_SECTIONS.add("sr", _M + "report:sr_sections", recipes="sr-*", order=ORDER_RECIPE)
REPORT_SECTIONS.add("autoencoder", _M + "report:autoencoder_sections", recipes="autoencoder",
                    order=ORDER_RECIPE)  # fmt: skip
EVALUATORS.add("sr", _M + "evaluation:sr_eval_command", recipes="sr-*")
EVALUATORS.add("autoencoder", _M + "evaluation:autoencoder_eval_command", recipes="autoencoder")
EXPERIMENTS.add("msssim-sr", _M + "experiment_sr:MSSSIMSuperResolution")
EXPERIMENTS.add("msssim-ae", _M + "experiment_ae:MSSSIMAutoencoder")
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
