"""Mean Deviation Similarity Index (MDSI).

Nafchi, Shahkolaei, Hedjam & Cheriet, "Mean deviation similarity index: efficient and reliable
full-reference image quality evaluator", IEEE Access 4, 2016 (arXiv 1608.07433), and the
authors' MATLAB ``MDSI.m``. With ``data_range=255`` and float64 input :func:`mdsi` reproduces
that code: TID2013 I01 / i01_01_5 gives 0.3389726 ('sum') and 0.2580029 ('mult'), goldhill
0.3959109 and 0.3286922 (``tests/iqa/test_mdsi.py``).

MDSI is a distance: 0 for identical images, lower is better. It is asymmetric: ``x`` is the
distorted image D, ``y`` the reference R.

Algorithm (R, G, B on the 0-255 scale):

1. downsample R, G, B by F = max(1, round(min(H, W) / 256)) (:func:`qagen.matlab_resize.matlab_downsample`,
   MATLAB ``conv2(X, ones(F)/F^2, 'same')`` then every F-th pixel);
2. LHM colour space (:data:`qagen.color.LHM_MATRIX`); (L_R + L_D) / 2 is the fused image;
3. gradient magnitudes g_R, g_D, g_F (reference, distorted, fused) with the Prewitt kernels [1 0 -1; 1 0 -1; 1 0 -1]/3 and
   their transposes (``conv2(., ., 'same')``, zero padding);
4. GS = GS_RD + GS_DF - GS_RF with GS_ab = (2 g_a g_b + C) / (g_a^2 + g_b^2 + C),
   C = c1 (140) for RD and c2 (55) for DF and RF;
5. CS = (2 (H_R H_D + M_R M_D) + c3) / (H_R^2 + H_D^2 + M_R^2 + M_D^2 + c3), c3 = 550;
6. GCS = alpha GS + (1 - alpha) CS (``'sum'``, alpha = 0.6) or GCS = GS^gamma CS^beta
   (``'mult'``, gamma = 0.2, beta = 0.1) with complex principal powers (GS can be negative);
7. deviation pooling: Z = GCS^q (principal branch), MDSI = [mean_i |Z_i - mean_j Z_j|^rho]^(o/rho)
   with q = 0.25, rho = 1, o = 0.25.

Implementation notes:

* Complex numbers are carried as (real, imaginary) pairs of real tensors. A principal power of
  a real v is |v|^p e^(i p pi [v < 0]); the angle of GCS in 'mult' is the sum of the two
  angles, brought into (-pi, pi] before the power q. Only the magnitudes carry gradients.
* Gradients stay finite without biasing the values. The gradient magnitudes are
  sqrt(gx^2 + gy^2 + 1e-24) (0-255 scale; a magnitude moves by at most 1e-12). The modulus
  |Z_i - mean Z| and the fractional powers (|GCS|^q, |GS|^gamma, |CS|^beta, the final ^(o/rho))
  use :func:`_pow_nonneg`: exactly 0 at 0 with a zero gradient there, and the argument clamped
  at sqrt(finfo.tiny) (1.1e-19 in float32) before the power, so p v^(p-1) cannot overflow. An
  additive epsilon there (as some ports use) is not used: the pooled value is an
  eighth root of the deviations, so an epsilon e inside |Z_i - mean Z| would make identical
  images score e^(1/8) instead of 0 (0.03 for e = 1e-12).
* Identical images give exactly 0, with a zero gradient (the minimum of the distance): the
  similarities are computed as 1 - (a - b)^2 / (a^2 + b^2 + C), exactly 1 for a = b.
* Speed: the colour matrix (with the rescale to 0-255 folded in) is one matrix product over
  the channel axis, the Prewitt kernels are separable axis filters of the filter engine
  (:func:`qagen.filters.gradients`), and the gradients of the fused image use linearity,
  grad F = (grad L_R + grad L_D) / 2. On CPU a 1x1 or depthwise 3x3 convolution is many
  times slower than these.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from qagen._checks import (
    check_choice,
    check_pair,
    check_positive,
    compute_dtype,
    no_autocast,
    reduce,
)
from qagen.color import LHM_MATRIX
from qagen.filters import gradients
from qagen.matlab_resize import matlab_downsample, matlab_scale_factor

__all__ = ["mdsi", "mdsi_map"]

_COMBINATIONS = ("sum", "mult")

#: Added to the squared gradient magnitudes under the square root (0-255 scale): the derivative
#: of sqrt stays finite at 0, and a magnitude moves by at most 1e-12 (an additive 1e-12 would
#: move a zero magnitude to 1e-6 and GS by up to 1e-6 relative: 3e-8 on the goldhill MDSI).
_EPS_GRAD = 1e-24


@lru_cache(maxsize=16)
def _lhm_matrix(
    channels: int, scale: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """(3 x channels) matrix giving [L, H, M] on the 0-255 scale from RGB (or grey) values.

    Rows of :data:`qagen.color.LHM_MATRIX` times ``scale`` = 255 / data_range. Grey input
    (R = G = B) sums the columns.
    """
    m = torch.tensor(LHM_MATRIX, dtype=torch.float64) * scale
    if channels == 1:
        m = m.sum(dim=1, keepdim=True)
    return m.to(dtype=dtype, device=device)


def _lhm(x: torch.Tensor, data_range: float) -> torch.Tensor:
    """Steps 1-2: downsample by MATLAB's F, then ``N x 3 x H' x W'`` [L, H, M] on 0-255.

    The colour matrix is applied as a matrix product over the channel axis (much faster on CPU
    than a 1x1 convolution); downsampling first, as ``MDSI.m`` does (both are linear).
    """
    x = matlab_downsample(x, matlab_scale_factor(x.shape[-2], x.shape[-1]))
    return torch.einsum(
        "oc,nchw->nohw", _lhm_matrix(x.shape[1], 255.0 / data_range, x.dtype, x.device), x
    )


def _pow_nonneg(v: torch.Tensor, p: float) -> torch.Tensor:
    """v^p for v >= 0 with finite gradients: exactly 0 (zero gradient) at v = 0.

    Positive v below sqrt(finfo(dtype).tiny) is raised to the power as that value (so the
    derivative p v^(p-1) stays finite); this never changes a value by more than that bound^p.
    """
    if p == 1.0:
        return v
    tiny = math.sqrt(torch.finfo(v.dtype).tiny)
    pos = v > 0
    return torch.where(pos, v.clamp_min(tiny).pow(p), 0.0)


def _principal_angle(theta: float) -> float:
    """Bring an angle into (-pi, pi] (principal argument)."""
    theta = math.fmod(theta, 2.0 * math.pi)
    if theta > math.pi:
        theta -= 2.0 * math.pi
    elif theta <= -math.pi:
        theta += 2.0 * math.pi
    return theta


def _gs_cs(
    x: torch.Tensor, y: torch.Tensor, data_range: float, c1: float, c2: float, c3: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 1-5: the GS and CS maps (``N x 1 x H' x W'``) of distorted ``x`` and reference ``y``.

    Each similarity (2 a b + C) / (a^2 + b^2 + C) is computed as 1 - (a - b)^2 / (a^2 + b^2 + C),
    and CS likewise: the same value (to rounding), but exactly 1 where a = b, so identical
    images give GCS = 1 and MDSI = 0 exactly, and no cancellation for similar images.
    """
    lhm_r = _lhm(y, data_range)
    lhm_d = _lhm(x, data_range)
    # Prewitt gradients of L (MATLAB conv2 'same'), channels: reference, distorted
    gx, gy = gradients(torch.cat([lhm_r[:, :1], lhm_d[:, :1]], dim=1), "prewitt")
    gm2 = torch.addcmul(gx * gx, gy, gy)
    # Fused image (L_R + L_D) / 2: its gradients are the means of the two (linearity).
    gx_f = 0.5 * gx.sum(dim=1, keepdim=True)
    gy_f = 0.5 * gy.sum(dim=1, keepdim=True)
    gm_f2 = torch.addcmul(gx_f * gx_f, gy_f, gy_f)
    gm_r2, gm_d2 = gm2.split(1, dim=1)
    gm_r, gm_d = torch.sqrt(gm2 + _EPS_GRAD).split(1, dim=1)
    gm_f = torch.sqrt(gm_f2 + _EPS_GRAD)

    def deficit(a, b, a2, b2, c):  # 1 - (2 a b + c) / (a^2 + b^2 + c)
        return (a - b).square() / (a2 + b2 + c)

    # GS = GS_RD + GS_DF - GS_RF = 1 - (1 - GS_RD) - (1 - GS_DF) + (1 - GS_RF)
    gs = 1.0 - (
        deficit(gm_r, gm_d, gm_r2, gm_d2, c1)
        + deficit(gm_d, gm_f, gm_d2, gm_f2, c2)
        - deficit(gm_r, gm_f, gm_r2, gm_f2, c2)
    )
    # CS = 1 - ((H_R - H_D)^2 + (M_R - M_D)^2) / (H_R^2 + H_D^2 + M_R^2 + M_D^2 + c3)
    hm_r, hm_d = lhm_r[:, 1:], lhm_d[:, 1:]
    diff = hm_r - hm_d
    cs = 1.0 - (diff * diff).sum(dim=1, keepdim=True) / (
        torch.addcmul(hm_r * hm_r, hm_d, hm_d).sum(dim=1, keepdim=True) + c3
    )
    return gs, cs


