"""Evaluate a set of generated images against a reference set (the core of ``qagen eval``).

:func:`evaluate_images` takes tensors or image folders and returns a JSON-ready dict with one
entry per requested metric, each with its protocol record. Run directories (sampling from a
checkpoint's generator) will call it with the sampled tensor.

Metrics: ``swd`` (weight-free, the offline default), ``fid``, ``kid``, ``is`` (Inception
weights from a local file), ``niqe`` (no-reference, ``qagen.iqa`` registry: mean and std over
the generated images), ``glcm`` (texture statistics of both sets, means over images).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from qagen.errors import InputError
from qagen.eval._progress import progress as _progress
from qagen.eval.fid import (
    InceptionWeightsError,
    generation_metrics,
    iter_uint8_batches,
    resolve_inception_weights,
)
from qagen.eval.options import (
    ALL_METRICS,
    FMNIST_METRICS,
    GENERATION_METRICS,
    INCEPTION_METRICS,
    EvalOptions,
    parse_metric_names,
    split_names,
)
from qagen.eval.swd import swd
from qagen.eval.texture import glcm_features, glcm_protocol
from qagen.files import write_json_atomic

__all__ = [
    "GENERATION_METRICS",
    "evaluate_images",
    "load_images",
    "skip_without_inception_weights",
    "write_eval_json",
]


def load_images(source: object, data_range: float = 1.0, limit: int | None = None) -> torch.Tensor:
    """A float32 tensor ``N x 3 x H x W`` in [0, 1] from a tensor, a folder or batches (8-bit
    quantised like the FID input; all images must share one size)."""
    batches = list(iter_uint8_batches(source, batch_size=256, data_range=data_range, limit=limit))
    if not batches:
        raise InputError("no images were read")
    shapes = {tuple(b.shape[1:]) for b in batches}
    if len(shapes) > 1:
        raise InputError(f"images must share one size, got {sorted(shapes)}")
    return torch.cat(batches).float() / 255.0


def skip_without_inception_weights(
    names: Sequence[str], metrics: str | Sequence[str], opts: EvalOptions, log: TextIO | None = None
) -> dict:
    """``{metric: {"metric", "skipped": True, "reason"}}`` for the Inception metrics (FID, KID,
    IS) among ``names`` that came from ``"all"`` in ``metrics`` when no Inception weights are
    found (none given, ``$QAGEN_INCEPTION_WEIGHTS`` unset or wrong); the reason is also written
    to ``log``. One that ``metrics`` names explicitly raises
    :class:`~qagen.eval.fid.InceptionWeightsError` instead (before any work). ``{}`` when the
    weights are found, or ``opts.extractor`` replaces the Inception network."""
    inception = [m for m in names if m in INCEPTION_METRICS]
    if not inception or opts.extractor is not None:
        return {}
    try:
        resolve_inception_weights(opts.inception_weights)
    except InceptionWeightsError as err:
        explicit = {str(n).lower() for n in split_names(metrics)} - {"all"}
        if any(m in explicit for m in inception):
            raise
        reason = f"no Inception weights: {err}"
        if log is not None:
            print(f"qagen eval: {', '.join(inception)} skipped, {reason}", file=log)
        return {m: {"metric": m, "skipped": True, "reason": reason} for m in inception}
    return {}


def evaluate_images(
    fake: object,
    real: object = None,
    options: EvalOptions | None = None,
    *,
    metrics: str | Sequence[str] = ("swd",),
    data_range: float = 1.0,
    reference_name: str | None = None,
    reference_split: str | None = None,
    extra_protocol: dict | None = None,
    **overrides: Any,
) -> dict:
    """Evaluate generated images ``fake`` (tensor in [0, data_range] or folder) against ``real``.

    Returns ``{metric: record}`` (JSON-serialisable) for ``metrics`` (``options.metrics`` is not
    read). ``options`` (default ``EvalOptions(progress=False)``) with ``overrides`` applied
    (:class:`~qagen.eval.options.EvalOptions` field names, e.g. ``inception_weights``,
    ``extractor``, ``kid_subset_size``, ``swd_kwargs``, ``cache_dir``, ``progress``) holds the
    settings: SWD uses ``seed`` and ``swd_kwargs`` (:func:`qagen.eval.swd.swd`); FID/KID/IS
    get :meth:`~qagen.eval.options.EvalOptions.inception_options` (their own seed, 2020);
    ``batch_size``, ``device``, ``cache_dir`` and ``progress`` (a bar per stage on stderr)
    apply to all. ``reference_name`` / ``reference_split`` name the real set and
    ``extra_protocol`` (e.g. ``{"checkpoint": "last", "generator": "ema"}``) is stored with
    every record.

    Without Inception weights, FID / KID / IS asked for through ``"all"`` are skipped: their
    records say ``"skipped": true`` with the reason (as ``qagen eval``); named explicitly, they
    raise :class:`~qagen.eval.fid.InceptionWeightsError` (:func:`skip_without_inception_weights`).
    """
    opts = options if options is not None else EvalOptions(progress=False)
    if overrides:
        opts = opts.replace(**overrides)
    batch_size, device, progress = opts.batch_size, opts.device, opts.progress
    names = parse_metric_names(metrics, GENERATION_METRICS, all_names=ALL_METRICS)
    skipped = skip_without_inception_weights(names, metrics, opts)
    names = [m for m in names if m not in skipped]
    extra = dict(extra_protocol or {})
    out: dict = {}
    fake_t = real_t = None

    def fake_tensor() -> torch.Tensor:
        nonlocal fake_t
        if fake_t is None:
            fake_t = load_images(fake, data_range)
        return fake_t

    def real_tensor() -> torch.Tensor:
        nonlocal real_t
        if real is None:
            raise InputError("this metric needs real (reference) images")
        if real_t is None:
            real_t = load_images(real, data_range)
        return real_t

    if "swd" in names:
        r = swd(
            _batched(
                fake_tensor(), batch_size, "SWD descriptors of the generated images", progress
            ),
            _batched(real_tensor(), batch_size, "SWD descriptors of the real images", progress),
            seed=opts.seed,
            batch_size=batch_size,
            device=device,
            progress=progress,
            desc="SWD generated vs real",
            **opts.swd_kwargs,
        )
        d = r.to_dict()
        d["protocol"].update(
            {"n_fake": int(fake_tensor().shape[0]), "n_real": int(real_tensor().shape[0]), **extra}
        )
        d["protocol"]["reference"] = reference_name
        d["protocol"]["reference_split"] = reference_split
        out["swd"] = d
    inception = [m for m in names if m in ("fid", "kid", "is")]
    if inception:
        scores = generation_metrics(
            fake,
            real,
            opts.inception_options(),
            metrics=inception,
            data_range=data_range,
            batch_size=batch_size,
            device=device,
            reference_name=reference_name,
            reference_split=reference_split,
            cache_dir=opts.cache,
            extra_protocol=extra,
            progress=progress,
        )
        out.update({k: v.to_dict() for k, v in scores.items()})
    fm = [m for m in names if m in FMNIST_METRICS]
    if fm:
        from qagen.eval.fmnist import fmnist_metrics

        out.update(fmnist_metrics(
            fake_tensor(), real_tensor(), fm, batch_size=max(batch_size, 256), device=device,
            kid_subsets=opts.kid_subsets, kid_subset_size=opts.kid_subset_size,
            isc_splits=opts.isc_splits, reference_name=reference_name,
            reference_split=reference_split, extra_protocol=extra,
        ))  # fmt: skip
    if "niqe" in names:
        from qagen.iqa import get

        info = get("niqe")
        x = fake_tensor().to(device)
        starts = range(0, x.shape[0], batch_size)
        vals = torch.cat(
            [
                info.fn(x[i : i + batch_size], data_range=1.0).reshape(-1).cpu()
                for i in _progress(starts, desc="NIQE", total=len(starts), enabled=progress)
            ]
        )
        v = vals.double().numpy()
        out["niqe"] = {
            "metric": "niqe",
            "value": float(np.mean(v)),
            "std": float(np.std(v)),
            "protocol": {
                "n_fake": int(v.size),
                "reference": info.reproduces,
                "lower_is_better": True,
                **extra,
            },
        }
    if "glcm" in names:
        rec: dict = {"metric": "glcm", "protocol": {**glcm_protocol(), **extra}}
        sets = [("fake", fake_tensor())] + ([("real", real_tensor())] if real is not None else [])
        for label, t in sets:
            who = "generated" if label == "fake" else label
            feats = _glcm_in_chunks(t, f"GLCM of the {who} images", progress)
            rec[label] = {k: float(v.mean()) for k, v in feats.items()}
            rec["protocol"][f"n_{label}"] = int(t.shape[0])
        out["glcm"] = rec
    out.update(skipped)
    return out


def _batched(x: torch.Tensor, batch_size: int, desc: str, enabled: bool) -> object:
    """``x`` itself, or its batches under a progress bar that starts when the iteration starts
    (SWD does not depend on batching)."""
    if not enabled:
        return x

    def batches() -> Iterator[torch.Tensor]:
        starts = range(0, x.shape[0], batch_size)
        for i in _progress(starts, desc=desc, total=len(starts), enabled=True):
            yield x[i : i + batch_size]

    return batches()


def _glcm_in_chunks(x: torch.Tensor, desc: str, enabled: bool, chunk: int = 64) -> dict:
    """:func:`glcm_features` image by image in chunks (each image is independent)."""
    parts = [
        glcm_features(x[i : i + chunk])
        for i in _progress(range(0, x.shape[0], chunk), desc=desc, enabled=enabled,
                           total=-(-x.shape[0] // chunk))
    ]  # fmt: skip
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def write_eval_json(results: dict, path: str | Path) -> Path:
    """Write ``results`` as indented strict JSON, atomically (non-finite numbers: ``null`` and
    ``"<key>_reason"``, :func:`qagen.files.json_safe`; files before this wrote ``"nan"``)."""
    return write_json_atomic(path, results, indent=2, default=str)
