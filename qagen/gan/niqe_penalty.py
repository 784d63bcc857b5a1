"""NIQE penalty on critic gradient maps (QAGAN-NIQE; Kancharla & Channappayya, NeurIPS 2019).

The critic gradient ``g = grad_x D(x_hat)`` at the gradient-penalty interpolates is treated as a
grey image, its 36 NIQE features are computed, and their distance to a *pristine* multivariate
Gaussian model estimated from gradient maps of real images is added to the critic loss::

    NIQE_GP = E[ sqrt((mu_P - f)' pinv((S_P + S_T) / 2) (mu_P - f)) ],   S_T = 0 (one row)

Everything is reimplemented from the formulas of NIQE (Mittal et al., IEEE SPL 2013; LIVE
``computequality.m``) and of the authors' ``QAGAN-NIQE/NIQE_penalty.py``; the differentiable NIQE
building blocks come from :mod:`qagen.iqa.naturalness` (``aggd_fit`` with its implicit-function gradient
of the shape parameter, ``mscn``, ``imresize_half``, ``mvg_distance`` with ``pinv``).

Feature variants (:data:`GRADIENT_NIQE_VARIANTS`)
--------------------------------------------------
``'qagan'`` (the authors' ``NIQE_penalty.py``, with its bugs fixed) and ``'live'`` (the LIVE
NIQE feature pipeline applied to the gradient map as a single block). Both treat the whole map
(32 x 32, 48 x 48, 64 x 64) as one block at scale 1 and its half-size version as one block at
scale 2. Deviations of the authors' code (``QAGAN-NIQE/NIQE_penalty.py``) from LIVE NIQE, item by
item:

=====  ===========================================================  ==========================
item   authors' code                                                 ``'qagan'`` here
=====  ===========================================================  ==========================
1      grey (TF weights) of the critic gradient at the GP            **kept** (TF weights
       interpolates; CelebA-64 crops to the top-left 32 x 32         0.2989/0.5870/0.1140);
                                                                     **fixed**: the whole map
2      MSCN window 3 x 3, sigma 0.5, zero 'SAME' padding             **kept**
3      MSCN divides by variance + 1                                  **fixed**: std + 1 (NIQE)
4      second scale: TF1 ``resize_bilinear`` to half size            **fixed**: 2 x 2 mean
       (legacy sampling = plain decimation x[::2, ::2], aliased)      (= bilinear with half-pixel
                                                                     centres); ``'decimate'``
                                                                     available
5      one block per image and scale, MSCN values pooled over the    **kept** (``pooling=
       whole minibatch: one 36-vector per batch                      'batch'``); ``'image'``
                                                                     gives one vector per image
6a     AGGD sigma = sqrt(sum x^2 / (n - 1))                          **fixed**: mean (LIVE)
6b     beta = sigma G(3/a)/G(1/a)                                    **fixed**: sigma
                                                                     sqrt(G(1/a)/G(3/a))
6c     eta with G(3/a)/G(1/a)                                        **fixed**: G(2/a)/G(1/a)
6d     beta_l and beta_r swapped                                     **fixed**
6e     shifts rolled over (batch, height): 3 of 4 "neighbour"        **fixed**: (0,1), (1,0),
       products multiply different images                            (1,1), (-1,1), circular
                                                                     within each image (LIVE)
6f     4th shift's eta from the 3rd shift's fit                      **fixed**
6g     alpha from the closed-form small-k approximation              **fixed**: exact inversion
                                                                     of rho (continuous, with
                                                                     implicit-function gradient)
6h     empty AGGD side: sigma = 0.001, r = 0.5                       **fixed**: validity masks,
                                                                     finite fallbacks
7      NaN features set to 0; S_T = X'X/n - mu mu' = 0 for one      **kept**: S_T = 0 (a single
       row; plain matrix inverse                                     row); **fixed**: ``pinv`` of
                                                                     a ridge-regularised S_P
8      penalty 0.1 * mean(NIQE)                                      **kept** (weight in the
                                                                     recipe, 0.1 in the presets)
9      pristine model hard-coded to the CelebA file, fitted with     **fixed**: estimated with
       the LIVE extractor but scored with the QAGAN one              the *same* variant and
                                                                     pooling, which are stored
                                                                     in the model and checked
=====  ===========================================================  ==========================

``'qagan-code'``: the authors' feature code *as written*, every item above kept, bugs included
(so that the published QAGAN-NIQE numbers can be chased; see :func:`qagan_code_features`):
the map cropped to its top-left ``res x res`` at scale 1 (``res`` = the ``res`` argument of the
authors' ``niqe(img, res)``: 32 for CIFAR-10 and for their 64 px CelebA script, 48 for STL-10;
default the map size), MSCN over (variance + 1) with the 3 x 3 window, TF1 legacy
``resize_bilinear`` of the whole map to ``res/2`` at scale 2, batch pooling, bugs 6a-6h, and the
MVG distance with ``S_T = X'X/n - mu mu'`` of the raw features and a plain matrix inverse
(:func:`qagan_code_distance`). Only ``pooling='batch'`` exists for it. Its pristine model is
fitted with the same extractor (item 9 stays fixed: the authors' shipped models were fitted with
the LIVE extractor on Sobel magnitudes).

``'live'``: 7 x 7 window of sigma 7/6 with replicate padding, MSCN = (I - mu) / (sigma + 1)
(:func:`qagen.iqa.naturalness.mscn`), second scale by MATLAB ``imresize(., 0.5)``
(:func:`qagen.iqa.naturalness.imresize_half`); otherwise as ``'qagan'``. ``'qagan-decimate'`` is
``'qagan'`` with the authors' TF1 decimation at scale 2 (item 4 kept too).

Both variants use the continuous shape estimator (the exact root of rho(alpha) = R, smooth in
the input; LIVE's grid value differs by < 0.0005) and run each AGGD fit on the values scaled to
unit RMS, scaling beta back: the fits are scale-equivariant, so this is exact, and it keeps the
absolute gradient epsilon inside ``aggd_fit``'s square roots (1e-12, sized for 0-255 images)
from biasing the gradients of tiny gradient maps.

Both variants keep NIQE's constant C = 1, which was designed for 0-255 images. Critic gradient
maps are small (a 1-Lipschitz critic on 32 x 32 x 3 inputs has per-pixel gradients ~0.02), so
sigma << C and the "MSCN" is in effect the locally mean-subtracted map: alpha stays a shape
feature, while beta scales with the gradient magnitude. This is what the authors' code computes
too (items 2-3 change nothing about that).

Pristine model
--------------
:class:`PristineAccumulator` keeps running float64 sums of the feature rows (shifted by a fixed
reference row, so that ``E[x x'] - mu mu'`` does not cancel) and turns them into a
:class:`qagen.iqa.naturalness.NIQEModel` whose ``variant`` is ``"grad-<variant>-<pooling>"``: a model
is only ever used with the feature extractor it was fitted with. Rows come from
``grad_x D(x_real)`` (``source='critic_gradients'``, the authors' Python route B) or from the
Sobel gradient magnitude of the real images (``'image_gradients'``, their MATLAB route A; note
that its scale differs from that of critic gradients). :class:`NIQEGradientPenalty` bundles the
variant, the accumulator, the model and the ridge, with ``state_dict`` for checkpoints.

Ridge: the penalty uses ``S_P + ridge * diag(S_P)`` (each variance inflated by the factor
``1 + ridge``; diagonal entries below 1e-12 * max are floored there). In the feature scaling of
the model this is ``corr + ridge * I``, whose condition number is at most ``(36 + ridge) / ridge``
(3,601 for the default 0.01), where the authors' shipped models reach 3e5-9e5
(``QAGAN-NIQE/reference_parameter_model/*.mat``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from qagen.color import GRAY_WEIGHTS
from qagen.iqa.naturalness import (
    FEATURE_DIM,
    NIQEModel,
    aggd_fit,
    imresize_half,
    mscn,
    mvg_distance,
)

__all__ = [
    "GradientNIQEVariant",
    "GRADIENT_NIQE_VARIANTS",
    "POOLINGS",
    "GradientNIQEFeatures",
    "gradient_map_features",
    "sobel_magnitude",
    "model_variant_name",
    "regularized_covariance",
    "niqe_gradient_penalty",
    "qagan_code_features",
    "qagan_code_distance",
    "tf1_resize_bilinear",
    "PristineAccumulator",
    "NIQEGradientPenalty",
]

#: LIVE ``computefeature.m`` neighbour shifts (rows, cols): horizontal, vertical, main diagonal,
#: anti-diagonal, applied circularly inside each map.
NEIGHBOUR_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))

#: Epsilon inside sqrt(variance) of the MSCN denominator: sigma = sqrt(|var| + 1e-12). It moves
#: sigma by at most 1e-6 (at var = 0), i.e. the MSCN by < 1e-6 relative with C = 1, and keeps
#: the gradient finite on flat maps.
MSCN_EPS = 1e-12

POOLINGS = ("batch", "image")
SOURCES = ("critic_gradients", "image_gradients")


@dataclass(frozen=True)
class GradientNIQEVariant:
    """A NIQE feature extractor for gradient maps (see the module docstring)."""

    name: str
    window_size: int
    window_sigma: float
    c: float
    padding: str  # "zeros" (TF 'SAME') or "replicate" (MATLAB imfilter)
    downsample: str  # "mean2", "decimate" or "bicubic" (MATLAB imresize 0.5)
    gray: str = "tf"
    shape_estimator: str = "continuous"


#: Named feature variants. ``'qagan-decimate'`` keeps the authors' TF1 bilinear sampling too.
GRADIENT_NIQE_VARIANTS: dict[str, GradientNIQEVariant] = {
    "qagan": GradientNIQEVariant("qagan", 3, 0.5, 1.0, "zeros", "mean2"),
    "qagan-decimate": GradientNIQEVariant("qagan-decimate", 3, 0.5, 1.0, "zeros", "decimate"),
    "live": GradientNIQEVariant("live", 7, 7.0 / 6.0, 1.0, "replicate", "bicubic"),
    "qagan-code": GradientNIQEVariant(
        "qagan-code", 3, 0.5, 1.0, "zeros", "tf1-bilinear", shape_estimator="closed-form"
    ),
}


def _variant(variant: str | GradientNIQEVariant) -> GradientNIQEVariant:
    if isinstance(variant, GradientNIQEVariant):
        return variant
    try:
        return GRADIENT_NIQE_VARIANTS[variant]
    except KeyError:
        raise ValueError(
            f"variant must be one of {sorted(GRADIENT_NIQE_VARIANTS)}, got {variant!r}"
        ) from None


def _check_pooling(pooling: str, variant: GradientNIQEVariant | None = None) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
    if variant is not None and variant.name == "qagan-code" and pooling != "batch":
        raise ValueError(
            "variant 'qagan-code' pools the minibatch as the authors' code does: pooling must "
            f"be 'batch', got {pooling!r}"
        )
    return pooling


def model_variant_name(variant: str | GradientNIQEVariant, pooling: str) -> str:
    """The ``NIQEModel.variant`` string of a gradient-map model: ``"grad-<variant>-<pooling>"``."""
    v = _variant(variant)
    return f"grad-{v.name}-{_check_pooling(pooling, v)}"


# --------------------------------------------------------------------------------------------
# features


def _gray(g: torch.Tensor, gray: str) -> torch.Tensor:
    if g.ndim != 4 or g.shape[1] not in (1, 3):
        raise ValueError(f"grad must be N x 1 x H x W or N x 3 x H x W, got {tuple(g.shape)}")
    if g.shape[1] == 1:
        return g
    w = torch.tensor(GRAY_WEIGHTS[gray], dtype=g.dtype, device=g.device).view(1, 3, 1, 1)
    return (g * w).sum(1, keepdim=True)


def _gauss_kernel_2d(size: int, sigma: float, dtype: torch.dtype, device) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    k = torch.exp(-(t**2) / (2.0 * sigma**2))
    k = k / k.sum()
    return torch.outer(k, k).to(dtype=dtype, device=device).view(1, 1, size, size)


def _mscn_zeros(img: torch.Tensor, size: int, sigma: float, c: float) -> torch.Tensor:
    """MSCN with a Gaussian window and zero 'same' padding (TF 'SAME'; odd ``size``)."""
    k = _gauss_kernel_2d(size, sigma, img.dtype, img.device)
    pad = size // 2
    both = F.conv2d(torch.cat([img, img * img], 0), k, padding=pad)
    mu, e2 = both.split(img.shape[0], 0)
    sd = torch.sqrt((e2 - mu * mu).abs() + MSCN_EPS)
    return (img - mu) / (sd + c)


def _mscn(img: torch.Tensor, v: GradientNIQEVariant) -> torch.Tensor:
    if v.padding == "zeros":
        return _mscn_zeros(img, v.window_size, v.window_sigma, v.c)
    if v.padding == "replicate":
        return mscn(img, v.window_size, v.window_sigma, v.c, snap=False)[0]
    raise ValueError(f"unknown padding {v.padding!r}")


def _downsample(img: torch.Tensor, how: str) -> torch.Tensor:
    if how == "mean2":
        return F.avg_pool2d(img, 2)
    if how == "decimate":
        return img[..., ::2, ::2]
    if how == "bicubic":
        return imresize_half(img)
    raise ValueError(f"unknown downsample {how!r}")


class GradientNIQEFeatures(NamedTuple):
    """Output of :func:`gradient_map_features`."""

    #: R x 36 float64 (R = 1 for ``pooling='batch'``, N for ``'image'``); never NaN.
    features: torch.Tensor
    #: R x 36 bool: False where LIVE NIQE would give NaN (an AGGD side without values).
    valid: torch.Tensor


def _scale_features(
    m: torch.Tensor, pooling: str, shape_estimator: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """18 features of one scale from MSCN maps ``m`` (N x 1 x h x w)."""
    vals = [m] + [m * torch.roll(m, shifts=s, dims=(-2, -1)) for s in NEIGHBOUR_SHIFTS]
    v = torch.stack([t.flatten(1) for t in vals], 1)  # N x 5 x hw
    if pooling == "batch":
        v = v.transpose(0, 1).reshape(1, 5, -1)  # pool every image's values
    # AGGD fits are scale-equivariant (alpha(kv) = alpha(v), beta(kv) = k beta(v)): fit the values
    # scaled to unit RMS and scale beta back. Identical in exact arithmetic (the detached k is a
    # constant of the identity, so gradients are exact too), and it keeps the absolute 1e-12
    # gradient epsilon of aggd_fit's square roots negligible for tiny gradient maps.
    with torch.no_grad():
        ms = v.pow(2).mean(-1, dtype=torch.float64)
        k = torch.where(ms > 0, ms.clamp(min=1e-300).rsqrt(), torch.ones_like(ms))
    alpha, bl, br, vl, vr = aggd_fit(v * k.unsqueeze(-1).to(v.dtype), shape_estimator)
    bl, br = bl / k, br / k  # R x 5 each, float64
    ok = vl & vr
    zero = torch.zeros_like(alpha)
    eta = torch.where(
        ok, (br - bl) * torch.exp(torch.lgamma(2.0 / alpha) - torch.lgamma(1.0 / alpha)), zero
    )
    feats = [alpha[:, 0], torch.where(ok[:, 0], (bl[:, 0] + br[:, 0]) / 2.0, zero[:, 0])]
    valid = [torch.ones_like(ok[:, 0]), ok[:, 0]]
    for i in range(1, 5):
        feats += [alpha[:, i], eta[:, i], bl[:, i], br[:, i]]
        valid += [torch.ones_like(ok[:, i]), ok[:, i], vl[:, i], vr[:, i]]
    return torch.stack(feats, -1), torch.stack(valid, -1)


def gradient_map_features(
    grad: torch.Tensor,
    variant: str | GradientNIQEVariant = "qagan",
    pooling: str = "batch",
    res: int | None = None,
) -> GradientNIQEFeatures:
    """The 36 NIQE features of gradient maps, per batch (``pooling='batch'``) or per image.

    ``grad``: N x 3 x H x W (converted to grey with the variant's weights, TF by default) or
    N x 1 x H x W, H and W even; any scale (no range check: gradients are not images). Per scale
    (the map, then its half-size version): MSCN with the variant's window, then the AGGD fit of
    the MSCN values -> [alpha, (beta_l + beta_r) / 2], and of the products with the (0,1),
    (1,0), (1,1), (-1,1) circular neighbours -> [alpha, eta, beta_l, beta_r] with
    eta = (beta_r - beta_l) G(2/alpha) / G(1/alpha) (LIVE ``computefeature.m``; fits by
    :func:`qagen.iqa.naturalness.aggd_fit` with the continuous shape estimator). ``'batch'`` pools the
    values of all N maps into each fit (the authors' code, item 5 of the module docstring);
    ``'image'`` fits each map alone. Differentiable with respect to ``grad`` (first order).
    ``'qagan-code'`` is :func:`qagan_code_features` (``res`` is its crop size; other variants
    ignore it).
    """
    v = _variant(variant)
    _check_pooling(pooling, v)
    if not isinstance(grad, torch.Tensor) or not grad.is_floating_point():
        raise TypeError("grad must be a floating-point tensor")
    if v.name == "qagan-code":
        feats = qagan_code_features(grad, res)
        return GradientNIQEFeatures(feats, torch.isfinite(feats))
    g = _gray(grad, v.gray)
    if g.shape[0] == 0 or g.shape[-1] < 4 or g.shape[-2] < 4:
        raise ValueError(f"grad must hold at least one map of >= 4 x 4, got {tuple(grad.shape)}")
    if v.downsample != "decimate" and (g.shape[-1] % 2 or g.shape[-2] % 2):
        raise ValueError(f"grad maps must have even height and width, got {tuple(g.shape[-2:])}")
    f1, v1 = _scale_features(_mscn(g, v), pooling, v.shape_estimator)
    f2, v2 = _scale_features(_mscn(_downsample(g, v.downsample), v), pooling, v.shape_estimator)
    return GradientNIQEFeatures(torch.cat([f1, f2], -1), torch.cat([v1, v2], -1))


def sobel_magnitude(images: torch.Tensor, gray: str = "tf") -> torch.Tensor:
    """Sobel gradient magnitude of grey images, N x 1 x H x W (MATLAB ``imgradient(I, 'sobel')``
    with replicate borders): sqrt(Gx^2 + Gy^2), Gx = [[-1 0 1], [-2 0 2], [-1 0 1]] * I.
    The input of the authors' MATLAB pristine-model route (``parameter_model_estimation.m``)."""
    g = _gray(images, gray)
    kx = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=g.dtype, device=g.device
    )
    k = torch.stack([kx, kx.T]).unsqueeze(1)
    d = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), k)
    return torch.sqrt(d.pow(2).sum(1, keepdim=True) + MSCN_EPS)


