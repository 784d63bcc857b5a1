"""Critic regularisers: the WGAN gradient penalty (two- and one-sided) and the Banach/Sobolev
dual-norm penalty with its data-dependent scales (Gulrajani et al., NeurIPS 2017; Adler & Lunz,
NeurIPS 2018, and their code ``cifar10_sobolev.py``, ``sobolev_utils.py``).

Every penalty

- draws interpolates ``x_hat = eps * real + (1 - eps) * fake`` with one ``eps ~ U[0, 1]`` per
  sample (``generator=`` makes the draw reproducible; QAGAN's code writes
  ``eps * fake + (1 - eps) * real``, which has the same distribution);
- takes critic gradients with ``create_graph=True`` so the penalty can be back-propagated into the
  critic's parameters (double backward);
- runs the critic and the penalty in at least float32 with autocast *disabled* (half-precision
  squares overflow; pytorch #25081): half/bfloat16 inputs are promoted, float64 stays float64;
- accepts a ``DistributedDataParallel`` critic: the gradient is taken w.r.t. the inputs only (no
  parameter hooks fire), so the single ``loss.backward()`` afterwards lets DDP reduce the
  parameter gradients once, as usual. (``DataParallel`` cannot double-backward: pytorch #2467.)

The critic gradient of a per-pixel critic (output ``N x 1 x H x W``) is that of the sum of its
outputs. A critic with batch normalisation couples the samples, so its per-sample gradients are
not independent; WGAN-GP critics should not use batch norm.

The SSIM-distance penalty (QAGAN 3.2.2) and the NIQE penalty on critic gradient maps (3.2.3) are
added in the section at the end of this file.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch

__all__ = [
    "random_interpolates",
    "critic_gradient",
    "gradient_norm",
    "gradient_penalty",
    "gradient_penalty_terms",
    "CriticGradient",
    "GradientPenaltyTerms",
    "sobolev_frequencies",
    "sobolev_multiplier",
    "sobolev_filter",
    "dual_exponent",
    "lp_norm",
    "sobolev_norm",
    "BanachScales",
    "banach_scales",
    "banach_gradient_penalty",
    "banach_penalty_terms",
    "BanachPenaltyTerms",
    "banach_critic_loss",
    "banach_generator_loss",
    "SOBOLEV_C",
]

Critic = Callable[..., torch.Tensor]

#: epsilon inside the gradient-norm square root: sqrt(sum g^2 + GP_EPS). With g = 0 the norm is
#: 1e-6 and its derivative 2g / (2 sqrt(.)) = 0, so double backward never produces NaN
#: (pytorch #2534). It moves a unit norm by 5e-13, far below float32 resolution.
GP_EPS = 1e-12

#: Sobolev constant c in (1 + c |xi|^2)^(s/2) (Adler & Lunz code, ``SOBOLEV_C``, "1/pixel size").
SOBOLEV_C = 5.0

#: alpha = max|x| + STABLE_NORM_EPS in the stable L^p norm (Adler & Lunz code).
STABLE_NORM_EPS = 1e-5


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _no_autocast(device: torch.device):
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # device type without autocast support
        return contextlib.nullcontext()


def _check_batch(real: torch.Tensor, fake: torch.Tensor) -> None:
    if not isinstance(real, torch.Tensor) or not isinstance(fake, torch.Tensor):
        raise TypeError(
            f"real and fake must be tensors, got {type(real).__name__} and {type(fake).__name__}"
        )
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if real.ndim < 2 or real.shape[0] == 0:
        raise ValueError(f"real must be a non-empty batch N x ..., got shape {tuple(real.shape)}")
    if not real.is_floating_point() or not fake.is_floating_point():
        raise TypeError(f"real and fake must be floating point, got {real.dtype} and {fake.dtype}")


def random_interpolates(
    real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``x_hat = eps * real + (1 - eps) * fake``, ``eps ~ U[0, 1]`` per sample (WGAN-GP, Alg. 1).

    Both inputs are detached: the penalty regularises the critic only. ``generator`` must live on
    the inputs' device.
    """
    _check_batch(real, fake)
    dtype = _compute_dtype(real.dtype)
    real = real.detach().to(dtype)
    fake = fake.detach().to(dtype)
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(shape, generator=generator, device=real.device, dtype=dtype)
    return eps * real + (1.0 - eps) * fake


