"""``qagen study score``: what people answered, per model and against the IQA metrics.

* **Rank distribution** (the poster's histogram): for every model, how many times it was ranked
  1st, 2nd, 3rd, ... and its mean rank (lower is better).
* **Metrics against people**: each metric (MSE, MAE, SSIM, MS-SSIM, FSIM, GMSD) ranks the
  reconstructions of a trial by their score against the original (8-bit PNGs, grey, data
  range 255; MS-SSIM with the largest number of scales that fits the image). Reported per
  metric, over all answered trials: ``same order`` (the metric's whole ranking equals the
  person's), ``same best`` (the metric's best is the person's 1st) and ``pairs`` (the share of
  pairs of reconstructions that the metric orders as the person did; 50 % is chance).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from qagen.errors import InputError

__all__ = [
    "METRICS", "AnswerFile", "StudyScores", "metric_rankings", "participants", "read_answer_files",
    "read_answers", "score_study",
]  # fmt: skip

#: name -> (qagen registry name or None for the pixel errors, higher is better)
METRICS = {
    "MSE": (None, False),
    "MAE": (None, False),
    "SSIM": ("ssim", True),
    "MS-SSIM": ("ms_ssim", True),
    "FSIM": ("fsim", True),
    "GMSD": ("gmsd", False),
}


@dataclass
class StudyScores:
    """Rank counts per model, mean ranks, and per-metric agreement with people (%)."""

    models: list[str]
    counts: dict[str, list[int]]
    mean_rank: dict[str, float]
    n_rankings: int
    agreement: dict[str, dict[str, float]] = field(default_factory=dict)
    participants: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": self.models, "counts": self.counts, "mean_rank": self.mean_rank,
            "n_rankings": self.n_rankings, "agreement": self.agreement,
            "participants": self.participants, "files": self.files,
            "duplicates": self.duplicates,
        }  # fmt: skip


def _load_json(path: Path, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable {what} (JSON): {exc}") from exc


def read_answers(study: dict, path: str | Path) -> list[dict]:
    """The answered trials of one ``answers.json``, checked against the study: same study id,
    known trials, the same display order, a full ranking that is a permutation of the models.
    Unanswered trials (incomplete rankings) are left out."""
    return _answered_trials(study, _load_json(Path(path), "answers file"), path)


def _answered_trials(study: dict, ans: dict, path: str | Path) -> list[dict]:
    from qagen.study.make import ANSWERS_FORMAT

    if ans.get("format") != ANSWERS_FORMAT:
        raise InputError(f"{path}: not a qagen answers file (format {ans.get('format')!r})")
    if ans.get("study_id") != study["study_id"]:
        raise InputError(
            f"{path} answers study {ans.get('study_id')!r}, but this folder holds study "
            f"{study['study_id']!r}"
        )
    trials = {t["trial"]: t for t in study["trials"]}
    keys = sorted(m["key"] for m in study["models"])
    out = []
    for t in ans.get("trials", []):
        ref = trials.get(t.get("trial"))
        if ref is None:
            raise InputError(f"{path}: trial {t.get('trial')!r} is not in the study")
        if t.get("order") != ref["order"]:
            raise InputError(f"{path}: trial {t['trial']} shows another order than the study's")
        ranking = t.get("ranking") or []
        if not ranking:
            continue
        if sorted(ranking) != keys:
            raise InputError(
                f"{path}: trial {t['trial']} ranking {ranking} is not a ranking of {keys}"
            )
        out.append({"trial": t["trial"], "ranking": list(ranking),
                    "participant": ans.get("participant", "")})  # fmt: skip
    return out


@dataclass
class AnswerFile:
    """The answered trials of one ``answers.json`` and who gave them."""

    path: Path
    participant: str
    started: str | None
    rankings: list[dict]

    @property
    def answers(self) -> tuple:
        """The rankings by trial: what two copies of one file share."""
        return tuple(sorted((r["trial"], tuple(r["ranking"])) for r in self.rankings))


def read_answer_files(
    study: dict, paths: Sequence[str | Path]
) -> tuple[list[AnswerFile], list[tuple[Path, Path]]]:
    """The answers files of ``paths`` without their duplicates, and the duplicates as
    ``(duplicate, the file it repeats)``.

    A duplicate has the same participant, the same start time (when recorded) and the same
    rankings as a file before it: a copy, or the page's answers downloaded twice
    (``answers (1).json``). Two files of one session (same participant and start time) with
    different rankings are an error: which one the person meant is not known."""
    kept: list[AnswerFile] = []
    duplicates: list[tuple[Path, Path]] = []
    for path in paths:
        ans = _load_json(Path(path), "answers file")
        f = AnswerFile(Path(path), str(ans.get("participant") or ""), ans.get("started"),
                       _answered_trials(study, ans, path))  # fmt: skip
        for k in kept:
            if (k.participant, k.started) != (f.participant, f.started):
                continue
            if k.answers == f.answers:
                duplicates.append((f.path, k.path))
                break
            if f.started is not None:
                raise InputError(
                    f"{k.path} and {f.path} are two downloads of one session (participant "
                    f"{f.participant!r}, started {f.started}) with different rankings: give "
                    "only the one to score"
                )
        else:
            kept.append(f)
    return kept, duplicates


def participants(files: Sequence[AnswerFile]) -> list[str]:
    """One entry per participant: each name once, and each anonymous file as
    ``"(anonymous: FILE)"`` (anonymous files cannot be told to be the same person)."""
    names = sorted({f.participant for f in files if f.participant})
    return names + [f"(anonymous: {f.path.name})" for f in files if not f.participant]


def _read_png(path: Path) -> torch.Tensor:
    from qagen.io import read_image_file

    f = read_image_file(path, mode="L")
    return f.values * (255.0 / f.white)


def metric_rankings(study_dir: Path, trial: dict, keys: Sequence[str]) -> dict[str, list[str]]:
    """Per metric of :data:`METRICS`: the model keys of one study trial, best first."""
    from qagen.iqa.registry import get
    from qagen.methods.msssim.recipe_autoencoder import auto_msssim_scales

    ref = _read_png(study_dir / trial["files"]["original"]).double()
    recs = {k: _read_png(study_dir / trial["files"][k]).double() for k in keys}
    out = {}
    for name, (reg, higher) in METRICS.items():
        scores = {}
        for k, x in recs.items():
            if name == "MSE":
                v = float(((x - ref) ** 2).mean())
            elif name == "MAE":
                v = float((x - ref).abs().mean())
            else:
                kw = {}
                if reg == "ms_ssim":
                    kw["scales"] = max(1, auto_msssim_scales(min(ref.shape[-2:])))
                v = float(get(reg).fn(x, ref, data_range=255.0, **kw))
            scores[k] = v
        out[name] = sorted(keys, key=lambda k: scores[k], reverse=higher)
    return out


def score_study(
    study_dir: str | Path, answer_files: Sequence[str | Path], *, plot: str | Path | None = None
) -> StudyScores:
    """Score ``answers*.json`` of the study in ``study_dir`` (module docstring); ``plot``: where
    to write the rank histogram (PNG; default ``study_dir/rank_histogram.png``)."""
    study_dir = Path(study_dir)
    study_file = study_dir / "study.json"
    if not study_file.is_file():
        raise FileNotFoundError(f"{study_file} not found: is {study_dir} a qagen study folder?")
    study = _load_json(study_file, "study file")
    if not answer_files:
        raise InputError("give at least one answers file (answers.json from the study page)")
    models = [m["key"] for m in study["models"]]
    names = {m["key"]: m["name"] for m in study["models"]}
    files, duplicates = read_answer_files(study, answer_files)
    rankings = [r for f in files for r in f.rankings]
    if not rankings:
        raise InputError("the answers files hold no complete ranking")
    m = len(models)
    counts = {names[k]: [0] * m for k in models}
    for r in rankings:
        for pos, k in enumerate(r["ranking"]):
            counts[names[k]][pos] += 1
    mean_rank = {n: sum((i + 1) * c for i, c in enumerate(cs)) / len(rankings)
                 for n, cs in counts.items()}  # fmt: skip
    trials = {t["trial"]: t for t in study["trials"]}
    cache: dict[int, dict[str, list[str]]] = {}
    agree = {name: {"same order": 0.0, "same best": 0.0, "pairs": 0.0} for name in METRICS}
    n_pairs = m * (m - 1) // 2
    for r in rankings:
        t = r["trial"]
        if t not in cache:
            cache[t] = metric_rankings(study_dir, trials[t], models)
        person = r["ranking"]
        for name, order in cache[t].items():
            a = agree[name]
            a["same order"] += order == person
            a["same best"] += order[0] == person[0]
            a["pairs"] += (
                sum(
                    (order.index(p) < order.index(q)) == (person.index(p) < person.index(q))
                    for p, q in itertools.combinations(models, 2)
                )
                / n_pairs
            )
    for a in agree.values():
        for k in a:
            a[k] = 100.0 * a[k] / len(rankings)
    scores = StudyScores(
        models=[names[k] for k in models], counts=counts, mean_rank=mean_rank,
        n_rankings=len(rankings), agreement=agree,
        participants=participants(files), files=[str(f.path) for f in files],
        duplicates=[[str(d), str(o)] for d, o in duplicates],
    )  # fmt: skip
    _plot(scores, Path(plot) if plot else study_dir / "rank_histogram.png")
    return scores


def rank_figure(scores: StudyScores) -> Any:
    """The rank histogram (the poster's figure): per rank, one bar per model; the legend
    (models and mean ranks) beside the axes, where it covers no bar."""
    from qagen.report import new_figure

    m = len(scores.models)
    fig, ax = new_figure(figsize=(1.6 + 1.3 * m, 3.2))
    width = 0.8 / m
    for i, name in enumerate(scores.models):
        xs = [r + (i - (m - 1) / 2) * width for r in range(m)]
        ax.bar(
            xs, scores.counts[name], width, label=f"{name} (mean rank {scores.mean_rank[name]:.2f})"
        )
    ax.set_xticks(range(m))
    ax.set_xticklabels([f"ranked {r + 1}" for r in range(m)])
    ax.set_ylabel("number of rankings")
    ax.set_title(f"Rank distribution over {scores.n_rankings} rankings (1 = most similar to the "
                 "original; better is more often 1st)", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


def _plot(scores: StudyScores, path: Path) -> None:
    from qagen.report import figure_png

    path.write_bytes(figure_png(rank_figure(scores)))


def format_scores(scores: StudyScores) -> str:
    """The two tables ``qagen study score`` prints."""
    m = len(scores.models)
    n, k = len(scores.participants), len(scores.files)
    lines = [
        f"{scores.n_rankings} rankings from {n} participant{'s' * (n != 1)} "
        f"({k} answers file{'s' * (k != 1)})"
    ]
    for dup, orig in scores.duplicates:
        lines.append(f"left out {dup}: a duplicate of {orig} (same participant and answers)")
    lines += ["",
             "model".ljust(10) + "".join(f"rank {r + 1}".rjust(9) for r in range(m)) + "  mean rank (lower is better)"]  # fmt: skip
    for name in scores.models:
        lines.append(name.ljust(10) + "".join(f"{c:9d}" for c in scores.counts[name])
                     + f"  {scores.mean_rank[name]:.3f}")  # fmt: skip
    lines += ["", "metric agreement with people, % of rankings (pairs: % of pairs; chance 50)",
              "metric".ljust(10) + "same order".rjust(12) + "same best".rjust(11) + "pairs".rjust(9)]  # fmt: skip
    for name, a in scores.agreement.items():
        lines.append(
            name.ljust(10) + f"{a['same order']:12.1f}{a['same best']:11.1f}{a['pairs']:9.1f}"
        )
    return "\n".join(lines)
