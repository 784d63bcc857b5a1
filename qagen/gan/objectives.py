"""Adversarial objectives: Wasserstein, hinge and non-saturating losses, the drift term and the
BEGAN equilibrium controller (Gulrajani et al. 2017; the QAGAN code ``lfovia/QAGANS``; Adler &
Lunz 2018, ``adler-j/bwgan``; Berthelot, Schumm, Metz 2017).

**Sign convention.** qagen uses the usual convention: the critic scores *real* images high.

- Wasserstein critic loss   ``L_D = E[D(x_fake)] - E[D(x_real)]``
- Wasserstein generator loss ``L_G = -E[D(G(z))]``

The QAGAN and Banach-WGAN TensorFlow code (``lfovia/QAGANS``, ``adler-j/bwgan``) uses the flipped
sign: its critic ``D_q`` scores *fakes* high, ``d_loss = E[D_q(x)] - E[D_q(x~)] + ...`` and
``g_loss = E[D_q(G(z))]``. The two are the same objective with ``D_q = -D``: every loss value
below equals the code's value, and every critic output is the negation of the code's. The
penalties (gradient penalty, drift ``E[D^2]``, SSIM penalty ``|D(x) - D(x~)|``) are invariant to
the flip, so no regulariser changes sign.

All losses take critic outputs of any shape (``[N]`` or ``[N, 1]`` or per-pixel ``[N, 1, H, W]``)
and average over every element, returning a scalar.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from qagen.errors import InputError

__all__ = [
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
    "hinge_critic_loss",
    "hinge_generator_loss",
    "nonsaturating_critic_loss",
    "nonsaturating_generator_loss",
    "drift_penalty",
    "critic_loss",
    "generator_loss",
    "LOSSES",
    "autoencoder_l1",
    "began_critic_loss",
    "began_generator_loss",
    "BEGANController",
]

_log = logging.getLogger("qagen.gan")

#: Default weight of the drift term (QAGAN and Banach-WGAN code; Karras et al. 2018 use 1e-3).
DRIFT_EPS = 1e-5


def wasserstein_critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic loss ``E[D(x_fake)] - E[D(x_real)]`` (Arjovsky et al. 2017; WGAN-GP eq. 3).

    Equals QAGAN/BWGAN's ``d_loss`` without regularisers, evaluated with ``D = -D_q``.
    """
    return d_fake.mean() - d_real.mean()


def wasserstein_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Wasserstein generator loss ``-E[D(G(z))]`` (QAGAN code: ``E[D_q(G(z))]`` with ``D_q = -D``)."""
    return -d_fake.mean()


def hinge_critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Hinge critic loss ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]`` (Lim & Ye 2017; SNGAN)."""
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss ``-E[D(G(z))]`` (Lim & Ye 2017)."""
    return -d_fake.mean()


def nonsaturating_critic_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating (logistic) critic loss on logits (Goodfellow et al. 2014).

    ``-E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(G(z))))] = E[softplus(-D(x))] + E[softplus(D(G(z)))]``.
    The softplus form is exact and never takes ``log(0)``.
    """
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def nonsaturating_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-E[log sigmoid(D(G(z)))] = E[softplus(-D(G(z)))]``."""
    return F.softplus(-d_fake).mean()


def drift_penalty(d_real: torch.Tensor, eps_drift: float = DRIFT_EPS) -> torch.Tensor:
    """Drift term ``eps_drift * E[D(x_real)^2]`` keeping critic outputs near 0.

    Karras et al. 2018 (progressive GAN) with ``eps_drift = 1e-3``; QAGAN/BWGAN code use ``1e-5``
    (``lfovia/QAGANS``, ``cifar10_sobolev.py``). Invariant to the sign flip ``D_q = -D``.
    """
    return eps_drift * d_real.pow(2).mean()


#: name -> (critic loss, generator loss)
LOSSES: Mapping[
    str,
    tuple[
        Callable[[torch.Tensor, torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]
    ],
] = {
    "wasserstein": (wasserstein_critic_loss, wasserstein_generator_loss),
    "hinge": (hinge_critic_loss, hinge_generator_loss),
    "nonsaturating": (nonsaturating_critic_loss, nonsaturating_generator_loss),
}


def _loss_pair(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}") from None


def critic_loss(name: str, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Critic loss by name: ``'wasserstein' | 'hinge' | 'nonsaturating'`` (see :data:`LOSSES`)."""
    return _loss_pair(name)[0](d_real, d_fake)


