"""Paired and labelled datasets (qagen.methods.qmf.data): pix2pix A|B folders, CelebA attributes,
FairFace labels, the built-in edge and restoration pairs, and their bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from qagen.data import build_dataset
from qagen.errors import InputError, UnknownNameError
from qagen.methods.qmf.data import CELEBA_ATTRIBUTES, FAIRFACE_GROUPS, PairedItem


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def _pix(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3))


def test_paired_folder_splits_halves_and_direction(tmp_path):
    root = tmp_path / "edges2x"
    pairs = []
    for i in range(3):
        a, b = np.full((16, 16, 3), 40 * i), _pix(16, 16, i)
        _save(root / "train" / f"{i}_AB.png", np.concatenate([a, b], 1))
        pairs.append((a, b))
    _save(root / "val" / "0_AB.png", np.concatenate(pairs[0], 1))
    ds = build_dataset(f"paired:{root}", 16, "train")
    assert len(ds) == 3
    item = ds[1]
    assert isinstance(item, PairedItem) and item.attributes.numel() == 0 and int(item.index) == 1
    k = sorted(p.name for p in (root / "train").iterdir()).index("1_AB.png")
    a, b = pairs[k]
    torch.testing.assert_close(item.source, torch.tensor(a).permute(2, 0, 1).float() / 127.5 - 1)
    torch.testing.assert_close(item.target, torch.tensor(b).permute(2, 0, 1).float() / 127.5 - 1)
    rev = build_dataset(f"paired:{root}?direction=BtoA", 16, "train")[1]
    assert torch.equal(rev.source, item.target) and torch.equal(rev.target, item.source)
    assert len(build_dataset(f"paired:{root}", 16, "val")) == 1
    assert build_dataset(f"paired:{root}", 8, "train")[0].target.shape == (3, 8, 8)  # resized
    with pytest.raises(InputError, match="split 'test'"):
        build_dataset(f"paired:{root}", 16, "test")
    with pytest.raises(UnknownNameError, match="dataset option"):
        build_dataset(f"paired:{root}?direcion=BtoA", 16, "train")


def test_unpaired_images_are_refused_before_training(tmp_path):
    root = tmp_path / "mixed"
    _save(root / "a.png", _pix(16, 32, 0))
    _save(root / "b.png", _pix(16, 16, 1))  # square: not an A|B pair
    with pytest.raises(InputError, match=r"b\.png is 16 x 16 .*twice as wide as high"):
        build_dataset(f"paired:{root}", 16, "train")


def _celeba(tmp_path, n=4, rows=None, header=None):
    base = tmp_path / "celeba"
    for i in range(1, n + 1):
        _save(base / "img_align_celeba" / f"{i:06d}.jpg", _pix(30, 24, i))
    rng = np.random.default_rng(0)
    vals = rng.choice([-1, 1], size=(n, 40))
    lines = [str(n) if header is None else header, " ".join(CELEBA_ATTRIBUTES)]
    lines += [f"{i + 1:06d}.jpg " + " ".join(f"{v:2d}" for v in vals[i]) for i in range(n)]
    if rows is not None:
        lines = rows(lines)
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (base / "list_eval_partition.txt").write_text(
        "".join(f"{i:06d}.jpg {0 if i <= n - 1 else 2}\n" for i in range(1, n + 1))
    )
    return vals


def test_celeba_attributes(tmp_path):
    vals = _celeba(tmp_path)
    ds = build_dataset(f"celeba-attr:{tmp_path}", 16, "train")
    assert len(ds) == 3 and ds.attribute_names == list(CELEBA_ATTRIBUTES)
    item = ds[2]
    assert torch.equal(item.target, item.source) and item.target.shape == (3, 16, 16)
    assert torch.equal(item.attributes, torch.tensor((vals[2] > 0).astype(np.float32)))
    sel = build_dataset(f"celeba-attr:{tmp_path}?attributes=Male,Black_Hair", 16, "all")
    assert len(sel) == 4 and sel.attribute_names == ["Male", "Black_Hair"]
    want = [
        vals[3][CELEBA_ATTRIBUTES.index("Male")],
        vals[3][CELEBA_ATTRIBUTES.index("Black_Hair")],
    ]
    assert sel[3].attributes.tolist() == [float(v > 0) for v in want]
    with pytest.raises(UnknownNameError, match="CelebA attribute 'Blonde_Hair'.*Blond_Hair"):
        build_dataset(f"celeba-attr:{tmp_path}?attributes=Blonde_Hair", 16, "all")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ls: ls[:4] + ["000009.jpg" + ls[4][10:]] + ls[5:], r"line 5: names '000009\.jpg'"),
        (lambda ls: ls[:3] + [ls[3] + " 1"] + ls[4:], r"line 4: expected an image name and 40"),
        (lambda ls: ls[:-1], r"announces 4 images but the file has 3 rows"),
        (lambda ls: ["3"] + ls[1:-1], r"000004\.jpg.*no attribute row"),
    ],
)
def test_celeba_attribute_file_that_does_not_match(tmp_path, edit, message):
    _celeba(tmp_path, rows=edit)
    with pytest.raises(InputError, match=message):
        build_dataset(f"celeba-attr:{tmp_path}", 16, "all")


def _fairface(tmp_path, bad=None):
    rows = [("train/1.jpg", "20-29", "Male", "White"), ("train/2.jpg", "0-2", "Female", "Indian"),
            ("train/3.jpg", "more than 70", "Male", "East Asian")]  # fmt: skip
    for f, *_ in rows:
        _save(tmp_path / f, _pix(20, 20, len(f)))
    if bad:
        rows.append(bad)
    text = "file,age,gender,race,service_test\n" + "".join(",".join(r) + ",True\n" for r in rows)
    (tmp_path / "fairface_label_train.csv").write_text(text)
    (tmp_path / "fairface_label_val.csv").write_text("file,age,gender,race,service_test\n")
    return rows


def test_fairface_one_hot_groups_and_errors(tmp_path):
    _fairface(tmp_path)
    ds = build_dataset(f"fairface:{tmp_path}", 16, "train")
    assert len(ds) == 3 and len(ds.attribute_names) == 18
    a = ds[1].attributes
    race, gender, age = a[:7], a[7:9], a[9:]
    assert race.tolist() == [float(c == "Indian") for c in FAIRFACE_GROUPS["race"]]
    assert gender.tolist() == [0.0, 1.0] and age.argmax() == 0 and float(a.sum()) == 3
    only = build_dataset(f"fairface:{tmp_path}?attributes=gender", 16, "train")
    assert only[2].attributes.tolist() == [1.0, 0.0]
    bad = tmp_path / "bad"
    _fairface(bad, ("train/4.jpg", "20-29", "Male", "Martian"))
    _save(bad / "train" / "4.jpg", _pix(20, 20, 9))
    with pytest.raises(InputError, match=r"line 5: race 'Martian'"):
        build_dataset(f"fairface:{bad}", 16, "train")
    missing = tmp_path / "missing"
    _fairface(missing, ("train/7.jpg", "20-29", "Male", "White"))
    with pytest.raises(InputError, match=r"line 5: image 'train/7\.jpg' does not exist"):
        build_dataset(f"fairface:{missing}", 16, "train")
    with pytest.raises(UnknownNameError, match="FairFace attribute group"):
        build_dataset(f"fairface:{tmp_path}?attributes=hair", 16, "train")


def test_builtin_edges_and_restore_pairs():
    edges = build_dataset("builtin-edges", 64, "train")
    restore = build_dataset("builtin-restore", 64, "train")
    photos = build_dataset("builtin", 64, "train")
    for i in (0, 7):
        e, r = edges[i], restore[i]
        assert torch.equal(e.target, photos[i]) and torch.equal(r.target, photos[i])
        assert torch.equal(e.source, edges[i].source)  # deterministic
        assert torch.equal(r.source, restore[i].source)
        # edges: black lines on white, grey (three equal channels), on the crop's strong gradients
        src = e.source
        assert set(src.unique().tolist()) <= {-1.0, 1.0} and torch.equal(src[0], src[2])
        g = photos.raw(i).double().mean(0)
        mag = torch.hypot(g.diff(dim=0)[:, :-1], g.diff(dim=1)[:-1, :])
        on = src[0, :-1, :-1] < 0
        assert on.any() and float(mag[on].mean()) > 2 * float(mag.mean())
        # restore: blurred and noisy, but close to the crop (PSNR between 20 and 40 dB)
        mse = float(((r.source - r.target) / 2).pow(2).mean())
        assert 20 < 10 * np.log10(1 / mse) < 40
    assert not torch.equal(edges[0].target, build_dataset("builtin-edges", 64, "test")[0].target)
    with pytest.raises(InputError, match="takes no path"):
        build_dataset("builtin-edges:/x", 64, "train")


def test_train_refuses_unpaired_data_with_one_line(tmp_path, capsys):
    from qagen.cli import main

    root = tmp_path / "flat"
    _save(root / "a.png", _pix(16, 16, 0))
    out = tmp_path / "run"
    argv = ["train", "qmf", "--preset", "qmf-edges2shoes-demo", "--data", f"paired:{root}",
            "--out", str(out), "--max-steps", "1"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "twice as wide as high" in err[0]
    assert not out.exists()


def test_builtin_restore_uses_the_waterloo_generator():
    import numpy as np

    from qagen.data.distortions import distort_uint8
    from qagen.methods.qmf.data import RESTORE_LEVELS, RESTORE_TYPES

    restore = build_dataset("builtin-restore", 64, "train")
    kinds, changed, n = set(), 0, min(len(restore), 16)
    for i in range(n):
        crop, src, _ = restore.raw_pair(i)
        rng = np.random.default_rng([0, 0, i, 7])  # seed, split 'train', index: the dataset's draw
        kind = RESTORE_TYPES[int(rng.integers(len(RESTORE_TYPES)))]
        level = RESTORE_LEVELS[int(rng.integers(len(RESTORE_LEVELS)))]
        seed = int(rng.integers(2**31 - 1))
        want, _ = distort_uint8(crop.permute(1, 2, 0).numpy().copy(), kind, level, seed)
        assert torch.equal(src, torch.from_numpy(want).permute(2, 0, 1))
        changed += not torch.equal(src, crop)  # a mild level may leave a flat dark crop as it is
        kinds.add(kind)
    assert len(kinds) >= 2 and changed >= 0.8 * n
