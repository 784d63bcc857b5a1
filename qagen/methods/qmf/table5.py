"""QMF Table 5 (Osahor & Nasrabadi, "Quality Map Fusion for Adversarial Learning", arXiv
2110.12338): QAGAN and StyleGAN2 with PAM and M_F, each alone and with the SSIM and NIQE
critic penalties; FID on CIFAR-10 (32 px) and CelebA (64 px), mean +- std.

The QAGAN rows are QAGAN's recipes, named by their registry names (``qagan-ssim``,
``qagan-niqe``, ``qagan-ssim-niqe``; the plain QAGAN row is ``qagan-ssim`` with
``ssim_weight = 0``: QAGAN's hyper-parameters, the 1-GP and the drift, no quality term). The
StyleGAN2 rows are ``stylegan2-qmf`` (StyleGAN2 in the official configurations with PAM and M_F,
:mod:`qagen.methods.qmf.stylegan2`), with ``ssim_weight`` / ``niqe_weight`` 0.1 (QAGAN's
lambda2). The paper's BL rows are Table 4's (``qmf-table4``).
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

_SSIM, _NIQE = "ssim_weight=0.1", "niqe_weight=0.1"

#: (row label, run key, recipe, preset stem, overrides): the eight rows, in the paper's order.
#: The preset is ``stem`` (CIFAR-10), ``stem-celeba`` for StyleGAN2 on CelebA, ``stem-demo``
#: at the smoke and cpu budgets.
ROWS = (
    ("QAGAN", "qagan", "qagan-ssim", "qagan-ssim", ("ssim_weight=0.0",)),
    ("QAGAN (SSIM)", "qagan-ssim", "qagan-ssim", "qagan-ssim", ()),
    ("QAGAN (NIQE)", "qagan-niqe", "qagan-niqe", "qagan-niqe", ()),
    ("QAGAN (SSIM + NIQE)", "qagan-ssim-niqe", "qagan-ssim-niqe", "qagan-ssim-niqe", ()),
    ("StyleGAN2", "stylegan2", "stylegan2-qmf", "stylegan2-qmf", ()),
    ("StyleGAN2 (SSIM)", "stylegan2-ssim", "stylegan2-qmf", "stylegan2-qmf", (_SSIM,)),
    ("StyleGAN2 (NIQE)", "stylegan2-niqe", "stylegan2-qmf", "stylegan2-qmf", (_NIQE,)),
    ("StyleGAN2 (SSIM + NIQE)", "stylegan2-ssim-niqe", "stylegan2-qmf", "stylegan2-qmf",
     (_SSIM, _NIQE)),
)  # fmt: skip

#: Table 5 as printed: {family: {row: (FID, std)}} (StyleGAN2 (NIQE) on CelebA: "6.10 +- 011",
#: read as 0.11).
PAPER = {
    "cifar10": {
        "QAGAN": (41.20, 0.25), "QAGAN (SSIM)": (14.13, 0.32), "QAGAN (NIQE)": (12.57, 0.11),
        "QAGAN (SSIM + NIQE)": (10.01, 0.13), "StyleGAN2": (37.11, 0.15),
        "StyleGAN2 (SSIM)": (13.14, 0.02), "StyleGAN2 (NIQE)": (11.17, 0.31),
        "StyleGAN2 (SSIM + NIQE)": (10.81, 0.13),
    },
    "celeba": {
        "QAGAN": (10.03, 0.35), "QAGAN (SSIM)": (6.44, 0.43), "QAGAN (NIQE)": (6.40, 0.23),
        "QAGAN (SSIM + NIQE)": (6.16, 0.05), "StyleGAN2": (9.03, 0.25),
        "StyleGAN2 (SSIM)": (5.84, 0.13), "StyleGAN2 (NIQE)": (6.10, 0.11),
        "StyleGAN2 (SSIM + NIQE)": (6.18, 0.05),
    },
}  # fmt: skip

#: Per budget: seeds, generator steps per family (None: the preset's), samples evaluated.
#: cpu: 500 generator steps per run for both families (qagen-cifar10's budget on Fashion-MNIST):
#: about 200 s per QAGAN run (5 critic updates per step) and 240 s per StyleGAN2 run (300 s with
#: the NIQE term) with one thread on an idle core (measured 2026-12-07); 24 runs, about 100 minutes.
BUDGET = {
    "smoke": {"seeds": (0,), "steps": {"qagan": 3, "stylegan2": 3}, "n_samples": 32,
              "expected_s": 10.0},
    "cpu": {"seeds": (0, 1, 2), "steps": {"qagan": 500, "stylegan2": 500}, "n_samples": 1000,
            "expected_s": 250.0},
    "paper": {"seeds": (0, 1, 2), "steps": {"qagan": None, "stylegan2": None},
              "n_samples": 50_000, "expected_s": 48 * 3600.0},
}  # fmt: skip

_COMMON_SMOKE = ("train.sample_every=3", "train.n_samples=4", "train.checkpoint_every=3",
                 "train.log_every=1", "train.progress=false", "data.num_workers=0")  # fmt: skip
#: Overrides that make the smoke runs tiny (the pipeline, not the numbers).
SMOKE = {
    "qagan": ("g_channels=8", "d_channels=8", "train.batch_size=4", "niqe.warmup_steps=2",
              *_COMMON_SMOKE),
    "stylegan2": ("z_dim=8", "w_dim=8", "channel_base=64", "channel_max=8", "heads=2",
                  "ms_ssim_scales=2", "train.batch_size=4", "niqe.warmup_steps=2",
                  *_COMMON_SMOKE),
}  # fmt: skip

_FMNIST = ("data.resolution=32", "data.split=train")


def _fmnist(ctx: ExperimentContext) -> bool:
    return bool(ctx.data) and ctx.data.strip().lower().startswith("fashion-mnist")


def family(data: str | None) -> str:
    """``'celeba'`` for ``celeba:ROOT`` data, else ``'cifar10'``."""
    return "celeba" if data and data.strip().lower().startswith("celeba:") else "cifar10"


def _kind(recipe: str) -> str:
    return "stylegan2" if recipe.startswith("stylegan2") else "qagan"


@register_experiment("qmf-table5")
class QMFTable5(Experiment):
    paper = "Osahor & Nasrabadi, Quality Map Fusion for Adversarial Learning, arXiv 2110.12338"
    table = "Table 5: QAGAN and StyleGAN2 (with PAM and M_F) with the SSIM / NIQE losses (FID)"
    description = (
        "QAGAN (its ResNet, WGAN-GP with the 1-GP, the authors' hyper-parameters) and StyleGAN2 "
        "(the official configurations: CIFAR-10's at 32 px, the default at 64 px) with QMF's "
        "PAM and M_F on the R/4 synthesis features, each without and with the SSIM and NIQE "
        "critic penalties (weight 0.1). Each row is trained once per seed and evaluated by qagen "
        "eval on its last checkpoint, the raw generator and its EMA (QAGAN 0.99; StyleGAN2 the "
        "preset's half-life); cells are mean +- sample standard deviation over the seeds. FID "
        "needs the FID Inception weights (a local file)."
    )
    columns = ("FID", "FD (F-MNIST)", "IS (F-MNIST)", "FID (EMA)", "FD (F-MNIST, EMA)")
    column_notes = {
        "FID": "Frechet Inception distance to the real images (raw generator), lower is better",
        "FD (F-MNIST)": "Frechet distance in the features of a Fashion-MNIST classifier "
        "(fd_fmnist; --data fashion-mnist only), lower is better; ours only",
        "IS (F-MNIST)": "inception-style score of that classifier (is_fmnist, 1-10), higher is "
        "better; ours only",
        "FID (EMA)": "FID of the EMA generator of the same checkpoint; ours only",
        "FD (F-MNIST, EMA)": "fd_fmnist of the EMA generator; ours only",
    }

    def _budget(self, ctx: ExperimentContext) -> dict[str, Any]:
        return BUDGET[ctx.budget]

    def _data(self, ctx: ExperimentContext) -> str | None:
        return ctx.data or (None if ctx.budget == "paper" else "builtin")

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        b = self._budget(ctx)
        fam = family(ctx.data)
        steps = b["steps"]
        return {
            "data": (self._data(ctx) or "") + (" (32 px: 2 px of background padding; train "
                                               "split)" if _fmnist(ctx) else ""),
            "paper_columns": "CelebA (64 px)" if fam == "celeba" else "CIFAR-10 (32 px)",
            "presets": ("qagan-*, stylegan2-qmf" + ("-celeba" if fam == "celeba" else ""))
            if ctx.budget == "paper" else "qagan-*-demo, stylegan2-qmf-demo (CPU-sized)",
            "training": "the presets' max_steps" if ctx.budget == "paper" else
            f"QAGAN {steps['qagan']} generator steps (5 critic updates each), StyleGAN2 "
            f"{steps['stylegan2']} steps, per run",
            "seeds": list(b["seeds"]),
            "inception_weights": ctx.inception_weights or "not given: FID is null",
        } | ({} if ctx.budget == "paper" else {"note": f"the {ctx.budget} budget trains on "
             f"{self._data(ctx)}, not on {'CelebA' if fam == 'celeba' else 'CIFAR-10'}: its "
             "numbers compare the rows with each other, not with the paper"})  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = self._budget(ctx)
        if ctx.budget == "paper" and not ctx.data:
            raise InputError("--budget paper needs --data cifar10:ROOT (CIFAR-10 rows) or "
                             "celeba:ROOT (CelebA rows)")  # fmt: skip
        fam = family(ctx.data)
        specs = []
        for _label, key, recipe, stem, overrides in ROWS:
            kind = _kind(recipe)
            sets: tuple[str, ...] = tuple(overrides)
            if ctx.budget == "paper":
                if kind == "stylegan2":
                    preset = stem + ("-celeba" if fam == "celeba" else "")
                else:  # QAGAN's CIFAR-10 preset; at 64 px on CelebA (its ResNet has 64 px)
                    preset = stem
                    sets += ("data.split=all",) + (("data.resolution=64",) if fam == "celeba"
                                                   else ())  # fmt: skip
            else:
                preset = stem + "-demo"
                sets += SMOKE[kind] if ctx.budget == "smoke" else ()
            if _fmnist(ctx):
                sets += _FMNIST
            for seed in b["seeds"]:
                specs.append(RunSpec(
                    name=f"{key}-s{seed}", recipe=recipe, preset=preset, data=self._data(ctx),
                    overrides=sets + (f"train.seed={seed}",), max_steps=b["steps"][kind],
                    expected_seconds=b["expected_s"],
                ))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        fam = family(ctx.data)
        seeds = self._budget(ctx)["seeds"]
        out = []
        for label, key, *_ in ROWS:
            fid, std = PAPER[fam][label]
            paper: dict[str, float | None] = dict.fromkeys(self.columns)
            paper["FID"] = fid
            out.append(Row(label=label, paper=paper, paper_std={"FID": std},
                           runs=[f"{key}-s{s}" for s in seeds]))  # fmt: skip
        return out

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """Table 5's orderings: each quality term lowers the FID of its model (QAGAN and
        StyleGAN2), tested on FID or, on Fashion-MNIST, on the classifier's FD."""
        col = "FD (F-MNIST)" if _fmnist(ctx) else "FID"
        out = []
        for base in ("QAGAN", "StyleGAN2"):
            for term in ("SSIM", "NIQE", "SSIM + NIQE"):
                label = f"{base} ({term})"
                out.append(Claim(f"{label} has a lower FID than {base}", col, label, base))
        return out

    def _seed_cells(self, ctx: ExperimentContext, name: str, n: int) -> dict[str, Cell]:
        fm = _fmnist(ctx)
        cells: dict[str, Cell] = {}
        for generator in ("raw", "ema"):
            metrics = ["fid"] + (["fd_fmnist"] if fm else [])
            if fm and generator == "raw":
                metrics.append("is_fmnist")
            rec = ctx.evaluate(name, metrics, n_samples=n, generator=generator)
            if generator == "raw":
                cells["FID"] = cell_from_record(rec.get("fid"))
                if fm:
                    cells["FD (F-MNIST)"] = cell_from_record(rec.get("fd_fmnist"))
                    cells["IS (F-MNIST)"] = cell_from_record(rec.get("is_fmnist"))
            else:
                cells["FID (EMA)"] = cell_from_record(rec.get("fid"))
                if fm:
                    cells["FD (F-MNIST, EMA)"] = cell_from_record(rec.get("fd_fmnist"))
        if not fm:
            why = "Fashion-MNIST runs only (--data fashion-mnist)"
            for c in ("FD (F-MNIST)", "IS (F-MNIST)", "FD (F-MNIST, EMA)"):
                cells[c] = Cell(None, reason=why)
        return cells

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        n = self._budget(ctx)["n_samples"]
        for row in rows:
            per_seed, failed = [], []
            for name in row.runs:
                status = ctx.status.get(name, "finished")
                if status != "finished":
                    failed.append(f"{name}: {status}")
                    continue
                per_seed.append(self._seed_cells(ctx, name, n))
            if not per_seed:
                why = "; ".join(failed) or "no finished run"
                row.ours = {c: Cell(None, reason=why) for c in self.columns}
            else:
                row.ours = {c: mean_std([p[c] for p in per_seed]) for c in self.columns}
            row.note = "; ".join([f"{len(per_seed)} of {len(row.runs)} seeds", *failed])
        return rows
