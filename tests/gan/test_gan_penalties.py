"""Gradient penalty against closed forms (linear and quadratic critics), NaN-safety, autocast."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qagen.gan.penalties import (
    GP_EPS,
    critic_gradient,
    gradient_norm,
    gradient_penalty,
    gradient_penalty_terms,
    random_interpolates,
)


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b per sample: grad_x D = w everywhere, ||grad|| = ||w||."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1) + self.b


def _batch(n=4, shape=(3, 5, 6), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand((n, *shape), generator=g, dtype=dtype) * 2 - 1
    fake = torch.rand((n, *shape), generator=g, dtype=dtype) * 2 - 1
    return real, fake


def _w_with_norm(norm: float, shape=(3, 5, 6), seed=1) -> torch.Tensor:
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return w / w.norm() * norm


@pytest.mark.parametrize("norm", [0.5, 1.0, 2.0])
def test_linear_critic_closed_form(norm):
    # ||grad|| = ||w|| for every sample: two-sided (||w|| - 1)^2, one-sided max(0, ||w|| - 1)^2.
    # Tolerance 1e-6: float32 rounding of a 90-element norm (the 1e-12 epsilon adds < 1e-12).
    real, fake = _batch()
    critic = LinearCritic(_w_with_norm(norm))
    two = gradient_penalty(critic, real, fake)
    one = gradient_penalty(critic, real, fake, mode="one-sided")
    assert two.item() == pytest.approx((norm - 1) ** 2, abs=1e-6)
    assert one.item() == pytest.approx(max(0.0, norm - 1) ** 2, abs=1e-6)
    per = gradient_penalty(critic, real, fake, reduction="none")
    assert per.shape == (4,)
    assert gradient_penalty(critic, real, fake, reduction="sum").item() == pytest.approx(
        4 * (norm - 1) ** 2, abs=4e-6
    )
    t = gradient_penalty(critic, real, fake, target=2.0)  # (||w|| - 2)^2
    assert t.item() == pytest.approx((norm - 2) ** 2, abs=1e-6)


def test_double_backward_matches_closed_form_parameter_gradient():
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||; float64 so 1e-12 is the epsilon's effect only.
    real, fake = _batch(dtype=torch.float64)
    w = _w_with_norm(2.0).double()
    critic = LinearCritic(w).double()
    gradient_penalty(critic, real, fake).backward()
    expected = 2 * (2.0 - 1) * w / 2.0
    assert torch.allclose(critic.w.grad, expected, atol=1e-10)
    assert critic.b.grad is None or critic.b.grad.abs().item() == 0.0  # bias: no input-grad effect


def test_interpolates_formula_and_generator_reproducibility():
    # Quadratic critic D(x) = 0.5 ||x||^2 has grad = x, so the returned gradient *is* x_hat;
    # x_hat must equal eps * real + (1 - eps) * fake with eps from the same seeded generator.
    real, fake = _batch(dtype=torch.float64)
    terms = gradient_penalty_terms(
        lambda x: 0.5 * x.pow(2).flatten(1).sum(1),
        real,
        fake,
        generator=torch.Generator().manual_seed(123),
    )
    eps = torch.rand(
        (4, 1, 1, 1), generator=torch.Generator().manual_seed(123), dtype=torch.float64
    )
    expected = eps * real + (1 - eps) * fake
    assert torch.allclose(terms.inputs, expected, atol=1e-15)
    assert torch.allclose(terms.grad, expected, atol=1e-15)
    norms = expected.flatten(1).norm(dim=1)
    assert torch.allclose(terms.norm, norms, atol=1e-12)
    assert torch.allclose(terms.penalty, ((norms - 1) ** 2).mean(), atol=1e-12)
    # same seed -> same draw; eps lies in [0, 1] so x_hat is on the segment
    again = random_interpolates(real, fake, torch.Generator().manual_seed(123))
    assert torch.equal(again, expected)


def test_zero_gradient_gives_finite_double_backward():
    # A critic with w = 0 has a zero input gradient: sqrt(0) would give NaN in double backward
    # (pytorch #2534). With sqrt(sum g^2 + 1e-12) the penalty is (1e-6 - 1)^2 and d/dw = 0.
    real, fake = _batch()
    critic = LinearCritic(torch.zeros(3, 5, 6))
    gp = gradient_penalty(critic, real, fake)
    gp.backward()
    assert gp.item() == pytest.approx((GP_EPS**0.5 - 1) ** 2, abs=1e-6)
    assert torch.isfinite(critic.w.grad).all() and critic.w.grad.abs().max() == 0
    # the same through a ReLU conv critic whose output is constant (all-dead units)
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 4, 1))
    with torch.no_grad():
        conv[0].bias.fill_(-100.0)
    gp = gradient_penalty(conv, real, fake)
    gp.backward()
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters() if p.grad is not None)


def test_gradient_norm_definition():
    g = torch.tensor([[[3.0, 4.0]], [[0.0, 0.0]]])
    assert torch.allclose(gradient_norm(g), torch.tensor([5.0, 1e-6]), atol=1e-7)


def _small_conv_critic():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.LeakyReLU(0.2),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 1),
    )


def test_autocast_is_disabled_inside_the_penalty():
    # Under bf16 autocast the penalty must equal the fp32 value (it is computed with autocast
    # off); identical ops in fp32 -> agreement to 1e-6.
    real, fake = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    critic = _small_conv_critic()
    ref = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = gradient_penalty_terms(
            critic, real, fake, generator=torch.Generator().manual_seed(0)
        )
    assert terms.penalty.dtype == torch.float32 and terms.grad.dtype == torch.float32
    assert terms.scores.dtype == torch.float32
    assert terms.penalty.item() == pytest.approx(ref.item(), rel=1e-6)


def test_dtypes_promoted_and_kept():
    critic = _small_conv_critic()
    real, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    g16 = critic_gradient(critic, real.bfloat16())
    assert g16.grad.dtype == torch.float32  # half inputs are promoted to fp32
    critic64 = _small_conv_critic().double()
    t = gradient_penalty_terms(critic64, real.double(), fake.double())
    assert t.penalty.dtype == torch.float64 and t.grad.dtype == torch.float64


def test_per_pixel_critic_and_given_interpolates():
    # A per-pixel critic D(x) = sum_c x (output N x 1 x H x W): grad of the sum is all-ones,
    # ||grad|| = sqrt(C H W) = sqrt(3 * 4 * 4).
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    crit = lambda x: x.sum(1, keepdim=True)  # noqa: E731
    t = gradient_penalty_terms(crit, real, fake, interpolates=real)
    assert torch.equal(t.inputs, real)
    assert torch.allclose(t.norm, torch.full((2,), 48**0.5), atol=1e-5)


def test_bad_arguments():
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    crit = LinearCritic(torch.ones(3, 4, 4))
    with pytest.raises(ValueError, match="mode"):
        gradient_penalty(crit, real, fake, mode="both")
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(crit, real, fake[:1])
    with pytest.raises(TypeError, match="floating point"):
        gradient_penalty(crit, real, (fake * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="reduction"):
        gradient_penalty(crit, real, fake, reduction="max")
    with pytest.raises(ValueError, match="critic must return"):
        gradient_penalty(lambda x: x.sum(), real, fake)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA for fp16 autocast")
def test_cuda_fp16_autocast_penalty_matches_fp32():
    # fp16 autocast would square gradients in half precision; the penalty disables it, so the
    # value equals the fp32 one (same kernels; TF32 off for the comparison): 1e-5 relative.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    critic = _small_conv_critic().cuda()
    real, fake = torch.rand(4, 3, 8, 8, device="cuda"), torch.rand(4, 3, 8, 8, device="cuda")
    gen = lambda: torch.Generator(device="cuda").manual_seed(0)  # noqa: E731
    ref = gradient_penalty(critic, real, fake, generator=gen())
    with torch.autocast("cuda", dtype=torch.float16):
        terms = gradient_penalty_terms(critic, real, fake, generator=gen())
    assert terms.grad.dtype == torch.float32
    assert terms.penalty.item() == pytest.approx(ref.item(), rel=1e-5)