def generator_loss(name: str, d_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss by name: ``'wasserstein' | 'hinge' | 'nonsaturating'``."""
    return _loss_pair(name)[1](d_fake)


# ---------------------------------------------------------------------------------------------
# BEGAN (Berthelot, Schumm, Metz 2017, arXiv 1703.10717)
# ---------------------------------------------------------------------------------------------


def autoencoder_l1(v: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """BEGAN autoencoder loss per image ``L(v) = mean_pixels |v - D(v)|`` (eta = 1), shape ``[N]``."""
    if v.shape != reconstruction.shape:
        raise ValueError(
            f"reconstruction must have the shape of v {tuple(v.shape)}, got {tuple(reconstruction.shape)}"
        )
    return (v - reconstruction).abs().flatten(1).mean(dim=1)


def began_critic_loss(
    loss_real: torch.Tensor, loss_fake: torch.Tensor, k: float | torch.Tensor
) -> torch.Tensor:
    """BEGAN critic loss ``L_D = L(x) - k_t L(G(z_D))`` (BEGAN eq. 4), batch means of ``L``."""
    return loss_real.mean() - k * loss_fake.mean()


def began_generator_loss(loss_fake: torch.Tensor) -> torch.Tensor:
    """BEGAN generator loss ``L_G = L(G(z_G))`` (BEGAN eq. 4)."""
    return loss_fake.mean()


def _as_float(v: float | torch.Tensor) -> float:
    if isinstance(v, torch.Tensor):
        return float(v.detach().float().mean())
    return float(v)


class BEGANController:
    """BEGAN equilibrium controller (Berthelot et al. 2017, eq. 4 and section 3.4.1).

    ``k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), k_min, k_max)`` with defaults
    ``lambda_k = 0.001``, ``k_0 = 0``, clip to ``[0, 1]``;
    convergence measure ``M_global = L(x) + |gamma L(x) - L(G(z))|``.

    Under DDP the two losses are averaged over ranks before the update (``sync=True``) so every
    rank holds the same ``k``. A warning is logged when ``k`` has stayed at a bound for
    ``stuck_warn_steps`` consecutive updates (k stuck at 0: carpedm20/BEGAN-tensorflow #12).
    The state (``k``, step, stuck counter, last ``M_global``) goes into checkpoints through
    :meth:`state_dict`.
    """

    def __init__(
        self,
        gamma: float = 0.5,
        lambda_k: float = 0.001,
        k_init: float = 0.0,
        k_min: float = 0.0,
        k_max: float = 1.0,
        stuck_warn_steps: int | None = 1000,
        sync: bool = True,
    ) -> None:
        if not 0.0 <= gamma <= 1.0:
            raise InputError(f"gamma must lie in [0, 1], got {gamma}")
        if not lambda_k >= 0:
            raise InputError(f"lambda_k must be >= 0, got {lambda_k}")
        if not k_min <= k_init <= k_max:
            raise InputError(
                f"k_init must lie in [k_min, k_max] = [{k_min}, {k_max}], got {k_init}"
            )
        self.gamma = float(gamma)
        self.lambda_k = float(lambda_k)
        self.k_min = float(k_min)
        self.k_max = float(k_max)
        self.k = float(k_init)
        self.stuck_warn_steps = stuck_warn_steps
        self.sync = sync
        self.step = 0
        self.stuck_steps = 0
        self.last_m_global = math.nan
        self.last_balance = math.nan

    def _losses(self, loss_real, loss_fake) -> tuple[float, float]:
        lr, lf = _as_float(loss_real), _as_float(loss_fake)
        if (
            self.sync
            and torch.distributed.is_available()
            and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1
        ):
            dev = loss_real.device if isinstance(loss_real, torch.Tensor) else torch.device("cpu")
            if torch.distributed.get_backend() == "nccl" and dev.type != "cuda":
                dev = torch.device("cuda", torch.cuda.current_device())
            t = torch.tensor([lr, lf], dtype=torch.float64, device=dev)
            torch.distributed.all_reduce(t)
            t /= torch.distributed.get_world_size()
            lr, lf = float(t[0]), float(t[1])
        return lr, lf

    def convergence(
        self, loss_real: float | torch.Tensor, loss_fake: float | torch.Tensor
    ) -> float:
        """``M_global = L(x) + |gamma L(x) - L(G(z))|`` (no state change, no synchronisation)."""
        lr, lf = _as_float(loss_real), _as_float(loss_fake)
        return lr + abs(self.gamma * lr - lf)

    def update(self, loss_real: float | torch.Tensor, loss_fake: float | torch.Tensor) -> float:
        """Apply one proportional-control step with the batch losses; returns the new ``k``.

        ``loss_real = L(x)`` and ``loss_fake = L(G(z_G))`` (tensors are detached and averaged).
        """
        lr, lf = self._losses(loss_real, loss_fake)
        balance = self.gamma * lr - lf
        self.k = min(max(self.k + self.lambda_k * balance, self.k_min), self.k_max)
        self.last_balance = balance
        self.last_m_global = lr + abs(balance)
        self.step += 1
        if self.k in (self.k_min, self.k_max):
            self.stuck_steps += 1
            if self.stuck_warn_steps and self.stuck_steps == self.stuck_warn_steps:
                _log.warning(
                    "BEGAN k_t has stayed at %g for %d steps (gamma=%g, lambda_k=%g); "
                    "check gamma and the learning rate",
                    self.k,
                    self.stuck_steps,
                    self.gamma,
                    self.lambda_k,
                )
        else:
            self.stuck_steps = 0
        return self.k

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (plain Python numbers; safe for weights_only)."""
        return {
            "k": self.k,
            "gamma": self.gamma,
            "lambda_k": self.lambda_k,
            "k_min": self.k_min,
            "k_max": self.k_max,
            "step": self.step,
            "stuck_steps": self.stuck_steps,
            "last_m_global": self.last_m_global,
            "last_balance": self.last_balance,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; unknown keys raise ``KeyError``."""
        allowed = set(self.state_dict())
        unknown = set(state) - allowed
        if unknown:
            raise KeyError(f"unexpected keys in BEGANController state: {sorted(unknown)}")
        for key, value in state.items():
            setattr(self, key, int(value) if key in ("step", "stuck_steps") else float(value))

    def __repr__(self) -> str:
        return (
            f"BEGANController(k={self.k:.6g}, gamma={self.gamma}, lambda_k={self.lambda_k}, "
            f"step={self.step})"
        )
