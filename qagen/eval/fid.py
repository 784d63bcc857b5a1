"""FID, KID and IS with a recorded protocol and local weights only (docs/evaluation.md).

* **Backbone**: torch-fidelity's port of the TF "inception-2015-12-05" graph
  (``FeatureExtractorInceptionV3``: TF1-compatible bilinear resize to 299 x 299 inside the
  network, uint8 RGB input), features ``2048`` (pool3) for FID/KID and ``logits_unbiased``
  (1008-way, no bias) for IS, as torch-fidelity does.
* **Weights** come only from a local file: the ``inception_weights=`` argument (a file or a
  folder holding it) or the ``QAGEN_INCEPTION_WEIGHTS`` variable. The standard files are
  ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid release) and
  ``weights-inception-2015-12-05-6726825d.pth`` (torch-fidelity release v0.2.0); their SHA-256
  starts with ``6726825d``, which is checked (``verify_hash=False`` accepts any file and records
  ``weights_verified: false``). Nothing is ever downloaded. The file is first loaded with
  ``torch.load(weights_only=True)``, so a pickle that is not a plain state dict is refused.
* **Any other extractor** can be plugged in (:class:`ModuleExtractor` wraps an ``nn.Module`` or
  function); its name and weights hash go into the protocol.

Statistics are torch-fidelity's own functions on the extracted features (float64):

* FID: ``fid_features_to_statistics`` (mean, ``np.cov``) and ``fid_statistics_to_metric``:
  |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}), Tr((S_1 S_2)^{1/2}) = sum sqrt(eig(S_1 S_2))
  (``method="eigvals"``, the default). Two other evaluations of the same formula are kept for
  comparison with other codes: ``"eigh"`` (the trace from two symmetric eigendecompositions, 5x
  faster on a CPU at 2048 x 2048) and ``"sqrtm"`` (``scipy.linalg.sqrtm`` with pytorch-fid's
  1e-6 diagonal retry).
* KID: ``kid_features_to_metric``: unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 over
  ``kid_subsets`` subsets of ``kid_subset_size`` (defaults 100 x 1000, seed 2020); mean and std.
* IS: ``isc_features_to_metric``: exp(E_x KL(p(y|x) || p(y))) over ``isc_splits`` splits (10)
  after a seeded shuffle; mean and std.

Every score is returned as a :class:`GenerationScore` whose ``protocol`` holds the backbone,
weights file and SHA-256, resizer, feature layer, input quantisation, n_real, n_fake, reference
name and split, seed, estimator settings, device and library versions (plus ``extra_protocol``,
e.g. the checkpoint selection rule). Reference statistics (features, mean, covariance) are
cached per reference and protocol in ``cache_dir`` (default ``$QAGEN_CACHE_DIR`` or
``~/.cache/qagen``), keyed by a SHA-256 of the protocol.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from qagen.errors import InputError, InputTypeError, UnknownNameError
from qagen.eval._progress import progress as _progress
from qagen.eval._progress import stage as _stage
from qagen.eval.options import InceptionOptions
from qagen.files import atomic_path, dumps_json
from qagen.io import IMAGE_EXTENSIONS, list_images

__all__ = [
    "ENV_WEIGHTS",
    "INCEPTION_SHA256_PREFIX",
    "INCEPTION_WEIGHT_FILES",
    "FeatureExtractor",
    "GenerationScore",
    "InceptionV3Extractor",
    "InceptionWeightsError",
    "ModuleExtractor",
    "ReferenceStats",
    "extract_features",
    "frechet_distance",
    "gaussian_statistics",
    "generation_metrics",
    "inception_score",
    "kernel_inception_distance",
    "reference_statistics",
    "resolve_inception_weights",
    "sha256_file",
]

INCEPTION_WEIGHT_FILES = (
    "pt_inception-2015-12-05-6726825d.pth",
    "weights-inception-2015-12-05-6726825d.pth",
)
INCEPTION_SHA256_PREFIX = "6726825d"
ENV_WEIGHTS = "QAGEN_INCEPTION_WEIGHTS"
ENV_CACHE = "QAGEN_CACHE_DIR"
_CACHE_VERSION = 1


class InceptionWeightsError(FileNotFoundError):
    """The Inception weights file is absent (the message says where to put it)."""


# ----------------------------------------------------------------------------- weights


def _missing_weights_message(detail: str) -> str:
    return (
        f"Inception weights not found ({detail}). qagen never downloads them: pass "
        f"inception_weights=PATH (CLI --inception-weights PATH) or set {ENV_WEIGHTS}=PATH to the "
        f"standard file {INCEPTION_WEIGHT_FILES[0]} (pytorch-fid release 'fid_weights') or "
        f"{INCEPTION_WEIGHT_FILES[1]} (torch-fidelity release v0.2.0); its SHA-256 starts with "
        f"{INCEPTION_SHA256_PREFIX}. Copy it from a machine with network access."
    )


def resolve_inception_weights(path: str | Path | None = None) -> Path:
    """The Inception weights file: ``path`` (a file, or a folder holding a standard file), else
    ``$QAGEN_INCEPTION_WEIGHTS``; raises :class:`InceptionWeightsError` naming the files."""
    source = "argument inception_weights"
    if path is None:
        env = os.environ.get(ENV_WEIGHTS)
        if not env:
            raise InceptionWeightsError(
                _missing_weights_message(f"no path given and {ENV_WEIGHTS} is not set")
            )
        path, source = env, f"${ENV_WEIGHTS}"
    p = Path(path).expanduser()
    if p.is_dir():
        for name in INCEPTION_WEIGHT_FILES:
            if (p / name).is_file():
                return p / name
        raise InceptionWeightsError(
            _missing_weights_message(f"folder {p} from {source} holds neither standard file")
        )
    if not p.is_file():
        raise InceptionWeightsError(_missing_weights_message(f"{p} from {source} does not exist"))
    return p


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file (memoised per path, size and modification time)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _module_sha256(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _library_versions() -> dict[str, str]:
    import scipy

    from qagen._version import __version__

    out = {
        "qagen": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    try:
        import torch_fidelity

        out["torch_fidelity"] = torch_fidelity.__version__
    except ImportError:
        out["torch_fidelity"] = "not installed"
    return out


# ----------------------------------------------------------------------------- extractors


class FeatureExtractor:
    """Maps uint8 RGB batches ``N x 3 x H x W`` to ``{"features": N x D, "logits": N x K}``.

    ``logits`` is optional (needed for IS). Subclasses set ``name`` and implement
    :meth:`forward_uint8` and :meth:`protocol`.
    """

    name = "extractor"

    def forward_uint8(
        self, x: torch.Tensor
    ) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise InputError(
                f"extractor input must be uint8 N x 3 x H x W, got {x.dtype} {tuple(x.shape)}"
            )
        with torch.no_grad():
            return self.forward_uint8(x)

    def protocol(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


class InceptionV3Extractor(FeatureExtractor):
    """torch-fidelity's TF-compatible Inception-v3 with weights from a local file."""

    name = "inception-v3-compat"

    LAYERS = ("64", "192", "768", "2048")

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        device: str | torch.device = "cpu",
        verify_hash: bool = True,
        feature_layer: str = "2048",
    ) -> None:
        if str(feature_layer) not in self.LAYERS:
            raise InputError(f"feature_layer must be one of {self.LAYERS}, got {feature_layer!r}")
        self.feature_layer = str(feature_layer)
        path = resolve_inception_weights(weights)
        digest = sha256_file(path)
        verified = digest.startswith(INCEPTION_SHA256_PREFIX)
        if verify_hash and not verified:
            raise InputError(
                f"Inception weights {path} have SHA-256 {digest}, which does not start with "
                f"{INCEPTION_SHA256_PREFIX} (the standard {INCEPTION_WEIGHT_FILES[0]} / "
                f"{INCEPTION_WEIGHT_FILES[1]}); the file is corrupt or a different network. Pass "
                "verify_hash=False to use it anyway (recorded as weights_verified: false)."
            )
        try:
            torch.load(path, map_location="cpu", weights_only=True)  # refuses arbitrary pickles
        except Exception as exc:
            raise InputError(
                f"cannot load Inception weights {path}: {exc}. The file is truncated, corrupt or not a "
                "state dict; copy the standard file again."
            ) from exc
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as exc:
            raise ImportError("FID/KID/IS need torch-fidelity: pip install torch-fidelity") from exc
        try:
            model = FeatureExtractorInceptionV3(
                self.name,
                [self.feature_layer, "logits_unbiased"],
                feature_extractor_weights_path=str(path),
            )
        except RuntimeError as exc:  # state-dict key or shape mismatch
            raise InputError(
                f"Inception weights {path} do not fit torch-fidelity's Inception-v3: {exc}"
            ) from exc
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.weights_file = str(path)
        self.weights_sha256 = digest
        self.weights_verified = verified

    def forward_uint8(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats, logits = self.model(x.to(self.device))
        return {"features": feats.float().cpu(), "logits": logits.float().cpu()}

    def protocol(self) -> dict:
        size = int(self.model.INPUT_IMAGE_SIZE)  # 299
        return {
            "backbone": "Inception-v3, TF inception-2015-12-05 graph (torch-fidelity FeatureExtractorInceptionV3)",
            "extractor": self.name,
            "weights_file": Path(self.weights_file).name,
            "weights_sha256": self.weights_sha256,
            "weights_verified": self.weights_verified,
            "resizer": f"TF1-compatible bilinear to {size}x{size} (torch-fidelity interpolate_bilinear_2d_like_tensorflow1x)",
            "feature_layer": "2048 (pool3)" if self.feature_layer == "2048" else self.feature_layer,
            "logits_layer": "logits_unbiased (1008, no bias)",
        }


class ModuleExtractor(FeatureExtractor):
    """Any network as feature extractor (for tests, or other backbones).

    ``fn`` receives float32 ``N x 3 x H x W`` in [0, 1] (after the optional bilinear
    ``resize``) and returns features ``N x ...`` (flattened) or a dict with ``"features"`` and
    optionally ``"logits"``. For an ``nn.Module`` the weights hash is the SHA-256 of its state
    dict.
    """

    def __init__(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor | dict],
        name: str,
        *,
        resize: int | tuple[int, int] | None = None,
        device: str | torch.device = "cpu",
        weights_sha256: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.resize = (resize, resize) if isinstance(resize, int) else resize
        self.device = torch.device(device)
        if isinstance(fn, torch.nn.Module):
            fn.to(self.device).eval()
            weights_sha256 = weights_sha256 or _module_sha256(fn)
        self.weights_sha256 = weights_sha256

    def forward_uint8(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        xf = x.to(self.device).float() / 255.0
        if self.resize is not None and tuple(xf.shape[-2:]) != tuple(self.resize):
            xf = F.interpolate(xf, size=self.resize, mode="bilinear", align_corners=False)
        out = self.fn(xf)
        if not isinstance(out, dict):
            out = {"features": out}
        return {k: v.reshape(v.shape[0], -1).float().cpu() for k, v in out.items()}

    def protocol(self) -> dict:
        return {
            "backbone": self.name,
            "extractor": self.name,
            "weights_file": None,
            "weights_sha256": self.weights_sha256,
            "weights_verified": None,
            "resizer": f"torch bilinear to {self.resize}" if self.resize else "none",
            "feature_layer": "features",
            "logits_layer": "logits",
        }


# ----------------------------------------------------------------------------- inputs


def _list_images(folder: Path) -> list[Path]:
    """The images of ``folder`` (not its subfolders), sorted (:func:`qagen.io.list_images`)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = [p.resolve() for p in list_images(folder, recursive=False)]
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return files


def _to_uint8(x: torch.Tensor, data_range: float) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise InputError(
            f"images must be N x C x H x W with C = 1 or 3, got shape {tuple(x.shape)}"
        )
    if x.dtype == torch.uint8:
        u = x
    elif x.is_floating_point():
        if not torch.isfinite(x).all():
            raise InputError("images contain NaN or Inf values")
        lo, hi = float(x.min()), float(x.max())
        tol = 1e-3 * data_range
        if lo < -tol or hi > data_range + tol:
            raise InputError(
                f"images have values in [{lo:.4g}, {hi:.4g}], outside [0, data_range={data_range:g}]; "
                "map generator outputs in [-1, 1] to [0, 1] first, or pass the right data_range"
            )
        u = torch.round(x.detach().float() * (255.0 / data_range)).clamp_(0, 255).to(torch.uint8)
    else:
        raise InputTypeError(
            f"images must be uint8 or floating point in [0, data_range], got {x.dtype}"
        )
    return u.expand(-1, 3, -1, -1) if u.shape[1] == 1 else u


def iter_uint8_batches(
    source: object, batch_size: int = 64, data_range: float = 1.0, limit: int | None = None
) -> Iterator[torch.Tensor]:
    """Uint8 RGB batches from a tensor, an image folder, a Dataset or an iterable of batches.

    Float images in ``[0, data_range]`` are rounded to 8 bits (the quantisation every FID code
    applies to generated images); grey images are repeated to 3 channels. A folder is read in
    sorted path order (as torch-fidelity does), non-recursively.
    """
    count = 0

    def take(b: torch.Tensor) -> torch.Tensor | None:
        nonlocal count
        if limit is not None:
            if count >= limit:
                return None
            b = b[: limit - count]
        count += b.shape[0]
        return b

    if isinstance(source, (str, Path)):
        from PIL import Image

        files = _list_images(Path(source))
        pending: list[torch.Tensor] = []
        for f in files:
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"))
            t = torch.from_numpy(arr.copy()).permute(2, 0, 1)
            if pending and (len(pending) == batch_size or pending[0].shape != t.shape):
                b = take(torch.stack(pending))
                if b is None:
                    return
                yield b
                pending = []
            pending.append(t)
        if pending:
            b = take(torch.stack(pending))
            if b is not None:
                yield b
        return
    if isinstance(source, torch.Tensor):
        for i in range(0, source.shape[0] if source.dim() == 4 else 1, batch_size):
            b = take(
                _to_uint8(source[i : i + batch_size] if source.dim() == 4 else source, data_range)
            )
            if b is None:
                return
            yield b
        return
    if isinstance(source, torch.utils.data.Dataset) and hasattr(source, "__len__"):
        loader = torch.utils.data.DataLoader(
            source, batch_size=batch_size, shuffle=False, num_workers=0
        )
        source = loader
    if isinstance(source, Iterable):
        for b in source:
            if isinstance(b, (tuple, list)):
                b = b[0]
            out = take(_to_uint8(torch.as_tensor(b), data_range))
            if out is None:
                return
            yield out
        return
    raise InputTypeError(
        f"cannot read images from {type(source).__name__}: use a tensor, a folder, a Dataset or batches"
    )


def _fingerprint(source: object) -> str | None:
    """A content fingerprint of a folder (names, sizes, mtimes) or tensor (bytes); None otherwise."""
    h = hashlib.sha256()
    if isinstance(source, (str, Path)):
        for f in _list_images(Path(source)):
            st = f.stat()
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return "folder:" + h.hexdigest()
    if isinstance(source, torch.Tensor):
        t = source.detach().cpu().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes())
        return "tensor:" + h.hexdigest()
    return None


def _n_batches(source: object, batch_size: int, limit: int | None) -> int | None:
    """The number of batches :func:`iter_uint8_batches` will give (None when unknown)."""
    if isinstance(source, torch.Tensor):
        n = source.shape[0] if source.dim() == 4 else 1
    elif isinstance(source, (str, Path)) and Path(source).is_dir():
        n = len(list_images(Path(source), recursive=False))
    elif isinstance(source, torch.utils.data.Dataset) and hasattr(source, "__len__"):
        n = len(source)
    else:
        return None
    n = min(n, limit) if limit is not None else n
    return math.ceil(n / batch_size)


def extract_features(
    source: object,
    extractor: FeatureExtractor,
    *,
    batch_size: int = 64,
    data_range: float = 1.0,
    limit: int | None = None,
    progress: bool = False,
    desc: str = "features",
) -> dict[str, np.ndarray]:
    """Run ``extractor`` over ``source`` (see :func:`iter_uint8_batches`); float32 arrays per
    key. ``progress`` shows a bar named ``desc`` over the batches."""
    parts: dict[str, list[torch.Tensor]] = {}
    batches = iter_uint8_batches(source, batch_size, data_range, limit)
    total = _n_batches(source, batch_size, limit) if progress else None
    for b in _progress(batches, desc=desc, total=total, enabled=progress):
        for k, v in extractor(b).items():
            parts.setdefault(k, []).append(v)
    if not parts:
        raise InputError("no images were read from the source")
    return {k: torch.cat(v).numpy().astype(np.float32) for k, v in parts.items()}


# ----------------------------------------------------------------------------- statistics


def _float64(v: object, name: str) -> torch.Tensor:
    t = torch.as_tensor(
        np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)
    )
    if t.dim() != 2:
        raise InputError(f"{name} must be N x D, got shape {tuple(t.shape)}")
    return t


def gaussian_statistics(features: object) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of ``N x D`` features in float64 (torch-fidelity's
    ``fid_features_to_statistics``: ``np.mean``, ``np.cov`` with rows as samples)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    f = _float64(features, "features")
    if f.shape[0] < 2:
        raise InputError(f"features must be N x D with N >= 2, got shape {tuple(f.shape)}")
    stats = fid_features_to_statistics(f)
    d = f.shape[1]
    return stats["mu"], np.asarray(stats["sigma"]).reshape(d, d)


def frechet_distance(
    mu1: object, sigma1: object, mu2: object, sigma2: object, method: str = "eigvals"
) -> float:
    """Frechet distance of two Gaussians: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})
    (Heusel et al. 2017, FID).

    ``method="eigvals"``: torch-fidelity's ``fid_statistics_to_metric`` (Tr((S1 S2)^{1/2}) =
    sum of the square roots of the eigenvalues of S1 S2, real parts). ``"eigh"``: the same
    trace as Tr((S1^1/2 S2 S1^1/2)^1/2) from two symmetric eigendecompositions (negative
    rounding-level eigenvalues clipped to 0): equal up to rounding, about 5x faster at
    2048 x 2048. ``"sqrtm"``: ``scipy.linalg.sqrtm(S1 S2)``, retried with 1e-6 added to both
    diagonals when not finite, imaginary part dropped (pytorch-fid). Computed in float64.
    """

    def arr(v: object) -> np.ndarray:
        return np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64)

    m1, m2, s1, s2 = arr(mu1).reshape(-1), arr(mu2).reshape(-1), arr(sigma1), arr(sigma2)
    d = m1.size
    if m2.size != d or s1.size != d * d or s2.size != d * d:
        raise InputError(f"mu/sigma shapes differ: {m1.shape}, {m2.shape}, {s1.shape}, {s2.shape}")
    s1, s2 = s1.reshape(d, d), s2.reshape(d, d)
    if method == "eigvals":
        from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

        out = fid_statistics_to_metric({"mu": m1, "sigma": s1}, {"mu": m2, "sigma": s2}, False)
        return float(out[KEY_METRIC_FID])
    if method == "eigh":
        w, v = np.linalg.eigh((s1 + s1.T) / 2)
        r1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
        m = r1 @ s2 @ r1
        tr_covmean = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None))))
    elif method == "sqrtm":
        from scipy.linalg import sqrtm

        covmean = sqrtm(s1 @ s2)
        if not np.all(np.isfinite(covmean)):
            off = np.eye(d) * 1e-6
            covmean = sqrtm((s1 + off) @ (s2 + off))
        tr_covmean = float(np.trace(np.real(covmean)))
    else:
        raise InputError(f"method must be 'eigvals', 'eigh' or 'sqrtm', got {method!r}")
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def kernel_inception_distance(
    features_fake: object,
    features_real: object,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 2020,
    progress: bool = False,
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the polynomial kernel
    (gamma a.b + coef0)^degree, gamma = 1/d, through torch-fidelity's
    ``kid_features_to_metric`` on float64 features.

    Each of ``subsets`` rounds draws ``subset_size`` rows without replacement from each set
    (``np.random.RandomState(seed).choice``, first set then second). Returns (mean, std) over
    the rounds; ``progress`` shows torch-fidelity's bar over the subsets.
    """
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    f1, f2 = _float64(features_fake, "features_fake"), _float64(features_real, "features_real")
    if f1.shape[1] != f2.shape[1]:
        raise InputError(
            f"features must be N x D with the same D, got {tuple(f1.shape)} and {tuple(f2.shape)}"
        )
    n1, n2 = f1.shape[0], f2.shape[0]
    if subset_size < 2 or n1 < subset_size or n2 < subset_size:
        raise InputError(
            f"KID subset_size={subset_size} needs at least that many samples in each set "
            f"(got {n1} and {n2}); pass a smaller kid_subset_size (and record it)"
        )
    out = kid_features_to_metric(
        f1,
        f2,
        kid_subsets=int(subsets),
        kid_subset_size=int(subset_size),
        kid_kernel="poly",
        kid_kernel_poly_degree=degree,
        kid_kernel_poly_gamma=gamma,
        kid_kernel_poly_coef0=coef0,
        rng_seed=int(seed),
        verbose=bool(progress),
    )
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def inception_score(
    logits: object, *, splits: int = 10, shuffle: bool = True, seed: int = 2020
) -> tuple[float, float]:
    """IS (Salimans et al. 2016) = exp(mean_x KL(p(y|x) || p(y))) per split, p = softmax(logits),
    through torch-fidelity's ``isc_features_to_metric``; (mean, std) over the splits.

    Rows are shuffled with ``np.random.RandomState(seed).permutation`` first; split i covers
    rows [i N / splits, (i + 1) N / splits). Computed in float64.
    """
    from torch_fidelity.metric_isc import (
        KEY_METRIC_ISC_MEAN,
        KEY_METRIC_ISC_STD,
        isc_features_to_metric,
    )

    lg = _float64(logits, "logits")
    n = lg.shape[0]
    if not 1 <= splits <= n:
        raise InputError(f"splits must be in 1..N={n}, got {splits}")
    out = isc_features_to_metric(lg, splits=int(splits), shuffle=bool(shuffle), rng_seed=int(seed))
    return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])


