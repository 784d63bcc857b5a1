"""NIQE against the LIVE MATLAB values, an independent NumPy port of the LIVE code, and closed forms.

The NumPy reference below is written from the MATLAB sources' behaviour (the LIVE release), block by
block and fit by fit with the literal grid search, independently of qagen's implementation
(including its own MATLAB ``imresize`` and ``fspecial``).
"""

from __future__ import annotations

import math
import warnings
from importlib import resources

import numpy as np
import pytest
import scipy.io
import scipy.ndimage
import torch
from conftest import MATLAB, SHARED_DATA, shared_file
from scipy.special import gamma as G

from qagen._checks import input_checks
from qagen.color import rgb_to_gray
from qagen.errors import InputError
from qagen.io import read_image
from qagen.iqa.naturalness import (
    FEATURE_DIM,
    NIQEModel,
    aggd_fit,
    aggd_shape,
    fit_niqe_model,
    imresize_half,
    mvg_distance,
    mvg_fit,
    niqe,
    niqe_distance,
    niqe_features,
)
from qagen.matlab_resize import imresize

# Small test images use small blocks with the official (96x96) model on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:niqe. block_size=.* differs:UserWarning")

# tests/reference_data/README.md (LIVE computequality.m, 96x96 blocks, official model).
LIVE_VALUES = {
    "image1.bmp": 5.0289823203073496,
    "image2.bmp": 17.865863164326175,
    "image4.bmp": 2.6571123945195483,
}
IMAGE3_MATLAB = 7.8572123227472233  # reliable to ~0.13 only (rounding noise on flat regions)

# --------------------------------------------------------------------------------------------
# Independent NumPy reference of the LIVE release


def np_cubic(x):
    a = np.abs(x)
    return np.where(
        a <= 1,
        1.5 * a**3 - 2.5 * a**2 + 1,
        np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0),
    )


def np_resize_axis0(img, scale):
    """MATLAB imresize along axis 0, one output row at a time (contributions() of imresize.m)."""
    n = img.shape[0]
    n_out = int(math.ceil(n * scale))
    width = 4.0 / scale if scale < 1 else 4.0
    out = np.zeros((n_out,) + img.shape[1:])
    for i in range(n_out):
        u = (i + 1) / scale + 0.5 * (1 - 1 / scale)
        ind = math.floor(u - width / 2) + np.arange(int(math.ceil(width)) + 2)
        wts = scale * np_cubic(scale * (u - ind)) if scale < 1 else np_cubic(u - ind)
        wts = wts / wts.sum()
        for k, j in zip(ind, wts, strict=True):
            src = (k - 1) % (2 * n)  # 1-based index k mirrored: [1..n, n..1]
            src = src if src < n else 2 * n - 1 - src
            out[i] += j * img[src]
    return out


def np_imresize(img, scale):
    return np_resize_axis0(np_resize_axis0(img, scale).T, scale).T


def np_fspecial_gaussian(n, sigma):
    t = np.arange(n) - (n - 1) / 2
    xx, yy = np.meshgrid(t, t)
    h = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    h[h < np.finfo(float).eps * h.max()] = 0
    return h / h.sum()


GAM = np.arange(200, 10001) / 1000.0  # 0.2:0.001:10
R_GAM = G(2 / GAM) ** 2 / (G(1 / GAM) * G(3 / GAM))


def np_aggd(vec):
    """estimateaggdparam.m, literally (NaN for empty sides; MATLAB min of all-NaN -> index 1)."""
    with np.errstate(all="ignore"):
        left = np.sqrt(np.mean(vec[vec < 0] ** 2)) if np.any(vec < 0) else np.nan
        right = np.sqrt(np.mean(vec[vec > 0] ** 2)) if np.any(vec > 0) else np.nan
        gh = left / right
        rhat = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
        rn = rhat * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2
        err = (R_GAM - rn) ** 2
        alpha = GAM[0] if np.all(np.isnan(err)) else GAM[np.nanargmin(err)]
        k = np.sqrt(G(1 / alpha) / G(3 / alpha))
    return alpha, left * k, right * k


def np_block_features(b):
    """computefeature.m."""
    a, bl, br = np_aggd(b.ravel())
    f = [a, (bl + br) / 2]
    for s in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        a, bl, br = np_aggd((b * np.roll(b, s, axis=(0, 1))).ravel())
        f += [a, (br - bl) * G(2 / a) / G(1 / a), bl, br]
    return f


