"""SSIM, its component maps, the SSIM distance d_Q, and MS-SSIM.

References
----------
* Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural
  similarity", IEEE TIP 2004. Defaults reproduce ``ssim_index.m`` (2004): 11x11 Gaussian window
  sigma 1.5, K1 = 0.01, K2 = 0.03, L = data_range, 'valid' filtering, mean pooling.
  ``downsample=True`` reproduces ``ssim.m`` (2009): f = max(1, round(min(H, W)/256)),
  'symmetric' f x f box filter, then every f-th pixel.
* Wang, Simoncelli, Bovik, "Multi-scale structural similarity", Asilomar 2003 (``msssim.m``):
  5 scales, weights [0.0448, 0.2856, 0.3001, 0.2363, 0.1333], 2x2 'symmetric' box downsampling.
* Brunet, Vrscay, Wang, "On the mathematical properties of the structural similarity index",
  IEEE TIP 2012: d_Q = sqrt(2 - L - CS) (with C3 = C2/2) is a normalised metric.

Maps: L = (2 mu_x mu_y + C1)/(mu_x^2 + mu_y^2 + C1), CS = (2 s_xy + C2)/(s_x^2 + s_y^2 + C2),
SSIM = L * CS, with Gaussian-weighted (biased) local moments.

Tested against the MATLAB values of ``../shared/data`` (float64, data_range=255) within 1e-4
absolute, and against pytorch-msssim, torchmetrics and scikit-image.
"""

from __future__ import annotations

import torch

from qagen._checks import check_choice, check_pair, reduce
from qagen.color import GRAY_WEIGHTS, to_gray
from qagen.filters import (
    PAD_MODES,
    _cached,
    box_downsample_symmetric,
    gaussian_kernel_1d,
    matlab_scale_factor,
    separable_filter,
)

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
GRAY_OPTIONS = (*GRAY_WEIGHTS, "per_channel")

#: Epsilon inside the square root of d_Q (and clamp of 2 - L - CS at 0): keeps the gradient
#: finite for identical images, where 2 - L - CS = 0 exactly. Moves d_Q by at most 1e-4.
DQ_EPS = 1e-8


def _paper_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """QAGAN code's 8-tap Gaussian (sigma 1.5) sampled at integer offsets -3..+4, normalised."""

    def build() -> torch.Tensor:
        t = torch.arange(-3, 5, dtype=torch.float64)
        g = torch.exp(-(t**2) / (2 * 1.5**2))
        return (g / g.sum()).to(dtype=dtype, device=device)

    return _cached(("qagan_window", dtype, device), build)


def _prepare(x: torch.Tensor, gray: str, data_range: float) -> torch.Tensor:
    if gray == "per_channel":
        return x
    return to_gray(x, gray=gray, data_range=data_range)


