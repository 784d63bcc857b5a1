"""The page of ``make demo``: the IQA metrics demo (``qagen.demo``: a photograph under four
distortions, every metric's score and quality maps) followed by the report of the demo training
run, all through the one report renderer.

Command line (the Makefile's ``demo`` target)::

    python -m qagen.demo_page runs/demo --run runs/demo/train --evaluate swd,niqe,glcm \
        --eval-n 64 --title "qagen demo ..."

``--evaluate`` runs ``qagen eval`` on the run first, in the same process (the demo is timed:
one process imports torch, builds the recipe and the dataset once).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qagen.eval.options import EvalOptions
from qagen.report import Cell, Figure, Gallery, Paragraph, Section, Table

__all__ = ["iqa_demo_sections", "main", "write_demo_page"]

_DISTORTIONS = ("jpeg", "blur", "noise", "contrast")
_MAP_METRICS = ("ssim", "gmsd", "fsim", "mdsi", "chroma")


def _direction(metric: str) -> bool | None:
    try:
        from qagen.iqa import get

        return bool(get(metric).higher_is_better)
    except Exception:  # an unknown or unavailable metric: no arrow
        return None


def iqa_demo_sections(demo_dir: str | Path) -> list[Section]:
    """The IQA part of the demo page from the files ``qagen.demo`` writes into ``demo_dir``
    (``reference.png``, ``<distortion>.png``, ``scores.csv``, ``map_<metric>_<distortion>.png``);
    empty when ``scores.csv`` is missing."""
    d = Path(demo_dir)
    if not (d / "scores.csv").is_file():
        return []
    with open(d / "scores.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    metrics = rows[0][1:]
    arrows = {m: _direction(m) for m in metrics}
    header = ["distortion"] + [
        f"{m} {'↑' if arrows[m] else '↓' if arrows[m] is False else ''}".strip() for m in metrics
    ]
    body = [[Cell(r[0], strong=True)] + [float(v) for v in r[1:]] for r in rows[1:]]
    blocks: list[Any] = [
        Paragraph(
            "A photograph (scikit-image's *astronaut*, NASA, public domain) under four "
            "distortions, scored by every metric of `qagen metrics` on its 8-bit values "
            "(`data_range=255`), with each metric's own conventions (grey or colour, "
            "downsampling) as in its authors' MATLAB code."
        )
    ]
    pics = [("reference", "reference (undistorted)")] + [
        (n, f"{n}") for n in _DISTORTIONS if (d / f"{n}.png").is_file()
    ]
    if (d / "reference.png").is_file():
        blocks.append(
            Gallery(
                [Figure(d / f"{n}.png", cap, width=208) for n, cap in pics],
                caption="The reference and its distortions: JPEG quality 10, Gaussian blur "
                "(radius 2), Gaussian noise (sigma 12 of 255), contrast halved.",
            )
        )
    blocks.append(
        Table(
            header,
            body,
            caption="Scores of each distortion against the reference (↑: higher is better, "
            "a similarity; ↓: lower is better, a distortion or distance; NIQE is "
            "no-reference).",
            digits=4,
        )
    )
    sections = [Section("IQA metrics on a photograph", blocks, id="iqa")]
    maps = []
    for m in _MAP_METRICS:
        figs = [
            Figure(d / f"map_{m}_{n}.png", n, alt=f"{m} map of {n}", width=260)
            for n in _DISTORTIONS
            if (d / f"map_{m}_{n}.png").is_file()
        ]
        if figs:
            better = {True: "bright = similar to the reference", False: "bright = distorted"}
            hint = better.get(arrows.get(m), "see the colour bar")
            maps.append(Section(f"{m}", [Gallery(figs, caption=f"{m} maps ({hint}).")]))
    if maps:
        sections.append(
            Section(
                "Quality maps of the distortions",
                [Paragraph("Where each metric sees the damage, one map per distortion.")] + maps,
                id="iqa-maps",
            )
        )
    return sections


def write_demo_page(
    demo_dir: str | Path,
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    title: str | None = None,
    device: str = "cpu",
) -> Path:
    """Write the demo page (default ``demo_dir/report.html``): the IQA sections of
    :func:`iqa_demo_sections` followed by the report of the training run ``run_dir``
    (:func:`qagen.report.run.write_report`)."""
    from qagen.report.run import write_report

    d = Path(demo_dir)
    return write_report(
        run_dir,
        out=out if out is not None else d / "report.html",
        title=title or "qagen demo",
        extra_sections=iqa_demo_sections(d),
        device=device,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the page of make demo")
    p.add_argument("demo_dir", help="folder written by python -m qagen.demo (scores.csv, maps)")
    p.add_argument("--run", required=True, help="the demo training run directory")
    p.add_argument("--out", default=None, help="default DEMO_DIR/report.html")
    p.add_argument("--title", default=None)
    p.add_argument("--evaluate", default=None, metavar="METRICS",
                   help="evaluate the run first (qagen eval --metrics METRICS)")  # fmt: skip
    p.add_argument("--eval-n", type=int, default=64, help="images per set for --evaluate")
    args = p.parse_args(argv)
    if args.evaluate:
        from qagen.eval.run import eval_command

        eval_command(args.run, EvalOptions(metrics=args.evaluate, n_samples=args.eval_n))
    path = write_demo_page(args.demo_dir, args.run, out=args.out, title=args.title)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