# --------------------------------------------------------------------------------------------
# the authors' feature code, bugs included ('qagan-code')


def tf1_resize_bilinear(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TensorFlow 1 ``tf.image.resize_bilinear(img, size)`` with its defaults
    (``align_corners=False``, no half-pixel centres): output pixel ``(i, j)`` samples the input
    at ``(i * H / h, j * W / w)`` by bilinear interpolation, the neighbour index clamped to the
    last row/column. For a factor of 2 (or any integer factor) this is plain decimation
    ``img[..., ::f, ::f]``, aliased. ``img``: ``... x H x W``."""
    h_in, w_in = img.shape[-2:]
    h, w = int(size[0]), int(size[1])

    def axis(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
        lo = pos.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (pos - lo.double()).to(img.dtype)

    y0, y1, dy = axis(h, h_in)
    x0, x1, dx = axis(w, w_in)
    dev = img.device
    y0, y1, dy, x0, x1, dx = (t.to(dev) for t in (y0, y1, dy, x0, x1, dx))
    top = img[..., y0, :] * (1 - dy)[:, None] + img[..., y1, :] * dy[:, None]
    return top[..., x0] * (1 - dx) + top[..., x1] * dx


def _code_mscn(img: torch.Tensor) -> torch.Tensor:
    """``mscn_function`` of the authors' code: 3 x 3 Gaussian (sigma 0.5, offsets -1..1,
    normalised), zero 'SAME' padding, ``(x - mu) / (E[x^2] - mu^2 + 1)`` (item 3: the variance,
    not the standard deviation, and no absolute value)."""
    k = _gauss_kernel_2d(3, 0.5, img.dtype, img.device)
    both = F.conv2d(torch.cat([img, img * img], 0), k, padding=1)
    mu, e2 = both.split(img.shape[0], 0)
    return (img - mu) / (e2 - mu * mu + 1.0)


def _gamma_ratio(num: float, alpha: torch.Tensor) -> torch.Tensor:
    """``exp(lgamma(num / a)) / exp(lgamma(1 / a))`` as the code writes it (overflowing to
    inf/inf = NaN in float32 for shape values below ~0.08, as in TensorFlow)."""
    return torch.exp(torch.lgamma(num / alpha)) / torch.exp(torch.lgamma(1.0 / alpha))


def _code_aggd(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``estimate_aggd_params`` of the authors' code on all values of ``x`` (the pooled batch).

    Returns ``(alpha, beta_right, beta_left)`` *in that order* (item 6d: the callers unpack it as
    ``(alpha, beta_left, beta_right)``). Items: 6a ``sigma = sqrt(1/(n-1)) * sum(v^2)`` over each
    side (``n = 1`` gives inf), 6h an empty side gives ``sigma = 0.001`` and an all-zero input
    ``r = 0.5`` (the ``if stddev == 0`` on a tensor never fires), ``r = mean|x|^2 / mean(x^2)``
    over all values, 6g ``alpha = 2 ln(27/16) / ln(3 / (4 R^2))`` (the closed-form small-k branch
    of ``generalized_gaussian_ratio_inverse``, the only one returned), 6b
    ``beta = sigma * G(3/alpha) / G(1/alpha)``.
    """
    v = x.reshape(-1)
    neg, pos = v < 0, v > 0
    n_l, n_r = int(neg.sum()), int(pos.sum())

    def side(mask: torch.Tensor, n: int) -> torch.Tensor:
        if n == 0:
            return torch.full((), 0.001, dtype=v.dtype, device=v.device)
        scale = math.sqrt(1.0 / (n - 1)) if n > 1 else math.inf
        return scale * (v * v * mask).sum()

    sigma_l, sigma_r = side(neg, n_l), side(pos, n_r)
    if n_l + n_r == 0:
        r_hat = torch.full((), 0.5, dtype=v.dtype, device=v.device)
    else:
        r_hat = v.abs().mean().pow(2) / v.pow(2).mean()
    g = sigma_l / sigma_r
    big_r = r_hat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = 2.0 * math.log(27.0 / 16.0) / torch.log(3.0 / (4.0 * big_r**2))
    ratio = _gamma_ratio(3.0, alpha)
    return alpha, sigma_r * ratio, sigma_l * ratio


