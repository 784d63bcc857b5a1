"""QMF Table 4 (Osahor & Nasrabadi, "Quality Map Fusion for Adversarial Learning", arXiv
2110.12338): the ablation of the baseline BL with PAM, M_F and the SSIM / NIQE losses, FID and
IS on CIFAR-10 (32 px) and CelebA (64 px), mean +- std.

Each row is a ``qmf`` preset (``qmf-<row>`` for CIFAR-10, ``qmf-<row>-celeba`` for CelebA, their
``-demo`` versions on the built-in photos), trained once per seed, evaluated by the ordinary
evaluation (``qagen eval``: FID and IS with the FID Inception weights from a local file; SWD and
NIQE, which need no downloaded weights, always). The dataset family comes from ``--data``:
``celeba:ROOT`` gives the CelebA presets and the CelebA columns of the paper, anything else
(``cifar10:ROOT``, the built-in photos of the smoke and cpu budgets) the CIFAR-10 ones.
"""

from __future__ import annotations

import statistics
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

#: The protocol's line on grey data (issue 17): what ``grey_output = "auto"`` of every QMF preset
#: does there.
GREY_OUTPUT = (
    "auto (every QMF preset): the data are grey, so G's output is the mean of its "
    "three channels on all three, the two-pass x0 included (docs/qmf.md, 'Grey data')"
)

#: (row label, preset key): the six rows of Table 4, in the paper's order.
ROWS = (
    ("BL", "bl"),
    ("PAM+SSIM", "pam-ssim"),
    ("PAM+NIQE", "pam-niqe"),
    ("MF+SSIM", "mf-ssim"),
    ("MF+NIQE", "mf-niqe"),
    ("full", "full"),
)

#: Table 4 as printed: {family: {row: (FID, FID std, IS, IS std)}}. The CelebA "IS" values
#: (0.86-0.97) are not on the Inception-score scale (the paper does not define them); they are
#: kept as printed.
PAPER = {
    "cifar10": {
        "BL": (38.10, 0.12, 8.20, 0.03),
        "PAM+SSIM": (19.01, 0.10, 8.01, 0.13),
        "PAM+NIQE": (16.31, 0.21, 8.00, 0.35),
        "MF+SSIM": (15.00, 0.20, 7.46, 0.21),
        "MF+NIQE": (13.21, 0.10, 7.80, 0.10),
        "full": (8.06, 0.22, 7.48, 0.62),
    },
    "celeba": {
        "BL": (29.80, 0.10, 0.86, 0.03),
        "PAM+SSIM": (13.16, 0.02, 0.88, 0.19),
        "PAM+NIQE": (11.86, 0.07, 0.89, 0.11),
        "MF+SSIM": (10.76, 0.43, 0.90, 0.10),
        "MF+NIQE": (6.38, 0.39, 0.96, 0.10),
        "full": (6.40, 0.71, 0.97, 0.16),
    },
}

#: Per budget: seeds, generator steps (None: the preset's), samples evaluated, expected seconds.
BUDGET = {
    "smoke": {"seeds": (0,), "max_steps": 3, "n_samples": 32, "expected_s": 12.0},
    "cpu": {"seeds": (0, 1, 2), "max_steps": 300, "n_samples": 256, "expected_s": 60.0},
    "paper": {"seeds": (0, 1, 2), "max_steps": None, "n_samples": 50_000,
              "expected_s": 48 * 3600.0},
}  # fmt: skip

#: Overrides that make the smoke runs tiny (the pipeline, not the numbers).
SMOKE = (
    "ngf=8", "ndf=8", "d2_ndf=8", "s_ndf=8", "n_res=1", "train.batch_size=4",
    "train.sample_every=3", "train.n_samples=4", "train.checkpoint_every=3", "train.log_every=1",
    "train.progress=false", "data.num_workers=0", "niqe.warmup_steps=2",
)  # fmt: skip


def _fmnist(ctx: ExperimentContext) -> bool:
    return bool(ctx.data) and ctx.data.strip().lower().startswith("fashion-mnist")


