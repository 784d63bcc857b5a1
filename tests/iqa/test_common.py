"""Properties every metric of the registry must have: best value, symmetry, batching, gradients,
half precision, autocast, minimum sizes and error messages. Driven by the registry itself, so a
newly registered metric is tested without editing this file (add it to SETUP)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import qagen.iqa as iqa
from qagen.errors import InputError, InputTypeError, UnknownNameError
from qagen.losses import (
    ChromaLoss,
    CompositeIQALoss,
    GMSMLoss,
    MSSSIMLoss,
    SSIMDistance,
    SSIMLoss,
)

# name -> (channels, size): a convenient input each metric accepts.
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
    "niqe": (1, 96),
}
FULL_REFERENCE = sorted(n for n in SETUP if n != "niqe")
SYMMETRIC = {"psnr", "ssim", "ms_ssim", "ssim_distance", "gmsd", "gmsm", "cqs", "chroma", "fsim",
             "fsimc"}  # fmt: skip
# Best value for identical images.
BEST = {"psnr": float("inf"), "ssim_distance": 0.0, "gmsd": 0.0, "mdsi": 0.0, "cqs": 2.0}
# The public function named in a metric's error messages.
PUBLIC = {"chroma": "chroma_similarity"}


def _call(name, x, y=None, **kw):
    info = iqa.get(name)
    if not info.full_reference:
        return info.fn(x, **kw)
    return info.fn(x, y, **kw)


def _pair(name, n=3, dtype=torch.float64, seed=0, size=None):
    c, s = SETUP[name]
    s = size or s
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, c, s, s, generator=g, dtype=dtype)
    x = (y + 0.15 * torch.randn(n, c, s, s, generator=g, dtype=dtype)).clamp(0, 1)
    return x, y


def test_registry_lists_every_metric_and_rejects_unknown_names():
    # every metric computed from the images alone has a setup here; learned metrics (a model
    # is required, e.g. qmap) are tested with their recipe
    learned = {n for n in iqa.available() if iqa.get(n).model_required}
    assert learned == {"qmap"}
    assert set(iqa.available()) - learned == set(SETUP)
    info = iqa.get("MS-SSIM")
    assert info.name == "ms_ssim" and info.higher_is_better and info.full_reference
    with pytest.raises(UnknownNameError, match="unknown metric 'sim' .*did you mean ssim") as e:
        iqa.get("sim")
    assert isinstance(e.value, InputError) and "psnr" in e.value.available


def test_importing_the_registry_does_not_import_torch():
    # qagen metrics lists the registry, directions and minimum sizes without torch; metric
    # functions are imported on first use.
    code = (
        "import sys, qagen.iqa as iqa\n"
        "rows = [(i.name, i.higher_is_better, i.min_size) for i in map(iqa.get, iqa.available())]\n"
        "assert iqa.get('ms_ssim').min_size_for() == 161\n"
        "print('torch' in sys.modules, len(rows))\n"
        "iqa.ssim\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", str(len(iqa.available())), "True"]


def test_lazy_exports_are_the_functions_of_their_modules():
    from qagen.iqa.structural import ssim
    from qagen.iqa.vif import vif_p

    assert iqa.ssim is ssim and iqa.vif_p is vif_p
    assert set(iqa.__all__) <= set(dir(iqa))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        iqa.nope  # noqa: B018


@pytest.mark.parametrize("name", FULL_REFERENCE)
def test_identical_images_give_best_value(name):
    x, _ = _pair(name)
    v = _call(name, x, x.clone(), data_range=1.0)
    best = BEST.get(name, 1.0)
    if best == float("inf"):
        assert torch.isinf(v).all()
    else:
        # Epsilons (documented per metric) move the best value by at most ~1e-4.
        torch.testing.assert_close(v, torch.full_like(v, best), rtol=0, atol=2e-4)


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_symmetric(name):
    x, y = _pair(name)
    torch.testing.assert_close(
        _call(name, x, y, data_range=1.0), _call(name, y, x, data_range=1.0), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("name", FULL_REFERENCE)
def test_batch_independence_and_data_range(name):
    x, y = _pair(name)
    batch = _call(name, x, y, data_range=1.0)
    single = torch.cat([_call(name, x[i : i + 1], y[i : i + 1], data_range=1.0) for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-10, atol=1e-12)
    # Same images on 0-255: every metric is scale-free when data_range follows the data.
    torch.testing.assert_close(
        _call(name, x * 255, y * 255, data_range=255.0), batch, rtol=1e-9, atol=1e-10
    )
    assert _call(name, x, y, data_range=1.0, reduction="mean").shape == ()
    torch.testing.assert_close(_call(name, x, y, data_range=1.0, reduction="sum"), batch.sum())


@pytest.mark.parametrize("name", FULL_REFERENCE)
@pytest.mark.parametrize("case", ["identical", "constant", "zeros", "max", "noise"])
def test_finite_gradients(name, case):
    c, s = SETUP[name]
    g = torch.Generator().manual_seed(7)
    if case == "identical":
        y = torch.rand(2, c, s, s, generator=g, dtype=torch.float64)
        x = y.clone()
    elif case == "constant":
        x = torch.full((2, c, s, s), 0.3, dtype=torch.float64)
        y = torch.full((2, c, s, s), 0.6, dtype=torch.float64)
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
        v = _call(name, xx, y.to(dtype), data_range=1.0)
        v = v[torch.isfinite(v)] if name == "psnr" else v
        assert torch.isfinite(v).all(), f"{name} {case}: non-finite value {v}"
        v.sum().backward()
        assert torch.isfinite(xx.grad).all(), f"{name} {case} {dtype}: non-finite gradient"


# ----------------------------------------------------------------------------- minimum sizes
@pytest.mark.parametrize("name", sorted(SETUP))
def test_minimum_size_rejects_just_below_and_accepts_the_minimum(name):
    # The minimum is derived from each metric's filters (see its docstring) and exposed by the
    # registry; one pixel less is an InputError naming the public function, the minimum itself
    # gives finite values and gradients. A white image against a textured one is not "identical".
    info = iqa.get(name)
    c = SETUP[name][0]
    m = info.min_size
    public = PUBLIC.get(name, info.function)
    if m > 1:
        for shape in ((m - 1, m), (m, m - 1)):
            tiny = torch.rand(1, c, *shape, dtype=torch.float64)
            with pytest.raises(
                InputError, match=rf"^{public}: x is too small: .* at least {m} x {m}"
            ):
                _call(name, tiny, tiny, data_range=1.0)
    g = torch.Generator().manual_seed(m)
    white = torch.ones(1, c, m, m, dtype=torch.float64, requires_grad=True)
    texture = torch.rand(1, c, m, m, generator=g, dtype=torch.float64)
    if not info.full_reference:
        v = _call(name, (white + texture) / 2)
    else:
        v = _call(name, white, texture, data_range=1.0)
        same = _call(name, texture, texture, data_range=1.0)
        assert not torch.allclose(v, same), f"{name}: white and texture scored as identical"
    assert torch.isfinite(v).all()
    v.sum().backward()
    assert torch.isfinite(white.grad).all()


def test_minimum_sizes_follow_the_options():
    assert iqa.get("ms_ssim").min_size_for(scales=3) == 41
    assert iqa.get("ms_ssim").min_size_for(scales=5, win_size=7) == 97
    assert iqa.get("ssim").min_size_for(win_size=7, gray="y") == 7
    assert iqa.get("ssim_distance").min_size_for(variant="paper") == 8
    assert iqa.get("gmsd").min_size_for(downsample=False) == 3
    assert iqa.get("niqe").min_size_for(block_size=32) == 32
    assert iqa.get("psnr").min_size_for(crop_border=4) == 9
    assert iqa.get("fsim").min_size_for(anything=1) == 8
    # the option-dependent minimum is the one the function enforces
    x = torch.rand(1, 1, 41, 41)
    with pytest.raises(InputError, match="ms_ssim: x is too small.* at least 41 x 41"):
        iqa.ms_ssim(x[..., :40, :], x[..., :40, :], scales=3)
    assert iqa.ms_ssim(x, x * 0.9, scales=3).isfinite().all()


def test_gmsd_of_a_2x2_image_is_an_error_not_nan():
    a = torch.rand(1, 1, 2, 2)
    with pytest.raises(InputError, match="gmsd: x is too small"):
        iqa.gmsd(a, a * 0.5)


# ----------------------------------------------------------------------------- half precision
def _half_cases(name):
    x, y = _pair(name, n=2, dtype=torch.float32, seed=3)
    return x, y


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(SETUP))
def test_half_precision_is_computed_in_float32(name, dtype):
    # float16/bfloat16 input is upcast once: the value equals the float32 computation on the
    # same (rounded) input, the result is float32, the gradient reaches x in its own dtype.
    x, y = _half_cases(name)
    xh, yh = x.to(dtype), y.to(dtype)
    want = _call(name, xh.float(), yh.float(), data_range=1.0)
    xr = xh.clone().requires_grad_(True)
    got = _call(name, xr, yh, data_range=1.0)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    got.sum().backward()
    assert xr.grad.dtype == dtype and torch.isfinite(xr.grad.float()).all()


@pytest.mark.parametrize("name", sorted(SETUP))
def test_autocast_does_not_change_the_value(name):
    # An enclosing autocast region (mixed-precision training) must not turn the metric's
    # filters and products into bfloat16.
    x, y = _pair(name, n=2, dtype=torch.float32, seed=4)
    want = _call(name, x, y, data_range=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = _call(name, x, y, data_range=1.0)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


LOSSES = [SSIMLoss(), MSSSIMLoss(scales=3), GMSMLoss(), GMSMLoss(form="gmsd"), ChromaLoss(),
          SSIMDistance(), CompositeIQALoss({"l1": 2, "gmsm": 1, "chroma": 1})]  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("loss", LOSSES, ids=lambda m: type(m).__name__)
def test_losses_in_half_precision_are_finite_and_match_float32(loss, dtype):
    g = torch.Generator().manual_seed(5)
    y = torch.rand(2, 3, 48, 48, generator=g)
    x = (y + 0.1 * torch.randn(2, 3, 48, 48, generator=g)).clamp(0, 1)
    xh = x.to(dtype).requires_grad_(True)
    v = loss(xh, y.to(dtype))
    assert v.dtype == torch.float32 and torch.isfinite(v)
    torch.testing.assert_close(
        v, loss(x.to(dtype).float(), y.to(dtype).float()), rtol=1e-5, atol=1e-6
    )
    v.backward()
    assert xh.grad.dtype == dtype and torch.isfinite(xh.grad.float()).all()


def test_half_precision_reference_pair(tid_pair):
    # The cases on TID2013 I01: cQS in float16 had 36k NaN pixels, SSIM 0.674 vs 0.679.
    dist, ref = (t / 255.0 for t in tid_pair)
    for dtype in (torch.float16, torch.bfloat16):
        d, r = dist.to(dtype), ref.to(dtype)
        assert torch.isfinite(iqa.gms_sobel_map(d, r)).all()
        assert abs(iqa.cqs(d, r).item() - iqa.cqs(dist, ref).item()) < 2e-3
        assert abs(iqa.ssim(d, r).item() - iqa.ssim(dist, ref).item()) < 1e-4
        assert abs(GMSMLoss()(d, r).item() - GMSMLoss()(dist, ref).item()) < 1e-3


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", FULL_REFERENCE)
def test_bad_input_errors_name_the_function_and_the_argument(name):
    info = iqa.get(name)
    public = PUBLIC.get(name, info.function)
    x, y = _pair(name, n=1)
    c, s = SETUP[name]
    with pytest.raises(InputError, match=f"^{public}: x must have 4 dimensions"):
        info.fn(x[0], y, data_range=1.0)
    with pytest.raises(InputError, match=f"^{public}: x and y must have the same shape"):
        info.fn(x, torch.cat([y, y], dim=-1), data_range=1.0)
    with pytest.raises(InputError, match=f"^{public}: x must have .*channels?, got 2"):
        two = torch.rand(1, 2, s, s, dtype=torch.float64)
        info.fn(two, two, data_range=1.0)
    with pytest.raises(InputTypeError, match=f"^{public}: x must be a floating-point tensor"):
        info.fn((x * 255).to(torch.uint8), y, data_range=1.0)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match=f"^{public}: x contains NaN"):
        info.fn(bad, y, data_range=1.0)
    with pytest.raises(InputError, match=f"^{public}: y has values .* outside"):
        info.fn(x, y * 255, data_range=1.0)
    with pytest.raises(InputError, match=f"^{public}: data_range must be finite and > 0"):
        info.fn(x, y, data_range=-1.0)
    with pytest.raises(InputError, match="reduction must be one of"):
        info.fn(x, y, data_range=1.0, reduction="median")
    # The range check can be switched off for training loops.
    with iqa.input_checks(False):
        info.fn(x, (y * 1.01), data_range=1.0)


def test_ms_ssim_scales_and_weights_are_validated():
    x = torch.rand(1, 1, 161, 161)
    with pytest.raises(InputError, match="ms_ssim: scales must be >= 1, got 0"):
        iqa.ms_ssim(x, x, scales=0, weights=())
    with pytest.raises(InputTypeError, match="ms_ssim: scales must be an integer"):
        iqa.ms_ssim(x, x, scales=2.5)
    with pytest.raises(InputError, match="weights must have 2 entries"):
        iqa.ms_ssim(x, x, scales=2, weights=(1.0,))
    with pytest.raises(InputError, match="finite, >= 0 and not all 0"):
        iqa.ms_ssim(x, x, scales=2, weights=(0.0, 0.0))
    with pytest.raises(InputError, match="needs explicit weights"):
        iqa.ms_ssim(x, x, scales=6)
    # scales beyond msssim.m's 5 work with explicit weights (if the image is large enough)
    big = torch.rand(1, 1, 321, 321, dtype=torch.float64)
    assert iqa.ms_ssim(big, big, scales=6, weights=(1,) * 6).item() == pytest.approx(1.0)


def test_float32_close_to_float64_on_random_images():
    for name in FULL_REFERENCE:
        x, y = _pair(name)
        a = _call(name, x, y, data_range=1.0)
        b = _call(name, x.float(), y.float(), data_range=1.0).double()
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)