def _code_block_features(block: torch.Tensor) -> list[torch.Tensor]:
    """``compute_features`` of the authors' code on a block ``N x h x w`` (the pooled batch).

    Items 6c (``eta`` with ``G(3/a)/G(1/a)``), 6d (left/right swapped by the unpacking), 6e (the
    shifts ``(0,1), (1,1), (1,0), (1,-1)`` rolled over the axes (batch, height): only the first
    product pairs vertical neighbours of one image, the others multiply different images) and 6f
    (the 4th ``eta`` from the 3rd fit's parameters).
    """
    alpha, beta_l, beta_r = _code_aggd(block)  # names as in the code: the values are swapped
    feats = [alpha, (beta_l + beta_r) / 2]
    for shift in ((0, 1), (1, 1), (1, 0)):
        alpha, beta_l, beta_r = _code_aggd(block * torch.roll(block, shift, dims=(0, 1)))
        eta = (beta_r - beta_l) * _gamma_ratio(3.0, alpha)
        feats += [alpha, eta, beta_l, beta_r]
    eta = (beta_r - beta_l) * _gamma_ratio(3.0, alpha)  # 6f: the previous shift's parameters
    alpha, beta_l, beta_r = _code_aggd(block * torch.roll(block, (1, -1), dims=(0, 1)))
    feats += [alpha, eta, beta_l, beta_r]
    return feats


