"""BEGAN-IQA's Table 2 (Vertolli & Davies, arXiv 1708.02237): the mean and standard deviation of
each distance of D's reconstructions over training, for the 12 models of Table 1.

Each row is one ``began`` run (presets ``began-m01`` ... ``began-m12``: Table 1's size, gamma and
eq. 6 weights). Our cells are the mean (M) and population standard deviation (sigma) of
``l1_real``, ``gmsm_real`` and ``chrom_real`` over every logged step of the run
(``RUN/began_stats.json``, :mod:`qagen.methods.began.stats`); the paper's are Table 2. Two columns
are ours only: the diversity of the samples (mean MS-SSIM between random pairs; the paper reports
mode collapse for models 2-5) and ``M_global`` over the last 10 % of steps (Figure 6's
convergence measure). Each row's note adds the steps trained and the real images' diversity.

On ``--data fashion-mnist`` the cpu budget trains every model with 3 seeds (``began-mNN-sS``) for
a fixed number of steps and gives mean +- std; :meth:`BEGANTable2.claims` tests the paper's
orderings (model 12 the lowest l1, model 8 the lowest GMSM, model 5 the lowest Chrom, model 11 a
lower M_global than model 12) on the seeds with Welch's t-test.
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
    register_experiment,
    seed_cells,
    seed_run_names,
)

#: Table 2 of the paper: (l1 M, l1 sigma, GMSM M, GMSM sigma, Chrom M, Chrom sigma).
_PAPER = {
    "01": (0.12, 0.02, 0.24, 0.02, 0.68, 0.08),
    "02": (0.90, 0.09, 0.17, 0.03, 0.99, 0.01),
    "03": (0.51, 0.02, 0.52, 0.04, 0.46, 0.08),
    "04": (0.11, 0.01, 0.16, 0.02, 0.75, 0.07),
    "05": (0.13, 0.02, 0.20, 0.02, 0.41, 0.05),
    "06": (0.10, 0.01, 0.17, 0.02, 0.69, 0.07),
    "07": (0.10, 0.01, 0.22, 0.01, 0.63, 0.08),
    "08": (0.11, 0.01, 0.16, 0.02, 0.83, 0.07),
    "09": (0.13, 0.02, 0.20, 0.02, 0.42, 0.06),
    "10": (0.10, 0.01, 0.17, 0.02, 0.72, 0.08),
    "11": (0.09, 0.01, 0.29, 0.01, 0.58, 0.08),
    "12": (0.08, 0.02, 0.17, 0.02, 0.63, 0.08),
}
_TABLE2 = ("l1_M", "l1_sigma", "gmsm_M", "gmsm_sigma", "chrom_M", "chrom_sigma")
#: Ours only: the samples' diversity and Figure 6's convergence measure at the end of training.
_EXTRA = ("diversity", "M_global_last")
_COLUMNS = _TABLE2 + _EXTRA
#: Models the paper reports as collapsed ("Models 2-4 ... immediately and 5 ... around 65,000").
_COLLAPSED = {"02": "immediately", "03": "immediately", "04": "immediately", "05": "at ~65k steps"}

#: The paper's training length per model (generator steps).
_PAPER_STEPS = {f"{i:02d}": 100_000 for i in range(1, 13)} | {"02": 18_000, "03": 18_000,
                                                               "11": 300_000, "12": 300_000}  # fmt: skip

#: Per budget: steps per model (None: the preset's), a cap in minutes per run (None: no cap),
#: and the diversity sample sizes.
_CPU_STEPS = {"02": 90, "03": 90, "11": 250, "12": 250}  # others 500; ~ the paper's ratios
_CPU_MINUTES = {"02": 0.5, "03": 0.5, "11": 3.0, "12": 3.0}  # others 1.75 (21 min in all)
#: Fashion-MNIST at the cpu budget: every model with these seeds, for its step count alone (no
#: minute cap, so that the rows compare at equal training whatever else the machine runs).
_FMNIST_SEEDS = (0, 1, 2)
#: ... and steps in the paper's proportions 18k : 100k : 300k (others 500). On the built-in photos
#: models 11-12 train at 64 px, so fewer of their steps fit in the cap; at 32 px on Fashion-MNIST
#: every model costs the same per step and nothing justifies training 11-12 less.
_FMNIST_CPU_STEPS = {"02": 90, "03": 90, "11": 1500, "12": 1500}
_BUDGET = {
    "smoke": {"steps": 4, "n_images": 32, "n_pairs": 64, "expected_s": 6.0},
    "cpu": {"n_images": 200, "n_pairs": 500},
    "paper": {"n_images": 200, "n_pairs": 500},  # the run reports use the same (one computation)
}

#: Overrides that make the smoke runs tiny (the pipeline, not the numbers).
_SMOKE = (
    "channels=8", "z_dim=16", "h_dim=16", "train.batch_size=8", "train.sample_every=2",
    "train.checkpoint_every=4", "train.n_samples=16", "train.progress=false",
    "data.num_workers=0",
)  # fmt: skip


def _fmnist(ctx: ExperimentContext) -> bool:
    return bool(ctx.data) and ctx.data.strip().lower().startswith("fashion-mnist")


def _labels() -> list[str]:
    return [f"{i:02d}" for i in range(1, 13)]


@register_experiment("began-table2")
class BEGANTable2(Experiment):
    paper = (
        "Vertolli & Davies, Image Quality Assessment Techniques Show Improved Training and "
        "Evaluation of Autoencoder Generative Adversarial Networks, arXiv 1708.02237"
    )
    table = "Table 2: discriminator loss statistics of the 12 models of Table 1"
    description = (
        "The 12 BEGAN models of Table 1 (l1, GMSM and chrominance weights of eq. 6, gamma, image "
        "size) trained by the began recipe; for each, the mean (M) and standard deviation (sigma) "
        "over all training steps of the three distances between real images and their "
        "reconstruction by the discriminator (1 - similarity for GMSM and Chrom), logged whatever "
        "the weights. Lower is better. The paper trained on CelebA at 64/128 px for 18k-300k "
        "steps; the smoke and cpu budgets train the -demo presets on the built-in photos for a "
        "few hundred steps, so only the paper budget is comparable with the paper's numbers."
    )
    columns = _COLUMNS
    column_notes = {
        "l1_M": "mean over training of mean |x - D(x)| on [-1, 1] images, lower is better",
        "l1_sigma": "standard deviation of the same over training steps",
        "gmsm_M": "mean of 1 - GMSM(x, D(x)) (Sobel on YIQ Y, whole image as one window), lower "
        "is better",
        "gmsm_sigma": "standard deviation of the same",
        "chrom_M": "mean of 1 - mean(S(I) S(Q)) (YIQ chrominance similarity), lower is better; "
        "values above 1 mean chrominance of opposite sign",
        "chrom_sigma": "standard deviation of the same",
        "diversity": "mean MS-SSIM between random pairs of samples of the last checkpoint (ours "
        "only): higher is less diverse, a collapsed generator nears 1; the real images' value is "
        "in the note",
        "M_global_last": "BEGAN's convergence measure M_global averaged over the last 10% of "
        "steps (ours only; the paper plots it in Figure 6), lower is better",
    }

    # -- runs
    def _steps(self, ctx: ExperimentContext, label: str) -> int | None:
        if ctx.budget == "smoke":
            return _BUDGET["smoke"]["steps"]
        if ctx.budget == "cpu":
            return (_FMNIST_CPU_STEPS if _fmnist(ctx) else _CPU_STEPS).get(label, 500)
        return _PAPER_STEPS[label]

    def _minutes(self, ctx: ExperimentContext, label: str) -> float | None:
        if ctx.budget != "cpu" or _fmnist(ctx):
            return None
        return _CPU_MINUTES.get(label, 1.75)

    @staticmethod
    def _seeds(ctx: ExperimentContext) -> tuple[int, ...]:
        return _FMNIST_SEEDS if _fmnist(ctx) and ctx.budget == "cpu" else (0,)

    def _run_names(self, ctx: ExperimentContext, label: str) -> list[str]:
        return seed_run_names(f"began-m{label}", self._seeds(ctx))

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        if ctx.budget == "paper" and not ctx.data:
            raise InputError(
                "--budget paper needs --data celeba-began:ROOT (CelebA's img_align_celeba and "
                "list_eval_partition.txt under ROOT, cropped as the BEGAN code) or another "
                "dataset spec"
            )
        data = ctx.data or ("builtin" if ctx.budget != "paper" else None)
        specs = []
        for label in _labels():
            preset = f"began-m{label}" + ("" if ctx.budget == "paper" else "-demo")
            sets = _SMOKE if ctx.budget == "smoke" else ()
            if _fmnist(ctx):  # 32 px for every model (2 px of padding), the train split
                sets = tuple(sets) + ("data.resolution=32", "data.split=train")
            steps, minutes = self._steps(ctx, label), self._minutes(ctx, label)
            if ctx.budget == "smoke":
                expected = _BUDGET["smoke"]["expected_s"]
            elif ctx.budget == "cpu" and _fmnist(ctx):
                expected = 0.15 * steps  # one thread, 32 px
            elif ctx.budget == "cpu":
                expected = 60.0 * (minutes or 1.75) * 0.8
            else:
                expected = steps * 0.1
            seeds = self._seeds(ctx)
            for seed, name in zip(seeds, self._run_names(ctx, label), strict=True):
                seed_set = () if len(seeds) == 1 else (f"train.seed={seed}",)
                specs.append(RunSpec(name=name, recipe="began", preset=preset, data=data,
                                     overrides=tuple(sets) + seed_set, max_steps=steps,
                                     max_minutes=minutes, expected_seconds=expected))  # fmt: skip
        return specs

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        b = _BUDGET[ctx.budget]
        if ctx.budget == "cpu" and _fmnist(ctx):
            training = ("generator steps per model: 90 (models 02-03), 500 (01, 04-10), 1,500 "
                        "(11-12), the paper's proportions (18k : 100k : 300k); no minute cap")  # fmt: skip
        elif ctx.budget == "cpu":
            training = ("generator steps per model: 90 (models 02-03), 500 (01, 04-10), 250 (11-12"
                        ", 64 px), each capped at 0.5 / 1.75 / 3 minutes")  # fmt: skip
        elif ctx.budget == "smoke":
            training = f"{b['steps']} generator steps per model, 8-channel networks"
        else:
            training = "the paper's: 18,000 steps (02-03), 100,000 (01, 04-10), 300,000 (11-12)"
        data = ctx.data or ("builtin" if ctx.budget != "paper" else None)
        if _fmnist(ctx):
            data = f"{data} (grey; every model at 32 px: 2 px of background padding; train split)"
        seeds = self._seeds(ctx)
        return {
            "data": data,
            "seeds": list(seeds),
            "cells": "mean +- sample std over the seeds; the claims: Welch t-test on the seeds"
            if len(seeds) > 1
            else "one run per model",
            "presets": "began-mNN (paper)"
            if ctx.budget == "paper"
            else "began-mNN-demo (CPU-sized)",
            "training": training,
            "statistics": "M and population sigma over every logged step (log_every = 1) of D's "
            "reconstruction of the real batch; the last-10% statistics and those of the "
            "generated batch are in each run's began_stats.json",
            "distances": "l1 on [-1, 1] images; GMSM and Chrom on the images mapped to 0-255, "
            "2-decimal YIQ, unnormalised Sobel, c = 0.0026 on 0-255 values (the authors' code)",
            "diversity": f"mean MS-SSIM of {b['n_pairs']} random pairs of {b['n_images']} samples of "
            "the last checkpoint and of as many real training images (Odena et al. 2017)",
            "M_global_last": "mean of M_global = L(x) + |gamma L(x) - L(G(z))| over the last 10% "
            "of logged steps (BEGAN's convergence measure, BEGAN-IQA Figure 6)",
        }

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        out = []
        for label in _labels():
            p = _PAPER[label]
            paper: dict[str, float | str | None] = dict.fromkeys(_COLUMNS)
            paper.update(zip(_TABLE2, p, strict=True))
            out.append(Row(label=label, paper=paper, runs=self._run_names(ctx, label)))
        return out

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """Table 2's qualitative claims as pairwise orderings: model 12 has the lowest l1 (below
        each other model), model 8 the lowest GMSM, model 5 the lowest Chrom (left out on grey
        data, where the column is null), and model 11 converges lower than model 12 (Figure 6,
        ``M_global_last``)."""
        labels = _labels()
        out = []
        lowest = [("12", "l1_M", "model 12 has the lowest l1"),
                  ("08", "gmsm_M", "model 8 has the lowest GMSM")]  # fmt: skip
        if not _fmnist(ctx):
            lowest.append(("05", "chrom_M", "model 5 has the lowest Chrom"))
        for best, column, text in lowest:
            if best in labels:
                out += [Claim(f"{text}: below model {o}", column, best, o)
                        for o in labels if o != best]  # fmt: skip
        if "11" in labels and "12" in labels:
            out.append(Claim("model 11 converges lower than model 12 (Figure 6)",
                             "M_global_last", "11", "12"))  # fmt: skip
        return out

    # -- evaluation
    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        """Each run's cells (:meth:`_run_cells`); over several seeds their mean +- std."""
        for row in rows:
            row.ours, notes, failed = seed_cells(ctx, row.runs, self.columns,
                                                 lambda name: self._run_cells(ctx, name))  # fmt: skip
            if not notes:
                continue
            if len(row.runs) == 1:
                parts = [notes[0][1]]
            else:
                parts = [f"{len(notes)} of {len(row.runs)} seeds; {notes[0][0]}: {notes[0][1]}"]
            if row.label in _COLLAPSED:
                parts.append(f"paper: mode collapse {_COLLAPSED[row.label]}")
            row.note = "; ".join(parts + failed)
        return rows

    def _run_cells(self, ctx: ExperimentContext, name: str) -> tuple[dict[str, Cell], str]:
        """One finished run's cells (Table 2's statistics, the diversity of its samples, its
        last M_global) and its note; writes the run's own report at the cpu and paper budgets."""
        from qagen.methods.began.report import diversity_of_run
        from qagen.methods.began.stats import write_began_stats
        from qagen.report.run import RunReportData, write_report

        b = _BUDGET[ctx.budget]
        run_dir = ctx.run_dir(name)
        try:
            stats = write_began_stats(run_dir)
        except (FileNotFoundError, ValueError) as err:
            return {c: Cell(None, reason=f"no statistics: {err}") for c in self.columns}, ""
        split = self._split(run_dir)
        proto = {
            "generator": "raw",
            "n": "every logged training step (mean)",
            "reference_split": f"{split} (the images D reconstructs)",
        }
        cells = {c: _cell(stats["table2"].get(c), proto) for c in _TABLE2}
        if _fmnist(ctx):  # R = G = B: I and Q are 0 and the chrominance similarity is 0/0
            for c in ("chrom_M", "chrom_sigma"):
                cells[c] = Cell(None, reason="grey images (Fashion-MNIST): no chrominance, the "
                                "YIQ I and Q channels are zero")  # fmt: skip
        m_last = (stats.get("convergence") or {}).get("m_global_last")
        cells["M_global_last"] = _cell(m_last, {**proto, "n": "the last 10% of logged steps"})
        parts = [f"{stats['last_step']} steps"]
        last = stats["table2_last"]
        if all(last.get(f"{d}_M") is not None for d in ("l1", "gmsm")):
            parts.append("last 10%: " + ", ".join(f"{d} {last[f'{d}_M']:.3f}"
                                                  for d in ("l1", "gmsm")))  # fmt: skip
        data = RunReportData.load(run_dir, device=ctx.device)
        try:
            div = diversity_of_run(data, n_images=b["n_images"], n_pairs=b["n_pairs"])
            gen = (div.get("generated") or {}).get("mean")
            div_proto = {"generator": (div.get("protocol") or {}).get("generator", "raw"),
                         "n": b["n_images"], "reference_split": split}  # fmt: skip
            cells["diversity"] = _cell(gen, div_proto)
            real = (div.get("real") or {}).get("mean")
            real_s = f"real {real:.3f}" if real is not None else "real images: not measured"
            parts.append(f"diversity MS-SSIM {gen:.3f} ({real_s})")
        except (FileNotFoundError, ValueError, OSError) as err:
            cells["diversity"] = Cell(None, reason=f"not computed: {err}")
            parts.append(f"diversity not computed: {err}")
        if ctx.budget != "smoke":  # the run's own page: Figures 3-6, diversity, Table 2
            write_report(run_dir, device=ctx.device)
        return cells, "; ".join(parts)

    @staticmethod
    def _split(run_dir: Any) -> str:
        from qagen.report.runfiles import read_config

        data = read_config(run_dir).get("data") or {}
        return str(data.get("split") or "train")

    def report_sections(self, ctx: ExperimentContext, rows: list[Row]) -> list[Any]:
        """BEGAN-IQA Figure 6's comparison: M_global of models 11 and 12 (and every run's,
        smoothed as the paper), from their metrics.csv."""
        from qagen.methods.began.report import smoothed_m_global
        from qagen.report import Figure, Paragraph, Section, read_metrics_csv
        from qagen.report.plots import figure_png, new_figure, plain_axes

        series = {}
        for row in rows:
            path = ctx.run_dir(row.runs[0]) / "metrics.csv"
            if path.is_file():
                t = read_metrics_csv(path)
                if "m_global" in t.cols and t.steps:
                    series[row.label] = smoothed_m_global(t.steps, t.cols["m_global"])
        if not series:
            return [Section("Convergence", [Paragraph("No metrics.csv with M_global.")])]
        fig, axes = new_figure(1, 2, figsize=(11.0, 3.6), squeeze=False)
        for label, (x, y) in series.items():
            ax = axes[0, 1] if label in ("11", "12") else axes[0, 0]
            ax.plot(x, y, lw=1.5 if label in ("11", "12") else 1.0, label=label)
        axes[0, 0].set_title("Models 01-10 (64 px in the paper)", fontsize=10)
        axes[0, 1].set_title("Models 11 (BEGAN) and 12 (scaled BEGAN+GMSM), Figure 6", fontsize=10)
        for ax in axes[0]:
            ax.set_xlabel("generator step", fontsize=9)
            ax.set_ylabel("M_global (smoothed)", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, ncol=2)
            plain_axes(ax, integer_x=True)
        fig.tight_layout()
        caption = (
            "BEGAN's convergence measure M_global of every run, averaged into at most 200 points "
            "and smoothed with a Gaussian of sigma 0.9 (BEGAN-IQA Figure 6). Lower is better; the "
            "paper finds model 11 converging lower than model 12. Each run's own report.html has "
            "Figures 3-6 and the diversity of its samples."
        )
        if any(len(row.runs) > 1 for row in rows):
            caption += " Seed 0 of each model; the M_global_last column has every seed."
        return [Section("Convergence (Figure 6)", [Figure(figure_png(fig), caption,
                                                          alt="M_global of every run")])]  # fmt: skip


def _cell(value: Any, protocol: dict[str, Any]) -> Cell:
    if value is None:
        return Cell(None, reason="the distance was not logged")
    return Cell(float(value), protocol=protocol)
