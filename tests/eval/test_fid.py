"""FID / KID / IS (qagen.eval.fid).

* FID against closed-form Frechet distances of known Gaussians (1-D, commuting, general SPD
  via the symmetric form Tr((S1^1/2 S2 S1^1/2)^1/2)) and from large samples of them.
* FID, KID and IS (torch-fidelity's functions) against the values recorded with the former
  hand-written statistics on fixed features (the regression test).
* KID against a direct double-loop numpy computation of the unbiased MMD^2.
* IS closed forms (uniform predictions -> 1, K confident balanced classes -> K).
* The whole pipeline against ``torch_fidelity.calculate_metrics`` on the same image folders with
  a randomly initialised Inception state dict saved to a temp file (the plumbing test).
* Weight-file resolution and errors, reference-statistics cache, pluggable extractor.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.linalg import sqrtm

from qagen.errors import InputError
from qagen.eval import fid as fidmod
from qagen.eval.fid import (
    INCEPTION_SHA256_PREFIX,
    INCEPTION_WEIGHT_FILES,
    InceptionV3Extractor,
    InceptionWeightsError,
    ModuleExtractor,
    ReferenceStats,
    frechet_distance,
    gaussian_statistics,
    generation_metrics,
    inception_score,
    kernel_inception_distance,
    reference_statistics,
    resolve_inception_weights,
)


def _spd(d: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("method", ["eigvals", "eigh", "sqrtm"])
def test_frechet_distance_closed_forms(method: str) -> None:
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]], method=method) == pytest.approx(
        4 + 1, abs=1e-12
    )
    # commuting (diagonal) covariances: |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 1 + 4 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method) == pytest.approx(
        expected, abs=1e-12
    )
    # general SPD: Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), the symmetric form (scipy sqrtm);
    # 1e-9 relative: both are float64 matrix functions of well-conditioned 8 x 8 matrices
    s1, s2 = _spd(8, 1), _spd(8, 2)
    m1, m2 = np.arange(8.0), np.arange(8.0)[::-1] * 0.5
    r1 = np.real(sqrtm(s1))
    sym = np.trace(s1 + s2 - 2 * np.real(sqrtm(r1 @ s2 @ r1)))
    assert frechet_distance(m1, s1, m2, s2, method=method) == pytest.approx(
        np.sum((m1 - m2) ** 2) + sym, rel=1e-9
    )
    # identical Gaussians -> 0, and symmetry
    assert abs(frechet_distance(m1, s1, m1, s1, method=method)) < 1e-9
    assert frechet_distance(m1, s1, m2, s2, method=method) == pytest.approx(
        frechet_distance(m2, s2, m1, s1, method=method), rel=1e-10
    )


def test_fid_from_samples_converges_to_closed_form() -> None:
    rng = np.random.default_rng(0)
    d = 4
    s1, s2 = _spd(d, 3), _spd(d, 4)
    m1, m2 = np.zeros(d), np.full(d, 0.5)
    x = rng.multivariate_normal(m1, s1, size=200_000)
    y = rng.multivariate_normal(m2, s2, size=200_000)
    exact = frechet_distance(m1, s1, m2, s2)
    # n = 2e5 in 4-D: the estimate's bias and spread are ~1e-4 of a distance of ~1.5; 1 %
    assert frechet_distance(*gaussian_statistics(x), *gaussian_statistics(y)) == pytest.approx(
        exact, rel=1e-2
    )


def _direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as explicit double sums."""
    m, d = x.shape

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return sxx / (m * (m - 1)) + syy / (m * (m - 1)) - 2 * sxy / (m * m)


def test_kid_matches_direct_mmd() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 5)), rng.normal(0.3, 1.2, size=(30, 5))
    # one subset of the whole set: a permutation, and MMD^2 is permutation invariant
    mean, std = kernel_inception_distance(x, y, subsets=1, subset_size=30)
    assert mean == pytest.approx(_direct_mmd2(x, y), rel=1e-12) and std == 0.0
    # same distribution: the unbiased estimate scatters around 0
    same = kernel_inception_distance(
        rng.normal(size=(400, 5)), rng.normal(size=(400, 5)), subsets=20, subset_size=100
    )
    assert abs(same[0]) < 3 * same[1] + 1e-3