def qagan_code_features(grad: torch.Tensor, res: int | None = None) -> torch.Tensor:
    """The 36 features of the authors' ``NIQE_penalty.py`` ``niqe(img, res)``, bugs included.

    ``grad``: N x 3 x H x W critic gradients (TF ``rgb_to_grayscale`` weights 0.2989, 0.5870,
    0.1140) or N x 1 x H x W grey maps. Scale 1: MSCN of the whole map (:func:`_code_mscn`), then
    its top-left ``res x res`` block (item 1; ``res`` defaults to H). Scale 2: the whole grey map
    resized to ``res/2 x res/2`` with TF1 ``resize_bilinear`` (item 4,
    :func:`tf1_resize_bilinear`), its MSCN, one block. Each block gives the 18 features of
    :func:`_code_block_features` from the values of all N maps pooled (item 5). Returns a
    1 x 36 tensor in the input dtype (NaN/Inf where the code gives them), differentiable.
    """
    g = _gray(grad, "tf")
    n, _, h, w = g.shape
    res = int(h if res is None else res)
    if res < 4 or res > min(h, w):
        raise ValueError(f"res must lie in [4, {min(h, w)}] for {h} x {w} maps, got {res}")
    half = int(res / 2)
    s1 = _code_mscn(g)[:, 0, :res, :res]
    s2 = _code_mscn(tf1_resize_bilinear(g, (half, half)))[:, 0]
    return torch.stack(_code_block_features(s1) + _code_block_features(s2)).unsqueeze(0)


