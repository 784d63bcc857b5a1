"""Evaluation layer, generic: generation metrics, correlations with subjective scores, texture
statistics, run evaluation (docs/evaluation.md). The methods' own evaluations are in
``qagen/methods/<name>/``; the IQA database readers in :mod:`qagen.data.databases`; the run
report in :mod:`qagen.report.run`.

* ``qagen.eval.swd``: sliced Wasserstein distance on Laplacian-pyramid patches (no weights).
* ``qagen.eval.fid``: FID / KID / IS through torch-fidelity (its Inception and its statistics),
  weights from a local file, every score with its protocol; cached reference statistics.
* ``qagen.eval.correlation``: SROCC, KROCC, PLCC and RMSE (scipy.stats) after the logistic fit.
* ``qagen.eval.bench``: ``bench_iqa`` (the ``qagen bench-iqa`` command).
* ``qagen.eval.texture``: GLCM statistics and HOG similarity.
* ``qagen.eval.generation``: ``evaluate_images`` (the core of ``qagen eval``).
* ``qagen.eval.options``: ``EvalOptions`` (every setting of ``qagen eval``) and the metric-name
  parser.
* ``qagen.eval.niqe_set``: NIQE of a set of small images (pooled and per image).
* ``qagen.eval.reference``: ``load_reference``, the real images of an evaluation.
* ``qagen.eval.run``: ``evaluate_run`` / ``eval_command`` (``qagen eval RUN_DIR``) and
  ``run_evaluator`` (a method's own evaluation of its runs).
* ``qagen.eval.sampling``: ``qagen sample`` (samples and latent interpolations of any generator).
* ``qagen.eval.diversity``: mean MS-SSIM of random pairs (Odena et al.).
* ``qagen.eval.gan_maps``: the report section with quality maps of a GAN's samples.
* ``qagen.eval.restored``: ``restored_run``, a report's run restored once for its sections.

The names below are imported on first use, so ``import qagen.eval.options`` (the command line)
does not load torch.
"""

from __future__ import annotations

from qagen._lazy import lazy_exports

_EXPORTS = {
    "bench": ("BenchResult", "MetricSpec", "bench_iqa", "bench_iqa_command"),
    "correlation": ("CorrelationResult", "FitResult", "correlations", "fit_logistic", "krocc",
                    "logistic4", "logistic5", "pearson", "plcc", "rmse", "srocc"),
    "fid": ("GenerationScore", "InceptionV3Extractor", "InceptionWeightsError", "ModuleExtractor",
            "frechet_distance", "generation_metrics", "inception_score",
            "kernel_inception_distance", "reference_statistics"),
    "generation": ("evaluate_images", "write_eval_json"),
    "options": ("GENERATION_METRICS", "EvalOptions", "InceptionOptions", "parse_metric_names"),
    "niqe_set": ("niqe_block_size", "niqe_set"),
    "run": ("eval_command", "evaluate_run", "run_evaluator"),
    "reference": ("ReferenceSet", "load_reference"),
    "swd": ("SWDResult", "swd"),
    "texture": ("glcm_features", "gray_entropy", "hog_similarity"),
}  # fmt: skip
_WHERE = {name: f"qagen.eval.{module}" for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
