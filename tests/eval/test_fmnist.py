"""fd_fmnist / kid_fmnist / is_fmnist: the Fréchet distance, KID and inception-style score in the
features of a Fashion-MNIST classifier trained here (qagen.eval.fmnist).

Independent facts checked (on a small classifier trained in a temporary cache: 12,000 training
images, 1 epoch, so the suite stays fast; the full one is trained once by ``python -m
qagen.eval.fmnist``):

- the Fréchet distance equals the closed form recomputed with scipy's ``sqrtm`` on the same
  features (1e-6 relative), and is ~0 for a set against itself;
- test images against training images give a small distance, far below distorted images;
- it grows monotonically with Gaussian blur and with additive noise on real images (the
  behaviour of the FID paper's Figure 1);
- dropping classes (mode dropping) raises it, and lowers the inception-style score;
- a colour reference set is refused, a tampered weights file is refused.

These need the real Fashion-MNIST files (Debian's dataset-fashion-mnist); they skip, with that
reason, only where the package is not installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qagen.data.fashion_mnist import PACKAGE_ROOT, load_fashion_mnist
from qagen.errors import InputError

pytestmark = pytest.mark.skipif(
    not (PACKAGE_ROOT / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)

N = 1000


@pytest.fixture
def cache(fmnist_cache):
    """The small classifier of tests/conftest.py (12,000 images, 1 epoch)."""
    rec = json.loads((fmnist_cache / "fmnist-classifier-v2.json").read_text())
    assert rec["test_accuracy"] > 0.8  # even one epoch on 12,000 images
    return fmnist_cache


def _set(split: str, n: int = N, classes=None, seed: int = 0) -> torch.Tensor:
    x, y = load_fashion_mnist(None, split)
    idx = np.arange(len(y)) if classes is None else np.flatnonzero(np.isin(y, classes))
    pick = np.random.default_rng(seed).choice(idx, n, replace=False)
    t = torch.from_numpy(x[np.sort(pick)].astype(np.float32) / 255.0)[:, None]
    return torch.nn.functional.pad(t, (2, 2, 2, 2)).expand(-1, 3, -1, -1)  # as the data source


def _fd(fake, real, cache, metrics=("fd_fmnist",)):
    from qagen.eval.fmnist import fmnist_metrics

    return fmnist_metrics(fake, real, metrics, cache_dir=cache, kid_subsets=20)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = int(3 * sigma + 0.5)
    k = torch.exp(-(torch.arange(-r, r + 1.0) ** 2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(),
                                   padding=(0, r), groups=c)  # fmt: skip
    return torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(),
                                      padding=(r, 0), groups=c)  # fmt: skip


def test_closed_form_and_zero(cache):
    import scipy.linalg

    from qagen.eval.fmnist import fmnist_extractor, prepare

    real, fake = _set("train"), _set("test")
    rec = _fd(fake, real, cache)["fd_fmnist"]
    ext, record = fmnist_extractor("cpu", cache)
    net_feats = [ext.forward_uint8(torch.round(t * 255).to(torch.uint8))["features"].double().numpy()
                 for t in (fake, real)]  # fmt: skip
    mu1, mu2 = (f.mean(0) for f in net_feats)
    s1, s2 = (np.cov(f, rowvar=False) for f in net_feats)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    direct = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
    assert rec["value"] == pytest.approx(direct, rel=1e-6)
    same = _fd(real, real, cache)["fd_fmnist"]["value"]
    assert abs(same) < 1e-6 * max(1.0, rec["value"])
    p = rec["protocol"]
    assert p["classifier_sha256"] == record["sha256"] and p["n_fake"] == p["n_real"] == N
    assert prepare(real).shape == (N, 1, 28, 28)
    torch.testing.assert_close(prepare(real)[:, 0], real[:, 0, 2:30, 2:30])


def test_blur_noise_and_mode_dropping_raise_it(cache):
    real, test = _set("train"), _set("test")
    base = _fd(test, real, cache)["fd_fmnist"]["value"]
    blur = [_fd(_blur(test, s), real, cache)["fd_fmnist"]["value"] for s in (0.5, 1.0, 1.5, 2.0)]
    g = torch.Generator().manual_seed(0)
    noisy = [
        _fd((test + s * torch.randn(test.shape, generator=g)).clamp(0, 1), real, cache)[
            "fd_fmnist"
        ]["value"]
        for s in (0.05, 0.1, 0.2, 0.4)
    ]
    assert base < blur[0] < blur[1] < blur[2] < blur[3], (base, blur)
    assert base < noisy[0] < noisy[1] < noisy[2] < noisy[3], (base, noisy)
    # five classes only (mode dropping): worse than all ten, and a lower score
    dropped = _set("test", classes=[0, 1, 2, 3, 4])
    both = _fd(dropped, real, cache, ("fd_fmnist", "kid_fmnist", "is_fmnist"))
    full = _fd(test, real, cache, ("fd_fmnist", "kid_fmnist", "is_fmnist"))
    assert both["fd_fmnist"]["value"] > 5 * full["fd_fmnist"]["value"]
    assert both["kid_fmnist"]["value"] > full["kid_fmnist"]["value"]
    assert both["is_fmnist"]["value"] < full["is_fmnist"]["value"] <= 10.0
    print(f"fd_fmnist test vs train {base:.3f}; blur {blur}; noise {noisy}; "
          f"5 classes {both['fd_fmnist']['value']:.3f}")  # fmt: skip


def test_colour_reference_and_tampered_weights_are_refused(cache, tmp_path):
    from qagen.eval.fmnist import classifier_path, load_classifier

    colour = torch.rand(8, 3, 32, 32)
    with pytest.raises(InputError, match="in colour"):
        _fd(colour, colour, cache)
    with pytest.raises(InputError, match="unknown Fashion-MNIST metric 'fd'"):
        _fd(colour, colour, cache, ("fd",))
    # a weights file that no longer matches its record
    d = tmp_path / "c"
    d.mkdir()
    src = classifier_path(cache)
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the weights changed
    (d / src.name).write_bytes(bytes(data))
    (d / src.with_suffix(".json").name).write_text(src.with_suffix(".json").read_text())
    with pytest.raises(InputError, match="differs from its record"):
        load_classifier(d, train=False)
    with pytest.raises(FileNotFoundError):
        load_classifier(tmp_path / "empty", train=False)
    rec = json.loads(src.with_suffix(".json").read_text())
    assert rec["train_images"] == 12000 and rec["test_images"] == 10000 and rec["seed"] == 0


def test_through_the_generation_evaluation(cache, monkeypatch):
    """evaluate_images(metrics="fd_fmnist,...") gives the same records, and "all" leaves them
    out (they are asked for by name)."""
    from qagen.eval.generation import evaluate_images
    from qagen.eval.options import ALL_METRICS, GENERATION_METRICS, parse_metric_names

    monkeypatch.setattr("qagen.eval.fmnist._cache_dir", lambda: cache)  # never the user's
    real, test = _set("train", 200), _set("test", 200)
    out = evaluate_images(test, real, metrics="fd_fmnist,is_fmnist", reference_split="train")
    assert set(out) == {"fd_fmnist", "is_fmnist"}
    assert out["fd_fmnist"]["value"] == pytest.approx(_fd(test, real, cache)["fd_fmnist"]["value"])
    assert out["fd_fmnist"]["protocol"]["reference_split"] == "train"
    assert "fd_fmnist" not in parse_metric_names("all", GENERATION_METRICS, all_names=ALL_METRICS)
