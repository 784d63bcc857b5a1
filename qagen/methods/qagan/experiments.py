"""QAGAN's three tables (Kancharla & Channappayya, NeurIPS 2019 slides): ``qagan-cifar10``,
``qagan-celeba`` and ``qagan-stl10``, on one :class:`QAGANTable` base.

The paper's values: IS and FID with TensorFlow's Inception on 50,000 samples (CIFAR-10 32 x 32,
CelebA 64 x 64: FID only, STL-10 48 x 48). The baselines' values are quoted by the slides from
their papers (Banach WGAN: Adler & Lunz, NeurIPS 2018, without FID on CIFAR-10). qagen trains
DCGAN, WGAN-GP, SNGAN, the Banach WGANs and QAGAN; CT-GAN and MMD GAN-rep(-b) are not
implemented and the real data is no generator: their rows keep the paper's values with null
cells and the reason. We add the sliced Wasserstein distance (SWD, Karras et al. 2018), which
needs no downloaded weights, and on Fashion-MNIST the classifier's FD and IS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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
    seed_run_names,
)


@dataclass(frozen=True)
class TableRow:
    """One row of a QAGAN table: its ``label``, the ``run`` name, ``recipe``, the ``full``
    preset (paper budget) and the ``cpu`` preset (smoke and cpu budgets) with ``overrides``;
    a row qagen does not train has ``recipe=None`` and the ``reason`` for its null cells."""

    label: str
    run: str | None = None
    recipe: str | None = None
    full: str | None = None
    cpu: str | None = None
    overrides: tuple[str, ...] = ()
    reason: str = ""


def _untrained(label: str, reason: str) -> TableRow:
    return TableRow(label, reason=reason)


_REAL = ("real images, not a generator: the table scores generators only (the paper's value is "
         "the real data's own score)")  # fmt: skip
_CTGAN = ("CT-GAN (Wei et al., ICLR 2018, the consistency term) is not implemented in qagen: the "
          "paper's value only")  # fmt: skip
_MMD = ("MMD GAN with the repulsive loss (Wang, Sun, Halgamuge, ICLR 2019; -b: the bounded "
        "kernel) is not implemented in qagen: the paper's value only")  # fmt: skip

#: The rows of the slides' CIFAR-10 table, in the slides' order.
_CIFAR_ROWS = (
    _untrained("Real data", _REAL),
    TableRow("DCGAN", "dcgan", "dcgan", "dcgan", "dcgan-demo"),
    TableRow("WGAN-GP", "wgan-gp", "wgan-gp", "wgan-gp", "wgan-gp-demo"),
    _untrained("CTGAN", _CTGAN),
    TableRow("SNGAN", "sngan", "sngan", "sngan", "sngan-demo"),
    TableRow("W^{-3/2,2} Banach WGAN", "bwgan-sobolev", "bwgan", "bwgan-sobolev", "bwgan-demo",
             ("s=-1.5", "p=2.0")),
    TableRow("L^10 Banach WGAN", "bwgan-l10", "bwgan", "bwgan-l10", "bwgan-demo",
             ("s=0.0", "p=10.0")),
    _untrained("MMD GAN-rep-b", _MMD),
    TableRow("QAGAN (SSIM)", "qagan-ssim", "qagan-ssim", "qagan-ssim", "qagan-ssim-demo"),
    TableRow("QAGAN (NIQE)", "qagan-niqe", "qagan-niqe", "qagan-niqe", "qagan-niqe-demo"),
)  # fmt: skip

#: The slides' CIFAR-10 table: (IS, IS std, FID, FID std); None where the slides give no value
#: (a published spread of 0.0 is None too).
_CIFAR_PAPER = {
    "Real data": (11.24, 0.12, 7.80, None),
    "DCGAN": (6.16, 0.07, None, None),
    "WGAN-GP": (7.86, 0.10, 40.2, None),
    "CTGAN": (8.12, 0.12, None, None),
    "SNGAN": (8.12, 0.12, 21.5, 0.21),
    "W^{-3/2,2} Banach WGAN": (8.26, 0.07, None, None),
    "L^10 Banach WGAN": (8.31, 0.07, None, None),
    "MMD GAN-rep-b": (8.29, None, 16.21, None),
    "QAGAN (SSIM)": (8.37, 0.04, 13.91, 0.105),
    "QAGAN (NIQE)": (7.87, 0.027, 12.4697, 0.068),
}

#: The slides' CelebA 64 x 64 table (FID only); rows as the slides.
_CELEBA_ROWS = (
    _untrained("Real data", _REAL),
    TableRow("WGAN-GP", "wgan-gp", "wgan-gp", "wgan-gp-celeba", "wgan-gp-demo"),
    TableRow("Banach WGAN", "bwgan-sobolev", "bwgan", "bwgan-celeba", "bwgan-demo",
             ("s=-1.5", "p=2.0")),
    _untrained("MMD GAN-rep-b", _MMD),
    TableRow("QAGAN (SSIM)", "qagan-ssim", "qagan-ssim", "qagan-ssim-celeba", "qagan-ssim-demo"),
    TableRow("QAGAN (NIQE)", "qagan-niqe", "qagan-niqe", "qagan-niqe-celeba", "qagan-niqe-demo"),
)  # fmt: skip
_CELEBA_PAPER = {
    "Real data": (None, None, 1.09, None),
    "WGAN-GP": (None, None, 12.89, None),
    "Banach WGAN": (None, None, 10.5, None),
    "MMD GAN-rep-b": (None, None, 6.79, None),
    "QAGAN (SSIM)": (None, None, 6.421, None),
    "QAGAN (NIQE)": (None, None, 6.504, None),
}

#: The slides' STL-10 48 x 48 table.
_STL10_ROWS = (
    _untrained("Real data", _REAL),
    TableRow("WGAN-GP", "wgan-gp", "wgan-gp", "wgan-gp-stl10", "wgan-gp-demo"),
    TableRow("SNGAN", "sngan", "sngan", "sngan-stl10", "sngan-demo"),
    _untrained("MMD GAN-rep", _MMD.replace("; -b: the bounded kernel", "")),
    TableRow("QAGAN (SSIM)", "qagan-ssim", "qagan-ssim", "qagan-ssim-stl10", "qagan-ssim-demo"),
    TableRow("QAGAN (NIQE)", "qagan-niqe", "qagan-niqe", "qagan-niqe-stl10", "qagan-niqe-demo"),
)  # fmt: skip
_STL10_PAPER = {
    "Real data": (26.08, 0.26, 7.9, None),
    "WGAN-GP": (9.05, 0.12, 55.1, None),
    "SNGAN": (9.10, 0.04, 40.10, 0.50),
    "MMD GAN-rep": (9.36, None, 36.67, None),
    "QAGAN (SSIM)": (9.29, 0.05, 19.77, 0.0091),
    "QAGAN (NIQE)": (9.1720, 0.08, 19.45, 0.0013),
}

#: Per budget: generator steps, training minutes per run (both None: each preset's own
#: max_steps), samples evaluated.
_BUDGET = {
    "smoke": {"max_steps": 3, "max_minutes": None, "n_samples": 64, "expected_s": 15.0},
    "cpu": {"max_steps": None, "max_minutes": 5.0, "n_samples": 1000, "expected_s": 300.0},
    "paper": {"max_steps": None, "max_minutes": None, "n_samples": 50_000,
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


class QAGANTable(Experiment):
    """A table of the QAGAN slides: :attr:`ROWS` (a :class:`TableRow` each) and :attr:`PAPER`
    (label -> IS, IS std, FID, FID std), the paper budget's data (:attr:`paper_data`, the
    overrides :attr:`paper_overrides` of every full preset) and the slides' :meth:`claims`.
    The smoke and cpu budgets train the rows' -demo presets (on Fashion-MNIST at 32 px with 3
    seeds when ``--data fashion-mnist``), the paper budget the full presets; every trained
    run is scored by the ordinary evaluation (the paper's columns on the raw generator, the
    EMA columns on its EMA copy); a row qagen does not train keeps the paper's values and
    null cells with the reason."""

    ROWS: ClassVar[tuple[TableRow, ...]] = ()
    PAPER: ClassVar[dict[str, tuple[float | None, ...]]] = {}
    #: the data source of the paper budget (``--data NAME:ROOT``) and what it must hold
    paper_data: ClassVar[tuple[str, str]] = ("cifar10", "the CIFAR-10 python or binary files")
    paper_overrides: ClassVar[tuple[str, ...]] = ()

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

    def _run_names(self, ctx: ExperimentContext, row: TableRow) -> list[str]:
        if row.run is None:
            return []
        return seed_run_names(row.run, self._budget(ctx)["seeds"])

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
            else f"{b['max_minutes']} minutes per run on this machine" if b["max_minutes"]
            else "each full preset's own max_steps",
            "inception_weights": ctx.inception_weights or "not given: IS and FID are null",
            "qagan_niqe_variant": "the fixed 'qagan' feature variant of the preset (the authors' "
            "buggy features are the 'qagan-code' variant)",
        }  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = self._budget(ctx)
        if ctx.budget == "paper" and not ctx.data:
            name, what = self.paper_data
            raise InputError(f"--budget paper needs --data {name}:ROOT ({what} under ROOT)")
        specs = []
        for row in self.ROWS:
            if row.recipe is None:
                continue
            if ctx.budget == "paper":
                preset, sets = row.full, self.paper_overrides
            else:
                preset, sets = row.cpu, row.overrides + (_SMOKE if ctx.budget == "smoke" else ())
            if _fmnist(ctx):
                sets = tuple(sets) + _FMNIST
            for seed, run in zip(b["seeds"], self._run_names(ctx, row), strict=True):
                seed_set = () if len(b["seeds"]) == 1 else (f"train.seed={seed}",)
                specs.append(RunSpec(
                    name=run, recipe=row.recipe, preset=preset,
                    data=ctx.data or ("builtin" if ctx.budget != "paper" else None),
                    overrides=tuple(sets) + seed_set, max_steps=b["max_steps"],
                    max_minutes=b["max_minutes"], expected_seconds=b["expected_s"],
                ))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        out = []
        for row in self.ROWS:
            is_v, is_s, fid_v, fid_s = self.PAPER[row.label]
            paper: dict[str, float | None] = dict.fromkeys(self.columns)
            paper.update({"IS": is_v, "FID": fid_v})
            out.append(Row(label=row.label, paper=paper, paper_std={"IS": is_s, "FID": fid_s},
                           runs=self._run_names(ctx, row)))  # fmt: skip
        return out

    def _columns(self, ctx: ExperimentContext) -> tuple[str, str]:
        """The (FID-like, IS-like) columns the claims are tested in: the Fashion-MNIST
        classifier's FD and IS on --data fashion-mnist, else FID and IS (Inception weights)."""
        return ("FD (F-MNIST)", "IS (F-MNIST)") if _fmnist(ctx) else ("FID", "IS")

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
        reasons = {r.label: r.reason for r in self.ROWS if r.recipe is None}
        for row in rows:
            if row.label in reasons:
                row.ours = {c: Cell(None, reason=reasons[row.label]) for c in self.columns}
                continue  # the table's note lists the reason once for all the columns
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


