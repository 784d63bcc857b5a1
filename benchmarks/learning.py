"""Does every generative recipe learn? Each trains for ``--minutes`` on Fashion-MNIST (32 px, the
data set's train split) and must reach an ``fd_fmnist`` of at most 25 % of its untrained
generator's (issue 17, part 4), with a sample grid in which a person recognises garments.

A benchmark, not a test: it takes ``minutes x recipes / jobs`` of wall time. Runs go to
``--out`` (default ``runs/learning``); a finished run is reused on a second call. ``--jobs 2``
trains two recipes at a time, one intra-op thread each, so the two always share the machine the
same way (the minutes are wall-clock minutes of the trainer, as ``qagen train --max-minutes``).

Per recipe: the steps reached, ``fd_fmnist`` of the untrained generator (``--checkpoint init``:
the trainer's own initialisation with the run's seed) and of the last checkpoint, both on the raw
generator, ``n`` generated images against ``n`` test images; their ratio; and a grid of 64 raw
samples in ``--figures`` (``learning-<recipe>.png``). The table is ``OUT/learning.md`` and
``OUT/learning.json``.

**Seeds** (``--seeds 0,1,2``): each recipe trains once per seed (``train.seed``); seed 0's run
is ``OUT/<recipe>``, seed s's ``OUT/<recipe>-s<s>``. The table gives each recipe's mean and
standard deviation (over seeds, ``ddof=1``) of the steps and the ratio, every seed's ratio, and
how many seeds meet the bar; the grid in ``--figures`` is seed 0's (the other seeds' grids are in
their run folders).

**Along a run** (``--every M``, issue 17: does a recipe that misses the bar at 10 minutes reach
it later, or has it stopped improving?): the runs keep a checkpoint every ``M`` minutes
(``keep_last=0``: all of them) and ``fd_fmnist`` is measured at each, against the untrained
generator's; ``OUT/curve.md``, ``.json`` and ``.png`` (ratio against training minutes, the bar
drawn) and, per recipe, the first checkpoint at or below the bar.

    python benchmarks/learning.py --minutes 10 --jobs 2
    python benchmarks/learning.py --minutes 10 --jobs 2 --seeds 0,1,2   # mean +- std of 3 seeds
    python benchmarks/learning.py --minutes 1 --recipes wgan-gp,began-m12   # a quick look
    python benchmarks/learning.py --minutes 30 --every 5 --recipes wgan-gp,began-m12 \
        --out runs/learning-curve
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _jobs import train_all

ROOT = Path(__file__).resolve().parents[1]

#: name: (recipe, preset, overrides): every generative recipe of the issue, CPU-sized presets.
RECIPES = {
    "wgan-gp": ("wgan-gp", "wgan-gp-demo", ()),
    "bwgan": ("bwgan", "bwgan-demo", ()),
    "qagan-ssim": ("qagan-ssim", "qagan-ssim-demo", ()),
    "qagan-niqe": ("qagan-niqe", "qagan-niqe-demo", ()),
    "began-m07": ("began", "began-m07-demo", ()),
    "began-m12": ("began", "began-m12-demo", ()),
    "qmf-bl": ("qmf", "qmf-bl-demo", ()),
    "qmf-full": ("qmf", "qmf-full-demo", ()),
}
DATA = ("--data", "fashion-mnist", "--set", "data.resolution=32", "--set", "data.split=train")
BAR = 0.25


def run_name(name: str, seed: int) -> str:
    """The run folder of ``name`` with ``seed`` (seed 0: the recipe's name, as before seeds)."""
    return name if seed == 0 else f"{name}-s{seed}"


def _train_cmd(
    name: str, out: Path, minutes: float, every: float = 0.0, seed: int = 0
) -> list[str]:
    recipe, preset, overrides = RECIPES[name]
    if seed:
        overrides = (*overrides, f"train.seed={seed}")
    if every > 0:  # every checkpoint kept, one every `every` minutes
        overrides = (*overrides, "train.keep_last=0", "train.checkpoint_every=0",
                     f"train.checkpoint_every_minutes={every:g}")  # fmt: skip
    cmd = [str(ROOT / ".venv/bin/qagen"), "train", recipe, "--preset", preset, *DATA,
           "--out", str(out), "--max-minutes", str(minutes), "--no-report"]  # fmt: skip
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def _train_all(
    names: list[str], out: Path, minutes: float, jobs: int, every: float = 0.0,
    seeds: tuple[int, ...] = (0,),
) -> None:  # fmt: skip
    cmds = {run_name(n, s): _train_cmd(n, out / run_name(n, s), minutes, every, s)
            for s in seeds for n in names}  # fmt: skip
    train_all(cmds, out, jobs, "learning_trained.json", minutes=minutes, every=every)


def _curve(name: str, run: Path, n: int) -> list[dict]:
    """``fd_fmnist`` of the raw generator at every checkpoint of ``run`` (and of the untrained
    one, minute 0), with the checkpoint's training minutes and the ratio to the untrained."""
    import torch

    from qagen.eval.run import evaluate_run
    from qagen.report.runfiles import list_checkpoints
    from qagen.train.checkpoint import load_checkpoint

    torch.set_num_threads(2)

    def fd(which: str) -> float:
        return evaluate_run(run, metrics="fd_fmnist", n_samples=n, checkpoint=which,
                            progress=False, write=False)["fd_fmnist"]["value"]  # fmt: skip

    init = fd("init")
    points = [{"recipe": name, "step": 0, "minutes": 0.0, "fd": init, "ratio": 1.0}]
    for step, path in list_checkpoints(run / "checkpoints"):
        value = fd(str(path))
        minutes = float(load_checkpoint(path).get("elapsed", float("nan"))) / 60.0
        points.append({"recipe": name, "step": step, "minutes": minutes, "fd": value,
                       "ratio": value / init})  # fmt: skip
        print(json.dumps(points[-1]), file=sys.stderr)
    return points


def _curve_report(points: list[dict], out: Path, minutes: float, every: float, n: int) -> str:
    """``OUT/curve.md``, ``.json``, ``.png``; returns the markdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(p["recipe"] for p in points))
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    lines = [f"# fd_fmnist along the run: {minutes:g} min per recipe, a checkpoint every "
             f"{every:g} min (Fashion-MNIST, 32 px)", "",
             f"Raw generator, {n} generated vs {n} test images; ratio = fd / fd of the untrained "
             f"generator; bar: ratio <= {BAR}.", "",
             "| recipe | minutes | steps | fd_fmnist | ratio |", "|---|---|---|---|---|"]  # fmt: skip
    verdicts = []
    for name in names:
        ps = [p for p in points if p["recipe"] == name]
        ax.plot([p["minutes"] for p in ps], [p["ratio"] for p in ps], marker="o", ms=3,
                label=name)  # fmt: skip
        lines += [f"| {name} | {p['minutes']:.1f} | {p['step']} | {p['fd']:.1f} | "
                  f"{p['ratio']:.3f} |" for p in ps]  # fmt: skip
        hit = next((p for p in ps if p["ratio"] <= BAR), None)
        verdicts.append(f"- {name}: " + (f"at or below the bar from {hit['minutes']:.1f} min "
                        f"(step {hit['step']}, ratio {hit['ratio']:.3f})" if hit else
                        f"not at the bar by {ps[-1]['minutes']:.1f} min (last ratio "
                        f"{ps[-1]['ratio']:.3f}, best {min(p['ratio'] for p in ps):.3f})"))  # fmt: skip
    ax.axhline(BAR, color="tab:red", ls=":", label=f"bar {BAR}")
    ax.axvline(10, color="grey", ls="--", lw=0.8, label="10 min")
    ax.set_xlabel("training minutes (one CPU thread)")
    ax.set_ylabel("fd_fmnist / untrained generator's")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curve.png")
    plt.close(fig)
    text = "\n".join([*lines, "", *verdicts]) + "\n"
    (out / "curve.json").write_text(json.dumps(points, indent=1))
    (out / "curve.md").write_text(text)
    return text


def _evaluate(name: str, run: Path, n: int, figures: Path, seed: int = 0) -> dict:
    import torch

    from qagen.eval.run import evaluate_run
    from qagen.eval.sampling import sample_command
    from qagen.train import restore_run

    torch.set_num_threads(2)
    res = {"recipe": name, "seed": seed, "run": run.name,
           **json.loads((run / "learning_trained.json").read_text())}  # fmt: skip
    last = restore_run(run)
    res["steps"] = last.step
    for which in ("init", "last"):
        rec = evaluate_run(run, metrics="fd_fmnist", n_samples=n, checkpoint=which,
                           progress=False, write=False)["fd_fmnist"]  # fmt: skip
        res[f"fd_{which}"] = rec["value"]
    if last.has_ema:
        rec = evaluate_run(run, metrics="fd_fmnist", n_samples=n, generator="ema",
                           progress=False, write=False)["fd_fmnist"]  # fmt: skip
        res["fd_last_ema"] = rec["value"]
    res["ratio"] = res["fd_last"] / res["fd_init"]
    res["passes"] = res["ratio"] <= BAR
    grid = figures / f"learning-{name}.png" if seed == 0 else run / "samples" / "learning-grid.png"
    grid.parent.mkdir(parents=True, exist_ok=True)
    path, _ = sample_command(run, out=grid, n=64, raw=True)
    res["grid"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return res


def _mean_std(values: list[float]) -> tuple[float, float]:
    import statistics

    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else float("nan"))


def _markdown(rows: list[dict], minutes: float, n: int) -> str:
    lines = [
        f"# Learning benchmark: {minutes} min per recipe on Fashion-MNIST (32 px)", "",
        f"fd_fmnist of the raw generator, {n} generated vs {n} test images; bar: trained <= "
        f"{BAR:.0%} of untrained. Means +- std over seeds (ddof 1).", "",
        "| recipe | seeds | steps | fd untrained | fd trained | ratio | ratio per seed "
        "| seeds at the bar | fd trained (EMA) | grid (seed 0) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name in dict.fromkeys(r["recipe"] for r in rows):
        rs = sorted((r for r in rows if r["recipe"] == name), key=lambda r: r.get("seed", 0))

        def ms(key: str, fmt: str, rs: list[dict] = rs) -> str:
            vals = [r[key] for r in rs if key in r]
            if not vals:
                return "-"
            m, sd = _mean_std(vals)
            return f"{m:{fmt}}" + ("" if len(vals) == 1 else f" +- {sd:{fmt}}")

        per_seed = ", ".join(f"{r['ratio']:.3f}" for r in rs)
        at_bar = sum(bool(r["passes"]) for r in rs)
        grid = next((r["grid"] for r in rs if r.get("seed", 0) == 0), rs[0]["grid"])
        lines.append(f"| {name} | {','.join(str(r.get('seed', 0)) for r in rs)} | {ms('steps', '.0f')} "
                     f"| {ms('fd_init', '.1f')} | {ms('fd_last', '.1f')} | {ms('ratio', '.3f')} "
                     f"| {per_seed} | {at_bar} of {len(rs)} | {ms('fd_last_ema', '.1f')} | {grid} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n-samples", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "runs" / "learning"))
    ap.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    ap.add_argument("--every", type=float, default=0.0, metavar="M",
                    help="keep a checkpoint every M minutes and measure fd_fmnist at each "
                    "(the curve along the run; default 0: the last checkpoint only)")  # fmt: skip
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (train.seed), e.g. 0,1,2")
    args = ap.parse_args(argv)
    try:
        seeds = tuple(int(v) for v in args.seeds.split(",") if v.strip())
    except ValueError:
        ap.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not seeds or min(seeds) < 0:
        ap.error(f"--seeds must name at least one seed >= 0, got {args.seeds!r}")
    names = [s.strip() for s in args.recipes.split(",") if s.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe {unknown[0]!r}; available: {', '.join(RECIPES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _train_all(names, out, args.minutes, args.jobs, args.every, seeds)
    if args.every > 0:
        points = []
        for n in names:
            for seed in seeds:
                run = out / run_name(n, seed)
                if json.loads((run / "learning_trained.json").read_text())["rc"] == 0:
                    points += _curve(run.name, run, args.n_samples)
        print(_curve_report(points, out, args.minutes, args.every, args.n_samples))
        return 0
    rows = []
    for n in names:
        for seed in seeds:
            run = out / run_name(n, seed)
            if json.loads((run / "learning_trained.json").read_text())["rc"] != 0:
                print(f"{run.name}: training failed, see {run}.log", file=sys.stderr)
                continue
            rows.append(_evaluate(n, run, args.n_samples, Path(args.figures), seed))
        print(json.dumps(rows[-1]), file=sys.stderr)
    (out / "learning.json").write_text(json.dumps(rows, indent=2))
    (out / "learning.md").write_text(_markdown(rows, args.minutes, args.n_samples))
    print(_markdown(rows, args.minutes, args.n_samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
