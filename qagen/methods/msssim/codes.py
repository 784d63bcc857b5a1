"""What a bottleneck encodes: SVMs on autoencoder codes (the MS-SSIM loss poster's
"learned representations" table).

On a fixed split (the datasets' ``train`` and ``test`` splits: half of each identity's images
in each, :func:`qagen.methods.msssim.yaleb.identity_split`):

* **identity**: an SVM classifier (``sklearn.svm.SVC``) fitted on the train codes; reported as
  the classification **error in %** on the test codes;
* **azimuth** and **elevation**: SVM regressors (``sklearn.svm.SVR``), reported as the **mean
  squared error in degrees^2** on the test codes (the poster's azimuth 277.46 and elevation
  51.46 read as MSEs: RMSEs of 16.7 and 7.2 degrees on Yale B's ranges of 260 and 130
  degrees; its table gives no unit). The RMSE and the mean absolute error are recorded too.

The codes are standardised (``StandardScaler`` fitted on the train codes). ``C`` (and for SVR
``epsilon``) is chosen by 3-fold cross-validation on the train codes only, from a fixed grid
(:data:`C_GRID`); the kernel is RBF with ``gamma='scale'`` (``kernel='linear'`` is the
option). The regression targets are standardised too and the predictions mapped back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from qagen.errors import InputError

__all__ = ["C_GRID", "CodeScores", "encode_dataset", "svm_class_error", "svm_code_scores"]

#: The values of C tried by cross-validation.
C_GRID = (0.1, 1.0, 10.0, 100.0, 1000.0)
_EPS_GRID = (0.01, 0.1, 0.5)


@dataclass
class CodeScores:
    """Scores of the SVMs on test codes (module docstring) and how they were chosen."""

    identity_error: float  # % misclassified
    azimuth_mse: float  # degrees^2
    elevation_mse: float  # degrees^2
    azimuth_rmse: float
    elevation_rmse: float
    azimuth_mae: float
    elevation_mae: float
    n_train: int
    n_test: int
    chosen: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def encode_dataset(
    encoder: Any, images: torch.Tensor, batch_size: int = 256, device: str | torch.device = "cpu"
) -> np.ndarray:
    """``encoder(images[i:i+B])`` for every batch, as an ``N x D`` float64 array."""
    out = []
    for lo in range(0, len(images), batch_size):
        out.append(encoder(images[lo : lo + batch_size].to(device)).double().cpu())
    return torch.cat(out).numpy()


def _check(codes: np.ndarray, labels: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    codes, labels = np.asarray(codes, dtype=np.float64), np.asarray(labels)
    if codes.ndim != 2:
        raise InputError(f"{name} codes must be N x D, got shape {codes.shape}")
    if labels.ndim != 2 or labels.shape[1] != 3 or len(labels) != len(codes):
        raise InputError(
            f"{name} labels must be N x 3 (identity, azimuth, elevation) with N = {len(codes)}, "
            f"got shape {labels.shape}"
        )
    if not np.all(np.isfinite(codes)):
        raise InputError(f"{name} codes contain NaN or Inf")
    return codes, labels


def svm_code_scores(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    *,
    kernel: str = "rbf",
    c_grid: Sequence[float] = C_GRID,
    folds: int = 3,
    seed: int = 0,
) -> CodeScores:
    """Fit the three SVMs on the train codes and score them on the test codes (module doc).

    ``*_labels``: ``N x 3`` rows ``(identity, azimuth, elevation)``.
    """
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR

    xtr, ytr = _check(train_codes, train_labels, "train")
    xte, yte = _check(test_codes, test_labels, "test")
    if xtr.shape[1] != xte.shape[1]:
        raise InputError(f"train codes have {xtr.shape[1]} dimensions, test codes {xte.shape[1]}")
    if kernel not in ("rbf", "linear"):
        raise InputError(f"kernel must be 'rbf' or 'linear', got {kernel!r}")
    scaler = StandardScaler().fit(xtr)
    xtr, xte = scaler.transform(xtr), scaler.transform(xte)
    ids_tr = ytr[:, 0].astype(int)
    n_min = int(np.bincount(ids_tr).min(initial=0)) if len(ids_tr) else 0
    k = max(2, min(folds, n_min)) if n_min >= 2 else 2
    clf = GridSearchCV(
        SVC(kernel=kernel, gamma="scale"),
        {"C": list(c_grid)},
        cv=StratifiedKFold(k, shuffle=True, random_state=seed),
    ).fit(xtr, ids_tr)
    err = float(np.mean(clf.predict(xte) != yte[:, 0].astype(int)) * 100.0)
    chosen: dict[str, Any] = {"identity_C": clf.best_params_["C"]}
    res: dict[str, tuple[float, float, float]] = {}
    for col, name in ((1, "azimuth"), (2, "elevation")):
        t = ytr[:, col].astype(np.float64)
        mu, sd = t.mean(), t.std() or 1.0
        reg = GridSearchCV(
            SVR(kernel=kernel, gamma="scale"),
            {"C": list(c_grid), "epsilon": list(_EPS_GRID)},
            cv=KFold(folds, shuffle=True, random_state=seed),
            scoring="neg_mean_squared_error",
        ).fit(xtr, (t - mu) / sd)
        pred = reg.predict(xte) * sd + mu
        diff = pred - yte[:, col]
        res[name] = (float(np.mean(diff**2)), float(np.sqrt(np.mean(diff**2))),
                     float(np.mean(np.abs(diff))))  # fmt: skip
        chosen[f"{name}_C"] = reg.best_params_["C"]
        chosen[f"{name}_epsilon"] = reg.best_params_["epsilon"]
    return CodeScores(
        identity_error=err,
        azimuth_mse=res["azimuth"][0],
        elevation_mse=res["elevation"][0],
        azimuth_rmse=res["azimuth"][1],
        elevation_rmse=res["elevation"][1],
        azimuth_mae=res["azimuth"][2],
        elevation_mae=res["elevation"][2],
        n_train=len(xtr),
        n_test=len(xte),
        chosen=chosen,
        protocol={
            "kernel": kernel,
            "gamma": "scale",
            "C_grid": list(c_grid),
            "epsilon_grid (SVR, standardised targets)": list(_EPS_GRID),
            "cv_folds": folds,
            "seed": seed,
            "standardised_codes": True,
            "identity": "SVC, error % on the test codes",
            "azimuth/elevation": "SVR, mean squared error in degrees^2 on the test codes",
        },  # fmt: skip
    )


def svm_class_error(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    *,
    c_grid: Sequence[float] = C_GRID,
    folds: int = 3,
    seed: int = 0,
) -> tuple[float, float]:
    """The classification error (%) of an RBF SVC (``gamma='scale'``) on standardised codes,
    ``C`` by stratified ``folds``-fold cross-validation on the train codes only (as the identity
    SVM of :func:`svm_code_scores`), for data with class labels and no light labels (e.g. the
    10 classes of Fashion-MNIST); returns ``(error %, chosen C)``."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    xtr, xte = np.asarray(train_codes, np.float64), np.asarray(test_codes, np.float64)
    ytr, yte = np.asarray(train_labels).astype(int), np.asarray(test_labels).astype(int)
    if xtr.ndim != 2 or xtr.shape[0] != ytr.shape[0] or xte.shape[0] != yte.shape[0]:
        raise InputError(f"codes {xtr.shape} / {xte.shape} do not match labels {ytr.shape} / "
                         f"{yte.shape}")  # fmt: skip
    scaler = StandardScaler().fit(xtr)
    clf = GridSearchCV(SVC(gamma="scale"), {"C": list(c_grid)},
                       cv=StratifiedKFold(folds, shuffle=True, random_state=seed)).fit(
        scaler.transform(xtr), ytr)  # fmt: skip
    err = float(np.mean(clf.predict(scaler.transform(xte)) != yte) * 100.0)
    return err, float(clf.best_params_["C"])
