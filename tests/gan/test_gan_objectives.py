"""Adversarial losses and the BEGAN controller against hand-computed values and torch's BCE."""

from __future__ import annotations

import io
import logging
import math

import pytest
import torch
import torch.nn.functional as F

from qagen.gan.objectives import (
    LOSSES,
    BEGANController,
    autoencoder_l1,
    began_critic_loss,
    began_generator_loss,
    critic_loss,
    drift_penalty,
    generator_loss,
    hinge_critic_loss,
    hinge_generator_loss,
    nonsaturating_critic_loss,
    nonsaturating_generator_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)

D_REAL = torch.tensor([2.0, 0.5, -1.0])
D_FAKE = torch.tensor([-2.0, 0.0, 0.5])


def test_wasserstein_closed_form():
    # E[D(fake)] - E[D(real)] = (-1.5/3) - (1.5/3) = -1; exact in float32 up to rounding (1e-7).
    assert wasserstein_critic_loss(D_REAL, D_FAKE).item() == pytest.approx(-1.0, abs=1e-7)
    assert wasserstein_generator_loss(D_FAKE).item() == pytest.approx(0.5, abs=1e-7)


def test_wasserstein_matches_qagan_flipped_sign():
    # QAGAN code: d_loss = E[D_q(x)] - E[D_q(x~)], g_loss = E[D_q(G(z))] with D_q = -D (REFERENCE 3.2.1).
    dq_real, dq_fake = -D_REAL, -D_FAKE
    code_d_loss = dq_real.mean() - dq_fake.mean()
    code_g_loss = dq_fake.mean()
    assert torch.allclose(wasserstein_critic_loss(D_REAL, D_FAKE), code_d_loss)
    assert torch.allclose(wasserstein_generator_loss(D_FAKE), code_g_loss)


def test_hinge_closed_form():
    # relu(1 - [2, .5, -1]) = [0, .5, 2]; relu(1 + [-2, 0, .5]) = [0, 1, 1.5]; means 2.5/3 each.
    assert hinge_critic_loss(D_REAL, D_FAKE).item() == pytest.approx(5.0 / 3.0, abs=1e-6)
    assert hinge_generator_loss(D_FAKE).item() == pytest.approx(0.5, abs=1e-7)


def test_nonsaturating_equals_bce_with_logits():
    # Independent reference: torch's BCE with logits (same maths, different code path); 1e-6.
    bce = F.binary_cross_entropy_with_logits
    ref_d = bce(D_REAL, torch.ones(3)) + bce(D_FAKE, torch.zeros(3))
    ref_g = bce(D_FAKE, torch.ones(3))
    assert torch.allclose(nonsaturating_critic_loss(D_REAL, D_FAKE), ref_d, atol=1e-6)
    assert torch.allclose(nonsaturating_generator_loss(D_FAKE), ref_g, atol=1e-6)


def test_nonsaturating_extreme_logits_finite():
    # log(sigmoid(-100)) would be -inf in a naive float32 form; softplus stays exact (= 100).
    d = torch.tensor([-100.0, 100.0], requires_grad=True)
    loss = nonsaturating_critic_loss(d, d) + nonsaturating_generator_loss(d)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(d.grad).all()
    assert loss.item() == pytest.approx(150.0, rel=1e-6)  # (100 + 100)/2 + 100/2


def test_drift_penalty():
    # 1e-5 * mean([4, .25, 1]) = 1e-5 * 1.75
    assert drift_penalty(D_REAL).item() == pytest.approx(1.75e-5, rel=1e-6)
    assert drift_penalty(D_REAL, 1e-3).item() == pytest.approx(1.75e-3, rel=1e-6)


def test_dispatch_and_shapes():
    for name in LOSSES:
        a = critic_loss(name, D_REAL, D_FAKE)
        b = critic_loss(name, D_REAL[:, None], D_FAKE[:, None])  # [N, 1] critic outputs
        assert a.ndim == 0 and torch.allclose(a, b)
        assert generator_loss(name, D_FAKE).ndim == 0
    with pytest.raises(ValueError, match="loss must be one of"):
        critic_loss("lsgan", D_REAL, D_FAKE)
    with pytest.raises(ValueError, match="loss must be one of"):
        generator_loss("lsgan", D_FAKE)


def test_began_losses():
    v = torch.zeros(2, 3, 4, 4)
    rec = torch.ones(2, 3, 4, 4)
    rec[1] = -0.5
    assert torch.allclose(autoencoder_l1(v, rec), torch.tensor([1.0, 0.5]))
    lr, lf = torch.tensor([0.2, 0.4]), torch.tensor([0.1, 0.3])
    # L_D = 0.3 - 0.5 * 0.2 = 0.2 ; L_G = 0.2
    assert began_critic_loss(lr, lf, 0.5).item() == pytest.approx(0.2, abs=1e-7)
    assert began_generator_loss(lf).item() == pytest.approx(0.2, abs=1e-7)
    with pytest.raises(ValueError, match="reconstruction"):
        autoencoder_l1(v, rec[:1])


def test_began_controller_update_by_hand():
    c = BEGANController(gamma=0.5, lambda_k=0.001)
    # k1 = clip(0 + 0.001 (0.5*0.2 - 0.05)) = 5e-5 ; M = 0.2 + |0.1 - 0.05| = 0.25
    assert c.update(0.2, 0.05) == pytest.approx(5e-5, abs=1e-15)
    assert c.last_m_global == pytest.approx(0.25, abs=1e-15)
    assert c.convergence(0.2, 0.05) == pytest.approx(0.25, abs=1e-15)
    # k2 = 5e-5 + 0.001 (0.5*0.4 - 0.1) = 1.5e-4 (tensor inputs are averaged; float32 inputs
    # carry ~1e-8 relative rounding, hence 1e-10 absolute on k)
    k2 = c.update(torch.tensor([0.3, 0.5]), torch.tensor(0.1))
    assert k2 == pytest.approx(1.5e-4, abs=1e-10)
    # negative balance clips at 0
    assert c.update(0.0, 10.0) == 0.0
    # large positive balance clips at 1
    c2 = BEGANController(gamma=1.0, lambda_k=1.0)
    assert c2.update(5.0, 0.0) == 1.0
    with pytest.raises(ValueError, match="gamma"):
        BEGANController(gamma=1.5)


def test_began_controller_state_roundtrip_and_weights_only_load():
    a = BEGANController(gamma=0.7, lambda_k=0.01)
    for lr, lf in [(0.3, 0.1), (0.25, 0.2), (0.2, 0.05)]:
        a.update(lr, lf)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    b = BEGANController()
    b.load_state_dict(state)
    assert b.state_dict() == a.state_dict()
    # continuing gives bit-identical k
    for lr, lf in [(0.4, 0.1), (0.1, 0.3)]:
        assert a.update(lr, lf) == b.update(lr, lf)
    with pytest.raises(KeyError):
        b.load_state_dict({"bogus": 1.0})


def test_began_controller_warns_when_stuck(caplog):
    c = BEGANController(gamma=0.5, lambda_k=0.001, stuck_warn_steps=3)
    with caplog.at_level(logging.WARNING, logger="qagen.gan"):
        for _ in range(3):
            c.update(0.0, 1.0)
    assert c.stuck_steps == 3
    assert any("k_t has stayed" in r.getMessage() for r in caplog.records)
    assert math.isfinite(c.last_m_global)