def qagan_code_distance(
    mu_p: torch.Tensor, cov_p: torch.Tensor, feats: torch.Tensor
) -> torch.Tensor:
    """The authors' MVG distance (items 7-8), one value per call.

    ``mu_T`` = mean over the rows of ``feats`` with NaN set to 0; ``S_T = X'X/n - mu_T' mu_T``
    with ``X`` the raw rows (NaN propagates; exactly 0 for a single finite row);
    ``sqrt((mu_P - mu_T) inv((S_T + S_P) / 2) (mu_P - mu_T)')`` with a plain matrix inverse
    (no pseudo-inverse, no clamping: a non-positive quadratic form gives NaN). float64.
    """
    x = feats.to(torch.float64).reshape(-1, feats.shape[-1])
    mu_t = torch.nan_to_num(x, nan=0.0).mean(0, keepdim=True)
    cov_t = x.T @ x / x.shape[0] - mu_t.T @ mu_t
    d = mu_p.to(x).reshape(1, -1) - mu_t
    inv = torch.linalg.inv((cov_t + cov_p.to(x)) / 2.0)
    return torch.sqrt(d @ inv @ d.T).reshape(())


# --------------------------------------------------------------------------------------------
# penalty


def regularized_covariance(cov: torch.Tensor, ridge: float) -> torch.Tensor:
    """``cov + ridge * diag(max(cov_ii, 1e-12 max_j cov_jj))``: every variance inflated by the
    factor ``1 + ridge`` (scale-free per feature). ``ridge = 0`` returns ``cov``."""
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    if ridge == 0:
        return cov
    d = torch.diagonal(cov, dim1=-2, dim2=-1)
    floor = 1e-12 * d.amax(-1, keepdim=True).clamp(min=1e-300)
    return cov + ridge * torch.diag_embed(torch.maximum(d, floor))


