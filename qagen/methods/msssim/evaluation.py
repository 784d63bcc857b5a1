"""``qagen eval`` of the MS-SSIM loss family's runs, with the metrics that mean something for them.

Their sample grids are pictures, not generated images (``sr-*``: strips ``[bicubic | SRCNN |
HR]``; ``autoencoder``: ``[original | reconstruction]``), so the generic evaluation (SWD, FID,
NIQE of generated images) does not apply. Instead:

* ``sr-*``: PSNR and SSIM on the Y channel of whole test images, beside bicubic upscaling
  (:func:`qagen.methods.msssim.super_resolution.evaluate_sr`, the protocol of the run report and
  of ``qagen reproduce msssim-sr``). Test images: ``--real FOLDER`` (high-resolution images,
  ``*_HR`` files picked as in Set5 / Set14 / BSD), else the held-out region of every built-in
  photo. Record ``sr`` in ``eval.json``.
* ``autoencoder``: the reconstruction PSNR and MS-SSIM of held-out images
  (:func:`qagen.methods.msssim.reconstruction.reconstruction_scores`, as the ``msssim-ae``
  table); the run's data (or ``--real SPEC``) in ``--reference-split`` (default ``test`` when the
  data has one, else the training split). Record ``reconstruction`` in ``eval.json``.

``--n-samples`` caps the number of test images (a seeded choice for the autoencoder, the first
ones for SR); a set that holds fewer is scored whole and the output says so (never a silent
cap). ``--metrics`` other than ``all`` and the family's own names are refused with a one-line
message naming the run and what to use instead. ``--generator ema`` scores the EMA copy (an
error for a run that keeps none); records of the EMA copy are keyed ``<name>@ema``.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from qagen.errors import InputError

__all__ = [
    "AE_METRICS",
    "SR_METRICS",
    "autoencoder_eval_command",
    "evaluate_autoencoder_run",
    "evaluate_sr_run",
    "sr_eval_command",
]

#: What ``qagen eval`` computes for each family (``--metrics`` may name these, or ``all``).
SR_METRICS = ("psnr", "ssim")
AE_METRICS = ("psnr", "ms_ssim")


def _check_metrics(options: Any, run_dir: str | Path, recipe: str, own: tuple[str, ...]) -> None:
    from qagen.eval.options import split_names

    asked = [str(m).lower() for m in split_names(options.metrics)]
    foreign = [m for m in asked if m != "all" and m not in own]
    if foreign:
        what = "super-resolution" if recipe.startswith("sr-") else "reconstruction"
        raise InputError(
            f"--metrics {','.join(foreign)}: run {run_dir} ({recipe}) is evaluated with its "
            f"{what} {' and '.join(m.upper().replace('_', '-') for m in own)} (--metrics all, or "
            f"{','.join(own)}); generated-image metrics do not apply to its samples"
        )


def _restored(run_dir: str | Path, options: Any, kind: type, what: str) -> tuple[Any, Any]:
    """``(network in eval mode, RestoredRun)``: the raw weights, or the EMA copy with
    ``--generator ema`` (an error for a run without one)."""
    from qagen.train import restore_run

    restored = restore_run(run_dir, options.checkpoint, device=options.device)
    if not isinstance(restored.recipe, kind):
        raise InputError(f"{run_dir} is a {restored.run.recipe!r} run, not {what}")
    if options.generator == "ema" and not restored.has_ema:
        raise InputError(
            f"run {run_dir}: the checkpoint holds no EMA of the network "
            f"(train.ema_decay = {restored.run.train.ema_decay}); use --generator raw"
        )
    net = restored.recipe.network(restored.ema if options.generator == "ema" else None)
    net.eval()
    return net, restored


def _count_note(used: int, held: int, asked: int, what: str, source: str) -> str:
    """``"all 11 test images of SOURCE (--n-samples 1000 asks for more)"`` or ``"50 of the 1224
    images of SOURCE (--n-samples 50)"``: how many were scored, and why."""
    if asked >= held:
        extra = (
            f" (--n-samples {asked} asks for more: the set holds {held})" if asked > held else ""
        )
        return f"all {held} {what} of {source}{extra}"
    return f"{used} of the {held} {what} of {source} (--n-samples {asked})"


def _protocol(run_dir: str | Path, restored: Any, options: Any) -> dict[str, Any]:
    from qagen._version import __version__

    return {
        "run_dir": str(run_dir),
        "recipe": restored.run.recipe,
        "checkpoint": str(options.checkpoint),
        "checkpoint_file": restored.checkpoint.name,
        "checkpoint_step": restored.step,
        "generator": options.generator,
        "n_requested": int(options.n_samples),
        "evaluated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "qagen": __version__,
    }


def _write(run_dir: str | Path, key: str, record: dict) -> Path:
    from qagen.eval.generation import write_eval_json

    path = Path(run_dir) / "eval.json"
    try:
        old = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        old = {}
    return write_eval_json({**(old if isinstance(old, dict) else {}), key: record}, path)


def _record_key(name: str, options: Any) -> str:
    from qagen.eval.run import record_key

    return record_key(name, options.generator)


# ----------------------------------------------------------------------------- super-resolution


