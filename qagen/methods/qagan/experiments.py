"""QAGAN's CIFAR-10 table (Kancharla & Channappayya, NeurIPS 2019 slides): IS and FID of WGAN-GP,
the two Banach WGANs and QAGAN with the SSIM and NIQE critic penalties.

The paper's values: IS and FID with TensorFlow's Inception on 50,000 samples, CIFAR-10 32x32. The
Banach WGAN values are Adler & Lunz's (NeurIPS 2018), quoted by the slides without FID. We add
the sliced Wasserstein distance (SWD, Karras et al. 2018), which needs no downloaded weights.
"""

from __future__ import annotations

from typing import Any

from qagen.errors import InputError
from qagen.experiments.base import (
    Cell,
    Experiment,
    ExperimentContext,
    Row,
    RunSpec,
    cell_from_record,
    register_experiment,
)

#: (row label, run name, recipe, full preset, CPU preset, overrides of the CPU preset)
_ROWS = (
    ("WGAN-GP", "wgan-gp", "wgan-gp", "wgan-gp", "wgan-gp-demo", ()),
    ("W^{-3/2,2} Banach WGAN", "bwgan-sobolev", "bwgan", "bwgan-sobolev", "bwgan-demo",
     ("s=-1.5", "p=2.0")),
    ("L^10 Banach WGAN", "bwgan-l10", "bwgan", "bwgan-l10", "bwgan-demo", ("s=0.0", "p=10.0")),
    ("QAGAN (SSIM)", "qagan-ssim", "qagan-ssim", "qagan-ssim", "qagan-ssim-demo", ()),
    ("QAGAN (NIQE)", "qagan-niqe", "qagan-niqe", "qagan-niqe", "qagan-niqe-demo", ()),
)  # fmt: skip

#: The slides' CIFAR-10 table: (IS, IS std, FID, FID std); None where the slides give no value.
_PAPER = {
    "WGAN-GP": (7.86, 0.10, 40.2, None),
    "W^{-3/2,2} Banach WGAN": (8.26, 0.07, None, None),
    "L^10 Banach WGAN": (8.31, 0.07, None, None),
    "QAGAN (SSIM)": (8.37, 0.04, 13.91, 0.105),
    "QAGAN (NIQE)": (7.87, 0.027, 12.4697, 0.068),
}

#: Per budget: generator steps (None: time-limited), training minutes per run, samples evaluated.
_BUDGET = {
    "smoke": {"max_steps": 3, "max_minutes": None, "n_samples": 64, "expected_s": 15.0},
    "cpu": {"max_steps": None, "max_minutes": 5.0, "n_samples": 1000, "expected_s": 300.0},
    "paper": {"max_steps": 100_000, "max_minutes": None, "n_samples": 50_000,
              "expected_s": 24 * 3600.0},
}  # fmt: skip

#: Overrides that make the smoke runs tiny (the pipeline, not the numbers).
_SMOKE = (
    "g_channels=8", "d_channels=8", "train.batch_size=8", "train.sample_every=3",
    "train.checkpoint_every=3", "train.log_every=1", "train.progress=false",
    "data.num_workers=0",
)  # fmt: skip