def _check_model(model: NIQEModel, expected: str) -> None:
    if not isinstance(model, NIQEModel):
        raise TypeError(
            f"model must be a qagen.iqa.naturalness.NIQEModel, got {type(model).__name__}"
        )
    if model.variant != expected:
        raise ValueError(
            f"the pristine model has feature variant {model.variant!r}, but the penalty computes "
            f"{expected!r} features; fit the model with the same variant and pooling"
        )


def niqe_gradient_penalty(
    grad: torch.Tensor,
    model: NIQEModel,
    *,
    variant: str | GradientNIQEVariant = "qagan",
    pooling: str = "batch",
    ridge: float = 0.01,
    reduction: str = "mean",
    res: int | None = None,
) -> torch.Tensor:
    """QAGAN NIQE penalty ``E[ ||(f(grad) | mu_P, S_P)||_NIQE ]`` (QAGAN-NIQE; one-sided).

    ``f`` = :func:`gradient_map_features` (``variant``, ``pooling``), ``grad`` the critic gradient
    at the interpolates (``GradientPenaltyTerms.grad``, with graph). Each feature row is scored
    with :func:`qagen.iqa.naturalness.mvg_distance` against the pristine model (``pinv`` of
    ``(S_P' + S_T) / 2`` with ``S_T = 0``, as a single row has no covariance, and ``S_P'`` =
    :func:`regularized_covariance` of the model's covariance). ``model.variant`` must be
    :func:`model_variant_name` (``variant``, ``pooling``). ``reduction``: ``'mean'`` (a scalar)
    or ``'none'`` (one value per row: 1 row for ``'batch'``, N for ``'image'``). float64 result
    (cast it to the loss dtype). With ``variant='qagan-code'`` the features are
    :func:`qagan_code_features` (crop ``res``) and the distance :func:`qagan_code_distance`
    (the authors' plain inverse; ``ridge`` still applies to ``S_P``, 0 reproduces the code).
    """
    _check_model(model, model_variant_name(variant, pooling))
    feats = gradient_map_features(grad, variant, pooling, res).features
    mu = model.mu.to(feats.device)
    cov = regularized_covariance(model.cov.to(feats.device), ridge)
    if _variant(variant).name == "qagan-code":
        dist = qagan_code_distance(mu, cov, feats).reshape(1)
    else:
        dist = mvg_distance(mu, cov, feats, torch.zeros_like(cov))
    if reduction == "none":
        return dist
    if reduction == "mean":
        return dist.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


