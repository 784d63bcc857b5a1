"""Sliced Wasserstein distance on Laplacian-pyramid patches (qagen.eval.swd).

Checks: the pyramid against an independent scipy.ndimage construction (Karras et al.'s
formulation: 5x5 binomial kernel, mirror borders), the 1-D Wasserstein-1 identity of the
sliced distance, zero for identical sets, growth with noise / blur, symmetry, determinism.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

from qagen.eval.swd import laplacian_pyramid, sliced_wasserstein, swd, swd_descriptors

G5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def _scipy_pyramid(x: np.ndarray, levels: int) -> list[np.ndarray]:
    def down(m):
        return ndi.convolve(m, G5[None, None], mode="mirror")[:, :, ::2, ::2]

    def up(m):
        z = np.zeros(m.shape[:2] + (2 * m.shape[2], 2 * m.shape[3]))
        z[:, :, ::2, ::2] = m
        return ndi.convolve(z, 4 * G5[None, None], mode="mirror")

    g = [x]
    for _ in range(levels - 1):
        g.append(down(g[-1]))
    return [g[i] - up(g[i + 1]) for i in range(levels - 1)] + [g[-1]]


def _images(n: int, seed: int, size: int = 32) -> torch.Tensor:
    """Smooth random images in [0, 1] (blurred noise, so blur and noise change them)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    return x


def _blur(x: torch.Tensor, passes: int) -> torch.Tensor:
    for _ in range(passes):
        x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    return x


SMALL = dict(patches_per_image=32, dirs_per_repeat=64)  # keeps each call well under a second


def test_pyramid_matches_scipy_reference() -> None:
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ours = laplacian_pyramid(x, 3)
    ref = _scipy_pyramid(x.numpy(), 3)
    assert [tuple(p.shape[-2:]) for p in ours] == [(32, 32), (16, 16), (8, 8)]
    for p, r in zip(ours, ref, strict=True):
        # float64 convolutions of the same kernel: rounding-level agreement
        np.testing.assert_allclose(p.numpy(), r, atol=1e-12)


def test_sliced_wasserstein_equals_1d_w1_for_one_dimension() -> None:
    # in 1-D every unit direction is +-1, so the sliced distance is the W1 distance of the
    # two empirical distributions: mean |sorted(a) - sorted(b)| (scipy computes it independently)
    from scipy.stats import wasserstein_distance

    g = torch.Generator().manual_seed(3)
    a = torch.randn(500, 1, generator=g, dtype=torch.float64)
    b = 0.5 + 2 * torch.randn(500, 1, generator=g, dtype=torch.float64)
    w1 = wasserstein_distance(a[:, 0].numpy(), b[:, 0].numpy())
    assert sliced_wasserstein(a, b, dir_repeats=2, dirs_per_repeat=3) == pytest.approx(
        w1, rel=1e-12
    )


def test_identical_sets_give_zero_and_protocol() -> None:
    x = _images(8, seed=1)
    r = swd(x, x.clone(), **SMALL)
    # same patch positions and directions for both sets: exactly 0
    assert r.average == 0.0 and set(r.per_level) == {32, 16}
    p = r.protocol
    assert p["patch_size"] == 7 and p["dir_repeats"] == 4 and p["min_resolution"] == 16
    assert p["descriptors_per_level"] == [8 * 32, 8 * 32] and p["subsampled"] is False


def test_grows_with_noise_and_blur_and_is_symmetric() -> None:
    x = _images(12, seed=2)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    noisy = [swd(x, x + s * noise, **SMALL).average for s in (0.02, 0.05, 0.15)]
    blurred = [swd(x, _blur(x, k), **SMALL).average for k in (1, 3)]
    # from 0 for the undistorted set, the distance grows monotonically with the strength of
    # the distortion (measured: about 34 < 52 < 80 for noise, 59 < 84 for blur)
    assert 0 < noisy[0] < noisy[1] < noisy[2]
    assert 0 < blurred[0] < blurred[1]
    # symmetry is exact: same positions, same directions, |sort(a) - sort(b)|
    y = x + 0.05 * noise
    assert swd(x, y, **SMALL).per_level == swd(y, x, **SMALL).per_level


def test_deterministic_under_seed_and_independent_of_batching() -> None:
    x, y = _images(10, seed=5), _images(10, seed=6)
    a = swd(x, y, seed=7, **SMALL)
    b = swd(x, y, seed=7, batch_size=3, **SMALL)
    c = swd(list(x.split(4)), list(y.split(4)), seed=7, **SMALL)  # iterables of batches
    assert a.per_level == b.per_level
    assert a.per_level == c.per_level
    assert swd(x, y, seed=8, **SMALL).average != a.average


def test_global_brightness_and_gain_are_normalised_away() -> None:
    # descriptors are normalised per set and channel (Karras et al.): a global affine change
    # of the values changes nothing up to float rounding
    x = _images(6, seed=9).double()
    r = swd(x, 0.5 * x + 0.2, **SMALL)
    assert r.average < 1e-9


def test_precomputed_descriptors_and_unequal_sizes() -> None:
    x, y = _images(8, seed=10), _images(5, seed=11)
    dx = swd_descriptors(x, patches_per_image=32)
    assert len(dx) == 2 and dx[0].shape == (8 * 32, 3 * 49)
    # per-channel normalisation: each channel of the descriptors has mean 0 and std 1
    d = dx[0].reshape(-1, 3, 49)
    assert torch.allclose(d.mean(dim=(0, 2)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(d.std(dim=(0, 2), unbiased=False), torch.ones(3), atol=1e-5)
    r = swd(dx, y, **SMALL)
    assert r.protocol["subsampled"] is True and r.protocol["descriptors_per_level"] == [
        5 * 32,
        5 * 32,
    ]
    assert r.protocol["level_keys"] == "resolution" and set(r.per_level) == {32, 16}


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        swd(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="divisible"):
        laplacian_pyramid(torch.rand(1, 1, 30, 30), 3)
    with pytest.raises(ValueError, match="equal shapes"):
        sliced_wasserstein(torch.rand(4, 3), torch.rand(5, 3))
