"""The MS-SSIM loss poster's representation table: convolutional autoencoders trained on grey
48 x 48 illumination images with MSE, MAE or -MS-SSIM, and SVMs on their bottleneck codes
predicting identity, light azimuth and light elevation.

Data: the built-in synthetic illumination set (``illumination``, default) or the Extended Yale B
cropped faces (``--data yaleb:ROOT``), the poster's data. The autoencoders train on the
``train`` split (half of each identity's images); the SVMs (:mod:`qagen.methods.msssim.codes`) fit on
the codes of the ``train`` split and are scored on those of the ``test`` split. We add the
reconstruction quality of the held-out images (PSNR, MS-SSIM; ours only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from qagen.experiments.base import (
    Cell,
    Claim,
    Experiment,
    ExperimentContext,
    Row,
    RunSpec,
    mean_std,
    register_experiment,
    seed_run_names,
)
from qagen.files import write_json_atomic
from qagen.methods.msssim.codes import C_GRID

#: (row label, run name, loss)
_ROWS = (("MSE", "ae-mse", "mse"), ("MAE", "ae-mae", "mae"), ("MS-SSIM", "ae-msssim", "msssim"))

#: The poster: identity error (%), azimuth and elevation errors (read as MSE in degrees^2).
_PAPER = {"MSE": (5.60, 277.46, 51.46), "MAE": (5.60, 325.19, 50.23),
          "MS-SSIM": (3.53, 234.32, 35.60)}  # fmt: skip

_BUDGET = {
    "smoke": {"max_steps": 40, "max_minutes": None, "expected_s": 15.0, "c_grid": (1.0, 10.0)},
    "cpu": {"max_steps": None, "max_minutes": 6.0, "expected_s": 360.0,
            "c_grid": C_GRID},
    "paper": {"max_steps": 20_000, "max_minutes": None, "expected_s": 3600.0,
              "c_grid": C_GRID},
}  # fmt: skip

#: On Fashion-MNIST: 48 px (the autoencoder takes 6 x 2^L px: padded to 32, then resized), the
#: data set's train split; the SVM sees a seeded subset of the codes
#: (an RBF SVC on 60,000 codes would take hours), the reconstructions every test image.
_FMNIST = ("data.resolution=48", "data.split=train")
_FMNIST_SVM = {"smoke": (300, 200), "cpu": (5000, 2000), "paper": (10000, 10000)}


def _fmnist(ctx: ExperimentContext) -> bool:
    return bool(ctx.data) and ctx.data.strip().lower().startswith("fashion-mnist")


_SMOKE = ("train.batch_size=16", "train.sample_every=20", "train.checkpoint_every=40",
          "train.log_every=5", "train.progress=false", "hparams.channels=8")  # fmt: skip


@register_experiment("msssim-ae")
class MSSSIMAutoencoder(Experiment):
    paper = (
        "Snell, Ridgeway, Liao, Roads, Mozer, Zemel, Learning to generate images with perceptual "
        "similarity metrics (ICIP 2017; the MS-SSIM loss poster)"
    )
    table = "What autoencoder codes encode: SVMs on the bottleneck (Yale B, 48 x 48)"
    description = (
        "Convolutional autoencoders (128-d code) trained with MSE, MAE or -MS-SSIM (3 scales at "
        "48 px) on the train split; an SVM classifier (identity) and two SVM regressors "
        "(azimuth, elevation) fitted on the train codes with cross-validated C and scored on "
        "the test codes. Lower is better for the three poster columns, higher for PSNR and "
        "MS-SSIM."
    )
    columns = ("identity_error", "azimuth", "elevation", "class_error", "PSNR", "MS-SSIM")
    column_notes = {
        "identity_error": "SVM identity classification error on the test codes, %; lower is better",
        "azimuth": "SVM regression of the light azimuth, mean squared error in degrees^2 (the "
        "poster gives no unit; its values read as MSEs); lower is better",
        "elevation": "SVM regression of the light elevation, MSE in degrees^2; lower is better",
        "class_error": "SVM classification of the 10 Fashion-MNIST classes from the codes, error "
        "on the test codes in %, lower is better (--data fashion-mnist: it replaces the "
        "identity error; ours only)",
        "PSNR": "reconstruction of the test images, dB; higher is better (ours only)",
        "MS-SSIM": "reconstruction of the test images, MS-SSIM with the training loss's scales; "
        "higher is better (ours only)",
    }

    def _data(self, ctx: ExperimentContext) -> str:
        return ctx.data or "illumination"

    def heading(self, ctx: ExperimentContext) -> str:
        """The title names the data: Yale B (the poster's) only when it is Yale B."""
        name = self._data(ctx).partition(":")[0].strip().lower()
        what = {"yaleb": "Yale B", "fashion-mnist": "Fashion-MNIST",
                "illumination": "the synthetic illumination set standing in for Yale B"}  # fmt: skip
        return ("What autoencoder codes encode: SVMs on the bottleneck "
                f"({what.get(name, self._data(ctx))}, 48 x 48)")  # fmt: skip

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        from qagen.methods.msssim.codes import svm_code_scores  # noqa: F401  (documented protocol)

        b = {**_BUDGET[ctx.budget], **self._fmnist_budget(ctx)}
        if _fmnist(ctx):
            n_tr, n_te = _FMNIST_SVM[ctx.budget]
            fm = {"data": f"{self._data(ctx)} (grey, 48 px: padded to 32, resized; train split)",
                  "svm": f"10-class RBF SVC on {n_tr} train / {n_te} test codes (seeded subset), "
                  f"C by 3-fold CV from {list(b['c_grid'])}; PSNR / MS-SSIM on every test image"}  # fmt: skip
        else:
            fm = {}
        return {
            "data": self._data(ctx),
            "presets": "autoencoder" if ctx.budget == "paper" else "autoencoder-demo",
            "training": f"{b['max_steps']} steps per run" if b["max_steps"]
            else f"{b['max_minutes']} minutes per run on this machine",
            "seeds": list(self._seeds(ctx)),
            "split": "autoencoders and SVMs fit on 'train' (half of each identity's images, "
            "seeded); SVMs scored on 'test'",
            "svm": "RBF SVC / SVR (gamma='scale') on standardised codes; C (and SVR epsilon) by "
            f"3-fold CV on the train codes from C in {list(b['c_grid'])}",
            "azimuth/elevation": "mean squared error in degrees^2 on the test codes (RMSE and "
            "MAE in svm_eval.json)",
            "weights": "the raw weights of the last checkpoint (the presets keep no EMA)",
            **fm,
        }  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = dict(_BUDGET[ctx.budget])
        b.update(self._fmnist_budget(ctx))
        preset = "autoencoder" if ctx.budget == "paper" else "autoencoder-demo"
        specs = []
        for _label, name, loss in _ROWS:
            for seed, run in zip(self._seeds(ctx), self._names(ctx, name), strict=True):
                sets = (f"hparams.loss={loss}",) + (_SMOKE if ctx.budget == "smoke" else ())
                sets += _FMNIST if _fmnist(ctx) else ()
                sets += (f"train.seed={seed}",) if len(self._seeds(ctx)) > 1 else ()
                specs.append(RunSpec(name=run, recipe="autoencoder", preset=preset,
                                     data=self._data(ctx), overrides=sets,
                                     max_steps=b["max_steps"], max_minutes=b["max_minutes"],
                                     expected_seconds=b["expected_s"]))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        return [
            Row(label, paper={"identity_error": p[0], "azimuth": p[1], "elevation": p[2],
                              "class_error": None, "PSNR": None, "MS-SSIM": None},
                runs=self._names(ctx, name))
            for (label, name, _loss), p in ((r, _PAPER[r[0]]) for r in _ROWS)
        ]  # fmt: skip

    @staticmethod
    def _fmnist_budget(ctx: ExperimentContext) -> dict[str, Any]:
        """Fashion-MNIST at the cpu budget: 3 seeds x 3 losses of 1,000 steps each (a step
        budget: the rows compare at equal training whatever else the machine runs)."""
        if _fmnist(ctx) and ctx.budget == "cpu":
            return {"max_steps": 1000, "max_minutes": None, "expected_s": 150.0}
        return {}

    def _seeds(self, ctx: ExperimentContext) -> tuple[int, ...]:
        return (0, 1, 2) if _fmnist(ctx) and ctx.budget == "cpu" else (0,)

    def _names(self, ctx: ExperimentContext, name: str) -> list[str]:
        return seed_run_names(name, self._seeds(ctx))

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        """One seed: :meth:`_evaluate_runs`; several: each seed's rows, then mean +- std."""
        if self._seeds(ctx) == (0,):
            return self._evaluate_runs(ctx, rows)
        per_seed = []
        for i in range(len(self._seeds(ctx))):
            seed_rows = [Row(r.label, paper=r.paper, runs=[r.runs[i]]) for r in rows]
            per_seed.append(self._evaluate_runs(ctx, seed_rows, tag=f"-s{i}", grid=i == 0))
        for j, row in enumerate(rows):
            row.ours = {c: mean_std([sr[j].ours[c] for sr in per_seed]) for c in self.columns}
            row.note = f"{len(per_seed)} seeds; seed 0: {per_seed[0][j].note}"
        return rows

    def _evaluate_runs(
        self, ctx: ExperimentContext, rows: list[Row], tag: str = "", grid: bool = True
    ) -> list[Row]:
        from qagen.methods.msssim.codes import svm_code_scores
        from qagen.methods.msssim.reconstruction import (
            held_out_dataset,
            load_autoencoder,
            reconstruction_scores,
        )

        record: dict[str, Any] = {}
        recon: dict[str, torch.Tensor] = {}
        originals = None
        for row in rows:
            name = row.runs[0]
            status = ctx.status.get(name, "finished")
            if status != "finished":
                row.ours = {c: Cell(None, reason=status) for c in self.columns}
                continue
            net, restored = load_autoencoder(ctx.run_dir(name), device=ctx.device)
            data = restored.run.data
            train_ds, _ = held_out_dataset(data, "train")
            test_ds, _ = held_out_dataset(data, "test")
            xte = _grey_stack(test_ds)  # the train images only where the SVMs need them all
            scores, rec = reconstruction_scores(net, xte)
            psnr, msv, k = scores["psnr"], scores["ms_ssim"], scores["ms_ssim_scales"]
            proto = {"generator": "raw", "n": len(xte), "reference_split": "test"}
            cells = {"PSNR": Cell(psnr, n=len(xte), protocol=proto),
                     "MS-SSIM": Cell(msv, n=len(xte), protocol=proto)}  # fmt: skip
            labels_tr, labels_te = (
                getattr(train_ds, "labels", None),
                getattr(test_ds, "labels", None),
            )
            if _fmnist(ctx):
                cells.update(self._fmnist_codes(ctx, net, train_ds, test_ds, xte, record, row))
            elif labels_tr is None or labels_te is None:
                reason = (
                    f"{data.spec} has no identity / light labels (use illumination or yaleb:ROOT)"
                )
                cells.update({c: Cell(None, reason=reason)
                              for c in ("identity_error", "azimuth", "elevation")})  # fmt: skip
                cells["class_error"] = Cell(None, reason="Fashion-MNIST runs only")
            else:
                ctr, cte = _encode(net, _grey_stack(train_ds)), _encode(net, xte)
                sc = svm_code_scores(ctr, labels_tr, cte, labels_te,
                                     c_grid=_BUDGET[ctx.budget]["c_grid"])  # fmt: skip
                svm = {"generator": "raw", "n": sc.n_test, "reference_split": "test"}
                cells.update({
                    "identity_error": Cell(sc.identity_error, n=sc.n_test, protocol=svm),
                    "azimuth": Cell(sc.azimuth_mse, n=sc.n_test, protocol=svm),
                    "elevation": Cell(sc.elevation_mse, n=sc.n_test, protocol=svm),
                })  # fmt: skip
                cells["class_error"] = Cell(None, reason="Fashion-MNIST runs only")
                record[row.label] = sc.to_dict()
                row.note = (f"RMSE azimuth {sc.azimuth_rmse:.1f} deg, elevation "
                            f"{sc.elevation_rmse:.1f} deg; {sc.n_train} train / {sc.n_test} test codes")  # fmt: skip
            record.setdefault(row.label, {})["reconstruction"] = {"psnr": psnr, "ms_ssim": msv,
                                                                  "ms_ssim_scales": k}  # fmt: skip
            row.ours = cells
            recon[row.label] = rec
            originals = xte
        write_json_atomic(ctx.out / f"svm_eval{tag}.json", record)
        if originals is not None and grid:
            self._grid(ctx, originals, recon)
        return rows

    def claims(self, ctx: ExperimentContext) -> list[Claim]:
        """The poster's claim: the MS-SSIM codes give the lowest classification error (identity
        on Yale B, the 10 classes on Fashion-MNIST)."""
        col = "class_error" if _fmnist(ctx) else "identity_error"
        return [Claim(f"the MS-SSIM codes classify better than the {o} codes", col, "MS-SSIM", o)
                for o in ("MSE", "MAE")]  # fmt: skip

    def _fmnist_codes(
        self,
        ctx: ExperimentContext,
        net: Any,
        train_ds: Any,
        test_ds: Any,
        xte: torch.Tensor,
        record: dict,
        row: Row,
    ) -> dict[str, Cell]:
        """The 10-class SVM error on a seeded subset of the codes (``_FMNIST_SVM``); azimuth
        and elevation are null (Fashion-MNIST has no lighting)."""
        from qagen.methods.msssim.codes import svm_class_error

        n_tr, n_te = _FMNIST_SVM[ctx.budget]
        rng = np.random.default_rng(0)
        itr = np.sort(rng.choice(len(train_ds), min(n_tr, len(train_ds)), replace=False))
        ite = np.sort(rng.choice(len(test_ds), min(n_te, len(test_ds)), replace=False))
        xtr = _grey_stack(train_ds, itr)
        err, c = svm_class_error(_encode(net, xtr), train_ds.labels[itr], _encode(net, xte[ite]),
                                 test_ds.labels[ite], c_grid=_BUDGET[ctx.budget]["c_grid"])  # fmt: skip
        record[row.label] = {"class_error": err, "C": c, "n_train": len(itr), "n_test": len(ite)}
        row.note = f"10-class SVM on {len(itr)} train / {len(ite)} test codes (C = {c:g})"
        why = "Fashion-MNIST has no identities or lighting: see class_error"
        proto = {"generator": "raw", "n": len(ite), "reference_split": "test"}
        return {"identity_error": Cell(None, reason=why), "azimuth": Cell(None, reason=why),
                "elevation": Cell(None, reason=why),
                "class_error": Cell(err, n=len(ite), protocol=proto)}  # fmt: skip

    def _grid(
        self, ctx: ExperimentContext, x: torch.Tensor, recon: dict[str, torch.Tensor]
    ) -> None:
        from qagen.methods.msssim.report import reconstruction_figure

        idx = np.random.default_rng(0).choice(len(x), size=min(10, len(x)), replace=False)
        idx = torch.as_tensor(sorted(idx))
        rows = {"original": x[idx], **{k: v[idx] for k, v in recon.items()}}
        png = reconstruction_figure(rows, "Held-out test images and their reconstructions")
        (ctx.out / "reconstructions.png").write_bytes(png)

    def report_sections(self, ctx: ExperimentContext, rows: list[Row]) -> list[Any]:
        from qagen.report import Figure, Section

        path = Path(ctx.out) / "reconstructions.png"
        if not path.is_file():
            return []
        return [Section("Reconstructions", [Figure(path, "Ten held-out images (top row) and "
                        "their reconstructions by the three autoencoders")])]  # fmt: skip


def _grey_stack(ds: Any, index: Any = None) -> torch.Tensor:
    from qagen.color import to_gray

    idx = range(len(ds)) if index is None else [int(i) for i in index]
    return to_gray(torch.stack([ds[i] for i in idx]), gray="y")


@torch.no_grad()
def _encode(net: Any, x: torch.Tensor) -> np.ndarray:
    """Codes ``N x D`` (float64) of grey images, in batches of 256."""
    return np.concatenate(
        [net.encode(x[i : i + 256]).double().numpy() for i in range(0, len(x), 256)]
    )
