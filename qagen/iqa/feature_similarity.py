"""Feature similarity: phase congruency, FSIM and FSIMc (+ maps).

Zhang, Zhang, Mou, Zhang, "FSIM: a feature similarity index for image quality assessment",
IEEE TIP 20(8), 2011; reproduces the authors' ``FeatureSIM.m`` (``FSIM.m``) with its simplified
version of Kovesi's phase congruency ``phasecong2`` (P. Kovesi, "Image features from phase
congruency", Videre 1(3), 1999).

Pipeline (everything on the 0-255 scale, i.e. the input times ``255 / data_range``):

1. RGB -> YIQ with ``FSIM.m``'s 3-decimal matrix (Y = 0.299 R + 0.587 G + 0.114 B); grey input is
   Y itself.
2. Every channel is downsampled by F = max(1, round(min(H, W) / 256)):
   ``conv2(X, ones(F)/F^2, 'same')`` then ``X(1:F:end, 1:F:end)``
   (:func:`qagen.matlab_resize.matlab_downsample`).
3. Phase congruency PC of Y (:func:`phase_congruency`) and the gradient magnitude G of Y
   (``conv2 'same'`` with [3 0 -3; 10 0 -10; 3 0 -3] / 16 and its transpose).
4. S_PC = (2 PC1 PC2 + 0.85) / (PC1^2 + PC2^2 + 0.85), S_G = (2 G1 G2 + 160) / (G1^2 + G2^2 + 160),
   PC_m = max(PC1, PC2), FSIM = sum(S_PC S_G PC_m) / sum(PC_m).
5. FSIMc multiplies the local similarity by Re[(S_I S_Q)^0.03] with
   S_I = (2 I1 I2 + 200) / (I1^2 + I2^2 + 200) and S_Q likewise.

Parity (tests/iqa/test_fsim.py, float64, ``data_range=255``), against the MATLAB values of
``tests/reference_data/README.md``: goldhill FSIM 7e-12 (with :data:`GRAD_EPS` = 1e-24; pyiqa's 1e-12
moved it by 8.7e-9 on the image's exactly flat areas), TID2013 I01 FSIM and FSIMc 7e-12;
float32 within 2e-7. A NumPy
transcription of ``phasecong2`` agrees to 7e-11 (from :data:`PC_EPS`).

Epsilons (all on the 0-255 scale; together they move the parity values by < 1e-8, the tests
require < 1e-6):

* :data:`PC_EPS` in the final division of phase congruency, ``PC = E / (sum An + PC_EPS)``:
  ``FSIM.m`` divides without it and a flat image gives 0/0. With it a flat image has PC = 0.
* :data:`NOISE_EPS` inside the square root of the noise threshold, ``T = C_o sqrt(median + eps)``:
  an all-zero image has median 0, where the square root has an infinite slope.
* :data:`GRAD_EPS` inside the gradient magnitude, ``sqrt(gx^2 + gy^2 + eps)`` (piq issue #308).
* :data:`WEIGHT_EPS` added to the pooling weight PC_m: two flat images have PC_m = 0 everywhere,
  and the pooled 0/0 becomes the plain mean of the local similarity (1 for identical images).
* :data:`POWER_EPS` in the chromatic power, ``(p^2 + eps)^(lambda/2)`` instead of ``|p|^lambda``:
  the slope of ``|p|^0.03`` is infinite at p = 0.
* The amplitude |EO| uses a magnitude whose gradient at exactly 0 is 0 (no epsilon needed),
  and ``FSIM.m``'s own epsilon 1e-4 in the local energy is kept.

Speed: one FFT per image, the 16 log-Gabor filters applied as one batched tensor (built once per
size, dtype and device), 16 inverse FFTs, and a hand-written backward for the filter-bank stage
(no autograd graph over the 16 complex responses; second-order gradients are not supported).
x and y are processed separately, so a reference that needs no gradient costs no backward.

The image mean is subtracted before the FFT: every filter is 0 at the DC bin, so this changes
nothing mathematically, but it removes the large DC term and its rounding from the other bins
(float32 values of flat images are then exactly 0 rather than FFT round-off noise).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from qagen._checks import (
    check_choice,
    check_pair,
    check_positive,
    check_tensor,
    compute_dtype,
    no_autocast,
    reduce,
)
from qagen.color import rgb_to_gray, rgb_to_yiq
from qagen.filters import _cached
from qagen.iqa.gms import gradient_magnitude, similarity
from qagen.matlab_resize import matlab_downsample, matlab_scale_factor

__all__ = ["phase_congruency", "fsim", "fsimc", "fsim_map"]

# ----- phasecong2 parameters (FSIM.m) -----------------------------------------------------------
N_SCALE = 4
N_ORIENT = 4
MIN_WAVELENGTH = 6.0
MULT = 2.0
SIGMA_ON_F = 0.55
D_THETA_ON_SIGMA = 1.2
K_NOISE = 2.0
ENERGY_EPS = 1e-4  # FSIM.m's epsilon in the local energy normalisation
NOISE_FACTOR = 1.7  # FSIM.m's empirical division of the noise threshold

# ----- FeatureSIM constants (0-255 scale) --------------------------------------------------------
T1 = 0.85
T2 = 160.0
T3 = 200.0
T4 = 200.0
LAMBDA = 0.03

# ----- qagen epsilons (module docstring) ---------------------------------------------------------
PC_EPS = 1e-8
NOISE_EPS = 1e-12
GRAD_EPS = 1e-24
WEIGHT_EPS = 1e-10
POWER_EPS = 1e-12

#: Smallest accepted height and width. The formulas need n >= 2 (the frequency grid of an odd
#: size n divides by n - 1); below 8 pixels the finest log-Gabor (wavelength 6) does not fit
#: one period plus its neighbours and the value means nothing, so smaller inputs are rejected.
#: (The downsampling by F = round(min(H, W) / 256) is 1 below 384 pixels, so it never brings
#: an accepted image under 8.)
MIN_SIZE = 8

_KINDS = ("similarity", "weight", "weighted")
_NEG_POWER = ("matlab", "abs")


# ================================================================================================
# Filter bank
# ================================================================================================
def _freq_axis(n: int) -> np.ndarray:
    """phasecong2's frequency samples: odd n -> (-(n-1)/2..(n-1)/2)/(n-1), even -> (-n/2..n/2-1)/n."""
    if n % 2:
        return (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) / (n - 1)
    return (np.arange(n, dtype=np.float64) - n // 2) / n


def _filter_bank_np(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-Gabor filters ``[N_ORIENT * N_SCALE, h, w]`` (index o * N_SCALE + s) and T's constants.

    The noise threshold of orientation o is ``T_o = C_o * sqrt(median_pixels |EO_{0,o}|^2)``:
    with EM_n = sum F_{0,o}^2, f_s = Re(ifft2(F_{s,o})) sqrt(hw) and
    Q = sum_pix (sum_s f_s)^2 = SumAn2 + 2 SumAiAj, FSIM.m's
    tau = sqrt((2 noisePower SumAn2 + 4 noisePower SumAiAj) / 2) with
    noisePower = median / (-ln 0.5) / EM_n gives tau = sqrt(median Q / (ln 2 EM_n)) and
    T = tau (sqrt(pi/2) + k sqrt(2 - pi/2)) / 1.7.
    """
    x, y = np.meshgrid(_freq_axis(w), _freq_axis(h))
    radius = np.sqrt(x * x + y * y)
    theta = np.arctan2(-y, x)
    lowpass = np.fft.ifftshift(1.0 / (1.0 + (radius / 0.45) ** (2 * 15)))
    radius = np.fft.ifftshift(radius)
    theta = np.fft.ifftshift(theta)
    radius[0, 0] = 1.0
    sin_t, cos_t = np.sin(theta), np.cos(theta)

    log_gabor = []
    for s in range(N_SCALE):
        f0 = 1.0 / (MIN_WAVELENGTH * MULT**s)
        g = np.exp(-(np.log(radius / f0) ** 2) / (2.0 * math.log(SIGMA_ON_F) ** 2)) * lowpass
        g[0, 0] = 0.0
        log_gabor.append(g)

    theta_sigma = math.pi / N_ORIENT / D_THETA_ON_SIGMA
    filters = []
    consts = []
    for o in range(N_ORIENT):
        angle = o * math.pi / N_ORIENT
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread = np.exp(-(dtheta**2) / (2.0 * theta_sigma**2))
        bank_o = [g * spread for g in log_gabor]
        filters.extend(bank_o)
        em_n = float(np.sum(bank_o[0] ** 2))
        f_sum = sum(np.real(np.fft.ifft2(f)) * math.sqrt(h * w) for f in bank_o)
        q = float(np.sum(f_sum**2))
        tau_per_sqrt_median = math.sqrt(q / (math.log(2.0) * em_n))
        c = tau_per_sqrt_median * (math.sqrt(math.pi / 2) + K_NOISE * math.sqrt(2 - math.pi / 2))
        consts.append(c / NOISE_FACTOR)
    return np.stack(filters), np.asarray(consts)


def _filter_bank(
    h: int, w: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached (filters ``[16, h, w]``, noise constants ``[4]``) for one size, dtype and device."""

    def build() -> torch.Tensor:
        filt, consts = _filter_bank_np(h, w)
        # Pack the constants into a 17th plane so one cache entry holds both.
        extra = np.zeros((1, h, w))
        extra.reshape(-1)[:N_ORIENT] = consts
        return torch.from_numpy(np.concatenate([filt, extra])).to(dtype=dtype, device=device)

    bank = _cached(("fsim_loggabor", h, w, dtype, device), build)
    return bank[:-1], bank[-1].reshape(-1)[:N_ORIENT]


# ================================================================================================
# Phase congruency
# ================================================================================================
def _matlab_median(v: torch.Tensor) -> torch.Tensor:
    """MATLAB ``median`` over the last dimension (mean of the two middle values for an even count).

    ``torch.median`` returns the lower middle value. Here: the n // 2 + 1 smallest values (one
    partial selection, faster than a sort or two ``kthvalue`` calls) and then their largest one
    (odd n) or the mean of their two largest (even n). Differentiable: the gradient goes to the
    selected entries.
    """
    n = v.shape[-1]
    smallest = torch.topk(v, n // 2 + 1, dim=-1, largest=False, sorted=False).values
    if n % 2:
        return smallest.amax(dim=-1)
    return torch.topk(smallest, 2, dim=-1, largest=True, sorted=False).values.mean(dim=-1)


class _LogGaborEnergy(torch.autograd.Function):
    """Filter-bank responses of ``phasecong2`` with a hand-written backward (speed and memory).

    Input: the image spectrum X (B x H x W, complex) and the real filters F (16 x H x W).
    EO_{o,s} = ifft2(X F_{o,s}); with S_o = sum_s EO_{o,s}, m_o = |S_o| and
    c_{o,s} = Re(EO) Im(S_o) - Im(EO) Re(S_o), the outputs are

    * ``sum_an`` = sum_{o,s} |EO_{o,s}| (B x H x W),
    * ``energy`` = (m^2 - sum_s |c_s|) / (m + 1e-4) (B x O x H x W), which equals FSIM.m's
      sum_s [E mE + O mO - |E mO - O mE|] with (mE, mO) = S / (m + 1e-4),
    * ``power`` = |EO_{o,0}|^2 (B x O x H x W), whose median sets the noise threshold.

    Backward, for the gradients gA, gE, gP of the outputs (PyTorch's gradient of a complex z is
    dL/dRe z + i dL/dIm z), with sigma_s = sign(c_s), kappa = gE / (m + eps),
    Z = sum_s sigma_s EO_s and dE/dm = (m^2 + 2 m eps + sum |c|) / (m + eps)^2:

        G_{o,s} = (gA / |EO_s| + 2 gP [s = 0]) EO_s + i kappa sigma_s S
                  + gE dE/dm S / m - i kappa Z,

    then dL/dX = sum_{o,s} F_{o,s} fft2(G_{o,s}) / (H W) (the adjoint of ifft2). The gradient of
    a magnitude is taken as 0 where it is exactly 0 (as ``torch.sgn``): no NaN on flat images.
    Second-order gradients are not supported (``once_differentiable`` raises a clear error).
    """

    @staticmethod
    def forward(ctx, spectrum: torch.Tensor, filters: torch.Tensor):  # type: ignore[override]
        b, h, w = spectrum.shape
        shape = (b, N_ORIENT, N_SCALE, h, w)
        eo = torch.fft.ifft2(spectrum.unsqueeze(1) * filters)  # [B, O*S, H, W]
        # Strided views of the real and imaginary parts (measured faster than contiguous copies).
        v = torch.view_as_real(eo).view(*shape, 2)
        re, im = v[..., 0], v[..., 1]
        an = torch.hypot(re, im)  # [B, O, S, H, W]
        sum_an = an.sum(dim=(1, 2))
        t_re, t_im = re.sum(dim=2), im.sum(dim=2)  # [B, O, H, W]
        m = torch.hypot(t_re, t_im)
        c = re * t_im.unsqueeze(2)
        c.addcmul_(im, t_re.unsqueeze(2), value=-1.0)
        abs_c = c.abs().sum(dim=2)
        energy = (m * m - abs_c) / (m + ENERGY_EPS)
        power = an[:, :, 0].square()  # abs(EO{1,o}).^2 as in FSIM.m
        ctx.save_for_backward(eo, an, c, t_re, t_im, m, abs_c, filters)
        return sum_an, energy, power

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_a: torch.Tensor, g_e: torch.Tensor, g_p: torch.Tensor):  # type: ignore[override]
        eo, an, c, t_re, t_im, m, abs_c, filters = ctx.saved_tensors
        b, _, _, h, w = an.shape
        v = torch.view_as_real(eo).view(*an.shape, 2)
        re, im = v[..., 0], v[..., 1]
        tiny = torch.finfo(an.dtype).tiny
        if g_a is None:
            g_a = torch.zeros_like(an[:, 0, 0])
        if g_e is None:
            g_e = torch.zeros_like(m)
        if g_p is None:
            g_p = torch.zeros_like(m)

        mpe = m + ENERGY_EPS
        kappa = g_e / mpe  # [B, O, H, W]
        d_m = g_e * (m * m + 2.0 * ENERGY_EPS * m + abs_c) / (mpe * mpe) / m.clamp_min(tiny)
        sigma = torch.sign(c)  # [B, O, S, H, W]
        z_re = (re * sigma).sum(dim=2)
        z_im = (im * sigma).sum(dim=2)
        gam_re = (d_m * t_re).addcmul_(kappa, z_im).unsqueeze(2)
        gam_im = (d_m * t_im).addcmul_(kappa, z_re, value=-1.0).unsqueeze(2)
        beta = sigma.mul_(kappa.unsqueeze(2))  # kappa sigma_s, in sigma's memory

        alpha = an.clamp_min(tiny)  # EO = 0 wherever |EO| = 0
        torch.div(g_a[:, None, None], alpha, out=alpha)
        alpha[:, :, 0] += 2.0 * g_p
        g_re = (re * alpha).addcmul_(beta, t_im.unsqueeze(2), value=-1.0).add_(gam_re)
        g_im = (im * alpha).addcmul_(beta, t_re.unsqueeze(2)).add_(gam_im)
        del alpha, beta, sigma
        g = torch.complex(g_re, g_im).view(b, N_ORIENT * N_SCALE, h, w)
        del g_re, g_im
        g = torch.fft.fft2(g, norm="forward")  # adjoint of ifft2 (norm "backward") = fft2 / (H W)
        return g.mul_(filters).sum(dim=1), None


def _phase_congruency(y: torch.Tensor) -> torch.Tensor:
    """PC of ``y`` (B x H x W, 0-255 scale), no validation."""
    b, h, w = y.shape
    filters, consts = _filter_bank(h, w, y.dtype, y.device)
    y = y - y.mean(dim=(-2, -1), keepdim=True)  # filters vanish at DC: exact, less round-off
    sum_an, energy, power = _LogGaborEnergy.apply(torch.fft.fft2(y), filters)
    median = _matlab_median(power.reshape(b, N_ORIENT, h * w))  # [B, O]
    threshold = consts * torch.sqrt(median + NOISE_EPS)
    energy = torch.relu(energy - threshold[..., None, None]).sum(dim=1)
    return energy / (sum_an + PC_EPS)


def phase_congruency(y: torch.Tensor) -> torch.Tensor:
    """Phase congruency map (FSIM.m's ``phasecong2``) of grey ``N x 1 x H x W`` on the 0-255 scale.

    Kovesi's log-Gabor method as simplified in FSIM.m: 4 scales (wavelengths 6, 12, 24, 48),
    4 orientations, sigmaOnf 0.55, dThetaOnSigma 1.2, low-pass 1 / (1 + (r / 0.45)^30), energy
    epsilon 1e-4, noise threshold T = (tau sqrt(pi/2) + 2 sqrt(2 - pi/2) tau) / 1.7 from the
    MATLAB median of the finest scale's |EO|^2 (mean of the two middle values). Every term,
    the noise threshold included, is differentiated (first order only). PC = sum_o
    max(E_o - T_o, 0) / (sum_{o,s} |EO| + :data:`PC_EPS`), in [0, 1]. One FFT per image, the 16
    filters as one batched tensor (cached per size, dtype and device), 16 inverse FFTs.
    Matches ``phasecong2`` to ~1e-10 in float64. The FFT makes the image periodic, as in MATLAB.

    Args:
        y: grey images ``N x 1 x H x W`` on the 0-255 scale (the noise model is for 8-bit
            data), H and W at least 8.

    Returns:
        ``N x 1 x H x W`` in [0, 1]: 1 where all scales are in phase (edges, lines), 0 on flat
        regions. float32 for half-precision input.
    """
    check_tensor(y, "y", channels=(1,), min_size=MIN_SIZE, metric="phase_congruency",
                 hint=_SIZE_HINT)  # fmt: skip
    with no_autocast(y):
        (y,) = compute_dtype(y)
        return _phase_congruency(y[:, 0]).unsqueeze(1)


# ================================================================================================
# FSIM
# ================================================================================================
def _gradient_magnitude(y: torch.Tensor) -> torch.Tensor:
    """sqrt(gx^2 + gy^2 + GRAD_EPS) with ``conv2(Y, [3 0 -3; 10 0 -10; 3 0 -3]/16, 'same')``."""
    return gradient_magnitude(y, "scharr_fsim", GRAD_EPS)


def _chroma_power(p: torch.Tensor, lambda_: float, negative_power: str) -> torch.Tensor:
    """Re[p^lambda] (principal power, "matlab") or |p|^lambda ("abs", piq), |p| smoothed by POWER_EPS."""
    mag = (p * p + POWER_EPS) ** (0.5 * lambda_)
    if negative_power == "abs":
        return mag
    return torch.where(p < 0, mag * math.cos(lambda_ * math.pi), mag)


def _features(img: torch.Tensor, data_range: float, chromatic: bool) -> tuple[torch.Tensor, ...]:
    """(PC, G, I, Q) of one batch (N x 1 x H' x W' each; I, Q only when ``chromatic``).

    Y (or YIQ) on the 0-255 scale, downsampled by F = max(1, round(min(H, W) / 256)).
    """
    if img.shape[1] == 3:
        img = rgb_to_yiq(img, "fsim") if chromatic else rgb_to_gray(img, "y")
    img = img * (255.0 / data_range)
    img = matlab_downsample(img, matlab_scale_factor(*img.shape[-2:]))
    lum = img[:, :1]
    pc = _phase_congruency(lum[:, 0]).unsqueeze(1)
    return (pc, _gradient_magnitude(lum), *img[:, 1:].split(1, dim=1))


def _local_maps(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float,
    chromatic: bool,
    lambda_: float,
    negative_power: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(S_L, PC_m), each N x 1 x H' x W'. ``chromatic`` requires 3 channels.

    x and y go through phase congruency separately (not concatenated): when only x needs a
    gradient, the filter-bank backward runs on x alone.
    """
    fx = _features(x, data_range, chromatic)
    fy = _features(y, data_range, chromatic)
    sim = similarity(fx[0], fy[0], T1) * similarity(fx[1], fy[1], T2)
    if chromatic:
        s_iq = similarity(fx[2], fy[2], T3) * similarity(fx[3], fy[3], T4)
        sim = sim * _chroma_power(s_iq, lambda_, negative_power)
    return sim, torch.maximum(fx[0], fy[0])


def _pool(sim: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    weight = weight + WEIGHT_EPS
    return (sim * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3))


_SIZE_HINT = "phase congruency needs at least 8 x 8 pixels (finest log-Gabor wavelength 6)"


def _check(x: torch.Tensor, y: torch.Tensor, data_range: float, metric: str) -> float:
    return check_pair(
        x, y, data_range=data_range, channels=(1, 3), min_size=MIN_SIZE, metric=metric,
        hint=_SIZE_HINT,
    )  # fmt: skip


def _check_chroma_options(lambda_: float, negative_power: str, metric: str) -> None:
    check_choice(negative_power, "negative_power", _NEG_POWER, metric)
    check_positive(lambda_, "lambda_", metric)


def fsim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "none"
) -> torch.Tensor:
    """Feature similarity FSIM (luminance only; Zhang et al. 2011, ``FeatureSIM.m``).

    FSIM = sum(S_PC S_G PC_m) / sum(PC_m) over the (downsampled) image, with phase congruency
    PC, gradient magnitude G, S_PC = (2 PC_x PC_y + 0.85) / (PC_x^2 + PC_y^2 + 0.85),
    S_G = (2 G_x G_y + 160) / (G_x^2 + G_y^2 + 160) and PC_m = max(PC_x, PC_y) (module
    docstring). Symmetric in x and y. Matches the MATLAB code in float64 with
    ``data_range=255`` to 8.7e-9 (goldhill) and 7e-12 (TID2013 I01).

    Args:
        x: distorted images ``N x C x H x W``, C = 1 (Y itself) or 3 (RGB, converted to
            Y = 0.299 R + 0.587 G + 0.114 B as FeatureSIM does), values in ``[0, data_range]``,
            H and W at least 8 (the finest log-Gabor filter, wavelength 6, must fit).
        y: reference images, same shape, dtype and device.
        data_range: value of white (computed on the 0-255 scale).
        reduction: "none" (one value per image), "mean" or "sum".

    Returns:
        ``[N]`` (or reduced) in [0, 1], 1 for identical images, higher is better. float32 for
        half-precision input.
    """
    data_range = _check(x, y, data_range, "fsim")
    reduction = check_choice(reduction, "reduction", ("none", "mean", "sum"), "fsim")
    with no_autocast(x):
        x, y = compute_dtype(x, y)
        sim, weight = _local_maps(x, y, data_range, False, LAMBDA, "matlab")
        return reduce(_pool(sim, weight), reduction)


def fsimc(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "none",
    lambda_: float = LAMBDA,
    negative_power: str = "matlab",
) -> torch.Tensor:
    """Feature similarity with chrominance FSIMc (Zhang et al. 2011, ``FeatureSIM.m``).

    FSIMc = sum(S_PC S_G Re[(S_I S_Q)^lambda] PC_m) / sum(PC_m), lambda = 0.03, I and Q from
    FSIM.m's YIQ matrix (I .596/-.274/-.322, Q .211/-.523/.312), T3 = T4 = 200. For grey input
    FeatureSIM sets I = Q = 1, so S_I = S_Q = 1 and FSIMc equals :func:`fsim`; that value is
    returned. Matches ``FeatureSIM.m``'s ``FSIMc`` to 1e-11 in float64 with
    ``data_range=255`` (TID2013 I01).

    Args:
        x: distorted RGB (or grey) images ``N x C x H x W`` in ``[0, data_range]``, H and W at
            least 8.
        y: reference images, same shape, dtype and device.
        data_range: value of white (computed on the 0-255 scale).
        reduction: "none" (one value per image), "mean" or "sum".
        lambda_: exponent of the chromatic similarity, 0.03.
        negative_power: S_I S_Q < 0 (strongly opposite chroma): "matlab" (default, MATLAB's real
            part of the principal power, |p|^lambda cos(lambda pi)) or "abs" (|p|^lambda, piq).

    Returns:
        ``[N]`` (or reduced) in [0, 1], 1 for identical images, higher is better. float32 for
        half-precision input.
    """
    data_range = _check(x, y, data_range, "fsimc")
    reduction = check_choice(reduction, "reduction", ("none", "mean", "sum"), "fsimc")
    _check_chroma_options(lambda_, negative_power, "fsimc")
    with no_autocast(x):
        x, y = compute_dtype(x, y)
        chromatic = x.shape[1] == 3
        sim, weight = _local_maps(x, y, data_range, chromatic, float(lambda_), negative_power)
        return reduce(_pool(sim, weight), reduction)


def fsim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    chromatic: bool = False,
    kind: str = "similarity",
    lambda_: float = LAMBDA,
    negative_power: str = "matlab",
) -> torch.Tensor:
    """FSIM maps (Zhang et al. 2011): local similarity, pooling weight or their product.

    Which of these is "the FSIM map" is not fixed by the papers that use one, hence ``kind``.

    Args:
        x: distorted images ``N x C x H x W`` (C = 1 or 3) in ``[0, data_range]``, H and W at
            least 8.
        y: reference images, same shape, dtype and device.
        data_range: value of white.
        chromatic: include Re[(S_I S_Q)^lambda] (RGB input only; grey ignores it, as FSIMc =
            FSIM there).
        kind: "similarity" (S_L = S_PC S_G, times the chromatic term when ``chromatic``),
            "weight" (PC_m = max(PC_x, PC_y)) or "weighted" (S_L w / mean(w) with
            w = PC_m + :data:`WEIGHT_EPS`, whose spatial mean is exactly :func:`fsim`, or
            :func:`fsimc` when ``chromatic``).
        lambda_, negative_power: as :func:`fsimc`.

    Returns:
        ``N x 1 x H' x W'`` with H' = ceil(H / F), F = max(1, round(min(H, W) / 256)):
        similarity in [0, 1] (1 where the images agree, higher is better), weight in [0, 1].
        float32 for half-precision input.
    """
    data_range = _check(x, y, data_range, "fsim_map")
    check_choice(kind, "kind", _KINDS, "fsim_map")
    _check_chroma_options(lambda_, negative_power, "fsim_map")
    with no_autocast(x):
        x, y = compute_dtype(x, y)
        chromatic = bool(chromatic) and x.shape[1] == 3
        sim, weight = _local_maps(x, y, data_range, chromatic, float(lambda_), negative_power)
        if kind == "similarity":
            return sim
        if kind == "weight":
            return weight
        weight = weight + WEIGHT_EPS
        return sim * weight / weight.mean(dim=(1, 2, 3), keepdim=True)
