"""QMF networks: PAM and M_F shapes and formulas, the two-pass forward, V = I + E, gradients
reaching g1 through M_F, and the critics' heads."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from qagen.methods.qmf.nets import PAM, MapFusion, PatchCritic, QMFGenerator, ScoreRegressor


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_pam_shapes_and_formula():
    torch.manual_seed(0)
    pam = PAM(32, heads=4, reduction=16)
    e = torch.randn(2, 32, 8, 8)
    z, info = pam(e, need_weights=True)
    assert z.shape == e.shape and info["U"].shape == (2, 32, 1, 1)
    assert bool(((info["U"] > 0) & (info["U"] < 1)).all())  # sigmoid
    torch.testing.assert_close(info["h"].sum(1), torch.ones(2, 8, 8))  # softmax over channels
    att = info["attention"]
    assert att.shape == (2, 4, 64, 64)
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 4, 64))
    # Z = RB2(E * h), h = softmax(head * U): rebuilt from the submodules by hand
    u = torch.sigmoid(pam.channel.mlp(F.adaptive_avg_pool2d(pam.rb1(e), 1))
                      + pam.channel.mlp(F.adaptive_max_pool2d(pam.rb1(e), 1)))  # fmt: skip
    head, _ = pam.attention(e)
    h = torch.softmax(head * u, dim=1)
    torch.testing.assert_close(z, pam.rb2(e * h))
    # the self-attention by hand: queries E w_a, keys = values = E w_b, 4 heads of 8 dims
    t = e.flatten(2).transpose(1, 2)
    q = pam.attention.w_a(t).view(2, 64, 4, 8).transpose(1, 2)
    kv = pam.attention.w_b(t).view(2, 64, 4, 8).transpose(1, 2)
    a = torch.softmax(q @ kv.transpose(-1, -2) / 8**0.5, -1) @ kv
    ref = pam.attention.out(a.transpose(1, 2).reshape(2, 64, 32)).transpose(1, 2).view(2, 32, 8, 8)
    torch.testing.assert_close(head, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["gate", "expectation"])
def test_map_fusion_shapes_and_formula(mode):
    torch.manual_seed(1)
    mf = MapFusion(3, hidden=16, alpha=0.5, mode=mode)
    maps = torch.rand(2, 3, 32, 32)
    z = torch.randn(2, 16, 8, 8)
    i_feat, m = mf(maps, z)
    assert i_feat.shape == z.shape and m.shape == (2, 1, 8, 8)
    # M = W2 relu(W1 pool(alpha maps) + b1) + b2: the per-pixel MLP by hand
    pooled = (0.5 * maps).view(2, 3, 8, 4, 8, 4).mean((3, 5))
    w1, b1 = mf.mlp[0].weight[:, :, 0, 0], mf.mlp[0].bias
    w2, b2 = mf.mlp[2].weight[:, :, 0, 0], mf.mlp[2].bias
    hid = torch.relu(torch.einsum("kc,nchw->nkhw", w1, pooled) + b1[:, None, None])
    m_ref = torch.einsum("ok,nkhw->nohw", w2, hid) + b2[:, None, None]
    torch.testing.assert_close(m, m_ref, rtol=1e-5, atol=1e-6)
    if mode == "gate":
        torch.testing.assert_close(i_feat, torch.sigmoid(m_ref) * z)
    else:
        w = torch.softmax(m_ref.flatten(1), 1).view(2, 1, 8, 8)
        torch.testing.assert_close(i_feat[:, :, 3, 5], (w * z).sum((2, 3)))
    with pytest.raises(ValueError, match="0.3, 1"):
        MapFusion(alpha=0.2)
    power = MapFusion(alpha=0.5, alpha_mode="power")
    torch.testing.assert_close(
        power.intensity(torch.tensor([0.25, -1.0])), torch.tensor([0.5, 0.0])
    )


def _maps_fn(calls):
    def fn(x0, ref):
        calls.append(x0)
        d = (x0 - ref).abs().mean(1, keepdim=True)
        return torch.cat([1 - d, 1 - d**2, 1 - 0.5 * d], 1)

    return fn


@pytest.mark.parametrize("pam", [True, False])
def test_generator_two_pass_and_gradient_through_map_fusion(pam):
    torch.manual_seed(2)
    g = QMFGenerator(32, ngf=8, n_res=1, pam=pam, map_fusion=True)
    cond = torch.rand(2, 3, 32, 32) * 2 - 1
    ref = torch.rand(2, 3, 32, 32) * 2 - 1
    calls: list[torch.Tensor] = []
    seen = {}
    g.g2.register_forward_pre_hook(lambda m, args: seen.__setitem__("v", args[0]))
    out, info = g(cond, ref=ref, maps_fn=_maps_fn(calls), return_info=True)
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    assert info["E"].shape == (2, 32, 8, 8) and info["M"].shape == (2, 1, 8, 8)
    # V = I + E went into the decoder (its last call)
    torch.testing.assert_close(seen["v"], info["I"] + info["E"])
    # pass 1 decoded E alone (I = 0) without gradient; its maps entered M_F detached
    assert len(calls) == 1 and not calls[0].requires_grad and not info["maps"].requires_grad
    torch.testing.assert_close(calls[0], g.g2(info["E"]))
    # gradient reaches g1 through M_F alone (I = sigmoid(M) * Z, Z from E)
    g.zero_grad()
    info["I"].pow(2).sum().backward()
    g1_grad = sum(p.grad.abs().sum() for p in g.g1.parameters() if p.grad is not None)
    mlp_grad = sum(p.grad.abs().sum() for p in g.fusion.mlp.parameters())
    assert float(g1_grad) > 0 and float(mlp_grad) > 0


def test_generator_modes_and_ablation_inputs():
    torch.manual_seed(3)
    z = torch.randn(3, 16)
    ref = torch.rand(3, 3, 32, 32) * 2 - 1
    gen = QMFGenerator(32, ngf=8, n_res=1, z_dim=16, pam=True, map_fusion=True)
    out, info = gen(z=z, ref=ref, maps_fn=_maps_fn([]), return_info=True)
    assert out.shape == (3, 3, 32, 32) and info["E"].shape == (3, 32, 8, 8)
    # the baseline: V = E (no PAM, no M_F); PAM only: V = Z + E
    for pam, fusion in ((False, False), (True, False)):
        g = QMFGenerator(32, ngf=8, n_res=1, pam=pam, map_fusion=fusion)
        seen = {}
        g.g2.register_forward_pre_hook(lambda m, args, s=seen: s.__setitem__("v", args[0]))
        _, info = g(torch.rand(1, 3, 32, 32), return_info=True)
        want = info["E"] + info["Z"] if pam else info["E"]
        torch.testing.assert_close(seen["v"], want)
    # attribute translation: target labels tiled and concatenated to the input
    ga = QMFGenerator(32, ngf=8, n_res=1, n_attr=5, pam=False, map_fusion=False)
    assert ga(torch.rand(2, 3, 32, 32), attrs=torch.ones(2, 5)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="5 target attributes"):
        ga(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="maps_fn and ref"):
        QMFGenerator(32, ngf=8, n_res=1)(torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize("res", [32, 64])
def test_critics_and_score_regressor(res):
    d1 = PatchCritic(3, ndf=8, n_layers=3, n_attr=40, cond_channels=3)
    x = torch.rand(2, 3, res, res)
    src, attr = d1(x, torch.rand(2, 3, res, res))
    side = res // 8 - 2
    assert src.shape == (2, 1, side, side) and attr.shape == (2, 40)
    assert d1.score(x, x).shape == (2,)
    with pytest.raises(ValueError, match="conditional"):
        d1(x)
    d2 = PatchCritic(3, ndf=8, n_layers=2)
    src2, attr2 = d2(torch.rand(2, 3, res, res))
    assert src2.shape == (2, 1, res // 4 - 2, res // 4 - 2) and attr2 is None
    assert ScoreRegressor(3, ndf=8)(x).shape == (2,)


def test_grey_output_is_the_channel_mean_of_the_same_network():
    """``grey_output``: the decoder's output (and the first pass's x0) is the mean of the colour
    generator's channels, on every channel; the weights are the same, so gradients reach g1."""
    torch.manual_seed(5)
    z, ref = torch.randn(2, 16), torch.rand(2, 3, 32, 32) * 2 - 1
    colour = QMFGenerator(32, ngf=8, n_res=1, z_dim=16, pam=True, map_fusion=True)
    grey = QMFGenerator(32, ngf=8, n_res=1, z_dim=16, pam=True, map_fusion=True, grey_output=True)
    grey.load_state_dict(colour.state_dict())
    maps = torch.rand(2, 3, 32, 32)  # the same maps for both: the outputs differ by the mean only
    out_c, out_g = colour(z=z, maps=maps), grey(z=z, maps=maps)
    torch.testing.assert_close(out_g, out_c.mean(1, keepdim=True).expand_as(out_c))
    # two-pass: the first pass is grey too, and the maps are computed from it
    seen: list[torch.Tensor] = []
    _, info_c = colour(z=z, ref=ref, maps_fn=_maps_fn([]), return_info=True)
    out_g, info_g = grey(z=z, ref=ref, maps_fn=_maps_fn(seen), return_info=True)
    x0 = info_c["x0"].mean(1, keepdim=True).expand(-1, 3, -1, -1)
    torch.testing.assert_close(info_g["x0"], x0)
    torch.testing.assert_close(seen[0], info_g["x0"])
    assert torch.equal(out_g[:, 0], out_g[:, 1]) and torch.equal(out_g[:, 1], out_g[:, 2])
    # a loss on luma (weights 0.299, 0.587, 0.114) reaches every generator parameter
    y = 0.299 * out_g[:, 0] + 0.587 * out_g[:, 1] + 0.114 * out_g[:, 2]
    y.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in grey.g2.parameters())
    assert float(sum(p.grad.abs().sum() for p in grey.g1.parameters())) > 0
