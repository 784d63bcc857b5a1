"""Mean Deviation Similarity Index (MDSI), REFERENCE.md section 1.6.

Nafchi, Shahkolaei, Hedjam & Cheriet, "Mean deviation similarity index: efficient and reliable
full-reference image quality evaluator", IEEE Access 4, 2016 (arXiv 1608.07433), and the
authors' MATLAB ``MDSI.m``. With ``data_range=255`` and float64 input :func:`mdsi` reproduces
that code: TID2013 I01 / i01_01_5 gives 0.3389726 ('sum') and 0.2580029 ('mult'), goldhill
0.3959109 and 0.3286922 (``tests/iqa/test_mdsi.py``).

MDSI is a distance: 0 for identical images, lower is better. It is asymmetric: ``x`` is the
distorted image D, ``y`` the reference R.

Algorithm (R, G, B on the 0-255 scale):

1. downsample R, G, B by F = max(1, round(min(H, W) / 256)) (:func:`qagen.filters.matlab_downsample`,
   MATLAB ``conv2(X, ones(F)/F^2, 'same')`` then every F-th pixel);
2. LHM colour space (:func:`qagen.color.rgb_to_lhm`); F = (L_R + L_D) / 2 is the fused image;
3. gradient magnitudes g_R, g_D, g_F with the Prewitt kernels [1 0 -1; 1 0 -1; 1 0 -1]/3 and
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
* Gradients stay finite without biasing the values: the square roots (gradient magnitudes,
  the modulus |Z_i - mean Z|) and the fractional powers use :func:`_pow_nonneg`, which returns
  exactly 0 at 0 with a zero gradient there, and clamps its argument at sqrt(finfo.tiny)
  (1.1e-19 in float32) before the power so that p v^(p-1) cannot overflow. An additive epsilon
  (as suggested by REFERENCE.md 1.6) is not used: the pooled value is an eighth root of the
  deviations, so an epsilon e inside |Z_i - mean Z| would make identical images score
  e^(1/8) instead of 0 (0.03 for e = 1e-12).
* Identical images give exactly 0, with a zero gradient (the minimum of the distance).
* The gradient maps of the fused image use linearity: grad F = (grad L_R + grad L_D) / 2.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from qagen._checks import check_choice, check_pair, reduce
from qagen.color import rgb_to_lhm
from qagen.filters import matlab_downsample, matlab_scale_factor

__all__ = ["mdsi", "mdsi_map"]

_COMBINATIONS = ("sum", "mult")

_PREWITT_CACHE: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}


def _prewitt_weight(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Conv weight (4, 1, 3, 3): Prewitt/3 x and y kernels for each of two input channels.

    ``F.conv2d`` correlates; MATLAB's ``conv2`` convolves with [1 0 -1]/3, i.e. correlates with
    [-1 0 1]/3. The sign does not matter for the magnitude but is kept exact.
    """
    key = (dtype, device)
    w = _PREWITT_CACHE.get(key)
    if w is None:
        dx = torch.tensor([[-1.0, 0.0, 1.0]] * 3, dtype=torch.float64) / 3.0
        w = torch.stack([dx, dx.t(), dx, dx.t()]).unsqueeze(1).to(dtype=dtype, device=device)
        _PREWITT_CACHE[key] = w
    return w


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