def test_inception_score_closed_forms() -> None:
    # identical predictions for every image: p(y|x) = p(y), KL = 0, IS = 1
    assert inception_score(torch.zeros(20, 7), splits=2)[0] == pytest.approx(1.0, abs=1e-12)
    # K = 10 classes, 100 confident images, 10 per class: IS -> K (logit gap 50: exp(-50)
    # leakage changes the value by < 1e-15)
    logits = 50.0 * torch.eye(10).repeat(10, 1)
    assert inception_score(logits, splits=1)[0] == pytest.approx(10.0, rel=1e-9)


# ----------------------------------------------------------------------------- vs torch-fidelity


#: FID / KID / IS on the fixed features below, recorded with the hand-written statistics that
#: preceded torch-fidelity's functions (qagen commit 7a2e639): the regression values.
RECORDED = {
    "fid": {"eigvals": 10.246400189768565, "eigh": 10.246400189768565, "sqrtm": 10.246400189768451},
    "kid_seed7": (0.020859822062832767, 0.009012895615689085),  # 20 subsets of 100, seed 7
    "kid_default_seed": (0.020025899934489333, 0.004693796063662004),  # 10 of 200, seed 2020
    "is_seed3": (10.480940495959324, 0.46369725677309465),  # 5 splits, seed 3
    "is_default": (6.783587283150825, 0.3489139695791206),  # 10 splits, seed 2020
}


def _fixed_features() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(2)
    f1 = torch.from_numpy(rng.normal(size=(300, 64)).astype(np.float32))
    f2 = torch.from_numpy((1.1 * rng.normal(size=(250, 64)) + 0.1).astype(np.float32))
    logits = torch.from_numpy(3 * rng.normal(size=(100, 1008)).astype(np.float32))
    return f1, f2, logits


def test_statistics_regression_values() -> None:
    """The statistics now come from torch-fidelity's functions; on the same float32 features
    they give the values of the former implementation (float64 throughout; the KID sums and IS
    reductions run in another order: 1e-12 relative)."""
    f1, f2, logits = _fixed_features()
    for method, expected in RECORDED["fid"].items():
        got = frechet_distance(*gaussian_statistics(f1), *gaussian_statistics(f2), method=method)
        assert got == pytest.approx(expected, rel=1e-12)
    kid = kernel_inception_distance(f1, f2, subsets=20, subset_size=100, seed=7)
    assert kid == pytest.approx(RECORDED["kid_seed7"], rel=1e-12)
    kid = kernel_inception_distance(f1, f2, subsets=10, subset_size=200)
    assert kid == pytest.approx(RECORDED["kid_default_seed"], rel=1e-12)
    assert inception_score(logits, splits=5, seed=3) == pytest.approx(
        RECORDED["is_seed3"], rel=1e-12
    )
    assert inception_score(logits) == pytest.approx(RECORDED["is_default"], rel=1e-12)