def _lcs_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    kernel: torch.Tensor,
    c1: float,
    c2: float,
    padding: str = "valid",
    pad_mode: str = "replicate",
    cs_extra: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance and contrast-structure maps with one grouped filtering of [x, y, x^2, y^2, xy]."""
    c = x.shape[1]
    stats = separable_filter(
        torch.cat([x, y, x * x, y * y, x * y], dim=1), kernel, padding, pad_mode
    )
    mu_x, mu_y, exx, eyy, exy = stats.split(c, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    s_xx, s_yy, s_xy = exx - mu_xx, eyy - mu_yy, exy - mu_xy
    lum = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1)
    cs = (2 * s_xy + c2) / (s_xx + s_yy + c2 + cs_extra)
    return lum, cs


def _ssim_setup(
    x, y, data_range, win_size, sigma, gray, downsample, padding, pad_mode, metric, min_size=None
):
    data_range = check_pair(
        x,
        y,
        data_range=data_range,
        metric=metric,
        min_size=win_size if min_size is None else min_size,
    )
    check_choice(gray, "gray", GRAY_OPTIONS)
    check_choice(padding, "padding", ("valid", "same"))
    check_choice(pad_mode, "pad_mode", PAD_MODES)
    if win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"{metric}: win_size must be a positive odd integer, got {win_size}")
    x, y = _prepare(x, gray, data_range), _prepare(y, gray, data_range)
    if downsample:
        f = matlab_scale_factor(*x.shape[-2:])
        x, y = box_downsample_symmetric(x, f), box_downsample_symmetric(y, f)
        if padding == "valid" and min(x.shape[-2:]) < win_size:
            raise ValueError(
                f"{metric}: after downsampling by {f} the image is smaller than win_size={win_size}"
            )
    return data_range, x, y


def ssim_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    downsample: bool = False,
    padding: str = "valid",
    pad_mode: str = "replicate",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the (SSIM, luminance L, contrast-structure CS) maps, each ``N x C' x H' x W'``.

    Grey input is used as given; RGB is converted with ``gray`` (see :mod:`qagen.color`; default
    "y" = 0.299 R + 0.587 G + 0.114 B), or ``gray="per_channel"`` keeps the three channels (piq's
    convention). ``padding="valid"`` gives (H - win + 1) x (W - win + 1) maps (MATLAB parity);
    ``"same"`` pads with ``pad_mode`` so maps align with the input pixels.
    """
    data_range, x, y = _ssim_setup(
        x, y, data_range, win_size, sigma, gray, downsample, padding, pad_mode, "ssim_maps"
    )
    kernel = gaussian_kernel_1d(win_size, sigma, x.dtype, x.device)
    lum, cs = _lcs_maps(
        x, y, kernel, (k1 * data_range) ** 2, (k2 * data_range) ** 2, padding, pad_mode
    )
    return lum * cs, lum, cs


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    downsample: bool = False,
    padding: str = "valid",
    pad_mode: str = "replicate",
) -> torch.Tensor:
    """SSIM per image (higher is better, 1 for identical images).

    Defaults reproduce Wang et al.'s 2004 ``ssim_index.m``; ``downsample=True`` reproduces the
    2009 ``ssim.m``. SSIM = mean over the map of L * CS (module docstring). Parity with MATLAB:
    1e-4 absolute in float64 (tests), float32 within 1e-4 relative of float64.
    """
    s, _, _ = ssim_maps(
        x, y, data_range, win_size=win_size, sigma=sigma, k1=k1, k2=k2, gray=gray,
        downsample=downsample, padding=padding, pad_mode=pad_mode,
    )  # fmt: skip
    return reduce(s.mean(dim=(1, 2, 3)), reduction)


