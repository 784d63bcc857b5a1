"""d2's real maps (issue 18): in the image-to-image modes the map critic must reward outputs that
keep to their reference: the gradient of the generator's d2 term, against a d2 trained as
``QMF.d2_loss`` trains it, must not point a reconstruction away from its reference; with the old
reading (maps of another image of the batch) it did."""

from __future__ import annotations

import pytest
import torch
from test_recipes_qmf import _recipe

from qagen.data import build_dataset
from qagen.gan.objectives import generator_loss
from qagen.methods.qmf.maps import perturb_level1, quality_maps


@pytest.fixture(scope="module")
def restore_pairs():
    return build_dataset("builtin-restore", 32, "train")


def _d2_direction(dataset, reading: str, start_noise: float, seed: int) -> float:
    """Cosine between the descent direction of the generator's d2 term at the output ``x =
    reference + start_noise * N(0, 1)`` and the direction from ``x`` to its reference, after 30
    updates of d2 as ``QMF.d2_loss`` trains it against ``x`` (positive: a gradient step on the
    d2 term moves the output towards its reference)."""
    torch.manual_seed(seed)
    rec, _ = _recipe("qmf-full-demo", "builtin-restore",
                     [f"d2_real={reading}", "d2_ndf=16", "train.batch_size=4"], dataset=dataset)  # fmt: skip
    ref = torch.stack([dataset[i].target for i in range(4)]).float()
    x = (ref + start_noise * torch.randn(ref.shape)).clamp(-1, 1).requires_grad_(True)
    for _ in range(30):
        loss, _ = rec.d2_loss(rec.d2_real_maps(ref), quality_maps(x.detach(), ref).maps)
        rec._step_update("D2", loss)
    g_map = generator_loss("wasserstein", rec.D2(quality_maps(x, ref).maps)[0])
    (grad,) = torch.autograd.grad(g_map, x)
    to_ref = ref - x.detach()
    return float((-grad * to_ref).sum() / (grad.norm() * to_ref.norm()))


def test_d2_term_does_not_drive_a_good_reconstruction_away(restore_pairs):
    """From a good reconstruction (noise 0.05 on [-1, 1]) the new reading's d2 term points
    towards the reference on average over seeds; the old one (another image of the batch) away,
    for every seed (docs/qmf.md: cosines over 4 seeds)."""
    new = [_d2_direction(restore_pairs, "identical", 0.05, s) for s in range(3)]
    old = [_d2_direction(restore_pairs, "other", 0.05, s) for s in range(3)]
    assert sum(new) / 3 > 0.02, new
    assert max(old) < -0.05, old


def test_d2_term_pulls_a_degraded_output_towards_its_reference(restore_pairs):
    assert _d2_direction(restore_pairs, "identical", 0.3, 0) > 0.05
    assert _d2_direction(restore_pairs, "other", 0.3, 0) < -0.02


def test_d2_real_default_follows_the_mode():
    rec, _ = _recipe("qmf-full-demo", "builtin-restore")
    assert rec.mode == "paired" and rec.d2_real == "identical"
    rec, _ = _recipe("qmf-full-demo", "builtin")
    assert rec.mode == "generation" and rec.d2_real == "other"


def test_identical_real_maps_are_ones_and_perturbed_ones_are_close():
    rec, ds = _recipe("qmf-full-demo", "builtin-restore", ["d2_real=identical"])
    ref = torch.stack([ds[i].target for i in range(4)]).float()
    torch.testing.assert_close(rec.d2_real_maps(ref), torch.ones(4, 3, 32, 32), atol=1e-5, rtol=0)
    rec.d2_real = "perturbed"
    m = rec.d2_real_maps(ref).mean((0, 2, 3))
    assert (m > 0.75).all() and (m < 0.999).all(), m


def test_perturb_level1_blur_and_noise_by_the_closed_form():
    x = torch.zeros(2, 1, 9, 9)
    x[:, :, 4, 4] = 1.0  # an impulse: the blur returns fspecial('gaussian', 7, 7/6)
    noise = torch.randn(2, 1, 9, 9, generator=torch.Generator().manual_seed(0))
    y = perturb_level1(x, torch.tensor([0.2, 0.7]), noise)
    t = torch.arange(7, dtype=torch.float64) - 3
    g = torch.exp(-(t**2) / (2 * (7 / 6) ** 2))
    k = torch.outer(g, g) / torch.outer(g, g).sum()
    torch.testing.assert_close(y[0, 0, 1:8, 1:8].double(), k, atol=1e-6, rtol=0)
    torch.testing.assert_close(y[1], (x[1] + noise[1] / 16).clamp(-1, 1))
    with pytest.raises(ValueError, match="u must have shape"):
        perturb_level1(x, torch.zeros(3), noise)
