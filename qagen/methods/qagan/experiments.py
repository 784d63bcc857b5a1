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
    Claim,
    Experiment,
    ExperimentContext,
    Row,
    RunSpec,
    cell_from_record,
    mean_std,
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

#: On Fashion-MNIST (--data fashion-mnist): 32 px (2 px of padding), the data set's train split;
#: the cpu budget trains 3 seeds per row for 500 generator steps each (15 runs: about 50 minutes
#: with one thread; a step budget, so that the rows compare at equal training whatever else the
#: machine runs).
_FMNIST = ("data.resolution=32", "data.split=train")
_FMNIST_CPU = {"max_steps": 500, "max_minutes": None, "expected_s": 200.0, "seeds": (0, 1, 2)}


_NO_SWD = (
    "not computed on Fashion-MNIST at the cpu budget: FD (F-MNIST) is the distance there "
    "(SWD with its real-vs-real scale costs about 1.5 minutes per run and generator)"
)


def _fmnist(ctx: ExperimentContext) -> bool:
    return bool(ctx.data) and ctx.data.strip().lower().startswith("fashion-mnist")


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
    columns = ("IS", "FID", "SWD", "IS (EMA)", "FID (EMA)", "SWD (EMA)", "FD (F-MNIST)",
               "IS (F-MNIST)", "FD (F-MNIST, EMA)")  # fmt: skip
    column_notes = {
        "IS": "Inception score, higher is better (paper: TF Inception, 50,000 samples)",
        "FID": "Frechet Inception distance to the training data, lower is better",
        "SWD": "sliced Wasserstein distance on Laplacian-pyramid patches (x1e3, mean over levels) "
        "to the run's held-out images, lower is better; ours only",
        "IS (EMA)": "IS of the EMA generator (decay 0.99) of the same checkpoint; ours only",
        "FID (EMA)": "FID of the EMA generator; ours only",
        "SWD (EMA)": "SWD of the EMA generator; ours only",
        "FD (F-MNIST)": "Frechet distance in the features of a Fashion-MNIST classifier "
        "(fd_fmnist; --data fashion-mnist only), lower is better; ours only",
        "IS (F-MNIST)": "inception-style score of that classifier (is_fmnist, 1-10), higher is "
        "better; ours only",
        "FD (F-MNIST, EMA)": "fd_fmnist of the EMA generator; ours only",
    }

    def _budget(self, ctx: ExperimentContext) -> dict[str, Any]:
        b = {**_BUDGET[ctx.budget], "seeds": (0,)}
        if _fmnist(ctx) and ctx.budget == "cpu":
            b.update(_FMNIST_CPU)
        return b

    def _run_names(self, ctx: ExperimentContext, name: str) -> list[str]:
        seeds = self._budget(ctx)["seeds"]
        return [name] if seeds == (0,) else [f"{name}-s{s}" for s in seeds]

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        b = self._budget(ctx)
        data = ctx.data or ("builtin" if ctx.budget != "paper" else None)
        if _fmnist(ctx):
            data = f"{data} (32 px: 2 px of background padding; train split)"
        return {
            "data": data,
            "seeds": list(b["seeds"]),
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
            if _fmnist(ctx):
                sets = tuple(sets) + _FMNIST
            for seed, run in zip(b["seeds"], self._run_names(ctx, name), strict=True):
                seed_set = () if len(b["seeds"]) == 1 else (f"train.seed={seed}",)
                specs.append(RunSpec(
                    name=run, recipe=recipe, preset=preset, data=ctx.data or ("builtin" if ctx.budget != "paper" else None),
                    overrides=tuple(sets) + seed_set, max_steps=b["max_steps"],
                    max_minutes=b["max_minutes"], expected_seconds=b["expected_s"],
                ))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        out = []
        for label, name, *_ in _ROWS:
            is_v, is_s, fid_v, fid_s = _PAPER[label]
            paper: dict[str, float | None] = dict.fromkeys(self.columns)
            paper.update({"IS": is_v, "FID": fid_v})
            out.append(Row(label=label, paper=paper, paper_std={"IS": is_s, "FID": fid_s},
                           runs=self._run_names(ctx, name)))  # fmt: skip
        return out

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """The slides' orderings: QAGAN (SSIM) and QAGAN (NIQE) below WGAN-GP in FID, the two
        Banach WGANs above WGAN-GP in IS. Tested where our columns measure them: FD and IS in
        the Fashion-MNIST classifier (--data fashion-mnist), else FID and IS (Inception weights)."""
        fd, is_ = ("FD (F-MNIST)", "IS (F-MNIST)") if _fmnist(ctx) else ("FID", "IS")
        return [
            Claim("QAGAN (SSIM) has a lower FID than WGAN-GP", fd, "QAGAN (SSIM)", "WGAN-GP"),
            Claim("QAGAN (NIQE) has a lower FID than WGAN-GP", fd, "QAGAN (NIQE)", "WGAN-GP"),
            Claim("the W^{-3/2,2} Banach WGAN has a higher IS than WGAN-GP", is_,
                  "W^{-3/2,2} Banach WGAN", "WGAN-GP", higher_is_better=True),
            Claim("the L^10 Banach WGAN has a higher IS than WGAN-GP", is_, "L^10 Banach WGAN",
                  "WGAN-GP", higher_is_better=True),
        ]  # fmt: skip

    def _seed_cells(self, ctx: ExperimentContext, name: str, n: int) -> dict[str, Cell]:
        """The cells of one run: the paper's columns on the raw generator, the EMA columns on
        its EMA copy, and on Fashion-MNIST the classifier's FD and IS."""
        fm = _fmnist(ctx)
        # on Fashion-MNIST fd_fmnist is the distance; SWD (about 1.5 min per run and generator
        # here, with its real-vs-real scale) is left out at the cpu budget
        no_swd = fm and ctx.budget == "cpu"
        cells: dict[str, Cell] = {}
        for generator, suffix in (("raw", ""), ("ema", " (EMA)")):
            metrics = ["is", "fid"] + ([] if no_swd else ["swd"]) + (["fd_fmnist"] if fm else [])
            if fm and generator == "raw":
                metrics.append("is_fmnist")
            rec = ctx.evaluate(name, metrics, n_samples=n, generator=generator)
            cells.update({
                f"IS{suffix}": cell_from_record(rec.get("is")),
                f"FID{suffix}": cell_from_record(rec.get("fid")),
                f"SWD{suffix}": Cell(None, reason=_NO_SWD) if no_swd
                else cell_from_record(rec.get("swd"), keys=("average", "value")),
            })  # fmt: skip
            if fm:
                key = "FD (F-MNIST)" if generator == "raw" else "FD (F-MNIST, EMA)"
                cells[key] = cell_from_record(rec.get("fd_fmnist"))
                if generator == "raw":
                    cells["IS (F-MNIST)"] = cell_from_record(rec.get("is_fmnist"))
        if not fm:
            why = "Fashion-MNIST runs only (--data fashion-mnist)"
            for c in ("FD (F-MNIST)", "IS (F-MNIST)", "FD (F-MNIST, EMA)"):
                cells[c] = Cell(None, reason=why)
        return cells

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        n = self._budget(ctx)["n_samples"]
        scale = None
        for row in rows:
            per_seed, failed = [], []
            for name in row.runs:
                status = ctx.status.get(name, "finished")
                if status != "finished":
                    failed.append(f"{name}: {status}")
                    continue
                per_seed.append(self._seed_cells(ctx, name, n))
                if scale is None and not (_fmnist(ctx) and ctx.budget == "cpu"):
                    rec = ctx.cached_record(name, "swd") or {}
                    scale = (rec.get("real_vs_real") or {}).get("average")
            if not per_seed:
                why = "; ".join(failed) or "no finished run"
                row.ours = {c: Cell(None, reason=why) for c in self.columns}
                continue
            if len(row.runs) == 1:
                row.ours = per_seed[0]
            else:
                row.ours = {c: mean_std([p[c] for p in per_seed]) for c in self.columns}
            notes = [] if len(row.runs) == 1 else [f"{len(per_seed)} of {len(row.runs)} seeds"]
            if isinstance(scale, (int, float)):
                notes.append(f"SWD of real vs real images at the same n: {scale:.4g} (the value "
                             "of a perfect generator)")  # fmt: skip
            row.note = "; ".join(notes + failed)
        return rows
