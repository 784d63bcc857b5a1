"""Evaluation of an ``nr-iqa`` run (``qagen eval RUN``): the trained regressor scores the whole
test images of its content-disjoint split, and the predictions are correlated with the
subjective scores per distortion type and overall (SROCC, and PLCC after the 5-parameter
logistic; :func:`qagen.eval.correlation.correlations`). The record goes to ``eval.json`` under
``nr_iqa``: ``srocc`` / ``plcc`` / ``n`` per type and ``ALL``, the predictions per image, the
protocol."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from qagen.errors import InputError

__all__ = ["correlate_by_type", "evaluate_nr_iqa_run", "nr_iqa_eval_command", "test_images"]

ALL = "ALL"


def test_images(ds: Any) -> list[dict]:
    """The test split as ``{"type", "level", "score", "content", "path"|"index"}`` rows."""
    rows = []
    for i, it in enumerate(ds.items):
        if hasattr(it, "path"):  # ScoredImage
            rows.append({"type": it.dist_type, "level": it.level, "score": float(it.score),
                         "content": it.content, "path": str(it.path), "index": i})  # fmt: skip
        else:  # QMapItem of a QMapDataset with target="score"
            m = ds.meta(i)
            rows.append({"type": it.kind, "level": it.level, "score": float(m["ssim"]),
                         "content": m["content"], "path": m.get("source", ""), "index": i})  # fmt: skip
    return rows


def correlate_by_type(
    pred: np.ndarray,
    rows: list[dict],
    *,
    pred_higher_is_better: bool | None,
    target_higher_is_better: bool,
    types: list[str] | None = None,
) -> dict[str, dict]:
    """``{type or ALL: {"srocc", "plcc", "n"}}`` of ``pred`` against the rows' scores (types
    with fewer than 3 images are left out)."""
    from qagen.eval.correlation import correlations

    score = np.array([r["score"] for r in rows], dtype=np.float64)
    kinds = np.array([r["type"] for r in rows])
    out: dict[str, dict] = {}
    for t in [*(types or list(dict.fromkeys(kinds.tolist()))), ALL]:
        mask = np.ones(len(rows), bool) if t == ALL else kinds == t
        if mask.sum() < 3:
            continue
        c = correlations(pred[mask], score[mask], pred_higher_is_better=pred_higher_is_better,
                         target_higher_is_better=target_higher_is_better, warn=False)  # fmt: skip
        out[t] = {"srocc": c.srocc, "plcc": c.plcc, "n": int(mask.sum())}
    return out


def evaluate_nr_iqa_run(
    run_dir: str | Path,
    checkpoint: str | int = "last",
    *,
    device: str = "cpu",
    write: bool = True,
    progress: bool = False,
) -> dict:
    """Score the run's test split with its regressor and correlate (module docstring)."""
    from qagen.train import restore_run

    restored = restore_run(run_dir, checkpoint, device=device)
    recipe, run = restored.recipe, restored.run
    if not hasattr(recipe, "predict") or run.recipe != "nr-iqa":
        raise InputError(f"{run_dir} is a {run.recipe!r} run, not an nr-iqa run")
    ds = type(recipe).build_dataset(run, "test", crop=None, random_crop=False, progress=progress)
    rows = test_images(ds)
    it = range(len(ds))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="nr-iqa eval: test images", unit="img", file=sys.stderr)
    preds = []
    with torch.no_grad():
        for i in it:
            x = ds[i][0][None].to(restored.device)
            preds.append(float(recipe.predict(x)[0]))
    pred = np.array(preds)
    for r, p in zip(rows, preds, strict=True):
        r["predicted"] = p
    hib = bool(getattr(ds, "higher_is_better", True))
    types = [t for t in getattr(ds, "types", []) if t != "pristine"] or None
    table = correlate_by_type(pred, rows, pred_higher_is_better=hib, target_higher_is_better=hib,
                              types=types)  # fmt: skip
    from qagen._version import __version__

    record = {
        "metric": "nr_iqa",
        "srocc": {t: v["srocc"] for t, v in table.items()},
        "plcc": {t: v["plcc"] for t, v in table.items()},
        "n": {t: v["n"] for t, v in table.items()},
        "images": rows,
        "protocol": {
            "run_dir": str(run_dir), "checkpoint_step": restored.step,
            "data": run.data.spec, "database": getattr(ds, "database", run.data.spec),
            "score": getattr(ds, "score_kind", "?"), "higher_is_better": hib,
            "split_seed": run.hparams.split_seed, "test_fraction": run.hparams.test_fraction,
            "test_images": len(rows), "test_contents": sorted({r["content"] for r in rows}),
            "input": "whole test images (global average pooling)",
            "correlation": "SROCC; PLCC after the 5-parameter logistic; per type and ALL",
            "evaluated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "qagen": __version__,
        },
    }  # fmt: skip
    if write:
        from qagen.eval.generation import write_eval_json

        path = Path(run_dir) / "eval.json"
        try:
            old = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            old = {}
        write_eval_json({**old, "nr_iqa": record}, path)
    return record


def nr_iqa_eval_command(run_dir: str | Path, options: Any, stream: TextIO | None = None) -> int:
    """``qagen eval RUN`` of an ``nr-iqa`` run."""
    stream = stream if stream is not None else sys.stdout
    rec = evaluate_nr_iqa_run(run_dir, options.checkpoint, device=options.device,
                              progress=options.progress)  # fmt: skip
    p = rec["protocol"]
    stream.write(f"nr-iqa step {p['checkpoint_step']}: {p['test_images']} test images of "
                 f"{len(p['test_contents'])} contents ({p['database']}, split seed {p['split_seed']})\n")  # fmt: skip
    for key in ("srocc", "plcc"):
        stream.write(
            f"{key.upper():5s} " + ", ".join(f"{t} {v:.3f}" for t, v in rec[key].items()) + "\n"
        )
    stream.write(f"wrote {Path(run_dir) / 'eval.json'} (section 'nr_iqa')\n")
    return 0