def np_features(gray, bs, snap=None):
    """Feature rows (row-major block order) and sharpness of computequality.m. ``snap``: MSCN
    set to 0 where |I - mu| < snap (qagen's documented exact-arithmetic rule; None = MATLAB)."""
    h, w = gray.shape[0] // bs * bs, gray.shape[1] // bs * bs
    im = gray[:h, :w].astype(np.float64)
    win = np_fspecial_gaussian(7, 7 / 6)
    feats, sharp = [], None
    for scale in (1, 2):
        mu = scipy.ndimage.correlate(im, win, mode="nearest")
        sigma = np.sqrt(np.abs(scipy.ndimage.correlate(im * im, win, mode="nearest") - mu * mu))
        mscn = (im - mu) / (sigma + 1)
        if snap is not None:
            mscn[np.abs(im - mu) < snap] = 0.0
        b = bs // scale
        rows = []
        for i in range(0, mscn.shape[0], b):
            for j in range(0, mscn.shape[1], b):
                rows.append(np_block_features(mscn[i : i + b, j : j + b]))
        if scale == 1:
            sharp = np.array(
                [sigma[i : i + b, j : j + b].mean() for i in range(0, h, b) for j in range(0, w, b)]
            )
        feats.append(np.array(rows))
        im = np_imresize(im, 0.5)
    return np.concatenate(feats, axis=1), sharp


def np_nanmean_nancov(f):
    complete = f[~np.isnan(f).any(axis=1)]
    return np.nanmean(f, axis=0), np.cov(complete, rowvar=False)


def np_niqe(gray, mu_p, cov_p, bs=96, snap=None):
    mu, cov = np_nanmean_nancov(np_features(gray, bs, snap)[0])
    d = mu_p - mu
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov) / 2) @ d))


def np_fit(grays, bs, th):
    """estimatemodelparam.m."""
    rows = []
    for g in grays:
        f, s = np_features(g, bs)
        rows.append(f[s > th * s.max()])
    return np_nanmean_nancov(np.concatenate(rows))


