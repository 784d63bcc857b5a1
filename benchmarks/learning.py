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

    python benchmarks/learning.py --minutes 10 --jobs 2
    python benchmarks/learning.py --minutes 1 --recipes wgan-gp,began-m12   # a quick look
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


def _train_cmd(name: str, out: Path, minutes: float) -> list[str]:
    recipe, preset, overrides = RECIPES[name]
    cmd = [str(ROOT / ".venv/bin/qagen"), "train", recipe, "--preset", preset, *DATA,
           "--out", str(out), "--max-minutes", str(minutes), "--no-report"]  # fmt: skip
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def _train_all(names: list[str], out: Path, minutes: float, jobs: int) -> None:
    cmds = {n: _train_cmd(n, out / n, minutes) for n in names}
    train_all(cmds, out, jobs, "learning_trained.json", minutes=minutes)


def _evaluate(name: str, run: Path, n: int, figures: Path) -> dict:
    import torch

    from qagen.eval.run import evaluate_run
    from qagen.eval.sampling import sample_command
    from qagen.train import restore_run

    torch.set_num_threads(2)
    res = {"recipe": name, **json.loads((run / "learning_trained.json").read_text())}
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
    figures.mkdir(parents=True, exist_ok=True)
    path, _ = sample_command(run, out=figures / f"learning-{name}.png", n=64, raw=True)
    res["grid"] = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return res


def _markdown(rows: list[dict], minutes: float, n: int) -> str:
    lines = [
        f"# Learning benchmark: {minutes} min per recipe on Fashion-MNIST (32 px)", "",
        f"fd_fmnist of the raw generator, {n} generated vs {n} test images; bar: trained <= "
        f"{BAR:.0%} of untrained.", "",
        "| recipe | steps | fd untrained | fd trained | ratio | passes | fd trained (EMA) | grid |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        ema = f"{r['fd_last_ema']:.2f}" if "fd_last_ema" in r else "-"
        lines.append(f"| {r['recipe']} | {r['steps']} | {r['fd_init']:.2f} | {r['fd_last']:.2f} | "
                     f"{r['ratio']:.3f} | {'yes' if r['passes'] else 'no'} | {ema} | {r['grid']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n-samples", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "runs" / "learning"))
    ap.add_argument("--figures", default=str(ROOT / "docs" / "figures"))
    args = ap.parse_args(argv)
    names = [s.strip() for s in args.recipes.split(",") if s.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe {unknown[0]!r}; available: {', '.join(RECIPES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _train_all(names, out, args.minutes, args.jobs)
    rows = []
    for n in names:
        if json.loads((out / n / "learning_trained.json").read_text())["rc"] != 0:
            print(f"{n}: training failed, see {out / n}.log", file=sys.stderr)
            continue
        rows.append(_evaluate(n, out / n, args.n_samples, Path(args.figures)))
        print(json.dumps(rows[-1]), file=sys.stderr)
    (out / "learning.json").write_text(json.dumps(rows, indent=2))
    (out / "learning.md").write_text(_markdown(rows, args.minutes, args.n_samples))
    print(_markdown(rows, args.minutes, args.n_samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