# --------------------------------------------------------------------------------------------
# pristine model


class PristineAccumulator:
    """Running float64 mean/covariance of feature rows, mergeable across ranks.

    Sums are kept relative to a fixed reference row ``shift`` (the mean of the first rows), so
    ``cov = (sum dd' - s s' / n) / (n - 1)`` (``d = x - shift``, ``s = sum d``) does not cancel.
    ``update(rows, reduce_sum)``: ``reduce_sum`` sums a tensor over ranks (identity when
    single-process), so every rank holds the same sums. Rows with an invalid entry are skipped.
    The result equals ``mean`` and ``cov`` (normaliser n - 1, as MATLAB ``cov``) of the stacked
    valid rows.
    """

    def __init__(self, dim: int = FEATURE_DIM) -> None:
        self.dim = dim
        self.reset()

    def reset(self) -> None:
        """Forget every row (the reference row too)."""
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.s = torch.zeros(self.dim, dtype=torch.float64)
        self.ss = torch.zeros(self.dim, self.dim, dtype=torch.float64)

    @torch.no_grad()
    def update(
        self,
        rows: torch.Tensor,
        valid: torch.Tensor | None = None,
        reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Add the rows (R x D) whose entries are all valid; ``reduce_sum`` merges ranks."""
        rows = rows.detach().to("cpu", torch.float64)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"rows must be R x {self.dim}, got {tuple(rows.shape)}")
        keep = (
            valid.detach().to("cpu").all(-1)
            if valid is not None
            else torch.ones(rows.shape[0], dtype=torch.bool)
        )
        keep &= torch.isfinite(rows).all(-1)
        x = rows[keep]
        if self.shift is None:
            head = torch.cat([x.sum(0), torch.tensor([float(x.shape[0])], dtype=torch.float64)])
            head = reduce_sum(head) if reduce_sum is not None else head
            if float(head[-1]) == 0:
                return
            self.shift = head[:-1] / head[-1]
        d = x - self.shift
        pack = torch.cat(
            [torch.tensor([float(x.shape[0])], dtype=torch.float64), d.sum(0), (d.T @ d).flatten()]
        )
        if reduce_sum is not None:
            pack = reduce_sum(pack)
        self.n += int(round(float(pack[0])))
        self.s += pack[1 : 1 + self.dim]
        self.ss += pack[1 + self.dim :].view(self.dim, self.dim)

    def mean_cov(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, cov)`` of the rows so far (float64); needs at least 2 rows."""
        if self.n < 2 or self.shift is None:
            raise ValueError(
                f"the pristine model needs at least 2 valid feature rows, got {self.n}; "
                "accumulate more batches before switching the NIQE penalty on"
            )
        m = self.s / self.n
        cov = (self.ss - self.n * torch.outer(m, m)) / (self.n - 1)
        return self.shift + m, (cov + cov.T) / 2.0

    def state_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "shift": self.shift.clone() if self.shift is not None else None,
            "s": self.s.clone(),
            "ss": self.ss.clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.n = int(state["n"])
        shift = state["shift"]
        self.shift = None if shift is None else shift.to("cpu", torch.float64).clone()
        self.s = state["s"].to("cpu", torch.float64).clone()
        self.ss = state["ss"].to("cpu", torch.float64).clone()


class NIQEGradientPenalty:
    """NIQE penalty on critic gradient maps with its pristine model (used by the QAGAN recipes).

    ``variant``/``pooling``: see :func:`gradient_map_features`; ``ridge``: see
    :func:`regularized_covariance`; ``res``: the crop size of ``'qagan-code'`` (``None`` or 0:
    the whole map; :func:`qagan_code_features`). Feed rows during a warm-up with :meth:`accumulate`
    (gradient maps of real images), then :meth:`fit` turns the accumulated statistics into the
    pristine model; or :meth:`set_model` / :meth:`load_model` use a saved model of the same
    variant. :meth:`__call__` is :func:`niqe_gradient_penalty`. :meth:`state_dict` holds the
    model and the accumulator (tensors and primitives only).
    """

    def __init__(
        self,
        variant: str = "qagan",
        pooling: str = "batch",
        ridge: float = 0.01,
        res: int | None = None,
    ) -> None:
        self.variant = _variant(variant)
        self.pooling = _check_pooling(pooling, self.variant)
        self.res = None if res is None or res == 0 else int(res)
        if not (isinstance(ridge, (int, float)) and ridge >= 0 and math.isfinite(ridge)):
            raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
        self.ridge = float(ridge)
        self.key = model_variant_name(self.variant, pooling)
        self.accumulator = PristineAccumulator()
        self.model: NIQEModel | None = None
        self.resolution = 0

    # -- features and model
    def features(self, grad: torch.Tensor) -> GradientNIQEFeatures:
        return gradient_map_features(grad, self.variant, self.pooling, self.res)

    @torch.no_grad()
    def accumulate(
        self,
        grad: torch.Tensor,
        reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Add the feature rows of the gradient maps ``grad`` (of real images) to the statistics."""
        f = self.features(grad.detach())
        self.resolution = int(grad.shape[-1])
        self.accumulator.update(f.features, f.valid, reduce_sum)

    def fit(self, source: str = "critic_gradients", reset: bool = True) -> NIQEModel:
        """Pristine model from the accumulated rows (then the accumulator restarts if ``reset``)."""
        mu, cov = self.accumulator.mean_cov()
        model = NIQEModel(mu, cov, self.key, self.resolution, self.accumulator.n, source)
        self.model = model
        if reset:
            self.accumulator.reset()
        return model

    def set_model(self, model: NIQEModel) -> None:
        _check_model(model, self.key)
        self.model = model

    def load_model(self, path: str) -> NIQEModel:
        """Read a model file written by ``NIQEModel.save`` (its variant must match)."""
        model = NIQEModel.load(path)
        self.set_model(model)
        return model

    @property
    def ready(self) -> bool:
        return self.model is not None

    def __call__(self, grad: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if self.model is None:
            raise RuntimeError("the NIQE penalty has no pristine model yet (accumulate, then fit)")
        return niqe_gradient_penalty(
            grad,
            self.model,
            variant=self.variant,
            pooling=self.pooling,
            ridge=self.ridge,
            reduction=reduction,
            res=self.res,
        )

    # -- checkpoints
    def state_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "key": self.key,
            "resolution": self.resolution,
            "accumulator": self.accumulator.state_dict(),
            "model": None
            if m is None
            else {
                "mu": m.mu.clone(),
                "cov": m.cov.clone(),
                "variant": m.variant,
                "block_size": m.block_size,
                "n_blocks": m.n_blocks,
                "source": m.source,
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["key"] != self.key:
            raise ValueError(
                f"the checkpoint's NIQE penalty uses {state['key']!r} features, this run "
                f"{self.key!r}"
            )
        self.resolution = int(state["resolution"])
        self.accumulator.load_state_dict(state["accumulator"])
        m = state["model"]
        self.model = (
            None
            if m is None
            else NIQEModel(
                m["mu"], m["cov"], m["variant"], m["block_size"], m["n_blocks"], m["source"]
            )
        )