def evaluate_sr_run(run_dir: str | Path, options: Any, *, write: bool = True) -> dict:
    """PSNR / SSIM on Y of an ``sr-*`` run and of bicubic upscaling (module docstring);
    returns the ``sr`` record (written to ``RUN_DIR/eval.json`` unless ``write=False``)."""
    from qagen.methods.msssim.data_sr import builtin_sr_test_set, load_sr_test_set
    from qagen.methods.msssim.recipe_sr import SRRecipe
    from qagen.methods.msssim.super_resolution import evaluate_sr

    net, restored = _restored(run_dir, options, SRRecipe, "a super-resolution run (sr-*)")
    _check_metrics(options, run_dir, restored.run.recipe, SR_METRICS)
    if options.reference_split is not None:
        raise InputError(
            f"--reference-split: run {run_dir} ({restored.run.recipe}) is scored on whole test "
            "images (--real FOLDER of high-resolution images, default the built-in held-out "
            "photos), which have no splits"
        )
    scale = restored.recipe.cfg.scale
    real = options.real
    if real is None or str(real) == "builtin":
        images, source = builtin_sr_test_set(scale), "the built-in photos' held-out regions"
    else:
        images, source = load_sr_test_set(real, scale), str(real)
    held = len(images)
    images = images[: max(1, int(options.n_samples))]
    res = evaluate_sr(images, {"SRCNN": net}, scale=scale)
    return_record = {
        "metric": "sr",
        "psnr": res.psnr,
        "ssim": res.ssim,
        "n": len(images),
        "per_image": res.per_image,
        "protocol": {
            **res.protocol,
            **_protocol(run_dir, restored, options),
            "test_set": source,
            "test_set_size": held,
            "selection": "the first n_samples images of the set",
        },  # fmt: skip
    }
    if write:
        _write(run_dir, _record_key("sr", options), return_record)
    return return_record


def sr_eval_command(run_dir: str | Path, options: Any, stream: TextIO | None = None) -> int:
    """``qagen eval RUN`` of an ``sr-*`` run."""
    stream = stream if stream is not None else sys.stdout
    rec = evaluate_sr_run(run_dir, options)
    p = rec["protocol"]
    note = _count_note(rec["n"], p["test_set_size"], p["n_requested"], "test images",
                       p["test_set"])  # fmt: skip
    stream.write(
        f"{p['recipe']} step {p['checkpoint_step']} ({p['generator']} weights), {p['scale']}x "
        f"super-resolution of {note}; Y channel, {p['border_px']} px border shaved; higher is "
        "better\n"
    )
    for name in rec["psnr"]:
        stream.write(f"{name:8s} PSNR {rec['psnr'][name]:.3f} dB  SSIM {rec['ssim'][name]:.4f}\n")
    stream.write(f"wrote {Path(run_dir) / 'eval.json'} (section '{_record_key('sr', options)}')\n")
    return 0


# ----------------------------------------------------------------------------- autoencoder


def evaluate_autoencoder_run(run_dir: str | Path, options: Any, *, write: bool = True) -> dict:
    """Reconstruction PSNR / MS-SSIM of an ``autoencoder`` run on held-out images (module
    docstring); returns the ``reconstruction`` record (written to ``RUN_DIR/eval.json`` unless
    ``write=False``)."""
    import dataclasses

    from qagen.methods.msssim.recipe_autoencoder import Autoencoder
    from qagen.methods.msssim.reconstruction import (
        held_out_dataset,
        held_out_images,
        reconstruction_scores,
    )

    net, restored = _restored(run_dir, options, Autoencoder, "an autoencoder run")
    _check_metrics(options, run_dir, restored.run.recipe, AE_METRICS)
    data = restored.run.data
    if options.real is not None:
        data = dataclasses.replace(data, spec=str(options.real))
    ds, split = held_out_dataset(data, options.reference_split)
    held = len(ds)
    x, _ = held_out_images(data, int(options.n_samples), seed=options.seed, split=split)
    scores, _ = reconstruction_scores(net, x)
    record = {
        "metric": "reconstruction",
        **scores,
        "protocol": {
            **_protocol(run_dir, restored, options),
            "data": data.spec, "split": split, "split_size": held,
            "resolution": data.resolution, "selection_seed": int(options.seed),
            "images": "grey (BT.601 luma) on [0, 1], a seeded choice without replacement",
            "psnr": "10 log10(1 / MSE) per image on [0, 1], mean over the images (dB)",
            "ms_ssim": f"MS-SSIM, {scores['ms_ssim_scales']} scale(s) (the training loss's at "
            "this size), mean over the images",
        },
    }  # fmt: skip
    if write:
        _write(run_dir, _record_key("reconstruction", options), record)
    return record


def autoencoder_eval_command(
    run_dir: str | Path, options: Any, stream: TextIO | None = None
) -> int:
    """``qagen eval RUN`` of an ``autoencoder`` run."""
    stream = stream if stream is not None else sys.stdout
    rec = evaluate_autoencoder_run(run_dir, options)
    p = rec["protocol"]
    note = _count_note(rec["n"], p["split_size"], p["n_requested"], "images",
                       f"{p['data']} [{p['split']}]")  # fmt: skip
    stream.write(
        f"{p['recipe']} step {p['checkpoint_step']} ({p['generator']} weights): reconstructions "
        f"of {note}; higher is better\n"
    )
    stream.write(f"PSNR    {rec['psnr']:.3f} dB +- {rec['psnr_std']:.3f}\n")
    stream.write(
        f"MS-SSIM {rec['ms_ssim']:.4f} +- {rec['ms_ssim_std']:.4f} ({rec['ms_ssim_scales']} scales)\n"
    )
    key = _record_key("reconstruction", options)
    stream.write(f"wrote {Path(run_dir) / 'eval.json'} (section '{key}')\n")
    return 0