@register_experiment("qagan-cifar10")
class QAGANCifar10(Experiment):
    paper = "Kancharla & Channappayya, Quality Aware Generative Adversarial Networks, NeurIPS 2019"
    table = "CIFAR-10 inception scores and FID (slides)"
    description = (
        "WGAN-GP, the W^{-3/2,2} and L^10 Banach WGANs and QAGAN with the SSIM and NIQE critic "
        "penalties, trained with the authors' hyper-parameters (the full presets) or their "
        "CPU-sized -demo presets, and evaluated by the ordinary evaluation (qagen eval) on the "
        "raw generator of each run's last checkpoint, as the QAGAN authors evaluated (the "
        "paper's columns). Every run also tracks an EMA of its generator (decay 0.99, WGAN-GP "
        "included; it changes nothing in training): the EMA columns score it under the same "
        "protocol for every row. IS and FID need the FID Inception weights (a local file); SWD "
        "needs none."
    )
    columns = ("IS", "FID", "SWD", "IS (EMA)", "FID (EMA)", "SWD (EMA)")
    column_notes = {
        "IS": "Inception score, higher is better (paper: TF Inception, 50,000 samples)",
        "FID": "Frechet Inception distance to the training data, lower is better",
        "SWD": "sliced Wasserstein distance on Laplacian-pyramid patches (x1e3, mean over levels) "
        "to the run's held-out images, lower is better; ours only",
        "IS (EMA)": "IS of the EMA generator (decay 0.99) of the same checkpoint; ours only",
        "FID (EMA)": "FID of the EMA generator; ours only",
        "SWD (EMA)": "SWD of the EMA generator; ours only",
    }

    def _budget(self, ctx: ExperimentContext) -> dict[str, Any]:
        return _BUDGET[ctx.budget]

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        b = self._budget(ctx)
        data = ctx.data or ("builtin" if ctx.budget != "paper" else None)
        return {
            "data": data,
            "presets": "full (paper)" if ctx.budget == "paper" else "-demo (CPU-sized)",
            "training": f"{b['max_steps']} generator steps" if b["max_steps"]
            else f"{b['max_minutes']} minutes per run on this machine",
            "inception_weights": ctx.inception_weights or "not given: IS and FID are null",
            "qagan_niqe_variant": "the fixed 'qagan' feature variant of the preset (the authors' "
            "buggy features are the 'qagan-code' variant)",
        }  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = self._budget(ctx)
        if ctx.budget == "paper" and not ctx.data:
            raise InputError("--budget paper needs --data cifar10:ROOT (the CIFAR-10 python or "
                             "binary files under ROOT)")  # fmt: skip
        specs = []
        for _label, name, recipe, full, cpu, overrides in _ROWS:
            if ctx.budget == "paper":
                preset, sets = full, ("data.split=all",)
            else:
                preset, sets = cpu, overrides + (_SMOKE if ctx.budget == "smoke" else ())
            specs.append(RunSpec(
                name=name, recipe=recipe, preset=preset, data=ctx.data or ("builtin" if ctx.budget != "paper" else None),
                overrides=tuple(sets), max_steps=b["max_steps"], max_minutes=b["max_minutes"],
                expected_seconds=b["expected_s"],
            ))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        out = []
        for label, name, *_ in _ROWS:
            is_v, is_s, fid_v, fid_s = _PAPER[label]
            paper = {"IS": is_v, "FID": fid_v, "SWD": None}
            paper.update({f"{c} (EMA)": None for c in ("IS", "FID", "SWD")})
            out.append(Row(label=label, paper=paper,
                           paper_std={"IS": is_s, "FID": fid_s}, runs=[name]))  # fmt: skip
        return out

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        n = self._budget(ctx)["n_samples"]
        for row in rows:
            name = row.runs[0]
            status = ctx.status.get(name, "finished")
            if status != "finished":
                row.ours = {c: Cell(None, reason=status) for c in self.columns}
                continue
            row.ours = {}
            for generator, suffix in (("raw", ""), ("ema", " (EMA)")):
                rec = ctx.evaluate(name, ["is", "fid", "swd"], n_samples=n, generator=generator)
                row.ours.update({
                    f"IS{suffix}": cell_from_record(rec.get("is")),
                    f"FID{suffix}": cell_from_record(rec.get("fid")),
                    f"SWD{suffix}": cell_from_record(rec.get("swd"), keys=("average", "value")),
                })  # fmt: skip
            scale = (rec.get("swd") or {}).get("real_vs_real") or {}
            if isinstance(scale.get("average"), (int, float)):
                row.note = (f"SWD of real vs real images at the same n: {scale['average']:.4g} "
                            "(the value of a perfect generator)")  # fmt: skip
        return rows