def _lhm_255(x: torch.Tensor, data_range: float) -> torch.Tensor:
    """Rescale to 0-255, replicate grey to RGB, downsample by MATLAB's F, convert to LHM."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if data_range != 255.0:
        x = x * (255.0 / data_range)
    x = matlab_downsample(x, matlab_scale_factor(x.shape[-2], x.shape[-1]))
    return rgb_to_lhm(x)


def _gcs(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float,
    combination: str,
    alpha: float,
    beta: float,
    gamma: float,
    c1: float,
    c2: float,
    c3: float,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """GCS map of distorted ``x`` against reference ``y``.

    Returns ``(gcs, gs, cs)``: for 'sum' ``gcs`` is the real map and ``gs``/``cs`` are None;
    for 'mult' ``gcs`` is None and the GS and CS maps are returned for the complex powers.
    """
    d_lhm = _lhm_255(x, data_range)
    r_lhm = _lhm_255(y, data_range)
    l_r, h_r, m_r = r_lhm.split(1, dim=1)
    l_d, h_d, m_d = d_lhm.split(1, dim=1)

    # Gradients of L_R and L_D in one grouped convolution (zero padding 1 = conv2 'same').
    grads = F.conv2d(torch.cat([l_r, l_d], dim=1), _prewitt_weight(x.dtype, x.device), padding=1, groups=2)
    gx_r, gy_r, gx_d, gy_d = grads.split(1, dim=1)
    gx_f = 0.5 * (gx_r + gx_d)
    gy_f = 0.5 * (gy_r + gy_d)
    gm_r2 = gx_r * gx_r + gy_r * gy_r
    gm_d2 = gx_d * gx_d + gy_d * gy_d
    gm_f2 = gx_f * gx_f + gy_f * gy_f
    gm_r = _pow_nonneg(gm_r2, 0.5)
    gm_d = _pow_nonneg(gm_d2, 0.5)
    gm_f = _pow_nonneg(gm_f2, 0.5)

    gs_rd = (2.0 * gm_r * gm_d + c1) / (gm_r2 + gm_d2 + c1)
    gs_df = (2.0 * gm_d * gm_f + c2) / (gm_d2 + gm_f2 + c2)
    gs_rf = (2.0 * gm_r * gm_f + c2) / (gm_r2 + gm_f2 + c2)
    gs = gs_rd + gs_df - gs_rf

    # (H_R^2 + M_R^2) + (H_D^2 + M_D^2): exactly the numerator's 2 (H_R H_D + M_R M_D) when R = D.
    cs = (2.0 * (h_r * h_d + m_r * m_d) + c3) / ((h_r * h_r + m_r * m_r) + (h_d * h_d + m_d * m_d) + c3)

    if combination == "sum":
        # = alpha GS + (1 - alpha) CS, written so that GS = CS = 1 gives exactly 1.
        return cs + alpha * (gs - cs), None, None
    return None, gs, cs


def _mult_polar(
    gs: torch.Tensor, cs: torch.Tensor, beta: float, gamma: float, power: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(GS^gamma CS^beta)^power with principal powers: returns (real, imaginary) parts.

    GS^gamma = |GS|^gamma e^(i gamma pi [GS < 0]), likewise CS^beta; the product's angle is
    brought into (-pi, pi] before the outer power (power = 1 gives GCS itself).
    """
    mag = _pow_nonneg(gs.abs(), gamma * power) * _pow_nonneg(cs.abs(), beta * power)
    # Table lookup by 2 [GS < 0] + [CS < 0]: angle 0, beta pi, gamma pi, (gamma + beta) pi.
    which = (gs < 0).to(torch.uint8) * 2 + (cs < 0).to(torch.uint8)
    angles = [0.0, math.pi * beta, math.pi * gamma, math.pi * (gamma + beta)]
    angles = [power * _principal_angle(a) for a in angles]
    table = torch.tensor(
        [[math.cos(a) for a in angles], [math.sin(a) for a in angles]], dtype=mag.dtype, device=mag.device
    )
    return mag * table[0][which.long()], mag * table[1][which.long()]


def _validate(x, y, data_range, combination):
    data_range = check_pair(x, y, data_range=data_range, metric="mdsi")
    check_choice(combination, "combination", _COMBINATIONS)
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

    Steps 1-6 of the module docstring (REFERENCE.md 1.6). 1 where distorted ``x`` and reference
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
    data_range = _validate(x, y, data_range, combination)
    with torch.autocast(device_type=x.device.type, enabled=False):
        if x.dtype in (torch.float16, torch.bfloat16):
            x, y = x.float(), y.float()
        gcs, gs, cs = _gcs(x, y, data_range, combination, alpha, beta, gamma, c1, c2, c3)
        if gcs is None:
            gcs, _ = _mult_polar(gs, cs, beta, gamma, 1.0)
    return gcs


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

    Nafchi et al., IEEE Access 2016, ``MDSI.m`` (module docstring, REFERENCE.md 1.6).
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
    data_range = _validate(x, y, data_range, combination)
    check_choice(reduction, "reduction", ("none", "mean", "sum"))
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        if x.dtype in (torch.float16, torch.bfloat16):
            x, y = x.float(), y.float()
        gcs, gs, cs = _gcs(x, y, data_range, combination, alpha, beta, gamma, c1, c2, c3)
        if gcs is not None:
            # GCS^q of a real map: |GCS|^q, rotated by q pi where GCS < 0.
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