# ----------------------------------------------------------------------------- reference cache


@dataclass
class ReferenceStats:
    """Features (float32), mean and covariance (float64) of a reference set, with its protocol."""

    features: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    protocol: dict
    cache_file: str | None = None

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


def default_cache_dir() -> Path:
    """``$QAGEN_CACHE_DIR`` or ``~/.cache/qagen`` (subfolder ``reference_stats``)."""
    base = os.environ.get(ENV_CACHE) or os.path.join(os.path.expanduser("~"), ".cache", "qagen")
    return Path(base) / "reference_stats"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)[:60].strip("_") or "ref"


def reference_statistics(
    source: object,
    extractor: FeatureExtractor,
    *,
    name: str | None = None,
    split: str | None = None,
    cache_dir: str | Path | bool | None = None,
    batch_size: int = 64,
    data_range: float = 1.0,
    limit: int | None = None,
    progress: bool = False,
) -> ReferenceStats:
    """Features and Gaussian statistics of a reference set, cached per reference and protocol.

    The cache key is a SHA-256 of: the reference identity (``name`` when given, else a
    fingerprint of the folder's files or the tensor's bytes), ``split``, ``limit``, the
    extractor's protocol (backbone, weights hash, resizer, layers) and the input quantisation.
    ``cache_dir=False`` disables the cache; ``None`` uses :func:`default_cache_dir`. Sources
    without identity (Datasets, iterables) are cached only when ``name`` is given. A cache file
    that cannot be read raises :class:`qagen.errors.InputError` naming it. ``progress`` shows
    a bar over the batches when the features are computed.
    """
    identity = name if name is not None else _fingerprint(source)
    ident = {
        "cache_version": _CACHE_VERSION,
        "reference": identity,
        "split": split,
        "limit": limit,
        "input": "uint8 RGB; float rounded from [0, data_range]",
        "extractor": extractor.protocol(),
    }
    key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    use_cache = cache_dir is not False and identity is not None
    path = None
    if use_cache:
        folder = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)  # type: ignore[arg-type]
        label = _slug(name) if name else "data"
        path = folder / f"{label}-{_slug(split or 'all')}-{key[:16]}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    stored = json.loads(str(z["protocol_json"]))
                    feats, mu, sigma = z["features"], z["mu"], z["sigma"]
            except Exception as exc:
                raise InputError(
                    f"cached reference statistics {path} cannot be read ({exc}); delete the file to recompute"
                ) from exc
            if stored.get("key") != key:
                raise InputError(
                    f"cached reference statistics {path} belong to another protocol; delete the file"
                )
            return ReferenceStats(feats, mu, sigma, stored["protocol"], str(path))
    feats = extract_features(
        source,
        extractor,
        batch_size=batch_size,
        data_range=data_range,
        limit=limit,
        progress=progress,
        desc=f"{extractor.name} features of the real images",
    )
    f = feats["features"]
    mu, sigma = gaussian_statistics(f)
    protocol = {**ident, "n": int(f.shape[0]), "key": key}
    stats = ReferenceStats(f, mu, sigma, protocol, str(path) if path else None)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                features=f,
                mu=mu,
                sigma=sigma,
                protocol_json=np.array(dumps_json({"key": key, "protocol": protocol}, default=str)),
            )
    return stats


