"""Two methods side by side over seeds, under one evaluation protocol (issue 23).

Each group is ``LABEL=RUN_DIR,RUN_DIR,...`` (one run per seed). Every run is evaluated by the
ordinary evaluation (``qagen eval``: ``n`` samples of the last checkpoint against the run's
held-out images) on the raw generator and, when every run keeps one, on its EMA copy; the
table gives mean ± std over the seeds, the steps reached, and Welch's t-test of the first group
against the second per metric (:mod:`qagen.experiments.claims`).

    python benchmarks/side_by_side.py --metrics swd,niqe \\
        "QAGAN-SSIM=runs/q-s0,runs/q-s1,runs/q-s2" "WGAN-GP=runs/w-s0,runs/w-s1,runs/w-s2"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _value(rec: dict) -> float:
    return float(rec["average"] if "average" in rec else rec["value"])


def main(argv: list[str] | None = None) -> int:
    from qagen.eval.run import evaluate_run
    from qagen.experiments.base import Cell, Claim, Row, mean_std
    from qagen.experiments.claims import verdict, verdict_line
    from qagen.train import restore_run

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("groups", nargs=2, metavar="LABEL=RUN,RUN,...")
    ap.add_argument("--metrics", default="swd,niqe")
    ap.add_argument("--n-samples", type=int, default=1000)
    ap.add_argument("--json", default=None, help="write the records here")
    args = ap.parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    groups = {}
    for g in args.groups:
        label, _, runs = g.partition("=")
        groups[label] = [Path(r) for r in runs.split(",") if r]
    all_ema = all(restore_run(r).has_ema for runs in groups.values() for r in runs)
    gens = ["raw", "ema"] if all_ema else ["raw"]
    out: dict = {"n_samples": args.n_samples, "generators": gens, "groups": {}}
    rows = {}
    for label, runs in groups.items():
        cells: dict[str, list[Cell]] = {}
        steps = []
        for run in runs:
            steps.append(restore_run(run).step)
            for gen in gens:
                res = evaluate_run(run, metrics=",".join(metrics), n_samples=args.n_samples,
                                   generator=gen, progress=False)  # fmt: skip
                for m in metrics:
                    cells.setdefault(f"{m} ({gen})", []).append(Cell(_value(res[m])))
        rows[label] = Row(label=label, ours={k: mean_std(v) for k, v in cells.items()})
        out["groups"][label] = {"runs": [str(r) for r in runs], "steps": steps,
                                **{k: list(c.values) for k, c in rows[label].ours.items()}}  # fmt: skip
    a, b = list(groups)
    print(f"| column | {a} | {b} | Welch p |")
    print("|---|---|---|---|")
    out["tests"] = []
    for col in rows[a].ours:
        v = verdict(Claim(f"{a} below {b}", col, a, b), list(rows.values()))
        out["tests"].append(v)
        ca, cb = rows[a].ours[col], rows[b].ours[col]
        p = "-" if v["p_value"] is None else f"{v['p_value']:.3g}"
        print(
            f"| {col} | {ca.value:.4g} ± {ca.std or 0:.3g} | {cb.value:.4g} ± {cb.std or 0:.3g} | {p} |"
        )
        print(verdict_line(v), file=sys.stderr)
    steps = ", ".join(f"{k} {v['steps']}" for k, v in out["groups"].items())
    print(f"steps: {steps}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