def _gcs_sum(gs: torch.Tensor, cs: torch.Tensor, alpha: float) -> torch.Tensor:
    """alpha GS + (1 - alpha) CS, written so that GS = CS = 1 gives exactly 1."""
    return cs + alpha * (gs - cs)


def _mult_polar(
    gs: torch.Tensor, cs: torch.Tensor, beta: float, gamma: float, power: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(GS^gamma CS^beta)^power with principal powers: returns (real, imaginary) parts.

    GS^gamma = |GS|^gamma e^(i gamma pi [GS < 0]), likewise CS^beta; the product's angle is
    brought into (-pi, pi] before the outer power (power = 1 gives GCS itself).
    """
    mag = _pow_nonneg(gs.abs(), gamma * power) * _pow_nonneg(cs.abs(), beta * power)
    # Table lookup by 2 [GS < 0] + [CS < 0]: angle 0, beta pi, gamma pi, (gamma + beta) pi.
    which = ((gs < 0).to(torch.uint8) * 2 + (cs < 0).to(torch.uint8)).long()
    angles = [0.0, math.pi * beta, math.pi * gamma, math.pi * (gamma + beta)]
    angles = [power * _principal_angle(a) for a in angles]
    table = torch.tensor(
        [[math.cos(a) for a in angles], [math.sin(a) for a in angles]],
        dtype=mag.dtype,
        device=mag.device,
    )
    return mag * table[0][which], mag * table[1][which]


#: Smallest height and width (after MDSI.m's downsampling by F, which is 1 below 384 pixels):
#: the 3 x 3 Prewitt operator must fit once. Smaller images are all padding: a white and a
#: black 2 x 2 image had constant GCS maps and scored MDSI = 0, "identical".
MDSI_MIN_SIZE = 3


def _validate(x, y, data_range, combination, metric, **exponents) -> float:
    data_range = check_pair(
        x, y, data_range=data_range, metric=metric, min_size=MDSI_MIN_SIZE,
        hint="the 3 x 3 Prewitt operator must fit the image",
    )  # fmt: skip
    check_choice(combination, "combination", _COMBINATIONS, metric)
    for name, value in exponents.items():
        check_positive(value, name, metric)
    return data_range


def mdsi_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    combination: str = "sum",
    alpha: float = 0.6,
    beta: float = 0.1,
    gamma: float = 0.2,
    c1: float = 140.0,
    c2: float = 55.0,
    c3: float = 550.0,
) -> torch.Tensor:
    """GCS map of MDSI (Nafchi et al. 2016): the gradient-chromaticity similarity per pixel.

    Steps 1-6 of the module docstring (Nafchi et al. 2016, ``MDSI.m``). 1 where distorted ``x`` and reference
    ``y`` agree, lower where they differ; GS (and so GCS) can be negative. For ``"sum"`` the map
    is alpha GS + (1 - alpha) CS; for ``"mult"`` it is the **real part** of the complex
    principal power product GS^gamma CS^beta (equal to it wherever GS and CS are >= 0).

    Args:
        x: distorted images ``N x C x H x W``, C = 3 (RGB) or 1 (grey, replicated to R = G = B,
            which is how MDSI.m scores grey images), values in ``[0, data_range]``.
        y: reference images, same shape, dtype and device.
        data_range: value of white (the constants are for the 0-255 scale, used internally).
        combination: ``"sum"`` or ``"mult"``.
        alpha, beta, gamma: combination weights ('sum': alpha; 'mult': gamma on GS, beta on CS).
        c1, c2, c3: stabilising constants of GS_RD, GS_DF/GS_RF and CS.

    Returns:
        ``N x 1 x H' x W'`` with H' = ceil(H / F), W' = ceil(W / F), F the downsampling factor.
    """
    data_range = _validate(x, y, data_range, combination, "mdsi_map", beta=beta, gamma=gamma)
    with no_autocast(x.device):
        x, y = compute_dtype(x, y)
        gs, cs = _gs_cs(x, y, data_range, c1, c2, c3)
        if combination == "sum":
            return _gcs_sum(gs, cs, alpha)
        return _mult_polar(gs, cs, beta, gamma, 1.0)[0]


def mdsi(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    combination: str = "sum",
    alpha: float = 0.6,
    beta: float = 0.1,
    gamma: float = 0.2,
    c1: float = 140.0,
    c2: float = 55.0,
    c3: float = 550.0,
    q: float = 0.25,
    rho: float = 1.0,
    o: float = 0.25,
) -> torch.Tensor:
    """Mean Deviation Similarity Index of distorted ``x`` against reference ``y``.

    Nafchi et al., IEEE Access 2016, ``MDSI.m`` (algorithm in the module docstring).
    A distance: 0 for identical images, lower is better (piq's loss is 1 - clip(MDSI, 0, 1)).
    Asymmetric: swapping ``x`` and ``y`` changes the value.

    Args:
        x: distorted images ``N x C x H x W``, C = 3 (RGB) or 1 (grey, replicated to three
            channels, as the MATLAB reference values for grey images were obtained), values in
            ``[0, data_range]``.
        y: reference images, same shape, dtype and device.
        data_range: value of white (computed internally on the 0-255 scale).
        reduction: ``"none"`` (shape ``[N]``), ``"mean"`` or ``"sum"``.
        combination: ``"sum"`` (alpha GS + (1 - alpha) CS) or ``"mult"`` (GS^gamma CS^beta,
            complex principal powers).
        alpha, beta, gamma: combination weights (0.6; 0.1, 0.2).
        c1, c2, c3: constants of GS_RD, GS_DF/GS_RF and CS (140, 55, 550).
        q: power of GCS before pooling (principal branch), 0.25.
        rho: order of the deviation (Minkowski), 1.
        o: final power of the pooled deviation, 0.25 (the result is mean(|.|^rho)^(o/rho)).

    Returns:
        MDSI per image (``[N]``) or reduced; float16/bfloat16 input is computed and returned
        in float32.
    """
    check_choice(reduction, "reduction", ("none", "mean", "sum"), "mdsi")
    data_range = _validate(
        x, y, data_range, combination, "mdsi", beta=beta, gamma=gamma, q=q, rho=rho, o=o
    )
    with no_autocast(x.device):
        x, y = compute_dtype(x, y)
        gs, cs = _gs_cs(x, y, data_range, c1, c2, c3)
        if combination == "sum":
            # GCS^q of a real map: |GCS|^q, rotated by q pi where GCS < 0.
            gcs = _gcs_sum(gs, cs, alpha)
            mag = _pow_nonneg(gcs.abs(), q)
            neg = gcs < 0
            z_re = torch.where(neg, mag * math.cos(q * math.pi), mag)
            z_im = torch.where(neg, mag * math.sin(q * math.pi), 0.0)
        else:
            z_re, z_im = _mult_polar(gs, cs, beta, gamma, q)
        dev_re = z_re - z_re.mean(dim=(-2, -1), keepdim=True)
        dev_im = z_im - z_im.mean(dim=(-2, -1), keepdim=True)
        dev = _pow_nonneg(dev_re * dev_re + dev_im * dev_im, 0.5 * rho)  # |Z_i - mean Z|^rho
        score = _pow_nonneg(dev.mean(dim=(-3, -2, -1)), o / rho)
    return reduce(score, reduction)