def _dq_pool(
    dmap_sq: torch.Tensor, pooling: str, eps: float, clamp: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if clamp:
        dmap_sq = dmap_sq.clamp_min(0.0)
    dmap = torch.sqrt(dmap_sq + eps)
    if pooling == "mean_of_sqrt_map":
        return dmap.mean(dim=(1, 2, 3)), dmap
    return torch.sqrt(dmap_sq.mean(dim=(1, 2, 3)) + eps), dmap


def ssim_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    variant: str = "standard",
    pooling: str = "mean_of_sqrt_map",
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    padding: str = "valid",
    pad_mode: str = "replicate",
    eps: float = DQ_EPS,
    return_map: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """SSIM distance d_Q = sqrt(2 - L - CS) (Brunet et al. 2012), pooled per image.

    ``pooling="mean_of_sqrt_map"`` (QAGAN code) is the spatial mean of the per-window distance;
    ``"sqrt_of_mean"`` is sqrt(mean(2 - L - CS)) (Brunet et al.'s l2 pooling). With
    ``return_map=True`` returns ``(values [N], map N x 1 x H' x W')``.

    ``variant="standard"``: the window and constants of :func:`ssim`, 2 - L - CS clamped at 0 and
    ``eps`` inside the square root (finite gradients for identical images).
    ``variant="paper"``: QAGAN's code (REFERENCE 3.2.2): inputs in [-1, 1] (``data_range`` must be
    2), grey with TensorFlow's weights (0.2989, 0.5870, 0.1140), 8-tap Gaussian at integer offsets
    -3..+4 with zero 'same' padding (3 before, 4 after), +0.01 in the CS denominator and no
    clamp; ``eps`` is still added inside the square root (the code has none) so that the
    gradient stays finite.
    """
    check_choice(variant, "variant", ("standard", "paper"))
    check_choice(pooling, "pooling", ("mean_of_sqrt_map", "sqrt_of_mean"))
    if variant == "paper":
        if float(data_range) != 2.0:
            raise ValueError(
                f"ssim_distance(variant='paper') expects images in [-1, 1] with data_range=2, got {data_range}"
            )
        check_pair(x, y, data_range=2.0, metric="ssim_distance", min_size=1, low=-1.0)
        if x.shape[1] == 3:
            x, y = to_gray(x, "tf"), to_gray(y, "tf")
        kernel = _paper_window(x.dtype, x.device)
        lum, cs = _lcs_maps(
            x, y, kernel, (0.01 * 2) ** 2, (0.03 * 2) ** 2, "same", "zeros", cs_extra=0.01
        )
        values, dmap = _dq_pool(2.0 - lum - cs, pooling, eps, clamp=False)
    else:
        data_range, x, y = _ssim_setup(
            x, y, data_range, win_size, sigma, gray, False, padding, pad_mode, "ssim_distance"
        )
        kernel = gaussian_kernel_1d(win_size, sigma, x.dtype, x.device)
        lum, cs = _lcs_maps(
            x, y, kernel, (k1 * data_range) ** 2, (k2 * data_range) ** 2, padding, pad_mode
        )
        values, dmap = _dq_pool(2.0 - lum - cs, pooling, eps, clamp=True)
    values = reduce(values, reduction)
    return (values, dmap) if return_map else values


def _safe_pow(v: torch.Tensor, w: float, negative: str) -> torch.Tensor:
    """v ** w for the MS-SSIM product with the chosen handling of v <= 0.

    "relu": max(v, 0) ** w (piq/pytorch-msssim parity) computed with a double ``where`` so that the
    gradient at v <= 0 is 0 instead of NaN; "clamp": max(v, 1e-4) ** w (loss form of
    jorge-pessoa/pytorch-msssim #2); "normalize": ((v + 1) / 2) ** w.
    """
    if negative == "normalize":
        return ((v + 1.0) / 2.0) ** w
    if negative == "clamp":
        return v.clamp_min(1e-4) ** w
    pos = v > 0
    safe = torch.where(pos, v, torch.ones_like(v))
    return torch.where(pos, safe**w, torch.zeros_like(v))


def ms_ssim_min_size(scales: int = 5, win_size: int = 11) -> int:
    """Smallest side for which the coarsest of ``scales`` scales still fits the window."""
    return (win_size - 1) * 2 ** (scales - 1) + 1


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    *,
    scales: int = 5,
    weights: tuple[float, ...] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    negative: str = "relu",
) -> torch.Tensor:
    """MS-SSIM (Wang et al. 2003, ``msssim.m``): ssim_M^{w_M} * prod_{j<M} cs_j^{w_j}.

    cs_j is the mean CS map at scale j, ssim_M the mean SSIM map at the coarsest scale (not
    mean(L) * mean(CS)); between scales a 2x2 'symmetric' box filter keeps every second pixel.
    Needs min(H, W) >= (win_size - 1) * 2^(scales - 1) + 1 (161 for the default 5 scales), else
    a ValueError gives the minimum. ``scales < 5`` uses the first ``scales`` weights renormalised
    to sum 1 (not the original algorithm; documented). ``negative`` handles cs <= 0: see
    :func:`_safe_pow`. Reproduces ``msssim.m`` within 1e-4 (tests, float64, data_range=255).
    """
    if not isinstance(scales, int) or not 1 <= scales <= 5 and weights is None:
        raise ValueError(
            f"ms_ssim: scales must be an integer in 1..5 (or give weights), got {scales}"
        )
    if weights is None:
        w = MS_SSIM_WEIGHTS[:scales]
        w = tuple(v / sum(w) for v in w) if scales < 5 else w
    else:
        w = tuple(float(v) for v in weights)
        if len(w) != scales:
            raise ValueError(
                f"ms_ssim: weights must have {scales} entries (one per scale), got {len(w)}"
            )
    check_choice(negative, "negative", ("relu", "clamp", "normalize"))
    min_size = ms_ssim_min_size(scales, win_size)
    data_range, x, y = _ssim_setup(
        x,
        y,
        data_range,
        win_size,
        sigma,
        gray,
        False,
        "valid",
        "replicate",
        "ms_ssim",
        min_size=min_size,
    )
    kernel = gaussian_kernel_1d(win_size, sigma, x.dtype, x.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    out = None
    for j in range(scales):
        lum, cs = _lcs_maps(x, y, kernel, c1, c2)
        if j < scales - 1:
            v = cs.mean(dim=(1, 2, 3))
            x, y = box_downsample_symmetric(x, 2), box_downsample_symmetric(y, 2)
        else:
            v = (lum * cs).mean(dim=(1, 2, 3))
        term = _safe_pow(v, w[j], negative)
        out = term if out is None else out * term
    return reduce(out, reduction)


#: Below this value a map pixel's power v^w is replaced by its chord through 0 and eps^w (the
#: slope of v^w is unbounded at 0; the chord keeps the gradient finite). Moves no value >= eps.
MAP_POW_EPS = 1e-6


def _map_pow(v: torch.Tensor, w: float, negative: str) -> torch.Tensor:
    """Per-pixel ``v ** w`` for :func:`ms_ssim_map`: ``"relu"`` maps v <= 0 to 0 (values in
    (0, MAP_POW_EPS) follow the chord from 0 to MAP_POW_EPS^w, so the gradient stays finite);
    ``"clamp"`` and ``"normalize"`` as in :func:`ms_ssim`."""
    if negative != "relu":
        return _safe_pow(v, w, negative)
    eps = MAP_POW_EPS
    above = v.clamp_min(eps) ** w
    ramp = v.clamp(0.0, eps) * (eps ** (w - 1.0))
    return torch.where(v > eps, above, ramp)


def ms_ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    *,
    scales: int = 5,
    weights: tuple[float, ...] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    gray: str = "y",
    pad_mode: str = "replicate",
    negative: str = "relu",
) -> torch.Tensor:
    """Per-pixel multi-scale SSIM map, ``N x C' x H x W`` (not part of Wang et al.'s algorithm).

    ``map(p) = [up(L_M CS_M)](p)^{w_M} * prod_{j<M} [up(CS_j)](p)^{w_j}`` (REFERENCE 1.2's
    per-pixel form of ``msssim.m``, Wang, Simoncelli, Bovik 2003): at scale j the luminance L_j
    and contrast-structure CS_j maps of :func:`ssim_maps` are computed with **'same' padding**
    (``pad_mode``, replicate by default; 11x11 Gaussian window, sigma 1.5, K = (0.01, 0.03)), so
    every scale keeps a map however small the image; between scales the images go through
    ``msssim.m``'s 2x2 'symmetric' box filter keeping every second pixel; each scale's map is
    brought back to H x W by bilinear interpolation (half-pixel centres), then raised to its
    exponent, the MS-SSIM weights ``w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)`` (``scales <
    5``: the first ``scales`` weights renormalised to sum 1, as :func:`ms_ssim`). ``negative``
    handles values <= 0 before the powers: ``"relu"`` (default) gives 0 there (see
    :data:`MAP_POW_EPS`), ``"clamp"`` uses max(v, 1e-4), ``"normalize"`` (v + 1) / 2.

    Identical images give a map of ones (L = CS = 1 at every scale). Because of the 'same'
    padding this works for 32 and 64 px images (the 'valid' MS-SSIM needs 161 px); the image
    must have at least ``2^(scales-1)`` pixels per side so that the coarsest scale has one.
    Relation to :func:`ms_ssim`: by Hoelder's inequality (the weights sum to 1) the mean of the
    map is at most the MS-SSIM computed from the same 'same'-padded scale maps,
    ``mean(map) <= (mean L_M CS_M)^{w_M} prod_j (mean CS_j)^{w_j}`` (equality for constant
    maps); see ``docs/metrics.md`` for how far it lies from ``msssim.m``'s value.
    Differentiable (finite gradients, identical images included).
    """
    if (
        isinstance(scales, bool)
        or not isinstance(scales, int)
        or scales < 1
        or (weights is None and scales > 5)
    ):
        raise ValueError(
            f"ms_ssim_map: scales must be an integer in 1..5 (or >= 1 with weights), got {scales!r}"
        )
    if weights is None:
        w = MS_SSIM_WEIGHTS[:scales]
        w = tuple(v / sum(w) for v in w) if scales < 5 else w
    else:
        w = tuple(float(v) for v in weights)
        if len(w) != scales:
            raise ValueError(
                f"ms_ssim_map: weights must have {scales} entries (one per scale), got {len(w)}"
            )
    check_choice(negative, "negative", ("relu", "clamp", "normalize"))
    data_range, x, y = _ssim_setup(
        x, y, data_range, win_size, sigma, gray, False, "same", pad_mode, "ms_ssim_map",
        min_size=2 ** (scales - 1),
    )  # fmt: skip
    size = tuple(x.shape[-2:])
    kernel = gaussian_kernel_1d(win_size, sigma, x.dtype, x.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    out = None
    for j in range(scales):
        lum, cs = _lcs_maps(x, y, kernel, c1, c2, "same", pad_mode)
        m = cs if j < scales - 1 else lum * cs
        if tuple(m.shape[-2:]) != size:
            m = torch.nn.functional.interpolate(m, size=size, mode="bilinear", align_corners=False)
        term = _map_pow(m, w[j], negative)
        out = term if out is None else out * term
        if j < scales - 1:
            x, y = box_downsample_symmetric(x, 2), box_downsample_symmetric(y, 2)
    return out
