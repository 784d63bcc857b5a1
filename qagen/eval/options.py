"""Evaluation options as frozen dataclasses, and the one metric-name parser.

:class:`EvalOptions` holds every setting of :func:`qagen.eval.run.evaluate_run` and
:func:`qagen.eval.generation.evaluate_images`; the ``qagen eval`` command line takes its
defaults from it (``qagen.cli`` reads the field defaults), so the API and the command line
cannot drift apart. :class:`InceptionOptions` holds the settings of the FID / KID / IS protocol
(:func:`qagen.eval.fid.generation_metrics`); :meth:`EvalOptions.inception_options` derives it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qagen.errors import InputError, UnknownNameError

__all__ = [
    "ALL_METRICS",
    "FMNIST_METRICS",
    "GENERATION_METRICS",
    "INCEPTION_METRICS",
    "EvalOptions",
    "InceptionOptions",
    "parse_metric_names",
    "split_names",
]

#: The metrics of a generated set, in evaluation order.
GENERATION_METRICS = ("swd", "fid", "kid", "is", "niqe", "glcm", "fd_fmnist", "kid_fmnist",
                      "is_fmnist")  # fmt: skip
#: What ``"all"`` means: every metric that applies to any run (the ``*_fmnist`` metrics, in the
#: features of a Fashion-MNIST classifier, are asked for by name).
ALL_METRICS = ("swd", "fid", "kid", "is", "niqe", "glcm")
#: The metrics in the features of the Fashion-MNIST classifier (:mod:`qagen.eval.fmnist`).
FMNIST_METRICS = ("fd_fmnist", "kid_fmnist", "is_fmnist")
#: The metrics that need the Inception weights.
INCEPTION_METRICS = ("fid", "kid", "is")


def split_names(spec: str | Sequence[Any]) -> list[Any]:
    """The items of a comma list (``"ssim, fsim"``) or a sequence, stripped, empty ones dropped,
    duplicates removed (first kept). Non-string items (metric objects) pass unchanged."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Any] = []
    for it in items:
        if isinstance(it, str):
            it = it.strip()
            if not it:
                continue
        if it not in out:
            out.append(it)
    return out


def parse_metric_names(
    spec: str | Sequence[str],
    available: Sequence[str],
    *,
    kind: str = "metric",
    all_names: Sequence[str] | None = None,
) -> list[str]:
    """Validated, lower-cased names from a comma list or sequence, in the order given; ``"all"``
    expands to every name of ``all_names`` (default ``available``; in that order). An unknown
    name raises
    :class:`qagen.errors.UnknownNameError` (``kind`` names the registry); an empty selection
    raises :class:`qagen.errors.InputError`."""
    names: list[str] = []
    for item in split_names(spec):
        name = str(item).lower()
        if name == "all":
            names.extend(n for n in (all_names or available) if n not in names)
        elif name in available:
            if name not in names:
                names.append(name)
        else:
            raise UnknownNameError(kind, name, [*available, "all"])
    if not names:
        raise InputError(f"no {kind} given (choose from {', '.join(available)} or 'all')")
    return names


def _replace(obj: Any, what: str, changes: Mapping[str, Any]) -> Any:
    """``dataclasses.replace(obj, **changes)``; an unknown field raises
    :class:`UnknownNameError` (``what`` names the kind of option)."""
    known = [f.name for f in dataclasses.fields(obj)]
    for k in changes:
        if k not in known:
            raise UnknownNameError(what, k, known)
    return dataclasses.replace(obj, **changes)


@dataclass(frozen=True)
class InceptionOptions:
    """Settings of FID, KID and IS (:func:`qagen.eval.fid.generation_metrics`).

    * ``inception_weights``: the FID Inception file or its folder (or
      ``$QAGEN_INCEPTION_WEIGHTS``); ``extractor``: a :class:`qagen.eval.fid.FeatureExtractor`
      replacing the Inception network (then no weights are needed); ``verify_hash``: check the
      file's SHA-256; ``feature_layer``: the Inception layer of FID/KID (``"2048"`` = pool3).
    * ``fid_method``: the matrix square root of FID (``"eigvals"``, ``"eigh"``, ``"sqrtm"``).
    * ``kid_subsets`` rounds of ``kid_subset_size`` images per set (``None``: min(1000, n_fake,
      n_real)); ``isc_splits`` IS splits (``None``: min(10, n_fake)). The defaults (1000, 10)
      are the standard protocol and fail on smaller sets rather than change it silently.
    * ``seed``: the KID subsets and the IS shuffle (2020, torch-fidelity's default).
    """

    inception_weights: str | Path | None = None
    extractor: Any = None
    verify_hash: bool = True
    feature_layer: str = "2048"
    fid_method: str = "eigvals"
    kid_subsets: int = 100
    kid_subset_size: int | None = 1000
    isc_splits: int | None = 10
    seed: int = 2020

    def replace(self, **changes: Any) -> InceptionOptions:
        """A copy with ``changes`` (unknown names raise :class:`UnknownNameError`)."""
        return _replace(self, "Inception option", changes)