def np_rgb2gray(rgb):
    """MATLAB rgb2gray on uint8 (coefficients of inv(YIQ->RGB), round half away from zero)."""
    c = np.linalg.inv(np.array([[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]))[
        0
    ]
    return np.floor(c[0] * rgb[..., 0] + c[1] * rgb[..., 1] + c[2] * rgb[..., 2] + 0.5)


def as_np_rgb(x):
    return x[0].permute(1, 2, 0).numpy()


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def live_images():
    return {name: read_image(shared_file("niqe_live", name)) for name in ("image1.bmp", "image2.bmp", "image3.bmp", "image4.bmp")}  # fmt: skip


@pytest.fixture(scope="module")
def live_mat():
    m = scipy.io.loadmat(shared_file("niqe_live", "modelparameters.mat"))
    return m["mu_prisparam"].ravel(), m["cov_prisparam"]


def _noise(n, c, h, w, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, c, max(h // 4, 1), max(w // 4, 1), generator=g, dtype=dtype)
    x = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear")
    return (x + 0.1 * torch.randn(n, c, h, w, generator=g, dtype=dtype)).clamp(0, 1)


# --------------------------------------------------------------------------------------------
# shipped model


def test_shipped_model_is_the_live_model(live_mat):
    # Exact equality: the .npz is a lossless copy of modelparameters.mat.
    mu, cov = live_mat
    m = NIQEModel.official()
    assert np.array_equal(m.mu.numpy(), mu) and np.array_equal(m.cov.numpy(), cov)
    assert m.variant == "live" and m.block_size == 96
    # REFERENCE.md 1.9.3 sanity values and the condition number ~1.6e5 (1.9.6)
    np.testing.assert_allclose(m.mu[:3].numpy(), [2.60131368, 0.90570272, 0.81204778], atol=1e-8)
    assert 1.5e5 < m.condition_number < 1.7e5
    notice = (resources.files("qagen") / "resources" / "NIQE_LICENSE.txt").read_text()
    assert notice == (SHARED_DATA / "niqe_live" / "readme.txt").read_text()
    assert "Copyright (c) 2011 The University of Texas at Austin" in notice


# --------------------------------------------------------------------------------------------
# MATLAB parity

# The issue asks for 0.1 % relative (1e-4 absolute in the shared rules); the float64 implementation
# reaches ~1e-13 (summation order only), so 1e-9 is asserted to catch any regression.
MATLAB_ATOL = 1e-9


@pytest.mark.parametrize("name", sorted(LIVE_VALUES))
def test_live_images_match_matlab(live_images, name):
    got = niqe(live_images[name], 255.0).item()
    assert abs(got - LIVE_VALUES[name]) < MATLAB_ATOL


def test_tid2013_matches_matlab(tid_pair):
    dist, ref = tid_pair
    got = niqe(torch.cat([dist, ref]), 255.0)
    assert abs(got[0].item() - MATLAB["tid"]["niqe_dist"]) < MATLAB_ATOL
    assert abs(got[1].item() - MATLAB["tid"]["niqe_ref"]) < MATLAB_ATOL


def test_numpy_reference_matches_matlab_and_features(tid_pair, live_mat):
    # The independent port reproduces MATLAB (1e-9, summation order), and qagen's feature matrix
    # equals it entry by entry (1e-10 absolute: features are O(1), rounding ~1e-14).
    dist, _ = tid_pair
    gray = np_rgb2gray(as_np_rgb(dist))
    assert abs(np_niqe(gray, *live_mat) - MATLAB["tid"]["niqe_dist"]) < 1e-9
    ref_f, ref_s = np_features(gray, 96)
    ours = niqe_features(torch.from_numpy(gray)[None, None], 96)
    assert ours.valid.all()
    np.testing.assert_allclose(ours.features[0].numpy(), ref_f, rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours.sharpness[0].numpy(), ref_s, rtol=1e-12)
    # no rounding-noise MSCN value here: the snapping rule changes nothing (exact equality)
    raw = niqe_features(torch.from_numpy(gray)[None, None], 96, snap=False)
    assert torch.equal(raw.features, ours.features)


def test_rgb2gray_is_matlabs(tid_pair):
    # MATLAB rgb2gray on uint8: exact integers, equal to the NumPy port on every pixel.
    dist, ref = tid_pair
    for x in (dist, ref):
        ours = rgb_to_gray(x, "rgb2gray", 255.0)[0, 0].numpy()
        assert np.array_equal(ours, np_rgb2gray(as_np_rgb(x)))


@pytest.mark.parametrize("shape", [(384, 512), (17, 10), (96, 96), (5, 8)])
@pytest.mark.parametrize("scale", [0.5, 0.75, 2.0])
def test_imresize_matches_independent_port(shape, scale):
    # qagen.matlab_resize.imresize against the per-row port of imresize.m: same arithmetic up to
    # summation order (1e-12 absolute on 0-255 data).
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, *shape, generator=g, dtype=torch.float64) * 255
    ref = np_imresize(x[0, 0].numpy(), scale)
    np.testing.assert_allclose(imresize(x, scale)[0, 0].numpy(), ref, rtol=0, atol=1e-12)
    if scale == 0.5 and shape[0] % 2 == 0 and shape[1] % 2 == 0:
        np.testing.assert_allclose(imresize_half(x)[0, 0].numpy(), ref, rtol=0, atol=1e-12)


def test_imresize_interior_matches_pillow():
    # Pillow's antialiased bicubic (a = -0.5, support scaled by 1/scale) is a third,
    # independent implementation; it renormalises at the borders instead of mirroring, so only
    # the interior is compared. Pillow computes in float32: 1e-3 absolute on 0-255 data.
    Image = pytest.importorskip("PIL.Image")
    g = torch.Generator().manual_seed(2)
    x = torch.rand(64, 80, generator=g, dtype=torch.float64) * 255
    pil = np.asarray(
        Image.fromarray(x.numpy().astype(np.float32), mode="F").resize((40, 32), Image.BICUBIC)
    )
    ours = imresize_half(x[None, None])[0, 0].numpy()
    np.testing.assert_allclose(ours[4:-4, 4:-4], pil[4:-4, 4:-4], rtol=0, atol=1e-3)


# --------------------------------------------------------------------------------------------
# shape parameter


def test_grid_alpha_equals_literal_grid_search():
    # Exact: the grid estimator returns the first minimiser of (rho - R)^2 over 0.2:0.001:10
    # (grid values equal to ~1 ulp, hence the 1e-15 tolerance).
    g = torch.Generator().manual_seed(3)
    r = torch.cat(
        [torch.rand(2000, generator=g, dtype=torch.float64) * 0.8, torch.tensor([0.0, 0.05, 0.9])]
    )
    got = aggd_shape(r, "grid").numpy()
    ref = np.array([GAM[np.argmin((R_GAM - v) ** 2)] for v in r.numpy()])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)


def test_continuous_alpha_is_the_root_and_within_half_a_grid_step():
    g = torch.Generator().manual_seed(4)
    r = torch.rand(500, generator=g, dtype=torch.float64) * (R_GAM[-1] - R_GAM[0]) + R_GAM[0]
    a = aggd_shape(r, "continuous")
    # rho(alpha) = R to 1e-12 relative (Newton converged), and |alpha - grid| <= 0.0005 + 1e-12.
    rho = torch.exp(2 * torch.lgamma(2 / a) - torch.lgamma(1 / a) - torch.lgamma(3 / a))
    torch.testing.assert_close(rho, r, rtol=1e-12, atol=0)
    assert (a - aggd_shape(r, "grid")).abs().max() <= 0.0005 + 1e-12


def test_alpha_gradient_is_the_implicit_derivative():
    # d alpha / d R of both estimators equals the central difference of the continuous root
    # (1e-6 relative: finite-difference error with h = 1e-7).
    r = torch.tensor([0.2, 0.45, 0.6, 0.7], dtype=torch.float64, requires_grad=True)
    h = 1e-7
    fd = (aggd_shape(r.detach() + h, "continuous") - aggd_shape(r.detach() - h, "continuous")) / (
        2 * h
    )
    for est in ("grid", "continuous"):
        (grad,) = torch.autograd.grad(aggd_shape(r, est).sum(), r)
        torch.testing.assert_close(grad, fd, rtol=1e-6, atol=0)
    # outside the reachable range alpha is clamped: zero gradient, endpoint values
    r2 = torch.tensor([0.01, 0.8], dtype=torch.float64, requires_grad=True)
    a2 = aggd_shape(r2, "grid")
    assert a2.tolist() == [0.2, 10.0]
    (g2,) = torch.autograd.grad(a2.sum(), r2)
    assert g2.tolist() == [0.0, 0.0]


def test_aggd_fit_matches_reference_and_masks_empty_sides():
    g = torch.Generator().manual_seed(5)
    v = torch.randn(3, 500, generator=g, dtype=torch.float64) * torch.tensor([[1.0], [2.0], [0.5]])
    v[1] = v[1].abs()  # no negative value: MATLAB gives alpha = 0.2, beta_l = NaN
    v[2, :250] = 0.0  # exact zeros count in neither side
    alpha, bl, br, vl, vr = aggd_fit(v)
    for i in range(3):
        a_ref, bl_ref, br_ref = np_aggd(v[i].numpy())
        assert alpha[i].item() == pytest.approx(a_ref, abs=1e-15)
        assert br[i].item() == pytest.approx(br_ref, rel=1e-12)
        if np.isnan(bl_ref):
            assert not vl[i] and bl[i].item() == 0.0
        else:
            assert vl[i] and bl[i].item() == pytest.approx(bl_ref, rel=1e-12)


def test_continuous_estimator_moves_the_score_little(tid_pair):
    # The continuous inversion differs from the grid by < 0.0005 in alpha; on the TID images
    # that moves NIQE by 6.7e-3 and 3.2e-3 (0.07 % and 0.11 % relative: above the 0.1 %
    # on I01), which is why "grid" is the default. Asserted: < 0.2 % relative.
    dist, ref = tid_pair
    x = torch.cat([dist, ref])
    grid, cont = niqe(x, 255.0), niqe(x, 255.0, shape_estimator="continuous")
    assert ((grid - cont).abs() / grid).max() < 2e-3


# --------------------------------------------------------------------------------------------
# flat regions (LIVE image 3)


def test_image3_flat_regions_are_deterministic(live_images, live_mat):
    x = live_images["image3.bmp"]
    v = niqe(x, 255.0).item()
    # 1. the documented exact-arithmetic value; MATLAB's 7.857 is one draw of rounding noise on
    # 70,916 exactly flat pixels (Octave differs by ~0.13), so only a loose bound is asserted.
    assert v == pytest.approx(7.630344746, abs=1e-8)
    assert abs(v - IMAGE3_MATLAB) < 0.3
    # 2. the exact-arithmetic rule is implementation-independent: the NumPy port (scipy filters,
    # other summation order) with its own threshold (1e-9 on 0-255 data) agrees to 1e-9, while
    # the port without it (MATLAB's behaviour) lands elsewhere, near MATLAB's own draw.
    gray_np = np_rgb2gray(as_np_rgb(x))
    assert np_niqe(gray_np, *live_mat, snap=1e-9) == pytest.approx(v, abs=1e-9)
    assert abs(np_niqe(gray_np, *live_mat) - v) > 0.05
    # 3. same value again, and inside a batch with other images
    assert niqe(x, 255.0).item() == v
    batch = torch.cat([live_images["image1.bmp"], x, live_images["image2.bmp"]])
    assert niqe(batch, 255.0)[1].item() == pytest.approx(v, abs=1e-12)
    # 4. the flat regions shifted in grey level (MSCN is offset-invariant; MATLAB's noise is
    # not): the grey image plus 20 (up to 275, so the range check is switched off). 1e-8.
    gray = rgb_to_gray(x, "rgb2gray", 255.0)
    with input_checks(False):
        shifted = niqe(gray + 20.0, 255.0).item()
    assert shifted == pytest.approx(niqe(gray, 255.0).item(), abs=1e-8)
    # 5. rotated by 180 degrees after cropping to whole blocks: the same blocks, with every
    # circular neighbour product unchanged as a set (imresize is mirror-symmetric): 1e-8.
    crop = gray[..., :480, :768]
    assert niqe(crop.flip(-1, -2), 255.0).item() == pytest.approx(v, abs=1e-8)
    # 6. float32 input: the internal float64 pipeline gives the float64 value to float32 rounding
    assert niqe(x.float(), 255.0).item() == pytest.approx(v, rel=1e-6)


def test_flat_and_tiny_images_fall_back_without_nan():
    # A constant image has no valid AGGD fit: the documented fallback (alpha 0.2, beta/eta 0,
    # covariance 0) gives a finite score, equal to its closed form.
    x = torch.full((2, 1, 96, 96), 0.5, dtype=torch.float64)
    v = niqe(x, 1.0)
    assert torch.isfinite(v).all() and v[0] == v[1]
    m = NIQEModel.official()
    mu_t = torch.zeros(36, dtype=torch.float64)
    mu_t[[0, 2, 6, 10, 14, 18, 20, 24, 28, 32]] = 0.2
    expected = mvg_distance(m.mu, m.cov, mu_t, torch.zeros(36, 36, dtype=torch.float64))
    assert v[0].item() == pytest.approx(expected.item(), rel=1e-12)


# --------------------------------------------------------------------------------------------
# MVG fitting and distance


def test_mvg_fit_matches_nanmean_nancov():
    # nanmean per column over valid entries, nancov over complete rows (1e-12 relative).
    g = torch.Generator().manual_seed(6)
    f = torch.randn(2, 30, 5, generator=g, dtype=torch.float64)
    valid = torch.rand(2, 30, 5, generator=g) > 0.1
    mu, cov = mvg_fit(f, valid)
    for i in range(2):
        a = f[i].numpy().copy()
        a[~valid[i].numpy()] = np.nan
        mu_ref, cov_ref = np_nanmean_nancov(a)
        np.testing.assert_allclose(mu[i].numpy(), mu_ref, rtol=1e-12)
        np.testing.assert_allclose(cov[i].numpy(), cov_ref, rtol=1e-12, atol=1e-14)
    # one complete row: covariance 0 (as MATLAB's cov of one row); rows mask N x B accepted
    mu1, cov1 = mvg_fit(f[:1, :3], torch.tensor([[True, False, False]]))
    assert torch.equal(cov1, torch.zeros_like(cov1)) and torch.allclose(mu1[0], f[0, 0])


def test_mvg_distance_closed_form_and_pinv():
    # diagonal covariances: D^2 = sum (d_i^2 / ((a_i + b_i) / 2)); singular: pinv ignores the
    # null space (MATLAB pinv); symmetric; 0 for equal models. Tolerance 1e-12 relative.
    mu_a = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    mu_b = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    ca, cb = (
        torch.diag(torch.tensor([1.0, 2.0, 3.0])).double(),
        torch.diag(torch.tensor([3.0, 2.0, 1.0])).double(),
    )
    expect = math.sqrt(1 / 2 + 4 / 2 + 4 / 2)
    assert mvg_distance(mu_a, ca, mu_b, cb).item() == pytest.approx(expect, rel=1e-12)
    assert mvg_distance(mu_b, cb, mu_a, ca).item() == pytest.approx(expect, rel=1e-12)
    sing = torch.diag(torch.tensor([2.0, 2.0, 0.0])).double()
    assert mvg_distance(mu_a, sing, mu_b, sing).item() == pytest.approx(
        math.sqrt(1 / 2 + 4 / 2), rel=1e-12
    )
    assert mvg_distance(mu_a, ca, mu_a, ca).item() == 0.0
    # ridge: a Tikhonov term (documented option)
    assert mvg_distance(mu_a, sing, mu_b, sing, ridge=1.0).item() == pytest.approx(
        math.sqrt(1 / 3 + 4 / 3 + 4 / 1), rel=1e-12
    )


def test_niqe_equals_distance_to_a_model_fitted_on_all_blocks(tid_pair):
    # NIQE is the MVG distance between the pristine model and the image's own model (all blocks).
    dist, _ = tid_pair
    with pytest.warns(UserWarning, match="20 complete blocks for 36 features"):
        own = fit_niqe_model(dist, sharpness=None, data_range=255.0)
    assert own.n_blocks == 20
    assert niqe_distance(NIQEModel.official(), own).item() == pytest.approx(
        niqe(dist, 255.0).item(), rel=1e-12
    )
    assert niqe_distance(own, own).item() == 0.0


def test_fit_niqe_model_on_a_folder_matches_reference(tmp_path, tid_pair, live_images):
    # estimatemodelparam.m: sharpest blocks (> 0.75 max per image), nanmean/nancov of the kept
    # rows; the folder is read in sorted order. Against the NumPy port: 1e-10 relative (mu) and
    # 1e-8 relative to the largest entry (cov, O(1e-6) entries suffer from cancellation).
    Image = pytest.importorskip("PIL.Image")
    dist, ref = tid_pair
    imgs = [live_images["image1.bmp"], live_images["image4.bmp"], dist, ref]
    for i, x in enumerate(imgs):
        Image.fromarray(as_np_rgb(x).astype(np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    model = fit_niqe_model(tmp_path, block_size=96, sharpness=0.75)
    mu_ref, cov_ref = np_fit([np_rgb2gray(as_np_rgb(x)) for x in imgs], 96, 0.75)
    np.testing.assert_allclose(model.mu.numpy(), mu_ref, rtol=1e-10)
    np.testing.assert_allclose(
        model.cov.numpy(), cov_ref, rtol=0, atol=1e-8 * np.abs(cov_ref).max()
    )
    # the same from a list of tensors, and save/load round trip
    model2 = fit_niqe_model([x / 255.0 for x in imgs], 96, 0.75, data_range=1.0)
    torch.testing.assert_close(model2.mu, model.mu, rtol=1e-12, atol=0)
    model.save(tmp_path / "m.npz")
    back = NIQEModel.load(tmp_path / "m.npz")
    assert torch.equal(back.mu, model.mu) and torch.equal(back.cov, model.cov)
    assert (back.variant, back.block_size, back.n_blocks) == ("live", 96, model.n_blocks)
    assert (
        niqe(dist, 255.0, model=tmp_path / "m.npz").item() == niqe(dist, 255.0, model=back).item()
    )


def test_model_validation(tmp_path):
    m = NIQEModel.official()
    with pytest.raises(ValueError, match="mu must have 36"):
        NIQEModel(m.mu[:35], m.cov)
    with pytest.raises(ValueError, match="cov must be 36x36"):
        NIQEModel(m.mu, m.cov[:35, :35])
    bad = m.cov.clone()
    bad[0, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        NIQEModel(m.mu, bad)
    with pytest.raises(ValueError, match="positive semi-definite"):
        NIQEModel(m.mu, -m.cov)
    with pytest.raises(ValueError, match="finite"):
        NIQEModel(m.mu * float("nan"), m.cov)
    other = NIQEModel(m.mu, m.cov, variant="qagan", block_size=32)
    with pytest.raises(ValueError, match="variant"):
        niqe(torch.rand(1, 1, 96, 96, dtype=torch.float64), model=other)
    with pytest.raises(ValueError, match="variant"):
        niqe_distance(m, other)
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a NIQE model"):
        NIQEModel.load(tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError):
        NIQEModel.load(tmp_path / "missing.npz")
    # .mat files (LIVE / QAGAN layout) load directly
    mat = NIQEModel.load(shared_file("niqe_live", "modelparameters.mat"))
    assert torch.equal(mat.mu, m.mu) and torch.equal(mat.cov, m.cov)


# --------------------------------------------------------------------------------------------
# shared metric properties


def test_float32_agrees_with_float64(tid_pair):
    # float64 inside by default: float32 input gives the float64 value to float32 rounding
    # (1e-6); with compute_dtype=None (all float32) the bound is the 1e-4 relative.
    dist, ref = tid_pair
    x = torch.cat([dist, ref])
    v64 = niqe(x, 255.0)
    torch.testing.assert_close(niqe(x.float(), 255.0).double(), v64, rtol=1e-6, atol=0)
    v32 = niqe(x.float(), 255.0, compute_dtype=None).double()
    assert ((v32 - v64).abs() / v64).max() < 1e-4


def test_batch_independence_and_data_range(tid_pair, live_images):
    # a batch of 3 different images equals the 3 computed one by one (1e-12 relative), and
    # x / 255 with data_range=1 equals x with 255 (1e-9 relative: rounding of x / 255 * 255).
    crops = [
        t[..., :192, :288]
        for t in (tid_pair[0], live_images["image1.bmp"], live_images["image2.bmp"])
    ]
    batch = torch.cat(crops)
    together = niqe(batch, 255.0)
    alone = torch.cat([niqe(c, 255.0) for c in crops])
    torch.testing.assert_close(together, alone, rtol=1e-12, atol=0)
    torch.testing.assert_close(niqe(batch / 255.0, 1.0), together, rtol=1e-9, atol=0)
    assert niqe(batch, 255.0, reduction="mean").item() == pytest.approx(
        together.mean().item(), rel=1e-12
    )


def test_gradcheck_small_inputs():
    # Continuous estimator (the grid value is piecewise constant); 16x16 grey images with
    # 8x8 blocks (4x4 at scale 2), float64. The LIVE covariance (condition number 1.6e5) makes
    # NIQE ~1e6 times more sensitive along some directions than others, beyond what central
    # differences resolve, so the pipeline is checked against a well-conditioned model (the LIVE
    # covariance + 0.1 I, condition number 12); fast_mode keeps it to ~1 s (a full gradcheck of
    # the same cases passes too, in ~15 s).
    live = NIQEModel.official()
    model = NIQEModel(live.mu, live.cov + 0.1 * torch.eye(36, dtype=torch.float64), block_size=8)
    x = _noise(2, 1, 16, 16, seed=7).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: niqe(t, 1.0, model, 8, shape_estimator="continuous"), (x,), fast_mode=True
    )
    # RGB without the uint8 rounding (its straight-through gradient is not a derivative)
    xc = _noise(1, 3, 16, 16, seed=8).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: niqe(t, 1.0, model, 8, shape_estimator="continuous", gray="rgb2gray_double"),
        (xc,),
        fast_mode=True,
    )
    # the distance itself (full-rank covariance: pinv = inverse, smooth); with a singular
    # covariance the gradient is that of pinv at fixed rank: finite.
    g = torch.Generator().manual_seed(9)
    a = torch.randn(8, 5, generator=g, dtype=torch.float64)
    cov = (a.T @ a / 8).requires_grad_(True)
    mu = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda m, c: mvg_distance(m, c, zero, c), (mu, cov))
    sing = (a[:3].T @ a[:3]).requires_grad_(True)
    grads = torch.autograd.grad(mvg_distance(mu, sing, zero, sing), (mu, sing))
    assert all(torch.isfinite(t).all() for t in grads)


def test_grid_gradient_is_close_to_the_continuous_one():
    # Same implicit alpha derivative; the rest of the graph is evaluated at the grid alpha
    # (< 0.0005 away), so the gradients agree to ~1 % (asserted: 5 % of the largest entry).
    x = _noise(1, 1, 32, 32, seed=10)
    grads = []
    for est in ("grid", "continuous"):
        xr = x.clone().requires_grad_(True)
        niqe(xr, 1.0, block_size=16, shape_estimator=est).sum().backward()
        grads.append(xr.grad)
    assert (grads[0] - grads[1]).abs().max() < 0.05 * grads[1].abs().max()


@pytest.mark.parametrize(
    "kind", ["constant", "zeros", "max", "noise", "half_flat", "rgb", "tiny_blocks"]
)
def test_gradients_are_finite(kind):
    shape = (2, 3 if kind == "rgb" else 1, 32, 32)
    if kind == "constant":
        x = torch.full(shape, 0.3, dtype=torch.float64)
    elif kind == "zeros":
        x = torch.zeros(shape, dtype=torch.float64)
    elif kind == "max":
        x = torch.ones(shape, dtype=torch.float64)
    else:
        x = _noise(*shape, seed=11)
        if kind == "half_flat":
            x[..., :, :16] = 0.5
    xr = x.clone().requires_grad_(True)
    bs = 4 if kind == "tiny_blocks" else 16
    for dtype in (torch.float64, torch.float32):
        xd = xr.to(dtype)
        v = niqe(xd, 1.0, block_size=bs)
        assert torch.isfinite(v).all()
        (g,) = torch.autograd.grad(v.sum(), xr)
        assert torch.isfinite(g).all()
        if kind in ("noise", "rgb", "tiny_blocks"):
            assert g.abs().sum() > 0


def test_bad_input_raises():
    x = torch.rand(1, 1, 96, 96)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        niqe(x[0])
    with pytest.raises(ValueError, match="x must have 1 or 3 channels"):
        niqe(torch.rand(1, 2, 96, 96))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        niqe((x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        niqe(x * float("nan"))
    with pytest.raises(ValueError, match="outside"):
        niqe(x * 2.0)
    with pytest.raises(ValueError, match="too small.*block_size=32"):
        niqe(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="block_size must be an even"):
        niqe(x, block_size=33)
    with pytest.raises(TypeError, match="block_size must be an int"):
        niqe(x, block_size=32.0)
    with pytest.raises(ValueError, match="shape_estimator"):
        niqe(x, shape_estimator="table")
    with pytest.raises(ValueError, match="data_range"):
        niqe(x, data_range=0)
    with pytest.raises(TypeError, match="model"):
        niqe(x, model=3)
    with pytest.raises(ValueError, match="niqe_features: img must have 1 channel,"):
        niqe_features(torch.rand(1, 3, 96, 96))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="block_size=32 differs"):
            niqe(torch.rand(1, 1, 64, 64), block_size=32)


def test_fit_skips_unreadable_files_with_one_warning_and_shows_progress(tmp_path, tid_pair, capfd):
    # The training folders' policy: unreadable files are skipped with ONE warning naming them;
    # an error only when no readable image is left.
    Image = pytest.importorskip("PIL.Image")
    dist, ref = tid_pair
    for i, x in enumerate((dist, ref)):
        crop = x[..., :192, :288]  # 2 x 3 blocks each (speed)
        Image.fromarray(as_np_rgb(crop).astype(np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.warns(UserWarning, match="covariance is singular"):  # 12 blocks, a small test
        good = fit_niqe_model(tmp_path, sharpness=None)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "cut.bmp").write_bytes((tmp_path / "0.png").read_bytes()[:100])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit_niqe_model(tmp_path, sharpness=None, progress=True)
    # (qagen.io.read_image leaves a corrupt file open: a ResourceWarning, not ours to count)
    skipped = [w for w in caught if str(w.message).startswith("fit_niqe_model: skipped")]
    assert len(skipped) == 1, [str(w.message) for w in skipped]
    assert "skipped 2 unreadable image file(s)" in str(skipped[0].message)
    assert "bad.png" in str(skipped[0].message) and "cut.bmp" in str(skipped[0].message)
    assert torch.equal(model.mu, good.mu) and torch.equal(model.cov, good.cov)
    assert "fit_niqe_model" in capfd.readouterr().err  # the progress bar
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "bad.png").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        with pytest.raises(InputError, match="no readable image among the 1 given"):
            fit_niqe_model(only_bad)


def test_fit_errors(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        fit_niqe_model(tmp_path)
    with pytest.raises(FileNotFoundError):
        fit_niqe_model(tmp_path / "nope")
    with pytest.raises(ValueError, match="too small"):
        fit_niqe_model(torch.rand(1, 1, 40, 40), block_size=96)
    with pytest.raises(ValueError, match="at least 2"):
        fit_niqe_model(torch.full((1, 1, 96, 96), 0.5))
    with pytest.raises(ValueError, match="sharpness"):
        fit_niqe_model(torch.rand(1, 1, 96, 96), sharpness=1.5)
    assert FEATURE_DIM == 36