def family(data: str | None) -> str:
    """``'celeba'`` for ``celeba:ROOT`` data, else ``'cifar10'`` (CIFAR-10 and the built-in
    photos at 32 px)."""
    return "celeba" if data and data.strip().lower().startswith("celeba:") else "cifar10"


@register_experiment("qmf-table4")
class QMFTable4(Experiment):
    paper = "Osahor & Nasrabadi, Quality Map Fusion for Adversarial Learning, arXiv 2110.12338"
    table = "Table 4: ablation of PAM, M_F and the SSIM / NIQE losses (FID, IS)"
    description = (
        "The baseline BL (the encoder-decoder generator and the PatchGAN critic d1 with the "
        "1-GP) with PAM, the quality-map fusion M_F (with the map critic d2 and the score "
        "regressor s), and the SSIM and NIQE terms of L_BP, in generation mode (z mapped to the "
        "bottleneck, X_ref the index-aligned real image). Each row is trained once per seed and "
        "evaluated by qagen eval on its last checkpoint (raw generator: the presets keep no "
        "EMA); cells are mean +- sample standard deviation over the seeds. FID and IS need the "
        "FID Inception weights (a local file); SWD and NIQE need none."
    )
    columns = ("FID", "IS", "SWD", "NIQE", "FD (F-MNIST)", "IS (F-MNIST)")
    column_notes = {
        "FD (F-MNIST)": "Frechet distance in the features of a Fashion-MNIST classifier "
        "(fd_fmnist; --data fashion-mnist only), lower is better; ours only",
        "IS (F-MNIST)": "inception-style score of that classifier (is_fmnist, 1-10), higher is "
        "better; ours only",
        "FID": "Frechet Inception distance to the real images, lower is better",
        "IS": "Inception score, higher is better (the paper's CelebA values, 0.86-0.97, are not on "
        "the Inception-score scale)",
        "SWD": "sliced Wasserstein distance on Laplacian-pyramid patches (x1e3, mean over "
        "levels) to the held-out real images, lower is better; ours only",
        "NIQE": "NIQE of the generated set (LIVE model, blocks pooled over the set), lower is "
        "better; ours only (compare with the real images' NIQE in the row note)",
    }

    def _budget(self, ctx: ExperimentContext) -> dict[str, Any]:
        return BUDGET[ctx.budget]

    def _data(self, ctx: ExperimentContext) -> str | None:
        return ctx.data or (None if ctx.budget == "paper" else "builtin")

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        b = self._budget(ctx)
        fam = family(ctx.data)
        return {
            "data": self._data(ctx) + (" (generation mode; 32 px: 2 px of background "
                                         "padding; train split)" if _fmnist(ctx) else ""),
            "paper_columns": "CelebA (64 px)" if fam == "celeba" else "CIFAR-10 (32 px)",
            "presets": ("qmf-<row>" + ("-celeba" if fam == "celeba" else ""))
            + ("" if ctx.budget == "paper" else "-demo (CPU-sized)"),
            "training": "the preset's max_steps (20 epochs at batch 8)" if b["max_steps"] is None
            else f"{b['max_steps']} generator steps per run",
            "seeds": list(b["seeds"]),
            "inception_weights": ctx.inception_weights or "not given: FID and IS are null",
            "critic_updates": "5 per generator step (hparams.n_critic = 0: by mode, generation)",
        } | ({"grey_output": GREY_OUTPUT} if _fmnist(ctx) else {}) | ({} if ctx.budget == "paper" else {"note": f"the {ctx.budget} budget trains on "
             f"{self._data(ctx)}, not on {'CelebA' if fam == 'celeba' else 'CIFAR-10'}: its "
             "numbers compare the rows with each other, not with the paper"})  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = self._budget(ctx)
        if ctx.budget == "paper" and not ctx.data:
            raise InputError(
                "--budget paper needs --data cifar10:ROOT (CIFAR-10 rows) or celeba:ROOT "
                "(CelebA rows)"
            )
        fam = family(ctx.data)
        specs = []
        for _label, key in ROWS:
            preset = f"qmf-{key}" + ("-celeba" if fam == "celeba" else "")
            if ctx.budget != "paper":
                preset += "-demo"
            for seed in b["seeds"]:
                sets = (f"train.seed={seed}",) + (SMOKE if ctx.budget == "smoke" else ())
                if _fmnist(ctx):  # 32 px (2 px of padding), the data set's train split
                    sets += ("data.resolution=32", "data.split=train")
                specs.append(RunSpec(
                    name=f"{key}-s{seed}", recipe="qmf", preset=preset, data=self._data(ctx),
                    overrides=sets, max_steps=b["max_steps"], expected_seconds=b["expected_s"],
                ))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        fam = family(ctx.data)
        seeds = self._budget(ctx)["seeds"]
        out = []
        for label, key in ROWS:
            fid, fid_s, is_, is_s = PAPER[fam][label]
            paper: dict[str, float | None] = dict.fromkeys(self.columns)
            paper.update({"FID": fid, "IS": is_})
            out.append(Row(label=label, paper=paper,
                           paper_std={"FID": fid_s, "IS": is_s},
                           runs=[f"{key}-s{s}" for s in seeds]))  # fmt: skip
        return out

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """Table 4's orderings: every component (PAM, M_F, with the SSIM or NIQE term) and the
        full model below the baseline BL in FID (the classifier's FD on Fashion-MNIST)."""
        col = "FD (F-MNIST)" if _fmnist(ctx) else "FID"
        return [Claim(f"{label} has a lower FID than BL", col, label, "BL")
                for label, _ in ROWS if label != "BL"]  # fmt: skip

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        b = self._budget(ctx)
        # the real-vs-real SWD scale depends only on the reference set: computed once, with the
        # first run, and noted in every row
        first = f"{ROWS[0][1]}-s{b['seeds'][0]}"
        records: dict[str, dict] = {}
        for name in (n for row in rows for n in row.runs):
            if ctx.status.get(name, "finished") == "finished":
                fm = ["fd_fmnist", "is_fmnist"] if _fmnist(ctx) else []
                records[name] = ctx.evaluate(name, ["fid", "is", "swd", "niqe", *fm],
                                             n_samples=b["n_samples"], swd_baseline=name == first)  # fmt: skip
        scales = []
        for rec in records.values():
            sv = ((rec.get("swd") or {}).get("real_vs_real") or {}).get("average")
            if isinstance(sv, (int, float)):
                scales.append(float(sv))
        swd_scale = statistics.fmean(scales) if scales else None
        for row in rows:
            per_col: dict[str, list[Cell]] = {c: [] for c in self.columns}
            real_niqe: list[float] = []
            failed = []
            for name in row.runs:
                if name not in records:
                    status = ctx.status.get(name, "finished")
                    failed.append(f"{name}: {status}")
                    for c in self.columns:
                        per_col[c].append(Cell(None, reason=status))
                    continue
                rec = records[name]
                per_col["FID"].append(cell_from_record(rec.get("fid")))
                per_col["IS"].append(cell_from_record(rec.get("is")))
                per_col["SWD"].append(cell_from_record(rec.get("swd"), keys=("average", "value")))
                niqe = rec.get("niqe") or {}
                per_col["NIQE"].append(cell_from_record(niqe))
                for col, key in (("FD (F-MNIST)", "fd_fmnist"), ("IS (F-MNIST)", "is_fmnist")):
                    per_col[col].append(cell_from_record(rec.get(key)) if _fmnist(ctx) else
                                        Cell(None, reason="Fashion-MNIST runs only (--data fashion-mnist)"))  # fmt: skip
                rv = (niqe.get("real") or {}).get("value")
                if isinstance(rv, (int, float)):
                    real_niqe.append(float(rv))
            row.ours = {c: mean_std(per_col[c]) for c in self.columns}
            notes = [f"{len(row.runs) - len(failed)} of {len(row.runs)} seeds"]
            if real_niqe:
                notes.append(f"NIQE of the real images: {statistics.fmean(real_niqe):.4g}")
            if swd_scale is not None:
                notes.append(f"SWD of real vs real images: {swd_scale:.4g}")
            notes += failed
            row.note = "; ".join(notes)
        return rows
