"""Properties every full-reference metric of the registry must have.

Metrics whose module is not importable yet are skipped by name (the registry is lazy).
"""

from __future__ import annotations

import importlib

import pytest
import torch

import qagen.iqa as iqa
from qagen.errors import UnknownNameError

# name -> (channels, size): the smallest convenient input each metric accepts.
SETUP = {
    "psnr": (3, 24),
    "ssim": (1, 24),
    "ms_ssim": (1, 161),
    "ssim_distance": (1, 24),
    "gmsd": (1, 24),
    "gmsm": (1, 24),
    "cqs": (3, 24),
    "chroma": (3, 24),
    "fsim": (3, 32),
    "fsimc": (3, 32),
    "mdsi": (3, 32),
    "vif_p": (1, 41),
}
SYMMETRIC = {
    "psnr",
    "ssim",
    "ms_ssim",
    "ssim_distance",
    "gmsd",
    "gmsm",
    "cqs",
    "chroma",
    "fsim",
    "fsimc",
}
# Pointwise or zero-padded 'same' metrics accept any size.
NO_MIN_SIZE = {"psnr", "chroma", "cqs", "mdsi"}
# Best value for identical images.
BEST = {"psnr": float("inf"), "ssim_distance": 0.0, "gmsd": 0.0, "mdsi": 0.0}


def _entry(name):
    info = iqa.get(name)
    try:
        importlib.import_module(info.module)
    except ModuleNotFoundError:
        pytest.skip(f"{name}: module {info.module} not available")
    return info


def _pair(name, n=3, dtype=torch.float64, seed=0):
    c, s = SETUP[name]
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, c, s, s, generator=g, dtype=dtype)
    x = (y + 0.15 * torch.randn(n, c, s, s, generator=g, dtype=dtype)).clamp(0, 1)
    return x, y


def test_registry_lists_every_metric():
    names = iqa.available()
    for name in SETUP:
        assert name in names
    info = iqa.get("MS-SSIM")
    assert info.name == "ms_ssim" and info.higher_is_better and info.full_reference
    with pytest.raises(UnknownNameError, match="available"):
        iqa.get("nope")


@pytest.mark.parametrize("name", sorted(SETUP))
def test_identical_images_give_best_value(name):
    fn = _entry(name).fn
    x, _ = _pair(name)
    v = fn(x, x.clone(), data_range=1.0)
    best = BEST.get(name, 2.0 if name == "cqs" else 1.0)
    if best == float("inf"):
        assert torch.isinf(v).all()
    else:
        # Epsilons (documented per metric) move the best value by at most ~1e-4.
        torch.testing.assert_close(v, torch.full_like(v, best), rtol=0, atol=2e-4)


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_symmetric(name):
    fn = _entry(name).fn
    x, y = _pair(name)
    torch.testing.assert_close(
        fn(x, y, data_range=1.0), fn(y, x, data_range=1.0), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("name", sorted(SETUP))
def test_batch_independence_and_data_range(name):
    fn = _entry(name).fn
    x, y = _pair(name)
    batch = fn(x, y, data_range=1.0)
    single = torch.cat([fn(x[i : i + 1], y[i : i + 1], data_range=1.0) for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-10, atol=1e-12)
    # Same images on 0-255: every metric is scale-free when data_range follows the data.
    torch.testing.assert_close(fn(x * 255, y * 255, data_range=255.0), batch, rtol=1e-9, atol=1e-10)
    assert fn(x, y, data_range=1.0, reduction="mean").shape == ()
    torch.testing.assert_close(fn(x, y, data_range=1.0, reduction="sum"), batch.sum())


@pytest.mark.parametrize("name", sorted(SETUP))
@pytest.mark.parametrize("case", ["identical", "constant", "zeros", "max", "noise"])
def test_finite_gradients(name, case):
    fn = _entry(name).fn
    c, s = SETUP[name]
    g = torch.Generator().manual_seed(7)
    if case == "identical":
        y = torch.rand(2, c, s, s, generator=g, dtype=torch.float64)
        x = y.clone()
    elif case == "constant":
        x, y = (
            torch.full((2, c, s, s), 0.3, dtype=torch.float64),
            torch.full((2, c, s, s), 0.6, dtype=torch.float64),
        )
    elif case == "zeros":
        x, y = (
            torch.zeros(2, c, s, s, dtype=torch.float64),
            torch.zeros(2, c, s, s, dtype=torch.float64),
        )
    elif case == "max":
        x, y = (
            torch.ones(2, c, s, s, dtype=torch.float64),
            torch.ones(2, c, s, s, dtype=torch.float64),
        )
    else:
        x, y = (torch.rand(2, c, s, s, generator=g, dtype=torch.float64) for _ in range(2))
    for dtype in (torch.float64, torch.float32):
        xx = x.detach().to(dtype).clone().requires_grad_(True)
        v = fn(xx, y.to(dtype), data_range=1.0)
        v = v[torch.isfinite(v)] if name == "psnr" else v
        assert torch.isfinite(v).all(), f"{name} {case}: non-finite value {v}"
        v.sum().backward()
        assert torch.isfinite(xx.grad).all(), f"{name} {case} {dtype}: non-finite gradient"


@pytest.mark.parametrize("name", sorted(SETUP))
def test_bad_input_errors_name_the_argument(name):
    fn = _entry(name).fn
    x, y = _pair(name, n=1)
    c, s = SETUP[name]
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        fn(x[0], y, data_range=1.0)
    with pytest.raises(ValueError, match="same shape"):
        fn(x, torch.cat([y, y], dim=-1), data_range=1.0)
    with pytest.raises(ValueError, match="channels"):
        fn(
            torch.rand(1, 2, s, s, dtype=torch.float64),
            torch.rand(1, 2, s, s, dtype=torch.float64),
            data_range=1.0,
        )
    with pytest.raises(TypeError, match="x must be a floating-point"):
        fn((x * 255).to(torch.uint8), y, data_range=1.0)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x contains NaN"):
        fn(bad, y, data_range=1.0)
    with pytest.raises(ValueError, match="y has values .* outside"):
        fn(x, y * 255, data_range=1.0)
    with pytest.raises(ValueError, match="data_range"):
        fn(x, y, data_range=-1.0)
    if name not in NO_MIN_SIZE:
        t = 1 if name in ("gmsd", "gmsm") else 4
        tiny = torch.rand(1, c, t, t, dtype=torch.float64)
        with pytest.raises(ValueError, match="too small|smaller|at least"):
            fn(tiny, tiny, data_range=1.0)
    # The range check can be switched off for training loops.
    with iqa.input_checks(False):
        fn(x, (y * 1.01), data_range=1.0)


def test_float32_close_to_float64_on_random_images():
    for name in sorted(SETUP):
        try:
            fn = _entry(name).fn
        except pytest.skip.Exception:
            continue
        x, y = _pair(name)
        a = fn(x, y, data_range=1.0)
        b = fn(x.float(), y.float(), data_range=1.0).double()
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)