class CriticGradient(NamedTuple):
    """Critic evaluated at ``inputs`` with its input gradient (graph kept for double backward)."""

    inputs: torch.Tensor
    scores: torch.Tensor
    grad: torch.Tensor


def critic_gradient(
    critic: Critic,
    inputs: torch.Tensor,
    *,
    create_graph: bool = True,
    critic_kwargs: Mapping[str, Any] | None = None,
) -> CriticGradient:
    """Evaluate ``critic(inputs)`` and ``grad_x sum D(x)`` in >= float32 with autocast disabled.

    ``inputs`` are detached and made leaves; ``create_graph=True`` keeps the graph so a penalty of
    the gradient can be back-propagated into the critic's parameters.
    """
    x = inputs.detach().to(_compute_dtype(inputs.dtype)).requires_grad_(True)
    with _no_autocast(x.device), torch.enable_grad():
        scores = critic(x, **(critic_kwargs or {}))
        if not isinstance(scores, torch.Tensor) or scores.shape[:1] != x.shape[:1]:
            raise ValueError(
                "critic must return a tensor with one leading entry per input sample, got "
                f"{getattr(scores, 'shape', type(scores))} for inputs of shape {tuple(x.shape)}"
            )
        (grad,) = torch.autograd.grad(
            outputs=scores.sum(), inputs=x, create_graph=create_graph, retain_graph=True
        )
    return CriticGradient(x, scores, grad)


def gradient_norm(grad: torch.Tensor, eps: float = GP_EPS) -> torch.Tensor:
    """Per-sample L2 norm ``sqrt(sum_{c,h,w} g^2 + eps)``, shape ``[N]`` (eps: no NaN at g = 0)."""
    return torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + eps)


class GradientPenaltyTerms(NamedTuple):
    """Result of :func:`gradient_penalty_terms`: the penalty and what it was computed from."""

    penalty: torch.Tensor  # scalar (reduction 'mean'/'sum') or [N]
    norm: torch.Tensor  # [N] gradient norms
    inputs: torch.Tensor  # the interpolates x_hat
    scores: torch.Tensor  # D(x_hat)
    grad: torch.Tensor  # grad_x D(x_hat), with graph


_GP_MODES = ("two-sided", "one-sided")