@dataclass(frozen=True)
class EvalOptions:
    """Settings of ``qagen eval`` / :func:`qagen.eval.run.evaluate_run`.

    Generated images:

    * ``metrics``: comma list of ``swd, fid, kid, is, niqe, glcm`` or ``"all"``. From ``"all"``,
      FID/KID/IS are skipped (with the reason in ``eval.json``) when no Inception weights are
      found; named explicitly, they raise :class:`qagen.eval.InceptionWeightsError`.
    * ``n_samples`` images from checkpoint ``checkpoint`` (``"last"``, a step number or a file)
      of the ``generator`` ``"raw"`` (default: the trained weights, which every run has; the
      QAGAN authors evaluated the raw generator at step 100,000) or ``"ema"`` (the EMA copy, as
      the sample grids; an error for a run that keeps no EMA, never a fallback), drawn
      with ``seed`` in batches of ``batch_size`` (batch-statistics generators depend on it).

    Real images (the reference):

    * ``real``: a dataset spec (``"cifar10:ROOT"``), an image folder, a tensor (API only), or
      ``None`` for the run's own dataset; ``reference_split``: the split to use (default: the
      held-out ``test`` split when the dataset has one, else the run's training split). The
      same ``n_samples`` are drawn with ``seed``.

    Metrics:

    * ``inception_weights``: the FID Inception file (or ``$QAGEN_INCEPTION_WEIGHTS``);
      ``verify_hash``, ``feature_layer``, ``fid_method``, ``kid_subsets``; ``kid_subset_size``
      and ``isc_splits`` default (``None``) to min(1000, n) and min(10, n); ``cache_dir``: the
      reference-statistics cache (``None``: ``$QAGEN_CACHE_DIR`` or ``~/.cache/qagen``;
      ``"off"``: no cache).
    * ``niqe_block``: NIQE block size (``None``: :func:`qagen.eval.niqe_set.niqe_block_size`).
    * ``swd_baseline``: also compute SWD between two independent real sets of the same size
      (the scale of the generated-vs-real value).

    Running: ``device``; ``progress`` (a tqdm bar per stage on stderr).

    Quality-map runs (``qmap-*``): ``crop``, the side of the validation centre crops (``None``:
    the run's own ``data.resolution``); runs trained on different crops are compared on the same
    images with the same ``crop`` (docs/quality-maps.md). Other runs reject it.

    :func:`qagen.eval.generation.evaluate_images` reads the metric settings, ``seed`` (SWD),
    ``batch_size``, ``device``, ``cache_dir`` and ``progress``; the FID/KID/IS settings reach
    :func:`qagen.eval.fid.generation_metrics` as :meth:`inception_options` (its seed stays
    2020: ``seed`` is the sampling seed).

    API only (not on the command line): ``swd_kwargs`` (for :func:`qagen.eval.swd.swd`) and
    ``extractor`` (a :class:`qagen.eval.fid.FeatureExtractor` replacing the Inception network).
    """

    metrics: str = "all"
    n_samples: int = 1000
    checkpoint: str = "last"
    generator: str = "raw"
    real: Any = None
    reference_split: str | None = None
    inception_weights: str | None = None
    seed: int = 0
    batch_size: int = 64
    device: str = "cpu"
    niqe_block: int | None = None
    swd_baseline: bool = True
    verify_hash: bool = True
    feature_layer: str = "2048"
    fid_method: str = "eigvals"
    kid_subsets: int = 100
    kid_subset_size: int | None = None
    isc_splits: int | None = None
    cache_dir: str | None = None
    progress: bool = True
    crop: int | None = None
    swd_kwargs: dict = field(default_factory=dict)
    extractor: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.metrics, (list, tuple)):
            object.__setattr__(self, "metrics", ",".join(str(m) for m in self.metrics))
        parse_metric_names(self.metrics, GENERATION_METRICS)  # fails early on unknown names
        if isinstance(self.checkpoint, (int, Path)):
            object.__setattr__(self, "checkpoint", str(self.checkpoint))
        checks = [
            ("n_samples", self.n_samples >= 2, "must be >= 2 (FID needs two images per set)"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("kid_subsets", self.kid_subsets >= 1, "must be >= 1"),
            ("kid_subset_size", self.kid_subset_size is None or self.kid_subset_size >= 2,
             "must be >= 2"),
            ("isc_splits", self.isc_splits is None or self.isc_splits >= 1, "must be >= 1"),
            ("niqe_block", self.niqe_block is None or self.niqe_block >= 4, "must be >= 4"),
            ("crop", self.crop is None or (isinstance(self.crop, int)
                                           and not isinstance(self.crop, bool) and self.crop >= 1),
             "must be None (the run's crop) or a positive int"),
        ]  # fmt: skip
        for name, ok, why in checks:
            if not ok:
                raise InputError(f"evaluation option {name} {why}, got {getattr(self, name)!r}")
        if self.generator not in ("ema", "raw"):
            raise InputError(
                f"evaluation option generator must be 'ema' or 'raw', got {self.generator!r}"
            )
        if self.fid_method not in ("eigvals", "eigh", "sqrtm"):
            raise InputError(
                "evaluation option fid_method must be 'eigvals', 'eigh' or 'sqrtm', got "
                f"{self.fid_method!r}"
            )

    def replace(self, **changes: Any) -> EvalOptions:
        """A copy with ``changes`` (unknown names raise :class:`UnknownNameError`)."""
        return _replace(self, "evaluation option", changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EvalOptions:
        """Options from a mapping of field names (unknown names raise)."""
        return cls().replace(**dict(values))

    def inception_options(self) -> InceptionOptions:
        """The FID / KID / IS settings of these options (``kid_subset_size`` and
        ``isc_splits`` ``None``: min(1000, n) and min(10, n), as :class:`InceptionOptions`)."""
        return InceptionOptions(
            inception_weights=self.inception_weights, extractor=self.extractor,
            verify_hash=self.verify_hash, feature_layer=self.feature_layer,
            fid_method=self.fid_method, kid_subsets=self.kid_subsets,
            kid_subset_size=self.kid_subset_size, isc_splits=self.isc_splits,
        )  # fmt: skip

    @property
    def cache(self) -> str | Path | bool | None:
        """``cache_dir`` as :func:`qagen.eval.fid.reference_statistics` takes it."""
        if self.cache_dir is not None and str(self.cache_dir).lower() in ("off", "false", "none"):
            return False
        return self.cache_dir
