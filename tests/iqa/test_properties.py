"""Metric properties over generated inputs (hypothesis): bounds, identity, symmetry, and the
registry's declared direction on a distortion ladder of a natural image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qagen.iqa as iqa

# The official model is for 96 x 96 blocks; the small generated images use 32.
pytestmark = pytest.mark.filterwarnings("ignore:niqe. block_size=.* differs:UserWarning")

# derandomize: the same examples on every run (no example database is written)
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# name -> (channels, smallest side for these tests, options, (low, high) bounds)
BOUNDS = {
    "psnr": (3, 3, {}, (0.0, math.inf)),
    "ssim": (1, 11, {}, (-1.0, 1.0)),
    "ms_ssim": (1, 21, {"scales": 2}, (0.0, 1.0)),
    "ssim_distance": (1, 11, {}, (0.0, math.sqrt(3.0 + 1e-8))),
    "gmsd": (1, 5, {}, (0.0, 1.0)),
    "gmsm": (1, 5, {}, (0.0, 1.0)),
    "cqs": (3, 3, {}, (-1.0, 2.0)),
    "chroma": (3, 1, {}, (-1.0, 1.0)),
    "fsim": (3, 8, {}, (0.0, 1.0)),
    "fsimc": (3, 8, {}, (0.0, 1.0)),
    "mdsi": (3, 3, {}, (0.0, math.inf)),
    "vif_p": (1, 41, {}, (0.0, math.inf)),
    "niqe": (1, 32, {"block_size": 32}, (0.0, math.inf)),
}
SYMMETRIC = ("psnr", "ssim", "ms_ssim", "ssim_distance", "gmsd", "gmsm", "cqs", "chroma", "fsim",
             "fsimc")  # fmt: skip


@st.composite
def pairs(draw, name):
    """A (distorted, reference) pair in [0, 1]: noise, contrast change, shift or constant."""
    c, low, _, _ = BOUNDS[name]
    h = draw(st.integers(low, low + 24))
    w = draw(st.integers(low, low + 24))
    seed = draw(st.integers(0, 2**31 - 1))
    kind = draw(st.sampled_from(["noise", "contrast", "shift", "constant"]))
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(2, c, h, w, generator=g, dtype=torch.float64)
    if kind == "noise":
        s = draw(st.floats(0.0, 0.5))
        x = (y + s * torch.randn(y.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    elif kind == "contrast":
        a = draw(st.floats(0.0, 1.0))
        x = a * y + (1 - a) * 0.5
    elif kind == "shift":
        x = (y + draw(st.floats(-0.3, 0.3))).clamp(0, 1)
    else:
        x = torch.full_like(y, draw(st.floats(0.0, 1.0)))
    return x, y


def _value(name, x, y):
    info = iqa.get(name)
    opts = BOUNDS[name][2]
    return info.fn(x, y, 1.0, **opts) if info.full_reference else info.fn(x, 1.0, **opts)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_values_stay_in_their_bounds(name):
    lo, hi = BOUNDS[name][3]

    @PROPERTY_SETTINGS
    @given(pairs(name))
    def check(pair):
        x, y = pair
        v = _value(name, x, y)
        assert not torch.isnan(v).any()
        assert ((v >= lo - 1e-9) & (v <= hi + 1e-9)).all(), f"{name}: {v} outside [{lo}, {hi}]"

    check()


@pytest.mark.parametrize("name", sorted(set(BOUNDS) - {"niqe"}))
def test_identity_gives_the_best_value(name):
    best = {"psnr": math.inf, "ssim_distance": 0.0, "gmsd": 0.0, "mdsi": 0.0, "cqs": 2.0}

    @PROPERTY_SETTINGS
    @given(pairs(name))
    def check(pair):
        _, y = pair
        v = _value(name, y, y.clone())
        want = best.get(name, 1.0)
        if math.isinf(want):
            assert torch.isinf(v).all()
        else:
            torch.testing.assert_close(v, torch.full_like(v, want), rtol=0, atol=2e-4)

    check()


@pytest.mark.parametrize("name", SYMMETRIC)
def test_symmetric_metrics(name):
    @PROPERTY_SETTINGS
    @given(pairs(name))
    def check(pair):
        x, y = pair
        torch.testing.assert_close(_value(name, x, y), _value(name, y, x), rtol=1e-9, atol=1e-10)

    check()


# ----------------------------------------------------------------------------- distortion ladder
def _ladder(ref: np.ndarray):
    """Gaussian blur (sigma 0.5, 1, 2, 4) and additive Gaussian noise (sigma 2, 5, 10, 20 on
    0-255, one fixed draw, clipped) of increasing strength, computed with SciPy/NumPy."""
    noise = np.random.default_rng(0).standard_normal(ref.shape)
    blur = [
        np.stack([ndi.gaussian_filter(c, s, mode="reflect") for c in ref]) for s in (0.5, 1, 2, 4)
    ]
    noisy = [np.clip(ref + s * noise, 0, 255) for s in (2, 5, 10, 20)]
    return {"blur": blur, "noise": noisy}


@pytest.fixture(scope="module")
def ladder(tid_pair):
    _, ref = tid_pair
    ref = ref[..., 64:320, 128:384].contiguous()  # a 256 x 256 crop (speed)
    return ref, {
        k: [torch.from_numpy(a)[None] for a in v] for k, v in _ladder(ref[0].numpy()).items()
    }


@pytest.mark.parametrize("kind", ["blur", "noise"])
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_registry_direction_on_a_distortion_ladder(ladder, name, kind):
    # Stronger blur or noise on (a crop of) TID2013 I01 must move every metric in the direction the
    # registry declares (higher_is_better), strictly at every rung.
    ref, rungs = ladder
    info = iqa.get(name)
    vals = []
    for x in rungs[kind]:
        v = (
            info.fn(x, ref, data_range=255.0)
            if info.full_reference
            else info.fn(x, data_range=255.0)
        )
        vals.append(v.item())
    diffs = np.diff(vals)
    if info.higher_is_better:
        assert (diffs < 0).all(), f"{name} {kind}: {vals} should decrease"
    else:
        assert (diffs > 0).all(), f"{name} {kind}: {vals} should increase"