def gradient_penalty_terms(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    mode: str = "two-sided",
    target: float = 1.0,
    eps: float = GP_EPS,
    generator: torch.Generator | None = None,
    interpolates: torch.Tensor | None = None,
    reduction: str = "mean",
    critic_kwargs: Mapping[str, Any] | None = None,
) -> GradientPenaltyTerms:
    """Gradient penalty with everything it was computed from (see :func:`gradient_penalty`).

    The returned ``grad`` (with graph) is what the NIQE penalty on critic gradient maps consumes.
    """
    if mode not in _GP_MODES:
        raise ValueError(f"mode must be one of {list(_GP_MODES)}, got {mode!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not (isinstance(target, (int, float)) and target > 0):
        raise ValueError(f"target must be a positive number, got {target!r}")
    if interpolates is None:
        interpolates = random_interpolates(real, fake, generator)
    else:
        _check_batch(real, fake)
        if interpolates.shape != real.shape:
            raise ValueError(
                f"interpolates must have the shape of real {tuple(real.shape)}, "
                f"got {tuple(interpolates.shape)}"
            )
    cg = critic_gradient(critic, interpolates, critic_kwargs=critic_kwargs)
    with _no_autocast(cg.grad.device):
        norm = gradient_norm(cg.grad, eps)
        dev = norm - target
        if mode == "one-sided":
            dev = torch.relu(dev)
        per_sample = dev.pow(2)
        if reduction == "mean":
            penalty = per_sample.mean()
        elif reduction == "sum":
            penalty = per_sample.sum()
        else:
            penalty = per_sample
    return GradientPenaltyTerms(penalty, norm, cg.inputs, cg.scores, cg.grad)


def gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    mode: str = "two-sided",
    target: float = 1.0,
    eps: float = GP_EPS,
    generator: torch.Generator | None = None,
    interpolates: torch.Tensor | None = None,
    reduction: str = "mean",
    critic_kwargs: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """WGAN gradient penalty at random interpolates (Gulrajani et al. 2017, eq. 3).

    ``two-sided``: ``E[(||grad_x_hat D(x_hat)||_2 - target)^2]`` (WGAN-GP);
    ``one-sided``: ``E[max(0, ||grad|| - target)^2]`` (WGAN-GP appendix; Petzka et al. 2018, "WGAN-LP").
    ``||g|| = sqrt(sum g^2 + eps)`` (``eps = 1e-12``) so zero gradients never give NaN in double
    backward. Not multiplied by a weight: WGAN-GP uses 10, QAGAN's code 1.0. ``reduction`` is
    ``'mean' | 'sum' | 'none'`` (``[N]``). Computed in >= float32 with autocast disabled.
    """
    return gradient_penalty_terms(
        critic,
        real,
        fake,
        mode=mode,
        target=target,
        eps=eps,
        generator=generator,
        interpolates=interpolates,
        reduction=reduction,
        critic_kwargs=critic_kwargs,
    ).penalty


# ---------------------------------------------------------------------------------------------
# Banach / Sobolev WGAN (Adler & Lunz, NeurIPS 2018; adler-j/bwgan)
# ---------------------------------------------------------------------------------------------

_SOBOLEV_CACHE: dict[tuple, torch.Tensor] = {}


def sobolev_frequencies(
    n: int, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Frequency grid of one axis: ``xi_k = min(k, n - k) / (n // 2)``, k = 0..n-1, in [0, 1].

    (Adler & Lunz code, ``sobolev_utils.py``.) A length-1 axis has ``xi = 0``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = torch.arange(n, dtype=torch.float64)
    xi = torch.minimum(k, n - k)
    if n > 1:
        xi = xi / (n // 2)
    else:
        xi = torch.zeros(1, dtype=torch.float64)
    return xi.to(dtype=dtype, device=device)


def sobolev_multiplier(
    height: int,
    width: int,
    s: float,
    c: float = SOBOLEV_C,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Fourier multiplier ``m_s(xi) = (1 + c (xi_y^2 + xi_x^2))^(s/2)``, ``height x width``, cached."""
    device = torch.device(device)
    key = (height, width, float(s), float(c), dtype, device)
    m = _SOBOLEV_CACHE.get(key)
    if m is None:
        xy = sobolev_frequencies(height)[:, None] ** 2 + sobolev_frequencies(width)[None, :] ** 2
        m = ((1.0 + c * xy) ** (s / 2.0)).to(dtype=dtype, device=device)
        _SOBOLEV_CACHE[key] = m
    return m


def sobolev_filter(x: torch.Tensor, s: float, c: float = SOBOLEV_C) -> torch.Tensor:
    """Sobolev operator ``S_s(f) = Re IFFT2[m_s * FFT2(f)]`` over the last two dims (per channel).

    ``||f||_{W^{s,p}} = ||S_s f||_p`` (Adler & Lunz 2018, section 4.2). ``s = 0`` returns ``x``
    unchanged (the multiplier is 1); ``S_s`` and ``S_{-s}`` are inverse to each other. Any real
    ``s``. Float32 at least (FFT in complex64/complex128).
    """
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dims (..., H, W), got shape {tuple(x.shape)}")
    if s == 0:
        return x
    x = x.to(_compute_dtype(x.dtype))
    m = sobolev_multiplier(x.shape[-2], x.shape[-1], s, c, x.dtype, x.device)
    return torch.fft.ifft2(torch.fft.fft2(x) * m).real


def dual_exponent(p: float) -> float:
    """Hoelder conjugate ``q = p / (p - 1)``: ``q = inf`` for ``p = 1`` and ``q = 1`` for ``p = inf``."""
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (or inf), got {p}")
    if p == 1:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1.0)


def lp_norm(x: torch.Tensor, p: float, stable: bool = True) -> torch.Tensor:
    """Per-sample ``||x||_p`` over all non-batch dims, shape ``[N]``; ``p >= 1`` or ``inf``.

    ``stable=True`` (Adler & Lunz code) computes ``alpha * ||x / alpha||_p`` with
    ``alpha = max|x| + 1e-5`` so ``sum |x|^p`` cannot overflow for large ``p``. ``alpha`` is
    detached: by homogeneity of the norm its gradient contribution is exactly zero.
    """
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (or inf), got {p}")
    flat = x.flatten(1)
    if math.isinf(p):
        return flat.abs().amax(dim=1)
    if not stable:
        return torch.linalg.vector_norm(flat, ord=p, dim=1)
    alpha = flat.detach().abs().amax(dim=1) + STABLE_NORM_EPS
    return alpha * torch.linalg.vector_norm(flat / alpha[:, None], ord=p, dim=1)


def sobolev_norm(
    x: torch.Tensor, s: float = 0.0, p: float = 2.0, c: float = SOBOLEV_C, stable: bool = True
) -> torch.Tensor:
    """``||x||_{W^{s,p}} = ||S_s x||_p`` per sample (Adler & Lunz 2018), shape ``[N]``."""
    return lp_norm(sobolev_filter(x, s, c), p, stable)


class BanachScales(NamedTuple):
    """Data-dependent Banach-WGAN scales: penalty weight ``lam`` and Lipschitz constant ``gamma``."""

    lam: torch.Tensor
    gamma: torch.Tensor


_GAMMA_FROM = ("primal_filter_dual_exponent", "dual_sobolev")


def banach_scales(
    real: torch.Tensor,
    *,
    s: float = 0.0,
    p: float = 2.0,
    c: float = SOBOLEV_C,
    gamma_from: str = "primal_filter_dual_exponent",
) -> BanachScales:
    """Per-batch ``lambda = mean_i ||S_s x_i||_p`` and ``gamma = mean_i ||S_s x_i||_q``.

    Computed from the real images without gradient. ``gamma_from='primal_filter_dual_exponent'``
    is the Adler & Lunz code (filter ``S_{+s}``, exponent ``q``); ``'dual_sobolev'`` uses
    ``S_{-s}`` (the code computes it but never uses it). For ``s = 0`` both coincide.
    """
    if gamma_from not in _GAMMA_FROM:
        raise ValueError(f"gamma_from must be one of {list(_GAMMA_FROM)}, got {gamma_from!r}")
    q = dual_exponent(p)
    with torch.no_grad(), _no_autocast(real.device):
        x = real.detach().to(_compute_dtype(real.dtype))
        primal = sobolev_filter(x, s, c)
        lam = lp_norm(primal, p).mean()
        gamma_src = (
            primal if gamma_from == "primal_filter_dual_exponent" else sobolev_filter(x, -s, c)
        )
        gamma = lp_norm(gamma_src, q).mean()
    return BanachScales(lam, gamma)


class BanachPenaltyTerms(NamedTuple):
    """Result of :func:`banach_penalty_terms`."""

    penalty: torch.Tensor  # mean_i (ddx_i / gamma - 1)^2 (not multiplied by lambda)
    dual_norm: torch.Tensor  # [N] ddx_i = ||S_{-s} grad_i||_q
    inputs: torch.Tensor
    scores: torch.Tensor
    grad: torch.Tensor


def banach_penalty_terms(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    s: float = 0.0,
    p: float = 2.0,
    c: float = SOBOLEV_C,
    gamma: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
    interpolates: torch.Tensor | None = None,
    critic_kwargs: Mapping[str, Any] | None = None,
) -> BanachPenaltyTerms:
    """Banach gradient penalty with its intermediate values (see :func:`banach_gradient_penalty`)."""
    if interpolates is None:
        interpolates = random_interpolates(real, fake, generator)
    else:
        _check_batch(real, fake)
    q = dual_exponent(p)
    cg = critic_gradient(critic, interpolates, critic_kwargs=critic_kwargs)
    with _no_autocast(cg.grad.device):
        ddx = sobolev_norm(cg.grad, -s, q, c)
        penalty = (ddx / gamma - 1.0).pow(2).mean()
    return BanachPenaltyTerms(penalty, ddx, cg.inputs, cg.scores, cg.grad)


def banach_gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    s: float = 0.0,
    p: float = 2.0,
    c: float = SOBOLEV_C,
    gamma: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
    interpolates: torch.Tensor | None = None,
    critic_kwargs: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Banach-WGAN penalty ``E_x_hat[(||grad D(x_hat)||_{B*} / gamma - 1)^2]`` (Adler & Lunz eq. 9).

    For ``B = W^{s,p}`` the dual norm is ``||g||_{W^{-s,q}} = ||S_{-s} g||_q`` with
    ``q = p / (p - 1)``. Not multiplied by ``lambda``; pass ``gamma`` from :func:`banach_scales`.
    With ``s = 0, p = 2, gamma = 1`` it is the two-sided WGAN-GP penalty (stable norm, no eps).
    """
    return banach_penalty_terms(
        critic,
        real,
        fake,
        s=s,
        p=p,
        c=c,
        gamma=gamma,
        generator=generator,
        interpolates=interpolates,
        critic_kwargs=critic_kwargs,
    ).penalty


def banach_critic_loss(
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    penalty: torch.Tensor,
    scales: BanachScales,
    eps_drift: float = 1e-5,
) -> torch.Tensor:
    """Banach-WGAN critic loss ``(E D(x~) - E D(x)) / gamma + lambda * reg + eps_drift E[D(x)^2]``.

    Adler & Lunz eq. 9 with the code's data-dependent ``lambda, gamma`` and drift
    (``cifar10_sobolev.py``), in qagen's sign convention (critic scores real high; the code's
    ``D_q = -D``).
    """
    wasserstein = (d_fake.mean() - d_real.mean()) / scales.gamma
    return wasserstein + scales.lam * penalty + eps_drift * d_real.pow(2).mean()


def banach_generator_loss(d_fake: torch.Tensor, scales: BanachScales) -> torch.Tensor:
    """Banach-WGAN generator loss ``-E[D(G(z))] / gamma`` (code: ``E[D_q(G(z))] / gamma``)."""
    return -d_fake.mean() / scales.gamma


# ---------------------------------------------------------------------------------------------
# Quality-aware penalties
# ---------------------------------------------------------------------------------------------

#: Fallback distance where d_Q is not finite (the QAGAN code's commented-out guard: sqrt(2)).
SSIM_GP_NAN_FALLBACK = 2.0**0.5


def ssim_gradient_penalty(
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    variant: str = "paper",
    eps: float = 1e-8,
    reduction: str = "mean",
) -> torch.Tensor:
    """QAGAN SSIM gradient penalty E_i[(|D(x_i) - D(x~_i)| / d_Q(x_i, x~_i) - 1)^2] (two-sided).

    Kancharla & Channappayya, NeurIPS 2019 (slides; code ``QAGAN-SSIM/SSIM_penalty.py``): the
    critic is asked to be 1-Lipschitz with respect to the SSIM distance d_Q = sqrt(2 - L - CS).
    Pairs are index-aligned real/fake images of the minibatch (``real[i]`` with ``fake[i]``), and
    ``d_real``/``d_fake`` are the critic scores already computed for the Wasserstein term (no
    extra forward pass).

    Images are in [-1, 1]. ``variant="paper"`` is the authors' code: grey with TF weights, L = 2,
    8-tap window, +0.01 in the CS denominator, spatial mean of the sqrt map
    (:func:`qagen.iqa.ssim_distance` with ``variant="paper"``); ``"standard"`` maps the images to
    [0, 1] and uses the 11-tap MATLAB SSIM with 'same' replicate padding (maps keep the image
    size, which 32 px images need), clamp and ``eps``. A non-finite d_Q falls back to sqrt(2).
    """
    from qagen._checks import input_checks
    from qagen.iqa.structural import ssim_distance

    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    d_real, d_fake = d_real.reshape(-1), d_fake.reshape(-1)
    if d_real.shape[0] != real.shape[0] or d_fake.shape[0] != fake.shape[0]:
        raise ValueError(
            f"d_real/d_fake must hold one score per image ({real.shape[0]}), got {d_real.shape[0]} and {d_fake.shape[0]}"
        )
    with _no_autocast(real.device), input_checks(False):
        r, f = real.to(_compute_dtype(real.dtype)), fake.to(_compute_dtype(fake.dtype))
        if variant == "paper":
            dq = ssim_distance(f, r, data_range=2.0, variant="paper", eps=eps)
        elif variant == "standard":
            dq = ssim_distance((f + 1) / 2, (r + 1) / 2, data_range=1.0, padding="same", eps=eps)
        else:
            raise ValueError(f"variant must be 'paper' or 'standard', got {variant!r}")
        dq = torch.where(torch.isfinite(dq), dq, torch.full_like(dq, SSIM_GP_NAN_FALLBACK))
        ratio = (d_real.to(dq.dtype) - d_fake.to(dq.dtype)).abs() / dq
        pen = (ratio - 1.0) ** 2
    if reduction == "none":
        return pen
    if reduction == "mean":
        return pen.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


# The NIQE penalty on the critic gradient maps at the GP interpolates
# (``GradientPenaltyTerms.grad``), its 'qagan' and 'live' feature variants, batch/per-image
# pooling and the pristine model (``QAGAN-NIQE/NIQE_penalty.py``) live in
# ``qagen.gan.niqe_penalty``:
# ``niqe_gradient_penalty``, ``gradient_map_features``, ``NIQEGradientPenalty``.
