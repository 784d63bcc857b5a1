"""IQA losses: 1 - similarity, distances unchanged, BEGAN-IQA equation 6."""

from __future__ import annotations

import pytest
import torch

from qagen.errors import InputError
from qagen.iqa import chroma_similarity, gms_sobel_map, ms_ssim, ssim, ssim_distance
from qagen.losses import ChromaLoss, CompositeIQALoss, GMSMLoss, MSSSIMLoss, SSIMDistance, SSIMLoss


def _pair(c=3, s=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(2, c, s, s, generator=g, dtype=torch.float64)
    x = (y + 0.1 * torch.randn(2, c, s, s, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


def test_losses_are_one_minus_similarity():
    x, y = _pair()
    torch.testing.assert_close(SSIMLoss()(x, y), (1 - ssim(x, y)).mean())
    torch.testing.assert_close(
        MSSSIMLoss(scales=3)(x, y), (1 - ms_ssim(x, y, scales=3, negative="clamp")).mean()
    )
    torch.testing.assert_close(ChromaLoss(reduction="none")(x, y), 1 - chroma_similarity(x, y))
    torch.testing.assert_close(
        GMSMLoss()(x, y), (1 - gms_sobel_map(x, y).mean(dim=(1, 2, 3))).mean()
    )
    torch.testing.assert_close(SSIMDistance(reduction="sum")(x, y), ssim_distance(x, y).sum())


def test_composite_is_weighted_mean_of_distances():
    x, y = _pair()
    loss = CompositeIQALoss({"l1": 2, "gmsm": 1, "chroma": 1}, reduction="none")
    l1 = 2 * (x - y).abs().mean(dim=(1, 2, 3))  # mean |x - y| on [-1, 1]-scaled images
    gm = 1 - gms_sobel_map(x, y).mean(dim=(1, 2, 3))
    ch = 1 - chroma_similarity(x, y)
    torch.testing.assert_close(loss(x, y), (2 * l1 + gm + ch) / 4)
    # On [-1, 1] images the l1 term equals the plain mean absolute difference (the authors' code).
    only_l1 = CompositeIQALoss({"l1": 1}, reduction="none")
    torch.testing.assert_close(only_l1(x, y), ((2 * x - 1) - (2 * y - 1)).abs().mean(dim=(1, 2, 3)))
    assert set(CompositeIQALoss().terms(x, y)) == {"l1", "gmsm"}
    with pytest.raises(ValueError, match="unknown terms"):
        CompositeIQALoss({"l2": 1})
    with pytest.raises(ValueError, match="positive sum"):
        CompositeIQALoss({"l1": 0})


@pytest.mark.parametrize(
    "loss",
    [
        SSIMLoss(),
        MSSSIMLoss(scales=3),
        GMSMLoss(),
        ChromaLoss(),
        SSIMDistance(),
        CompositeIQALoss(),
    ],
)
def test_losses_have_finite_gradients_for_identical_and_flat_images(loss):
    for x in (torch.rand(2, 3, 48, 48), torch.zeros(2, 3, 48, 48), torch.ones(2, 3, 48, 48)):
        xx = x.clone().requires_grad_(True)
        v = loss(xx, x)
        v.backward()
        assert torch.isfinite(v) and torch.isfinite(xx.grad).all()
        assert abs(v.item()) < 1e-3


def test_loss_decreases_under_gradient_descent():
    x, y = _pair(seed=1)
    x = x.clone().requires_grad_(True)
    loss = CompositeIQALoss({"l1": 1, "gmsm": 1, "chroma": 1})
    opt = torch.optim.Adam([x], lr=0.01)
    first = loss(x, y).item()
    for _ in range(20):
        opt.zero_grad()
        v = loss(x.clamp(0, 1), y)
        v.backward()
        opt.step()
    assert loss(x.clamp(0, 1), y).item() < 0.5 * first


def test_composite_terms_by_name_and_combine():
    # any distance can be computed for logging, whatever its weight; the loss uses the weighted
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    y = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    loss = CompositeIQALoss({"l1": 3.0, "gmsm": 0.0, "chroma": 1.0}, reduction="none")
    assert set(loss.terms(x, y)) == {"l1", "chroma"}
    every = loss.terms(x, y, ["l1", "gmsm", "chroma"])
    assert torch.equal(every["l1"], 2.0 * (x - y).abs().mean(dim=(1, 2, 3)))
    assert torch.allclose(loss.combine(every), (3 * every["l1"] + every["chroma"]) / 4)
    assert torch.allclose(loss(x, y), loss.combine(every))
    with pytest.raises(InputError, match="chroma"):
        loss.combine({"l1": every["l1"]})
    with pytest.raises(InputError, match="unknown terms"):
        loss.terms(x, y, ["l2"])
    with pytest.raises(InputError, match=">= 0"):
        CompositeIQALoss({"l1": -1.0, "gmsm": 2.0})
