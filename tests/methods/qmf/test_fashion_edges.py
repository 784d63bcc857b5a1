"""The ``fashion-edges`` paired source (qagen.methods.qmf.data.FashionEdgesDataset): Canny edges
of Fashion-MNIST items -> the items, on small IDX files written here (never the package's files),
its subsets and bad specs, and one qmf step on it."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

import qagen.data.fashion_mnist as fm
from qagen.data import build_dataset, dataset_is_grey
from qagen.errors import InputError
from qagen.methods.qmf.data import (
    FASHION_EDGE_SIGMA,
    PAIRED_SPECS,
    FashionEdgesDataset,
    PairedItem,
    fashion_edge_map,
)
from qagen.train import restore_run, train_main
from qagen.train.ema import unwrap

TRAIN_LABELS = [0, 5, 7, 8, 9, 3, 7]
TEST_LABELS = [8, 1, 5]


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> None:
    """``array`` (uint8) as an IDX file: 0, 0, 0x08, NDIM, the sizes (big-endian uint32), data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    data += array.tobytes()
    if gz:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def rectangles(n: int, offset: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """``n`` 28 x 28 images: one bright rectangle (rows r0:r1, columns c0:c1) on black each, the
    first touching the top of the frame."""
    images, boxes = np.zeros((n, 28, 28), np.uint8), []
    for k in range(n):
        j = k + offset
        r0, c0 = (0 if k == 0 else 3 + j % 5), 4 + (2 * j) % 7
        r1, c1 = r0 + 10 + j % 8, c0 + 8 + (3 * j) % 9
        images[k, r0:r1, c0:c1] = 120 + 15 * j
        boxes.append((r0, r1, c0, c1))
    return images, boxes


def write_fashion(root: Path, *, gz: bool = True) -> dict[str, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    train, test = rectangles(len(TRAIN_LABELS), 0)[0], rectangles(len(TEST_LABELS), 7)[0]
    write_idx(root / "train-images-idx3-ubyte", train, gz=gz)
    write_idx(root / "train-labels-idx1-ubyte", np.array(TRAIN_LABELS), gz=gz)
    write_idx(root / "t10k-images-idx3-ubyte", test, gz=not gz)  # both kinds in one folder
    write_idx(root / "t10k-labels-idx1-ubyte", np.array(TEST_LABELS), gz=not gz)
    return {"train": train, "test": test}


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "fashion"
    write_fashion(path)
    return path


def test_targets_are_the_fashion_mnist_items(root):
    assert "fashion-edges" in PAIRED_SPECS
    for split, n in (("train", 7), ("test", 3), ("all", 10)):
        for res in (28, 32):
            pairs = build_dataset(f"fashion-edges:{root}", res, split)
            images = build_dataset(f"fashion-mnist:{root}", res, split)
            assert isinstance(pairs, FashionEdgesDataset) and len(pairs) == n
            assert pairs.labels.tolist() == images.labels.tolist()
            for i in range(n):
                item = pairs[i]
                assert isinstance(item, PairedItem) and int(item.index) == i
                assert item.attributes.shape == (0,) and item.attributes.dtype == torch.float32
                assert torch.equal(item.target, images[i])
                assert item.source.shape == item.target.shape == (3, res, res)
    item = build_dataset(f"fashion-edges:{root}", 32, "train", value_range=(0, 1))[0]
    assert float(item.target.min()) >= 0 and float(item.source.min()) == 0.0


def test_sources_are_black_outlines_on_white(root):
    images, boxes = rectangles(len(TRAIN_LABELS), 0)
    ds = build_dataset(f"fashion-edges:{root}", 28, "train")
    ds32 = build_dataset(f"fashion-edges:{root}", 32, "train")
    for i, (r0, r1, c0, c1) in enumerate(boxes):
        target, source, _ = ds.raw_pair(i)
        assert source.dtype == torch.uint8 and set(source.unique().tolist()) == {0, 255}
        assert torch.equal(source[0], source[1]) and torch.equal(source[1], source[2])
        edges = source[0].numpy() == 0
        assert edges.mean() < 0.25  # mostly white
        # the black pixels are the rectangle's outline: within 1 px of its boundary ...
        rect = np.zeros((28, 28), bool)
        rect[r0:r1, c0:c1] = True
        band = ndi.binary_dilation(rect) & ~ndi.binary_erosion(rect, border_value=0)
        assert edges[~band].sum() == 0, i
        # ... and all four sides are drawn (the top one too when it is the frame's first row)
        assert edges[r0 : r0 + 2, c0:c1].sum() >= (c1 - c0) // 2
        assert edges[r1 - 2 : r1 + 1, c0:c1].sum() >= (c1 - c0) // 2
        assert edges[r0:r1, c0 : c0 + 2].sum() >= (r1 - r0) // 2
        assert edges[r0:r1, c1 - 2 : c1 + 1].sum() >= (r1 - r0) // 2
        # 28 px is exactly the inner 28 x 28 of the 32 px map (2 px of padding, as the target)
        target32, source32, _ = ds32.raw_pair(i)
        assert torch.equal(source32[:, 2:30, 2:30], source)
        assert torch.equal(fashion_edge_map(target32), source32)
        assert torch.equal(fashion_edge_map(target[0]), source)
        assert torch.equal(target[0], torch.from_numpy(images[i]))
    # other sizes: edges of the resized target, still only black and white, still the outline
    _, source64, _ = build_dataset(f"fashion-edges:{root}", 64, "train").raw_pair(1)
    assert source64.shape == (3, 64, 64) and set(source64.unique().tolist()) == {0, 255}
    assert 0 < (source64 == 0).float().mean() < 0.1
    # a larger sigma smooths more: fewer edge pixels on a textured image
    rng = np.random.default_rng(0)
    noisy = torch.from_numpy(rng.integers(0, 256, (28, 28)).astype(np.uint8))
    fine = (fashion_edge_map(noisy, 0.5) == 0).sum()
    assert (fashion_edge_map(noisy, FASHION_EDGE_SIGMA) == 0).sum() < fine


def test_subsets_and_classes(root, monkeypatch):
    shoes = build_dataset(f"fashion-edges:{root}?subset=shoes", 32, "all")
    assert shoes.labels.tolist() == [5, 7, 9, 7, 5] and len(shoes) == 5
    bags = build_dataset(f"fashion-edges:{root}?subset=BAGS", 32, "all")
    assert bags.labels.tolist() == [8, 8]
    sandals = build_dataset(f"fashion-edges:{root}?classes=sandal", 32, "train")
    assert sandals.labels.tolist() == [5]
    every = build_dataset(f"fashion-edges:{root}?subset=all", 32, "train")
    assert every.labels.tolist() == TRAIN_LABELS
    # without ROOT: Debian's package folder (here the fixture, standing in for it)
    monkeypatch.setattr(fm, "PACKAGE_ROOT", root)
    assert build_dataset("fashion-edges:shoes", 32, "train").labels.tolist() == [5, 7, 9, 7]
    assert build_dataset("fashion-edges:bags", 32, "test").labels.tolist() == [8]
    assert build_dataset("fashion-edges?subset=bags", 32, "train").labels.tolist() == [8]
    assert len(build_dataset("fashion-edges", 32, "all")) == 10
    target = build_dataset("fashion-edges:shoes", 32, "train")[2].target
    assert torch.equal(target, build_dataset("fashion-mnist", 32, "train")[4])  # the Ankle boot


@pytest.mark.parametrize(
    "spec, message",
    [
        ("fashion-edges:{root}?subset=hats", r"subset 'hats' is not one of all, shoes, bags"),
        ("fashion-edges:{root}?subset=shoes&classes=8", "a subset or \\?classes=..., not both"),
        ("fashion-edges:shoes?subset=bags", r"subset given twice \('shoes' and 'bags'\)"),
        ("fashion-edges:{root}?sigma=2", r"dataset option"),
        ("fashion-edges:{root}?subset", r"must be written key=value"),
        ("fashion-edges:{root}?classes=Hat", r"class 'Hat' is not 0-9"),
        ("fashion-edges:{root}/missing", r"lacks train-images.*dataset-fashion-mnist"),
    ],
)  # fmt: skip
def test_bad_specs_are_one_line_input_errors(root, spec, message):
    with pytest.raises(InputError, match=message) as err:
        build_dataset(spec.format(root=root), 32, "train")
    assert "\n" not in str(err.value)


def test_bad_split_and_resolution(root):
    with pytest.raises(InputError, match="split must be one of train, test, all"):
        build_dataset(f"fashion-edges:{root}", 32, "val")
    with pytest.raises(InputError, match="resolution"):
        build_dataset(f"fashion-edges:{root}", 0, "train")


def test_qmf_takes_a_step_on_fashion_edges(root, tmp_path):
    tiny = [
        "ngf=8", "ndf=8", "d2_ndf=8", "s_ndf=8", "n_res=1", "train.batch_size=4",
        "train.device=cpu", "train.deterministic=true", "train.progress=false",
        "train.tensorboard=false", "train.log_every=1", "train.sample_every=1",
        "train.n_samples=4", "train.checkpoint_every=1", "train.keep_last=0",
        "data.num_workers=0", "niqe.warmup_steps=2", "data.resolution=32",
    ]  # fmt: skip
    out = tmp_path / "run"
    data = f"fashion-edges:{root}?subset=all"
    status = train_main("qmf", preset="qmf-edges2shoes-demo", data=data, out=str(out),
                        max_steps=1, overrides=tiny)  # fmt: skip
    assert status == 0 and status.result is not None
    assert (out / "checkpoints" / "step_00000001.pt").is_file()
    assert {"step_00000001_input.png", "step_00000001_target.png"} <= {
        p.name for p in (out / "samples").iterdir()
    }
    # grey data: G's output is tied to grey (hparams.grey_output = "auto" in the presets), and a
    # restored run (the data built lazily) rebuilds the same generator
    restored = restore_run(out)
    g = unwrap(restored.recipe.G)
    assert restored.recipe.grey_output and g.grey_output
    x = restored.generate(3, seed=0)
    assert x.shape[1] == 3 and torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


@pytest.mark.parametrize("grey_output, grey", [("auto", True), ("off", False), ("on", True)])
def test_qmf_generation_on_grey_data_makes_grey_images(root, tmp_path, grey_output, grey):
    tiny = [
        "ngf=8", "ndf=8", "n_res=1", "n_critic=1", "train.batch_size=4", "train.device=cpu",
        "train.progress=false", "train.tensorboard=false", "train.sample_every=0",
        "train.checkpoint_every=1", "train.keep_last=0", "data.num_workers=0",
        "data.resolution=32", f"grey_output={grey_output}",
    ]  # fmt: skip
    out = tmp_path / "run"
    status = train_main("qmf", preset="qmf-bl-demo", data=f"fashion-mnist:{root}", out=str(out),
                        max_steps=1, overrides=tiny)  # fmt: skip
    assert status == 0
    restored = restore_run(out)
    assert restored.recipe.mode == "generation" and restored.recipe.grey_output is grey
    x = restored.generate(4, seed=1)
    same = torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    assert same is grey


def test_dataset_is_grey_reads_the_flag_through_wrappers(root):
    grey = build_dataset(f"fashion-mnist:{root}", 32, "train")
    assert dataset_is_grey(grey) and dataset_is_grey(torch.utils.data.Subset(grey, [0, 1]))
    assert dataset_is_grey(build_dataset(f"fashion-edges:{root}", 32, "train"))
    assert not dataset_is_grey(build_dataset("builtin", 32, "train"))
    assert not dataset_is_grey([torch.zeros(3, 4, 4)])