# ----------------------------------------------------------------------------- top level


@dataclass
class GenerationScore:
    """One score (FID, KID or IS) with its spread (None for FID) and full protocol record."""

    metric: str
    value: float
    std: float | None
    protocol: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def generation_metrics(
    fake: object,
    real: object = None,
    options: InceptionOptions | None = None,
    *,
    metrics: Sequence[str] = ("fid", "kid", "is"),
    data_range: float = 1.0,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    reference_name: str | None = None,
    reference_split: str | None = None,
    cache_dir: str | Path | bool | None = None,
    extra_protocol: dict | None = None,
    progress: bool = False,
    **overrides: Any,
) -> dict[str, GenerationScore]:
    """FID / KID / IS of generated images ``fake`` against ``real`` (module docstring).

    ``fake`` and ``real``: float tensors ``N x C x H x W`` in ``[0, data_range]`` (or uint8),
    image folders, Datasets or iterables of batches; ``real`` may also be a
    :class:`ReferenceStats`. ``options`` (default :class:`~qagen.eval.options.InceptionOptions`)
    with ``overrides`` applied (its field names: ``inception_weights``, ``extractor``,
    ``verify_hash``, ``feature_layer``, ``fid_method``, ``kid_subsets``, ``kid_subset_size``,
    ``isc_splits``, ``seed``) holds the metric protocol; an ``extractor`` replaces the
    Inception network (then ``inception_weights`` is not needed). ``reference_name`` /
    ``reference_split`` name the reference set in the protocol and the cache (e.g. "cifar10",
    "train"); ``cache_dir`` as :func:`reference_statistics`. ``progress`` shows a bar per stage
    on stderr (features of each set, the FID matrix square root, the KID subsets).
    """
    opts = options if options is not None else InceptionOptions()
    if overrides:
        opts = opts.replace(**overrides)
    extractor, seed, fid_method = opts.extractor, opts.seed, opts.fid_method
    wanted = [m.lower() for m in metrics]
    bad = [m for m in wanted if m not in ("fid", "kid", "is")]
    if bad:
        raise UnknownNameError("generation metric", bad[0], ("fid", "kid", "is"))
    need_real = any(m in ("fid", "kid") for m in wanted)
    if need_real and real is None:
        raise InputError("FID and KID need real (reference) images")
    if extractor is None:
        extractor = InceptionV3Extractor(
            opts.inception_weights, device=device, verify_hash=opts.verify_hash,
            feature_layer=opts.feature_layer,
        )  # fmt: skip
    fake_feats = extract_features(
        fake,
        extractor,
        batch_size=batch_size,
        data_range=data_range,
        progress=progress,
        desc=f"{extractor.name} features of the generated images",
    )
    ref = None
    if need_real:
        ref = (
            real
            if isinstance(real, ReferenceStats)
            else reference_statistics(
                real,
                extractor,
                name=reference_name,
                split=reference_split,
                cache_dir=cache_dir,
                batch_size=batch_size,
                data_range=data_range,
                progress=progress,
            )
        )
    n_fake = int(fake_feats["features"].shape[0])
    n_real = ref.n if ref is not None else n_fake
    kid_subset_size = opts.kid_subset_size or min(1000, n_fake, n_real)
    isc_splits = opts.isc_splits or min(10, n_fake)
    base = {
        **extractor.protocol(),
        "input": "uint8 RGB (float images rounded from [0, data_range]; grey repeated to 3 channels)",
        "data_range": float(data_range),
        "n_fake": n_fake,
        "n_real": ref.n if ref is not None else None,
        "reference": reference_name
        if reference_name is not None
        else (ref.protocol.get("reference") if ref else None),
        "reference_split": reference_split,
        "reference_cache": ref.cache_file if ref is not None else None,
        "seed": int(seed),
        "device": str(device),
        "libraries": _library_versions(),
        **(extra_protocol or {}),
    }
    out: dict[str, GenerationScore] = {}
    if "fid" in wanted:
        with _stage(f"FID ({fid_method}, {ref.mu.shape[0]}-d covariances)", progress):
            mu, sigma = gaussian_statistics(fake_feats["features"])
            value = frechet_distance(mu, sigma, ref.mu, ref.sigma, method=fid_method)
        out["fid"] = GenerationScore(
            "fid", value, None, {**base, "metric": "FID", "fid_method": fid_method}
        )
    if "kid" in wanted:
        mean, std = kernel_inception_distance(
            fake_feats["features"],
            ref.features,
            subsets=opts.kid_subsets,
            subset_size=kid_subset_size,
            seed=seed,
            progress=progress,
        )
        out["kid"] = GenerationScore(
            "kid",
            mean,
            std,
            {
                **base,
                "metric": "KID",
                "kid_subsets": opts.kid_subsets,
                "kid_subset_size": kid_subset_size,
                "kid_kernel": "polynomial (a.b/d + 1)^3",
                "kid_estimator": "unbiased MMD^2",
            },
        )
    if "is" in wanted:
        if "logits" not in fake_feats:
            raise InputError(
                f"extractor {extractor.name} gives no logits; IS needs a classifier's logits"
            )
        mean, std = inception_score(fake_feats["logits"], splits=isc_splits, seed=seed)
        out["is"] = GenerationScore(
            "is",
            mean,
            std,
            {**base, "metric": "IS", "isc_splits": isc_splits, "isc_shuffle": True, "n_real": None},
        )
    return out
