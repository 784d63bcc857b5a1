"""The MS-SSIM loss poster's super-resolution table: SRCNN 4x trained with MSE, MAE and
-MS-SSIM, PSNR and SSIM on the Y channel of Set5, Set14 and BSD200 beside bicubic upscaling.

Our rows: the test sets given with ``--eval-data set5=DIR --eval-data set14=DIR --eval-data
bsd200=DIR`` (any folder of high-resolution images; another name is refused, as are a missing
folder and one without images, before any run trains), and always ``builtin``: the held-out region of each built-in photo (the runs train on the other
part). Evaluation protocol: :mod:`qagen.methods.msssim.super_resolution` (Y of MATLAB ``rgb2ycbcr``,
bicubic ``imresize`` down and up, 8-bit outputs, 4 px border shaved, PSNR on 0-255, SSIM of
``ssim_index.m``). The poster prints "SET4"; we read it as Set14.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

#: (column, run name, recipe)
_MODELS = (("MSE", "sr-mse", "sr-mse"), ("MAE", "sr-mae", "sr-mae"),
           ("MS-SSIM", "sr-msssim", "sr-msssim"))  # fmt: skip

#: The poster's table: set -> (PSNR per column, SSIM per column), columns Bicubic, MSE, MAE, MS-SSIM.
_PAPER = {
    "Set5": ((28.44, 30.52, 29.57, 30.35), (0.8097, 0.8621, 0.8350, 0.8681)),
    "Set14": ((26.01, 27.53, 26.82, 27.47), (0.7018, 0.7512, 0.7310, 0.7610)),
    "BSD200": ((25.92, 26.87, 26.47, 26.84), (0.6952, 0.7378, 0.7220, 0.7484)),
}

_BUDGET = {
    "smoke": {"max_steps": 30, "max_minutes": None, "expected_s": 20.0, "builtin_side": 96},
    "cpu": {"max_steps": None, "max_minutes": 7.0, "expected_s": 420.0, "builtin_side": 256},
    "paper": {"max_steps": 200_000, "max_minutes": None, "expected_s": 6 * 3600.0,
              "builtin_side": 512},
}  # fmt: skip

_SMOKE = ("train.batch_size=8", "train.sample_every=15", "train.checkpoint_every=30",
          "train.log_every=5", "train.progress=false")  # fmt: skip


#: ``--eval-data`` name -> the row label of its test set
_SETS = {"set5": "Set5", "set14": "Set14", "bsd200": "BSD200"}


@register_experiment("msssim-sr")
class MSSSIMSuperResolution(Experiment):
    paper = (
        "Snell, Ridgeway, Liao, Roads, Mozer, Zemel, Learning to generate images with perceptual "
        "similarity metrics (ICIP 2017; the MS-SSIM loss poster)"
    )
    table = "4x super-resolution with SRCNN: PSNR / SSIM on the Y channel"
    description = (
        "SRCNN (9-5-5, 64/32/1 filters) trained on native-resolution 48 px patches with the "
        "mean squared error, the mean absolute error or -MS-SSIM (3 scales on a 48 px patch), "
        "Adam, identity initialisation (training starts at the bicubic result); 4x, Y channel. "
        "Bicubic is MATLAB imresize. Higher is better in every cell."
    )
    columns = ("Bicubic", "MSE", "MAE", "MS-SSIM")
    eval_data_names = {
        k: f"a folder of the {label} high-resolution test images" for k, label in _SETS.items()
    }
    column_notes = {
        "Bicubic": "MATLAB bicubic imresize of the low-resolution Y (no training)",
        "MSE": "SRCNN trained with the mean squared error (sr-mse)",
        "MAE": "SRCNN trained with the mean absolute error (sr-mae)",
        "MS-SSIM": "SRCNN trained with -MS-SSIM (sr-msssim)",
    }

    def protocol(self, ctx: ExperimentContext) -> dict[str, Any]:
        from qagen.methods.msssim.super_resolution import SR_PROTOCOL

        b = _BUDGET[ctx.budget]
        return {
            "training_data": ctx.data or "patches:builtin (the built-in photos' train region)",
            "presets": "sr-*" if ctx.budget == "paper" else "sr-*-demo (CPU-sized)",
            "training": f"{b['max_steps']} steps per run" if b["max_steps"]
            else f"{b['max_minutes']} minutes per run on this machine",
            "test_sets": {**{k: v for k, v in ctx.eval_data.items()},
                          "builtin": f"held-out region of each built-in photo, at most "
                          f"{b['builtin_side']} px a side"},
            **SR_PROTOCOL,
            "weights": "the raw weights of the last checkpoint (the presets keep no EMA)",
        }  # fmt: skip

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        b = _BUDGET[ctx.budget]
        if ctx.budget == "paper" and not ctx.data:
            raise InputError(
                "--budget paper needs --data patches:DIR (a folder of training images, the poster: "
                "an ImageNet subset) and --eval-data set5=DIR set14=DIR bsd200=DIR for the test sets"
            )
        specs = []
        for _col, name, recipe in _MODELS:
            preset = recipe if ctx.budget == "paper" else f"{recipe}-demo"
            specs.append(RunSpec(
                name=name, recipe=recipe, preset=preset, data=ctx.data or "patches:builtin",
                overrides=_SMOKE if ctx.budget == "smoke" else (),
                max_steps=b["max_steps"], max_minutes=b["max_minutes"],
                expected_seconds=b["expected_s"],
            ))  # fmt: skip
        return specs

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        out = []
        for name, (psnr, ssim) in _PAPER.items():
            note = "the poster prints 'SET4'" if name == "Set14" else ""
            out.append(Row(f"{name} PSNR", paper=dict(zip(self.columns, psnr, strict=True)),
                           runs=[m[1] for m in _MODELS], note=note))  # fmt: skip
            out.append(Row(f"{name} SSIM", paper=dict(zip(self.columns, ssim, strict=True)),
                           runs=[m[1] for m in _MODELS], note=note))  # fmt: skip
        for label in ("builtin",):  # the built-in set, always evaluated
            for what in ("PSNR", "SSIM"):
                out.append(Row(f"{label} {what}", paper={c: None for c in self.columns},
                               runs=[m[1] for m in _MODELS]))  # fmt: skip
        return out

    def check_eval_data(self, ctx: ExperimentContext) -> None:
        """The names and folders of ``--eval-data``, and each folder's test images (the
        ``*_HR`` / ``SRF_4`` choice of :func:`sr_test_files`), before any run trains."""
        from qagen.methods.msssim.data_sr import sr_test_files

        super().check_eval_data(ctx)
        for key, path in ctx.eval_data.items():
            try:
                sr_test_files(path, 4)
            except FileNotFoundError as err:
                raise InputError(f"--eval-data {key}={path}: {err}") from None

    # -- evaluation
    def _networks(self, ctx: ExperimentContext) -> tuple[dict[str, Any], dict[str, str]]:
        from qagen.methods.msssim.super_resolution import load_sr_network

        nets, missing = {}, {}
        for col, name, _recipe in _MODELS:
            status = ctx.status.get(name, "finished")
            if status != "finished":
                missing[col] = status
                continue
            nets[col], _ = load_sr_network(ctx.run_dir(name), device=ctx.device)
        return nets, missing

    def _test_sets(self, ctx: ExperimentContext) -> dict[str, Any]:
        from qagen.methods.msssim.data_sr import builtin_sr_test_set, load_sr_test_set

        sets: dict[str, Any] = {}
        for key, path in ctx.eval_data.items():
            sets[_SETS[key]] = load_sr_test_set(path, 4)
        sets["builtin"] = builtin_sr_test_set(4, max_side=_BUDGET[ctx.budget]["builtin_side"])
        return sets

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        from qagen.methods.msssim.super_resolution import evaluate_sr

        nets, missing = self._networks(ctx)
        sets = self._test_sets(ctx)
        by_label = {r.label: r for r in rows}
        record: dict[str, Any] = {}
        for label, images in sets.items():
            res = evaluate_sr(images, nets, scale=4)
            record[label] = {"psnr": res.psnr, "ssim": res.ssim, "per_image": res.per_image}
            for what, values in (("PSNR", res.psnr), ("SSIM", res.ssim)):
                row = by_label[f"{label} {what}"]
                # rows are the test sets: a column compares one network across them, each
                # scored on all images of the row's set (Y channel, 4 px border shaved)
                proto = {
                    "generator": "raw",
                    "n": "every image of the row's test set",
                    "reference_split": "the row's test set",
                }
                row.ours = {c: Cell(values[c], n=len(images), protocol=proto) if c in values
                            else Cell(None, reason=missing.get(c, "not evaluated"))
                            for c in self.columns}  # fmt: skip
                row.note = "; ".join(p for p in (row.note, f"{len(images)} images") if p)
        for row in rows:
            if not row.ours:
                name = row.label.split()[0]
                reason = (f"no {name} folder given (--eval-data {name.lower()}=DIR: a folder of "
                          "high-resolution images)")  # fmt: skip
                row.ours = {c: Cell(None, reason=reason) for c in self.columns}
        write_json_atomic(ctx.out / "sr_eval.json", record)
        self._crops(ctx, nets, sets)
        return rows

    # -- the figure of crops
    def _crops(self, ctx: ExperimentContext, nets: dict[str, Any], sets: dict[str, Any]) -> None:
        from qagen.methods.msssim.report import crop_figure

        label = next((k for k in ("Set5", "Set14", "BSD200") if k in sets), "builtin")
        images = sets[label]
        pick = next((im for im in images if im.name in ("butterfly", "astronaut")), images[0])
        png = crop_figure(pick, nets, scale=4, title=f"{label}: {pick.name}")
        (ctx.out / "crops.png").write_bytes(png)

    def report_sections(self, ctx: ExperimentContext, rows: list[Row]) -> list[Any]:
        from qagen.report import Figure, Section

        path = Path(ctx.out) / "crops.png"
        if not path.is_file():
            return []
        return [Section("Crops", [Figure(path, "The same region of one test image: HR, bicubic "
                        "and the three SRCNNs (Y channel, 8-bit; each with its PSNR / SSIM on "
                        "the whole image; higher is better)")])]  # fmt: skip
