"""Section of the ``nr-iqa`` runs: the ``nr_iqa`` record of ``eval.json`` (SROCC and PLCC per
distortion type on the test split) and the predicted against the subjective scores."""

from __future__ import annotations

from typing import Any

from qagen.report import Figure, KeyValues, Paragraph, Section, Table, figure_png, new_figure
from qagen.report.run import RunReportData

__all__ = ["nr_iqa_section"]


def _scatter(images: list[dict], kind: str) -> bytes:
    fig, ax = new_figure(figsize=(5.2, 4.4))
    types = list(dict.fromkeys(r["type"] for r in images))
    for t in types:
        pts = [(r["score"], r["predicted"]) for r in images if r["type"] == t]
        xs, ys = zip(*pts, strict=True)
        ax.scatter(xs, ys, s=12, label=t, alpha=0.8)
    ax.set_xlabel(f"subjective score ({kind})")
    ax.set_ylabel("predicted score")
    ax.set_title(
        "Test images: prediction against the score (a monotonic cloud is best)", fontsize=9
    )
    if len(types) <= 12:
        ax.legend(fontsize=7)
    return figure_png(fig)


def nr_iqa_section(run: RunReportData) -> list[Section]:
    """SROCC / PLCC per type of the test split, with the scatter of the predictions."""
    rec = (run.evaluation or {}).get("nr_iqa")
    if not isinstance(rec, dict):
        return [Section("Evaluation", [Paragraph(
            "No evaluation yet: run `qagen eval RUN_DIR` (SROCC and PLCC per distortion type on "
            "the test split of the content-disjoint split), then `qagen report RUN_DIR`."
        )], id="evaluation")]  # fmt: skip
    p = rec.get("protocol", {})
    types = list(rec.get("srocc", {}))
    table = Table(["criterion", *types],
                  [["SROCC", *[rec["srocc"].get(t) for t in types]],
                   ["PLCC", *[rec["plcc"].get(t) for t in types]],
                   ["images", *[rec["n"].get(t) for t in types]]],
                  caption=f"Test split ({p.get('test_images')} images of "
                  f"{len(p.get('test_contents', []))} contents never seen in training): "
                  "correlation with the subjective score, higher is better",
                  notes=["PLCC after the 5-parameter logistic fitted per column."])  # fmt: skip
    blocks: list[Any] = [table]
    if rec.get("images"):
        blocks.append(Figure(_scatter(rec["images"], str(p.get("score", "?"))),
                             "Predicted against subjective scores of the test images"))  # fmt: skip
    blocks.append(KeyValues([(k, v) for k, v in p.items()], caption="protocol"))
    return [Section("Evaluation", blocks, id="evaluation")]
