"""A tiny experiment for the launcher tests: BEGAN runs of a few steps on the built-in photos at
32 px, 8 channels. The jobs' processes import this module too (``PYTHONPATH``), so the final
evaluation job of ``--launcher submitit`` can unpickle the experiment."""

from __future__ import annotations

import csv
from pathlib import Path

from qagen.experiments.base import Cell, Experiment, ExperimentContext, Row, RunSpec

TINY = (
    "channels=8", "z_dim=16", "h_dim=16", "train.batch_size=8", "train.sample_every=0",
    "train.checkpoint_every=0", "train.n_samples=16", "train.progress=false",
    "data.num_workers=0", "data.resolution=32", "train.log_every=1",
)  # fmt: skip

PROTOCOL = {"generator": "raw", "n": 1, "reference_split": "train"}


def weight_sum(run_dir: Path) -> float:
    """The float64 sum of every network tensor of the run's newest checkpoint: any difference
    in training changes it."""
    import torch

    from qagen.train import load_checkpoint
    from qagen.train.checkpoint import latest_checkpoint

    state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))
    return float(sum(t.to(torch.float64).sum() for m in state["modules"].values()
                     for t in m.values() if t.is_floating_point()))  # fmt: skip


class Tiny(Experiment):
    """``n_runs`` BEGAN runs of ``steps`` steps; cells: the last logged ``loss_d`` and the
    weight sum of the final checkpoint."""

    name = "launch-toy"
    paper = "none: a test of qagen.experiments.launch"
    table = "tiny BEGAN runs"
    columns = ("loss_d", "weights")
    n_runs = 2
    steps = 3
    data = "builtin"

    def runs(self, ctx: ExperimentContext) -> list[RunSpec]:
        return [RunSpec(f"m{i}", "began", preset="began-m01-demo", data=self.data,
                        overrides=TINY + (f"train.seed={i}",), max_steps=self.steps,
                        expected_seconds=2.0) for i in range(self.n_runs)]  # fmt: skip

    def rows(self, ctx: ExperimentContext) -> list[Row]:
        return [Row(label=s.name, paper=dict.fromkeys(self.columns), runs=[s.name])
                for s in self.runs(ctx)]  # fmt: skip

    def evaluate(self, ctx: ExperimentContext, rows: list[Row]) -> list[Row]:
        for row in rows:
            status = ctx.status.get(row.label, "not trained")
            if status != "finished":
                row.ours = {c: Cell(None, reason=status) for c in self.columns}
                continue
            run_dir = ctx.run_dir(row.label)
            with (run_dir / "metrics.csv").open(newline="") as fh:
                last = list(csv.DictReader(fh))[-1]
            row.ours = {"loss_d": Cell(float(last["loss_d"]), protocol=PROTOCOL),
                        "weights": Cell(weight_sum(run_dir), protocol=PROTOCOL)}  # fmt: skip
        return rows


class Long(Tiny):
    """One run, long enough to be signalled mid-run."""

    name = "launch-toy-long"
    n_runs = 1
    steps = 40


class Broken(Tiny):
    """One run whose data source does not exist: its job fails at once."""

    name = "launch-toy-broken"
    n_runs = 1
    data = "nosuchsource"
