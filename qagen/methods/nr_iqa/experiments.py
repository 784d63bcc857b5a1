"""The NR-IQA tables of Osahor & Nasrabadi's QMF paper (arXiv 2110.12338): Table 1 (SROCC on
TID2008 per distortion type) and Table 2 (PLCC, "LCC", on LIVE per type and overall).

Our rows: the ``nr-iqa`` CNN regressor (:mod:`qagen.methods.nr_iqa.recipe`) trained on ``N``
content-disjoint 80/20 splits of the database (10 in the protocol; seeds 0..N-1) and evaluated on
each split's test images, the cell being the **median over the splits** (the spread in ``std``);
and GMSD, FSIMc and NIQE (qagen's implementations at MATLAB parity, ``data_range=255``) scored on
the same test images of the same splits (their medians). The other published methods are not in
qagen: their cells are ``null`` with that reason.

Without a database (``smoke`` and ``cpu`` budgets, or ``--data builtin``) the same runs use the
built-in photos distorted by the Waterloo generator with the whole image's SSIM as the target
score; only the columns with a matching distortion are filled (TID2008: AGN = white noise, GB =
Gaussian blur, JPEG, JP2K; LIVE: WN, BLUR, JPEG, JP2K, ALL) and the numbers are correlations with
SSIM, not with subjective scores: they test the pipeline, they are not comparable with the
paper's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qagen.errors import InputError
from qagen.experiments.base import (
    Cell,
    Experiment,
    ExperimentContext,
    Row,
    RunSpec,
    register_experiment,
)
from qagen.files import write_json_atomic

#: QMF Table 1: SROCC on TID2008 per type (AGN ... J2TE).
TID2008_TYPES = ("AGN", "ANMC", "SCN", "MN", "HFN", "IMN", "QN", "GB", "DEN", "JPEG", "JP2K",
                 "JGTE", "J2TE")  # fmt: skip
TABLE1 = {
    "GMSD": (
        0.911,
        0.888,
        0.914,
        0.747,
        0.919,
        0.683,
        0.857,
        0.911,
        0.966,
        0.954,
        0.983,
        0.852,
        0.873,
    ),
    "FSIMc": (
        0.910,
        0.864,
        0.890,
        0.863,
        0.921,
        0.736,
        0.865,
        0.949,
        0.964,
        0.945,
        0.977,
        0.878,
        0.884,
    ),
    "BLIINDS-II": (
        0.779,
        0.807,
        0.887,
        0.691,
        0.917,
        0.908,
        0.851,
        0.952,
        0.908,
        0.928,
        0.940,
        0.865,
        0.855,
    ),
    "DIIVINE": (
        0.812,
        0.844,
        0.854,
        0.713,
        0.922,
        0.915,
        0.874,
        0.943,
        0.912,
        0.930,
        0.938,
        0.873,
        0.852,
    ),
    "BRISQUE": (
        0.853,
        0.861,
        0.885,
        0.810,
        0.931,
        0.927,
        0.881,
        0.933,
        0.924,
        0.934,
        0.944,
        0.891,
        0.836,
    ),
    "NIQE": (
        0.786,
        0.832,
        0.903,
        0.835,
        0.931,
        0.913,
        0.893,
        0.953,
        0.917,
        0.943,
        0.956,
        0.862,
        0.827,
    ),
    "BPSQM": (
        0.881,
        0.801,
        0.935,
        0.786,
        0.938,
        0.933,
        0.920,
        0.937,
        0.914,
        0.943,
        0.967,
        0.829,
        0.644,
    ),
    "QMF (Ours)": (
        0.936,
        0.878,
        0.961,
        0.939,
        0.948,
        0.892,
        0.915,
        0.898,
        0.878,
        0.955,
        0.987,
        0.836,
        0.779,
    ),
}
#: QMF Table 2: PLCC on LIVE per type and ALL.
LIVE_TYPES = ("JP2K", "JPEG", "WN", "BLUR", "FF", "ALL")
TABLE2 = {
    "BRISQUE": (0.923, 0.973, 0.985, 0.951, 0.903, 0.942),
    "CORNIA": (0.951, 0.965, 0.987, 0.968, 0.917, 0.935),
    "CNN": (0.953, 0.981, 0.984, 0.953, 0.933, 0.953),
    "SOM": (0.952, 0.961, 0.991, 0.974, 0.954, 0.962),
    "BIECON": (0.965, 0.987, 0.970, 0.945, 0.931, 0.962),
    "QMF (Ours)": (0.975, 0.986, 0.994, 0.988, 0.960, 0.982),
}
#: qagen metrics computed on the same test splits: row label -> (registry name, needs reference)
_METRICS = {"GMSD": ("gmsd", True), "FSIMc": ("fsimc", True), "NIQE": ("niqe", False)}
_OURS = "CNN regressor (qagen nr-iqa)"

_BUDGET: dict[str, dict[str, Any]] = {
    "smoke": {"repeats": 2, "max_steps": 4, "max_minutes": None, "expected_s": 20.0},
    "cpu": {"repeats": 10, "max_steps": None, "max_minutes": 1.0, "expected_s": 75.0},
    "paper": {"repeats": 10, "max_steps": None, "max_minutes": None, "expected_s": 3 * 3600.0},
}
_SMOKE = ("train.batch_size=4", "data.resolution=64", "hparams.width=8", "train.log_every=1",
          "train.progress=false", "train.checkpoint_every=0", "hparams.data.levels=[1,3,5]")  # fmt: skip


class _NRIQATable(Experiment):
    """Shared by the two tables; subclasses set the database, columns, criterion and rows."""

    database: ClassVar[str] = ""
    criterion: ClassVar[str] = "srocc"
    builtin_columns: ClassVar[dict[str, str]] = {}
    paper_rows: ClassVar[dict[str, tuple]] = {}

    def _data(self, ctx: ExperimentContext) -> str:
        if ctx.data:
            return ctx.data
        if ctx.budget == "paper":
            raise InputError(f"--budget paper needs --data {self.database}:ROOT (the database "
                             "unpacked under ROOT)")  # fmt: skip
        return "builtin"

    def _stand_in(self, ctx: ExperimentContext) -> bool:
        return self._data(ctx).partition(":")[0].lower() not in ("live", "tid2008", "tid2013",
                                                                  "csiq", "kadid10k")  # fmt: skip

    def _criterion(self) -> str:
        return "SROCC" if self.criterion == "srocc" else "PLCC"

    def heading(self, ctx: ExperimentContext) -> str:
        if not self._stand_in(ctx):
            return self.table
        return f"{self.table}, here on the built-in stand-in: {self._criterion()} with SSIM"

    def describe(self, ctx: ExperimentContext) -> str:
        if not self._stand_in(ctx):
            return self.description
        return (f"{self.description} Here the data is the built-in stand-in ({self._data(ctx)}): "
                "distorted built-in photos whose target is each image's SSIM, so every value "
                f"is a {self._criterion()} with SSIM, not with subjective scores.")  # fmt: skip

    def notes(self, ctx: ExperimentContext) -> Mapping[str, str]:
        if not self._stand_in(ctx):
            return self.column_notes
        return {c: f"{self._criterion()} with the images' SSIM (built-in stand-in, not the "
                "subjective scores), higher is better" for c in self.columns}  # fmt: skip

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        b = _BUDGET[ctx.budget]
        return {
            "data": self._data(ctx),
            "target": "the whole image's SSIM (built-in stand-in, not subjective scores)"
            if self._stand_in(ctx) else "the database's subjective scores",
            "splits": f"{b['repeats']} content-disjoint 80/20 splits (seeds 0..{b['repeats'] - 1})",
            "cell": "median over the splits (std: their standard deviation)",
            "regressor": "nr-iqa preset" + (" (-demo)" if ctx.budget != "paper" else ""),
            "training": f"{b['max_steps']} steps per split" if b["max_steps"] else
            f"{b['max_minutes']} minutes per split" if b["max_minutes"] else "the preset's steps",
            "metrics": "GMSD, FSIMc, NIQE of qagen (data_range 255, float64) on the same test images",
            "criterion": "SROCC" if self.criterion == "srocc" else "PLCC after the 5-parameter logistic",
        }  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = _BUDGET[ctx.budget]
        data = self._data(ctx)
        preset = "nr-iqa" if ctx.budget == "paper" else "nr-iqa-demo"
        specs = []
        for k in range(b["repeats"]):
            sets = (f"hparams.split_seed={k}", f"train.seed={k}")
            if ctx.budget == "smoke":
                sets += _SMOKE
            specs.append(RunSpec(name=f"split-{k}", recipe="nr-iqa", preset=preset, data=data,
                                 overrides=sets, max_steps=b["max_steps"],
                                 max_minutes=b["max_minutes"], expected_seconds=b["expected_s"]))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        out = [Row(label=_OURS, paper={c: None for c in self.columns})]
        for label, values in self.paper_rows.items():
            out.append(Row(label=label, paper=dict(zip(self.columns, values, strict=True))))
        for label in _METRICS:
            if label not in self.paper_rows:
                out.append(Row(label=label, paper={c: None for c in self.columns}))
        return out

    # -- per split: the regressor's record and the metrics on the same test images
    def _split_record(self, ctx: ExperimentContext, name: str) -> dict:
        from qagen.methods.nr_iqa.evaluation import evaluate_nr_iqa_run

        cached = ctx.cached_record(name, "nr_iqa")
        if cached is not None:
            return cached
        return evaluate_nr_iqa_run(
            ctx.run_dir(name), device=ctx.device, progress=ctx.budget != "smoke"
        )

    def _metric_scores(self, ctx: ExperimentContext, name: str, cache: dict) -> dict[str, list]:
        """GMSD/FSIMc/NIQE of the test images of run ``name`` (cached per image in
        ``DIR/metric_scores.json``)."""
        import torch

        from qagen.iqa import get
        from qagen.train import restore_run

        restored = restore_run(ctx.run_dir(name), device="cpu")
        ds = type(restored.recipe).build_dataset(restored.run, "test", crop=None,
                                                 random_crop=False, progress=False)  # fmt: skip
        out: dict[str, list] = {label: [] for label in _METRICS}
        for i, it in enumerate(ds.items):
            key = str(getattr(it, "path", getattr(it, "image", i)))
            if key not in cache:
                if hasattr(ds, "full"):  # built-in stand-in: the distorted and pristine arrays
                    dist, ref, _ = ds.full(i)
                else:
                    from qagen.data.waterloo import load_uint8

                    dist, ref = load_uint8(it.path), load_uint8(Path(it.content))
                x = torch.from_numpy(dist).permute(2, 0, 1)[None].double()
                y = torch.from_numpy(ref).permute(2, 0, 1)[None].double()
                cache[key] = {label: float(get(m).fn(x, y, data_range=255.0) if fr
                                           else get(m).fn(x, data_range=255.0))
                              for label, (m, fr) in _METRICS.items()}  # fmt: skip
            for label in _METRICS:
                v = cache[key][label]  # null: not finite (qagen.files), NaN in older files
                out[label].append(math.nan if v is None else v)
        return out

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        from qagen.methods.nr_iqa.evaluation import correlate_by_type

        stand_in = self._stand_in(ctx)
        names = [s.name for s in self.runs(ctx)]
        done = [n for n in names if ctx.status.get(n, "finished") == "finished"]
        failed = [n for n in names if n not in done]
        cache_path = ctx.out / "metric_scores.json"
        try:
            cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
        except (OSError, ValueError):
            cache = {}
        per: dict[str, list[dict[str, float]]] = {label: [] for label in (_OURS, *_METRICS)}
        for n in done:
            rec = self._split_record(ctx, n)
            per[_OURS].append(rec[self.criterion])
            imgs = rec["images"]
            hib = rec["protocol"]["higher_is_better"]
            scores = self._metric_scores(ctx, n, cache)
            for label, (m, _fr) in _METRICS.items():
                from qagen.iqa import get

                table = correlate_by_type(np.array(scores[label]), imgs,
                                          pred_higher_is_better=get(m).higher_is_better,
                                          target_higher_is_better=hib)  # fmt: skip
                per[label].append({t: v[self.criterion] for t, v in table.items()})
        write_json_atomic(cache_path, cache, indent=None)
        for row in rows:
            if row.label not in per:
                row.ours = {c: Cell(None, reason="not implemented in qagen (a published number)")
                            for c in self.columns}  # fmt: skip
                continue
            row.runs = done
            row.ours = {c: self._cell(per[row.label], c, stand_in, failed) for c in self.columns}
            if stand_in:
                row.note = "built-in stand-in: correlation with SSIM, not with subjective scores"
        return rows

    def _cell(
        self, values: list[dict[str, float]], col: str, stand_in: bool, failed: list[str]
    ) -> Cell:
        key = self.builtin_columns.get(col) if stand_in else col
        if key is None:
            return Cell(None, reason="no such distortion in the built-in stand-in (gblur, wn, "
                        "jpeg, jp2k)")  # fmt: skip
        vals = [v[key] for v in values if key in v and v[key] is not None and math.isfinite(v[key])]
        if not vals:
            why = (
                f"splits failed: {', '.join(failed)}"
                if failed
                else f"no {key} images (or fewer than 3) in the test splits"
            )
            return Cell(None, reason=why)
        # every row (our regressor and the fixed metrics) scores the same test images of the
        # same content-disjoint splits; "raw": our regressor's trained weights, no EMA
        proto = {
            "generator": "raw",
            "n": "every test image of each split",
            "reference_split": "the content-disjoint test splits (median over splits)",
        }
        return Cell(float(np.median(vals)), std=float(np.std(vals)) if len(vals) > 1 else None,
                    n=len(vals), protocol=proto)  # fmt: skip


@register_experiment("nriqa-tid2008")
class NRIQATID2008(_NRIQATable):
    paper = "Osahor & Nasrabadi, Quality Map Fusion for Adversarial Learning (arXiv 2110.12338)"
    table = "Table 1: SROCC on TID2008 per distortion type"
    description = (
        "A no-reference CNN score regressor (global average pooling, L1 on the score) trained on "
        "content-disjoint 80/20 splits of TID2008 and evaluated on each split's test images; "
        "median SROCC over the splits per distortion type, beside GMSD, FSIMc and NIQE computed "
        "on the same test images and the paper's values."
    )
    columns = TID2008_TYPES
    column_notes = {c: "SROCC with the MOS, higher is better" for c in TID2008_TYPES}
    database = "tid2008"
    criterion = "srocc"
    builtin_columns = {"AGN": "wn", "GB": "gblur", "JPEG": "jpeg", "JP2K": "jp2k"}
    paper_rows = TABLE1


@register_experiment("nriqa-live")
class NRIQALive(_NRIQATable):
    paper = "Osahor & Nasrabadi, Quality Map Fusion for Adversarial Learning (arXiv 2110.12338)"
    table = "Table 2: PLCC (LCC) on LIVE per distortion type"
    description = (
        "The no-reference CNN score regressor trained on content-disjoint 80/20 splits of LIVE "
        "(DMOS); median PLCC (after the 5-parameter logistic) over the splits per distortion "
        "type and overall, beside GMSD, FSIMc and NIQE on the same test images and the paper's "
        "values."
    )
    columns = LIVE_TYPES
    column_notes = {c: "PLCC with the DMOS after the logistic mapping, higher is better"
                    for c in LIVE_TYPES}  # fmt: skip
    database = "live"
    criterion = "plcc"
    builtin_columns = {"JP2K": "jp2k", "JPEG": "jpeg", "WN": "wn", "BLUR": "gblur", "ALL": "ALL"}
    paper_rows = TABLE2
