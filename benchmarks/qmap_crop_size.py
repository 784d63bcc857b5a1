"""Can ``qmap-unet`` learn to rank images? The crop size at equal minutes, and the learning curve
(issue 22, part 2 and 3).

**Crop sizes** (default mode): for every crop S of ``--sizes`` (32, 64, 128) and seed of
``--seeds`` (0, 1, 2) it trains, as a user would::

    qagen train qmap-unet --data builtin --preset demo --max-minutes M --max-steps 100000000 \\
        --set data.resolution=S --set train.seed=K --no-report

(``--max-steps`` lifts the demo preset's 600 steps: the minutes are the budget), then evaluates
the last checkpoint on the held-out photographs (``evaluate_qmap_run``): the validation MAE
against the constant-map baseline (their ratio; target <= 0.8), the SROCC of the pooled map
against the true SSIM (target >= 0.8) and the pristine-vs-level-1 separation (mean predicted
score of the pristine crops minus that of the JPEG and JPEG 2000 level-1 crops; the true SSIM's
difference beside it). Every run is evaluated on **the same images**, centre crops of
``--eval-crop`` px (default 128, the demo preset's crop), and also on centre crops of its own
training size (what ``qagen eval RUN`` reports). ``OUT/crop_size.md`` and ``.json``: one row per
run and the mean +- sample std (n - 1, as the tables of qagen reproduce) over the seeds per size.

**Learning curve** (``--curve``): one run per seed of ``--curve-minutes`` (60) at crop
``--curve-crop`` (128), keeping a checkpoint every ``--curve-every`` minutes (``keep_last=0``:
all of them); each checkpoint is evaluated as above (on the common ``--eval-crop`` and on the
training crop), at its training time (the checkpoint's ``elapsed``). ``OUT/curve.md``, ``.json``
and ``.png`` (SROCC and MAE ratio against minutes, mean +- std over the seeds, the 0.8 targets
drawn, where the mean first meets each).

Runs go to ``OUT/runs/NAME`` (default ``OUT = runs/qmap-crop-size``) with their logs beside them;
a finished run (``NAME/crop_size_trained.json``) is reused, its evaluations are cached in
``OUT/evaluations.json``. ``--jobs 2`` trains two runs at a time; every run gets
``--threads`` intra-op threads (default 1), so equal minutes mean equal compute. The photographs
of ``builtin`` are those of this machine (11, or 30 with Debian's opencv-doc: ``qagen photos``);
the tables say which.

    python benchmarks/qmap_crop_size.py --minutes 10 --jobs 2              # 3 sizes x 3 seeds
    python benchmarks/qmap_crop_size.py --curve --curve-minutes 60 --jobs 2   # 3 seeds
    python benchmarks/qmap_crop_size.py --minutes 1 --sizes 32 --seeds 0   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: the values of an evaluation kept in the tables (key in the record -> column)
COLUMNS = {
    "mae": "valid MAE",
    "train_mae": "train MAE",
    "mae_constant_baseline": "constant baseline",
    "mae_ratio_to_baseline": "MAE / baseline",
    "srocc_vs_ssim": "SROCC vs SSIM",
    "plcc_vs_ssim": "PLCC vs SSIM",
    "separation_pristine_vs_level1": "pristine - level 1 (pred.)",
    "separation_pristine_vs_level1_true": "pristine - level 1 (true)",
}
TARGETS = {"mae_ratio_to_baseline": 0.8, "srocc_vs_ssim": 0.8}


def train_command(out: Path, crop: int, seed: int, minutes: float, extra: list[str]) -> list[str]:
    """The ``qagen train`` command line of one run."""
    cmd = [sys.executable, "-m", "qagen.cli", "train", "qmap-unet", "--data", "builtin",
           "--preset", "demo", "--out", str(out), "--max-minutes", f"{minutes:g}",
           "--max-steps", "100000000", "--set", f"data.resolution={crop}",
           "--set", f"train.seed={seed}", "--set", "train.progress=false", "--no-report"]  # fmt: skip
    for o in extra:
        cmd += ["--set", o]
    return cmd


def train_all(jobs: list[tuple[str, list[str]]], runs: Path, n_parallel: int, threads: int) -> None:
    """Run the ``(name, command)`` pairs whose run is not finished, ``n_parallel`` at a time."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    todo = [(n, c) for n, c in jobs if not (runs / n / "crop_size_trained.json").is_file()]
    running: list[tuple[str, subprocess.Popen, float, Any]] = []
    while todo or running:
        while todo and len(running) < n_parallel:
            name, cmd = todo.pop(0)
            (runs / name).mkdir(parents=True, exist_ok=True)
            log = (runs / f"{name}.log").open("w")
            print(f"training {name}: {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, cwd=ROOT)
            running.append((name, proc, time.monotonic(), log))
        time.sleep(1)
        for item in list(running):
            name, proc, t0, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            if proc.returncode != 0:
                print(f"{name}: qagen train exited {proc.returncode}; see {runs / name}.log",
                      file=sys.stderr)  # fmt: skip
                continue
            rec = {"wall_s": round(time.monotonic() - t0, 1), "parallel": n_parallel,
                   "threads": threads, "command": cmd[2:]}  # fmt: skip
            (runs / name / "crop_size_trained.json").write_text(json.dumps(rec, indent=1))


def evaluate(run: Path, checkpoint: Any, crop: int | None, cache: dict, cache_path: Path) -> dict:
    """The values of :data:`COLUMNS` (and steps, epochs, training minutes) of one checkpoint
    evaluated on centre crops of ``crop`` px (``None``: the run's own), cached by file."""
    from qagen.methods.qmap.evaluation import evaluate_qmap_run
    from qagen.train.checkpoint import load_checkpoint
    from qagen.train.restore import resolve_run_checkpoint

    path = resolve_run_checkpoint(run, checkpoint)
    key = f"{path}|{path.stat().st_mtime_ns}|{crop}"
    if key not in cache:
        rec = evaluate_qmap_run(run, path, write=False, crop=crop)
        p = rec["protocol"]
        out = {k: rec.get(k) for k in COLUMNS}
        out.update(step=p["checkpoint_step"], epochs=p["epochs"], crop=p["crop"],
                   training_crop=p["training_crop"], valid_images=rec["n_images"],
                   photographs=p["photographs"],
                   minutes=float(load_checkpoint(path).get("elapsed", float("nan"))) / 60.0,
                   mean_predicted=rec.get("mean_predicted"))  # fmt: skip
        cache[key] = out
        cache_path.write_text(json.dumps(cache, indent=1))
    return dict(cache[key])


def mean_std(values: list[float | None]) -> tuple[float | None, float | None, int]:
    """Mean and sample standard deviation (n - 1; None for one value) of the finite values, and
    their number."""
    vals = [float(v) for v in values if v is not None and v == v]
    if not vals:
        return None, None, 0
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, len(vals)


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if v is None or v != v else f"{v:.{digits}f}"


def _pm(values: list[float | None], digits: int = 3) -> str:
    m, s, n = mean_std(values)
    if m is None:
        return "-"
    return f"{m:.{digits}f} (n=1)" if s is None else f"{m:.{digits}f} ± {s:.{digits}f} (n={n})"


def crop_size_tables(rows: list[dict], minutes: float, eval_crop: int) -> str:
    """The markdown of the crop-size measurement."""
    lines = [f"# qmap-unet: crop size at equal minutes ({minutes:g} min per run)", "",
             f"Data: {rows[0]['common']['photographs'] if rows else '-'}.", "",
             f"## Every run on the same images: centre crops of {eval_crop} px", "",
             "| crop | seeds | steps | epochs | " + " | ".join(COLUMNS.values()) + " |",
             "|---" * (4 + len(COLUMNS)) + "|"]  # fmt: skip
    for eval_key, title in (("common", None), ("own", "Each run on its own crop size "
                                               "(what `qagen eval RUN` reports)")):  # fmt: skip
        if title:
            lines += ["", f"## {title}", "",
                      "| crop | seeds | steps | epochs | " + " | ".join(COLUMNS.values()) + " |",
                      "|---" * (4 + len(COLUMNS)) + "|"]  # fmt: skip
        for crop in sorted({r["size"] for r in rows}):
            sel = [r[eval_key] for r in rows if r["size"] == crop]
            cells = [_pm([s.get(k) for s in sel]) for k in COLUMNS]
            lines.append(f"| {crop} | {len(sel)} | {_pm([s['step'] for s in sel], 0)} | "
                         f"{_pm([s['epochs'] for s in sel], 1)} | " + " | ".join(cells) + " |")  # fmt: skip
    lines += ["", "## Per run", "", "| crop | seed | steps | training min | eval crop | "
              + " | ".join(COLUMNS.values()) + " |", "|---" * (5 + len(COLUMNS)) + "|"]  # fmt: skip
    for r in sorted(rows, key=lambda r: (r["size"], r["seed"])):
        for ev in ("common", "own"):
            s = r[ev]
            lines.append(f"| {r['size']} | {r['seed']} | {s['step']} | {_fmt(s['minutes'], 2)} | "
                         f"{s['crop']} | " + " | ".join(_fmt(s.get(k)) for k in COLUMNS) + " |")  # fmt: skip
    lines += ["", f"Targets: MAE / baseline <= {TARGETS['mae_ratio_to_baseline']}, SROCC >= "
              f"{TARGETS['srocc_vs_ssim']}. Mean ± sample std (n - 1) over the seeds."]  # fmt: skip
    return "\n".join(lines) + "\n"


def curve_rows(points: list[dict]) -> list[dict]:
    """Checkpoint ``k`` of every seed grouped per evaluation crop (time-triggered checkpoints:
    nearly equal times)."""
    by_k: dict[tuple[int, int], list[dict]] = {}
    for p in points:
        by_k.setdefault((p["crop"], p["k"]), []).append(p)
    out = []
    for crop, k in sorted(by_k):
        ps = by_k[crop, k]
        row = {"crop": crop, "k": k, "n": len(ps),
               "minutes": mean_std([p["minutes"] for p in ps])[0],
               "step": mean_std([p["step"] for p in ps])[0]}  # fmt: skip
        for key in COLUMNS:
            m, sd, _ = mean_std([p.get(key) for p in ps])
            row[key], row[key + "_std"] = m, sd
        out.append(row)
    return out


def curve_figure(rows: list[dict], points: list[dict], path: Path, crop: int) -> None:
    """SROCC and MAE ratio against training minutes: every seed (thin) and the mean +- std
    (thick) per evaluation crop (solid: the common crop, dashed: the training crop)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    crops = sorted({p["crop"] for p in points}, reverse=True)
    colours = {c: col for c, col in zip(crops, ("black", "tab:blue", "tab:green"), strict=False)}
    for ax, key, label in ((axes[0], "srocc_vs_ssim", "SROCC of the pooled map vs SSIM"),
                           (axes[1], "mae_ratio_to_baseline", "validation MAE / constant baseline")):  # fmt: skip
        for ec in crops:
            style = "-" if ec == max(crops) else "--"
            for seed in sorted({p["seed"] for p in points}):
                pts = sorted((p["minutes"], p[key]) for p in points
                             if p["seed"] == seed and p["crop"] == ec and p[key] is not None)  # fmt: skip
                if pts:
                    ax.plot(*zip(*pts, strict=True), lw=0.6, alpha=0.35, ls=style,
                            color=colours[ec])  # fmt: skip
            sel = [r for r in rows if r["crop"] == ec and r[key] is not None]
            if sel:
                ax.errorbar([r["minutes"] for r in sel], [r[key] for r in sel],
                            yerr=[r[key + "_std"] or 0.0 for r in sel], color=colours[ec], ls=style,
                            lw=1.6, capsize=3, marker="o", ms=3,
                            label=f"eval on {ec} px crops: mean ± std")  # fmt: skip
        ax.axhline(TARGETS[key], color="tab:red", ls=":", lw=1.2, label=f"target {TARGETS[key]}")
        ax.set_xlabel("training minutes (one CPU thread)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_title("higher is better", fontsize=9)
    axes[1].set_title("lower is better", fontsize=9)
    n_seeds = len({p["seed"] for p in points})
    fig.suptitle(f"qmap-unet, demo preset, trained on {crop} px crops ({n_seeds} seeds; thin lines "
                 "per seed): held-out photographs, centre crops", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def crossing(rows: list[dict], key: str, crop: int) -> str:
    """The first checkpoint where the mean over the seeds (evaluated on ``crop`` px) meets the
    target, and whether it stays met after it; or that none does."""
    sel = [r for r in rows if r["crop"] == crop and r[key] is not None]

    def ok(v: float) -> bool:
        return v >= TARGETS[key] if key == "srocc_vs_ssim" else v <= TARGETS[key]

    for i, r in enumerate(sel):
        if ok(r[key]):
            after = "" if all(ok(q[key]) for q in sel[i:]) else " (not at every later checkpoint)"
            return f"met at {r['minutes']:.1f} min (checkpoint {r['k']}){after}"
    best = max(sel, key=lambda r: r[key] if key == "srocc_vs_ssim" else -r[key], default=None)
    return "not met at any checkpoint" + (
        f" (best {best[key]:.3f} at {best['minutes']:.1f} min)" if best else ""
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="32,64,128", help="training crops (px), comma list")
    ap.add_argument("--seeds", default="0,1,2", help="training seeds, comma list")
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes per crop-size run")
    ap.add_argument("--eval-crop", type=int, default=128, help="common evaluation crop (px)")
    ap.add_argument("--curve", action="store_true", help="the learning curve instead")
    ap.add_argument("--curve-minutes", type=float, default=60.0)
    ap.add_argument("--curve-every", type=float, default=5.0, help="minutes between checkpoints")
    ap.add_argument("--curve-crop", type=int, default=128, help="training crop of the curve runs")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at a time")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per run")
    ap.add_argument("--out", default=str(ROOT / "runs" / "qmap-crop-size"))
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    out = Path(args.out)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    cache_path = out / "evaluations.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    import torch

    torch.set_num_threads(max(1, args.threads))
    if args.curve:
        keep = ["train.keep_last=0", "train.checkpoint_every=0",
                f"train.checkpoint_every_minutes={args.curve_every:g}"]  # fmt: skip
        jobs = [(f"curve{args.curve_crop}-seed{k}",
                 train_command(runs / f"curve{args.curve_crop}-seed{k}", args.curve_crop, k,
                               args.curve_minutes, keep)) for k in seeds]  # fmt: skip
        train_all(jobs, runs, args.jobs, args.threads)
        from qagen.report.runfiles import list_checkpoints

        points = []
        for k in seeds:
            run = runs / f"curve{args.curve_crop}-seed{k}"
            if not (run / "crop_size_trained.json").is_file():
                continue
            for i, (_step, path) in enumerate(list_checkpoints(run / "checkpoints")):
                for ec in dict.fromkeys((args.eval_crop, args.curve_crop)):  # common, own
                    ev = evaluate(run, path, ec, cache, cache_path)
                    points.append({"seed": k, "k": i, **ev})
                    print(json.dumps({"seed": k, "k": i, "crop": ec,
                                      **{c: ev[c] for c in TARGETS}}), file=sys.stderr)  # fmt: skip
        rows = curve_rows(points)
        (out / "curve.json").write_text(json.dumps({"rows": rows, "points": points}, indent=1))
        curve_figure(rows, points, out / "curve.png", args.curve_crop)
        lines = [f"# qmap-unet learning curve: {args.curve_crop} px crops, {len(seeds)} seeds, "
                 f"checkpoints every {args.curve_every:g} min up to {args.curve_minutes:g}", "",
                 f"Data: {points[0]['photographs'] if points else '-'}. Every checkpoint "
                 f"evaluated on centre crops of the held-out photographs, of {args.eval_crop} px "
                 f"(the common evaluation crop) and of {args.curve_crop} px (the training crop). "
                 "Figure: curve.png. Mean ± sample std (n - 1) over the seeds.", "",
                 "| eval crop | checkpoint | seeds | minutes | steps | "
                 + " | ".join(COLUMNS.values()) + " |",
                 "|---" * (5 + len(COLUMNS)) + "|"]  # fmt: skip
        for r in rows:
            lines.append(f"| {r['crop']} | {r['k']} | {r['n']} | {_fmt(r['minutes'], 1)} | "
                         f"{_fmt(r['step'], 0)} | " + " | ".join(
                f"{_fmt(r[c])} ± {_fmt(r[c + '_std'])}" for c in COLUMNS) + " |")  # fmt: skip
        lines.append("")
        for ec in dict.fromkeys((args.eval_crop, args.curve_crop)):
            lines.append(f"- evaluated on {ec} px: SROCC >= 0.8 "
                         f"{crossing(rows, 'srocc_vs_ssim', ec)}; MAE / baseline <= 0.8 "
                         f"{crossing(rows, 'mae_ratio_to_baseline', ec)} (mean over the seeds).")  # fmt: skip
        text = "\n".join(lines) + "\n"
        (out / "curve.md").write_text(text)
        print(text)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    jobs = [(f"crop{s}-seed{k}", train_command(runs / f"crop{s}-seed{k}", s, k, args.minutes, []))
            for s in sizes for k in seeds]  # fmt: skip
    train_all(jobs, runs, args.jobs, args.threads)
    rows = []
    for s in sizes:
        for k in seeds:
            run = runs / f"crop{s}-seed{k}"
            if not (run / "crop_size_trained.json").is_file():
                continue
            common = evaluate(run, "last", args.eval_crop, cache, cache_path)
            own = common if s == args.eval_crop else evaluate(run, "last", None, cache, cache_path)
            rows.append({"size": s, "seed": k, "common": common, "own": own,
                         **json.loads((run / "crop_size_trained.json").read_text())})  # fmt: skip
            print(json.dumps({"size": s, "seed": k, **{c: common[c] for c in COLUMNS}}),
                  file=sys.stderr)  # fmt: skip
    (out / "crop_size.json").write_text(json.dumps(rows, indent=1))
    text = crop_size_tables(rows, args.minutes, args.eval_crop)
    (out / "crop_size.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