def test_kid_in_float32_as_torch_fidelity_computes_it() -> None:
    """torch-fidelity called directly on the float32 features (its kernel then runs in float32)
    agrees with our float64 call to 1e-5: the subsets are the same RandomState draws."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    f1, f2, _ = _fixed_features()
    tf_kid = kid_features_to_metric(
        f1, f2, kid_subsets=20, kid_subset_size=100, rng_seed=7, verbose=False
    )
    kid = kernel_inception_distance(f1, f2, subsets=20, subset_size=100, seed=7)
    assert kid[0] == pytest.approx(tf_kid["kernel_inception_distance_mean"], rel=1e-5)
    assert kid[1] == pytest.approx(tf_kid["kernel_inception_distance_std"], rel=1e-4)


@pytest.fixture
def flush_denormals():
    """Random weights drive some activations into float32 denormals, which are 10-20x slower
    on x86 CPUs; flushing them to zero (for both pipelines alike) keeps the tests fast."""
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def _folder(path: Path, seed: int, n: int, size: int = 24) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = rng.integers(0, 256, (1, 1, 3))
        img = np.clip(base + rng.normal(0, 40 + 20 * seed, (size, size, 3)), 0, 255).astype(
            np.uint8
        )
        Image.fromarray(img).save(path / f"{i:03d}.png")
    return path


def _compare_with_torch_fidelity(
    weights: Path,
    tmp_path: Path,
    n: int,
    kid_subset_size: int,
    splits: int,
    layer: str,
    metrics: tuple,
) -> None:
    import torch_fidelity

    fake, real = _folder(tmp_path / "fake", 1, n), _folder(tmp_path / "real", 2, n)
    ours = generation_metrics(
        fake,
        real,
        metrics=metrics,
        inception_weights=weights,
        verify_hash=False,
        feature_layer=layer,
        kid_subsets=5,
        kid_subset_size=kid_subset_size,
        isc_splits=splits,
        seed=11,
        cache_dir=False,
        batch_size=64,  # one batch, as torch-fidelity: the same input shapes reuse warm kernels
    )
    ref = torch_fidelity.calculate_metrics(
        input1=str(fake),
        input2=str(real),
        fid="fid" in metrics,
        kid=True,
        isc=True,
        feature_layer_fid=layer,
        feature_layer_kid=layer,
        feature_extractor_weights_path=str(weights),
        cuda=False,
        cache=False,
        verbose=False,
        save_cpu_ram=True,
        datasets_download=False,
        kid_subsets=5,
        kid_subset_size=kid_subset_size,
        isc_splits=splits,
        rng_seed=11,
    )
    # same network class, weights and uint8 inputs; features differ only by the float32
    # rounding of differently batched convolutions: 1e-3 relative on FID/KID (the random
    # network's distances are small, so absolute differences are ~1e-7), 1e-5 on IS
    if "fid" in metrics:
        assert ours["fid"].value == pytest.approx(ref["frechet_inception_distance"], rel=1e-3)
        assert ours["fid"].value > 0
    assert ours["kid"].value == pytest.approx(
        ref["kernel_inception_distance_mean"], rel=1e-3, abs=1e-9
    )
    assert ours["kid"].std == pytest.approx(
        ref["kernel_inception_distance_std"], rel=1e-3, abs=1e-9
    )
    assert ours["is"].value == pytest.approx(ref["inception_score_mean"], rel=1e-5)
    p = ours["kid"].protocol
    assert p["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (
        p["weights_verified"] is False and p["n_fake"] == n and p["n_real"] == n and p["seed"] == 11
    )
    size = 75 if layer == "192" else 299
    assert f"{size}x{size}" in p["resizer"] and p["feature_layer"].startswith(layer)
    assert p["libraries"]["torch_fidelity"] == torch_fidelity.__version__


def test_pipeline_matches_torch_fidelity_small_input(
    random_inception: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flush_denormals: None
) -> None:
    """End to end on image folders: our weights loading, uint8 conversion, file order,
    extraction and statistics vs torch-fidelity's ``calculate_metrics``.

    To fit the test budget on a 2-core CPU, both resize to the class attribute
    INPUT_IMAGE_SIZE lowered from 299 to 75 (the smallest input the network takes; 1/16 of
    the cost) and FID/KID use the 192-d layer (torch-fidelity's FID takes a non-symmetric
    eigendecomposition, about a minute here at 2048-d). The full-size path is the slow test.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    _compare_with_torch_fidelity(
        random_inception, tmp_path, 4, 3, 2, layer="192", metrics=("fid", "kid", "is")
    )


@pytest.mark.slow
def test_features_match_torch_fidelity_full_size(
    random_inception: Path, tmp_path: Path, flush_denormals: None
) -> None:
    """The real 299 x 299 input: pool3 features and logits of our extraction equal those of
    torch-fidelity's own feature pipeline on the same folder (2 images: 4 forward passes,
    10-40 s on two busy CPU cores). With the statistics checked above, this covers FID/KID/IS
    at full size."""
    from torch_fidelity.datasets import ImagesPathDataset
    from torch_fidelity.utils import (
        create_feature_extractor,
        get_featuresdict_from_dataset,
        glob_samples_paths,
    )

    folder = _folder(tmp_path / "fake", 1, 2, size=32)
    ours = fidmod.extract_features(
        folder, InceptionV3Extractor(random_inception, verify_hash=False)
    )
    fe = create_feature_extractor(
        "inception-v3-compat",
        ["2048", "logits_unbiased"],
        cuda=False,
        feature_extractor_weights_path=str(random_inception),
        verbose=False,
    )
    files = glob_samples_paths(str(folder), False, "png", verbose=False)
    theirs = get_featuresdict_from_dataset(ImagesPathDataset(files), fe, 64, False, True, False)
    # same class, weights and uint8 batch: equal up to float32 rounding
    np.testing.assert_allclose(ours["features"], theirs["2048"].numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        ours["logits"], theirs["logits_unbiased"].numpy(), rtol=1e-5, atol=1e-6
    )
    assert ours["features"].shape == (2, 2048) and ours["logits"].shape == (2, 1008)


