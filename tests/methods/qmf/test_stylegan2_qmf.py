"""stylegan2-qmf: StyleGAN2 with QMF's PAM and M_F on the synthesis features (docs/qmf.md):
the generator's loss reaches the mapping network through M_F's output, the two-pass maps come
from the plain StyleGAN2 output with the same noise, and the module switches."""

from __future__ import annotations

import pytest
import torch

from qagen.gan.nets.stylegan2 import StyleGAN2Generator
from qagen.methods.qmf.stylegan2 import StyleGAN2QMFGenerator


def _gen(**kw) -> StyleGAN2QMFGenerator:
    torch.manual_seed(0)
    sg = StyleGAN2Generator(16, 8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8)
    return StyleGAN2QMFGenerator(sg, fusion_resolution=4, heads=2, **kw)


def _noise(g, n):
    return [torch.randn(n, 1, r, r) for r in g.noise_resolutions]


def test_gradients_reach_the_mapping_network_through_m_f():
    g = _gen()
    z, maps = torch.randn(3, 8), torch.rand(3, 3, 16, 16)
    _, info = g(z, noises=_noise(g, 3), maps=maps, return_info=True)
    assert info["I"].shape == info["E"].shape == (3, 8, 4, 4)
    # the M_F output I = sigmoid(M) * PAM(E) alone, backpropagated
    info["I"].square().sum().backward()
    for layer in g.stylegan.mapping.layers:
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert all(p.grad.abs().sum() > 0 for p in g.fusion.mlp.parameters())
    # blocks after the fusion resolution are not on I's path
    assert g.stylegan.synthesis.blocks[-1].conv1.weight.grad is None


def test_the_gate_scales_the_path_through_m_f():
    """I = sigmoid(M) * Z: with M_F's last bias at -30 the gate closes and so does the path."""
    g = _gen()
    torch.nn.init.constant_(g.fusion.mlp[-1].bias, -30.0)
    torch.nn.init.zeros_(g.fusion.mlp[-1].weight)
    z, maps = torch.randn(2, 8), torch.rand(2, 3, 16, 16)
    _, info = g(z, noises=_noise(g, 2), maps=maps, return_info=True)
    info["I"].sum().backward()
    assert g.stylegan.mapping.layers[0].weight.grad.abs().max() < 1e-9


def test_two_pass_maps_come_from_the_plain_output_with_the_same_noise():
    g = _gen()
    g.eval()
    z, ref, noise = torch.randn(2, 8), torch.rand(2, 3, 16, 16) * 2 - 1, _noise(g, 2)
    seen = {}

    def maps_fn(x0, r):
        seen["x0"], seen["ref"] = x0, r
        return torch.rand(2, 3, 16, 16)

    out, info = g(z, noises=noise, ref=ref, maps_fn=maps_fn, return_info=True)
    plain = g.stylegan(z, noises=noise)
    assert torch.equal(seen["ref"], ref) and torch.allclose(seen["x0"], plain)
    assert not torch.allclose(out, plain)  # V = sigmoid(M) * Z + E differs from E
    with pytest.raises(ValueError, match="two-pass"):
        g(z, ref=ref, maps_fn=maps_fn)  # no noises: the passes could not share them


@pytest.mark.parametrize("pam, fusion", [(False, False), (True, False), (False, True)])
def test_module_switches(pam, fusion):
    g = _gen(pam=pam, map_fusion=fusion)
    z, noise = torch.randn(2, 8), _noise(g, 2)
    maps = torch.rand(2, 3, 16, 16) if fusion else None
    out, info = g(z, noises=noise, maps=maps, return_info=True)
    if not (pam or fusion):  # the baseline is StyleGAN2 itself
        assert torch.allclose(out, g.stylegan(z, noises=noise))
    assert ("I" in info) == fusion and (g.pam is None) == (not pam)
