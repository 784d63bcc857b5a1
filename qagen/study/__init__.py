"""The ranking study of the MS-SSIM loss poster: ``qagen study make`` writes a self-contained
page where people rank reconstructions; ``qagen study score`` reads their answers (the rank
distribution per model and how often each IQA metric ranks as people do). See
``docs/msssim-loss.md``."""

from qagen.study.make import ANSWERS_FORMAT, STUDY_FORMAT, make_study, write_study
from qagen.study.score import METRICS, StudyScores, format_scores, score_study

__all__ = [
    "ANSWERS_FORMAT",
    "METRICS",
    "STUDY_FORMAT",
    "StudyScores",
    "format_scores",
    "make_study",
    "score_study",
    "write_study",
]