# ----------------------------------------------------------------------------- weights


def test_missing_weights_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QAGEN_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(InceptionWeightsError) as e:
        resolve_inception_weights()
    msg = str(e.value)
    for part in (
        *INCEPTION_WEIGHT_FILES,
        INCEPTION_SHA256_PREFIX,
        "QAGEN_INCEPTION_WEIGHTS",
        "never downloads",
    ):
        assert part in msg
    with pytest.raises(InceptionWeightsError, match="does not exist"):
        resolve_inception_weights(tmp_path / "nope.pth")
    with pytest.raises(InceptionWeightsError, match="holds neither standard file"):
        resolve_inception_weights(tmp_path)
    # generation_metrics without an extractor resolves the weights before reading images
    with pytest.raises(InceptionWeightsError):
        generation_metrics(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))


def test_weights_from_env_and_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / INCEPTION_WEIGHT_FILES[1]
    f.write_bytes(b"x")
    monkeypatch.setenv("QAGEN_INCEPTION_WEIGHTS", str(tmp_path))
    assert resolve_inception_weights() == f
    monkeypatch.setenv("QAGEN_INCEPTION_WEIGHTS", str(f))
    assert resolve_inception_weights() == f


def test_hash_mismatch_and_corrupt_file(tmp_path: Path) -> None:
    bad = tmp_path / INCEPTION_WEIGHT_FILES[0]
    bad.write_bytes(b"not a state dict")
    digest = hashlib.sha256(b"not a state dict").hexdigest()
    assert not digest.startswith(INCEPTION_SHA256_PREFIX)
    with pytest.raises(InputError, match=f"SHA-256 {digest}.*{INCEPTION_SHA256_PREFIX}"):
        InceptionV3Extractor(bad)
    with pytest.raises(InputError, match="cannot load Inception weights"):
        InceptionV3Extractor(bad, verify_hash=False)


def test_pickle_payloads_are_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    path = tmp_path / "evil.pth"
    torch.save({"x": Evil()}, path)
    with pytest.raises(InputError, match="cannot load Inception weights"):
        InceptionV3Extractor(path, verify_hash=False)


# ----------------------------------------------------------------------------- extractor, cache


class _Tiny(torch.nn.Module):
    """A fixed network: 4 x 4 average pooling -> 48 features, and 10 'logits'."""

    def __init__(self) -> None:
        super().__init__()
        self.head = torch.nn.Linear(48, 10)
        torch.nn.init.normal_(self.head.weight, generator=torch.Generator().manual_seed(0))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> dict:
        self.calls += x.shape[0]
        f = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        return {"features": f, "logits": self.head(f)}


def _sets() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return torch.rand(40, 3, 16, 16, generator=g), torch.rand(40, 3, 16, 16, generator=g) * 0.7


def test_pluggable_extractor_and_protocol(tmp_path: Path) -> None:
    net = _Tiny()
    ext = ModuleExtractor(net, "tiny-avgpool", resize=16)
    real, fake = _sets()
    same = generation_metrics(
        real, real, extractor=ext, kid_subset_size=20, isc_splits=2, cache_dir=False
    )
    # a set against itself: FID 0 up to rounding; KID near 0 (slightly negative: the two
    # subsets share images, which the unbiased estimator's cross term counts)
    assert abs(same["fid"].value) < 1e-6 and abs(same["kid"].value) < 1e-2
    res = generation_metrics(
        fake,
        real,
        extractor=ext,
        kid_subset_size=20,
        isc_splits=2,
        reference_name="unit-test-set",
        reference_split="test",
        cache_dir=tmp_path,
        extra_protocol={"checkpoint": "last", "generator": "ema"},
    )
    assert res["fid"].value > 1e-3 and res["kid"].value > same["kid"].value + 1e-2
    # FID equals the closed form on the extractor's features, computed here independently
    f_fake = (
        torch.nn.functional.adaptive_avg_pool2d(torch.round(fake * 255) / 255, 4)
        .flatten(1)
        .double()
        .numpy()
    )
    f_real = (
        torch.nn.functional.adaptive_avg_pool2d(torch.round(real * 255) / 255, 4)
        .flatten(1)
        .double()
        .numpy()
    )
    expected = frechet_distance(*gaussian_statistics(f_fake), *gaussian_statistics(f_real))
    assert res["fid"].value == pytest.approx(expected, rel=1e-5)  # float32 features
    for score in res.values():
        p = score.protocol
        for key in (
            "backbone",
            "weights_sha256",
            "resizer",
            "n_real",
            "n_fake",
            "reference",
            "reference_split",
            "seed",
            "libraries",
        ):
            assert key in p, key
        assert (
            p["checkpoint"] == "last"
            and p["reference"] == "unit-test-set"
            and p["reference_split"] == "test"
        )
        assert p["weights_sha256"] == ext.weights_sha256 and p["backbone"] == "tiny-avgpool"
    assert res["kid"].protocol["kid_subset_size"] == 20 and res["is"].protocol["n_real"] is None
    import json

    json.dumps({k: v.to_dict() for k, v in res.items()})