@register_experiment("qagan-cifar10")
class QAGANCifar10(QAGANTable):
    paper = "Kancharla & Channappayya, Quality Aware Generative Adversarial Networks, NeurIPS 2019"
    table = "CIFAR-10 inception scores and FID (slides)"
    description = (
        "DCGAN, WGAN-GP, SNGAN, the W^{-3/2,2} and L^10 Banach WGANs and QAGAN with the SSIM "
        "and NIQE critic penalties, trained with the authors' hyper-parameters (the full "
        "presets) or their CPU-sized -demo presets, and evaluated by the ordinary evaluation "
        "(qagen eval) on the raw generator of each run's last checkpoint, as the QAGAN authors "
        "evaluated (the paper's columns). Every run also tracks an EMA of its generator (decay "
        "0.99; it changes nothing in training): the EMA columns score it under the same "
        "protocol for every row. CTGAN and MMD GAN-rep-b are not implemented and the real "
        "data is no generator: those rows keep the paper's values. IS and FID need the FID "
        "Inception weights (a local file); SWD needs none."
    )
    ROWS = _CIFAR_ROWS
    PAPER = _CIFAR_PAPER
    paper_data = ("cifar10", "the CIFAR-10 python or binary files")
    paper_overrides = ("data.split=all",)

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """The slides' orderings: QAGAN (SSIM) and QAGAN (NIQE) below WGAN-GP in FID, the two
        Banach WGANs above WGAN-GP in IS. Tested where our columns measure them (FD and IS in
        the Fashion-MNIST classifier on --data fashion-mnist, else FID and IS)."""
        fd, is_ = self._columns(ctx)
        return [
            Claim("QAGAN (SSIM) has a lower FID than WGAN-GP", fd, "QAGAN (SSIM)", "WGAN-GP"),
            Claim("QAGAN (NIQE) has a lower FID than WGAN-GP", fd, "QAGAN (NIQE)", "WGAN-GP"),
            Claim("the W^{-3/2,2} Banach WGAN has a higher IS than WGAN-GP", is_,
                  "W^{-3/2,2} Banach WGAN", "WGAN-GP", higher_is_better=True),
            Claim("the L^10 Banach WGAN has a higher IS than WGAN-GP", is_, "L^10 Banach WGAN",
                  "WGAN-GP", higher_is_better=True),
        ]  # fmt: skip


