"""Evaluate a training run directory (the ``qagen eval RUN_DIR`` command).

:func:`evaluate_run` restores the run from a checkpoint (:func:`qagen.train.restore_run`, the
trainer's own construction code), samples ``n_samples`` images from its EMA or raw generator with
a fixed seed, draws as many real images (:func:`qagen.eval.reference.load_reference`: by
default from the run's own dataset, held-out split when the dataset has one), scores them with
:func:`qagen.eval.generation.evaluate_images` (SWD, FID, KID, IS, GLCM) and
:func:`qagen.eval.niqe_set.niqe_set`, and writes ``RUN_DIR/eval.json``:
one record per metric, each with its protocol (checkpoint step, EMA or raw generator, n_fake,
n_real, reference and split, seeds, library versions; for FID/KID/IS also the Inception protocol
of :mod:`qagen.eval.fid`). Each evaluation is appended to ``RUN_DIR/eval_history.jsonl``. The
report is not touched (this module never imports it): ``qagen report RUN_DIR`` (or ``qagen eval
RUN_DIR --report``, which calls both) writes it.

Every setting is a field of :class:`qagen.eval.options.EvalOptions`. See ``docs/evaluation.md``
("Evaluating a run").
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import torch

from qagen.errors import InputError
from qagen.eval.fid import _library_versions
from qagen.eval.generation import (
    evaluate_images,
    skip_without_inception_weights,
    write_eval_json,
)
from qagen.eval.niqe_set import niqe_set
from qagen.eval.options import (
    ALL_METRICS,
    GENERATION_METRICS,
    EvalOptions,
    parse_metric_names,
)
from qagen.eval.reference import ReferenceSet, load_reference
from qagen.eval.swd import swd
from qagen.files import dumps_json
from qagen.registry import EVALUATORS
from qagen.report.runfiles import read_config

__all__ = ["eval_command", "evaluate_run", "record_key", "summary_lines"]


# ----------------------------------------------------------------------------- evaluate_run


def _content_sha(t: torch.Tensor) -> str:
    u = torch.round(t * 255).clamp(0, 255).to(torch.uint8).contiguous()
    return hashlib.sha256(u.numpy().tobytes()).hexdigest()


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _history_rows(results: Mapping[str, Any], when: str) -> Iterator[dict]:
    for name, rec in results.items():
        if not isinstance(rec, Mapping) or rec.get("skipped"):
            continue
        p = rec.get("protocol", {})
        common = {"time": when, "checkpoint_step": p.get("checkpoint_step"),
                  "generator": p.get("generator"), "n_fake": p.get("n_fake")}  # fmt: skip
        if name == "glcm":
            for k, v in (rec.get("fake") or {}).items():
                yield {**common, "metric": f"glcm.{k}", "value": v}
            continue
        value = rec.get("average") if name == "swd" else rec.get("value")
        if value is not None:
            yield {**common, "metric": name, "value": value, "std": rec.get("std"),
                   "n_real": p.get("n_real")}  # fmt: skip


def record_key(metric: str, generator: str = "raw") -> str:
    """The key of a record in ``eval.json``: the metric's name for the raw generator, and
    ``"<metric>@ema"`` for the EMA copy, so that both evaluations of one run are kept side by
    side (each record's protocol also names its ``generator``)."""
    if generator not in ("raw", "ema"):
        raise InputError(f"generator must be 'raw' or 'ema', got {generator!r}")
    return metric if generator == "raw" else f"{metric}@{generator}"


def evaluate_run(
    run_dir: str | Path,
    options: EvalOptions | None = None,
    *,
    write: bool = True,
    log: TextIO | None = None,
    **overrides: Any,
) -> dict:
    """Evaluate the generator of a training run; returns ``{metric: record}``.

    ``options`` (default :class:`EvalOptions`) with ``overrides`` applied (field names, e.g.
    ``evaluate_run(run, metrics="swd", n_samples=500)``). The generated images come from
    :meth:`qagen.train.RestoredRun.generate` (8-bit quantised, as a saved PNG), the real ones
    from :func:`load_reference`. ``niqe`` is :func:`qagen.eval.niqe_set.niqe_set`; the other
    metrics go through :func:`qagen.eval.generation.evaluate_images`. With ``swd_baseline``
    the SWD record also holds ``real_vs_real``: SWD between two independent real sets of the
    same size. Skipped metrics (no Inception weights, from ``"all"``) are reported on ``log``
    (stderr) and in the result.

    ``write``: merge the records into ``RUN_DIR/eval.json`` (records of metrics not evaluated
    now are kept; each carries its own checkpoint step) and append them to
    ``RUN_DIR/eval_history.jsonl``.
    """
    from qagen.train import restore_run

    opts = options if options is not None else EvalOptions()
    if overrides:
        opts = opts.replace(**overrides)
    log = log if log is not None else sys.stderr
    run_dir = Path(run_dir)
    names = parse_metric_names(opts.metrics, GENERATION_METRICS, all_names=ALL_METRICS)
    skipped = skip_without_inception_weights(names, opts.metrics, opts, log)  # before sampling
    names = [m for m in names if m not in skipped]

    restored = restore_run(run_dir, opts.checkpoint, device=opts.device)
    use_ema = opts.generator == "ema"  # a run without an EMA raises in generate(): no fallback
    images = restored.generate(opts.n_samples, seed=opts.seed, ema=use_ema,
                               batch_size=opts.batch_size, progress=opts.progress)  # fmt: skip
    fake = torch.round(images * 255) / 255  # 8-bit, as a saved PNG (and every FID code)
    want_spare = "swd" in names and opts.swd_baseline
    ref = load_reference(opts.real, restored.run, fake.shape[0], seed=opts.seed,
                         split=opts.reference_split, spare=want_spare, progress=opts.progress)  # fmt: skip
    real_t = ref.images
    when = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    extra = {
        "run_dir": str(run_dir),
        "recipe": restored.run.recipe,
        "run_data_split": restored.run.data.split,
        "checkpoint": str(opts.checkpoint),
        "checkpoint_file": restored.checkpoint.name,
        "checkpoint_step": restored.step,
        "generator": "ema" if use_ema else "raw",
        "generator_requested": opts.generator,
        "ema_decay": float(restored.run.train.ema_decay),
        "sample_seed": int(opts.seed),
        "sample_batch_size": int(opts.batch_size),
        "reference_selection_seed": int(opts.seed),
        "reference_n_available": ref.info["reference_n_available"],
        "reference_content_sha256": _content_sha(real_t),
        "evaluated_at": when,
        "libraries": _library_versions(),
    }
    sha16 = extra["reference_content_sha256"][:16]
    reference_name = f"{ref.info['reference']}, {real_t.shape[0]} images (sha256 {sha16})"
    split = ref.info["reference_split"]
    results: dict = {}
    core = [m for m in names if m != "niqe"]
    if core:
        results.update(
            evaluate_images(
                fake,
                real_t,
                opts,
                metrics=core,
                reference_name=reference_name,
                reference_split=split,
                extra_protocol=extra,
                device=restored.device,
            )  # fmt: skip
        )
    if "niqe" in names:
        rec = niqe_set(fake, real_t, block_size=opts.niqe_block, progress=opts.progress)
        rec["protocol"].update({"reference": reference_name, "reference_split": split, **extra})
        results["niqe"] = rec
    for m in ("swd", "glcm"):
        if m in results:
            results[m]["protocol"]["reference"] = reference_name
            results[m]["protocol"]["reference_split"] = split
    if "swd" in results and want_spare:
        results["swd"]["real_vs_real"] = _swd_baseline(ref, opts)
    ordered = {m: results[m] for m in names if m in results}
    ordered.update(skipped)
    if write:
        path = run_dir / "eval.json"
        keyed = {record_key(m, opts.generator): rec for m, rec in ordered.items()}
        write_eval_json({**_read_json(path), **keyed}, path)
        with (run_dir / "eval_history.jsonl").open("a") as fh:
            for row in _history_rows(ordered, when):
                fh.write(dumps_json(row, default=str) + "\n")
    return ordered


def _swd_baseline(ref: ReferenceSet, opts: EvalOptions) -> dict:
    """SWD between the reference images and a second real set of the same size: the value a
    perfect generator would get at this n (SWD is biased upwards at small n)."""
    if ref.spare is None:
        return {"skipped": True, "reason": ref.spare_note}
    r = swd(ref.images, ref.spare, seed=opts.seed, batch_size=opts.batch_size,
            device=opts.device, progress=opts.progress, desc="SWD real vs real (the scale)",
            **opts.swd_kwargs)  # fmt: skip
    return {
        "average": r.average,
        "per_level": {str(k): v for k, v in r.per_level.items()},
        "n": int(ref.images.shape[0]),
        "second_set": ref.info.get("spare_source", ""),
    }


# ----------------------------------------------------------------------------- CLI entry


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return "-" if v is None else str(v)


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """One line per metric: its headline value (and spread, and scale), for the terminal."""
    lines = []
    for name, rec in results.items():
        if rec.get("skipped"):
            lines.append(f"{name:6s} skipped (no Inception weights)")
        elif name == "swd":
            levels = ", ".join(f"{k}: {v:.4g}" for k, v in rec.get("per_level", {}).items())
            base = rec.get("real_vs_real") or {}
            scale = (
                f"; real vs real {base['average']:.4g}" if base.get("average") is not None else ""
            )
            lines.append(
                f"{'swd':6s} {rec['average']:.5g} (x1e3, lower is better{scale}; per level {levels})"
            )
        elif name == "glcm":
            f, r = rec.get("fake", {}), rec.get("real", {})
            keys = ("contrast", "correlation", "energy", "homogeneity", "entropy")
            parts = [f"{k} {_fmt(f.get(k))}/{_fmt(r.get(k))}" for k in keys if k in f]
            lines.append(f"{'glcm':6s} generated/real (closer is better): " + ", ".join(parts))
        elif name == "niqe":
            real = rec.get("real", {})
            lines.append(
                f"{'niqe':6s} {rec['value']:.5g} pooled (real {_fmt(real.get('value'))}; lower is "
                f"better; per image {rec['per_image_mean']:.4g} +- {rec['per_image_std']:.3g}, "
                f"block {rec['protocol']['block_size']})"
            )
        else:
            std = rec.get("std")
            better = "higher" if name in ("is", "is_fmnist") else "lower"
            lines.append(
                f"{name:6s} {rec['value']:.5g}"
                + (f" +- {std:.3g}" if std is not None else "")
                + f" ({better} is better)"
            )
    return lines


def _recipe_of(run_dir: str | Path) -> str:
    """The recipe name in ``RUN_DIR/config.toml``, or ``""`` when it cannot be read."""
    try:
        return str(read_config(run_dir).get("recipe") or "")
    except Exception:  # no or unreadable config.toml: the ordinary evaluation reports it
        return ""


def run_evaluator(run_dir: str | Path) -> Callable | None:
    """The evaluation a method registered for ``run_dir``'s recipe
    (:data:`qagen.registry.EVALUATORS`, first match), or ``None``: a generator run, evaluated
    by :func:`evaluate_run`. An evaluator is ``fn(run_dir, options, stream) -> int``."""
    recipe = _recipe_of(run_dir)
    found = EVALUATORS.matching(recipe) if recipe else []
    return EVALUATORS.get(found[0].name) if found else None


def eval_command(
    run_dir: str | Path, options: EvalOptions | None = None, *, stream: TextIO | None = None
) -> int:
    """CLI entry of ``qagen eval RUN_DIR``: evaluate (:func:`evaluate_run`), print one line per
    metric, write ``RUN_DIR/eval.json``; returns 0. The report is not written here (``qagen eval
    --report`` calls :func:`qagen.report.run.report_command` afterwards). Bad input raises
    :class:`qagen.errors.InputError` or ``FileNotFoundError`` with a message for the user."""
    stream = stream if stream is not None else sys.stdout
    opts = options if options is not None else EvalOptions()
    if opts.crop is not None and _recipe_of(run_dir)[:5] != "qmap-":
        raise InputError(f"evaluation option crop applies to qmap-* runs only; {run_dir} is a "
                         f"{_recipe_of(run_dir) or 'unknown'} run (got crop={opts.crop!r})")  # fmt: skip
    special = run_evaluator(run_dir)  # quality-map and score runs have their own evaluation
    if special is not None:
        return special(run_dir, opts, stream)
    res = evaluate_run(run_dir, opts)
    first = next((r for r in res.values() if not r.get("skipped")), None)
    if first is not None:
        p = first["protocol"]
        stream.write(
            f"{p['recipe']} step {p['checkpoint_step']} ({p['generator']} generator), "
            f"{p.get('n_fake')} generated vs {p.get('n_real')} real from {p.get('reference')} "
            f"[{p.get('reference_split')}]\n"
        )
    for line in summary_lines(res):
        stream.write(line + "\n")
    stream.write(f"wrote {Path(run_dir) / 'eval.json'}\n")
    return 0
