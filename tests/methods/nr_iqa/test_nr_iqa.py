"""nr-iqa: content-disjoint splits, the scored-image dataset, training on a TID2008-layout
fixture and the evaluation record against scipy's correlations of its own predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from qagen.cli import main
from qagen.errors import InputError
from qagen.methods.nr_iqa.data import ScoredImage, ScoredImageDataset, content_split
from qagen.train import train_main


def test_content_split_is_disjoint_seeded_and_complete():
    items = [ScoredImage(f"/x/{r}_{k}.png", f"ref{r}", float(k), "AGN", 1) for r in range(10)
             for k in range(3)]  # fmt: skip
    train, test = content_split(items, "train", seed=4), content_split(items, "test", seed=4)
    assert {i.content for i in train}.isdisjoint({i.content for i in test})
    assert len(train) + len(test) == len(items) and len({i.content for i in test}) == 2
    other = content_split(items, "test", seed=5)
    assert {i.content for i in other} != {i.content for i in test}
    assert content_split(items, "test", seed=4) == test
    with pytest.raises(InputError, match="at least 2 reference images"):
        content_split(items[:3], "test")


def test_scored_dataset_crops(tmp_path):
    img = np.arange(40 * 50 * 3, dtype=np.uint8).reshape(40, 50, 3)
    Image.fromarray(img).save(tmp_path / "a.png")
    ds = ScoredImageDataset([ScoredImage(tmp_path / "a.png", "r", 3.5, "JPEG", 2)], 32,
                            random_crop=False)  # fmt: skip
    x, y, t, lv = ds[0]
    assert torch.equal(x, torch.from_numpy(img[4:36, 9:41]).permute(2, 0, 1) / 255.0)
    assert float(y) == 3.5 and t == 0 and lv == 2
    with pytest.raises(InputError, match="smaller than the 64 x 64 crop"):
        ScoredImageDataset(ds.items, 64)[0]


def _tid2008(root):
    import skimage.data

    photo = skimage.data.astronaut()
    lines = []
    for r in range(1, 6):
        ref = np.ascontiguousarray(photo[60 * r : 60 * r + 64, 40 * r : 40 * r + 64])
        (root / "reference_images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(ref).save(root / "reference_images" / f"I{r:02d}.BMP")
        for t in (1, 8, 10):
            for lv in (1, 2, 3, 4):
                rng = np.random.default_rng(100 * r + 10 * t + lv)
                dist = np.clip(ref + rng.normal(0, 6 * lv, ref.shape), 0, 255).astype(np.uint8)
                name = f"i{r:02d}_{t:02d}_{lv}.bmp"
                (root / "distorted_images").mkdir(exist_ok=True)
                Image.fromarray(dist).save(root / "distorted_images" / name)
                lines.append(f"{7 - lv + 0.3 * rng.normal():.4f} {name}")
    (root / "mos_with_names.txt").write_text("\n".join(lines) + "\n")


def test_train_and_evaluate_on_a_database(tmp_path, capsys):
    root = tmp_path / "tid2008"
    _tid2008(root)
    out = tmp_path / "run"
    assert train_main("nr-iqa", data=f"tid2008:{root}", preset="nr-iqa-demo", out=str(out),
                      max_steps=2, overrides=["data.resolution=32", "train.batch_size=4",
                                              "hparams.width=4", "train.progress=false",
                                              "hparams.split_seed=1"]) == 0  # fmt: skip
    assert main(["eval", str(out), "--no-progress"]) == 0
    assert "SROCC" in capsys.readouterr().out
    rec = json.loads((out / "eval.json").read_text())["nr_iqa"]
    assert set(rec["srocc"]) == {"AGN", "GB", "JPEG", "ALL"}
    p = rec["protocol"]
    assert p["split_seed"] == 1 and p["score"] == "MOS" and len(p["test_contents"]) == 1
    assert rec["n"]["ALL"] == 12 and rec["n"]["GB"] == 4
    imgs = rec["images"]
    pred = np.array([i["predicted"] for i in imgs])
    mos = np.array([i["score"] for i in imgs])
    assert rec["srocc"]["ALL"] == pytest.approx(stats.spearmanr(pred, mos).statistic, abs=1e-12)
    train_refs = {str(p) for p in (root / "reference_images").iterdir()} - set(p["test_contents"])
    assert len(train_refs) == 4  # the other contents trained the regressor


def test_builtin_stand_in_scores_are_ssim(tmp_path):
    from qagen.train import get_recipe, resolve_run_config

    run = resolve_run_config("nr-iqa", preset="nr-iqa-demo", overrides=[
        "hparams.data.types=[\"wn\"]", "hparams.data.levels=[1,5]",
        f"hparams.data.cache_dir={tmp_path}"])  # fmt: skip
    ds = get_recipe("nr-iqa").build_dataset(run, "test", crop=None, progress=False)
    assert ds.score_kind == "SSIM" and len(ds.contents) == 2  # 11 photos, 20 % held out
    scores = sorted(float(ds[i][1]) for i in range(len(ds)))
    assert scores[-1] == 1.0 and 0 < scores[0] < 0.5  # pristine, then the strongest noise