@register_experiment("qagan-celeba")
class QAGANCelebA(QAGANTable):
    paper = "Kancharla & Channappayya, Quality Aware Generative Adversarial Networks, NeurIPS 2019"
    table = "CelebA 64 x 64 FID (slides, Table 1)"
    description = (
        "WGAN-GP, the Banach WGAN (W^{-3/2,2}: the slides do not name the space) and QAGAN "
        "with the SSIM and NIQE critic penalties on CelebA at 64 x 64 (the -celeba presets: "
        "every aligned image, flips, the 4 x 4 start and four up-blocks), or their CPU-sized "
        "-demo presets at 32 px, evaluated as qagan-cifar10 (raw generator for the paper's "
        "columns, its EMA copy for the EMA columns). MMD GAN-rep-b is not implemented and the "
        "real data is no generator: those rows keep the paper's values. The slides give FID "
        "only."
    )
    ROWS = _CELEBA_ROWS
    PAPER = _CELEBA_PAPER
    paper_data = ("celeba", "img_align_celeba/*.jpg")

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """The slides' orderings: both QAGANs below WGAN-GP and the Banach WGAN in FID."""
        fd, _ = self._columns(ctx)
        return [
            Claim(f"QAGAN ({q}) has a lower FID than {o}", fd, f"QAGAN ({q})", o)
            for q in ("SSIM", "NIQE")
            for o in ("WGAN-GP", "Banach WGAN")
        ]


