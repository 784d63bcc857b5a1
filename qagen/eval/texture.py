"""Texture statistics of the QMF paper (Osahor & Nasrabadi, Fig. 4 and 6; docs/evaluation.md).

The QMF paper gives no parameters; qagen's defaults follow MATLAB's ``graycomatrix`` and are
recorded with every result (:func:`glcm_protocol`):

* grey: MATLAB ``rgb2gray`` (0.298936 R + 0.587043 G + 0.114021 B, rounded) on 8-bit values
  (float input in [0, data_range] is first scaled to 0-255 and rounded, as ``im2uint8``);
* quantisation: MATLAB ``graycomatrix`` with ``NumLevels=8`` and ``GrayLimits=[0 255]``:
  level = round(g * (L - 1) / 255) (round half up), i.e. bins centred on 0, 255/7, ...;
  ``quantization="floor"`` gives equal-width bins floor(g * L / 256) instead;
* offsets 0, 45, 90 and 135 degrees at distance 1, one non-symmetric GLCM per offset
  (MATLAB's default ``Symmetric=false``), each normalised to sum 1; every property is computed
  per offset and averaged over the offsets (properties here are invariant to transposing the
  GLCM, so MATLAB's and scikit-image's opposite angle conventions give the same numbers).

The GLCMs come from ``skimage.feature.graycomatrix`` and contrast, correlation and energy from
``graycoprops``. Properties (p = normalised GLCM):

=========================  ============================================================
``contrast``               sum (i - j)^2 p
``correlation``            sum (i - mu_i)(j - mu_j) p / (sigma_i sigma_j); 1 when a
                           sigma is 0 (scikit-image's convention; MATLAB gives NaN)
``energy_matlab``          sum p^2 (MATLAB ``graycoprops`` 'Energy', scikit-image 'ASM')
``energy_skimage``         sqrt(sum p^2) (scikit-image 'energy')
``homogeneity_matlab``     sum p / (1 + |i - j|) (MATLAB ``graycoprops``)
``homogeneity_skimage``    sum p / (1 + (i - j)^2) (scikit-image ``graycoprops``)
``entropy``                -sum p log2 p over p > 0 (bits; scikit-image's 'entropy' / ln 2)
=========================  ============================================================

``energy`` and ``homogeneity`` are aliases of the ``definitions=`` variant ("matlab" default).
:func:`gray_entropy` is MATLAB's ``entropy(I)`` (of the 256-bin grey histogram), a different
quantity that is often confused with the GLCM entropy.

HOG similarity (:func:`hog_similarity`): cosine similarity of the scikit-image ``hog``
descriptors (Dalal-Triggs defaults: 9 orientations, 8x8-pixel cells, 3x3-cell blocks, L2-Hys)
of the two grey images (``rgb2gray`` on 8-bit values), optionally resized to a fixed size first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from qagen.color import GRAY_WEIGHTS
from qagen.errors import InputError

__all__ = [
    "GLCM_PROPERTIES",
    "glcm_features",
    "glcm_protocol",
    "gray_entropy",
    "hog_descriptor",
    "hog_similarity",
    "to_gray_uint8",
]

GLCM_PROPERTIES = (
    "contrast",
    "correlation",
    "energy",
    "homogeneity",
    "entropy",
    "energy_matlab",
    "energy_skimage",
    "homogeneity_matlab",
    "homogeneity_skimage",
)


def to_gray_uint8(image: object, data_range: float = 1.0) -> list[np.ndarray]:
    """Grey 8-bit images (list of H x W uint8 arrays) from a tensor or array.

    Accepts a float tensor ``N x C x H x W`` or ``C x H x W`` in ``[0, data_range]`` (C = 1 or
    3), or numpy arrays ``H x W`` / ``H x W x 3`` (uint8, or float in ``[0, data_range]``).
    RGB goes through MATLAB ``rgb2gray`` (weights of ``qagen.color.GRAY_WEIGHTS['rgb2gray']``,
    rounded half up).
    """
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[1] not in (1, 3):
            raise InputError(
                f"image must be N x C x H x W with C = 1 or 3, got shape {tuple(image.shape)}"
            )
        if t.is_floating_point():
            arr = t.double().numpy() * (255.0 / data_range)
        else:
            arr = t.numpy().astype(np.float64)
        arrs = [a.transpose(1, 2, 0) for a in arr]
    else:
        a = np.asarray(image)
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
            raise InputError(f"image must be H x W or H x W x 3, got shape {a.shape}")
        a = (
            a.astype(np.float64)
            if a.dtype == np.uint8
            else a.astype(np.float64) * (255.0 / data_range)
        )
        arrs = [a if a.ndim == 3 else a[..., None]]
    out = []
    for a in arrs:
        if not np.all(np.isfinite(a)):
            raise InputError("image contains NaN or Inf values")
        if a.min() < -0.5 or a.max() > 255.5:
            raise InputError(
                f"image values [{a.min() / 255 * data_range:.4g}, {a.max() / 255 * data_range:.4g}] are "
                f"outside [0, data_range={data_range:g}]"
            )
        a = np.floor(a + 0.5)  # im2uint8 (round half up)
        if a.shape[2] == 3:
            w = GRAY_WEIGHTS["rgb2gray"]
            a = np.floor(w[0] * a[..., 0] + w[1] * a[..., 1] + w[2] * a[..., 2] + 0.5)
        else:
            a = a[..., 0]
        out.append(np.clip(a, 0, 255).astype(np.uint8))
    return out


def _quantize(g: np.ndarray, levels: int, quantization: str) -> np.ndarray:
    gf = g.astype(np.float64)
    if quantization == "matlab":
        q = np.floor(gf * (levels - 1) / 255.0 + 0.5)
    elif quantization == "floor":
        q = np.floor(gf * levels / 256.0)
    else:
        raise InputError(f"quantization must be 'matlab' or 'floor', got {quantization!r}")
    return np.clip(q, 0, levels - 1).astype(np.uint8)


def glcm_protocol(
    levels: int = 8,
    distances: Sequence[int] = (1,),
    angles_deg: Sequence[float] = (0, 45, 90, 135),
    symmetric: bool = False,
    quantization: str = "matlab",
    definitions: str = "matlab",
) -> dict:
    """The record of GLCM choices stored with every texture result."""
    return {
        "gray": "MATLAB rgb2gray on 8-bit values (rounded)",
        "levels": int(levels),
        "gray_limits": [0, 255],
        "quantization": quantization,
        "distances": [int(d) for d in distances],
        "angles_deg": [float(a) for a in angles_deg],
        "symmetric": bool(symmetric),
        "normalised": True,
        "averaged_over": "offsets (distance x angle)",
        "definitions": definitions,
        "entropy_base": 2,
        "glcm": "skimage.feature.graycomatrix",
    }


def glcm_features(
    image: object,
    *,
    data_range: float = 1.0,
    levels: int = 8,
    distances: Sequence[int] = (1,),
    angles_deg: Sequence[float] = (0, 45, 90, 135),
    symmetric: bool = False,
    quantization: str = "matlab",
    definitions: str = "matlab",
) -> dict[str, torch.Tensor]:
    """GLCM statistics per image (module docstring), averaged over the offsets.

    Returns ``{property: float64 tensor [N]}`` for every name in :data:`GLCM_PROPERTIES`;
    ``energy`` / ``homogeneity`` follow ``definitions`` ("matlab" or "skimage").
    """
    from skimage.feature import graycomatrix, graycoprops

    if definitions not in ("matlab", "skimage"):
        raise InputError(f"definitions must be 'matlab' or 'skimage', got {definitions!r}")
    if not 2 <= int(levels) <= 256:
        raise InputError(f"levels must be in 2..256, got {levels}")
    angles = [math.radians(a) for a in angles_deg]
    i, j = np.ogrid[0:levels, 0:levels]
    w_hom_matlab = (1.0 / (1.0 + np.abs(i - j)))[..., None, None]
    values: dict[str, list[float]] = {k: [] for k in GLCM_PROPERTIES}
    for g in to_gray_uint8(image, data_range):
        q = _quantize(g, levels, quantization)
        P = graycomatrix(
            q,
            distances=list(distances),
            angles=angles,
            levels=levels,
            symmetric=symmetric,
            normed=True,
        )
        ent = -np.sum(P * np.log2(P, where=P > 0, out=np.zeros_like(P)), axis=(0, 1))
        props = {
            "contrast": graycoprops(P, "contrast"),
            "correlation": graycoprops(P, "correlation"),
            "energy_matlab": graycoprops(P, "ASM"),
            "energy_skimage": graycoprops(P, "energy"),
            "homogeneity_matlab": np.sum(P * w_hom_matlab, axis=(0, 1)),
            "homogeneity_skimage": graycoprops(P, "homogeneity"),
            "entropy": ent,
        }
        for k, v in props.items():
            values[k].append(float(np.mean(v)))
        values["energy"].append(values[f"energy_{definitions}"][-1])
        values["homogeneity"].append(values[f"homogeneity_{definitions}"][-1])
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in values.items()}


def gray_entropy(image: object, data_range: float = 1.0) -> torch.Tensor:
    """MATLAB ``entropy(I)``: -sum p log2 p of the 256-bin histogram of the grey 8-bit image.

    Not the GLCM entropy. Returns a float64 tensor ``[N]``.
    """
    out = []
    for g in to_gray_uint8(image, data_range):
        p = np.bincount(g.reshape(-1), minlength=256).astype(np.float64)
        p = p[p > 0] / g.size
        out.append(float(-np.sum(p * np.log2(p))))
    return torch.tensor(out, dtype=torch.float64)


def hog_descriptor(
    image: object,
    *,
    data_range: float = 1.0,
    size: tuple[int, int] | None = None,
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = (8, 8),
    cells_per_block: tuple[int, int] = (3, 3),
    block_norm: str = "L2-Hys",
) -> list[np.ndarray]:
    """scikit-image ``hog`` descriptors (1-D float64) of the grey 8-bit images.

    ``size=(H, W)`` first resizes each grey image (``skimage.transform.resize``, bilinear with
    anti-aliasing) so that images of different sizes give comparable descriptors. The image
    must hold at least one block (``cells_per_block * pixels_per_cell`` pixels per side).
    """
    from skimage.feature import hog
    from skimage.transform import resize

    out = []
    for g in to_gray_uint8(image, data_range):
        gf = g.astype(np.float64) / 255.0
        if size is not None:
            gf = resize(gf, tuple(size), order=1, anti_aliasing=True, preserve_range=True)
        need = (cells_per_block[0] * pixels_per_cell[0], cells_per_block[1] * pixels_per_cell[1])
        if gf.shape[0] < need[0] or gf.shape[1] < need[1]:
            raise InputError(
                f"image of {gf.shape[0]} x {gf.shape[1]} is too small for HOG blocks of {need[0]} x {need[1]} "
                "pixels; pass size= or smaller pixels_per_cell/cells_per_block"
            )
        out.append(
            hog(
                gf,
                orientations=orientations,
                pixels_per_cell=pixels_per_cell,
                cells_per_block=cells_per_block,
                block_norm=block_norm,
                feature_vector=True,
            ).astype(np.float64)
        )
    return out


def hog_similarity(
    x: object,
    y: object,
    *,
    data_range: float = 1.0,
    size: tuple[int, int] | None = None,
    orientations: int = 9,
    pixels_per_cell: tuple[int, int] = (8, 8),
    cells_per_block: tuple[int, int] = (3, 3),
    block_norm: str = "L2-Hys",
) -> torch.Tensor:
    """Cosine similarity <h(x), h(y)> / (|h(x)| |h(y)|) of HOG descriptors, per image pair.

    ``x`` and ``y`` hold the same number of images (tensor ``N x C x H x W`` in
    ``[0, data_range]`` or arrays); without ``size`` the pairs must have equal sizes. When both
    descriptors are zero (flat images) the similarity is 1, when one is, 0. Returns a float64
    tensor ``[N]`` in [0, 1] (HOG entries are non-negative).
    """
    kw = dict(
        data_range=data_range,
        size=size,
        orientations=orientations,
        pixels_per_cell=pixels_per_cell,
        cells_per_block=cells_per_block,
        block_norm=block_norm,
    )
    hx, hy = hog_descriptor(x, **kw), hog_descriptor(y, **kw)
    if len(hx) != len(hy):
        raise InputError(
            f"x and y must hold the same number of images, got {len(hx)} and {len(hy)}"
        )
    sims = []
    for a, b in zip(hx, hy, strict=True):
        if a.shape != b.shape:
            raise InputError(
                f"HOG descriptors differ in length ({a.size} vs {b.size}): pass size=(H, W)"
            )
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        if na == 0.0 or nb == 0.0:
            sims.append(1.0 if na == nb else 0.0)
        else:
            sims.append(float(np.clip(np.dot(a, b) / (na * nb), -1.0, 1.0)))
    return torch.tensor(sims, dtype=torch.float64)