def test_reference_cache(tmp_path: Path) -> None:
    net = _Tiny()
    ext = ModuleExtractor(net, "tiny-avgpool")
    real, _ = _sets()
    a = reference_statistics(real, ext, name="cifar-like", split="train", cache_dir=tmp_path)
    calls = net.calls
    b = reference_statistics(real, ext, name="cifar-like", split="train", cache_dir=tmp_path)
    assert net.calls == calls  # second call read the cache
    assert b.cache_file == a.cache_file and Path(a.cache_file).is_file()
    np.testing.assert_array_equal(a.sigma, b.sigma)
    # another split or another protocol (limit) is another cache entry
    c = reference_statistics(real, ext, name="cifar-like", split="test", cache_dir=tmp_path)
    d = reference_statistics(
        real, ext, name="cifar-like", split="train", cache_dir=tmp_path, limit=20
    )
    assert len({a.cache_file, c.cache_file, d.cache_file}) == 3 and d.n == 20
    # without a name the tensor's content is the identity; a folder's files likewise
    e = reference_statistics(real, ext, cache_dir=tmp_path)
    assert (
        e.cache_file is not None
        and reference_statistics(real.clone(), ext, cache_dir=tmp_path).cache_file == e.cache_file
    )
    # a corrupt cache file is reported, not silently used
    Path(a.cache_file).write_bytes(b"garbage")
    with pytest.raises(InputError, match="cannot be read.*delete"):
        reference_statistics(real, ext, name="cifar-like", split="train", cache_dir=tmp_path)
    # ReferenceStats can be passed as `real`
    assert isinstance(c, ReferenceStats)
    assert generation_metrics(real, c, extractor=ext, metrics=("fid",))["fid"].value < 1e-6


def test_inputs_and_errors(tmp_path: Path) -> None:
    ext = ModuleExtractor(_Tiny(), "tiny")
    folder = _folder(tmp_path / "imgs", 0, 3, size=16)
    feats = fidmod.extract_features(folder, ext)
    assert feats["features"].shape == (3, 48) and feats["logits"].shape == (3, 10)
    grey = torch.rand(3, 1, 16, 16)
    assert fidmod.extract_features(grey, ext)["features"].shape == (3, 48)  # grey -> 3 channels
    ds = torch.utils.data.TensorDataset(torch.rand(5, 3, 16, 16), torch.zeros(5))
    assert fidmod.extract_features(ds, ext, batch_size=2)["features"].shape == (5, 48)
    with pytest.raises(InputError, match="kid_subset_size"):
        generation_metrics(grey, grey, extractor=ext, metrics=("kid",), cache_dir=False)
    with pytest.raises(InputError, match="need real"):
        generation_metrics(grey, extractor=ext, metrics=("fid",))
    with pytest.raises(InputError, match="unknown generation metric"):
        generation_metrics(grey, grey, extractor=ext, metrics=("fd",))
    no_logits = ModuleExtractor(lambda x: x.mean(dim=(2, 3)), "mean-rgb")
    with pytest.raises(InputError, match="no logits"):
        generation_metrics(grey, extractor=no_logits, metrics=("is",))
    with pytest.raises(InputError, match="NaN"):
        fidmod.extract_features(torch.full((1, 3, 4, 4), float("nan")), ext)
    with pytest.raises(InputError, match=r"outside \[0, data_range=1\]"):
        fidmod.extract_features(torch.rand(2, 3, 8, 8) * 2 - 1, ext)  # a tanh generator's range