@register_experiment("qagan-stl10")
class QAGANSTL10(QAGANTable):
    paper = "Kancharla & Channappayya, Quality Aware Generative Adversarial Networks, NeurIPS 2019"
    table = "STL-10 48 x 48 inception scores and FID (slides, Table 2)"
    description = (
        "WGAN-GP, SNGAN and QAGAN with the SSIM and NIQE critic penalties on the 100,000 "
        "unlabelled STL-10 images at 48 x 48 (the -stl10 presets: the 6 x 6 start of the "
        "generator; SNGAN with the CIFAR-10 ResNet, not its paper's wider STL-10 one), or their "
        "CPU-sized -demo presets at 32 px, evaluated as qagan-cifar10. MMD GAN-rep is not "
        "implemented and the real data is no generator: those rows keep the paper's values."
    )
    ROWS = _STL10_ROWS
    PAPER = _STL10_PAPER
    paper_data = ("stl10", "the STL-10 binary files (stl10_binary/)")

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """The slides' orderings: both QAGANs below WGAN-GP and SNGAN in FID, SNGAN above
        WGAN-GP in IS."""
        fd, is_ = self._columns(ctx)
        out = [
            Claim(f"QAGAN ({q}) has a lower FID than {o}", fd, f"QAGAN ({q})", o)
            for q in ("SSIM", "NIQE")
            for o in ("WGAN-GP", "SNGAN")
        ]
        out.append(Claim("SNGAN has a higher IS than WGAN-GP", is_, "SNGAN", "WGAN-GP",
                         higher_is_better=True))  # fmt: skip
        return out
