"""The autoencoder side: network shapes, the Yale B name parser and reader (a fixture tree),
the synthetic illumination set's labels, the identity split, and the SVMs on codes on cases
with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.data import build_dataset
from qagen.errors import InputError
from qagen.methods.msssim.autoencoder import ConvAutoencoder
from qagen.methods.msssim.codes import svm_code_scores
from qagen.methods.msssim.illumination import (
    AZIMUTHS,
    ELEVATIONS,
    IlluminationDataset,
    render_identity,
)
from qagen.methods.msssim.recipe_autoencoder import auto_msssim_scales
from qagen.methods.msssim.yaleb import YaleBDataset, identity_split, parse_yaleb_name


def test_autoencoder_shapes():
    for res, levels in ((48, 3), (96, 4)):
        net = ConvAutoencoder(res, code_dim=20, channels=4)
        assert net.levels == levels
        x = torch.rand(3, 1, res, res)
        code = net.encode(x)
        assert code.shape == (3, 20)
        y = net(x)
        y = y.detach()
        assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(InputError, match="6 \\* 2\\^L"):
        ConvAutoencoder(50)
    with pytest.raises(InputError, match="N x 1 x 48 x 48"):
        ConvAutoencoder(48).encode(torch.rand(1, 3, 48, 48))


def test_auto_msssim_scales():
    # (11 - 1) * 2^(k - 1) + 1 <= size
    assert [auto_msssim_scales(s) for s in (10, 11, 21, 41, 48, 81, 96, 161, 500)] == [
        0,
        1,
        2,
        3,
        3,
        4,
        4,
        5,
        5,
    ]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("yaleB01_P00A+000E+00.pgm", (1, 0, 0, 0)),
        ("yaleB39_P00A-035E+40.pgm", (39, 0, -35, 40)),
        ("yaleB11_P00A+130E-20.pgm", (11, 0, 130, -20)),
        ("yaleB05_P00_Ambient.pgm", None),
        ("yaleB05_P00A+000E+00.pgm.bad", None),
        ("readme.txt", None),
    ],
)
def test_yaleb_name_parser(name, expected):
    got = parse_yaleb_name(name)
    assert (tuple(got) if got else None) == expected


def _yaleb_tree(root):
    rng = np.random.default_rng(0)
    for subject in (2, 7, 11):
        d = root / f"yaleB{subject:02d}"
        d.mkdir(parents=True)
        for az in (-50, 0, 50):
            for el in (-20, 45):
                img = rng.integers(0, 256, (192, 168), dtype=np.uint8)
                Image.fromarray(img).save(d / f"yaleB{subject:02d}_P00A{az:+04d}E{el:+03d}.pgm")
        Image.fromarray(np.zeros((192, 168), np.uint8)).save(
            d / f"yaleB{subject:02d}_P00_Ambient.pgm"
        )


def test_yaleb_reader(tmp_path):
    _yaleb_tree(tmp_path / "CroppedYale")
    every = build_dataset(f"yaleb:{tmp_path}", 48, "all")
    assert isinstance(every, YaleBDataset) and len(every) == 18  # ambient images skipped
    assert every.subjects == [2, 7, 11]
    assert sorted(set(every.labels[:, 0])) == [0, 1, 2]
    assert set(every.labels[:, 1]) == {-50, 0, 50} and set(every.labels[:, 2]) == {-20, 45}
    x = every[0]
    assert x.shape == (3, 48, 48) and torch.equal(x[0], x[1])
    # the label of each item is parsed from its own file name
    for f, lab in zip(every.files, every.labels, strict=True):
        n = parse_yaleb_name(f.name)
        assert (every.subjects[lab[0]], lab[1], lab[2]) == (n.subject, n.azimuth, n.elevation)
    tr, te = YaleBDataset(tmp_path, "train"), YaleBDataset(tmp_path, "test")
    assert len(tr) == len(te) == 9
    assert not set(map(str, tr.files)) & set(map(str, te.files))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        YaleBDataset(tmp_path / "missing")


def test_identity_split():
    ids = np.repeat(np.arange(4), 10)
    tr, te = identity_split(ids, "train", 0), identity_split(ids, "test", 0)
    assert len(tr) == len(te) == 20 and not set(tr) & set(te)
    assert all(np.sum(ids[te] == k) == 5 for k in range(4))
    assert np.array_equal(te, identity_split(ids, "test", 0))
    assert not np.array_equal(te, identity_split(ids, "test", 1))
    assert len(identity_split(ids, "all")) == 40


def test_illumination_labels_and_shading():
    imgs, labels = render_identity(3, 32, seed=0)
    assert imgs.shape == (len(AZIMUTHS) * len(ELEVATIONS), 32, 32) and imgs.dtype == np.uint8
    assert [tuple(r) for r in labels[:2]] == [(3, AZIMUTHS[0], ELEVATIONS[0]),
                                             (3, AZIMUTHS[0], ELEVATIONS[1])]  # fmt: skip
    lab = {(a, e): i for i, (_, a, e) in enumerate(labels)}
    left, right = imgs[lab[(-85, 0)]].astype(float), imgs[lab[(85, 0)]].astype(float)
    w = imgs.shape[-1]
    # Lambertian: light from the right (+85) lights the right half more, and vice versa
    assert right[:, w // 2 :].mean() > right[:, : w // 2].mean()
    assert left[:, : w // 2].mean() > left[:, w // 2 :].mean()
    up, down = imgs[lab[(0, 65)]].astype(float), imgs[lab[(0, -40)]].astype(float)
    assert (
        up[: w // 2].mean() > up[w // 2 :].mean() and down[w // 2 :].mean() > down[: w // 2].mean()
    )
    # deterministic from the seed; other identities and seeds differ
    assert np.array_equal(imgs, render_identity(3, 32, seed=0)[0])
    assert not np.array_equal(imgs, render_identity(4, 32, seed=0)[0])
    assert not np.array_equal(imgs, render_identity(3, 32, seed=1)[0])
    ds = build_dataset("illumination", 48, "test")
    assert isinstance(ds, IlluminationDataset)
    assert len(ds) == 24 * len(AZIMUTHS) * len(ELEVATIONS) // 2
    assert ds[0].shape == (3, 48, 48)
    assert ds.labels.shape == (len(ds), 3)


def _codes(n_id=4, per=24, seed=0, informative=True):
    rng = np.random.default_rng(seed)
    ident = np.repeat(np.arange(n_id), per)
    az = rng.choice([-60, -20, 0, 20, 60], size=len(ident))
    el = rng.choice([-20, 0, 45], size=len(ident))
    if informative:  # identity one-hot (well separated) and the angles linearly in the code
        codes = np.concatenate([np.eye(n_id)[ident] * 5, az[:, None] / 30.0, el[:, None] / 30.0,
                                0.01 * rng.standard_normal((len(ident), 3))], axis=1)  # fmt: skip
    else:
        codes = rng.standard_normal((len(ident), 8))
    return codes, np.stack([ident, az, el], axis=1)


def test_svm_scores_known_answers():
    c_tr, l_tr = _codes(seed=0)
    c_te, l_te = _codes(seed=1)
    s = svm_code_scores(c_tr, l_tr, c_te, l_te, kernel="linear")
    assert s.identity_error == 0.0
    assert s.azimuth_mse < 0.05 * np.var(l_te[:, 1])  # far below predicting the mean
    assert s.elevation_mse < 0.05 * np.var(l_te[:, 2])
    assert s.azimuth_rmse == pytest.approx(np.sqrt(s.azimuth_mse))
    # codes with no information: chance-level identity error and about the variance as MSE
    n_tr, _ = _codes(seed=2, informative=False)
    n_te, _ = _codes(seed=3, informative=False)
    r = svm_code_scores(n_tr, l_tr, n_te, l_te)
    assert r.identity_error > 50.0  # 4 classes: chance error 75 %
    assert r.azimuth_mse > 0.7 * np.var(l_te[:, 1])
    with pytest.raises(InputError, match="N x 3"):
        svm_code_scores(c_tr, l_tr[:, :2], c_te, l_te)
